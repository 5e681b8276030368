//! Composing schedulers: one after another (SequentialLR), all at once
//! (ChainedScheduler), and a linear warm-up before any schedule.

use super::basic::LinearLR;
use super::{expect, LrScheduler, ScheduleTarget, SchedulerState};
use crate::OptimError;
use std::collections::BTreeMap;

/// The schedulers a wrapper holds, and the rates it last wrote.
struct Wrapped {
    schedulers: Vec<Box<dyn LrScheduler>>,
    last_lr: Vec<f64>,
}

impl Wrapped {
    fn state(&self, name: &str, last_epoch: i64) -> SchedulerState {
        SchedulerState {
            scheduler: name.to_owned(),
            last_epoch,
            step_count: last_epoch.max(0) as u64,
            base_lrs: Vec::new(),
            last_lr: self.last_lr.clone(),
            extra: BTreeMap::new(),
            children: self.schedulers.iter().map(|s| s.state()).collect(),
        }
    }

    /// Restores every wrapped scheduler after checking the state is of `name`
    /// with as many of them.
    fn load(&mut self, name: &str, s: &SchedulerState) -> Result<(), OptimError> {
        if s.scheduler != name {
            return Err(OptimError::StateMismatch(format!("the state is of a {}, not a {name}", s.scheduler)));
        }
        if s.children.len() != self.schedulers.len() {
            return Err(OptimError::StateMismatch(format!(
                "{name}: the state has {} schedulers, this one {}",
                s.children.len(),
                self.schedulers.len()
            )));
        }
        for (sched, c) in self.schedulers.iter_mut().zip(&s.children) {
            sched.load_state(c)?;
        }
        self.last_lr.clone_from(&s.last_lr);
        Ok(())
    }

    fn undo_initial_step(&mut self) {
        for s in &mut self.schedulers {
            s.undo_initial_step();
        }
    }
}

/// Runs schedulers one after another: `schedulers[i]` drives the rate from
/// `milestones[i - 1]` on, restarting from its own step 0 (PyTorch calls
/// `step(0)` on it at the milestone).
///
/// The schedulers must have been constructed on the same optimizer, in
/// order, just before; construction undoes their initial steps and redoes
/// the first one's, as PyTorch does.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{ExponentialLR, LinearLR, LrScheduler, Optimizer, SequentialLR, Sgd};
/// let mut opt = Optimizer::new([("w", Tensor::<f64>::zeros(&[1]))], Sgd { lr: 1.0, ..Sgd::default() });
/// let warm = LinearLR::new(&mut opt, 0.5, 1.0, 2);
/// let decay = ExponentialLR::new(&mut opt, 0.5);
/// let mut sched = SequentialLR::new(&mut opt, vec![Box::new(warm), Box::new(decay)], &[2]);
/// let mut lrs = Vec::new();
/// for _ in 0..5 {
///     lrs.push(opt.param_groups()[0].lr());
///     sched.step(&mut opt);
/// }
/// assert_eq!(lrs, vec![0.5, 0.75, 1.0, 0.5, 0.25]);
/// ```
pub struct SequentialLR {
    inner: Wrapped,
    milestones: Vec<i64>,
    last_epoch: i64,
}

impl SequentialLR {
    /// `schedulers.len() - 1` increasing milestones switch from each scheduler
    /// to the next.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, mut schedulers: Vec<Box<dyn LrScheduler>>, milestones: &[i64]) -> Self {
        expect(!schedulers.is_empty(), "SequentialLR", || "needs at least one scheduler".into());
        expect(milestones.len() + 1 == schedulers.len(), "SequentialLR", || {
            format!(
                "{} schedulers need {} milestones, got {}",
                schedulers.len(),
                schedulers.len() - 1,
                milestones.len()
            )
        });
        expect(milestones.windows(2).all(|w| w[0] < w[1]), "SequentialLR", || {
            format!("milestones must increase, got {milestones:?}")
        });
        for i in 0..opt.num_groups() {
            if let Some(lr) = opt.initial_lr(i) {
                opt.set_lr(i, lr);
            }
        }
        for s in &mut schedulers {
            s.undo_initial_step();
        }
        schedulers[0].initial_step(opt);
        let last_lr = schedulers[0].last_lr().to_vec();
        SequentialLR { inner: Wrapped { schedulers, last_lr }, milestones: milestones.to_vec(), last_epoch: 0 }
    }

    /// The scheduler in charge at `epoch`, and whether `epoch` is its first.
    fn current(&self, epoch: i64) -> (usize, bool) {
        let idx = self.milestones.partition_point(|&m| m <= epoch);
        (idx, idx > 0 && self.milestones[idx - 1] == epoch)
    }
}

