//! Training does not depend on the thread count: a few steps of a model that
//! exercises every parallel kernel (GEMM split by rows, convolutions, large
//! element-wise maps and reductions, pooling, batch norm, the optimizer) end
//! in bit-identical parameters on 1 and 2 threads.

use lamina::core::{cross_entropy, set_num_threads, CrossEntropyOptions, IndexTensor, MaxPool2dOptions};
use lamina::layers::{
    BatchNorm2d, Conv2d, ConvConfig, Flatten, Forward, Linear, MaxPool2d, ModuleExt, Padding, ReLU, Sequential,
};
use lamina::optim::{Adam, Optimizer};
use lamina::prelude::*;

/// The parameters, by name, after `steps` Adam steps on fixed data with `threads` threads.
fn train(threads: usize, steps: usize) -> Vec<(String, Vec<u32>)> {
    set_num_threads(threads);
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
    let labels: Vec<i64> = (0..128).map(|i| (i * 7 % 10) as i64).collect();
    let y = IndexTensor::from_vec(labels, &[128]);
    let mut opt = Optimizer::new(model.named_parameters(), Adam { lr: 1e-3, ..Adam::default() });
    for _ in 0..steps {
        opt.zero_grad();
        cross_entropy(&model.forward(&x), &y, &CrossEntropyOptions::default()).backward();
        opt.step();
    }
    model.named_parameters().into_iter().map(|(n, p)| (n, p.to_vec().iter().map(|v| v.to_bits()).collect())).collect()
}

#[test]
fn training_gives_the_same_bits_on_one_and_two_threads() {
    let one = train(1, 3);
    let two = train(2, 3);
    assert_eq!(one.len(), two.len());
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(differing, 0, "{name}: {differing} of {} values differ between 1 and 2 threads", a.len());
    }
    // The steps did train: the parameters moved from their initial values.
    assert_ne!(train(1, 0), one);
}
