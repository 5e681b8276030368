//! Max, average and adaptive pooling: hand-computed values (padding,
//! dilation, ceil_mode, count_include_pad, divisor_override), a direct
//! reference, PyTorch conformance cases, and first and second derivatives
//! against finite differences.

use crate::nn_support;

use lamina_core::testing::{distinct_tensor, tensor};
use lamina_core::{
    gradcheck, gradgradcheck, AvgPool1dOptions, AvgPool2dOptions, Conv2dOptions, MaxPool1dOptions, MaxPool2dOptions,
    Tensor,
};
use nn_support::{assert_close, ok, panics_with, t, Case};
use proptest::prelude::*;

/// `[1, 5, 2, 4, 3]` as `[1, 1, 5]`.
fn row() -> Tensor<f64> {
    t(&[1.0, 5.0, 2.0, 4.0, 3.0], &[1, 1, 5])
}

fn max1d(x: &Tensor<f64>, o: MaxPool1dOptions) -> (Vec<f64>, Vec<i64>) {
    let (y, i) = x.max_pool1d_with_indices(&o);
    (y.to_vec(), i.to_vec())
}

// ------------------------------------------------------------------ values

#[test]
fn max_pool2d_takes_window_maxima_and_their_flat_indices() {
    let x = Tensor::<f64>::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]);
    let (y, idx) = x.max_pool2d_with_indices(&MaxPool2dOptions::new([2, 2]));
    assert_eq!(y.shape(), &[1, 1, 2, 2]);
    assert_eq!(y.to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
    assert_eq!(idx.to_vec(), vec![5, 7, 13, 15]);
    assert_eq!(idx.shape(), &[1, 1, 2, 2]);
    // Unbatched [C, H, W] keeps its rank.
    assert_eq!(x.squeeze(0).max_pool2d(&MaxPool2dOptions::new([2, 2])).shape(), &[1, 2, 2]);
}

#[test]
fn max_pool1d_stride_padding_dilation_and_ceil_mode() {
    let o = MaxPool1dOptions::new(2);
    assert_eq!(max1d(&row(), MaxPool1dOptions { stride: Some(2), ..o }), (vec![5.0, 4.0], vec![1, 3]));
    // ceil_mode keeps the partial window [4].
    let ceil = MaxPool1dOptions { stride: Some(2), ceil_mode: true, ..o };
    assert_eq!(max1d(&row(), ceil), (vec![5.0, 4.0, 3.0], vec![1, 3, 4]));
    // Windows [-1, 1], [1, 3], [3, 5] with padding 1.
    let pad = MaxPool1dOptions { stride: Some(2), padding: 1, ..MaxPool1dOptions::new(3) };
    assert_eq!(max1d(&row(), pad), (vec![5.0, 5.0, 4.0], vec![1, 1, 3]));
    // Dilation 2: windows {0, 2}, {1, 3}, {2, 4}.
    let dil = MaxPool1dOptions { stride: Some(1), dilation: 2, ..o };
    assert_eq!(max1d(&row(), dil), (vec![2.0, 5.0, 3.0], vec![2, 1, 4]));
}

#[test]
fn max_pool_padding_is_minus_infinity_and_nan_wins() {
    let x = t(&[-1.0, -2.0], &[1, 1, 2]);
    let o = MaxPool1dOptions { stride: Some(1), padding: 1, ..MaxPool1dOptions::new(2) };
    assert_eq!(max1d(&x, o), (vec![-1.0, -1.0, -2.0], vec![0, 0, 1]));
    let x = t(&[1.0, f64::NAN, 2.0], &[1, 1, 3]);
    let (y, i) = max1d(&x, MaxPool1dOptions::new(3));
    assert!(y[0].is_nan());
    assert_eq!(i, vec![1]);
}

#[test]
fn a_window_without_input_elements_is_minus_infinity() {
    // Length 1, kernel 2, dilation 2, padding 1: the taps of the window are
    // at -1 and 1, both outside the input.
    let x = t(&[7.0], &[1, 1, 1]).requires_grad_(true);
    let o = MaxPool1dOptions { padding: 1, dilation: 2, stride: Some(1), ..MaxPool1dOptions::new(2) };
    let (y, i) = x.max_pool1d_with_indices(&o);
    assert_eq!((y.to_vec(), i.to_vec()), (vec![f64::NEG_INFINITY], vec![-1]));
    y.sum().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.0]);
}

