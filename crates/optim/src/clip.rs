//! Gradient clipping and normalisation: by total norm (any p, and infinity),
//! by value, unit-wise adaptive clipping (NFNets), and per-layer norms.
//!
//! Clipping replaces each gradient with a new tensor rather than writing into
//! it: a gradient produced by backward may share its storage with another
//! parameter's gradient (both inputs of an addition receive the same tensor),
//! and scaling it in place would scale both twice.

use crate::OptimError;
use lamina_core::{Element, Tensor};

/// The p-norm of `values` as `torch.linalg.vector_norm` defines it: p = ∞ is
/// the largest |x|, −∞ the smallest, 0 the number of non-zeros, otherwise
/// `(Σ|x|^p)^(1/p)`. NaN anywhere gives NaN.
///
/// ```
/// use lamina_optim::vector_norm;
/// assert_eq!(vector_norm([3.0, -4.0], 2.0), 5.0);
/// assert_eq!(vector_norm([3.0, -4.0], 1.0), 7.0);
/// assert_eq!(vector_norm([3.0, -4.0], f64::INFINITY), 4.0);
/// ```
pub fn vector_norm(values: impl IntoIterator<Item = f64>, p: f64) -> f64 {
    let abs = values.into_iter().map(f64::abs);
    if p.is_infinite() {
        let pick = if p > 0.0 { f64::max } else { f64::min };
        let start = if p > 0.0 { 0.0 } else { f64::INFINITY };
        abs.fold(start, |acc, x| if x.is_nan() || acc.is_nan() { f64::NAN } else { pick(acc, x) })
    } else if p == 0.0 {
        abs.map(|x| if x != 0.0 { 1.0 } else { 0.0 }).sum()
    } else if p == 1.0 {
        abs.sum()
    } else if p == 2.0 {
        abs.map(|x| x * x).sum::<f64>().sqrt()
    } else {
        abs.map(|x| x.powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

/// The p-norm of one tensor's values.
fn tensor_norm<E: Element>(t: &Tensor<E>, p: f64) -> f64 {
    vector_norm(t.to_vec().into_iter().map(E::f64), p)
}

/// The parameters that have a gradient, with it.
fn with_grads<'a, E: Element>(params: impl IntoIterator<Item = &'a Tensor<E>>) -> Vec<(&'a Tensor<E>, Tensor<E>)> {
    params.into_iter().filter_map(|p| p.grad().map(|g| (p, g))).collect()
}

/// Replaces `p`'s gradient with `f` applied to each of its values.
fn map_grad<E: Element>(p: &Tensor<E>, g: &Tensor<E>, f: impl Fn(E) -> E) {
    let values = g.to_vec().into_iter().map(f).collect();
    p.set_grad(Some(Tensor::from_vec(values, g.shape())));
}

/// The norm of all gradients together, as if concatenated into one vector
/// (PyTorch takes the norm of the per-parameter norms, which is the same
/// thing); 0 when no parameter has a gradient.
pub fn total_grad_norm<'a, E: Element>(params: impl IntoIterator<Item = &'a Tensor<E>>, norm_type: f64) -> f64 {
    let norms: Vec<f64> = with_grads(params).iter().map(|(_, g)| tensor_norm(g, norm_type)).collect();
    if norms.is_empty() {
        0.0
    } else {
        vector_norm(norms, norm_type)
    }
}

/// Scales all gradients together so that their total `norm_type`-norm is at
/// most `max_norm`, as `torch.nn.utils.clip_grad_norm_`: the factor is
/// `max_norm / (total + 1e-6)`, clamped to 1. Returns the total norm before
/// clipping. With `error_if_nonfinite`, a NaN or infinite total is an error
/// and nothing is changed; without it, the gradients become NaN as in PyTorch.
/// Parameters without a gradient are skipped. `norm_type` may be
/// `f64::INFINITY`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::clip_grad_norm;
/// let w = Tensor::<f64>::zeros(&[2]);
/// w.set_grad(Some(Tensor::from_vec(vec![3.0, 4.0], &[2])));
/// let total = clip_grad_norm([&w], 1.0, 2.0, false).unwrap();
/// assert_eq!(total, 5.0);
/// let g = w.grad().unwrap().to_vec();
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// ```
pub fn clip_grad_norm<'a, E: Element>(
    params: impl IntoIterator<Item = &'a Tensor<E>>,
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<f64, OptimError> {
    let grads = with_grads(params);
    if grads.is_empty() {
        return Ok(0.0);
    }
    let total = vector_norm(grads.iter().map(|(_, g)| tensor_norm(g, norm_type)), norm_type);
    if error_if_nonfinite && !total.is_finite() {
        return Err(OptimError::NonFiniteNorm { norm_type, total_norm: total });
    }
    let coef = max_norm / (total + 1e-6);
    // `torch.clamp(coef, max=1)`: NaN stays NaN.
    if coef < 1.0 || coef.is_nan() {
        let c = E::of(coef);
        for (p, g) in &grads {
            map_grad(p, g, |x| x * c);
        }
    }
    Ok(total)
}

/// Clamps every gradient value into `[-clip_value, clip_value]`, as
/// `torch.nn.utils.clip_grad_value_` (NaN stays NaN).
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::clip_grad_value;
/// let w = Tensor::<f32>::zeros(&[3]);
/// w.set_grad(Some(Tensor::from_vec(vec![-2.0, 0.1, 5.0], &[3])));
/// clip_grad_value([&w], 0.5);
/// assert_eq!(w.grad().unwrap().to_vec(), vec![-0.5, 0.1, 0.5]);
/// ```
#[track_caller]
pub fn clip_grad_value<'a, E: Element>(params: impl IntoIterator<Item = &'a Tensor<E>>, clip_value: f64) {
    if clip_value.is_nan() || clip_value < 0.0 {
        panic!(
            "clip_grad_value: clip_value must be >= 0, got {clip_value} at {}",
            crate::at(std::panic::Location::caller())
        );
    }
    let (lo, hi) = (E::of(-clip_value), E::of(clip_value));
    for (p, g) in with_grads(params) {
        map_grad(p, &g, |x| {
            if x > hi {
                hi
            } else if x < lo {
                lo
            } else {
                x
            }
        });
    }
}

