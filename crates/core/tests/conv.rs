//! Convolutions, transposed convolutions and unfold/fold: hand-computed
//! values, a direct by-the-definition reference, adjoint identities, PyTorch
//! conformance cases, and first and second derivatives against finite
//! differences.

use crate::nn_support;

use lamina_core::testing::tensor;
use lamina_core::{
    gradcheck, gradgradcheck, Conv1dOptions, Conv2dOptions, ConvTranspose1dOptions, ConvTranspose2dOptions,
    Fold1dOptions, Fold2dOptions, Tensor,
};
use nn_support::{assert_close, dot, ok, panics_with, t, Case};
use proptest::prelude::*;

fn range(n: usize, s: &[usize]) -> Tensor<f64> {
    Tensor::arange(0.0, n as f64, 1.0).reshape(s)
}

// ------------------------------------------------------------------ values

#[test]
fn conv2d_with_padding_and_stride() {
    // x = 0..9 as 3x3, a 2x2 kernel of ones, padding 1, stride 2: the windows
    // start at (-1,-1), (-1,1), (1,-1), (1,1).
    let x = range(9, &[1, 1, 3, 3]);
    let w = Tensor::<f64>::ones(&[1, 1, 2, 2]);
    let opts = Conv2dOptions { stride: [2, 2], padding: [1, 1], ..Default::default() };
    let y = x.conv2d(&w, Some(&t(&[0.5], &[1])), &opts);
    assert_eq!(y.shape(), &[1, 1, 2, 2]);
    assert_eq!(y.to_vec(), vec![0.5, 3.5, 9.5, 24.5]);
}

#[test]
fn grouped_conv_keeps_groups_apart() {
    // Two groups of one channel: each output channel scales its own input.
    let x = t(&[1.0, 2.0, 10.0, 20.0], &[1, 2, 1, 2]);
    let w = t(&[2.0, 3.0], &[2, 1, 1, 1]);
    let y = x.conv2d(&w, None, &Conv2dOptions { groups: 2, ..Default::default() });
    assert_eq!(y.to_vec(), vec![2.0, 4.0, 30.0, 60.0]);
    // The same weights as a dense 2->2 conv mix both channels.
    let dense = t(&[2.0, 0.0, 1.0, 3.0], &[2, 2, 1, 1]);
    let y = x.conv2d(&dense, None, &Conv2dOptions::default());
    assert_eq!(y.to_vec(), vec![2.0, 4.0, 31.0, 62.0]);
}

#[test]
fn conv1d_with_dilation() {
    // Taps two apart: y[i] = x[i] + 2 x[i + 2].
    let x = range(6, &[1, 1, 6]);
    let w = t(&[1.0, 2.0], &[1, 1, 2]);
    let y = x.conv1d(&w, None, &Conv1dOptions { dilation: 2, ..Default::default() });
    assert_eq!(y.to_vec(), vec![4.0, 7.0, 10.0, 13.0]);
    // Unbatched input [C, L] gives [O, L'].
    let y = range(6, &[1, 6]).conv1d(&w, None, &Conv1dOptions { dilation: 2, stride: 3, ..Default::default() });
    assert_eq!(y.shape(), &[1, 2]);
    assert_eq!(y.to_vec(), vec![4.0, 13.0]);
}

#[test]
fn same_padding_puts_the_odd_zero_at_the_end() {
    // A length-2 kernel needs one zero: PyTorch adds it on the right.
    let x = t(&[1.0, 2.0, 3.0], &[1, 1, 3]);
    let w = t(&[1.0, 10.0], &[1, 1, 2]);
    assert_eq!(x.conv1d_same(&w, None, 1, 1).to_vec(), vec![21.0, 32.0, 3.0]);
    // Dilation 2 with a length-3 kernel pads 2 on each side: y[i] = x[i-2] + x[i+2].
    let w = t(&[1.0, 0.0, 1.0], &[1, 1, 3]);
    let x = range(5, &[1, 1, 5]);
    assert_eq!(x.conv1d_same(&w, None, 2, 1).to_vec(), vec![2.0, 3.0, 4.0, 1.0, 2.0]);
}

