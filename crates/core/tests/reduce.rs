//! Reductions: values computed by hand, gradients and second derivatives
//! checked against finite differences over generated shapes, dims and
//! layouts, PyTorch conformance cases, and error messages.

use crate::test_support;

use lamina_core::testing::{distinct_tensor, shape, tensor, tensor_away_from_zero};
use lamina_core::{grad, gradcheck, gradgradcheck, Element, GradOptions, Tensor};
use proptest::prelude::*;
use std::slice::from_ref;
use test_support::{assert_panics, check, Case, Out};

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

/// The gradient of `f(x)` (weighted by ones) with respect to `x`.
fn grad_of(x: &[f64], s: &[usize], f: impl Fn(&Tensor<f64>) -> Tensor<f64>) -> Vec<f64> {
    let x = t(x, s).requires_grad_(true);
    let y = f(&x);
    y.backward_with(None, GradOptions::default()).unwrap();
    x.grad().unwrap().to_vec()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        let same = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-12 * (1.0 + w.abs());
        assert!(same, "got {got:?}, want {want:?}");
    }
}

// ---------------------------------------------------------------- sums and means

#[test]
fn sums_and_means_of_a_small_matrix() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(x.sum().shape(), &[] as &[usize]);
    assert_eq!(x.sum().item(), 21.0);
    assert_eq!(x.sum_dims(&[0], false).to_vec(), vec![5.0, 7.0, 9.0]);
    let rows = x.sum_dims(&[1], true);
    assert_eq!((rows.shape(), rows.to_vec()), (&[2usize, 1][..], vec![6.0, 15.0]));
    assert_eq!(x.sum_dims(&[-1, 0], false).item(), 21.0);
    assert_eq!(x.sum_dims(&[], true).shape(), &[1, 1], "empty dims reduce everything, as PyTorch");
    assert_eq!(x.mean().item(), 3.5);
    assert_eq!(x.mean_dims(&[0], false).to_vec(), vec![2.5, 3.5, 4.5]);
    assert_eq!(x.mean_dims(&[-1], true).to_vec(), vec![2.0, 5.0]);
    assert_eq!(Tensor::<f64>::scalar(4.0).sum_dims(&[0], false).item(), 4.0);
    assert_eq!(Tensor::<f64>::zeros(&[0, 3]).sum_dims(&[0], false).to_vec(), vec![0.0; 3]);
    assert!(Tensor::<f64>::zeros(&[0]).mean().item().is_nan());
    // Reducing an empty dim of a transposed (or otherwise strided) view.
    let empty_t = Tensor::<f64>::zeros(&[3, 0]).t();
    assert_eq!(empty_t.sum_dims(&[0], false).shape(), &[3]);
    assert_eq!(empty_t.sum_dims(&[0], false).to_vec(), vec![0.0; 3]);
    let stepped = Tensor::<f64>::zeros(&[4, 0, 2]).slice(0, 0, 4, 2);
    assert_eq!(stepped.sum_dims(&[1], false).to_vec(), vec![0.0; 4]);
    assert_eq!(stepped.prod_dim(1, false).to_vec(), vec![1.0; 4]);
    assert_eq!(stepped.logsumexp(&[1], false).to_vec(), vec![f64::NEG_INFINITY; 4]);
}

#[test]
fn sums_do_not_depend_on_the_layout() {
    // Each output is summed by the same pairwise tree over its values in
    // row-major order, whether they lie in a row, a column or a strided view.
    for s in [[3, 4, 5], [3, 300, 7], [2, 9000, 3]] {
        let x = Tensor::<f32>::randn(&s);
        for perm in [[2isize, 0, 1], [1, 0, 2], [0, 2, 1]] {
            let xt = x.permute(&perm);
            let xc = xt.contiguous();
            assert!(!xt.is_contiguous());
            for dims in [&[0isize][..], &[1], &[2], &[0, 2], &[1, 2], &[0, 1], &[]] {
                let (a, b) = (xt.sum_dims(dims, false).to_vec(), xc.sum_dims(dims, false).to_vec());
                assert!(
                    a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "shape {s:?} perm {perm:?} dims {dims:?}"
                );
            }
        }
    }
    let x = Tensor::<f32>::randn(&[3, 4, 5]);
    // Non-adjacent dims of a contiguous tensor: element [j] sums x[i, j, k] over i, k.
    let s = x.sum_dims(&[0, 2], false).to_vec();
    let v = x.to_vec();
    for j in 0..4 {
        let want: f64 =
            (0..3).flat_map(|i| (0..5).map(move |k| (i, k))).map(|(i, k)| v[i * 20 + j * 5 + k] as f64).sum();
        assert!((s[j] as f64 - want).abs() < 1e-5, "{} vs {want}", s[j]);
    }
}