#[test]
fn max_pool_gradient_goes_to_the_arg_max_and_accumulates() {
    let x = t(&[1.0, 3.0, 2.0], &[1, 1, 3]).requires_grad_(true);
    let y = x.max_pool1d(&MaxPool1dOptions { stride: Some(1), ..MaxPool1dOptions::new(2) });
    assert_eq!(y.to_vec(), vec![3.0, 3.0]);
    y.mul(&t(&[1.0, 10.0], &[1, 1, 2])).sum().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 11.0, 0.0]);
}

#[test]
fn avg_pool_divisors_follow_pytorch() {
    // [1, 2, 3, 4], kernel 3, stride 2, padding 1, ceil_mode: windows
    // [-1, 2), [1, 4), [3, 5); the last is cut at size + padding = 5, so it
    // divides by 2 (not 3) when counting padding.
    let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 4]);
    let o = AvgPool1dOptions { stride: Some(2), padding: 1, ceil_mode: true, ..AvgPool1dOptions::new(3) };
    assert_close(&x.avg_pool1d(&o).to_vec(), &[1.0, 3.0, 2.0], 1e-15);
    let o = AvgPool1dOptions { count_include_pad: false, ..o };
    assert_close(&x.avg_pool1d(&o).to_vec(), &[1.5, 3.0, 4.0], 1e-15);
    // divisor_override replaces the window size.
    let x = Tensor::<f64>::ones(&[1, 1, 2, 2]);
    let o = AvgPool2dOptions { divisor_override: Some(1), ..AvgPool2dOptions::new([2, 2]) };
    assert_eq!(x.avg_pool2d(&o).to_vec(), vec![4.0]);
}

#[test]
fn avg_pool_gradient_spreads_evenly() {
    let x = Tensor::<f64>::zeros(&[1, 1, 4]).requires_grad_(true);
    let o = AvgPool1dOptions { stride: Some(1), ..AvgPool1dOptions::new(2) };
    x.avg_pool1d(&o).sum().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.5, 1.0, 1.0, 0.5]);
}

#[test]
fn adaptive_windows_cover_floor_to_ceil() {
    // 5 -> 3: [0, 2), [1, 4), [3, 5).
    assert_close(&row().adaptive_avg_pool1d(3).to_vec(), &[3.0, 11.0 / 3.0, 3.5], 1e-15);
    let (y, i) = row().adaptive_max_pool1d_with_indices(3);
    assert_eq!((y.to_vec(), i.to_vec()), (vec![5.0, 5.0, 4.0], vec![1, 1, 3]));
    // 2 -> 3: [0, 1), [0, 2), [1, 2).
    let x = t(&[2.0, 6.0], &[1, 2]);
    assert_eq!(x.adaptive_avg_pool1d(3).to_vec(), vec![2.0, 4.0, 6.0]);
    // 1x1 is the global mean.
    let x = Tensor::<f64>::arange(0.0, 12.0, 1.0).reshape(&[1, 2, 2, 3]);
    assert_eq!(x.adaptive_avg_pool2d([1, 1]).to_vec(), vec![2.5, 8.5]);
    assert_eq!(x.adaptive_max_pool2d([1, 2]).to_vec(), vec![4.0, 5.0, 10.0, 11.0]);
}

// ------------------------------------------------------------------ conformance

