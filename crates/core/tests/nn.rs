//! Dropout masks, embedding lookup and batched statistics (moments): values,
//! seeding, PyTorch conformance cases, and first and second derivatives
//! against finite differences.

mod nn_support;

use lamina_core::testing::{shape, tensor};
use lamina_core::{gradcheck, gradgradcheck, manual_seed, Generator, IndexTensor, Tensor};
use nn_support::{assert_close, ok, panics_with, t, Case};
use proptest::prelude::*;

// ------------------------------------------------------------------ dropout

#[test]
fn dropout_zeroes_and_rescales() {
    let x = Tensor::<f64>::full(&[20_000], 3.0);
    let y = x.dropout_with(0.25, true, &mut Generator::new(11)).to_vec();
    assert!(y.iter().all(|&v| v == 0.0 || v == 4.0), "values are 0 or 3 / 0.75");
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
    // 0.75 kept; the binomial standard error is about 0.003.
    assert!((kept - 0.75).abs() < 0.02, "{kept}");
}

#[test]
fn dropout_is_the_identity_outside_training_or_at_p_zero_and_zero_at_p_one() {
    let x = t(&[1.0, -2.0, 3.0], &[3]);
    assert_eq!(x.dropout(0.5, false).to_vec(), x.to_vec());
    assert_eq!(x.dropout(0.0, true).to_vec(), x.to_vec());
    assert_eq!(x.dropout(1.0, true).to_vec(), vec![0.0; 3]);
    let x2 = x.reshape(&[1, 3, 1]);
    assert_eq!(x2.feature_dropout(0.5, false).to_vec(), x.to_vec());
    assert_eq!(x2.feature_dropout(1.0, true).to_vec(), vec![0.0; 3]);
}

#[test]
fn dropout_draws_reproducibly() {
    let x = Tensor::<f64>::ones(&[64]);
    let a = x.dropout_with(0.5, true, &mut Generator::new(5)).to_vec();
    let b = x.dropout_with(0.5, true, &mut Generator::new(5)).to_vec();
    assert_eq!(a, b);
    manual_seed(9);
    let c = x.dropout(0.5, true).to_vec();
    manual_seed(9);
    assert_eq!(x.dropout(0.5, true).to_vec(), c);
    assert_ne!(a, x.dropout_with(0.5, true, &mut Generator::new(6)).to_vec());
}

#[test]
fn dropout_gradient_is_the_mask() {
    let x = Tensor::<f64>::full(&[2, 50], 2.0).requires_grad_(true);
    let y = x.dropout_with(0.4, true, &mut Generator::new(1));
    y.sum().backward();
    // d y / d x = y / x elementwise: 0 or 1 / 0.6.
    let want: Vec<f64> = y.to_vec().iter().map(|v| v / 2.0).collect();
    assert_eq!(x.grad().unwrap().to_vec(), want);
}

#[test]
fn feature_dropout_drops_whole_channels() {
    let x = Tensor::<f64>::ones(&[4, 16, 2, 3]);
    let y = x.feature_dropout_with(0.5, true, &mut Generator::new(2)).to_vec();
    let mut dropped = 0;
    for ch in y.chunks(6) {
        assert!(ch.iter().all(|&v| v == ch[0]) && (ch[0] == 0.0 || ch[0] == 2.0), "{ch:?}");
        dropped += usize::from(ch[0] == 0.0);
    }
    assert!(dropped > 0 && dropped < 64, "{dropped} of 64 channels dropped");
}

#[test]
fn dropout_conformance_in_eval_mode() {
    let c = Case::load("module__Dropout_eval");
    assert_eq!(c.v["mode"], "eval");
    let x = c.input(0);
    let p = c.config()["p"].as_f64().unwrap();
    c.check(&[x.dropout(p, false)], &[(0, &x)], &[]);
}

// ------------------------------------------------------------------ embedding

