//! Comparisons and masks: comparison values with broadcasting and NaN, the
//! logical ops and reductions of `Mask`, `where_` and `masked_fill` (values,
//! gradient routing, property tests of derivatives over broadcast shapes on
//! non-contiguous inputs), a conformance case and error messages.

use crate::elementwise;

use elementwise::{assert_panics_with, assert_tensor, check_conformance, grads_of, t};
use lamina_core::testing::{broadcast_pair, tensor};
use lamina_core::{gradcheck, gradgradcheck, GradOptions, Mask, Tensor};
use proptest::prelude::*;

fn m(v: &[u8], s: &[usize]) -> Mask {
    Mask::from_vec(v.iter().map(|&b| b != 0).collect(), s)
}

#[test]
fn tensor_comparisons_broadcast() {
    let a = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = t(&[2.0, 2.0, 5.0], &[3]);
    assert_eq!(a.gt(&b), m(&[0, 0, 0, 1, 1, 1], &[2, 3]));
    assert_eq!(a.ge(&b), m(&[0, 1, 0, 1, 1, 1], &[2, 3]));
    assert_eq!(a.lt(&b), m(&[1, 0, 1, 0, 0, 0], &[2, 3]));
    assert_eq!(a.le(&b), m(&[1, 1, 1, 0, 0, 0], &[2, 3]));
    assert_eq!(a.eq(&b), m(&[0, 1, 0, 0, 0, 0], &[2, 3]));
    assert_eq!(a.ne(&b), m(&[1, 0, 1, 1, 1, 1], &[2, 3]));
    // [2, 1] against [3] gives [2, 3]; a transposed (strided) operand reads by its strides.
    let c = t(&[2.0, 5.0], &[2, 1]);
    assert_eq!(c.lt(&b), m(&[0, 0, 1, 0, 0, 0], &[2, 3]));
    assert_eq!(a.t().ge(&c.reshape(&[2])), m(&[0, 0, 1, 1, 1, 1], &[3, 2]));
}

#[test]
fn scalar_comparisons_and_nan() {
    let x = t(&[-1.0, 0.0, 2.0, f64::NAN], &[2, 2]);
    assert_eq!(x.gt_scalar(0.0), m(&[0, 0, 1, 0], &[2, 2]));
    assert_eq!(x.ge_scalar(0.0), m(&[0, 1, 1, 0], &[2, 2]));
    assert_eq!(x.lt_scalar(0.0), m(&[1, 0, 0, 0], &[2, 2]));
    assert_eq!(x.le_scalar(0.0), m(&[1, 1, 0, 0], &[2, 2]));
    assert_eq!(x.eq_scalar(2.0), m(&[0, 0, 1, 0], &[2, 2]));
    // NaN compares unequal to everything, itself included.
    assert_eq!(x.ne_scalar(2.0), m(&[1, 1, 0, 1], &[2, 2]));
    assert_eq!(x.eq(&x), m(&[1, 1, 1, 0], &[2, 2]));
    assert_eq!(x.t().gt_scalar(-0.5), m(&[0, 1, 1, 0], &[2, 2]));
    let f = Tensor::<f32>::from_vec(vec![0.5, -0.5], &[2]);
    assert_eq!(f.gt_scalar(0.0).to_vec(), vec![true, false]);
}