#[test]
fn pool_conformance() {
    for file in ["module__MaxPool2d_k2", "module__MaxPool2d_k3_s2_p1", "module__MaxPool1d_k3_s2"] {
        let c = Case::load(file);
        let x = c.input(0);
        let y = if file.contains("1d") {
            let k = c.int("kernel_size", 1);
            let o = MaxPool1dOptions {
                stride: Some(c.int("stride", k)),
                padding: c.int("padding", 0),
                dilation: c.int("dilation", 1),
                ..MaxPool1dOptions::new(k)
            };
            x.max_pool1d(&o)
        } else {
            let k = c.pair("kernel_size", [1, 1]);
            let o = MaxPool2dOptions {
                stride: Some(c.pair("stride", k)),
                padding: c.pair("padding", [0, 0]),
                dilation: c.pair("dilation", [1, 1]),
                ..MaxPool2dOptions::new(k)
            };
            x.max_pool2d(&o)
        };
        c.check(&[y], &[(0, &x)], &[]);
    }
    for file in ["module__AvgPool2d_count_include_pad", "module__AvgPool2d_exclude_pad"] {
        let c = Case::load(file);
        let x = c.input(0);
        let k = c.pair("kernel_size", [1, 1]);
        let o = AvgPool2dOptions {
            stride: Some(c.pair("stride", k)),
            padding: c.pair("padding", [0, 0]),
            count_include_pad: c.config()["count_include_pad"].as_bool().unwrap_or(true),
            ..AvgPool2dOptions::new(k)
        };
        c.check(&[x.avg_pool2d(&o)], &[(0, &x)], &[]);
    }
    for file in [
        "module__AdaptiveAvgPool2d_1x1",
        "module__AdaptiveAvgPool2d_3x2_from_7x5",
        "module__AdaptiveMaxPool2d_2x3_from_5x7",
    ] {
        let c = Case::load(file);
        let x = c.input(0);
        let out = c.pair("output_size", [1, 1]);
        let y = if file.contains("Max") { x.adaptive_max_pool2d(out) } else { x.adaptive_avg_pool2d(out) };
        c.check(&[y], &[(0, &x)], &[]);
    }
}

#[test]
fn f32_matches_f64() {
    let x = Tensor::<f64>::randn_with(&[2, 3, 7, 6], &mut lamina_core::Generator::new(5));
    let o =
        AvgPool2dOptions { stride: Some([2, 2]), padding: [1, 1], ceil_mode: true, ..AvgPool2dOptions::new([3, 3]) };
    assert_close(&x.cast::<f32>().avg_pool2d(&o).cast::<f64>().to_vec(), &x.avg_pool2d(&o).to_vec(), 1e-6);
    let m = MaxPool2dOptions { stride: Some([2, 1]), padding: [1, 1], ..MaxPool2dOptions::new([3, 2]) };
    assert_close(&x.cast::<f32>().max_pool2d(&m).cast::<f64>().to_vec(), &x.max_pool2d(&m).to_vec(), 1e-6);
}

// ------------------------------------------------------------------ errors

#[test]
fn errors_name_the_op_shapes_and_caller() {
    let x = Tensor::<f64>::zeros(&[1, 2, 5, 5]);
    let o = MaxPool2dOptions { padding: [2, 0], ..MaxPool2dOptions::new([3, 3]) };
    panics_with(|| drop(x.max_pool2d(&o)), &["max_pool2d", "padding", "[1, 2, 5, 5]", "tests/pool.rs"]);
    panics_with(
        || drop(x.avg_pool1d(&AvgPool1dOptions::new(2))),
        &["avg_pool1d", "2-d or 3-d", "[1, 2, 5, 5]", "tests/pool.rs"],
    );
    panics_with(
        || drop(x.max_pool2d(&MaxPool2dOptions::new([6, 6]))),
        &["max_pool2d", "too small", "[1, 2, 5, 5]", "tests/pool.rs"],
    );
    panics_with(|| drop(x.adaptive_avg_pool2d([0, 2])), &["adaptive_avg_pool2d", "[1, 2, 5, 5]", "tests/pool.rs"]);
}

// ------------------------------------------------------------------ derivatives and references

/// Pool options: kernel, stride, padding (at most half the kernel span), dilation, ceil_mode.
#[derive(Debug, Clone, Copy)]
struct PoolOpts {
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    ceil: bool,
}

fn pool_case(dilated: bool) -> impl Strategy<Value = (Tensor<f64>, PoolOpts)> {
    let d = if dilated { 2 } else { 1 };
    (
        [1usize..=3, 1usize..=3],
        [1usize..=2, 1usize..=2],
        [1usize..=d, 1usize..=d],
        any::<bool>(),
        [0usize..=1, 0usize..=1],
    )
        .prop_flat_map(move |(k, s, d, ceil, pad)| {
            let span = [0, 1].map(|a| d[a] * (k[a] - 1) + 1);
            let p = [0, 1].map(|a| pad[a].min(if dilated { span[a] / 2 } else { k[a] / 2 }));
            let lo = [0, 1].map(|a| span[a].saturating_sub(2 * p[a]).max(1));
            (1usize..=2, 1usize..=2, lo[0]..=5.max(lo[0]), lo[1]..=5.max(lo[1])).prop_flat_map(move |(n, c, h, w)| {
                // Stored transposed: the op sees `x.transpose(-1, -2)`.
                distinct_tensor(vec![n, c, w, h], 0.1).prop_map(move |x| (x, PoolOpts { k, s, p, d, ceil }))
            })
        })
}