#[test]
fn embedding_looks_up_rows_and_sums_their_gradients() {
    let w = Tensor::<f64>::arange(0.0, 8.0, 1.0).reshape(&[4, 2]).requires_grad_(true);
    let ids = IndexTensor::from_vec(vec![3, 1, 3, 0], &[2, 2]);
    let y = w.embedding(&ids, None);
    assert_eq!(y.shape(), &[2, 2, 2]);
    assert_eq!(y.to_vec(), vec![6.0, 7.0, 2.0, 3.0, 6.0, 7.0, 0.0, 1.0]);
    y.mul(&Tensor::arange(1.0, 9.0, 1.0).reshape(&[2, 2, 2])).sum().backward();
    // Row 3 collects positions 0 and 2: [1 + 5, 2 + 6].
    assert_eq!(w.grad().unwrap().to_vec(), vec![7.0, 8.0, 3.0, 4.0, 0.0, 0.0, 6.0, 8.0]);
}

#[test]
fn the_padding_row_is_read_but_gets_no_gradient() {
    let w = Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[3, 2]).requires_grad_(true);
    let ids = IndexTensor::from_vec(vec![2, 0, 2], &[3]);
    // padding_idx -1 is row 2.
    let y = w.embedding(&ids, Some(-1));
    assert_eq!(y.to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
    y.sum().backward();
    assert_eq!(w.grad().unwrap().to_vec(), vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn embedding_conformance() {
    let c = Case::load("module__Embedding_padding_idx0");
    let w = c.param("weight").unwrap();
    let pad = c.config()["padding_idx"].as_i64();
    c.check(&[w.embedding(&c.index(0), pad)], &[], &[("weight", &w)]);
}

// ------------------------------------------------------------------ moments

#[test]
fn moments_biased_and_unbiased() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 6.0, 8.0], &[2, 3]);
    let (m, v) = x.moments(&[1], 0, false);
    assert_eq!(m.to_vec(), vec![2.0, 6.0]);
    assert_close(&v.to_vec(), &[2.0 / 3.0, 8.0 / 3.0], 1e-15);
    let (m, v) = x.moments(&[0], 1, true);
    assert_eq!(m.shape(), &[1, 3]);
    assert_eq!(m.to_vec(), vec![2.5, 4.0, 5.5]);
    assert_eq!(v.to_vec(), vec![4.5, 8.0, 12.5]);
    // All dims at once, negative dims.
    let (m, v) = x.moments(&[-1, -2], 1, false);
    assert!(m.shape().is_empty());
    assert_close(&[m.item(), v.item()], &[4.0, 34.0 / 5.0], 1e-15);
}

#[test]
fn moments_are_stable_far_from_zero() {
    // Values 1e9 + {0, 1, 2}: a naive E[x²] - E[x]² loses every digit in f64.
    let x = t(&[1e9, 1e9 + 1.0, 1e9 + 2.0], &[3]);
    let (m, v) = x.moments(&[0], 1, false);
    assert_eq!((m.item(), v.item()), (1e9 + 1.0, 1.0));
    // f32 data is accumulated in f64: 1e6 + {0, 1, 2} is exact in f32.
    let x32 = Tensor::<f32>::from_vec(vec![1e6, 1e6 + 1.0, 1e6 + 2.0], &[3]);
    let (_, v32) = x32.moments(&[0], 0, false);
    assert!((v32.item() - 2.0 / 3.0).abs() < 1e-7, "{}", v32.item());
}

#[test]
fn moments_gradient_matches_the_formula() {
    // d var / dx = 2 (x - mean) / (n - correction).
    let x = t(&[1.0, 2.0, 6.0], &[3]).requires_grad_(true);
    let (m, v) = x.moments(&[0], 1, false);
    v.add(&m).backward();
    assert_close(&x.grad().unwrap().to_vec(), &[-2.0 + 1.0 / 3.0, -1.0 + 1.0 / 3.0, 3.0 + 1.0 / 3.0], 1e-15);
}

// ------------------------------------------------------------------ errors

