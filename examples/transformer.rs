//! A small transformer encoder that learns to sort variable-length digit
//! sequences, then a second short phase where a causal mask makes it predict
//! each position's running maximum. Shows the key-padding mask (sequences of
//! 3 to 8 digits padded to 8), the causal mask, and `ignore_index` in the loss
//! for padded positions; prints token and whole-sequence accuracy on held-out
//! sequences.
//!
//! Run with `cargo run --release --example transformer` (add
//! `-- --max-steps N` to stop each phase after N steps).

mod common;

use std::collections::HashSet;

use lamina::core::{cross_entropy, CrossEntropyOptions, Element, Generator};
use lamina::layers::{
    causal_mask_bool, parts, Embedding, EncoderOptions, Forward, LayerNorm, LearnedPositionalEmbedding, Linear,
    ModuleExt, TransformerEncoder, TransformerEncoderLayer, TransformerLayerConfig,
};
use lamina::optim::{AdamW, CosineAnnealingLR, LrScheduler, Optimizer};
use lamina::prelude::*;

/// Every sequence is padded to this length.
const LEN: usize = 8;
/// Tokens 0..=9 are digits; this one is padding.
const PAD: i64 = 10;
/// The loss skips targets equal to this (PyTorch's default `ignore_index`).
const IGNORE: i64 = -100;

/// What the model learns to output at each (unpadded) position.
#[derive(Clone, Copy)]
enum Task {
    /// The sequence sorted ascending: position i holds the i-th smallest digit.
    Sort,
    /// The largest digit among positions `0..=i`.
    RunningMax,
}

impl Task {
    fn targets(self, digits: &[i64]) -> Vec<i64> {
        match self {
            Task::Sort => {
                let mut sorted = digits.to_vec();
                sorted.sort_unstable();
                sorted
            }
            Task::RunningMax => digits
                .iter()
                .scan(0, |max, &d| {
                    *max = d.max(*max);
                    Some(*max)
                })
                .collect(),
        }
    }
}

/// Token embedding + learned position embedding -> pre-norm transformer
/// encoder -> a linear read-out to the ten digits at every position.
struct SeqModel<E: Element = f32> {
    embed: Embedding<E>,
    pos: LearnedPositionalEmbedding<E>,
    encoder: TransformerEncoder<E>,
    head: Linear<E>,
}
parts!(SeqModel<E> { embed, pos, encoder, head });

impl SeqModel {
    fn new(d_model: usize, nhead: usize, num_layers: usize) -> Self {
        let config = TransformerLayerConfig {
            dim_feedforward: 4 * d_model,
            dropout: 0.0,
            batch_first: true,
            norm_first: true,
            ..TransformerLayerConfig::default()
        };
        let layer = TransformerEncoderLayer::with_config(d_model, nhead, config);
        SeqModel {
            embed: Embedding::new(PAD as usize + 1, d_model, Some(PAD)),
            pos: LearnedPositionalEmbedding::new(LEN, d_model, true),
            // Pre-norm stacks end with a layer norm of their own.
            encoder: TransformerEncoder::new(layer, num_layers, Some(LayerNorm::new(&[d_model]))),
            head: Linear::new(d_model, 10, true),
        }
    }

    /// Logits `[batch, LEN, 10]` for token ids `[batch, LEN]`.
    fn forward(&self, ids: &IndexTensor, opts: &EncoderOptions) -> Tensor {
        let x = self.pos.forward(&self.embed.forward_ids(ids));
        self.head.forward(&self.encoder.forward_with(&x, opts))
    }
}

/// A batch of padded sequences: ids `[n, LEN]`, flat targets `[n * LEN]`
/// (`IGNORE` at padding) and the key-padding mask `[n, LEN]` (`true` = pad).
struct Batch {
    ids: IndexTensor,
    targets: IndexTensor,
    padding: Mask,
}

impl Batch {
    fn new(seqs: &[Vec<i64>], task: Task) -> Self {
        let (mut ids, mut targets, mut padding) = (vec![], vec![], vec![]);
        for s in seqs {
            let pad = LEN - s.len();
            ids.extend(s.iter().copied().chain(std::iter::repeat_n(PAD, pad)));
            targets.extend(task.targets(s).into_iter().chain(std::iter::repeat_n(IGNORE, pad)));
            padding.extend((0..LEN).map(|i| i >= s.len()));
        }
        let n = seqs.len();
        Batch {
            ids: IndexTensor::from_vec(ids, &[n, LEN]),
            targets: IndexTensor::from_vec(targets, &[n * LEN]),
            padding: Mask::from_vec(padding, &[n, LEN]),
        }
    }

    /// The encoder's masks: always the key-padding mask, so no position
    /// attends to padding; with `causal`, also the causal mask, so position i
    /// sees only positions `0..=i`.
    fn options(&self, causal: bool) -> EncoderOptions {
        EncoderOptions {
            src_key_padding_mask: Some(self.padding.clone().into()),
            src_mask: causal.then(|| causal_mask_bool(LEN).into()),
            ..EncoderOptions::default()
        }
    }
}

/// 3 to 8 random digits.
fn random_digits(rng: &mut Generator) -> Vec<i64> {
    let len = 3 + (rng.next_u64() % (LEN as u64 - 2)) as usize;
    (0..len).map(|_| (rng.next_u64() % 10) as i64).collect()
}