#[test]
fn f32_sums_accumulate_without_losing_small_terms() {
    // In f32, 1e8 + 1 == 1e8: a naive running sum returns 0 here.
    let mut v = vec![1e8f32];
    v.extend(std::iter::repeat_n(1.0f32, 100_000));
    v.push(-1e8);
    let x = Tensor::<f32>::from_vec(v, &[100_002]);
    assert_eq!(x.sum().item(), 100_000.0);
    assert_eq!(x.reshape(&[2, 50_001]).sum_dims(&[0, 1], false).item(), 100_000.0);
    // 0.1f32 ten million times: the exact sum of the f32 values, rounded once.
    let tenths = Tensor::<f32>::full(&[10_000_000], 0.1);
    assert_eq!(tenths.sum().item(), (0.1f32 as f64 * 1e7) as f32);
    assert_eq!(tenths.reshape(&[10_000, 1000]).sum_dims(&[0], false).to_vec()[7], (0.1f32 as f64 * 1e4) as f32);
}

#[test]
fn sum_to_is_the_adjoint_of_expand() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(x.sum_to(&[3]).to_vec(), vec![5.0, 7.0, 9.0]);
    assert_eq!(x.sum_to(&[2, 1]).to_vec(), vec![6.0, 15.0]);
    assert_eq!(x.sum_to(&[1, 1]).to_vec(), vec![21.0]);
    assert_eq!(x.sum_to(&[2, 3]).to_vec(), x.to_vec());
}

// ---------------------------------------------------------------- products

#[test]
fn products_and_their_gradients_at_zeros() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(x.prod().item(), 720.0);
    assert_eq!(x.prod_dim(1, false).to_vec(), vec![6.0, 120.0]);
    let cols = x.prod_dim(-2, true);
    assert_eq!((cols.shape(), cols.to_vec()), (&[1usize, 3][..], vec![4.0, 10.0, 18.0]));
    // d/dx_i of x0 x1 x2 is the product of the others, also where some are 0.
    assert_eq!(grad_of(&[2.0, 3.0, 4.0], &[3], |x| x.prod()), vec![12.0, 8.0, 6.0]);
    assert_eq!(grad_of(&[2.0, 0.0, 3.0], &[3], |x| x.prod()), vec![0.0, 6.0, 0.0]);
    assert_eq!(grad_of(&[0.0, 2.0, 0.0], &[3], |x| x.prod()), vec![0.0, 0.0, 0.0]);
    assert_eq!(grad_of(&[0.0, 2.0, 5.0, 0.5], &[2, 2], |x| x.prod_dim(0, false)), vec![5.0, 0.5, 0.0, 2.0]);
    assert_eq!(grad_of(&[7.0], &[], |x| x.prod_dim(0, false)), vec![1.0]);
}

#[test]
fn second_derivatives_of_a_product_with_a_zero() {
    // p = x0 x1 x2 at (2, 0, 3): Σ_i dp/dx_i = x1 x2 + x0 x2 + x0 x1, whose
    // gradient is (x1 + x2, x0 + x2, x0 + x1) = (3, 5, 2).
    let x = t(&[2.0, 0.0, 3.0], &[3]).requires_grad_(true);
    let g = grad(&[&x.prod()], &[&x], None, GradOptions::create_graph()).unwrap()[0].clone().unwrap();
    assert_eq!(g.to_vec(), vec![0.0, 6.0, 0.0]);
    let h = grad(&[&g.sum()], &[&x], None, GradOptions::default()).unwrap()[0].clone().unwrap();
    assert_eq!(h.to_vec(), vec![3.0, 5.0, 2.0]);
}

// ---------------------------------------------------------------- extremes

