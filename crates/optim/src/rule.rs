//! What an update rule is: hyperparameters, per-parameter state buffers, and
//! the in-place update of one parameter from its gradient.

use crate::hyper::Hyperparameters;
use crate::{HyperValue, OptimError};
use lamina_core::Element;

/// What an optimizer remembers about one parameter between steps.
///
/// `buffers[i]` is the buffer named `R::BUFFERS[i]` (PyTorch's state key, e.g.
/// `exp_avg`), one value per element; an empty buffer has not been created yet
/// (SGD's `momentum_buffer` before the first step, Adam's `max_exp_avg_sq`
/// without `amsgrad`). `scalars[i]` is the scalar named `R::SCALARS[i].0`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamState<E: Element> {
    /// How many updates this parameter has had.
    pub step: u64,
    /// Per-element buffers, in the rule's `BUFFERS` order.
    pub buffers: Vec<Vec<E>>,
    /// Scalar state, in the rule's `SCALARS` order.
    pub scalars: Vec<f64>,
}

/// An update rule (SGD, Adam, ...) together with the hyperparameters of one
/// parameter group. Implement it to add an optimizer: state buffers are
/// created, saved and loaded by [`Optimizer`](crate::Optimizer).
pub trait Rule: Hyperparameters {
    /// The names of the per-element state buffers (PyTorch's state keys).
    const BUFFERS: &'static [&'static str];
    /// The names and initial values of scalar state.
    const SCALARS: &'static [(&'static str, f64)] = &[];

    /// Checks every option's range, as PyTorch's constructor does.
    fn validate(&self) -> Result<(), OptimError>;

    /// The value momentum-cycling schedulers move: the `momentum` option, or
    /// else β1 of `betas` (PyTorch's `use_beta1`); `None` when the rule has
    /// neither.
    fn momentum(&self) -> Option<f64> {
        match (self.get("momentum"), self.get("betas")) {
            (Some(HyperValue::Num(m)), _) | (_, Some(HyperValue::Pair(m, _))) => Some(m),
            _ => None,
        }
    }

    /// Sets what [`momentum`](Rule::momentum) reads; does nothing when the
    /// rule has no momentum.
    fn set_momentum(&mut self, momentum: f64) {
        let set = match (self.get("momentum"), self.get("betas")) {
            (Some(HyperValue::Num(_)), _) => self.set_unchecked("momentum", momentum.into()),
            (_, Some(HyperValue::Pair(_, b2))) => self.set_unchecked("betas", (momentum, b2).into()),
            _ => Ok(()),
        };
        set.expect("the option was just read");
    }

    /// Updates `param` in place from `grad` (same length, row-major), reading
    /// and advancing `state`.
    fn update<E: Element>(&self, state: &mut ParamState<E>, param: &mut [E], grad: &[E]);

    /// Sets the option `key`, refusing values of the wrong kind or range (the
    /// rule is unchanged on error).
    fn set(&mut self, key: &str, value: HyperValue) -> Result<(), OptimError> {
        let mut next = *self;
        next.set_unchecked(key, value)?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// A fresh state: step 0, no buffers, scalars at their initial values.
    fn new_state<E: Element>(&self) -> ParamState<E> {
        ParamState {
            step: 0,
            buffers: vec![Vec::new(); Self::BUFFERS.len()],
            scalars: Self::SCALARS.iter().map(|s| s.1).collect(),
        }
    }
}

/// The buffer, created with `init` in every element if it does not exist yet.
pub(crate) fn ensure<E: Element>(buf: &mut Vec<E>, n: usize, init: E) -> &mut [E] {
    if buf.len() != n {
        buf.clear();
        buf.resize(n, init);
    }
    buf
}

/// The gradient a rule works with: negated under `maximize`, plus
/// `weight_decay * param` (PyTorch's `grad.add(param, alpha=weight_decay)`).
#[inline(always)]
pub(crate) fn decayed<E: Element>(g: E, p: E, maximize: bool, weight_decay: E) -> E {
    // Selects, not branches, so update loops vectorise.
    let g = if maximize { -g } else { g };
    let decayed = g + weight_decay * p;
    if weight_decay != E::zero() {
        decayed
    } else {
        g
    }
}

/// `torch.lerp(a, b, w)` as ATen computes it (two forms for accuracy).
#[inline(always)]
pub(crate) fn lerp<E: Element>(a: E, b: E, w: E) -> E {
    if w.abs() < E::of(0.5) {
        a + w * (b - a)
    } else {
        b - (b - a) * (E::one() - w)
    }
}

/// `torch.maximum`: like `max`, but NaN wins.
#[inline(always)]
pub(crate) fn maximum<E: Element>(a: E, b: E) -> E {
    if a.is_nan() || a > b {
        a
    } else {
        b
    }
}

/// The Euclidean norm of a slice, accumulated in f64.
pub(crate) fn norm2<E: Element>(x: &[E]) -> f64 {
    x.iter().map(|v| v.f64() * v.f64()).sum::<f64>().sqrt()
}

/// `1 - beta^step`: Adam's bias correction, with C's `pow` as Python's `**`.
pub(crate) fn bias_correction(beta: f64, step: u64) -> f64 {
    1.0 - beta.powf(step as f64)
}