/// Token accuracy (over unpadded positions) and whole-sequence accuracy.
fn evaluate(model: &SeqModel, test: &Batch, causal: bool) -> (f64, f64) {
    let predicted = no_grad(|| model.forward(&test.ids, &test.options(causal)).argmax(Some(-1), false));
    let (mut right, mut total, mut whole) = (0, 0, 0);
    for (p, y) in predicted.as_slice().chunks(LEN).zip(test.targets.as_slice().chunks(LEN)) {
        let scored: Vec<bool> = p.iter().zip(y).filter(|(_, &y)| y != IGNORE).map(|(p, y)| p == y).collect();
        right += scored.iter().filter(|&&ok| ok).count();
        total += scored.len();
        whole += scored.iter().all(|&ok| ok) as usize;
    }
    (right as f64 / total as f64, whole as f64 / (test.targets.numel() / LEN) as f64)
}

/// Trains `model` on `task` with fresh random batches (never a test
/// sequence), AdamW and a cosine schedule, then prints held-out accuracy.
fn train(model: &SeqModel, task: Task, causal: bool, steps: usize, test: &[Vec<i64>], seed: u64) -> (f64, f64) {
    let held_out: HashSet<&Vec<i64>> = test.iter().collect();
    let test = Batch::new(test, task);
    let mut opt = Optimizer::new(model.named_parameters(), AdamW { lr: 3e-3, ..AdamW::default() });
    let steps = common::steps_to_run(steps);
    let mut schedule = CosineAnnealingLR::new(&mut opt, steps, 0.0);
    let mut rng = Generator::new(seed);
    let bar = common::progress(steps);
    model.train();
    for step in 0..steps {
        let seqs: Vec<Vec<i64>> =
            std::iter::repeat_with(|| random_digits(&mut rng)).filter(|s| !held_out.contains(s)).take(64).collect();
        let batch = Batch::new(&seqs, task);
        let logits = model.forward(&batch.ids, &batch.options(causal));
        let loss = cross_entropy(
            &logits.reshape(&[seqs.len() * LEN, 10]),
            &batch.targets,
            &CrossEntropyOptions { ignore_index: IGNORE, ..CrossEntropyOptions::default() },
        );
        opt.zero_grad();
        loss.backward();
        opt.step();
        schedule.step(&mut opt);
        bar.set_message(format!("loss {:.4}", loss.item()));
        bar.inc(1);
        if step % 200 == 0 || step + 1 == steps {
            bar.suspend(|| println!("step {step:5}  loss {:.4}", loss.item()));
        }
    }
    bar.finish();
    model.eval();
    let (tokens, seqs) = evaluate(model, &test, causal);
    println!("held-out: {:.2}% of digits right, {:.2}% of whole sequences right", 100.0 * tokens, 100.0 * seqs);
    (tokens, seqs)
}

fn show(digits: &[i64]) -> String {
    digits.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" ")
}

fn main() {
    manual_seed(0);
    let mut rng = Generator::new(1);
    let test: Vec<Vec<i64>> = std::iter::repeat_with(|| random_digits(&mut rng)).take(1000).collect();

    // Phase 1: sorting. The digit that belongs at position i depends on the
    // whole sequence (how many digits are smaller than each), so every
    // position must see every other one: no causal mask, only the padding
    // mask, which keeps the PAD tokens out of every position's attention.
    println!("phase 1: sort 3-8 digits (full attention, key-padding mask)");
    let sorter = SeqModel::new(64, 4, 2);
    train(&sorter, Task::Sort, false, 1000, &test, 2);
    let sample = &test[..3];
    let shown = Batch::new(sample, Task::Sort);
    let predicted = no_grad(|| sorter.forward(&shown.ids, &shown.options(false)));
    for (s, p) in sample.iter().zip(predicted.argmax(Some(-1), false).as_slice().chunks(LEN)) {
        println!("  {:<16} -> {}", show(s), show(&p[..s.len()]));
    }

    // Phase 2: the running maximum needs only the past, so a causal mask
    // suffices. `true` = masked out: row i (a query) hides columns j > i.
    println!("\nphase 2: running maximum (causal mask + key-padding mask); the causal mask for 5 positions:");
    for row in causal_mask_bool(5).to_vec().chunks(5) {
        println!("  {}", row.iter().map(|&m| if m { "x" } else { "." }).collect::<Vec<_>>().join(" "));
    }
    let scanner = SeqModel::new(32, 4, 1);
    train(&scanner, Task::RunningMax, true, 300, &test, 3);

    // The causal mask really hides the future: changing a sequence's last
    // digit leaves every earlier position's output unchanged.
    let mut changed = test[0].clone();
    *changed.last_mut().unwrap() = (changed.last().unwrap() + 5) % 10;
    let pair = Batch::new(&[test[0].clone(), changed], Task::RunningMax);
    let logits = no_grad(|| scanner.forward(&pair.ids, &pair.options(true))).to_vec();
    let earlier = (test[0].len() - 1) * 10;
    let max_diff = (0..earlier).map(|i| (logits[i] - logits[LEN * 10 + i]).abs()).fold(0.0, f32::max);
    println!("changing the last digit moves earlier positions' logits by at most {max_diff:e}");
}
