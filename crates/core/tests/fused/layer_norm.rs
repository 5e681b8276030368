//! The fused layer norm: its values against the formula written from
//! primitive ops, its gradients (fused when the backward is not recorded,
//! composed from differentiable ops when it is) against finite differences
//! and against each other, with and without weight and bias, and its errors.

use lamina_core::{grad, gradcheck, gradgradcheck, GradOptions, Tensor};
use proptest::prelude::*;

use super::values;

/// `F.layer_norm` from primitive ops.
fn reference(x: &Tensor<f64>, k: usize, w: Option<&Tensor<f64>>, b: Option<&Tensor<f64>>, eps: f64) -> Tensor<f64> {
    let dims: Vec<isize> = (-(k as isize)..0).collect();
    let centred = x - &x.mean_dims(&dims, true);
    let y = &centred * &centred.square().mean_dims(&dims, true).add_scalar(eps).pow_scalar(-0.5);
    let y = match w {
        Some(w) => y * w,
        None => y,
    };
    match b {
        Some(b) => y + b,
        None => y,
    }
}

/// The output weighted so that each element's gradient differs.
fn weighted(y: &Tensor<f64>) -> Tensor<f64> {
    (y * &Tensor::from_vec(values(y.numel(), 11, 1.0), y.shape())).sum()
}

fn inputs(lead: &[usize], norm: &[usize], seed: u64, affine: [bool; 2]) -> Vec<Tensor<f64>> {
    let shape: Vec<usize> = lead.iter().chain(norm).copied().collect();
    let n: usize = shape.iter().product();
    let d: usize = norm.iter().product();
    let mut all = vec![Tensor::from_vec(values(n, seed, 2.0), &shape)];
    if affine[0] {
        all.push(Tensor::from_vec(values(d, seed + 1, 1.5), norm));
    }
    if affine[1] {
        all.push(Tensor::from_vec(values(d, seed + 2, 1.0), norm));
    }
    all
}

fn split(xs: &[Tensor<f64>], affine: [bool; 2]) -> (Option<&Tensor<f64>>, Option<&Tensor<f64>>) {
    let w = affine[0].then(|| &xs[1]);
    let b = affine[1].then(|| &xs[1 + affine[0] as usize]);
    (w, b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn matches_the_formula_and_its_gradients(
        lead in prop::collection::vec(1usize..4, 0..3), norm in prop::collection::vec(1usize..5, 1..3),
        affine: [bool; 2], seed: u64,
    ) {
        let xs: Vec<Tensor<f64>> = inputs(&lead, &norm, seed, affine).into_iter().map(|t| t.requires_grad_(true)).collect();
        let (w, b) = split(&xs, affine);
        let y = xs[0].layer_norm(&norm, w, b, 1e-5);
        let want = reference(&xs[0], norm.len(), w, b, 1e-5);
        for (got, want) in y.to_vec().iter().zip(want.to_vec()) {
            prop_assert!((got - want).abs() <= 1e-12, "{got} vs {want}");
        }
        let refs: Vec<&Tensor<f64>> = xs.iter().collect();
        let retain = GradOptions { retain_graph: true, ..Default::default() };
        let fused = grad(&[&weighted(&y)], &refs, None, retain).unwrap();
        let composed = grad(&[&weighted(&y)], &refs, None, GradOptions::create_graph()).unwrap();
        let primitive = grad(&[&weighted(&want)], &refs, None, GradOptions::default()).unwrap();
        for i in 0..xs.len() {
            let (f, c, p) = (fused[i].as_ref().unwrap(), composed[i].as_ref().unwrap(), primitive[i].as_ref().unwrap());
            prop_assert_eq!(f.shape(), p.shape());
            for ((x, y), z) in f.to_vec().iter().zip(c.to_vec()).zip(p.to_vec()) {
                prop_assert!((x - y).abs() <= 1e-10 && (x - z).abs() <= 1e-10, "input {}: {} {} {}", i, x, y, z);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences(
        rows in 1usize..4, norm in prop::collection::vec(2usize..4, 1..3), affine: [bool; 2], seed: u64,
    ) {
        let xs = inputs(&[rows], &norm, seed, affine);
        let f = |xs: &[Tensor<f64>]| {
            let (w, b) = split(xs, affine);
            weighted(&xs[0].layer_norm(&norm, w, b, 1e-3))
        };
        prop_assert!(gradcheck(f, &xs).is_ok());
        prop_assert!(gradgradcheck(f, &xs).is_ok());
    }
}

#[test]
fn shapes_that_do_not_fit_name_the_op_and_the_shapes() {
    let cases: [(&[usize], Option<&[usize]>); 3] = [(&[3], None), (&[2, 2], None), (&[2], Some(&[3]))];
    for (norm, weight) in cases {
        let err = std::panic::catch_unwind(|| {
            let w = weight.map(Tensor::<f64>::ones);
            Tensor::<f64>::zeros(&[4, 2]).layer_norm(norm, w.as_ref(), None, 1e-5)
        })
        .expect_err("a mismatch");
        let msg = err.downcast_ref::<String>().expect("a formatted message");
        assert!(msg.contains("layer_norm") && msg.contains("[4, 2]") && msg.contains("layer_norm.rs"), "{msg}");
    }
}