/// The window maxima of `x` by their definition, for the output size the op chose.
fn direct_max(x: &Tensor<f64>, o: &PoolOpts, out: [usize; 2]) -> Vec<f64> {
    let s = x.shape();
    let (planes, h, w) = (s[0] * s[1], s[2] as isize, s[3] as isize);
    let v = x.to_vec();
    let mut res = vec![];
    for b in 0..planes {
        for oy in 0..out[0] {
            for ox in 0..out[1] {
                let mut m = f64::NEG_INFINITY;
                for i in 0..o.k[0] {
                    for j in 0..o.k[1] {
                        let y = (oy * o.s[0] + i * o.d[0]) as isize - o.p[0] as isize;
                        let xx = (ox * o.s[1] + j * o.d[1]) as isize - o.p[1] as isize;
                        if y >= 0 && y < h && xx >= 0 && xx < w {
                            m = m.max(v[b * (h * w) as usize + (y * w + xx) as usize]);
                        }
                    }
                }
                res.push(m);
            }
        }
    }
    res
}

/// PyTorch's arg-max of each window of `[planes, h, w]` values, by its
/// definition: taps in row-major order, a tap taken when it is greater than
/// the best so far or NaN; the first tap inside the window starts it.
fn direct_argmax(v: &[f32], [planes, h, w]: [usize; 3], o: &PoolOpts, out: [usize; 2]) -> Vec<i64> {
    let mut res = vec![];
    for b in 0..planes {
        for oy in 0..out[0] {
            for ox in 0..out[1] {
                let (mut best, mut max) = (-1i64, f32::NEG_INFINITY);
                for i in 0..o.k[0] {
                    for j in 0..o.k[1] {
                        let y = (oy * o.s[0] + i * o.d[0]) as isize - o.p[0] as isize;
                        let x = (ox * o.s[1] + j * o.d[1]) as isize - o.p[1] as isize;
                        if y >= 0 && y < h as isize && x >= 0 && x < w as isize {
                            let at = y as usize * w + x as usize;
                            let value = v[b * h * w + at];
                            if best < 0 || value > max || value.is_nan() {
                                (best, max) = (at as i64, value);
                            }
                        }
                    }
                }
                res.push(best);
            }
        }
    }
    res
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// In f32 (the kernel that compares many outputs at a time) with ties and
    /// NaNs: the first maximum of each window wins, and a NaN wins over
    /// everything (the last one of a window), as in PyTorch.
    #[test]
    fn max_pool2d_breaks_ties_and_takes_nans_as_pytorch(
        (xt, o) in pool_case(true),
        levels in prop::collection::vec(prop_oneof![9 => 0u8..3, 1 => Just(3u8)], 200),
    ) {
        let opts = MaxPool2dOptions { kernel_size: o.k, stride: Some(o.s), padding: o.p, dilation: o.d, ceil_mode: o.ceil };
        let shape = xt.shape().to_vec();
        // Three values, so that windows tie, and NaN.
        let v: Vec<f32> = (0..xt.numel()).map(|i| match levels[i % levels.len()] { 3 => f32::NAN, l => l as f32 }).collect();
        let x = Tensor::<f32>::from_vec(v, &[shape[0], shape[1], shape[3], shape[2]]);
        let (y, idx) = x.max_pool2d_with_indices(&opts);
        let out = [y.shape()[2], y.shape()[3]];
        let want = direct_argmax(&x.to_vec(), [shape[0] * shape[1], shape[3], shape[2]], &o, out);
        prop_assert_eq!(idx.to_vec(), want);
    }

    #[test]
    fn max_pool2d_matches_the_definition_and_its_derivatives((xt, o) in pool_case(true)) {
        let opts = MaxPool2dOptions { kernel_size: o.k, stride: Some(o.s), padding: o.p, dilation: o.d, ceil_mode: o.ceil };
        let x = xt.transpose(-1, -2);
        let (y, idx) = x.max_pool2d_with_indices(&opts);
        // A window with no input element (dilation wider than the input) is
        // -inf with index -1; see the hand test.
        prop_assume!(idx.to_vec().iter().all(|&i| i >= 0));
        let out = [y.shape()[2], y.shape()[3]];
        prop_assert_eq!(y.to_vec(), direct_max(&x, &o, out));
        // Each index points at its output's value in the input plane.
        let (xv, plane) = (x.contiguous().to_vec(), x.shape()[2] * x.shape()[3]);
        for (k, (&i, v)) in idx.to_vec().iter().zip(y.to_vec()).enumerate() {
            prop_assert_eq!(xv[k / (out[0] * out[1]) * plane + i as usize], v);
        }
        let f = |xs: &[Tensor<f64>]| xs[0].transpose(-1, -2).max_pool2d(&opts);
        ok(gradcheck(f, std::slice::from_ref(&xt)))?;
        ok(gradgradcheck(f, &[xt]))?;
    }

    #[test]
    fn avg_pool2d_derivatives((xt, o) in pool_case(false), include in any::<bool>(), over in prop_oneof![Just(None), Just(Some(3))]) {
        let opts = AvgPool2dOptions { kernel_size: o.k, stride: Some(o.s), padding: o.p, ceil_mode: o.ceil, count_include_pad: include, divisor_override: over };
        let f = |xs: &[Tensor<f64>]| xs[0].transpose(-1, -2).avg_pool2d(&opts);
        ok(gradcheck(f, std::slice::from_ref(&xt)))?;
        ok(gradgradcheck(f, &[xt]))?;
    }

    #[test]
    fn avg_pool2d_counting_padding_is_a_depthwise_conv((xt, o) in pool_case(false)) {
        let x = xt.transpose(-1, -2);
        let c = x.shape()[1];
        let opts = AvgPool2dOptions { kernel_size: o.k, stride: Some(o.s), padding: o.p, ..AvgPool2dOptions::new(o.k) };
        let w = Tensor::<f64>::full(&[c, 1, o.k[0], o.k[1]], 1.0 / (o.k[0] * o.k[1]) as f64);
        let conv = x.conv2d(&w, None, &Conv2dOptions { stride: o.s, padding: o.p, groups: c, ..Default::default() });
        assert_close(&x.avg_pool2d(&opts).to_vec(), &conv.to_vec(), 1e-12);
    }

    #[test]
    fn adaptive_pool_derivatives(x in ([1usize..=2, 1usize..=5, 1usize..=5]).prop_flat_map(|[c, h, w]| distinct_tensor(vec![1, c, h, w], 0.1)), out in [1usize..=4, 1usize..=4]) {
        let f = |xs: &[Tensor<f64>]| xs[0].adaptive_avg_pool2d(out);
        ok(gradcheck(f, std::slice::from_ref(&x)))?;
        ok(gradgradcheck(f, std::slice::from_ref(&x)))?;
        let g = |xs: &[Tensor<f64>]| xs[0].transpose(-1, -2).adaptive_max_pool2d(out);
        ok(gradcheck(g, std::slice::from_ref(&x)))?;
        ok(gradgradcheck(g, &[x]))?;
    }

    #[test]
    fn pool1d_derivatives(x in ([1usize..=2, 1usize..=6]).prop_flat_map(|[c, l]| tensor(vec![c, l], -1.0, 1.0)), k in 1usize..=3, s in 1usize..=2, ceil in any::<bool>(), out in 1usize..=4) {
        prop_assume!(x.shape()[1] >= k);
        let x = x.add(&Tensor::arange(0.0, x.numel() as f64, 1.0).reshape(x.shape()).mul_scalar(3.0));
        let m = MaxPool1dOptions { stride: Some(s), ceil_mode: ceil, padding: k / 2, ..MaxPool1dOptions::new(k) };
        let a = AvgPool1dOptions { stride: Some(s), ceil_mode: ceil, padding: k / 2, ..AvgPool1dOptions::new(k) };
        let f = |xs: &[Tensor<f64>]| xs[0].max_pool1d(&m).add(&xs[0].avg_pool1d(&a)).sum_dims(&[-1], false)
            .add(&xs[0].adaptive_max_pool1d(out).add(&xs[0].adaptive_avg_pool1d(out)).sum_dims(&[-1], false));
        ok(gradcheck(f, std::slice::from_ref(&x)))?;
        ok(gradgradcheck(f, &[x]))?;
    }
}
