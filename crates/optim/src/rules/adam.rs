//! The Adam family: Adam (with AMSGrad and the decoupled option), AdamW,
//! Adamax, NAdam and RAdam, each as its `torch.optim` class computes it.

use crate::hyper::{betas_in_range, hyperparameters, non_negative};
use crate::rule::{bias_correction, decayed, ensure, lerp, maximum, ParamState, Rule};
use crate::OptimError;
use lamina_core::Element;

/// The checks every Adam-family rule shares.
fn validate_adam(
    name: &'static str,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
) -> Result<(), OptimError> {
    non_negative(name, "lr", lr)?;
    non_negative(name, "eps", eps)?;
    betas_in_range(name, betas)?;
    non_negative(name, "weight_decay", weight_decay)
}

/// The gradient after `maximize` and coupled (L2) weight decay; with
/// `decoupled`, the decay shrinks the parameter instead (`p ← p(1 − lr·λ)`).
#[inline(always)]
fn adam_grad<E: Element>(p: &mut E, g: E, maximize: bool, weight_decay: E, decoupled: Option<E>) -> E {
    // Selects and unconditional stores, not branches, so the loop vectorises
    // (a shrink of 1 leaves `p` exactly as it is).
    *p = *p * decoupled.unwrap_or(E::one());
    let coupled = decayed(g, *p, maximize, weight_decay);
    let plain = if maximize { -g } else { g };
    if decoupled.is_some() {
        plain
    } else {
        coupled
    }
}

/// The decoupled shrink factor `1 − lr·λ`, when decoupled decay is on.
fn shrink<E: Element>(decoupled: bool, lr: f64, weight_decay: f64) -> Option<E> {
    (decoupled && weight_decay != 0.0).then(|| E::of(1.0 - lr * weight_decay))
}

/// `m ← lerp(m, g, 1 − β1)`, `v ← β2·v + (1 − β2)·g²`.
#[inline(always)]
fn moments<E: Element>(m: &mut E, v: &mut E, g: E, c: &Coefs<E>) {
    *m = lerp(*m, g, c.one_minus_b1);
    *v = *v * c.b2 + c.one_minus_b2 * g * g;
}

/// The betas of a step in the element type.
struct Coefs<E> {
    one_minus_b1: E,
    b2: E,
    one_minus_b2: E,
}

impl<E: Element> Coefs<E> {
    fn new((b1, b2): (f64, f64)) -> Self {
        Coefs { one_minus_b1: E::of(1.0 - b1), b2: E::of(b2), one_minus_b2: E::of(1.0 - b2) }
    }
}

/// Adam's options, with PyTorch's defaults.
///
/// `m ← β1 m + (1 − β1) g`, `v ← β2 v + (1 − β2) g²`,
/// `p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)`: ε is added after the
/// bias correction of √v, as PyTorch does. With `amsgrad`, √v uses the running
/// maximum of v. Weight decay is added to the gradient (L2), or with
/// `decoupled_weight_decay` shrinks the parameter as AdamW does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// Decay rates (β1, β2) of the moment averages. Default (0.9, 0.999).
    pub betas: (f64, f64),
    /// Added to the denominator. Default 1e-8.
    pub eps: f64,
    /// Weight decay λ. Default 0.
    pub weight_decay: f64,
    /// Use the running maximum of v (AMSGrad). Default false.
    pub amsgrad: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
    /// Decay the weights directly (AdamW) rather than through the gradient. Default false.
    pub decoupled_weight_decay: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

hyperparameters!(Adam, "Adam", { lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay });

impl Rule for Adam {
    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    fn validate(&self) -> Result<(), OptimError> {
        validate_adam("Adam", self.lr, self.betas, self.eps, self.weight_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        adam_update(self, state, param, grad);
    }
}

/// AdamW's options: Adam with decoupled weight decay, default λ = 1e-2.
///
/// `p ← p(1 − lr·λ)`, then Adam's update with the raw gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// Decay rates (β1, β2). Default (0.9, 0.999).
    pub betas: (f64, f64),
    /// Added to the denominator. Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay λ. Default 1e-2.
    pub weight_decay: f64,
    /// Use the running maximum of v (AMSGrad). Default false.
    pub amsgrad: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 1e-2, amsgrad: false, maximize: false }
    }
}

hyperparameters!(AdamW, "AdamW", { lr, betas, eps, weight_decay, amsgrad, maximize });

impl AdamW {
    /// The same update as an [`Adam`] with decoupled weight decay.
    pub fn as_adam(&self) -> Adam {
        Adam {
            lr: self.lr,
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            amsgrad: self.amsgrad,
            maximize: self.maximize,
            decoupled_weight_decay: true,
        }
    }
}

