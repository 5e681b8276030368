//! Binary element-wise ops with broadcasting: hand-computed values and
//! gradients (summed back to each input's shape), PyTorch's conventions for
//! `pow` at a zero base and for ties of `maximum`/`minimum`, conformance
//! cases, property tests of first and second derivatives over broadcast
//! shapes with non-contiguous inputs, and broadcast error messages.

use crate::elementwise;

use elementwise::{assert_close, assert_panics_with, assert_tensor, check_conformance, grads_of, t};
use lamina_core::testing::{broadcast_pair, shape, tensor, tensor_away_from_zero};
use lamina_core::{gradcheck, gradgradcheck, GradOptions, GradcheckFailure, Tensor};
use proptest::prelude::*;

/// Every binary op under test, by name.
fn apply(op: &str, a: &Tensor<f64>, b: &Tensor<f64>) -> Tensor<f64> {
    match op {
        "add" => a.add(b),
        "sub" => a.sub(b),
        "mul" => a.mul(b),
        "div" => a.div(b),
        "pow" => a.pow(b),
        "maximum" => a.maximum(b),
        "minimum" => a.minimum(b),
        _ => unreachable!("unknown op {op}"),
    }
}

const OPS: [&str; 7] = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"];

/// Maps `u` (values in [0, 1]) to `op`'s domain: the base of `pow` in
/// [0.3, 2.5], a divisor in [-2, -0.5] or [0.5, 2], anything else in [-2, 2].
fn operand(op: &str, first: bool, u: &Tensor<f64>) -> Tensor<f64> {
    let f = |u: f64| match (op, first) {
        ("pow", true) => 0.3 + 2.2 * u,
        ("div", false) if u < 0.5 => -2.0 + 3.0 * u,
        ("div", false) => 0.5 + 3.0 * (u - 0.5),
        _ => -2.0 + 4.0 * u,
    };
    Tensor::from_vec(u.to_vec().into_iter().map(f).collect(), u.shape())
}

/// Two broadcastable operands in [0, 1], the first generated with its dims
/// reversed, to be transposed into a non-contiguous view.
fn unit_pair() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_pair(3, 3)
        .prop_flat_map(|(sa, sb)| (tensor(sa.into_iter().rev().collect(), 0.0, 1.0), tensor(sb, 0.0, 1.0)))
}

/// `op` on the transposed first operand (the shapes here have at most 3
/// dims, so transposing the first and last reverses them back).
fn on_view(op: &str) -> impl Fn(&[Tensor<f64>]) -> Tensor<f64> + '_ {
    move |xs| apply(op, &xs[0].transpose(0, -1), &xs[1])
}

/// The smallest gap between paired elements of `a` and `b` (broadcast).
fn min_gap(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.sub(b).to_vec().into_iter().fold(f64::INFINITY, |m, v| m.min(v.abs()))
}

