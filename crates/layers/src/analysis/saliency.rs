//! What in the input a prediction or a unit responds to: input gradients
//! (saliency maps) and activation maximisation.

use super::{capture_outputs, l2};
use crate::{Forward, Module};
use lamina_core::{grad, no_grad, Element, Generator, GradOptions, Tensor};
use std::panic::Location;

/// The gradient of the scalar `f(x)` with respect to the input `x`, taken at
/// a detached copy of `x`; parameters' `.grad()` are left untouched.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::analysis::input_gradient;
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]);
/// let g = input_gradient(&x, |x| x.square().sum());
/// assert_eq!(g.to_vec(), vec![2.0, 4.0]);
/// ```
#[track_caller]
pub fn input_gradient<E: Element>(x: &Tensor<E>, f: impl FnOnce(&Tensor<E>) -> Tensor<E>) -> Tensor<E> {
    let at = Location::caller();
    let x = x.detach().requires_grad_(true);
    let out = f(&x);
    assert_eq!(
        out.numel(),
        1,
        "input_gradient: the function must return a scalar (shape {:?}) at {}:{}",
        out.shape(),
        at.file(),
        at.line()
    );
    let opts = GradOptions { allow_unused: true, ..GradOptions::default() };
    match grad(&[&out], &[&x], None, opts) {
        Ok(mut g) => g.pop().flatten().unwrap_or_else(|| x.zeros_like()),
        // The output does not depend on x at all (no graph): a zero gradient.
        Err(_) if !out.requires_grad() => x.zeros_like(),
        Err(e) => panic!("input_gradient: {e} at {}:{}", at.file(), at.line()),
    }
}

/// Saliency maps: `|∂ score / ∂ input|` for each example of `x` `[n, ...]`,
/// where the score is the model's output `[n, classes]` at the example's class
/// in `targets`. For images `[n, c, h, w]` the maximum over channels is taken,
/// giving `[n, h, w]`; other inputs keep their shape.
#[track_caller]
pub fn saliency<E: Element, M: Forward<E>>(model: &M, x: &Tensor<E>, targets: &[usize]) -> Tensor<E> {
    let at = Location::caller();
    let g = input_gradient(x, |x| {
        let out = model.forward(x);
        let ok = out.ndim() == 2 && out.shape()[0] == targets.len() && targets.iter().all(|&t| t < out.shape()[1]);
        assert!(
            ok,
            "saliency: the model's output (shape {:?}) must be [n, classes] with a class in range for each of the {} targets at {}:{}",
            out.shape(),
            targets.len(),
            at.file(),
            at.line()
        );
        let classes = out.shape()[1];
        let mut one_hot = vec![0.0; out.numel()];
        for (i, &t) in targets.iter().enumerate() {
            one_hot[i * classes + t] = 1.0;
        }
        (&out * &Tensor::from_f64(&one_hot, out.shape())).sum()
    });
    no_grad(|| {
        let g = g.abs();
        if g.ndim() == 4 {
            g.amax(&[1], false)
        } else {
            g
        }
    })
}

/// Options of [`activation_maximisation`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationMaxConfig {
    /// Gradient-ascent steps (100).
    pub steps: usize,
    /// Length of each step: the gradient is normalised to unit norm, then
    /// scaled by this (0.1).
    pub lr: f64,
    /// After each step the input is multiplied by `1 - weight_decay`, which
    /// keeps it small and its picture clean (0.01).
    pub weight_decay: f64,
    /// Standard deviation of the Gaussian noise the input starts from (0.1).
    pub init_std: f64,
    /// Seed of that noise (0).
    pub seed: u64,
}

impl Default for ActivationMaxConfig {
    fn default() -> Self {
        ActivationMaxConfig { steps: 100, lr: 0.1, weight_decay: 0.01, init_std: 0.1, seed: 0 }
    }
}

/// An input of shape `input_shape` that strongly activates unit `unit` (index
/// along dim 1: a feature or a channel, averaged over the batch and positions)
/// of layer `layer` of `model`, found by normalised gradient ascent on the input.
#[track_caller]
pub fn activation_maximisation<E: Element, M: Forward<E>>(
    model: &M,
    layer: &str,
    unit: usize,
    input_shape: &[usize],
    config: ActivationMaxConfig,
) -> Tensor<E> {
    let at = Location::caller();
    let dyn_model: &dyn Module<E> = model;
    let layers = [layer.to_owned()];
    let mut g = Generator::new(config.seed);
    let mut x = Tensor::<E>::randn_with(input_shape, &mut g) * E::of(config.init_std);
    for _ in 0..config.steps {
        let grad = input_gradient(&x, |xr| {
            let y = capture_outputs(("activation_maximisation", at), dyn_model, &layers, false, || {
                model.forward(xr);
            })
            .pop()
            .flatten()
            .unwrap_or_else(|| {
                panic!("activation_maximisation: layer {layer:?} did not run at {}:{}", at.file(), at.line())
            });
            assert!(
                y.ndim() >= 2 && unit < y.shape()[1],
                "activation_maximisation: no unit {unit} in layer {layer:?} (output shape {:?}) at {}:{}",
                y.shape(),
                at.file(),
                at.line()
            );
            y.narrow(1, unit, 1).mean()
        });
        let norm = l2(&grad.to_f64_vec());
        x = no_grad(|| (&x + &(grad * E::of(config.lr / (norm + 1e-12)))) * E::of(1.0 - config.weight_decay));
    }
    x
}