#[test]
fn mask_logic_reductions_and_conversion() {
    let a = m(&[1, 0, 1, 0, 1, 1], &[2, 3]);
    let row = m(&[1, 1, 0], &[3]);
    assert_eq!(a.logical_and(&row), m(&[1, 0, 0, 0, 1, 0], &[2, 3]));
    assert_eq!(a.logical_or(&row), m(&[1, 1, 1, 1, 1, 1], &[2, 3]));
    assert_eq!(a.logical_xor(&row), m(&[0, 1, 1, 1, 0, 1], &[2, 3]));
    assert_eq!(a.logical_not(), m(&[0, 1, 0, 1, 0, 0], &[2, 3]));
    assert_eq!(&a & &row, a.logical_and(&row));
    assert_eq!(&a | &row, a.logical_or(&row));
    assert_eq!(!&a, a.logical_not());
    // [2, 1] with [3] broadcasts to [2, 3].
    let col = m(&[1, 0], &[2, 1]);
    assert_eq!(col.logical_and(&row), m(&[1, 1, 0, 0, 0, 0], &[2, 3]));
    assert_eq!(a.count(), 4);
    assert!(a.any() && !a.all());
    assert!(Mask::full(&[2], true).all());
    assert!(!Mask::full(&[0], false).any() && Mask::full(&[0], false).all());
    assert_eq!(Mask::full(&[2, 2], false).count(), 0);
    assert_eq!(a.numel(), 6);
    let ft = a.to_tensor::<f64>();
    assert_eq!(ft.shape(), &[2, 3]);
    assert_eq!(ft.to_vec(), vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    assert_eq!(row.to_tensor::<f32>().to_vec(), vec![1.0f32, 1.0, 0.0]);
}

#[test]
fn where_selects_and_routes_gradients() {
    let cond = m(&[1, 0, 0, 1], &[2, 2]);
    let a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).requires_grad_(true);
    let b = t(&[10.0, 20.0], &[2]).requires_grad_(true);
    let y = Tensor::where_(&cond, &a, &b);
    assert_tensor(&y, &[2, 2], &[1.0, 20.0, 10.0, 4.0], "where");
    let up = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let g = grads_of(&[&a, &b], &y, &up, GradOptions::default());
    assert_tensor(&g[0], &[2, 2], &[1.0, 0.0, 0.0, 4.0], "grad a");
    // b is broadcast over rows: its gradient sums the rows where it was chosen.
    assert_tensor(&g[1], &[2], &[3.0, 2.0], "grad b");
}

#[test]
fn where_broadcasts_all_three() {
    let cond = m(&[1, 0], &[2, 1]);
    let a = t(&[1.0, 2.0, 3.0], &[3]).requires_grad_(true);
    let b = Tensor::<f64>::scalar(-1.0).requires_grad_(true);
    let y = Tensor::where_(&cond, &a, &b);
    assert_tensor(&y, &[2, 3], &[1.0, 2.0, 3.0, -1.0, -1.0, -1.0], "where");
    let g = grads_of(&[&a, &b], &y, &y.ones_like(), GradOptions::default());
    assert_tensor(&g[0], &[3], &[1.0, 1.0, 1.0], "grad a");
    assert_tensor(&g[1], &[], &[3.0], "grad b");
}

#[test]
fn masked_fill_fills_broadcast_mask_and_zeroes_its_gradient() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).requires_grad_(true);
    let mask = m(&[0, 1, 1], &[3]);
    let y = x.masked_fill(&mask, -9.0);
    assert_tensor(&y, &[2, 3], &[1.0, -9.0, -9.0, 4.0, -9.0, -9.0], "masked_fill");
    let up = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let g = grads_of(&[&x], &y, &up, GradOptions::default());
    assert_tensor(&g[0], &[2, 3], &[1.0, 0.0, 0.0, 4.0, 0.0, 0.0], "grad");
    // On a transposed view: the mask indexes the view's logical positions.
    let v = x.t().masked_fill(&m(&[1, 0], &[2]), 0.0);
    assert_tensor(&v, &[3, 2], &[0.0, 4.0, 0.0, 5.0, 0.0, 6.0], "masked_fill on a view");
}