#[test]
fn conv_transpose_stamps_and_crops() {
    // Full transposed conv of [1, 2] with [1, 1, 1] is [1, 3, 3, 2]; padding 1 crops one each side.
    let x = t(&[1.0, 2.0], &[1, 1, 2]);
    let w = t(&[1.0, 1.0, 1.0], &[1, 1, 3]);
    assert_eq!(x.conv_transpose1d(&w, None, &ConvTranspose1dOptions::default()).to_vec(), vec![1.0, 3.0, 3.0, 2.0]);
    let y = x.conv_transpose1d(&w, None, &ConvTranspose1dOptions { padding: 1, ..Default::default() });
    assert_eq!(y.to_vec(), vec![3.0, 3.0]);
    // Stride 2 spreads the stamps; output_padding adds a trailing zero.
    let w = t(&[1.0, 10.0], &[1, 1, 2]);
    let opts = ConvTranspose1dOptions { stride: 3, output_padding: 1, ..Default::default() };
    assert_eq!(x.conv_transpose1d(&w, Some(&t(&[0.5], &[1])), &opts).to_vec(), vec![1.5, 10.5, 0.5, 2.5, 20.5, 0.5]);
}

#[test]
fn unfold_lists_windows_and_fold_sums_them_back() {
    // 1 channel 2x3, 2x2 windows: two windows, rows are the four taps.
    let x = range(6, &[1, 1, 2, 3]);
    let cols = x.unfold2d(&Fold2dOptions::new([2, 2]));
    assert_eq!(cols.shape(), &[1, 4, 2]);
    assert_eq!(cols.to_vec(), vec![0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 5.0]);
    // Folding ones counts how many windows cover each position.
    let ones = Tensor::<f64>::ones(&[1, 4, 2]);
    assert_eq!(ones.fold2d([2, 3], &Fold2dOptions::new([2, 2])).to_vec(), vec![1.0, 2.0, 1.0, 1.0, 2.0, 1.0]);
    // 1-d, padding 1: windows of 2 over [0, a, b, 0].
    let x = t(&[5.0, 7.0], &[1, 2]);
    let opts = Fold1dOptions { padding: 1, ..Fold1dOptions::new(2) };
    assert_eq!(x.unfold1d(&opts).to_vec(), vec![0.0, 5.0, 7.0, 5.0, 7.0, 0.0]);
    assert_eq!(x.unfold1d(&opts).fold1d(2, &opts).to_vec(), vec![10.0, 14.0]);
}

#[test]
fn pointwise_conv_reads_strided_inputs() {
    // 1x1 kernels take the GEMM-only path; a transposed input must still work.
    let x = range(12, &[1, 2, 2, 3]);
    let w = t(&[1.0, -1.0], &[1, 2, 1, 1]);
    let y = x.conv2d(&w, None, &Conv2dOptions::default());
    assert_eq!(y.to_vec(), vec![-6.0; 6]);
    let yt = x.transpose(2, 3).conv2d(&w, None, &Conv2dOptions::default());
    assert_eq!(yt.shape(), &[1, 1, 3, 2]);
    assert_eq!(yt.to_vec(), vec![-6.0; 6]);
    let x = range(4, &[1, 2, 2, 1]).mul_scalar(2.0);
    assert_eq!(x.transpose(2, 3).conv2d(&w, None, &Conv2dOptions::default()).to_vec(), vec![-4.0, -4.0]);
}

// ------------------------------------------------------------------ reference