/// Each parameter's gradient norm, by name (parameters without a gradient
/// are left out): the per-layer view for monitoring training.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::grad_norms;
/// let (w, b) = (Tensor::<f64>::zeros(&[2]), Tensor::<f64>::zeros(&[1]));
/// w.set_grad(Some(Tensor::from_vec(vec![3.0, 4.0], &[2])));
/// assert_eq!(grad_norms([("w", &w), ("b", &b)], 2.0), vec![("w".to_string(), 5.0)]);
/// ```
pub fn grad_norms<'a, E: Element, N: AsRef<str>>(
    named_params: impl IntoIterator<Item = (N, &'a Tensor<E>)>,
    norm_type: f64,
) -> Vec<(String, f64)> {
    named_params
        .into_iter()
        .filter_map(|(n, p)| Some((n.as_ref().to_owned(), tensor_norm(&p.grad()?, norm_type))))
        .collect()
}

/// Adaptive gradient clipping, unit-wise (Brock et al. 2021, NFNets): for
/// each output unit (row along dimension 0 of a weight with 2 or more
/// dimensions, the whole tensor otherwise), a gradient whose norm exceeds
/// `clip_factor · max(‖w‖, eps)` is scaled down to that norm. Returns how
/// many units were clipped. The paper uses `clip_factor` 0.01 and `eps` 1e-3.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::adaptive_clip_grad;
/// let w = Tensor::<f64>::from_vec(vec![3.0, 4.0, 0.0, 1.0], &[2, 2]); // row norms 5 and 1
/// w.set_grad(Some(Tensor::from_vec(vec![1.0, 0.0, 0.0, 0.01], &[2, 2])));
/// assert_eq!(adaptive_clip_grad([&w], 0.1, 1e-3), 1); // row 0: 1 > 0.1·5, clipped to 0.5
/// let g = w.grad().unwrap().to_vec();
/// assert!((g[0] - 0.5).abs() < 1e-6 && g[3] == 0.01);
/// ```
pub fn adaptive_clip_grad<'a, E: Element>(
    params: impl IntoIterator<Item = &'a Tensor<E>>,
    clip_factor: f64,
    eps: f64,
) -> usize {
    let mut clipped = 0;
    for (p, g) in with_grads(params) {
        let (w, mut gv) = (p.to_vec(), g.to_vec());
        let unit = if p.ndim() <= 1 { w.len().max(1) } else { w.len() / p.shape()[0].max(1) };
        for (wu, gu) in w.chunks(unit.max(1)).zip(gv.chunks_mut(unit.max(1))) {
            let max_norm = vector_norm(wu.iter().map(|x| x.f64()), 2.0).max(eps) * clip_factor;
            let grad_norm = vector_norm(gu.iter().map(|x| x.f64()), 2.0);
            // `torch.where(grad_norm < max_norm, g, clipped)`: a NaN norm clips.
            if grad_norm.is_nan() || grad_norm >= max_norm {
                clipped += 1;
                let scale = E::of(max_norm / grad_norm.max(1e-6));
                gu.iter_mut().for_each(|x| *x = *x * scale);
            }
        }
        p.set_grad(Some(Tensor::from_vec(gv, g.shape())));
    }
    clipped
}
