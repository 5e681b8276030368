//! Learning-rate schedulers, as `torch.optim.lr_scheduler` computes them.
//!
//! A scheduler reads and writes the optimizer's group learning rates (and
//! momentum or β1 for cycling) through [`ScheduleTarget`], so any optimizer
//! works with any scheduler and schedulers compose ([`SequentialLR`],
//! [`ChainedScheduler`]). As in PyTorch, constructing a scheduler performs
//! its first step: the learning rates in use for step 0 are set by the
//! constructor, and `step` is called after each `optimizer.step()`.
//!
//! ```
//! use lamina_core::Tensor;
//! use lamina_optim::{LrScheduler, Optimizer, Sgd, StepLR};
//! let mut opt = Optimizer::new([("w", Tensor::<f32>::zeros(&[2]))], Sgd { lr: 0.1, ..Sgd::default() });
//! let mut sched = StepLR::new(&mut opt, 2, 0.5);
//! let mut lrs = Vec::new();
//! for _ in 0..5 {
//!     lrs.push(opt.param_groups()[0].lr()); // train with this rate
//!     opt.step();
//!     sched.step(&mut opt);
//! }
//! assert_eq!(lrs, vec![0.1, 0.1, 0.05, 0.05, 0.025]);
//! ```

mod basic;
mod compose;
mod cyclic;
mod plateau;

pub use basic::{
    ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, ExponentialLR, LambdaLR, LinearLR, LrLambda,
    MultiStepLR, MultiplicativeLR, PolynomialLR, StepLR,
};
pub use compose::{with_linear_warmup, ChainedScheduler, SequentialLR};
pub use cyclic::{
    AnnealStrategy, CyclicLR, CyclicLRConfig, CyclicMode, OneCycleLR, OneCycleLRConfig, ScaleFn, ScaleMode,
};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ReduceLROnPlateauConfig, ThresholdMode};

use crate::OptimError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a scheduler changes: the learning rate, `initial_lr` and momentum of
/// each parameter group. Every [`Optimizer`](crate::Optimizer) is one.
pub trait ScheduleTarget {
    /// How many parameter groups there are.
    fn num_groups(&self) -> usize;
    /// Group `group`'s learning rate.
    fn lr(&self, group: usize) -> f64;
    /// Sets group `group`'s learning rate.
    fn set_lr(&mut self, group: usize, lr: f64);
    /// The learning rate the first scheduler attached found (`initial_lr`).
    fn initial_lr(&self, group: usize) -> Option<f64>;
    /// Sets `initial_lr`.
    fn set_initial_lr(&mut self, group: usize, lr: f64);
    /// The group's momentum (or β1 for the Adam family), if it has one.
    fn momentum(&self, group: usize) -> Option<f64>;
    /// Sets the momentum (or β1); nothing happens when there is none.
    fn set_momentum(&mut self, group: usize, momentum: f64);

    /// Every group's learning rate.
    fn lrs(&self) -> Vec<f64> {
        (0..self.num_groups()).map(|i| self.lr(i)).collect()
    }
}

/// A learning-rate scheduler (any but [`ReduceLROnPlateau`], which steps on a
/// metric).
pub trait LrScheduler: Send {
    /// The scheduler's PyTorch name (`"StepLR"`).
    fn name(&self) -> &'static str;

    /// Advances one step and writes the new learning rates into `opt`.
    fn step(&mut self, opt: &mut dyn ScheduleTarget);

    /// Jumps to `epoch`, using the closed form where PyTorch has one (what
    /// PyTorch's `_update_lr(epoch)` does; [`SequentialLR`] calls it with 0
    /// at each milestone).
    fn step_to(&mut self, opt: &mut dyn ScheduleTarget, epoch: i64);

    /// The learning rates written by the last step.
    fn last_lr(&self) -> &[f64];

    /// The index of the last step (-1 before the first).
    fn last_epoch(&self) -> i64;

    /// The progress of the schedule, to save. The schedule's settings are not
    /// saved: they come from the constructor.
    fn state(&self) -> SchedulerState;

    /// Restores progress saved by [`state`](LrScheduler::state).
    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError>;