#[test]
fn max_and_min_along_a_dim_pick_the_first_of_ties() {
    let x = t(&[1.0, 5.0, 5.0, 7.0, 2.0, 7.0], &[2, 3]);
    let (v, i) = x.max_dim(1, false);
    assert_eq!((v.to_vec(), i.to_vec()), (vec![5.0, 7.0], vec![1, 0]));
    let (v, i) = x.min_dim(0, true);
    assert_eq!(
        (v.shape(), v.to_vec(), i.shape(), i.to_vec()),
        (&[1usize, 3][..], vec![1.0, 2.0, 5.0], &[1usize, 3][..], vec![0, 1, 0])
    );
    // The gradient goes to the selected (first) element only.
    let g = grad_of(&[1.0, 5.0, 5.0, 7.0, 2.0, 7.0], &[2, 3], |x| x.max_dim(-1, false).0.mul(&t(&[2.0, 3.0], &[2])));
    assert_eq!(g, vec![0.0, 2.0, 0.0, 3.0, 0.0, 0.0]);
    let g = grad_of(&[1.0, 5.0, 5.0, 7.0, 2.0, 7.0], &[2, 3], |x| x.min_dim(0, true).0);
    assert_eq!(g, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    // NaN wins, as PyTorch.
    let (v, i) = t(&[1.0, f64::NAN, 3.0], &[3]).max_dim(0, false);
    assert!(v.item().is_nan());
    assert_eq!(i.to_vec(), vec![1]);
    let (v, i) = Tensor::<f64>::scalar(2.5).max_dim(0, false);
    assert_eq!((v.item(), i.to_vec()), (2.5, vec![0]));
}

#[test]
fn max_min_amax_amin_split_the_gradient_among_ties() {
    let x = [1.0, 3.0, 3.0, -2.0, -2.0, 0.0];
    assert_eq!(t(&x, &[2, 3]).max().item(), 3.0);
    assert_eq!(t(&x, &[2, 3]).min().item(), -2.0);
    assert_eq!(grad_of(&x, &[2, 3], |x| x.max()), vec![0.0, 0.5, 0.5, 0.0, 0.0, 0.0]);
    assert_eq!(grad_of(&x, &[2, 3], |x| x.min()), vec![0.0, 0.0, 0.0, 0.5, 0.5, 0.0]);
    assert_eq!(t(&x, &[2, 3]).amax(&[1], false).to_vec(), vec![3.0, 0.0]);
    assert_eq!(t(&x, &[2, 3]).amin(&[0], true).to_vec(), vec![-2.0, -2.0, 0.0]);
    assert_eq!(grad_of(&x, &[2, 3], |x| x.amax(&[1], false)), vec![0.0, 0.5, 0.5, 0.0, 0.0, 1.0]);
    assert_eq!(grad_of(&x, &[2, 3], |x| x.amin(&[-1], true)), vec![1.0, 0.0, 0.0, 0.5, 0.5, 0.0]);
    let four = [1.0, 1.0, 1.0, 1.0];
    assert_eq!(grad_of(&four, &[2, 2], |x| x.amax(&[0, 1], false)), vec![0.25; 4]);
    assert!(t(&[1.0, f64::NAN], &[2]).max().item().is_nan());
}

#[test]
fn argmax_and_argmin() {
    let x = Tensor::<f32>::from_vec(vec![1.0, 9.0, 3.0, 9.0, 0.0, 3.0], &[2, 3]);
    assert_eq!(x.argmax(None, false).to_vec(), vec![1]);
    assert_eq!(x.argmax(None, false).shape(), &[] as &[usize]);
    assert_eq!(x.argmax(None, true).shape(), &[1, 1]);
    assert_eq!(x.argmin(None, false).to_vec(), vec![4]);
    assert_eq!(x.argmax(Some(1), false).to_vec(), vec![1, 0]);
    assert_eq!(x.argmax(Some(0), true).to_vec(), vec![1, 0, 0]);
    assert_eq!(x.argmax(Some(0), true).shape(), &[1, 3]);
    assert_eq!(x.argmin(Some(-1), false).to_vec(), vec![0, 1]);
}

// ---------------------------------------------------------------- moments

#[test]
fn variance_and_standard_deviation() {
    let x = t(&[1.0, 2.0, 3.0, 4.0], &[4]);
    // mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5.
    assert_close(&x.var().to_vec(), &[5.0 / 3.0]);
    assert_close(&x.var_dims(&[0], 0, false).to_vec(), &[1.25]);
    assert_close(&x.std().to_vec(), &[(5.0f64 / 3.0).sqrt()]);
    let m = t(&[1.0, 2.0, 3.0, 4.0, 6.0, 8.0], &[2, 3]);
    let v = m.var_dims(&[1], 1, true);
    assert_eq!(v.shape(), &[2, 1]);
    assert_close(&v.to_vec(), &[1.0, 4.0]);
    assert_close(&m.std_dims(&[0], 0, false).to_vec(), &[1.5, 2.0, 2.5]);
    // Gradient: 2 (x - mean) / (N - correction).
    assert_close(&grad_of(&[1.0, 2.0, 3.0, 4.0], &[4], |x| x.var()), &[-1.0, -1.0 / 3.0, 1.0 / 3.0, 1.0]);
    // d std = d var / (2 std): std = 2 here (population), so (x - mean) / (N std).
    let g = grad_of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], &[8], |x| x.std_dims(&[0], 0, false));
    assert_close(&g, &[-3.0 / 16.0, -1.0 / 16.0, -1.0 / 16.0, -1.0 / 16.0, 0.0, 0.0, 2.0 / 16.0, 4.0 / 16.0]);
    // One element with Bessel's correction: 0 / 0, as PyTorch.
    assert!(t(&[3.0], &[1]).var().item().is_nan());
}

