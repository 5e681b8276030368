//! Per-element adaptive rates without Adam's first moment: RMSprop, Adagrad
//! and Adadelta, as their `torch.optim` classes compute them.

use crate::hyper::{hyperparameters, non_negative, require};
use crate::rule::{decayed, ensure, lerp, ParamState, Rule};
use crate::OptimError;
use lamina_core::Element;

/// RMSprop's options, with PyTorch's defaults.
///
/// `v ← αv + (1 − α)g²`; centred: `ḡ ← αḡ + (1 − α)g`, `d = √(v − ḡ²) + ε`,
/// else `d = √v + ε`; with momentum μ: `b ← μb + g/d`, `p ← p − lr·b`, else
/// `p ← p − lr·g/d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rmsprop {
    /// Learning rate. Default 1e-2.
    pub lr: f64,
    /// Smoothing constant α. Default 0.99.
    pub alpha: f64,
    /// Added to the denominator. Default 1e-8.
    pub eps: f64,
    /// L2 penalty added to the gradient. Default 0.
    pub weight_decay: f64,
    /// Momentum factor μ. Default 0.
    pub momentum: f64,
    /// Normalise by the estimated variance instead of the second moment. Default false.
    pub centered: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Rmsprop {
    fn default() -> Self {
        Rmsprop { lr: 1e-2, alpha: 0.99, eps: 1e-8, weight_decay: 0.0, momentum: 0.0, centered: false, maximize: false }
    }
}

hyperparameters!(Rmsprop, "RMSprop", { lr, alpha, eps, weight_decay, momentum, centered, maximize });

impl Rule for Rmsprop {
    const BUFFERS: &'static [&'static str] = &["square_avg", "grad_avg", "momentum_buffer"];

    fn validate(&self) -> Result<(), OptimError> {
        non_negative("RMSprop", "lr", self.lr)?;
        non_negative("RMSprop", "eps", self.eps)?;
        non_negative("RMSprop", "momentum", self.momentum)?;
        non_negative("RMSprop", "weight_decay", self.weight_decay)?;
        non_negative("RMSprop", "alpha", self.alpha)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let (alpha, one_minus_alpha) = (E::of(self.alpha), E::of(1.0 - self.alpha));
        let (neg_lr, eps, wd, mu) = (E::of(-self.lr), E::of(self.eps), E::of(self.weight_decay), E::of(self.momentum));
        let [sq, avg, buf] = &mut state.buffers[..] else { unreachable!("RMSprop has three buffers") };
        let sq = ensure(sq, n, E::zero());
        let mut avg = self.centered.then(|| ensure(avg, n, E::zero()));
        let mut buf = (self.momentum > 0.0).then(|| ensure(buf, n, E::zero()));
        for i in 0..n {
            let g = decayed(grad[i], param[i], self.maximize, wd);
            sq[i] = sq[i] * alpha + one_minus_alpha * g * g;
            let d = match avg.as_deref_mut() {
                Some(avg) => {
                    avg[i] = lerp(avg[i], g, one_minus_alpha);
                    (sq[i] + -E::one() * avg[i] * avg[i]).sqrt()
                }
                None => sq[i].sqrt(),
            } + eps;
            match buf.as_deref_mut() {
                Some(buf) => {
                    buf[i] = buf[i] * mu + g / d;
                    param[i] = param[i] + neg_lr * buf[i];
                }
                None => param[i] = param[i] + neg_lr * g / d,
            }
        }
    }
}

/// Adagrad's options, with PyTorch's defaults.
///
/// `s ← s + g²`, `p ← p − lr/(1 + (t − 1)·lr_decay) · g/(√s + ε)`, with `s`
/// starting at `initial_accumulator_value`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adagrad {
    /// Learning rate. Default 1e-2.
    pub lr: f64,
    /// Learning-rate decay per step. Default 0.
    pub lr_decay: f64,
    /// L2 penalty added to the gradient. Default 0.
    pub weight_decay: f64,
    /// Starting value of the sum of squares. Default 0.
    pub initial_accumulator_value: f64,
    /// Added to the denominator. Default 1e-10.
    pub eps: f64,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

hyperparameters!(Adagrad, "Adagrad", { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize });

impl Rule for Adagrad {
    const BUFFERS: &'static [&'static str] = &["sum"];

    fn validate(&self) -> Result<(), OptimError> {
        non_negative("Adagrad", "lr", self.lr)?;
        non_negative("Adagrad", "lr_decay", self.lr_decay)?;
        non_negative("Adagrad", "weight_decay", self.weight_decay)?;
        non_negative("Adagrad", "initial_accumulator_value", self.initial_accumulator_value)?;
        non_negative("Adagrad", "eps", self.eps)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let clr = E::of(-(self.lr / (1.0 + (state.step - 1) as f64 * self.lr_decay)));
        let (eps, wd) = (E::of(self.eps), E::of(self.weight_decay));
        let sum = ensure(&mut state.buffers[0], n, E::of(self.initial_accumulator_value));
        for i in 0..n {
            let g = decayed(grad[i], param[i], self.maximize, wd);
            sum[i] = sum[i] + g * g;
            param[i] = param[i] + clr * g / (sum[i].sqrt() + eps);
        }
    }
}

/// Adadelta's options, with PyTorch's defaults.
///
/// `v ← ρv + (1 − ρ)g²`, `δ = √(u + ε)/√(v + ε) · g`, `u ← ρu + (1 − ρ)δ²`,
/// `p ← p − lr·δ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adadelta {
    /// Scale of the update. Default 1.0.
    pub lr: f64,
    /// Decay rate ρ of both running averages. Default 0.9.
    pub rho: f64,
    /// Added inside both square roots. Default 1e-6.
    pub eps: f64,
    /// L2 penalty added to the gradient. Default 0.
    pub weight_decay: f64,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta { lr: 1.0, rho: 0.9, eps: 1e-6, weight_decay: 0.0, maximize: false }
    }
}

hyperparameters!(Adadelta, "Adadelta", { lr, rho, eps, weight_decay, maximize });

impl Rule for Adadelta {
    const BUFFERS: &'static [&'static str] = &["square_avg", "acc_delta"];

    fn validate(&self) -> Result<(), OptimError> {
        non_negative("Adadelta", "lr", self.lr)?;
        require((0.0..=1.0).contains(&self.rho), "Adadelta", "rho", format!("must be in [0, 1], got {}", self.rho))?;
        non_negative("Adadelta", "eps", self.eps)?;
        non_negative("Adadelta", "weight_decay", self.weight_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let (rho, one_minus_rho) = (E::of(self.rho), E::of(1.0 - self.rho));
        let (neg_lr, eps, wd) = (E::of(-self.lr), E::of(self.eps), E::of(self.weight_decay));
        let [sq, acc] = &mut state.buffers[..] else { unreachable!("Adadelta has two buffers") };
        let (sq, acc) = (ensure(sq, n, E::zero()), ensure(acc, n, E::zero()));
        for i in 0..n {
            let g = decayed(grad[i], param[i], self.maximize, wd);
            sq[i] = sq[i] * rho + one_minus_rho * g * g;
            let std = (sq[i] + eps).sqrt();
            let delta = (acc[i] + eps).sqrt() / std * g;
            acc[i] = acc[i] * rho + one_minus_rho * delta * delta;
            param[i] = param[i] + neg_lr * delta;
        }
    }
}