#[test]
fn errors_name_the_op_shapes_and_caller() {
    let w = Tensor::<f64>::zeros(&[4, 2]);
    let ids = IndexTensor::from_vec(vec![0, 4], &[2]);
    panics_with(|| drop(w.embedding(&ids, None)), &["embedding", "index 4", "[4, 2]", "tests/nn.rs"]);
    panics_with(
        || drop(w.embedding(&IndexTensor::from_vec(vec![0], &[1]), Some(4))),
        &["embedding", "padding_idx", "tests/nn.rs"],
    );
    panics_with(|| drop(w.dropout(1.5, true)), &["dropout", "1.5", "tests/nn.rs"]);
    panics_with(|| drop(t(&[1.0], &[1]).feature_dropout(0.5, true)), &["feature_dropout", "[1]", "tests/nn.rs"]);
    panics_with(|| drop(w.moments(&[2], 1, false)), &["moments", "[4, 2]", "tests/nn.rs"]);
}

// ------------------------------------------------------------------ derivatives

/// A shape of 1-3 dims and a non-empty set of its dims.
fn shape_and_dims() -> impl Strategy<Value = (Vec<usize>, Vec<isize>)> {
    shape(1, 3, 4).prop_flat_map(|s| {
        let n = s.len();
        (Just(s), proptest::sample::subsequence((0..n as isize).collect::<Vec<_>>(), 1..=n))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn moments_match_composed_ops_and_their_derivatives(
        (s, dims) in shape_and_dims(),
        correction in 0usize..=1,
        keepdim in any::<bool>(),
        seed in 0u64..1000,
    ) {
        // The op sees the dims reversed: a non-contiguous view of shape `s`.
        let rev: Vec<isize> = (0..s.len() as isize).rev().collect();
        let stored: Vec<usize> = s.iter().rev().copied().collect();
        let x = Tensor::<f64>::randn_with(&stored, &mut Generator::new(seed));
        let count: usize = dims.iter().map(|&d| s[d as usize]).product();
        prop_assume!(count > correction);
        let view = x.permute(&rev);
        let (m, v) = view.moments(&dims, correction, keepdim);
        let mm = view.mean_dims(&dims, true);
        let vv = view.sub(&mm).square().sum_dims(&dims, keepdim).div_scalar((count - correction) as f64);
        assert_close(&m.to_vec(), &view.mean_dims(&dims, keepdim).to_vec(), 1e-12);
        assert_close(&v.to_vec(), &vv.to_vec(), 1e-12);
        prop_assert_eq!(v.shape(), vv.shape());
        // Both outputs at once, and the variance alone.
        let f = |xs: &[Tensor<f64>]| {
            let (m, v) = xs[0].permute(&rev).moments(&dims, correction, keepdim);
            m.mul(&v).add(&v)
        };
        ok(gradcheck(f, std::slice::from_ref(&x)))?;
        ok(gradgradcheck(f, std::slice::from_ref(&x)))?;
        let g = |xs: &[Tensor<f64>]| xs[0].permute(&rev).moments(&dims, correction, keepdim).1;
        ok(gradgradcheck(g, &[x]))?;
    }

    #[test]
    fn embedding_derivatives(
        w in tensor(vec![5, 3], -1.0, 1.0),
        ids in proptest::collection::vec(0i64..5, 1..=6),
        pad in prop_oneof![Just(None), (0i64..5).prop_map(Some)],
    ) {
        let ids = IndexTensor::from_vec(ids.clone(), &[ids.len()]);
        // Squared so the second derivative is not zero.
        let f = |xs: &[Tensor<f64>]| xs[0].t().contiguous().t().embedding(&ids, pad).square();
        // The padding row's gradient is zero by definition, not the true
        // derivative, so finite differences only check the other rows.
        let keep: Vec<f64> = (0..5).map(|r| if Some(r) == pad { 0.0 } else { 1.0 }).collect();
        let mask = Tensor::from_vec(keep, &[5, 1]);
        let g = |xs: &[Tensor<f64>]| f(&[xs[0].mul(&mask).add(&w.mul(&mask.rsub_scalar(1.0)))]);
        ok(gradcheck(g, std::slice::from_ref(&w)))?;
        ok(gradgradcheck(g, std::slice::from_ref(&w)))?;
        // And the padding row gets exactly nothing.
        let wl = w.clone().requires_grad_(true);
        f(std::slice::from_ref(&wl)).sum().backward();
        if let Some(p) = pad {
            let gr = wl.grad().unwrap().to_vec();
            prop_assert!(gr[p as usize * 3..p as usize * 3 + 3].iter().all(|&v| v == 0.0));
        }
    }
}
