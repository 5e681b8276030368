//! Training does not depend on the thread count: a few steps of a model that
//! exercises every parallel kernel (GEMM split by rows, convolutions, large
//! element-wise maps and reductions, pooling, batch norm, the optimizer), and
//! of a sequence model (an LSTM, whose batch rows are split between threads,
//! and a transformer encoder layer), end in bit-identical parameters on 1
//! and 2 threads.

use lamina::core::{cross_entropy, set_num_threads, CrossEntropyOptions, IndexTensor, MaxPool2dOptions};
use lamina::layers::{
    BatchNorm2d, Conv2d, ConvConfig, Flatten, Forward, Linear, MaxPool2d, ModuleExt, Padding, ReLU, RecurrentConfig,
    Sequential, TransformerEncoderLayer, TransformerLayerConfig, LSTM,
};
use lamina::optim::{Adam, Optimizer};
use lamina::prelude::*;
use std::sync::Mutex;

/// The parameters of `model`, by name, after `steps` Adam steps on `(x, y)`
/// with `threads` threads.
fn train<M: Forward>(model: M, x: &Tensor, y: &IndexTensor, threads: usize, steps: usize) -> Vec<(String, Vec<u32>)> {
    set_num_threads(threads);
    let mut opt = Optimizer::new(model.named_parameters(), Adam { lr: 1e-3, ..Adam::default() });
    for _ in 0..steps {
        opt.zero_grad();
        cross_entropy(&model.forward(x), y, &CrossEntropyOptions::default()).backward();
        opt.step();
    }
    model.named_parameters().into_iter().map(|(n, p)| (n, p.to_vec().iter().map(|v| v.to_bits()).collect())).collect()
}

/// Asserts that `run(threads, steps)` gives the same bits on 1 and 2 threads
/// after a few steps, and that the steps moved the parameters.
fn assert_thread_independent(run: impl Fn(usize, usize) -> Vec<(String, Vec<u32>)>) {
    // The thread count and the generator are global: one comparison at a time.
    static ALONE: Mutex<()> = Mutex::new(());
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let one = run(1, 3);
    let two = run(2, 3);
    assert_eq!(one.len(), two.len());
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(differing, 0, "{name}: {differing} of {} values differ between 1 and 2 threads", a.len());
    }
    assert_ne!(run(1, 0), one);
}

/// `n` labels in `0..10`.
fn labels(n: usize) -> IndexTensor {
    IndexTensor::from_vec((0..n).map(|i| (i * 7 % 10) as i64).collect(), &[n])
}

/// A convolutional classifier on `[128, 3, 16, 16]`.
fn conv_net(threads: usize, steps: usize) -> Vec<(String, Vec<u32>)> {
    manual_seed(7);
    let conv =
        |i, o| Conv2d::with_config(ConvConfig { padding: Padding::Explicit([1, 1]), ..ConvConfig::new(i, o, [3, 3]) });
    let model = Sequential::new()
        .append(conv(3, 16))
        .append(BatchNorm2d::new(16))
        .append(ReLU::new())
        .append(MaxPool2d::with_options(MaxPool2dOptions::new([2, 2])))
        .append(Flatten::default())
        .append(Linear::new(16 * 8 * 8, 256, true))
        .append(ReLU::new())
        .append(Linear::new(256, 10, true));
    let x = Tensor::<f32>::randn(&[128, 3, 16, 16]);
    train(model, &x, &labels(128), threads, steps)
}

/// An LSTM, then a transformer encoder layer, classified from the mean over
/// the sequence.
struct SequenceNet {
    lstm: LSTM,
    encoder: TransformerEncoderLayer,
    head: Linear,
}

lamina::layers::parts!(SequenceNet: f32 { lstm, encoder, head });

impl Forward for SequenceNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        let (out, _) = self.lstm.forward(x, None);
        self.head.forward(&self.encoder.forward(&out).mean_dims(&[1], false))
    }
}

/// [`SequenceNet`] on `[32, 12, 16]`, batch first.
fn sequence_net(threads: usize, steps: usize) -> Vec<(String, Vec<u32>)> {
    manual_seed(8);
    let config = TransformerLayerConfig {
        dim_feedforward: 128,
        dropout: 0.0,
        batch_first: true,
        ..TransformerLayerConfig::default()
    };
    let model = SequenceNet {
        lstm: LSTM::with_config(RecurrentConfig { batch_first: true, ..RecurrentConfig::new(16, 64) }),
        encoder: TransformerEncoderLayer::with_config(64, 4, config),
        head: Linear::new(64, 10, true),
    };
    let x = Tensor::<f32>::randn(&[32, 12, 16]);
    train(model, &x, &labels(32), threads, steps)
}

#[test]
fn training_gives_the_same_bits_on_one_and_two_threads() {
    assert_thread_independent(conv_net);
}

#[test]
fn sequence_training_gives_the_same_bits_on_one_and_two_threads() {
    assert_thread_independent(sequence_net);
}
