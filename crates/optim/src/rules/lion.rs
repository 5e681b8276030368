//! Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):
//! the sign of an interpolated momentum, which PyTorch does not ship.

use crate::hyper::{betas_in_range, hyperparameters, non_negative};
use crate::rule::{ParamState, Rule};
use crate::OptimError;
use lamina_core::Element;

/// Lion's options, with the paper's defaults.
///
/// `c = β1 m + (1 − β1) g`, `p ← p(1 − lr·λ) − lr·sign(c)`,
/// `m ← β2 m + (1 − β2) g`. Every element moves by exactly `lr` (or 0), so
/// Lion wants a learning rate 3–10× smaller than AdamW's and a larger λ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lion {
    /// Learning rate. Default 1e-4.
    pub lr: f64,
    /// Interpolation β1 of the update and decay β2 of the momentum. Default (0.9, 0.99).
    pub betas: (f64, f64),
    /// Decoupled weight decay λ. Default 0.
    pub weight_decay: f64,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Lion {
    fn default() -> Self {
        Lion { lr: 1e-4, betas: (0.9, 0.99), weight_decay: 0.0, maximize: false }
    }
}

hyperparameters!(Lion, "Lion", { lr, betas, weight_decay, maximize });

/// `torch.sign`: -1, 0 or 1 (NaN stays NaN).
fn sign<E: Element>(x: E) -> E {
    if x > E::zero() {
        E::one()
    } else if x < E::zero() {
        -E::one()
    } else {
        x
    }
}

impl Rule for Lion {
    const BUFFERS: &'static [&'static str] = &["exp_avg"];

    fn validate(&self) -> Result<(), OptimError> {
        non_negative("Lion", "lr", self.lr)?;
        betas_in_range("Lion", self.betas)?;
        non_negative("Lion", "weight_decay", self.weight_decay)
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let n = param.len();
        let (b1, b2) = (E::of(self.betas.0), E::of(self.betas.1));
        let (c1, c2) = (E::of(1.0 - self.betas.0), E::of(1.0 - self.betas.1));
        let (neg_lr, shrink) = (E::of(-self.lr), E::of(1.0 - self.lr * self.weight_decay));
        let m = crate::rule::ensure(&mut state.buffers[0], n, E::zero());
        for i in 0..n {
            let g = if self.maximize { -grad[i] } else { grad[i] };
            if self.weight_decay != 0.0 {
                param[i] = param[i] * shrink;
            }
            param[i] = param[i] + neg_lr * sign(m[i] * b1 + c1 * g);
            m[i] = m[i] * b2 + c2 * g;
        }
    }
}
