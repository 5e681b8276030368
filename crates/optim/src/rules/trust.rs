//! Layer-wise trust ratios, which PyTorch does not ship: LAMB (You et al.
//! 2019) and LARS (You et al. 2017) scale each parameter tensor's step by the
//! ratio of its weight norm to its update norm.

use crate::hyper::{betas_in_range, hyperparameters, non_negative};
use crate::rule::{bias_correction, ensure, norm2, ParamState, Rule};
use crate::OptimError;
use lamina_core::Element;

/// `‖w‖ / ‖u‖`, or 1 when either norm is 0 (a fresh zero tensor, or no update).
fn trust_ratio(weight_norm: f64, update_norm: f64) -> f64 {
    if weight_norm > 0.0 && update_norm > 0.0 {
        weight_norm / update_norm
    } else {
        1.0
    }
}

/// LAMB's options (Adam with a layer-wise trust ratio), with the paper's defaults.
///
/// `m ← β1 m + (1 − β1) g`, `v ← β2 v + (1 − β2) g²`,
/// `r = (m/(1 − β1ᵗ)) / (√(v/(1 − β2ᵗ)) + ε)`, `u = r + λp`,
/// `p ← p − lr · ‖p‖/‖u‖ · u` (ratio 1 when a norm is 0). Each parameter
/// tensor is one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lamb {
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// Decay rates (β1, β2). Default (0.9, 0.999).
    pub betas: (f64, f64),
    /// Added to the denominator. Default 1e-6.
    pub eps: f64,
    /// Weight decay λ, added to the update before the trust ratio. Default 0.
    pub weight_decay: f64,
    /// Divide the moments by their bias corrections. Default true.
    pub bias_correction: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Lamb {
    fn default() -> Self {
        Lamb { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-6, weight_decay: 0.0, bias_correction: true, maximize: false }
    }
}

hyperparameters!(Lamb, "LAMB", { lr, betas, eps, weight_decay, bias_correction, maximize });

impl Rule for Lamb {
    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_avg_sq"];

    fn validate(&self) -> Result<(), OptimError> {
        non_negative("LAMB", "lr", self.lr)?;
        non_negative("LAMB", "eps", self.eps)?;
        betas_in_range("LAMB", self.betas)?;
        non_negative("LAMB", "weight_decay", self.weight_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let (b1, b2) = self.betas;
        let (bc1, bc2) = if self.bias_correction {
            (bias_correction(b1, state.step), bias_correction(b2, state.step))
        } else {
            (1.0, 1.0)
        };
        let (bc1, bc2, eps, wd) = (E::of(bc1), E::of(bc2), E::of(self.eps), E::of(self.weight_decay));
        let (eb1, eb2, c1, c2) = (E::of(b1), E::of(b2), E::of(1.0 - b1), E::of(1.0 - b2));
        let [m, v] = &mut state.buffers[..] else { unreachable!("LAMB has two buffers") };
        let (m, v) = (ensure(m, n, E::zero()), ensure(v, n, E::zero()));
        for i in 0..n {
            let g = if self.maximize { -grad[i] } else { grad[i] };
            m[i] = m[i] * eb1 + c1 * g;
            v[i] = v[i] * eb2 + c2 * g * g;
        }
        // The update, computed once for its norm and once to apply it, so that
        // no scratch buffer is allocated.
        let u = |i: usize, p: E| (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps) + wd * p;
        let update_norm = (0..n).map(|i| u(i, param[i]).f64().powi(2)).sum::<f64>().sqrt();
        let scale = E::of(-self.lr * trust_ratio(norm2(param), update_norm));
        for i in 0..n {
            param[i] = param[i] + scale * u(i, param[i]);
        }
    }
}

/// LARS's options (momentum SGD with a layer-wise rate).
///
/// `η_l = η‖p‖/(‖g‖ + λ‖p‖ + ε)` (1 when a norm is 0),
/// `b ← μb + lr·η_l·(g + λp)`, `p ← p − b`, with `b` starting at 0. Biases and
/// norm weights usually go in a group with `adapt` false and no weight decay
/// (see [`GroupSpec`](crate::GroupSpec)), where `η_l = 1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lars {
    /// Global learning rate. Default 0.1.
    pub lr: f64,
    /// Momentum factor μ. Default 0.9.
    pub momentum: f64,
    /// Weight decay λ. Default 0.
    pub weight_decay: f64,
    /// Trust coefficient η. Default 1e-3.
    pub trust_coefficient: f64,
    /// Added to the denominator of the local rate. Default 0.
    pub eps: f64,
    /// Scale by the local rate; false makes this group plain momentum SGD. Default true.
    pub adapt: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Lars {
    fn default() -> Self {
        Lars {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            trust_coefficient: 1e-3,
            eps: 0.0,
            adapt: true,
            maximize: false,
        }
    }
}

hyperparameters!(Lars, "LARS", { lr, momentum, weight_decay, trust_coefficient, eps, adapt, maximize });

impl Rule for Lars {
    const BUFFERS: &'static [&'static str] = &["momentum_buffer"];

    fn validate(&self) -> Result<(), OptimError> {
        non_negative("LARS", "lr", self.lr)?;
        non_negative("LARS", "momentum", self.momentum)?;
        non_negative("LARS", "weight_decay", self.weight_decay)?;
        non_negative("LARS", "trust_coefficient", self.trust_coefficient)?;
        non_negative("LARS", "eps", self.eps)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let (wn, gn) = if self.adapt { (norm2(param), norm2(grad)) } else { (0.0, 0.0) };
        let local = if wn > 0.0 && gn > 0.0 {
            self.trust_coefficient * wn / (gn + self.weight_decay * wn + self.eps)
        } else {
            1.0
        };
        let (scale, wd, mu) = (E::of(self.lr * local), E::of(self.weight_decay), E::of(self.momentum));
        let buf = ensure(&mut state.buffers[0], n, E::zero());
        for i in 0..n {
            let g = if self.maximize { -grad[i] } else { grad[i] };
            buf[i] = buf[i] * mu + scale * (g + wd * param[i]);
            param[i] = param[i] - buf[i];
        }
    }
}
