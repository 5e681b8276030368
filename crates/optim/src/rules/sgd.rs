//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and
//! weight decay, as `torch.optim.SGD`.

use crate::hyper::{hyperparameters, non_negative, require};
use crate::rule::{decayed, ParamState, Rule};
use crate::OptimError;
use lamina_core::Element;

/// SGD's options, with PyTorch's defaults.
///
/// With momentum μ, dampening τ, weight decay λ and gradient g:
/// `g ← g + λp`; `b ← g` on the first step, else `b ← μb + (1 − τ)g`;
/// `g ← g + μb` (Nesterov) or `g ← b`; `p ← p − lr·g`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{Optimizer, Sgd};
/// let w = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]).requires_grad_(true);
/// let mut opt = Optimizer::new([("w".to_string(), w.clone())], Sgd { lr: 0.1, ..Sgd::default() });
/// w.set_grad(Some(Tensor::from_vec(vec![1.0, -1.0], &[2])));
/// opt.step();
/// assert_eq!(w.to_vec(), vec![0.9, 2.1]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// Momentum factor μ. Default 0 (no momentum buffer).
    pub momentum: f64,
    /// Dampening τ of the gradient added to the momentum buffer. Default 0.
    pub dampening: f64,
    /// L2 penalty λ added to the gradient. Default 0.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum > 0 and dampening 0). Default false.
    pub nesterov: bool,
    /// Ascend instead of descend. Default false.
    pub maximize: bool,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false }
    }
}

hyperparameters!(Sgd, "SGD", { lr, momentum, dampening, weight_decay, nesterov, maximize });

impl Rule for Sgd {
    const BUFFERS: &'static [&'static str] = &["momentum_buffer"];

    fn validate(&self) -> Result<(), OptimError> {
        non_negative("SGD", "lr", self.lr)?;
        non_negative("SGD", "momentum", self.momentum)?;
        non_negative("SGD", "weight_decay", self.weight_decay)?;
        require(
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            "SGD",
            "nesterov",
            "Nesterov momentum requires a momentum and zero dampening",
        )
    }

    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]) {
        state.step += 1;
        let (lr, wd, mu) = (E::of(self.lr), E::of(self.weight_decay), E::of(self.momentum));
        if self.momentum == 0.0 {
            for (p, &g) in param.iter_mut().zip(grad) {
                *p = *p + -lr * decayed(g, *p, self.maximize, wd);
            }
            return;
        }
        let buf = &mut state.buffers[0];
        let first = buf.len() != param.len();
        if first {
            buf.clear();
            buf.extend(param.iter().zip(grad).map(|(&p, &g)| decayed(g, p, self.maximize, wd)));
        }
        let keep = E::of(1.0 - self.dampening);
        for ((p, &g), b) in param.iter_mut().zip(grad).zip(buf.iter_mut()) {
            let g = decayed(g, *p, self.maximize, wd);
            // Stored unconditionally (a select, not a branch), so the loop vectorises.
            let updated = *b * mu + keep * g;
            *b = if first { *b } else { updated };
            let d = if self.nesterov { g + mu * *b } else { *b };
            *p = *p + -lr * d;
        }
    }
}
