//! A small ResNet, built from `BasicBlock`s, on the bundled UCI digits
//! (1,797 8x8 images of handwritten digits, split 80/20 into train and test),
//! trained with SGD + Nesterov momentum and a learning rate that warms up
//! linearly and then follows a cosine to zero.
//!
//! Run with `cargo run --release --example resnet` (add `-- --max-steps N` to
//! stop after N steps).

mod common;

use lamina::data::Normalize;
use lamina::layers::{
    conv3x3, AdaptiveAvgPool2d, BasicBlock, BatchNorm2d, Flatten, Forward, Linear, ModuleExt, ReLU, Sequential,
};
use lamina::optim::{with_linear_warmup, CosineAnnealingLR, Optimizer, Sgd};
use lamina::prelude::*;

fn main() {
    manual_seed(0);
    let (mut train, mut test) = common::digits();
    // Statistics from the training images only; [n, 8, 8] -> [n, 1, 8, 8].
    let norm = Normalize::fit_global(&train.inputs);
    train.inputs = norm.apply(&train.inputs).unsqueeze(1);
    test.inputs = norm.apply(&test.inputs).unsqueeze(1);
    println!("{} training and {} test images", train.len(), test.len());

    // Stem, then three stages of BasicBlocks; each later stage halves the
    // resolution (8x8 -> 4x4 -> 2x2) and doubles the channels, its first
    // block projecting the skip connection with a strided 1x1 convolution.
    let model = Sequential::new()
        .append(conv3x3(1, 16, 1))
        .append(BatchNorm2d::new(16))
        .append(ReLU::new())
        .append(BasicBlock::new(16, 16, 1))
        .append(BasicBlock::new(16, 32, 2))
        .append(BasicBlock::new(32, 64, 2))
        .append(AdaptiveAvgPool2d::with_options([1, 1]))
        .append(Flatten::default())
        .append(Linear::new(64, 10, true));
    println!("ResNet with {} parameters", model.num_parameters());

    let (epochs, batch_size) = (15, 64);
    let total = common::fit_steps(&train, epochs, batch_size);
    let warmup = total / 10;
    let sgd = Sgd { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5e-4, ..Sgd::default() };
    let mut opt = Optimizer::new(model.named_parameters(), sgd);
    // Linear warm-up from 0.01 to 0.1 over the first tenth, then cosine to 0.
    let mut schedule =
        with_linear_warmup(&mut opt, warmup, 0.1, |o| Box::new(CosineAnnealingLR::new(o, total - warmup, 0.0)));
    let steps = common::fit(&model, &mut opt, &mut schedule, &train, epochs, batch_size);

    let acc = common::accuracy(&test, |x| model.forward(x));
    println!("test accuracy after {steps} steps: {:.2}%", 100.0 * acc);
}
