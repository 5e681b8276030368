//! Unary element-wise ops and activations: hand-computed values and
//! derivatives (PyTorch's conventions at kinks), an accuracy check of erf,
//! PyTorch conformance cases, and property tests of first and second
//! derivatives on non-contiguous inputs for every op in one table.

use crate::elementwise;

use elementwise::{assert_close, assert_panics_with, assert_tensor, check_conformance, fused_matches_composite, t};
use lamina_core::testing::{shape, tensor};
use lamina_core::{gradcheck, gradgradcheck, Element, GradOptions, Tensor};
use proptest::prelude::*;
use std::f64::consts::{LN_2, PI};

/// Every unary op under test, by name, for either element type.
fn apply<E: Element>(op: &str, x: &Tensor<E>) -> Tensor<E> {
    let c = E::of;
    match op {
        "neg" => x.neg(),
        "exp" => x.exp(),
        "expm1" => x.expm1(),
        "log" => x.log(),
        "log1p" => x.log1p(),
        "sqrt" => x.sqrt(),
        "rsqrt" => x.rsqrt(),
        "reciprocal" => x.reciprocal(),
        "pow_scalar_2.5" => x.pow_scalar(c(2.5)),
        "pow_scalar_3" => x.pow_scalar(c(3.0)),
        "pow_scalar_0" => x.pow_scalar(c(0.0)),
        "square" => x.square(),
        "abs" => x.abs(),
        "sign" => x.sign(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tanh" => x.tanh(),
        "sigmoid" => x.sigmoid(),
        "erf" => x.erf(),
        "relu" => x.relu(),
        "leaky_relu" => x.leaky_relu(c(0.1)),
        "elu" => x.elu(c(1.5)),
        "selu" => x.selu(),
        "gelu" => x.gelu(),
        "gelu_tanh" => x.gelu_tanh(),
        "silu" => x.silu(),
        "softplus" => x.softplus(c(1.0), c(20.0)),
        "softplus_thresholded" => x.softplus(c(2.0), c(3.0)),
        "mish" => x.mish(),
        "hardtanh" => x.hardtanh(c(-1.0), c(1.0)),
        "clamp" => x.clamp(Some(c(-0.5)), Some(c(0.8))),
        "clamp_max" => x.clamp(None, Some(c(0.3))),
        "clamp_min" => x.clamp(Some(c(-0.3)), None),
        _ => unreachable!("unknown op {op}"),
    }
}

/// An op's test domain: values in `[lo, hi]`, moved at least `margin` away
/// from each kink (where the op or its derivative jumps).
struct Domain {
    op: &'static str,
    lo: f64,
    hi: f64,
    kinks: &'static [f64],
    margin: f64,
}

const fn d(op: &'static str, lo: f64, hi: f64, kinks: &'static [f64], margin: f64) -> Domain {
    Domain { op, lo, hi, kinks, margin }
}

const OPS: &[Domain] = &[
    d("neg", -2.0, 2.0, &[], 0.0),
    d("exp", -2.0, 2.0, &[], 0.0),
    d("expm1", -2.0, 2.0, &[], 0.0),
    d("log", 0.2, 3.0, &[], 0.0),
    d("log1p", -0.8, 3.0, &[], 0.0),
    d("sqrt", 0.2, 3.0, &[], 0.0),
    d("rsqrt", 0.2, 3.0, &[], 0.0),
    d("reciprocal", -3.0, 3.0, &[0.0], 0.3),
    d("pow_scalar_2.5", 0.2, 2.0, &[], 0.0),
    d("pow_scalar_3", -2.0, 2.0, &[], 0.0),
    d("pow_scalar_0", -2.0, 2.0, &[], 0.0),
    d("square", -2.0, 2.0, &[], 0.0),
    d("abs", -2.0, 2.0, &[0.0], 0.05),
    d("sign", -2.0, 2.0, &[0.0], 0.05),
    d("sin", -3.0, 3.0, &[], 0.0),
    d("cos", -3.0, 3.0, &[], 0.0),
    d("tanh", -2.5, 2.5, &[], 0.0),
    d("sigmoid", -3.0, 3.0, &[], 0.0),
    d("erf", -2.5, 2.5, &[], 0.0),
    d("relu", -2.0, 2.0, &[0.0], 0.05),
    d("leaky_relu", -2.0, 2.0, &[0.0], 0.05),
    d("elu", -2.0, 2.0, &[0.0], 0.05),
    d("selu", -2.0, 2.0, &[0.0], 0.05),
    d("gelu", -3.0, 3.0, &[], 0.0),
    d("gelu_tanh", -3.0, 3.0, &[], 0.0),
    d("silu", -3.0, 3.0, &[], 0.0),
    d("softplus", -3.0, 3.0, &[], 0.0),
    d("softplus_thresholded", -3.0, 3.0, &[1.5], 0.05),
    d("mish", -3.0, 3.0, &[], 0.0),
    d("hardtanh", -2.0, 2.0, &[-1.0, 1.0], 0.05),
    d("clamp", -2.0, 2.0, &[-0.5, 0.8], 0.05),
    d("clamp_max", -2.0, 2.0, &[0.3], 0.05),
    d("clamp_min", -2.0, 2.0, &[-0.3], 0.05),
];

impl Domain {
    /// Maps `u` (values in `[0, 1]`) into this domain.
    fn values(&self, u: &Tensor<f64>) -> Tensor<f64> {
        let v = u
            .to_vec()
            .into_iter()
            .map(|u| {
                let mut v = self.lo + u * (self.hi - self.lo);
                for &k in self.kinks {
                    if (v - k).abs() < self.margin {
                        v = if v >= k { k + self.margin } else { k - self.margin };
                    }
                }
                v
            })
            .collect();
        Tensor::from_vec(v, u.shape())
    }
}

fn unit_tensor() -> impl Strategy<Value = Tensor<f64>> {
    shape(2, 3, 3).prop_flat_map(|s| tensor(s, 0.0, 1.0))
}

fn fail(op: &str, e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(format!("{op}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// First derivatives of every op, applied to a transposed (non-contiguous) view.
    #[test]
    fn every_unary_op_passes_gradcheck_on_a_transposed_view(u in unit_tensor()) {
        for dom in OPS {
            let f = |xs: &[Tensor<f64>]| apply(dom.op, &xs[0].transpose(0, -1));
            gradcheck(f, &[dom.values(&u)]).map_err(|e| fail(dom.op, e))?;
        }
    }

    /// Second derivatives of every op (zero for the piecewise-linear ones,
    /// whose backward must still be differentiable in the upstream gradient),
    /// applied to a strided slice (step 2) of a transposed view.
    #[test]
    fn every_unary_op_passes_gradgradcheck_on_a_strided_view(u in unit_tensor()) {
        for dom in OPS {
            let f = |xs: &[Tensor<f64>]| {
                let v = xs[0].transpose(0, -1);
                let n = v.shape()[0];
                apply(dom.op, &v.slice(0, 0, n, 2))
            };
            gradgradcheck(f, &[dom.values(&u)]).map_err(|e| fail(dom.op, e))?;
        }
    }

    /// The fused backward kernel and the differentiable (create_graph) form
    /// agree, here with a non-contiguous input and upstream gradient.
    #[test]
    fn fused_and_composite_backward_agree(
        (u, upstream) in shape(2, 3, 3).prop_flat_map(|s| (tensor(s.clone(), 0.0, 1.0), tensor(s, -1.0, 1.0)))
    ) {
        for dom in OPS {
            let x = dom.values(&u).transpose(0, -1);
            let f = |xs: &[Tensor<f64>]| apply(dom.op, &xs[0]);
            fused_matches_composite(dom.op, f, &[x], &upstream.transpose(0, -1))?;
        }
    }
}

/// The f32 path computes what the f64 path computes, to f32 precision.
#[test]
fn f32_matches_f64_for_every_op() {
    let u = Tensor::<f64>::rand(&[4, 5]);
    for dom in OPS {
        let x64 = dom.values(&u).requires_grad_(true);
        let x32 = x64.detach().cast::<f32>().requires_grad_(true);
        let (y64, y32) = (apply(dom.op, &x64), apply(dom.op, &x32));
        let w = y64.to_vec();
        assert_close(&y32.cast::<f64>().to_vec(), &w, 1e-5, 1e-5, dom.op);
        (&y64 * &y64).sum().backward();
        (&y32 * &y32).sum().backward();
        let g = x64.grad().unwrap().to_vec();
        assert_close(&x32.grad().unwrap().cast::<f64>().to_vec(), &g, 1e-4, 1e-4, dom.op);
    }
}

/// Values and input gradients (upstream ones) of `op` at `x`.
#[track_caller]
fn check(op: &str, x: &[f64], y: &[f64], dy: &[f64]) {
    let xt = t(x, &[x.len()]).requires_grad_(true);
    let out = apply(op, &xt);
    assert_tensor(&out, &[x.len()], y, op);
    out.sum().backward();
    assert_tensor(&xt.grad().unwrap(), &[x.len()], dy, &format!("{op} gradient"));
}

#[test]
fn exponentials_and_logarithms() {
    let e = std::f64::consts::E;
    check("exp", &[0.0, 1.0, LN_2], &[1.0, e, 2.0], &[1.0, e, 2.0]);
    check("expm1", &[0.0, LN_2, 1e-10], &[0.0, 1.0, 1.00000000005e-10], &[1.0, 2.0, 1.0 + 1.00000000005e-10]);
    check("log", &[1.0, e, 0.5], &[0.0, 1.0, -LN_2], &[1.0, 1.0 / e, 2.0]);
    check("log1p", &[0.0, e - 1.0, 1e-10], &[0.0, 1.0, 9.9999999995e-11], &[1.0, 1.0 / e, 1.0 / (1.0 + 1e-10)]);
}

#[test]
fn roots_reciprocal_and_powers() {
    check("sqrt", &[4.0, 9.0, 0.25], &[2.0, 3.0, 0.5], &[0.25, 1.0 / 6.0, 1.0]);
    // rsqrt: d = -y³/2.
    check("rsqrt", &[4.0, 0.25], &[0.5, 2.0], &[-1.0 / 16.0, -4.0]);
    // reciprocal: d = -y².
    check("reciprocal", &[2.0, -0.5], &[0.5, -2.0], &[-0.25, -4.0]);
    check("square", &[-3.0, 0.5], &[9.0, 0.25], &[-6.0, 1.0]);
    check("pow_scalar_3", &[-2.0, 0.5], &[-8.0, 0.125], &[12.0, 0.75]);
    check("pow_scalar_2.5", &[4.0, 1.0], &[32.0, 1.0], &[20.0, 2.5]);
    // x^0 = 1 everywhere with zero gradient, also at 0 (PyTorch).
    check("pow_scalar_0", &[0.0, -2.0], &[1.0, 1.0], &[0.0, 0.0]);
}

#[test]
fn abs_and_sign_have_zero_gradient_at_zero() {
    check("abs", &[-2.0, 0.0, 3.0], &[2.0, 0.0, 3.0], &[-1.0, 0.0, 1.0]);
    check("sign", &[-2.0, 0.0, 3.0], &[-1.0, 0.0, 1.0], &[0.0, 0.0, 0.0]);
}

#[test]
fn trigonometric_and_hyperbolic() {
    check("sin", &[0.0, PI / 2.0], &[0.0, 1.0], &[1.0, (PI / 2.0).cos()]);
    check("cos", &[0.0, PI / 2.0], &[1.0, (PI / 2.0).cos()], &[0.0, -1.0]);
    // tanh(ln 3) = (9 - 1) / (9 + 1); d = 1 - 0.64.
    check("tanh", &[0.0, 3f64.ln()], &[0.0, 0.8], &[1.0, 0.36]);
    // sigmoid(ln 3) = 3/4; d = 3/4 · 1/4.
    check("sigmoid", &[0.0, 3f64.ln()], &[0.5, 0.75], &[0.25, 0.1875]);
}

#[test]
fn erf_matches_tabulated_values_and_its_derivative() {
    let xs = [0.0, 0.5, 1.0, 2.0, 3.0, -0.1, 4.0];
    let erf = [
        0.0,
        0.520_499_877_813_046_5,
        0.842_700_792_949_714_9,
        0.995_322_265_018_952_7,
        0.999_977_909_503_001_4,
        -0.112_462_916_018_284_9,
        0.999_999_984_582_742_1,
    ];
    // d = 2/sqrt(pi) e^(-x²).
    let d = xs.map(|x: f64| 2.0 / PI.sqrt() * (-x * x).exp());
    check("erf", &xs, &erf, &d);
}

/// `2/sqrt(pi) ∫_0^x e^(-t²) dt` by 5-point Gauss-Legendre on panels of
/// width at most 0.05: an independent reference for erf.
fn erf_by_quadrature(x: f64) -> f64 {
    const NODES: [f64; 5] =
        [0.0, -0.538_469_310_105_683_1, 0.538_469_310_105_683_1, -0.906_179_845_938_664, 0.906_179_845_938_664];
    const WEIGHTS: [f64; 5] = [
        0.568_888_888_888_888_9,
        0.478_628_670_499_366_5,
        0.478_628_670_499_366_5,
        0.236_926_885_056_189_1,
        0.236_926_885_056_189_1,
    ];
    let panels = (x.abs() / 0.05).ceil().max(1.0) as usize;
    let h = x / panels as f64;
    let mut sum = 0.0;
    for p in 0..panels {
        let mid = (p as f64 + 0.5) * h;
        sum += NODES.iter().zip(WEIGHTS).map(|(n, w)| w * (-(mid + n * h / 2.0).powi(2)).exp()).sum::<f64>() * h / 2.0;
    }
    sum * 2.0 / PI.sqrt()
}

#[test]
fn erf_is_accurate_to_1e_14_everywhere() {
    let xs: Vec<f64> =
        (-700..=700).map(|i| i as f64 * 0.01).chain([1e-300, -1e-12, 2.5, 2.5 - 1e-15, 6.0, 30.0]).collect();
    let n = xs.len();
    let y = t(&xs, &[n]).erf().to_vec();
    for (x, y) in xs.iter().zip(y) {
        let want = erf_by_quadrature(*x);
        assert!((y - want).abs() < 1e-14, "erf({x}) = {y:e}, quadrature {want:e}");
        assert!(y.abs() <= 1.0);
    }
    assert_eq!(t(&[-0.0], &[1]).erf().to_vec()[0].to_bits(), (-0.0f64).to_bits());
    assert!(t(&[f64::NAN], &[1]).erf().to_vec()[0].is_nan());
    assert_eq!(t(&[f64::INFINITY, f64::NEG_INFINITY], &[2]).erf().to_vec(), vec![1.0, -1.0]);
}

#[test]
fn relu_family_follows_pytorch_at_zero() {
    // relu'(0) = 0; leaky_relu'(0) = slope (x > 0 ? 1 : slope).
    check("relu", &[-2.0, 0.0, 3.0], &[0.0, 0.0, 3.0], &[0.0, 0.0, 1.0]);
    check("leaky_relu", &[-2.0, 0.0, 3.0], &[-0.2, 0.0, 3.0], &[0.1, 0.1, 1.0]);
}

#[test]
fn elu_and_selu_take_the_exponential_side_at_zero() {
    // elu(alpha = 1.5): x <= 0 -> 1.5 (e^x - 1), d = 1.5 e^x; e^(-ln 2) = 1/2.
    check("elu", &[-LN_2, 0.0, 2.0], &[-0.75, 0.0, 2.0], &[0.75, 1.5, 1.0]);
    let (alpha, scale) = (1.673_263_242_354_377_3, 1.050_700_987_355_480_5);
    check(
        "selu",
        &[-LN_2, 0.0, 2.0],
        &[-0.5 * alpha * scale, 0.0, 2.0 * scale],
        &[0.5 * alpha * scale, alpha * scale, scale],
    );
}

#[test]
fn gelu_exact_and_tanh_forms() {
    // gelu(x) = x Φ(x), d = Φ(x) + x φ(x); Φ(1) = 0.8413447460685429, φ(1) = 0.24197072451914337.
    let (cdf1, pdf1) = (0.841_344_746_068_542_9, 0.241_970_724_519_143_37);
    check("gelu", &[0.0, 1.0, -1.0], &[0.0, cdf1, -(1.0 - cdf1)], &[0.5, cdf1 + pdf1, (1.0 - cdf1) - pdf1]);
    // tanh form, computed independently: t = tanh(sqrt(2/pi) (x + 0.044715 x³)),
    // y = x (1 + t) / 2, d = (1 + t)/2 + x/2 (1 - t²) sqrt(2/pi) (1 + 3 · 0.044715 x²).
    check(
        "gelu_tanh",
        &[0.0, 1.0, -0.5],
        &[0.0, 0.841_191_990_608_276_8, -0.154_285_990_174_856_06],
        &[0.5, 1.082_964_083_845_782_6, 0.132_630_096_465_357_64],
    );
}

#[test]
fn silu_softplus_and_mish() {
    let ln3 = 3f64.ln();
    // silu(ln 3) = ln 3 · 3/4; d = s (1 + x (1 - s)) with s = 3/4.
    check("silu", &[0.0, ln3], &[0.0, 0.75 * ln3], &[0.5, 0.75 * (1.0 + 0.25 * ln3)]);
    check("softplus", &[0.0, ln3], &[LN_2, 4f64.ln()], &[0.5, 0.75]);
    // beta 2, threshold 3: linear where 2x > 3; else ln(1 + e^(2x)) / 2, d = e^2x / (1 + e^2x).
    let e2 = 2f64.exp();
    check(
        "softplus_thresholded",
        &[2.0, 1.0, 1.5],
        &[2.0, (1.0 + e2).ln() / 2.0, (1.0 + 3f64.exp()).ln() / 2.0],
        &[1.0, e2 / (1.0 + e2), 3f64.exp() / (1.0 + 3f64.exp())],
    );
    // mish(x) = x tanh(ln(1 + e^x)): tanh(ln 2) = 3/5, tanh(ln 4) = 15/17;
    // d = t + x sigmoid(x) (1 - t²).
    check("mish", &[0.0, ln3], &[0.0, ln3 * 15.0 / 17.0], &[0.6, 15.0 / 17.0 + ln3 * 0.75 * (64.0 / 289.0)]);
}

#[test]
fn hardtanh_passes_gradient_strictly_inside_and_clamp_inclusively() {
    let x = [-2.0, -1.0, 0.5, 1.0, 2.0];
    let y = [-1.0, -1.0, 0.5, 1.0, 1.0];
    check("hardtanh", &x, &y, &[0.0, 0.0, 1.0, 0.0, 0.0]);
    let xt = t(&x, &[5]).requires_grad_(true);
    let out = xt.clamp(Some(-1.0), Some(1.0));
    assert_tensor(&out, &[5], &y, "clamp");
    out.sum().backward();
    assert_tensor(&xt.grad().unwrap(), &[5], &[0.0, 1.0, 1.0, 1.0, 0.0], "clamp gradient");
}

#[test]
fn clamp_with_one_bound_reversed_bounds_and_nan() {
    let x = t(&[-2.0, 0.3, 3.0], &[3]);
    assert_eq!(x.clamp(None, Some(0.3)).to_vec(), vec![-2.0, 0.3, 0.3]);
    assert_eq!(x.clamp(Some(0.3), None).to_vec(), vec![0.3, 0.3, 3.0]);
    // min > max: everything becomes max, and no element is inside the range.
    let xg = x.detach().requires_grad_(true);
    let y = xg.clamp(Some(2.0), Some(1.0));
    assert_eq!(y.to_vec(), vec![1.0, 1.0, 1.0]);
    y.sum().backward();
    assert_eq!(xg.grad().unwrap().to_vec(), vec![0.0, 0.0, 0.0]);
    let nan = t(&[f64::NAN], &[1]);
    assert!(nan.clamp(Some(0.0), Some(1.0)).to_vec()[0].is_nan());
    assert!(nan.hardtanh(-1.0, 1.0).to_vec()[0].is_nan());
}

#[test]
fn second_derivatives_by_hand() {
    // d²/dx² tanh = -2 t (1 - t²); at ln 3, t = 0.8: -2 · 0.8 · 0.36.
    // d²/dx² sigmoid = s (1 - s)(1 - 2s); at ln 3: 0.1875 · (-0.5).
    // d²/dx² gelu = φ(x) (2 - x²); at 1: φ(1).
    for (op, x, want) in
        [("tanh", 3f64.ln(), -0.576), ("sigmoid", 3f64.ln(), -0.09375), ("gelu", 1.0, 0.241_970_724_519_143_37)]
    {
        let xt = t(&[x], &[1]).requires_grad_(true);
        let y = apply(op, &xt);
        let g = lamina_core::grad(&[&y], &[&xt], None, GradOptions::create_graph()).unwrap()[0].clone().unwrap();
        let gg = lamina_core::grad(&[&g], &[&xt], None, GradOptions::default()).unwrap()[0].clone().unwrap();
        assert_close(&gg.to_vec(), &[want], 1e-15, 1e-13, op);
    }
}

#[test]
fn bad_arguments_panic_with_the_op_and_the_caller() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_panics_with(
        || {
            x.clamp(None, None);
        },
        &["clamp", "[2, 3]", "unary.rs"],
    );
    assert_panics_with(
        || {
            x.hardtanh(1.0, -1.0);
        },
        &["hardtanh", "[2, 3]", "min_val"],
    );
}

#[test]
fn conformance_abs() {
    check_conformance("abs", "abs", |_, a| a[0].t().abs());
}

#[test]
fn conformance_exp() {
    check_conformance("exp", "exp", |_, a| a[0].t().exp());
}

#[test]
fn conformance_log() {
    check_conformance("log", "log", |_, a| a[0].t().log());
}

#[test]
fn conformance_sqrt() {
    check_conformance("sqrt", "sqrt", |_, a| a[0].t().sqrt());
}

#[test]
fn conformance_gelu_none() {
    check_conformance("gelu_none", "gelu", |c, a| {
        assert_eq!(c["approximate"], "none");
        a[0].t().gelu()
    });
}

#[test]
fn conformance_gelu_tanh() {
    check_conformance("gelu_tanh", "gelu", |c, a| {
        assert_eq!(c["approximate"], "tanh");
        a[0].t().gelu_tanh()
    });
}

#[test]
fn conformance_clamp_min_max() {
    check_conformance("clamp_min_max", "clamp", |c, a| a[0].t().clamp(c["min"].as_f64(), c["max"].as_f64()));
}
