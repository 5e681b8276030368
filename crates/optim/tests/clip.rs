//! Gradient clipping by norm and value, per-layer norms and adaptive
//! clipping, against hand-computed values.

use crate::common;

use common::{assert_close, panic_message, param, set_grad};
use lamina_core::Tensor;
use lamina_optim::{
    adaptive_clip_grad, clip_grad_norm, clip_grad_value, grad_norms, total_grad_norm, vector_norm, OptimError,
};

/// Parameters with the given gradients.
fn with_grads(grads: &[&[f64]]) -> Vec<Tensor<f64>> {
    grads
        .iter()
        .map(|g| {
            let p = param(&vec![0.0; g.len()]);
            set_grad(&p, g);
            p
        })
        .collect()
}

fn grads(ps: &[Tensor<f64>]) -> Vec<Vec<f64>> {
    ps.iter().map(|p| p.grad().unwrap().to_vec()).collect()
}

#[test]
fn clip_by_l2_norm_scales_all_gradients_together() {
    let ps = with_grads(&[&[3.0, 4.0], &[12.0]]);
    let total = clip_grad_norm(&ps, 6.5, 2.0, false).unwrap();
    assert_close(&[total], &[13.0]);
    let c = 6.5 / (13.0 + 1e-6);
    let g = grads(&ps);
    assert_close(&g[0], &[3.0 * c, 4.0 * c]);
    assert_close(&g[1], &[12.0 * c]);
}

#[test]
fn clip_by_infinity_one_and_three_norms() {
    let ps = with_grads(&[&[1.0, -7.0], &[3.0]]);
    assert_eq!(clip_grad_norm(&ps, 3.5, f64::INFINITY, false).unwrap(), 7.0);
    let c = 3.5 / (7.0 + 1e-6);
    assert_close(&grads(&ps)[0], &[c, -7.0 * c]);

    let ps = with_grads(&[&[1.0, -2.0], &[3.0]]);
    assert_close(&[clip_grad_norm(&ps, 3.0, 1.0, false).unwrap()], &[6.0]);
    assert_close(&grads(&ps)[1], &[3.0 * 3.0 / (6.0 + 1e-6)]);

    let ps = with_grads(&[&[1.0, -2.0], &[3.0]]);
    assert_close(&[clip_grad_norm(&ps, 100.0, 3.0, false).unwrap()], &[36f64.powf(1.0 / 3.0)]);
}

#[test]
fn gradients_under_the_limit_are_unchanged() {
    let ps = with_grads(&[&[0.3, -0.4]]);
    assert_close(&[clip_grad_norm(&ps, 1.0, 2.0, false).unwrap()], &[0.5]);
    assert_eq!(grads(&ps)[0], vec![0.3, -0.4]);
}

#[test]
fn non_finite_norms() {
    let ps = with_grads(&[&[1.0, f64::NAN], &[2.0]]);
    let err = clip_grad_norm(&ps, 1.0, 2.0, true).unwrap_err();
    assert!(matches!(err, OptimError::NonFiniteNorm { total_norm, .. } if total_norm.is_nan()));
    assert!(err.to_string().contains("clip_grad_norm"), "{err}");
    assert_eq!(grads(&ps)[1], vec![2.0], "an error leaves the gradients alone");
    let ps = with_grads(&[&[f64::INFINITY], &[2.0]]);
    assert!(clip_grad_norm(&ps, 1.0, f64::INFINITY, true).is_err());
    // Without the check PyTorch scales by NaN.
    let ps = with_grads(&[&[1.0, f64::NAN], &[2.0]]);
    assert!(clip_grad_norm(&ps, 1.0, 2.0, false).unwrap().is_nan());
    assert!(grads(&ps)[1][0].is_nan());
}

#[test]
fn parameters_without_gradients_are_skipped() {
    let ps = [param(&[1.0]), param(&[2.0])];
    assert_eq!(clip_grad_norm(&ps, 1.0, 2.0, true).unwrap(), 0.0);
    set_grad(&ps[1], &[4.0]);
    assert_eq!(clip_grad_norm(&ps, 1.0, 2.0, true).unwrap(), 4.0);
    assert!(ps[0].grad().is_none());
    assert_close(&[total_grad_norm(&ps, 2.0)], &[4.0 / (4.0 + 1e-6)]);
}

