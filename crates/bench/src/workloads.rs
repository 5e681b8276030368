//! The workloads, exactly as BENCHMARKS.md defines them.

use lamina::core::{cross_entropy, CrossEntropyOptions, IndexTensor, MaxPool2dOptions};
use lamina::layers::{
    Conv2d, ConvConfig, Flatten, Forward, Linear, MaxPool2d, ModuleExt, Padding, ReLU, RecurrentConfig, Sequential,
    TransformerEncoder, TransformerEncoderLayer, TransformerLayerConfig, LSTM,
};
use lamina::optim::AdamW;
use lamina::optim::{Adam, Optimizer, Rule, Sgd};
use lamina::prelude::*;

/// A named workload: `setup` builds its data and returns one step.
pub struct Workload {
    pub name: &'static str,
    pub setup: fn() -> Box<dyn FnMut()>,
}

/// Every workload, in BENCHMARKS.md's order.
pub fn all() -> Vec<Workload> {
    vec![
        Workload { name: "mlp", setup: mlp },
        Workload { name: "cnn", setup: cnn },
        Workload { name: "lstm", setup: lstm },
        Workload { name: "transformer", setup: transformer },
        Workload { name: "overhead", setup: overhead },
        Workload { name: "matmul", setup: matmul },
    ]
}

/// Random class targets in `0..10`.
fn classes(n: usize) -> IndexTensor {
    let v = Tensor::<f32>::rand(&[n]).to_vec().into_iter().map(|u| (u * 10.0) as i64).collect();
    IndexTensor::from_vec(v, &[n])
}

/// One training step of `model` on `(x, y)`: forward, cross-entropy, backward, update.
fn train_step<M, R>(model: M, x: Tensor, y: IndexTensor, rule: R) -> Box<dyn FnMut()>
where
    M: Forward + 'static,
    R: Rule + Send + 'static,
{
    let mut opt = Optimizer::new(model.named_parameters(), rule);
    Box::new(move || {
        opt.zero_grad();
        cross_entropy(&model.forward(&x), &y, &CrossEntropyOptions::default()).backward();
        opt.step();
    })
}

/// Linear 784-512-512-10 with ReLU; SGD with momentum.
fn mlp() -> Box<dyn FnMut()> {
    manual_seed(0);
    let model = Sequential::new()
        .append(Linear::new(784, 512, true))
        .append(ReLU::new())
        .append(Linear::new(512, 512, true))
        .append(ReLU::new())
        .append(Linear::new(512, 10, true));
    train_step(model, Tensor::randn(&[128, 784]), classes(128), Sgd { lr: 0.01, momentum: 0.9, ..Sgd::default() })
}

/// Two conv3x3 + ReLU + max-pool stages, then Linear 3136-128-10; Adam.
fn cnn() -> Box<dyn FnMut()> {
    manual_seed(0);
    let conv =
        |i, o| Conv2d::with_config(ConvConfig { padding: Padding::Explicit([1, 1]), ..ConvConfig::new(i, o, [3, 3]) });
    let pool = || MaxPool2d::with_options(MaxPool2dOptions::new([2, 2]));
    let model = Sequential::new()
        .append(conv(1, 32))
        .append(ReLU::new())
        .append(pool())
        .append(conv(32, 64))
        .append(ReLU::new())
        .append(pool())
        .append(Flatten::default())
        .append(Linear::new(3136, 128, true))
        .append(ReLU::new())
        .append(Linear::new(128, 10, true));
    train_step(model, Tensor::randn(&[64, 1, 28, 28]), classes(64), Adam { lr: 1e-3, ..Adam::default() })
}

/// An LSTM over a batch-first sequence, classified from its last step.
struct LastStep {
    lstm: LSTM,
    head: Linear,
}

lamina::layers::parts!(LastStep: f32 { lstm, head });

impl Forward for LastStep {
    fn forward(&self, x: &Tensor) -> Tensor {
        let (out, _) = self.lstm.forward(x, None);
        let steps = out.shape()[1];
        self.head.forward(&out.narrow(1, steps - 1, 1).squeeze(1))
    }
}

/// LSTM 64-256 (one layer, batch-first) on [32, 32, 64], Linear 256-10 on the
/// last step; Adam.
fn lstm() -> Box<dyn FnMut()> {
    manual_seed(0);
    let model = LastStep {
        lstm: LSTM::with_config(RecurrentConfig { batch_first: true, ..RecurrentConfig::new(64, 256) }),
        head: Linear::new(256, 10, true),
    };
    train_step(model, Tensor::randn(&[32, 32, 64]), classes(32), Adam { lr: 1e-3, ..Adam::default() })
}

/// A transformer encoder whose mean over the sequence is classified.
struct MeanPooled {
    enc: TransformerEncoder,
    head: Linear,
}

lamina::layers::parts!(MeanPooled: f32 { enc, head });

impl Forward for MeanPooled {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.head.forward(&self.enc.forward(x).mean_dims(&[1], false))
    }
}

/// Two pre-norm encoder layers (d_model 256, 4 heads, feed-forward 1024,
/// ReLU, dropout 0, batch-first) on [16, 64, 256], mean over the sequence,
/// Linear 256-10; AdamW.
fn transformer() -> Box<dyn FnMut()> {
    manual_seed(0);
    let config = TransformerLayerConfig {
        dim_feedforward: 1024,
        dropout: 0.0,
        batch_first: true,
        norm_first: true,
        ..TransformerLayerConfig::default()
    };
    let model = MeanPooled {
        enc: TransformerEncoder::new(TransformerEncoderLayer::with_config(256, 4, config), 2, None),
        head: Linear::new(256, 10, true),
    };
    train_step(model, Tensor::randn(&[16, 64, 256]), classes(16), AdamW { lr: 1e-3, ..AdamW::default() })
}

/// 2500 tiny ops and their backward: the cost of the tape itself.
fn overhead() -> Box<dyn FnMut()> {
    manual_seed(0);
    let w = Tensor::<f32>::randn(&[16]).requires_grad_(true);
    Box::new(move || {
        let mut h = w.clone();
        for _ in 0..500 {
            h = (&h * 0.999 + 0.001).tanh() - &h * 0.5;
        }
        h.sum().backward();
        w.zero_grad();
    })
}

/// backward of sum(a @ b) for 1024 x 1024 operands: three GEMMs.
fn matmul() -> Box<dyn FnMut()> {
    manual_seed(0);
    let a = Tensor::<f32>::randn(&[1024, 1024]).requires_grad_(true);
    let b = Tensor::<f32>::randn(&[1024, 1024]).requires_grad_(true);
    Box::new(move || {
        a.matmul(&b).sum().backward();
        a.zero_grad();
        b.zero_grad();
    })
}