    /// The step a constructor performs (PyTorch's `_initial_step`);
    /// [`SequentialLR`] repeats it for its first scheduler.
    fn initial_step(&mut self, opt: &mut dyn ScheduleTarget);

    /// Takes back the constructor's step count (PyTorch's `recursive_undo`),
    /// for [`SequentialLR`].
    fn undo_initial_step(&mut self);
}

/// A saved scheduler: its progress, serializable with serde.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerState {
    /// The scheduler's PyTorch name.
    pub scheduler: String,
    /// The index of the last step.
    pub last_epoch: i64,
    /// How many times `step` ran.
    pub step_count: u64,
    /// The learning rates the schedule starts from.
    pub base_lrs: Vec<f64>,
    /// The learning rates written by the last step.
    pub last_lr: Vec<f64>,
    /// Progress particular to the scheduler (`T_cur`, `best`, ...).
    pub extra: BTreeMap<String, f64>,
    /// The states of the schedulers it wraps.
    pub children: Vec<SchedulerState>,
}

/// A value given once for all groups or once per group (PyTorch accepts a
/// float or a list for `max_lr`, `base_momentum`, `min_lr`, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum PerGroup {
    /// The same value for every group.
    All(f64),
    /// One value per group.
    Each(Vec<f64>),
}

impl From<f64> for PerGroup {
    fn from(v: f64) -> Self {
        PerGroup::All(v)
    }
}

impl From<Vec<f64>> for PerGroup {
    fn from(v: Vec<f64>) -> Self {
        PerGroup::Each(v)
    }
}

impl From<&[f64]> for PerGroup {
    fn from(v: &[f64]) -> Self {
        PerGroup::Each(v.to_vec())
    }
}

impl PerGroup {
    /// One value per group; panics when a list has the wrong length.
    #[track_caller]
    pub fn resolve(&self, what: &str, groups: usize) -> Vec<f64> {
        match self {
            PerGroup::All(v) => vec![*v; groups],
            PerGroup::Each(v) if v.len() == groups => v.clone(),
            PerGroup::Each(v) => panic!(
                "{what} must have one value per parameter group: {} values for {groups} groups at {}",
                v.len(),
                crate::at(std::panic::Location::caller())
            ),
        }
    }
}

/// Panics with `op: what at caller` unless `ok`.
#[track_caller]
pub(crate) fn expect(ok: bool, op: &str, what: impl FnOnce() -> String) {
    if !ok {
        panic!("{op}: {} at {}", what(), crate::at(std::panic::Location::caller()));
    }
}

/// What every scheduler keeps, and the machinery shared by the chainable ones.
pub(crate) mod base {
    use super::{ScheduleTarget, SchedulerState};
    use crate::OptimError;
    use std::collections::BTreeMap;

    /// PyTorch `LRScheduler`'s attributes.
    #[derive(Clone, Debug)]
    pub struct Base {
        pub base_lrs: Vec<f64>,
        pub last_epoch: i64,
        pub step_count: u64,
        pub last_lr: Vec<f64>,
    }

    impl Base {
        /// Attaches to `opt`: records `initial_lr` where no scheduler has, and
        /// takes it as the base learning rates.
        pub fn attach(opt: &mut dyn ScheduleTarget) -> Base {
            let base_lrs = (0..opt.num_groups())
                .map(|i| match opt.initial_lr(i) {
                    Some(lr) => lr,
                    None => {
                        let lr = opt.lr(i);
                        opt.set_initial_lr(i, lr);
                        lr
                    }
                })
                .collect();
            Base { base_lrs, last_epoch: -1, step_count: 0, last_lr: opt.lrs() }
        }

        /// Writes `lrs` into the groups and remembers them.
        pub fn apply(&mut self, opt: &mut dyn ScheduleTarget, lrs: &[f64]) {
            for (i, &lr) in lrs.iter().enumerate() {
                opt.set_lr(i, lr);
            }
            self.last_lr = opt.lrs();
        }