#[test]
fn shared_gradient_storage_is_scaled_once() {
    let (a, b) = (param(&[0.0, 0.0]), param(&[0.0, 0.0]));
    let g = Tensor::<f64>::from_vec(vec![3.0, 4.0], &[2]);
    a.set_grad(Some(g.clone()));
    b.set_grad(Some(g.clone()));
    let total = clip_grad_norm([&a, &b], 1.0, 2.0, false).unwrap();
    assert_close(&[total], &[50f64.sqrt()]);
    let c = 1.0 / (50f64.sqrt() + 1e-6);
    assert_close(&a.grad().unwrap().to_vec(), &[3.0 * c, 4.0 * c]);
    assert_close(&b.grad().unwrap().to_vec(), &[3.0 * c, 4.0 * c]);
    assert_eq!(g.to_vec(), vec![3.0, 4.0], "the original gradient tensor is not written");
}

#[test]
fn clip_by_value() {
    let ps = with_grads(&[&[-2.0, 0.1, 5.0, f64::NAN]]);
    clip_grad_value(&ps, 0.5);
    let g = grads(&ps);
    assert_eq!(&g[0][..3], &[-0.5, 0.1, 0.5]);
    assert!(g[0][3].is_nan());
    let msg = panic_message(|| clip_grad_value(&with_grads(&[&[1.0]]), -1.0));
    assert!(msg.contains("clip_grad_value") && msg.contains("-1") && msg.contains("tests/"), "{msg}");
}

#[test]
fn per_layer_norms() {
    let ps = with_grads(&[&[3.0, 4.0], &[-2.0]]);
    let none = param(&[1.0]);
    let named = [("fc.weight", &ps[0]), ("fc.bias", &ps[1]), ("frozen", &none)];
    assert_eq!(grad_norms(named, 2.0), vec![("fc.weight".to_string(), 5.0), ("fc.bias".to_string(), 2.0)]);
    assert_eq!(grad_norms(named, f64::INFINITY)[0].1, 4.0);
}

#[test]
fn adaptive_clipping_is_unit_wise() {
    // A conv-shaped weight [2, 1, 2]: units are the two output channels.
    let w = Tensor::<f64>::from_vec(vec![3.0, 4.0, 0.0, 0.0], &[2, 1, 2]);
    w.set_grad(Some(Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 1, 2])));
    let b = Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2]);
    b.set_grad(Some(Tensor::from_vec(vec![0.001, 0.0], &[2])));
    let clipped = adaptive_clip_grad([&w, &b], 0.1, 1e-3);
    assert_eq!(clipped, 2);
    // Unit 0: ‖w‖ = 5, limit 0.5, ‖g‖ = 1: scaled by 0.5. Unit 1: ‖w‖ = 0 is
    // floored at eps: limit 1e-4, ‖g‖ = 1: scaled to 1e-4. The bias (one
    // unit, ‖g‖ = 0.001 < 0.1) is kept.
    assert_close(&w.grad().unwrap().to_vec(), &[0.5, 0.0, 0.0, 1e-4]);
    assert_eq!(b.grad().unwrap().to_vec(), vec![0.001, 0.0]);
}

#[test]
fn vector_norm_orders() {
    let v = [3.0, -4.0, 0.0];
    assert_eq!(vector_norm(v, 2.0), 5.0);
    assert_eq!(vector_norm(v, 1.0), 7.0);
    assert_eq!(vector_norm(v, f64::INFINITY), 4.0);
    assert_eq!(vector_norm(v, f64::NEG_INFINITY), 0.0);
    assert_eq!(vector_norm(v, 0.0), 2.0);
    assert_close(&[vector_norm(v, 3.0)], &[91f64.powf(1.0 / 3.0)]);
    assert!(vector_norm([1.0, f64::NAN], f64::INFINITY).is_nan());
    assert!(vector_norm([f64::NAN, 1.0], 2.0).is_nan());
}
