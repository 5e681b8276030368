//! ReduceLROnPlateau: lower the rate when a watched metric stops improving.

use super::base::extra;
use super::{expect, PerGroup, ScheduleTarget, SchedulerState};
use crate::OptimError;
use std::collections::BTreeMap;

/// Whether the metric should fall (a loss) or rise (an accuracy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PlateauMode {
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// How far past the best value a metric must get to count as better.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThresholdMode {
    /// By a fraction of the best: `best · (1 ∓ threshold)`.
    Rel,
    /// By an amount: `best ∓ threshold`.
    Abs,
}

/// ReduceLROnPlateau's options, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLROnPlateauConfig {
    /// Whether lower or higher is better. Default min.
    pub mode: PlateauMode,
    /// The rate is multiplied by this (< 1). Default 0.1.
    pub factor: f64,
    /// Steps without improvement tolerated before reducing. Default 10.
    pub patience: usize,
    /// The least change that counts as improvement. Default 1e-4.
    pub threshold: f64,
    /// Relative or absolute threshold. Default relative.
    pub threshold_mode: ThresholdMode,
    /// Steps after a reduction during which bad steps are not counted. Default 0.
    pub cooldown: usize,
    /// The rate never goes below this. Default 0.
    pub min_lr: PerGroup,
    /// A reduction smaller than this is skipped. Default 1e-8.
    pub eps: f64,
}

impl Default for ReduceLROnPlateauConfig {
    fn default() -> Self {
        ReduceLROnPlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0.into(),
            eps: 1e-8,
        }
    }
}

/// Multiplies every group's rate by `factor` once the metric has not improved
/// for more than `patience` steps. Unlike the other schedulers it does not
/// step at construction, and `step` takes the metric.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{Optimizer, ReduceLROnPlateau, ReduceLROnPlateauConfig, Sgd};
/// let mut opt = Optimizer::new([("w", Tensor::<f32>::zeros(&[1]))], Sgd { lr: 1.0, ..Sgd::default() });
/// let config = ReduceLROnPlateauConfig { patience: 1, factor: 0.5, ..ReduceLROnPlateauConfig::default() };
/// let mut sched = ReduceLROnPlateau::new(&mut opt, config);
/// for loss in [1.0, 0.9, 0.95, 0.95] {
///     sched.step(&mut opt, loss);
/// }
/// assert_eq!(opt.param_groups()[0].lr(), 0.5); // two steps without improvement
/// ```
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    config: ReduceLROnPlateauConfig,
    min_lrs: Vec<f64>,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    /// Watches a metric for `opt`'s groups.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, config: ReduceLROnPlateauConfig) -> Self {
        expect(config.factor < 1.0, "ReduceLROnPlateau", || format!("factor must be < 1, got {}", config.factor));
        let min_lrs = config.min_lr.resolve("min_lr", opt.num_groups());
        let mut s = ReduceLROnPlateau {
            config,
            min_lrs,
            best: 0.0,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: opt.lrs(),
        };
        s.reset();
        s
    }

    /// Forgets the best value and the counters.
    pub fn reset(&mut self) {
        self.best = self.worst();
        self.cooldown_counter = 0;
        self.num_bad_epochs = 0;
    }

    fn worst(&self) -> f64 {
        match self.config.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        }
    }

    /// Whether `a` improves on the best value.
    fn is_better(&self, a: f64) -> bool {
        let (best, th) = (self.best, self.config.threshold);
        match (self.config.mode, self.config.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - th),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - th,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (th + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + th,
        }
    }

    /// Records this step's metric, reducing the rates when it has stalled.
    #[track_caller]
    pub fn step(&mut self, opt: &mut dyn ScheduleTarget, metric: f64) {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            self.reduce(opt);
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
        }
        self.last_lr = opt.lrs();
    }

    #[track_caller]
    fn reduce(&mut self, opt: &mut dyn ScheduleTarget) {
        let n = opt.num_groups();
        if self.min_lrs.len() != n {
            self.min_lrs = match &self.config.min_lr {
                PerGroup::All(v) => vec![*v; n],
                PerGroup::Each(_) => {
                    panic!(
                        "ReduceLROnPlateau: the optimizer has {n} parameter groups but min_lr has {} values at {}",
                        self.min_lrs.len(),
                        crate::at(std::panic::Location::caller())
                    )
                }
            };
        }
        for i in 0..n {
            let old = opt.lr(i);
            let new = (old * self.config.factor).max(self.min_lrs[i]);
            if old - new > self.config.eps {
                opt.set_lr(i, new);
            }
        }
    }

    /// The learning rates after the last step.
    pub fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }

    /// The number of steps so far.
    pub fn last_epoch(&self) -> i64 {
        self.last_epoch
    }

    /// The progress to save: best value, counters, step count.
    pub fn state(&self) -> SchedulerState {
        let mut extra = BTreeMap::from([
            ("num_bad_epochs".to_owned(), self.num_bad_epochs as f64),
            ("cooldown_counter".to_owned(), self.cooldown_counter as f64),
        ]);
        // An infinite best (nothing seen yet) is left out: JSON has no infinity.
        if self.best.is_finite() {
            extra.insert("best".to_owned(), self.best);
        }
        SchedulerState {
            scheduler: "ReduceLROnPlateau".to_owned(),
            last_epoch: self.last_epoch,
            step_count: self.last_epoch.max(0) as u64,
            base_lrs: Vec::new(),
            last_lr: self.last_lr.clone(),
            extra,
            children: Vec::new(),
        }
    }

    /// Restores progress saved by [`state`](Self::state).
    pub fn load_state(&mut self, s: &SchedulerState) -> Result<(), OptimError> {
        if s.scheduler != "ReduceLROnPlateau" {
            return Err(OptimError::StateMismatch(format!(
                "the state is of a {}, not a ReduceLROnPlateau",
                s.scheduler
            )));
        }
        let (bad, cool) = (extra(s, "num_bad_epochs")?, extra(s, "cooldown_counter")?);
        self.best = s.extra.get("best").copied().unwrap_or_else(|| self.worst());
        self.num_bad_epochs = bad as usize;
        self.cooldown_counter = cool as usize;
        self.last_epoch = s.last_epoch;
        self.last_lr.clone_from(&s.last_lr);
        Ok(())
    }
}