// ---------------------------------------------------------------- log-sum-exp

#[test]
fn logsumexp_is_stable_at_extremes() {
    let x = t(&[0.0, 3f64.ln()], &[2]);
    assert_close(&x.logsumexp(&[0], false).to_vec(), &[4f64.ln()]);
    // Its gradient is the softmax.
    assert_close(&grad_of(&[0.0, 3f64.ln()], &[2], |x| x.logsumexp(&[], false)), &[0.25, 0.75]);
    assert_close(&t(&[1000.0, 1000.0], &[2]).logsumexp(&[0], false).to_vec(), &[1000.0 + 2f64.ln()]);
    assert_close(&t(&[-1000.0, -1000.0], &[2]).logsumexp(&[0], false).to_vec(), &[-1000.0 + 2f64.ln()]);
    let inf = f64::INFINITY;
    assert_eq!(t(&[-inf, -inf], &[2]).logsumexp(&[0], false).item(), -inf);
    assert_eq!(t(&[-inf, 0.0], &[2]).logsumexp(&[0], false).item(), 0.0);
    assert_eq!(t(&[inf, 0.0], &[2]).logsumexp(&[0], false).item(), inf);
    assert_close(&grad_of(&[-inf, 0.0], &[2], |x| x.logsumexp(&[0], false)), &[0.0, 1.0]);
    let m = t(&[0.0, 0.0, 1.0, 1.0], &[2, 2]).logsumexp(&[1], true);
    assert_eq!(m.shape(), &[2, 1]);
    assert_close(&m.to_vec(), &[2f64.ln(), 1.0 + 2f64.ln()]);
    let f = Tensor::<f32>::from_vec(vec![100.0, 100.0], &[2]).logsumexp(&[0], false).item();
    assert!((f - (100.0 + 2f32.ln())).abs() <= 1e-5, "{f}");
}

// ---------------------------------------------------------------- norms