impl Rule for AdamW {
    const BUFFERS: &'static [&'static str] = Adam::BUFFERS;

    fn validate(&self) -> Result<(), OptimError> {
        validate_adam("AdamW", self.lr, self.betas, self.eps, self.weight_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        adam_update(&self.as_adam(), state, param, grad);
    }
}

fn adam_update<E: Element>(o: &Adam, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
    state.step += 1;
    let n = param.len();
    let step_size = o.lr / bias_correction(o.betas.0, state.step);
    let bc2_sqrt = E::of(bias_correction(o.betas.1, state.step).sqrt());
    let (neg_step, eps, wd) = (E::of(-step_size), E::of(o.eps), E::of(o.weight_decay));
    let shrink = shrink(o.decoupled_weight_decay, o.lr, o.weight_decay);
    let c = Coefs::new(o.betas);
    let [m, v, vmax] = &mut state.buffers[..] else { unreachable!("Adam has three buffers") };
    let (m, v) = (ensure(m, n, E::zero()), ensure(v, n, E::zero()));
    let vmax = o.amsgrad.then(|| ensure(vmax, n, E::zero()));
    let step = |p: &mut E, g: E, m: &mut E, v: &mut E, vmax: Option<&mut E>| {
        let g = adam_grad(p, g, o.maximize, wd, shrink);
        moments(m, v, g, &c);
        let second = match vmax {
            Some(vmax) => {
                *vmax = maximum(*vmax, *v);
                *vmax
            }
            None => *v,
        };
        let denom = second.sqrt() / bc2_sqrt + eps;
        *p = *p + neg_step * *m / denom;
    };
    // Two loops, so the usual one (no AMSGrad) has no branch in it.
    let (param, grad, m, v) = (&mut param[..n], &grad[..n], &mut m[..n], &mut v[..n]);
    match vmax {
        Some(vmax) => (0..n).for_each(|i| step(&mut param[i], grad[i], &mut m[i], &mut v[i], Some(&mut vmax[i]))),
        None => (0..n).for_each(|i| step(&mut param[i], grad[i], &mut m[i], &mut v[i], None)),
    }
}

/// Adamax's options (Adam with the infinity norm), with PyTorch's defaults.
///
/// `m ← β1 m + (1 − β1) g`, `u ← max(β2 u, |g| + ε)`, `p ← p − lr/(1 − β1ᵗ) · m/u`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adamax {
    /// Learning rate. Default 2e-3.
    pub lr: f64,
    /// Decay rates (β1, β2). Default (0.9, 0.999).
    pub betas: (f64, f64),
    /// Added to |g| before the maximum. Default 1e-8.
    pub eps: f64,
    /// L2 penalty added to the gradient. Default 0.
    pub weight_decay: f64,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax { lr: 2e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, maximize: false }
    }
}

hyperparameters!(Adamax, "Adamax", { lr, betas, eps, weight_decay, maximize });

impl Rule for Adamax {
    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_inf"];