impl LrScheduler for SequentialLR {
    fn name(&self) -> &'static str {
        "SequentialLR"
    }

    fn step(&mut self, opt: &mut dyn ScheduleTarget) {
        self.last_epoch += 1;
        let (idx, restart) = self.current(self.last_epoch);
        let s = &mut self.inner.schedulers[idx];
        if restart {
            s.step_to(opt, 0);
        } else {
            s.step(opt);
        }
        self.inner.last_lr = s.last_lr().to_vec();
    }

    /// Jumps to `epoch`: the scheduler in charge then jumps to `epoch` minus
    /// its milestone.
    fn step_to(&mut self, opt: &mut dyn ScheduleTarget, epoch: i64) {
        self.last_epoch = epoch;
        let (idx, _) = self.current(epoch);
        let offset = if idx > 0 { self.milestones[idx - 1] } else { 0 };
        let s = &mut self.inner.schedulers[idx];
        s.step_to(opt, epoch - offset);
        self.inner.last_lr = s.last_lr().to_vec();
    }

    fn last_lr(&self) -> &[f64] {
        &self.inner.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }

    fn state(&self) -> SchedulerState {
        self.inner.state(self.name(), self.last_epoch)
    }

    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        self.inner.load(self.name(), state)?;
        self.last_epoch = state.last_epoch;
        Ok(())
    }

    fn initial_step(&mut self, opt: &mut dyn ScheduleTarget) {
        self.step(opt);
    }

    fn undo_initial_step(&mut self) {
        self.inner.undo_initial_step();
    }
}

/// Runs several schedulers at every step, in order, each changing the rate
/// the previous one left (for chainable schedulers the effects multiply).
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{ChainedScheduler, ConstantLR, ExponentialLR, LrScheduler, Optimizer, Sgd};
/// let mut opt = Optimizer::new([("w", Tensor::<f64>::zeros(&[1]))], Sgd { lr: 1.0, ..Sgd::default() });
/// let constant = ConstantLR::new(&mut opt, 0.5, 2);
/// let decay = ExponentialLR::new(&mut opt, 0.5);
/// let mut sched = ChainedScheduler::new(&mut opt, vec![Box::new(constant), Box::new(decay)]);
/// let mut lrs = Vec::new();
/// for _ in 0..4 {
///     lrs.push(opt.param_groups()[0].lr());
///     sched.step(&mut opt);
/// }
/// assert_eq!(lrs, vec![0.5, 0.25, 0.25, 0.125]);
/// ```
pub struct ChainedScheduler {
    inner: Wrapped,
}

impl ChainedScheduler {
    /// Chains `schedulers`, constructed on `opt`, in order; constructing the
    /// chain steps nothing.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, schedulers: Vec<Box<dyn LrScheduler>>) -> Self {
        expect(!schedulers.is_empty(), "ChainedScheduler", || "needs at least one scheduler".into());
        ChainedScheduler { inner: Wrapped { schedulers, last_lr: opt.lrs() } }
    }
}

impl LrScheduler for ChainedScheduler {
    fn name(&self) -> &'static str {
        "ChainedScheduler"
    }

    fn step(&mut self, opt: &mut dyn ScheduleTarget) {
        for s in &mut self.inner.schedulers {
            s.step(opt);
        }
        self.inner.last_lr = opt.lrs();
    }

    /// Every scheduler jumps to `epoch`, in order.
    fn step_to(&mut self, opt: &mut dyn ScheduleTarget, epoch: i64) {
        for s in &mut self.inner.schedulers {
            s.step_to(opt, epoch);
        }
        self.inner.last_lr = opt.lrs();
    }

    fn last_lr(&self) -> &[f64] {
        &self.inner.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.inner.schedulers.last().map_or(-1, |s| s.last_epoch())
    }

    fn state(&self) -> SchedulerState {
        self.inner.state(self.name(), self.last_epoch())
    }

    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        self.inner.load(self.name(), state)
    }

    fn initial_step(&mut self, opt: &mut dyn ScheduleTarget) {
        self.step(opt);
    }

    fn undo_initial_step(&mut self) {
        self.inner.undo_initial_step();
    }
}

/// A linear warm-up of `warmup_iters` steps from `start_factor` times the
/// base rate to the base rate, followed by the schedule `then` builds on
/// `opt` (which starts from its own step 0 when the warm-up ends): a
/// [`LinearLR`] and `then` in a [`SequentialLR`].
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{with_linear_warmup, CosineAnnealingLR, LrScheduler, Optimizer, Sgd};
/// let mut opt = Optimizer::new([("w", Tensor::<f64>::zeros(&[1]))], Sgd { lr: 1.0, ..Sgd::default() });
/// let mut sched = with_linear_warmup(&mut opt, 4, 0.25, |o| Box::new(CosineAnnealingLR::new(o, 10, 0.0)));
/// let mut lrs = Vec::new();
/// for _ in 0..5 {
///     lrs.push(opt.param_groups()[0].lr());
///     sched.step(&mut opt);
/// }
/// let want = [0.25, 0.4375, 0.625, 0.8125, 1.0];
/// assert!(lrs.iter().zip(want).all(|(lr, w)| (lr - w).abs() < 1e-12));
/// ```
#[track_caller]
pub fn with_linear_warmup(
    opt: &mut dyn ScheduleTarget,
    warmup_iters: usize,
    start_factor: f64,
    then: impl FnOnce(&mut dyn ScheduleTarget) -> Box<dyn LrScheduler>,
) -> SequentialLR {
    let warmup = LinearLR::new(opt, start_factor, 1.0, warmup_iters);
    let after = then(opt);
    SequentialLR::new(opt, vec![Box::new(warmup), after], &[warmup_iters as i64])
}