#[test]
fn norms_of_every_order() {
    let x = t(&[3.0, -4.0, 0.0], &[3]);
    assert_eq!(x.norm(2.0, &[], false).item(), 5.0);
    assert_eq!(x.norm(1.0, &[0], false).item(), 7.0);
    assert_eq!(x.norm(f64::INFINITY, &[], false).item(), 4.0);
    assert_eq!(x.norm(f64::NEG_INFINITY, &[], false).item(), 0.0);
    assert_eq!(x.norm(0.0, &[], false).item(), 2.0);
    assert_close(&x.norm(3.0, &[], false).to_vec(), &[91f64.cbrt()]);
    assert_close(&x.norm(0.5, &[], false).to_vec(), &[(3f64.sqrt() + 2.0).powi(2)]);
    let m = t(&[3.0, 4.0, 6.0, 8.0], &[2, 2]).norm(2.0, &[1], true);
    assert_eq!((m.shape(), m.to_vec()), (&[2usize, 1][..], vec![5.0, 10.0]));
    // Gradients: x / |x|, sign, and the (split) sign of the largest.
    assert_close(&grad_of(&[3.0, -4.0], &[2], |x| x.norm(2.0, &[], false)), &[0.6, -0.8]);
    assert_close(&grad_of(&[3.0, -4.0, 0.0], &[3], |x| x.norm(1.0, &[], false)), &[1.0, -1.0, 0.0]);
    assert_close(&grad_of(&[3.0, -4.0, 0.0], &[3], |x| x.norm(f64::INFINITY, &[], false)), &[0.0, -1.0, 0.0]);
    assert_close(&grad_of(&[4.0, -4.0, 1.0], &[3], |x| x.norm(f64::INFINITY, &[], false)), &[0.5, -0.5, 0.0]);
    assert_close(&grad_of(&[3.0, -4.0, 1.0], &[3], |x| x.norm(f64::NEG_INFINITY, &[], false)), &[0.0, 0.0, 1.0]);
    // p = 3: x |x| / norm².
    let n3 = 92f64.cbrt();
    let want = [9.0 / (n3 * n3), -16.0 / (n3 * n3), 1.0 / (n3 * n3)];
    assert_close(&grad_of(&[3.0, -4.0, 1.0], &[3], |x| x.norm(3.0, &[], false)), &want);
    // At an all-zero input the gradient is 0 (PyTorch's choice), not NaN.
    for p in [2.0, 3.0, 1.5, 0.5] {
        assert_eq!(grad_of(&[0.0, 0.0], &[2], |x| x.norm(p, &[], false)), vec![0.0, 0.0], "p = {p}");
    }
    // p < 1 at a zero element: that element gets 0.
    let g = grad_of(&[4.0, 0.0], &[2], |x| x.norm(0.5, &[], false));
    assert_close(&g, &[1.0, 0.0]);
    assert_eq!(grad_of(&[3.0, 0.0], &[2], |x| x.norm(0.0, &[], false)), vec![0.0, 0.0]);
}

// ---------------------------------------------------------------- cumulative sums

