//! A character-level language model: embedding -> LSTM -> linear, trained on
//! the bundled Shakespeare text to predict each next character; prints its
//! loss falling and then a sample it writes, one character at a time.
//!
//! Run with `cargo run --release --example char_lstm` (add `-- --max-steps N`
//! to stop after N steps).

mod common;

use lamina::core::{cross_entropy, CrossEntropyOptions, Element, Generator};
use lamina::data::{load_text, random_windows, Vocab};
use lamina::layers::{parts, Embedding, Forward, Linear, ModuleExt, RecurrentConfig, LSTM};
use lamina::optim::{clip_grad_norm, Adam, Optimizer};
use lamina::prelude::*;

/// Embedding, a batch-first LSTM, and a linear read-out to the vocabulary.
struct CharModel<E: Element = f32> {
    embed: Embedding<E>,
    lstm: LSTM<E>,
    head: Linear<E>,
}
parts!(CharModel<E> { embed, lstm, head });

impl CharModel {
    fn new(vocab: usize, dim: usize, hidden: usize) -> Self {
        CharModel {
            embed: Embedding::new(vocab, dim, None),
            lstm: LSTM::with_config(RecurrentConfig { batch_first: true, ..RecurrentConfig::new(dim, hidden) }),
            head: Linear::new(hidden, vocab, true),
        }
    }

    /// Logits `[batch, seq, vocab]` for ids `[batch, seq]`, and the final `(h, c)`.
    fn forward(&self, ids: &IndexTensor, state: Option<(&Tensor, &Tensor)>) -> (Tensor, (Tensor, Tensor)) {
        let (out, state) = self.lstm.forward(&self.embed.forward_ids(ids), state);
        (self.head.forward(&out), state)
    }
}

fn main() {
    manual_seed(0);
    let text = load_text(format!("{}/text/shakespeare.txt", common::DATA)).unwrap_or_else(|e| panic!("{e}"));
    let vocab = Vocab::from_text(&text);
    let tokens = vocab.encode(&text).unwrap_or_else(|e| panic!("{e}"));
    println!("{} characters, vocabulary of {}", tokens.numel(), vocab.len());

    let model = CharModel::new(vocab.len(), 32, 128);
    let mut opt = Optimizer::new(model.named_parameters(), Adam { lr: 3e-3, ..Adam::default() });
    let (batch, seq_len) = (32, 64);
    let mut windows = Generator::new(1);
    let steps = common::steps_to_run(400);
    let bar = common::progress(steps);
    for step in 0..steps {
        let (x, y) = random_windows(&tokens, batch, seq_len, &mut windows);
        let (logits, _) = model.forward(&x, None);
        let loss = cross_entropy(
            &logits.reshape(&[batch * seq_len, vocab.len()]),
            &y.reshape(&[batch * seq_len]),
            &CrossEntropyOptions::default(),
        );
        opt.zero_grad();
        loss.backward();
        // Recurrent nets can have exploding gradients: clip their norm to 1.
        clip_grad_norm(opt.params(), 1.0, 2.0, false).unwrap();
        opt.step();
        bar.set_message(format!("loss {:.3}", loss.item()));
        bar.inc(1);
        if step % 50 == 0 || step + 1 == steps {
            bar.suspend(|| {
                println!("step {step:4}  loss {:.4} (uniform guessing: {:.4})", loss.item(), (vocab.len() as f32).ln())
            });
        }
    }
    bar.finish();

    // Generate: feed the prompt, then sample each next character from the
    // softmax of the logits (temperature 0.8), carrying the LSTM state.
    let mut sampler = Generator::new(7);
    let mut out = String::from("ROMEO:\n");
    let mut ids = vocab.encode(&out).unwrap();
    let mut state: Option<(Tensor, Tensor)> = None;
    no_grad(|| {
        for _ in 0..300 {
            let n = ids.numel();
            let (logits, new_state) = model.forward(&ids.reshape(&[1, n]), state.as_ref().map(|(h, c)| (h, c)));
            state = Some(new_state);
            let last = (logits.narrow(1, n - 1, 1).reshape(&[vocab.len()]) / 0.8).softmax(0).to_vec();
            let mut u = sampler.uniform() as f32;
            let next = last.iter().position(|&p| {
                u -= p;
                u <= 0.0
            });
            let next = next.unwrap_or(vocab.len() - 1);
            out.push(vocab.chars()[next]);
            ids = IndexTensor::from_slice(&[next as i64]);
        }
    });
    println!("--- sample ---\n{out}\n--------------");
}
