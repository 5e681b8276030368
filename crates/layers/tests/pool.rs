//! Pooling layers: hand-computed windows (padding with and without
//! count_include_pad, adaptive windows, global pooling) and gradient checks
//! of every pool over generated options, max pools on distinct values.

use lamina_core::testing::distinct_tensor;
use lamina_core::{no_grad, AvgPool1dOptions, AvgPool2dOptions, MaxPool1dOptions, MaxPool2dOptions, Tensor};
use lamina_layers::{
    gradcheck_module, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d,
    Forward, GlobalAvgPool, GlobalMaxPool, MaxPool1d, MaxPool2d,
};
use proptest::prelude::*;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

fn row(x: &[f64]) -> Tensor<f64> {
    t(x, &[1, 1, x.len()])
}

#[test]
fn avg_pool_counts_padding_in_the_divisor_only_when_asked() {
    let opts = AvgPool1dOptions { stride: Some(2), padding: 1, ..AvgPool1dOptions::new(2) };
    // Windows of 0 [1 2 3 4] 0: [0 1], [2 3], [4 0].
    let x = row(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(AvgPool1d::with_options(opts).forward(&x).to_vec(), vec![0.5, 2.5, 2.0]);
    let exclude = AvgPool1d::with_options(AvgPool1dOptions { count_include_pad: false, ..opts });
    assert_eq!(exclude.forward(&x).to_vec(), vec![1.0, 2.5, 4.0]);
    // 2-d: the corner window of a 2x2 input padded by 1 holds one real value.
    let x2 = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
    let o2 = AvgPool2dOptions { stride: Some([2, 2]), padding: [1, 1], ..AvgPool2dOptions::new([2, 2]) };
    assert_eq!(AvgPool2d::with_options(o2).forward(&x2).to_vec(), vec![0.25, 0.5, 0.75, 1.0]);
    let o2x = AvgPool2dOptions { count_include_pad: false, ..o2 };
    assert_eq!(AvgPool2d::with_options(o2x).forward(&x2).to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
    let o2d = AvgPool2dOptions { divisor_override: Some(2), ..AvgPool2dOptions::new([2, 2]) };
    assert_eq!(AvgPool2d::with_options(o2d).forward(&x2).to_vec(), vec![5.0]);
}

#[test]
fn max_pool_takes_each_windows_maximum() {
    let x = row(&[1.0, 5.0, 2.0, 0.0, 3.0]);
    // Default stride = kernel: windows [1 5], [2 0]; the last element is dropped.
    assert_eq!(MaxPool1d::new(2).forward(&x).to_vec(), vec![5.0, 2.0]);
    // ceil_mode keeps the partial last window [3].
    let ceil = MaxPool1d::with_options(MaxPool1dOptions { ceil_mode: true, ..MaxPool1dOptions::new(2) });
    assert_eq!(ceil.forward(&x).to_vec(), vec![5.0, 2.0, 3.0]);
    // Dilation 2, stride 1: taps {0,2}, {1,3}, {2,4}.
    let dil = MaxPool1d::with_options(MaxPool1dOptions { stride: Some(1), dilation: 2, ..MaxPool1dOptions::new(2) });
    assert_eq!(dil.forward(&x).to_vec(), vec![2.0, 5.0, 3.0]);
    let x2 = t(&[1.0, 2.0, 3.0, 4.0, 8.0, 7.0, 6.0, 5.0], &[1, 1, 2, 4]);
    assert_eq!(MaxPool2d::new([2, 2]).forward(&x2).to_vec(), vec![8.0, 6.0]);
}

#[test]
fn adaptive_pools_use_pytorchs_overlapping_windows() {
    // Output 2 over length 5: windows [floor(5i/2), ceil(5(i+1)/2)) = [0, 3) and [2, 5).
    let x = row(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(AdaptiveAvgPool1d::with_options(2).forward(&x).to_vec(), vec![2.0, 4.0]);
    assert_eq!(AdaptiveMaxPool1d::with_options(2).forward(&row(&[5.0, 1.0, 2.0, 3.0, 0.0])).to_vec(), vec![5.0, 3.0]);
    let x2 = t(&[1.0, 2.0, 3.0, 4.0, 8.0, 7.0, 6.0, 5.0], &[1, 1, 2, 4]);
    assert_eq!(AdaptiveAvgPool2d::with_options([1, 2]).forward(&x2).to_vec(), vec![4.5, 4.5]);
    assert_eq!(AdaptiveMaxPool2d::with_options([1, 1]).forward(&x2).to_vec(), vec![8.0]);
}

#[test]
fn global_pools_reduce_every_position_to_one_per_channel() {
    let x = Tensor::<f64>::arange(0.0, 16.0, 1.0).reshape(&[2, 2, 2, 2]);
    let avg = GlobalAvgPool::default().forward(&x);
    assert_eq!(avg.shape(), &[2, 2]);
    assert_eq!(avg.to_vec(), vec![1.5, 5.5, 9.5, 13.5]);
    assert_eq!(GlobalMaxPool::default().forward(&x.reshape(&[2, 2, 4])).to_vec(), vec![3.0, 7.0, 11.0, 15.0]);
}

/// A pool of kind `kind` with options `o` (kernel, stride, padding, dilation,
/// ceil_mode, count_include_pad), for an input of `d` spatial dimensions.
fn pool(kind: usize, two_d: bool, o: &PoolOpts) -> Box<dyn Forward<f64>> {
    let PoolOpts { kernel: k, stride: s, padding: p, dilation, ceil_mode, count_include_pad, out } = *o;
    match (kind, two_d) {
        (0, false) => Box::new(MaxPool1d::with_options(MaxPool1dOptions {
            stride: Some(s[0]),
            padding: p[0],
            dilation: dilation[0],
            ceil_mode,
            kernel_size: k[0],
        })),
        (0, true) => Box::new(MaxPool2d::with_options(MaxPool2dOptions {
            stride: Some(s),
            padding: p,
            dilation,
            ceil_mode,
            kernel_size: k,
        })),
        (1, false) => Box::new(AvgPool1d::with_options(AvgPool1dOptions {
            stride: Some(s[0]),
            padding: p[0],
            ceil_mode,
            count_include_pad,
            kernel_size: k[0],
        })),
        (1, true) => Box::new(AvgPool2d::with_options(AvgPool2dOptions {
            stride: Some(s),
            padding: p,
            ceil_mode,
            count_include_pad,
            divisor_override: count_include_pad.then_some(3),
            kernel_size: k,
        })),
        (2, false) => Box::new(AdaptiveAvgPool1d::with_options(out[0])),
        (2, true) => Box::new(AdaptiveAvgPool2d::with_options(out)),
        (3, false) => Box::new(AdaptiveMaxPool1d::with_options(out[0])),
        (3, true) => Box::new(AdaptiveMaxPool2d::with_options(out)),
        (4, _) => Box::new(GlobalAvgPool::default()),
        _ => Box::new(GlobalMaxPool::default()),
    }
}

#[derive(Clone, Copy, Debug)]
struct PoolOpts {
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
    count_include_pad: bool,
    out: [usize; 2],
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn every_pool_gradchecks_over_its_options(
        (x, size) in (any::<bool>(), 1..=2usize, 1..=2usize, [1..=5usize, 1..=5usize]).prop_flat_map(|(two_d, n, c, size)| {
            let mut shape = vec![n, c];
            shape.extend_from_slice(&size[..if two_d { 2 } else { 1 }]);
            (distinct_tensor(shape, 0.25), Just(size))
        }),
        kernel in [1..=3usize, 1..=3usize], stride in [1..=2usize, 1..=2usize], padding in [0..=1usize, 0..=1usize],
        dilation in [1..=2usize, 1..=2usize], ceil_mode: bool, count_include_pad: bool, out in [1..=3usize, 1..=3usize],
    ) {
        let two_d = x.ndim() == 4;
        let d = x.ndim() - 2;
        // PyTorch: padding at most half the kernel, and a non-empty output.
        prop_assume!((0..d).all(|i| 2 * padding[i] <= kernel[i] && size[i] + 2 * padding[i] > dilation[i] * (kernel[i] - 1)));
        let o = PoolOpts { kernel, stride, padding, dilation, ceil_mode, count_include_pad, out };
        for kind in 0..6 {
            let layer = pool(kind, two_d, &o);
            // A dilated window can fall entirely in the padding: -inf there, as in PyTorch.
            if no_grad(|| layer.forward(&x)).to_vec().iter().any(|v| !v.is_finite()) {
                prop_assert_eq!(kind, 0);
                continue;
            }
            let r = gradcheck_module(&layer, &x);
            prop_assert!(r.is_ok(), "kind {kind}: {}", r.unwrap_err());
        }
    }
}