#[test]
fn cumulative_sums_and_their_reversed_gradient() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(x.cumsum(1).to_vec(), vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
    assert_eq!(x.cumsum(-2).to_vec(), vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    assert_eq!(x.t().cumsum(0).to_vec(), vec![1.0, 4.0, 3.0, 9.0, 6.0, 15.0]);
    assert_eq!(Tensor::<f64>::scalar(2.0).cumsum(0).item(), 2.0);
    // d/dx_j Σ_i w_i cumsum(x)_i = Σ_{i >= j} w_i.
    let w = t(&[1.0, 10.0, 100.0], &[3]);
    assert_eq!(grad_of(&[5.0, 6.0, 7.0], &[3], |x| x.cumsum(0).mul(&w)), vec![111.0, 110.0, 100.0]);
    // The gradient is itself a recorded scan: differentiate it in w.
    let x = t(&[5.0, 6.0, 7.0], &[3]).requires_grad_(true);
    let w = w.requires_grad_(true);
    let gx = grad(&[&x.cumsum(0).mul(&w).sum()], &[&x], None, GradOptions::create_graph()).unwrap()[0].clone().unwrap();
    assert_eq!(gx.grad_fn_name(), Some("cumsum_backward"));
    let v = t(&[1.0, 2.0, 3.0], &[3]);
    let gw = grad(&[&gx.mul(&v).sum()], &[&w], None, GradOptions::default()).unwrap()[0].clone().unwrap();
    // Σ_j v_j Σ_{i >= j} w_i: d/dw_i = Σ_{j <= i} v_j.
    assert_eq!(gw.to_vec(), vec![1.0, 3.0, 6.0]);
}

#[test]
fn scans_do_not_depend_on_the_layout() {
    let x = Tensor::<f64>::randn(&[3, 4, 5]);
    for perm in [[2isize, 0, 1], [1, 0, 2], [0, 2, 1]] {
        let (xt, xc) = (x.permute(&perm), x.permute(&perm).contiguous());
        for dim in 0..3 {
            assert_eq!(xt.cumsum(dim).to_vec(), xc.cumsum(dim).to_vec(), "perm {perm:?} dim {dim}");
            // Products with zeros: the gradient takes the products of the others.
            let z = x.relu().requires_grad_(true);
            let grad_through = |contiguous: bool| {
                let v = if contiguous { z.permute(&perm).contiguous() } else { z.permute(&perm) };
                grad(&[&v.prod_dim(dim, false).sum()], &[&z], None, GradOptions::default()).unwrap()[0].clone().unwrap()
            };
            assert_eq!(grad_through(false).to_vec(), grad_through(true).to_vec(), "perm {perm:?} dim {dim}");
        }
    }
    // Row by row along dim 0 is the same arithmetic as lane by lane.
    let y = Tensor::<f32>::randn(&[50, 7]);
    let by_rows = y.cumsum(0).to_vec();
    let by_lanes = y.t().contiguous().cumsum(1).t().contiguous().to_vec();
    assert_eq!(by_rows, by_lanes);
}

// ---------------------------------------------------------------- errors

#[test]
fn bad_dims_name_the_op_the_shape_and_the_caller() {
    let x = Tensor::<f64>::ones(&[2, 3]);
    assert_panics(|| x.sum_dims(&[2], false), &["sum", "[2, 3]", "dimension 2"]);
    assert_panics(|| x.mean_dims(&[-3], false), &["mean", "[2, 3]"]);
    assert_panics(|| x.sum_dims(&[1, -1], false), &["sum", "repeated", "[2, 3]"]);
    assert_panics(|| x.prod_dim(5, false), &["prod", "[2, 3]"]);
    assert_panics(|| x.max_dim(2, false), &["max", "[2, 3]"]);
    assert_panics(|| x.amin(&[0, 0], true), &["amin", "[2, 3]"]);
    assert_panics(|| x.argmax(Some(-4), false), &["argmax", "[2, 3]"]);
    assert_panics(|| x.var_dims(&[3], 1, false), &["var", "[2, 3]"]);
    assert_panics(|| x.std_dims(&[0, 7], 1, false), &["std", "[2, 3]"]);
    assert_panics(|| x.logsumexp(&[2], false), &["logsumexp", "[2, 3]"]);
    assert_panics(|| x.norm(2.0, &[9], false), &["norm", "[2, 3]"]);
    assert_panics(|| x.norm(-1.0, &[], false), &["norm", "-1", "[2, 3]"]);
    assert_panics(|| x.cumsum(2), &["cumsum", "[2, 3]"]);
    let empty = Tensor::<f64>::zeros(&[0, 3]);
    assert_panics(|| empty.max(), &["max", "empty", "[0, 3]"]);
    assert_panics(|| empty.amax(&[0], false), &["amax", "[0, 3]"]);
    assert_panics(|| empty.min_dim(0, false), &["min", "[0, 3]"]);
    assert_panics(|| empty.norm(f64::INFINITY, &[], false), &["norm", "[0, 3]"]);
    assert_eq!(empty.amax(&[1], false).shape(), &[0], "reducing a non-empty dim of an empty tensor is fine");
}

// ---------------------------------------------------------------- properties

/// The input as the op sees it: transposed (a non-contiguous view) or not.
fn arrange(x: &Tensor<f64>, transpose: bool) -> Tensor<f64> {
    if transpose {
        x.transpose(0, -1)
    } else {
        x.clone()
    }
}

/// A shape (1-3 dims of 1-4), a subset of its dims (some written negative;
/// empty means all), `keepdim`, and whether to transpose the input.
fn reduction() -> impl Strategy<Value = (Vec<usize>, Vec<isize>, bool, bool)> {
    shape(1, 3, 4).prop_flat_map(|s| {
        let n = s.len();
        let dims = proptest::sample::subsequence((0..n).collect::<Vec<usize>>(), 0..=n);
        (Just(s), dims, proptest::collection::vec(any::<bool>(), n), any::<bool>(), any::<bool>()).prop_map(
            |(s, dims, negative, keepdim, transpose)| {
                let n = s.len() as isize;
                let dims = dims.iter().map(|&d| if negative[d] { d as isize - n } else { d as isize }).collect();
                (s, dims, keepdim, transpose)
            },
        )
    })
}

/// A shape, one of its dims (maybe negative), `keepdim`, and transpose.
fn along_dim() -> impl Strategy<Value = (Vec<usize>, isize, bool, bool)> {
    shape(1, 3, 4).prop_flat_map(|s| {
        let n = s.len() as isize;
        (Just(s), -n..n, any::<bool>(), any::<bool>())
    })
}

/// The number of elements each output of reducing `dims` of `x` combines.
fn reduced_count(x: &Tensor<f64>, dims: &[isize]) -> usize {
    if dims.is_empty() {
        return x.numel();
    }
    dims.iter().map(|&d| x.size(d)).product()
}

fn smooth_values(s: Vec<usize>) -> impl Strategy<Value = Tensor<f64>> {
    tensor(s, -2.0, 2.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sum_and_mean_gradients(
        (x, dims, keepdim, tr) in reduction().prop_flat_map(|(s, d, k, tr)| (smooth_values(s), Just(d), Just(k), Just(tr)))
    ) {
        let sum = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).sum_dims(&dims, keepdim);
        let mean = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).mean_dims(&dims, keepdim);
        check(gradcheck(sum, from_ref(&x)))?;
        check(gradgradcheck(sum, from_ref(&x)))?;
        check(gradcheck(mean, from_ref(&x)))?;
        check(gradgradcheck(mean, &[x]))?;
    }

    #[test]
    fn sum_of_a_strided_slice(x in shape(2, 2, 3).prop_flat_map(|s| smooth_values(vec![s[0], 2 * s[1]])), keepdim: bool) {
        let n = x.size(-1);
        let f = |xs: &[Tensor<f64>]| xs[0].slice(-1, 1, n, 2).sum_dims(&[0], keepdim);
        check(gradcheck(f, from_ref(&x)))?;
        check(gradgradcheck(f, &[x]))?;
    }

    #[test]
    fn prod_gradients((x, dim, keepdim, tr) in along_dim().prop_flat_map(|(s, d, k, tr)| (smooth_values(s), Just(d), Just(k), Just(tr)))) {
        let f = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).prod_dim(dim, keepdim);
        check(gradcheck(f, from_ref(&x)))?;
        check(gradgradcheck(f, from_ref(&x)))?;
        let all = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).prod();
        check(gradcheck(all, from_ref(&x)))?;
        check(gradgradcheck(all, &[x]))?;
    }

    #[test]
    fn prod_gradients_with_zeros(
        (x, dim, keepdim, zeros) in along_dim().prop_flat_map(|(s, d, k, _)| {
            let n: usize = s.iter().product();
            (smooth_values(s), Just(d), Just(k), proptest::collection::vec(0..n, 1..=2))
        })
    ) {
        let mut v = x.to_vec();
        for &z in &zeros {
            v[z] = 0.0;
        }
        let x = Tensor::from_vec(v, x.shape());
        let f = |xs: &[Tensor<f64>]| xs[0].prod_dim(dim, keepdim);
        check(gradcheck(f, from_ref(&x)))?;
        check(gradgradcheck(f, &[x]))?;
    }

    #[test]
    fn var_and_std_gradients(
        (x, dims, keepdim, tr) in reduction().prop_flat_map(|(s, d, k, tr)| (smooth_values(s), Just(d), Just(k), Just(tr))),
        correction in 0usize..=1,
    ) {
        let n = reduced_count(&arrange(&x, tr), &dims);
        prop_assume!(n >= 2);
        let var = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).var_dims(&dims, correction, keepdim);
        let std = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).std_dims(&dims, correction, keepdim);
        check(gradcheck(var, from_ref(&x)))?;
        check(gradgradcheck(var, from_ref(&x)))?;
        check(gradcheck(std, from_ref(&x)))?;
        check(gradgradcheck(std, &[x]))?;
    }

    #[test]
    fn logsumexp_gradients(
        (x, dims, keepdim, tr) in reduction().prop_flat_map(|(s, d, k, tr)| (tensor(s, -3.0, 3.0), Just(d), Just(k), Just(tr)))
    ) {
        let f = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).logsumexp(&dims, keepdim);
        check(gradcheck(f, from_ref(&x)))?;
        check(gradgradcheck(f, &[x]))?;
    }

    #[test]
    fn norm_gradients(
        (x, dims, keepdim, tr) in reduction().prop_flat_map(|(s, d, k, tr)| (tensor_away_from_zero(s, 0.3, 2.0), Just(d), Just(k), Just(tr))),
        p in proptest::sample::select(vec![1.0, 2.0, 3.0, 0.5, 1.5]),
    ) {
        let f = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).norm(p, &dims, keepdim);
        check(gradcheck(f, from_ref(&x)))?;
        if p != 1.0 {
            check(gradgradcheck(f, &[x]))?;
        }
    }

    #[test]
    fn infinity_norm_gradients(
        (x, dims, keepdim, tr) in reduction().prop_flat_map(|(s, d, k, tr)| (distinct_tensor(s, 0.5), Just(d), Just(k), Just(tr))),
        p in proptest::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY]),
    ) {
        prop_assume!(x.to_vec().iter().all(|v| v.abs() > 1e-3));
        let f = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).norm(p, &dims, keepdim);
        check(gradcheck(f, &[x]))?;
    }

    #[test]
    fn cumsum_gradients((x, dim, _, tr) in along_dim().prop_flat_map(|(s, d, k, tr)| (smooth_values(s), Just(d), Just(k), Just(tr)))) {
        let f = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).cumsum(dim);
        check(gradcheck(f, from_ref(&x)))?;
        check(gradgradcheck(f, &[x]))?;
    }

    #[test]
    fn max_and_min_along_a_dim_gradients(
        (x, dim, keepdim, tr) in along_dim().prop_flat_map(|(s, d, k, tr)| (distinct_tensor(s, 0.5), Just(d), Just(k), Just(tr)))
    ) {
        let max = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).max_dim(dim, keepdim).0;
        let min = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).min_dim(dim, keepdim).0;
        check(gradcheck(max, from_ref(&x)))?;
        check(gradgradcheck(max, from_ref(&x)))?;
        check(gradcheck(min, from_ref(&x)))?;
        check(gradgradcheck(min, from_ref(&x)))?;
        // The indices point at the values.
        let (v, i) = arrange(&x, tr).max_dim(dim, true);
        let lane = arrange(&x, tr).argmax(Some(dim), true);
        prop_assert_eq!(i.to_vec(), lane.to_vec());
        prop_assert_eq!(v.to_vec(), arrange(&x, tr).amax(&[dim], true).to_vec());
    }

    #[test]
    fn amax_amin_max_min_gradients(
        (x, dims, keepdim, tr) in reduction().prop_flat_map(|(s, d, k, tr)| (distinct_tensor(s, 0.5), Just(d), Just(k), Just(tr)))
    ) {
        let amax = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).amax(&dims, keepdim);
        let amin = |xs: &[Tensor<f64>]| arrange(&xs[0], tr).amin(&dims, keepdim);
        check(gradcheck(amax, from_ref(&x)))?;
        check(gradcheck(amin, from_ref(&x)))?;
        check(gradcheck(|xs: &[Tensor<f64>]| arrange(&xs[0], tr).max(), from_ref(&x)))?;
        check(gradcheck(|xs: &[Tensor<f64>]| arrange(&xs[0], tr).min(), &[x]))?;
    }
}