/// Runs `check` (a gradient check) on every op, with operands mapped from
/// `ua`, `ub` into its domain; maximum/minimum are skipped near ties, where
/// they are not differentiable.
fn check_every_op(
    ua: &Tensor<f64>,
    ub: &Tensor<f64>,
    check: impl Fn(&dyn Fn(&[Tensor<f64>]) -> Tensor<f64>, &[Tensor<f64>]) -> Result<(), GradcheckFailure>,
) -> Result<(), TestCaseError> {
    for op in OPS {
        let (a, b) = (operand(op, true, ua), operand(op, false, ub));
        if op.ends_with("imum") && min_gap(&a.transpose(0, -1), &b) < 1e-3 {
            continue;
        }
        check(&on_view(op), &[a, b]).map_err(|e| TestCaseError::fail(format!("{op}: {e}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn binary_ops_pass_gradcheck_with_broadcasting((ua, ub) in unit_pair()) {
        check_every_op(&ua, &ub, |f, xs| gradcheck(f, xs))?;
    }

    #[test]
    fn binary_ops_pass_gradgradcheck_with_broadcasting((ua, ub) in unit_pair()) {
        check_every_op(&ua, &ub, |f, xs| gradgradcheck(f, xs))?;
    }
}

/// The scalar forms (`x + s`, `s - x`, `s / x`, ...) as unary functions.
const SCALAR_FORMS: [(&str, fn(&Tensor<f64>) -> Tensor<f64>); 8] = [
    ("add_scalar", |x| x + 1.5),
    ("sub_scalar", |x| x - 1.5),
    ("mul_scalar", |x| x * -2.5),
    ("div_scalar", |x| x / 4.0),
    ("rsub_scalar", |x| 1.5 - x),
    ("radd_scalar", |x| 1.5 + x),
    ("rmul_scalar", |x| 3.0 * x),
    ("rdiv_scalar", |x| 2.0 / x),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn scalar_forms_pass_gradcheck_and_gradgradcheck(
        x in shape(2, 3, 3).prop_flat_map(|s| tensor_away_from_zero(s, 0.5, 2.0))
    ) {
        for (name, f) in SCALAR_FORMS {
            let g = |xs: &[Tensor<f64>]| f(&xs[0].transpose(0, -1));
            gradcheck(g, std::slice::from_ref(&x)).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            gradgradcheck(g, std::slice::from_ref(&x)).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
    }

}

/// Value and the gradients of `sum(op(a, b))`.
#[track_caller]
fn check(op: &str, a: &Tensor<f64>, b: &Tensor<f64>, out: (&[usize], &[f64]), ga: &[f64], gb: &[f64]) {
    let (a, b) = (a.detach().requires_grad_(true), b.detach().requires_grad_(true));
    let y = apply(op, &a, &b);
    assert_tensor(&y, out.0, out.1, op);
    let g = grads_of(&[&a, &b], &y, &y.ones_like(), GradOptions::default());
    assert_tensor(&g[0], a.shape(), ga, &format!("{op} grad a"));
    assert_tensor(&g[1], b.shape(), gb, &format!("{op} grad b"));
}

#[test]
fn arithmetic_broadcasts_and_sums_gradients_back() {
    let a = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = t(&[10.0, 20.0, 40.0], &[3]);
    let c = t(&[2.0, 4.0], &[2, 1]);
    check("add", &a, &b, (&[2, 3], &[11.0, 22.0, 43.0, 14.0, 25.0, 46.0]), &[1.0; 6], &[2.0, 2.0, 2.0]);
    check("sub", &a, &c, (&[2, 3], &[-1.0, 0.0, 1.0, 0.0, 1.0, 2.0]), &[1.0; 6], &[-3.0, -3.0]);
    // d/db of sum(a * b) sums a over the broadcast rows: [1+4, 2+5, 3+6].
    check(
        "mul",
        &a,
        &b,
        (&[2, 3], &[10.0, 40.0, 120.0, 40.0, 100.0, 240.0]),
        &[10.0, 20.0, 40.0, 10.0, 20.0, 40.0],
        &[5.0, 7.0, 9.0],
    );
    // d/dc of sum(a / c) = -sum_row(a) / c²: -(1+2+3)/4, -(4+5+6)/16.
    check(
        "div",
        &a,
        &c,
        (&[2, 3], &[0.5, 1.0, 1.5, 1.0, 1.25, 1.5]),
        &[0.5, 0.5, 0.5, 0.25, 0.25, 0.25],
        &[-1.5, -15.0 / 16.0],
    );
    // A 0-d operand broadcasts against everything.
    check("mul", &t(&[3.0], &[]), &c, (&[2, 1], &[6.0, 12.0]), &[6.0], &[3.0, 3.0]);
}

#[test]
fn operators_call_the_ops() {
    let a = t(&[1.0, 2.0], &[2]);
    let b = t(&[4.0, 8.0], &[2]);
    assert_eq!((&a + &b).to_vec(), vec![5.0, 10.0]);
    assert_eq!((&b - &a).to_vec(), vec![3.0, 6.0]);
    assert_eq!((a.clone() * b.clone()).to_vec(), vec![4.0, 16.0]);
    assert_eq!((&b / a.clone()).to_vec(), vec![4.0, 4.0]);
    assert_eq!((-&a).to_vec(), vec![-1.0, -2.0]);
    assert_eq!((&a + 1.0).to_vec(), vec![2.0, 3.0]);
    assert_eq!((8.0 / &b).to_vec(), vec![2.0, 1.0]);
    assert_eq!((1.0 - &a).to_vec(), vec![0.0, -1.0]);
    assert_eq!((2.0 * &a).to_vec(), vec![2.0, 4.0]);
    let af = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
    assert_eq!((&af * 3.0f32).to_vec(), vec![3.0f32, 6.0]);
}

#[test]
fn pow_with_a_tensor_exponent() {
    // d/da = b a^(b-1); d/db = a^b ln a.
    let a = t(&[2.0, 4.0], &[2]);
    let b = t(&[3.0, 0.5], &[2]);
    check("pow", &a, &b, (&[2], &[8.0, 2.0]), &[12.0, 0.25], &[8.0 * 2f64.ln(), 2.0 * 4f64.ln()]);
    // Broadcast exponent [2, 1] against base [2]: row sums of the gradients.
    let b2 = t(&[1.0, 2.0], &[2, 1]);
    check(
        "pow",
        &a,
        &b2,
        (&[2, 2], &[2.0, 4.0, 4.0, 16.0]),
        &[1.0 + 4.0, 1.0 + 8.0],
        &[2.0 * 2f64.ln() + 4.0 * 4f64.ln(), 4.0 * 2f64.ln() + 16.0 * 4f64.ln()],
    );
}

#[test]
fn pow_masks_gradients_at_a_zero_base_and_a_zero_exponent() {
    // PyTorch: d/da is 0 where b == 0 (even at a == 0, where b a^(b-1) is 0 · inf);
    // d/db is 0 where a == 0 and b >= 0 (where a^b ln a is 0 · -inf).
    let a = t(&[0.0, 0.0, 0.0, 3.0], &[4]);
    let b = t(&[0.0, 2.0, 0.5, 0.0], &[4]);
    check("pow", &a, &b, (&[4], &[1.0, 0.0, 0.0, 1.0]), &[0.0, 0.0, f64::INFINITY, 0.0], &[0.0, 0.0, 0.0, 3f64.ln()]);
    // A negative exponent at a zero base is not masked: 0^-1 = inf, d/db = inf · -inf.
    let a = t(&[0.0], &[1]).requires_grad_(true);
    let b = t(&[-1.0], &[1]).requires_grad_(true);
    let y = a.pow(&b);
    assert_eq!(y.to_vec(), vec![f64::INFINITY]);
    let g = grads_of(&[&a, &b], &y, &y.ones_like(), GradOptions::default());
    assert_eq!(g[1].to_vec(), vec![f64::NEG_INFINITY]);
}

#[test]
fn maximum_and_minimum_split_ties_and_propagate_nan() {
    let a = t(&[1.0, 2.0, 3.0], &[3]);
    let b = t(&[3.0, 2.0, 1.0], &[3]);
    check("maximum", &a, &b, (&[3], &[3.0, 2.0, 3.0]), &[0.0, 0.5, 1.0], &[1.0, 0.5, 0.0]);
    check("minimum", &a, &b, (&[3], &[1.0, 2.0, 1.0]), &[1.0, 0.5, 0.0], &[0.0, 0.5, 1.0]);
    // Broadcast: [2, 1] against [2]; a's gradient sums over the columns it won.
    let c = t(&[1.0, 4.0], &[2, 1]);
    let d = t(&[2.0, 3.0], &[2]);
    check("maximum", &c, &d, (&[2, 2], &[2.0, 3.0, 4.0, 4.0]), &[0.0, 2.0], &[1.0, 1.0]);
    check("minimum", &c, &d, (&[2, 2], &[1.0, 1.0, 2.0, 3.0]), &[2.0, 0.0], &[1.0, 1.0]);
    let nan = t(&[f64::NAN, 1.0], &[2]);
    let one = t(&[1.0, f64::NAN], &[2]);
    assert!(nan.maximum(&one).to_vec().iter().all(|v| v.is_nan()));
    assert!(one.minimum(&nan).to_vec().iter().all(|v| v.is_nan()));
}

#[test]
fn maximum_and_minimum_second_derivatives_vanish_but_flow_through_the_upstream() {
    let a = t(&[1.0, 5.0], &[2]).requires_grad_(true);
    let b = t(&[3.0, 2.0], &[2]).requires_grad_(true);
    let y = a.maximum(&b).mul(&a);
    let g = grads_of(&[&a], &y, &y.ones_like(), GradOptions::create_graph());
    // y = [a0 · b0, a1²]: dy/da = [b0, 2 a1], so d(sum dy/da)/da = [0, 2], /db = [1, 0].
    assert_tensor(&g[0], &[2], &[3.0, 10.0], "first derivative");
    let gg = grads_of(&[&a, &b], &g[0].sum(), &Tensor::scalar(1.0), GradOptions::default());
    assert_tensor(&gg[0], &[2], &[0.0, 2.0], "d²/da²");
    assert_tensor(&gg[1], &[2], &[1.0, 0.0], "d²/dadb");
}

#[test]
fn f32_binary_ops_match_f64() {
    let a = t(&[0.5, 1.5, 2.5, 0.7, 1.1, 2.0], &[2, 3]);
    let b = t(&[1.25, 0.8, 1.7], &[3]);
    for op in OPS {
        let want = apply(op, &a, &b).to_vec();
        let a32 = a.cast::<f32>();
        let b32 = b.cast::<f32>();
        let got = match op {
            "add" => a32.add(&b32),
            "sub" => a32.sub(&b32),
            "mul" => a32.mul(&b32),
            "div" => a32.div(&b32),
            "pow" => a32.pow(&b32),
            "maximum" => a32.maximum(&b32),
            _ => a32.minimum(&b32),
        };
        assert_close(&got.cast::<f64>().to_vec(), &want, 1e-6, 1e-6, op);
    }
}

#[test]
fn broadcast_failures_name_the_op_the_shapes_and_the_caller() {
    let a = t(&[0.0; 6], &[2, 3]);
    let b = t(&[0.0; 12], &[4, 3]);
    for op in OPS {
        assert_panics_with(
            || {
                apply(op, &a, &b);
            },
            &[op, "[2, 3]", "[4, 3]", "cannot be broadcast"],
        );
    }
    assert_panics_with(
        || {
            let _ = &a + &b;
        },
        &["add", "[2, 3]", "[4, 3]", "binary.rs"],
    );
}

#[test]
fn conformance_add_broadcast() {
    check_conformance("add_broadcast", "add", |_, x| x[0].t().add(x[1].t()));
}

#[test]
fn conformance_mul_broadcast() {
    check_conformance("mul_broadcast", "mul", |_, x| x[0].t().mul(x[1].t()));
}

#[test]
fn conformance_div_broadcast() {
    check_conformance("div_broadcast", "div", |_, x| x[0].t().div(x[1].t()));
}

#[test]
fn conformance_pow_tensor_exponent() {
    check_conformance("pow_tensor_exponent", "pow", |_, x| x[0].t().pow(x[1].t()));
}