        pub fn save(&self, name: &str, extra: BTreeMap<String, f64>, children: Vec<SchedulerState>) -> SchedulerState {
            SchedulerState {
                scheduler: name.to_owned(),
                last_epoch: self.last_epoch,
                step_count: self.step_count,
                base_lrs: self.base_lrs.clone(),
                last_lr: self.last_lr.clone(),
                extra,
                children,
            }
        }

        /// Restores progress after checking the state is of this scheduler
        /// over as many groups.
        pub fn load(&mut self, name: &str, s: &SchedulerState) -> Result<(), OptimError> {
            if s.scheduler != name {
                return Err(OptimError::StateMismatch(format!("the state is of a {}, not a {name}", s.scheduler)));
            }
            if s.base_lrs.len() != self.base_lrs.len() || s.last_lr.len() != self.base_lrs.len() {
                return Err(OptimError::StateMismatch(format!(
                    "{name}: the state is for {} parameter groups, the scheduler has {}",
                    s.base_lrs.len(),
                    self.base_lrs.len()
                )));
            }
            self.base_lrs.clone_from(&s.base_lrs);
            self.last_lr.clone_from(&s.last_lr);
            self.last_epoch = s.last_epoch;
            self.step_count = s.step_count;
            Ok(())
        }
    }

    /// A value of a saved state's `extra`, or an error naming it.
    pub fn extra(s: &SchedulerState, key: &str) -> Result<f64, OptimError> {
        s.extra
            .get(key)
            .copied()
            .ok_or_else(|| OptimError::StateMismatch(format!("{}: the state lacks `{key}`", s.scheduler)))
    }

    /// A scheduler defined by PyTorch's `get_lr` (and `_get_closed_form_lr`):
    /// [`LrScheduler`](super::LrScheduler) follows for it.
    pub trait Formula: Send {
        const NAME: &'static str;
        fn base(&self) -> &Base;
        fn base_mut(&mut self) -> &mut Base;
        /// PyTorch's `get_lr` at `base().last_epoch`; `initial` during the
        /// constructor's step.
        fn lrs(&mut self, opt: &mut dyn ScheduleTarget, initial: bool) -> Vec<f64>;
        /// PyTorch's `_get_closed_form_lr`, where it exists.
        fn closed_form(&self) -> Option<Vec<f64>> {
            None
        }
    }

    /// Implements the accessors of [`Formula`] for a struct with a `base` field.
    macro_rules! formula_base {
        ($name:literal) => {
            const NAME: &'static str = $name;
            fn base(&self) -> &Base {
                &self.base
            }
            fn base_mut(&mut self) -> &mut Base {
                &mut self.base
            }
        };
    }
    pub(crate) use formula_base;

    /// Attaches `s` to `opt` and performs the constructor's step.
    pub fn start<F: Formula>(mut s: F, opt: &mut dyn ScheduleTarget) -> F {
        super::LrScheduler::initial_step(&mut s, opt);
        s
    }
}

impl<F: base::Formula> LrScheduler for F {
    fn name(&self) -> &'static str {
        F::NAME
    }

    fn step(&mut self, opt: &mut dyn ScheduleTarget) {
        let b = self.base_mut();
        b.step_count += 1;
        b.last_epoch += 1;
        let lrs = self.lrs(opt, false);
        self.base_mut().apply(opt, &lrs);
    }

    fn step_to(&mut self, opt: &mut dyn ScheduleTarget, epoch: i64) {
        self.base_mut().last_epoch = epoch;
        let lrs = self.closed_form().unwrap_or_else(|| self.lrs(opt, false));
        self.base_mut().apply(opt, &lrs);
    }

    fn last_lr(&self) -> &[f64] {
        &self.base().last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.base().last_epoch
    }

    fn state(&self) -> SchedulerState {
        self.base().save(F::NAME, BTreeMap::new(), Vec::new())
    }

    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        self.base_mut().load(F::NAME, state)
    }

    fn initial_step(&mut self, opt: &mut dyn ScheduleTarget) {
        let b = self.base_mut();
        b.step_count = 1;
        b.last_epoch += 1;
        let lrs = self.lrs(opt, true);
        self.base_mut().apply(opt, &lrs);
    }

    fn undo_initial_step(&mut self) {
        self.base_mut().last_epoch -= 1;
    }
}