    fn validate(&self) -> Result<(), OptimError> {
        validate_adam("Adamax", self.lr, self.betas, self.eps, self.weight_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let clr = E::of(-(self.lr / bias_correction(self.betas.0, state.step)));
        let (eps, wd, b2) = (E::of(self.eps), E::of(self.weight_decay), E::of(self.betas.1));
        let one_minus_b1 = E::of(1.0 - self.betas.0);
        let [m, u] = &mut state.buffers[..] else { unreachable!("Adamax has two buffers") };
        let (m, u) = (ensure(m, n, E::zero()), ensure(u, n, E::zero()));
        for i in 0..n {
            let g = decayed(grad[i], param[i], self.maximize, wd);
            m[i] = lerp(m[i], g, one_minus_b1);
            u[i] = maximum(u[i] * b2, g.abs() + eps);
            param[i] = param[i] + clr * m[i] / u[i];
        }
    }
}

/// NAdam's options (Adam with Nesterov momentum), with PyTorch's defaults.
///
/// With `μₜ = β1(1 − ½·0.96^(t·ψ))` (ψ = `momentum_decay`) and `Πₜ = μ₁⋯μₜ`:
/// `p ← p − lr(1 − μₜ)/(1 − Πₜ) · g/d − lr·μₜ₊₁/(1 − Πₜμₜ₊₁) · m/d`,
/// `d = √(v/(1 − β2ᵗ)) + ε`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NAdam {
    /// Learning rate. Default 2e-3.
    pub lr: f64,
    /// Decay rates (β1, β2). Default (0.9, 0.999).
    pub betas: (f64, f64),
    /// Added to the denominator. Default 1e-8.
    pub eps: f64,
    /// Weight decay λ. Default 0.
    pub weight_decay: f64,
    /// Momentum decay ψ. Default 4e-3.
    pub momentum_decay: f64,
    /// Decay the weights directly instead of through the gradient. Default false.
    pub decoupled_weight_decay: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for NAdam {
    fn default() -> Self {
        NAdam {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

hyperparameters!(NAdam, "NAdam", { lr, betas, eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize });

impl Rule for NAdam {
    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_avg_sq"];
    const SCALARS: &'static [(&'static str, f64)] = &[("mu_product", 1.0)];

    fn validate(&self) -> Result<(), OptimError> {
        validate_adam("NAdam", self.lr, self.betas, self.eps, self.weight_decay)?;
        non_negative("NAdam", "momentum_decay", self.momentum_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let (b1, t) = (self.betas.0, state.step as f64);
        let bc2 = E::of(bias_correction(self.betas.1, state.step));
        let mu = b1 * (1.0 - 0.5 * 0.96f64.powf(t * self.momentum_decay));
        let mu_next = b1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * self.momentum_decay));
        state.scalars[0] *= mu;
        let mu_product = state.scalars[0];
        let c_grad = E::of(-self.lr * (1.0 - mu) / (1.0 - mu_product));
        let c_avg = E::of(-self.lr * mu_next / (1.0 - mu_product * mu_next));
        let (eps, wd) = (E::of(self.eps), E::of(self.weight_decay));
        let shrink = shrink(self.decoupled_weight_decay, self.lr, self.weight_decay);
        let c = Coefs::new(self.betas);
        let [m, v] = &mut state.buffers[..] else { unreachable!("NAdam has two buffers") };
        let (m, v) = (ensure(m, n, E::zero()), ensure(v, n, E::zero()));
        for i in 0..n {
            let p = &mut param[i];
            let g = adam_grad(p, grad[i], self.maximize, wd, shrink);
            moments(&mut m[i], &mut v[i], g, &c);
            let denom = (v[i] / bc2).sqrt() + eps;
            *p = *p + c_grad * g / denom;
            *p = *p + c_avg * m[i] / denom;
        }
    }
}

/// RAdam's options (rectified Adam), with PyTorch's defaults.
///
/// With `ρ∞ = 2/(1 − β2) − 1` and `ρₜ = ρ∞ − 2tβ2ᵗ/(1 − β2ᵗ)`: when `ρₜ > 5`,
/// `p ← p − lr · m/(1 − β1ᵗ) · √(1 − β2ᵗ)/(√v + ε) · r`,
/// `r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ))`; otherwise
/// `p ← p − lr · m/(1 − β1ᵗ)` (momentum SGD while the variance is untrustworthy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RAdam {
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// Decay rates (β1, β2). Default (0.9, 0.999).
    pub betas: (f64, f64),
    /// Added to the denominator. Default 1e-8.
    pub eps: f64,
    /// Weight decay λ. Default 0.
    pub weight_decay: f64,
    /// Decay the weights directly instead of through the gradient. Default false.
    pub decoupled_weight_decay: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for RAdam {
    fn default() -> Self {
        RAdam {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

hyperparameters!(RAdam, "RAdam", { lr, betas, eps, weight_decay, decoupled_weight_decay, maximize });

impl Rule for RAdam {
    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_avg_sq"];

    fn validate(&self) -> Result<(), OptimError> {
        validate_adam("RAdam", self.lr, self.betas, self.eps, self.weight_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let (b2, t) = (self.betas.1, state.step as f64);
        let bc1 = E::of(bias_correction(self.betas.0, state.step));
        let bc2 = bias_correction(b2, state.step);
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * b2.powf(t) / bc2;
        let rect = (rho_t > 5.0).then(|| {
            E::of(((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).sqrt())
        });
        let (lr, eps, wd, bc2_sqrt) = (E::of(self.lr), E::of(self.eps), E::of(self.weight_decay), E::of(bc2.sqrt()));
        let shrink = shrink(self.decoupled_weight_decay, self.lr, self.weight_decay);
        let c = Coefs::new(self.betas);
        let [m, v] = &mut state.buffers[..] else { unreachable!("RAdam has two buffers") };
        let (m, v) = (ensure(m, n, E::zero()), ensure(v, n, E::zero()));
        for i in 0..n {
            let p = &mut param[i];
            let g = adam_grad(p, grad[i], self.maximize, wd, shrink);
            moments(&mut m[i], &mut v[i], g, &c);
            let corrected = m[i] / bc1 * lr;
            let d = match rect {
                Some(r) => corrected * (bc2_sqrt / (v[i].sqrt() + eps)) * r,
                None => corrected,
            };
            *p = *p - d;
        }
    }
}