/// A condition of some shape broadcastable with `a` and `b`, plus `a` (dims
/// reversed, to be transposed) and `b`.
fn where_inputs() -> impl Strategy<Value = (Mask, Tensor<f64>, Tensor<f64>)> {
    broadcast_pair(3, 3).prop_flat_map(|(sa, sb)| {
        let full = lamina_core::broadcast_shapes(&sa, &sb).expect("broadcastable").to_vec();
        let n = full.len();
        let ra: Vec<usize> = sa.iter().rev().copied().collect();
        (proptest::collection::vec(any::<bool>(), n), Just(full), tensor(ra, -2.0, 2.0), tensor(sb, -2.0, 2.0))
            .prop_flat_map(|(ones, full, a, b)| {
                let cs: Vec<usize> = full.iter().zip(&ones).map(|(&d, &one)| if one { 1 } else { d }).collect();
                let cn: usize = cs.iter().product();
                (
                    proptest::collection::vec(any::<bool>(), cn).prop_map(move |v| Mask::from_vec(v, &cs)),
                    Just(a),
                    Just(b),
                )
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn where_passes_gradcheck_and_gradgradcheck((cond, a, b) in where_inputs()) {
        let f = |xs: &[Tensor<f64>]| Tensor::where_(&cond, &xs[0].transpose(0, -1), &xs[1]);
        gradcheck(f, &[a.clone(), b.clone()]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        gradgradcheck(f, &[a, b]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn masked_fill_passes_gradcheck_and_gradgradcheck((cond, a, _b) in where_inputs()) {
        // The mask broadcasts to the (transposed) input when its shape does.
        let x_shape: Vec<usize> = a.shape().iter().rev().copied().collect();
        prop_assume!(lamina_core::broadcast_shapes(cond.shape(), &x_shape).as_deref() == Some(&x_shape[..]));
        let f = |xs: &[Tensor<f64>]| xs[0].transpose(0, -1).masked_fill(&cond, 0.5);
        gradcheck(f, std::slice::from_ref(&a)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        gradgradcheck(f, &[a]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    /// `where_` agrees with the arithmetic form `c·a + (1-c)·b`.
    #[test]
    fn where_matches_its_arithmetic_form((cond, a, b) in where_inputs()) {
        let c = cond.to_tensor::<f64>();
        let y = Tensor::where_(&cond, &a.transpose(0, -1), &b);
        let z = c.mul(&a.transpose(0, -1)).add(&c.rsub_scalar(1.0).mul(&b));
        prop_assert_eq!(y.shape(), z.shape());
        prop_assert_eq!(y.to_vec(), z.to_vec());
    }
}

#[test]
fn shape_errors_name_the_op_the_shapes_and_the_caller() {
    let a = t(&[0.0; 6], &[2, 3]);
    let b = t(&[0.0; 8], &[2, 4]);
    assert_panics_with(
        || {
            a.gt(&b);
        },
        &["gt", "[2, 3]", "[2, 4]", "cannot be broadcast"],
    );
    assert_panics_with(
        || {
            a.ne(&b);
        },
        &["ne", "[2, 3]", "[2, 4]"],
    );
    assert_panics_with(
        || {
            m(&[1, 0], &[2]).logical_and(&m(&[1, 0, 1], &[3]));
        },
        &["logical_and", "[2]", "[3]"],
    );
    assert_panics_with(
        || {
            Tensor::where_(&m(&[1, 0, 1, 1], &[4]), &a, &a);
        },
        &["where", "[4]", "[2, 3]", "compare.rs"],
    );
    // The mask must broadcast to the tensor, not the other way round.
    assert_panics_with(
        || {
            t(&[0.0; 3], &[3]).masked_fill(&Mask::full(&[2, 3], true), 0.0);
        },
        &["masked_fill", "[2, 3]", "[3]"],
    );
    assert_panics_with(
        || {
            Mask::from_vec(vec![true; 3], &[2, 2]);
        },
        &["Mask::from_vec", "[2, 2]"],
    );
}

#[test]
fn conformance_where_bool_condition() {
    check_conformance("where_bool_condition", "where", |_, x| Tensor::where_(x[0].mask(), x[1].t(), x[2].t()));
}
