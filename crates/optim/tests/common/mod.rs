//! Helpers shared by lamina-optim's tests.
#![allow(dead_code)] // each test file uses part of them

use lamina_core::Tensor;
use lamina_optim::{Optimizer, Rule};

/// A 1-D f64 parameter that requires grad.
pub fn param(values: &[f64]) -> Tensor<f64> {
    Tensor::from_vec(values.to_vec(), &[values.len()]).requires_grad_(true)
}

/// Sets `p`'s gradient.
pub fn set_grad(p: &Tensor<f64>, g: &[f64]) {
    p.set_grad(Some(Tensor::from_vec(g.to_vec(), p.shape())));
}

/// One optimizer step on a single parameter with gradient `g`; the new values.
pub fn step<R: Rule>(opt: &mut Optimizer<R, f64>, p: &Tensor<f64>, g: &[f64]) -> Vec<f64> {
    set_grad(p, g);
    opt.step();
    p.to_vec()
}

/// An optimizer over one parameter named `w`.
pub fn single<R: Rule>(values: &[f64], rule: R) -> (Tensor<f64>, Optimizer<R, f64>) {
    let p = param(values);
    let opt = Optimizer::new([("w", p.clone())], rule);
    (p, opt)
}

/// Asserts `got` matches `want` element-wise to 1e-12 (relative to the value).
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "lengths differ: got {got:?}, want {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "element {i}: got {g:.17e}, want {w:.17e}");
    }
}

/// The panic message of `f`, which must panic.
pub fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