/// Direct convolution by its definition: out[n, o, y, x] = b[o] + sum over the
/// group's channels and taps of input (zero outside) times weight.
fn direct_conv2d(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &[f64],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    groups: usize,
) -> Tensor<f64> {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (n, c, h, wd) = (xs[0], xs[1], xs[2] as isize, xs[3] as isize);
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let oh = (xs[2] + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0] + 1;
    let ow = (xs[3] + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1] + 1;
    let (xv, wv) = (x.to_vec(), w.to_vec());
    let mut out = vec![0.0; n * o * oh * ow];
    for ni in 0..n {
        for oc in 0..o {
            let g = oc / (o / groups);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[oc];
                    for ic in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let y = (oy * s[0] + i * d[0]) as isize - p[0] as isize;
                                let xx = (ox * s[1] + j * d[1]) as isize - p[1] as isize;
                                if y >= 0 && y < h && xx >= 0 && xx < wd {
                                    let ch = g * cg + ic;
                                    acc += xv[((ni * c + ch) * h as usize + y as usize) * wd as usize + xx as usize]
                                        * wv[((oc * cg + ic) * kh + i) * kw + j];
                                }
                            }
                        }
                    }
                    out[((ni * o + oc) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    Tensor::from_vec(out, &[n, o, oh, ow])
}

/// A small convolution: input, weight, bias and options.
#[derive(Debug, Clone)]
struct ConvCase {
    /// The input stored transposed (`[N, C, W, H]`): ops see `x.transpose(2, 3)`.
    xt: Tensor<f64>,
    w: Tensor<f64>,
    b: Tensor<f64>,
    opts: Conv2dOptions,
}

impl ConvCase {
    fn x(&self) -> Tensor<f64> {
        self.xt.transpose(2, 3)
    }
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    let sizes = (1usize..=2, 1usize..=2, 1usize..=2, 1usize..=2);
    let pairs =
        ([1usize..=3, 1usize..=3], [1usize..=2, 1usize..=2], [0usize..=1, 0usize..=1], [1usize..=2, 1usize..=2]);
    (sizes, pairs)
        .prop_filter("kernel span fits in 5", |(_, (k, _, _, d))| (0..2).all(|a| d[a] * (k[a] - 1) < 5))
        .prop_flat_map(|((n, groups, cg, og), (k, s, p, d))| {
            let lo = |a: usize| (d[a] * (k[a] - 1) + 1).saturating_sub(2 * p[a]).max(1);
            let (h, w) = ((lo(0)..=5.max(lo(0))), (lo(1)..=5.max(lo(1))));
            (h, w).prop_flat_map(move |(h, w)| {
                let c = cg * groups;
                (
                    tensor(vec![n, c, w, h], -1.0, 1.0),
                    tensor(vec![og * groups, cg, k[0], k[1]], -1.0, 1.0),
                    tensor(vec![og * groups], -1.0, 1.0),
                )
                    .prop_map(move |(xt, w, b)| ConvCase {
                        xt,
                        w,
                        b,
                        opts: Conv2dOptions { stride: s, padding: p, dilation: d, groups },
                    })
            })
        })
}

/// Input sizes that reach one more output of a transposed conv: `output_padding`
/// below `max(stride, dilation)`.
fn transpose_opts(c: &ConvCase, extra: [usize; 2]) -> ConvTranspose2dOptions {
    let o = &c.opts;
    let op = [0, 1].map(|a| extra[a] % o.stride[a].max(o.dilation[a]));
    ConvTranspose2dOptions {
        stride: o.stride,
        padding: o.padding,
        output_padding: op,
        groups: o.groups,
        dilation: o.dilation,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn conv2d_matches_the_definition(c in conv_case()) {
        let got = c.x().conv2d(&c.w, Some(&c.b), &c.opts);
        let o = &c.opts;
        let want = direct_conv2d(&c.x(), &c.w, &c.b.to_vec(), o.stride, o.padding, o.dilation, o.groups);
        prop_assert_eq!(got.shape(), want.shape());
        assert_close(&got.to_vec(), &want.to_vec(), 1e-12);
        // conv1d is the height-1 case.
        let x1 = c.x().narrow(2, 0, 1).squeeze(2);
        let w1 = c.w.narrow(2, 0, 1).squeeze(2);
        let o1 = Conv1dOptions { stride: o.stride[1], padding: o.padding[1], dilation: o.dilation[1], groups: o.groups };
        let want1 = direct_conv2d(&x1.unsqueeze(2), &w1.unsqueeze(2), &c.b.to_vec(), [1, o1.stride], [0, o1.padding], [1, o1.dilation], o.groups);
        assert_close(&x1.conv1d(&w1, Some(&c.b), &o1).to_vec(), &want1.to_vec(), 1e-12);
    }

    #[test]
    fn conv_transpose_is_the_adjoint_of_conv(c in conv_case(), seed in 0u64..1000) {
        let x = c.x();
        let y = x.conv2d(&c.w, None, &c.opts);
        let v = Tensor::<f64>::randn_with(y.shape(), &mut lamina_core::Generator::new(seed));
        // output_padding recovers x's size exactly.
        let o = &c.opts;
        let natural = [0, 1].map(|a| (y.shape()[2 + a] - 1) * o.stride[a] + o.dilation[a] * (c.w.shape()[2 + a] - 1) + 1 - 2 * o.padding[a]);
        let extra = [x.shape()[2] - natural[0], x.shape()[3] - natural[1]];
        let back = v.conv_transpose2d(&c.w, None, &ConvTranspose2dOptions { output_padding: extra, ..transpose_opts(&c, [0, 0]) });
        prop_assert_eq!(back.shape(), x.shape());
        let (lhs, rhs) = (dot(&y, &v), dot(&x, &back));
        prop_assert!((lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
    }

    #[test]
    fn fold_is_the_adjoint_of_unfold(c in conv_case(), seed in 0u64..1000) {
        let o = &c.opts;
        let k = [c.w.shape()[2], c.w.shape()[3]];
        let opts = Fold2dOptions { kernel_size: k, dilation: o.dilation, padding: o.padding, stride: o.stride };
        let x = c.x();
        let cols = x.unfold2d(&opts);
        let v = Tensor::<f64>::randn_with(cols.shape(), &mut lamina_core::Generator::new(seed));
        let back = v.fold2d([x.shape()[2], x.shape()[3]], &opts);
        let (lhs, rhs) = (dot(&cols, &v), dot(&x, &back));
        prop_assert!((lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
        // And conv2d (one group) is the weight matrix times the patch matrix.
        if o.groups == 1 {
            let oc = c.w.shape()[0];
            let y = c.w.reshape(&[oc, c.w.numel() / oc]).matmul(&cols);
            let direct = x.conv2d(&c.w, None, o);
            assert_close(&y.to_vec(), &direct.to_vec(), 1e-12);
        }
    }

    /// Unit-stride convolutions of contiguous inputs whose output rows are
    /// as long as the input's ("same" padding along x), where im2col copies
    /// each tap's patch row as one run of the plane and zeroes the positions
    /// that wrapped past a row's ends.
    #[test]
    fn same_padding_runs_match_the_definition(
        x in tensor(vec![2, 2, 4, 5], -1.0, 1.0),
        w in tensor(vec![2, 2, 3, 3], -1.0, 1.0),
        b in tensor(vec![2], -1.0, 1.0),
        ky in 0usize..3,
    ) {
        // Kernel heights 1 to 3 (padded 0, 1, 1), width 3 (padded 1).
        let w = w.narrow(2, 0, ky + 1);
        let opts = Conv2dOptions { padding: [ky.min(1), 1], ..Default::default() };
        let want = direct_conv2d(&x, &w, &b.to_vec(), [1, 1], opts.padding, [1, 1], 1);
        let got = x.conv2d(&w, Some(&b), &opts);
        prop_assert_eq!(got.shape(), want.shape());
        assert_close(&got.to_vec(), &want.to_vec(), 1e-12);
        let f = |xs: &[Tensor<f64>]| xs[0].conv2d(&xs[1], Some(&xs[2]), &opts);
        ok(gradcheck(f, &[x.clone(), w.contiguous(), b.clone()]))?;
    }

    #[test]
    fn conv2d_derivatives(c in conv_case()) {
        let opts = c.opts;
        let f = |xs: &[Tensor<f64>]| xs[0].transpose(2, 3).conv2d(&xs[1], Some(&xs[2]), &opts);
        ok(gradcheck(f, &[c.xt.clone(), c.w.clone(), c.b.clone()]))?;
        ok(gradgradcheck(f, &[c.xt.clone(), c.w.clone(), c.b.clone()]))?;
    }

    #[test]
    fn conv_transpose2d_derivatives(c in conv_case(), extra in [0usize..2, 0usize..2], hw in [1usize..=3, 1usize..=3], seed in 0u64..1000) {
        // The conv's weight [O, C/g, k] read as a transposed weight: O inputs, C outputs.
        let opts = transpose_opts(&c, extra);
        let k = [c.w.shape()[2], c.w.shape()[3]];
        let out = [0, 1].map(|a| ((hw[a] - 1) * opts.stride[a] + opts.dilation[a] * (k[a] - 1) + opts.output_padding[a] + 1) as isize - 2 * opts.padding[a] as isize);
        prop_assume!(out[0] >= 1 && out[1] >= 1);
        // Stored transposed, so the op sees a non-contiguous input.
        let xt = Tensor::<f64>::randn_with(&[c.xt.shape()[0], c.w.shape()[0], hw[1], hw[0]], &mut lamina_core::Generator::new(seed));
        let b = Tensor::<f64>::randn_with(&[c.w.shape()[1] * opts.groups], &mut lamina_core::Generator::new(seed + 1));
        let f = |xs: &[Tensor<f64>]| xs[0].transpose(2, 3).conv_transpose2d(&xs[1], Some(&xs[2]), &opts);
        prop_assert_eq!(f(&[xt.clone(), c.w.clone(), b.clone()]).shape()[2..].to_vec(), vec![out[0] as usize, out[1] as usize]);
        ok(gradcheck(f, &[xt.clone(), c.w.clone(), b.clone()]))?;
        ok(gradgradcheck(f, &[xt, c.w.clone(), b]))?;
    }

    #[test]
    fn conv1d_and_unfold_derivatives(c in conv_case()) {
        let o = c.opts;
        let x = c.x().narrow(2, 0, 1).squeeze(2).contiguous();
        let w = c.w.narrow(2, 0, 1).squeeze(2).contiguous();
        let o1 = Conv1dOptions { stride: o.stride[1], padding: o.padding[1], dilation: o.dilation[1], groups: o.groups };
        let f = |xs: &[Tensor<f64>]| xs[0].conv1d(&xs[1], None, &o1);
        ok(gradgradcheck(f, &[x.clone(), w.clone()]))?;
        let t1 = ConvTranspose1dOptions { stride: o1.stride, padding: 0, output_padding: 0, groups: o1.groups, dilation: o1.dilation };
        let g = |xs: &[Tensor<f64>]| xs[0].conv_transpose1d(&xs[1], None, &t1);
        let xo = Tensor::<f64>::randn_with(&[x.shape()[0], w.shape()[0], 2], &mut lamina_core::Generator::new(3));
        ok(gradgradcheck(g, &[xo, w.clone()]))?;
        let k = [c.w.shape()[2], c.w.shape()[3]];
        let fo = Fold2dOptions { kernel_size: k, dilation: o.dilation, padding: o.padding, stride: o.stride };
        let (hh, ww) = (c.xt.shape()[3], c.xt.shape()[2]);
        let u = |xs: &[Tensor<f64>]| xs[0].transpose(2, 3).unfold2d(&fo).fold2d([hh, ww], &fo).square();
        ok(gradgradcheck(u, std::slice::from_ref(&c.xt)))?;
    }
}

// ------------------------------------------------------------------ conformance

fn conv2d_opts(c: &Case) -> Conv2dOptions {
    Conv2dOptions {
        stride: c.pair("stride", [1, 1]),
        padding: c.pair("padding", [0, 0]),
        dilation: c.pair("dilation", [1, 1]),
        groups: c.int("groups", 1),
    }
}

#[test]
fn conv2d_conformance() {
    for file in [
        "module__Conv2d_plain",
        "module__Conv2d_no_bias",
        "module__Conv2d_dilation2",
        "module__Conv2d_stride2_pad1_groups2",
        "module__Conv2d_padding_same",
    ] {
        let c = Case::load(file);
        let (x, w, b) = (c.input(0), c.param("weight").unwrap(), c.param("bias"));
        let y = if c.config()["padding"] == "same" {
            let o = conv2d_opts(&c);
            x.conv2d_same(&w, b.as_ref(), o.dilation, o.groups)
        } else {
            x.conv2d(&w, b.as_ref(), &conv2d_opts(&c))
        };
        let mut params = vec![("weight", &w)];
        if let Some(b) = &b {
            params.push(("bias", b));
        }
        c.check(&[y], &[(0, &x)], &params);
    }
}

#[test]
fn conv1d_conformance() {
    for file in ["module__Conv1d_stride2_pad1", "module__Conv1d_padding_same_dilation2"] {
        let c = Case::load(file);
        let (x, w, b) = (c.input(0), c.param("weight").unwrap(), c.param("bias").unwrap());
        let (dilation, groups) = (c.int("dilation", 1), c.int("groups", 1));
        let y = if c.config()["padding"] == "same" {
            x.conv1d_same(&w, Some(&b), dilation, groups)
        } else {
            let opts = Conv1dOptions { stride: c.int("stride", 1), padding: c.int("padding", 0), dilation, groups };
            x.conv1d(&w, Some(&b), &opts)
        };
        c.check(&[y], &[(0, &x)], &[("weight", &w), ("bias", &b)]);
    }
}

#[test]
fn conv_transpose2d_conformance() {
    let c = Case::load("module__ConvTranspose2d_stride2_output_padding1");
    let (x, w, b) = (c.input(0), c.param("weight").unwrap(), c.param("bias").unwrap());
    let opts = ConvTranspose2dOptions {
        stride: c.pair("stride", [1, 1]),
        padding: c.pair("padding", [0, 0]),
        output_padding: c.pair("output_padding", [0, 0]),
        groups: c.int("groups", 1),
        dilation: c.pair("dilation", [1, 1]),
    };
    let y = x.conv_transpose2d(&w, Some(&b), &opts);
    c.check(&[y], &[(0, &x)], &[("weight", &w), ("bias", &b)]);
}

#[test]
fn unfold_conformance() {
    let c = Case::load("function__unfold_im2col");
    let x = c.input(0);
    let opts = Fold2dOptions {
        kernel_size: c.pair("kernel_size", [1, 1]),
        dilation: c.pair("dilation", [1, 1]),
        padding: c.pair("padding", [0, 0]),
        stride: c.pair("stride", [1, 1]),
    };
    c.check(&[x.unfold2d(&opts)], &[(0, &x)], &[]);
}

#[test]
fn hessian_vector_product_through_conv_matches_pytorch() {
    // Sequential(Conv2d(1, 2, 3), Tanh, Flatten, Linear(18, 2)): g = d<out, gout>/dparams
    // with the graph kept, then d<g, v>/dparams.
    let c = Case::load("double_backward__hvp_conv_tanh_flatten_linear");
    let names = ["0.weight", "0.bias", "3.weight", "3.bias"];
    let p: Vec<Tensor<f64>> = names.iter().map(|n| c.param(n).unwrap()).collect();
    let x = nn_support::tensor(&c.v["inputs"][0]);
    let h = x.conv2d(&p[0], Some(&p[1]), &Conv2dOptions::default()).tanh();
    let out = h.reshape(&[x.shape()[0], 18]).matmul(&p[2].t()).add(&p[3]);
    c.compare("output", &out, &c.v["outputs"][0]);
    let total = out.mul(&nn_support::tensor(&c.v["grad_outputs"][0])).sum();
    let refs: Vec<&Tensor<f64>> = p.iter().collect();
    let g = lamina_core::grad(&[&total], &refs, None, lamina_core::GradOptions::create_graph()).unwrap();
    let mut dot_gv: Option<Tensor<f64>> = None;
    for (i, n) in names.iter().enumerate() {
        let gi = g[i].clone().unwrap();
        c.compare(&format!("grad of {n}"), &gi, &c.v["grad_params"][n]);
        let term = gi.mul(&nn_support::tensor(&c.v["vectors"][n])).sum();
        dot_gv = Some(match dot_gv {
            Some(d) => d.add(&term),
            None => term,
        });
    }
    let opts = lamina_core::GradOptions { allow_unused: true, ..Default::default() };
    let hv = lamina_core::grad(&[&dot_gv.unwrap()], &refs, None, opts).unwrap();
    for (i, n) in names.iter().enumerate() {
        let got = hv[i].clone().unwrap_or_else(|| p[i].zeros_like());
        c.compare(&format!("hvp of {n}"), &got, &c.v["result"][n]);
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Large enough for the parallel paths: samples split across threads, the
    // weight gradient summed in fixed blocks.
    let x = Tensor::<f32>::randn_with(&[9, 8, 16, 16], &mut lamina_core::Generator::new(1)).requires_grad_(true);
    let w = Tensor::<f32>::randn_with(&[8, 4, 3, 3], &mut lamina_core::Generator::new(2)).requires_grad_(true);
    let run = |threads: usize| {
        lamina_core::set_num_threads(threads);
        let opts = Conv2dOptions { padding: [1, 1], groups: 2, ..Default::default() };
        let y = x.conv2d(&w, None, &opts);
        let (gx, gw) = {
            let g = lamina_core::grad(&[&y.square().sum()], &[&x, &w], None, Default::default()).unwrap();
            (g[0].clone().unwrap().to_vec(), g[1].clone().unwrap().to_vec())
        };
        let s = y.softmax(1).to_vec();
        let p = y.max_pool2d(&lamina_core::MaxPool2dOptions::new([2, 2])).to_vec();
        (y.to_vec(), gx, gw, s, p)
    };
    let before = lamina_core::num_threads();
    let one = run(1);
    let four = run(4);
    lamina_core::set_num_threads(before);
    assert!(one == four, "results differ between 1 and 4 threads");
}

#[test]
fn f32_matches_f64() {
    let x = Tensor::<f64>::randn_with(&[2, 4, 9, 7], &mut lamina_core::Generator::new(1));
    let w = Tensor::<f64>::randn_with(&[6, 2, 3, 3], &mut lamina_core::Generator::new(2));
    let opts = Conv2dOptions { stride: [2, 1], padding: [1, 1], dilation: [1, 2], groups: 2 };
    let want = x.conv2d(&w, None, &opts);
    let got = x.cast::<f32>().conv2d(&w.cast::<f32>(), None, &opts);
    assert_close(&got.cast::<f64>().to_vec(), &want.to_vec(), 1e-5);
    let topts =
        ConvTranspose2dOptions { stride: [2, 1], padding: [1, 1], dilation: [1, 2], groups: 2, output_padding: [1, 0] };
    let want = want.conv_transpose2d(&w, None, &topts);
    let got = got.conv_transpose2d(&w.cast::<f32>(), None, &topts);
    assert_close(&got.cast::<f64>().to_vec(), &want.to_vec(), 1e-4);
}

// ------------------------------------------------------------------ errors

#[test]
fn errors_name_the_op_shapes_and_caller() {
    let x = Tensor::<f64>::zeros(&[1, 3, 5, 5]);
    let w = Tensor::<f64>::zeros(&[2, 2, 3, 3]);
    panics_with(
        || drop(x.conv2d(&w, None, &Conv2dOptions::default())),
        &["conv2d", "channels", "[1, 3, 5, 5]", "[2, 2, 3, 3]", "tests/conv.rs"],
    );
    let big = Tensor::<f64>::zeros(&[2, 3, 7, 7]);
    panics_with(
        || drop(x.conv2d(&big, None, &Conv2dOptions::default())),
        &["conv2d", "smaller than the dilated kernel", "[2, 3, 7, 7]", "tests/conv.rs"],
    );
    let wt = Tensor::<f64>::zeros(&[3, 1, 3, 3]);
    let opts = ConvTranspose2dOptions { output_padding: [1, 1], ..Default::default() };
    panics_with(
        || drop(x.conv_transpose2d(&wt, None, &opts)),
        &["conv_transpose2d", "output padding", "[3, 1, 3, 3]", "tests/conv.rs"],
    );
    panics_with(
        || drop(Tensor::<f64>::zeros(&[1, 4, 3]).fold2d([3, 3], &Fold2dOptions::new([2, 2]))),
        &["fold", "[1, 4, 3]", "tests/conv.rs"],
    );
}