// ---------------------------------------------------------------- conformance

/// Runs a reduction conformance case through the public API.
fn apply<E: Element>(case: &Case, xs: &[Tensor<E>]) -> Vec<Out<E>> {
    let c = case.config();
    let keepdim = c["keepdim"].as_bool().unwrap_or(false);
    let dims = case.dims("dim");
    let dim = || *dims.first().expect("a dim");
    let correction = || c["correction"].as_u64().unwrap_or(1) as usize;
    let x = &xs[0];
    let out = match case.function() {
        "sum" => x.sum_dims(&dims, keepdim),
        "mean" => x.mean_dims(&dims, keepdim),
        "amax" => x.amax(&dims, keepdim),
        "cumsum" => x.cumsum(dim()),
        "logsumexp" => x.logsumexp(&dims, keepdim),
        "norm" => x.norm(c["p"].as_f64().unwrap_or(2.0), &dims, keepdim),
        "var" => x.var_dims(&dims, correction(), keepdim),
        "std" => x.std_dims(&dims, correction(), keepdim),
        "max" => {
            let (values, indices) = x.max_dim(dim(), keepdim);
            return vec![Out::F(values), Out::I(indices)];
        }
        other => panic!("{}: unknown function {other}", case.name),
    };
    vec![Out::F(out)]
}

#[test]
fn conformance_with_pytorch() {
    for name in [
        "amax_dim_last",
        "cumsum_dim1",
        "logsumexp_dim1",
        "max_dim_values_indices",
        "mean_dims_keepdim",
        "norm_p2_dim1",
        "std_correction0_two_dims",
        "std_correction1",
        "sum_dims_keepdim",
        "var_correction0_keepdim",
        "var_correction1",
    ] {
        let case = Case::load(name);
        case.check(&|xs| apply(&case, xs), &|xs| apply(&case, xs));
    }
}
