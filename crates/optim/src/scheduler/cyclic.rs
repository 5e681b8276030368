//! Cyclical schedules that set the rate outright (and cycle momentum the
//! other way): CyclicLR and OneCycleLR. Both overwrite the group learning
//! rates at construction, as PyTorch does.

use super::base::{formula_base, start, Base, Formula};
use super::{expect, PerGroup, ScheduleTarget};
use std::f64::consts::PI;
use std::sync::Arc;

/// The momentum bounds of a cycling schedule, `(base, max)` per group.
type Momenta = Option<(Vec<f64>, Vec<f64>)>;

/// Checks that every group has a momentum, sets it to `max`, and returns the
/// per-group `(base, max)` bounds.
#[track_caller]
fn cycle_momentum(op: &str, opt: &mut dyn ScheduleTarget, base: &PerGroup, max: &PerGroup) -> Momenta {
    let n = opt.num_groups();
    expect((0..n).all(|i| opt.momentum(i).is_some()), op, || {
        "the optimizer must have a momentum or beta1 with cycle_momentum on".into()
    });
    let (base, max) = (base.resolve("base_momentum", n), max.resolve("max_momentum", n));
    for (i, &m) in max.iter().enumerate() {
        opt.set_momentum(i, m);
    }
    Some((base, max))
}

/// The amplitude scaling of a CyclicLR cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CyclicMode {
    /// Constant amplitude.
    Triangular,
    /// Amplitude halved each cycle.
    Triangular2,
    /// Amplitude scaled by `gamma^iteration`.
    ExpRange,
}

/// What a custom scale function of CyclicLR is evaluated on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScaleMode {
    /// The cycle number (1, 2, ...).
    Cycle,
    /// The step index.
    Iterations,
}

/// A custom amplitude scaling for [`CyclicLR`], with values in [0, 1].
pub type ScaleFn = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// CyclicLR's options; [`CyclicLRConfig::new`] gives PyTorch's defaults.
#[derive(Clone)]
pub struct CyclicLRConfig {
    /// The lower bound of each cycle; also the rate set at construction.
    pub base_lr: PerGroup,
    /// The upper bound (reached only without amplitude scaling).
    pub max_lr: PerGroup,
    /// Steps in the rising half. Default 2000.
    pub step_size_up: usize,
    /// Steps in the falling half. Default `None`: as `step_size_up`.
    pub step_size_down: Option<usize>,
    /// Amplitude scaling. Default triangular.
    pub mode: CyclicMode,
    /// Base of `exp_range` scaling. Default 1.
    pub gamma: f64,
    /// A custom scaling, replacing `mode`. Default none.
    pub scale_fn: Option<(ScaleFn, ScaleMode)>,
    /// Cycle momentum (or β1) inversely between the momentum bounds. Default true.
    pub cycle_momentum: bool,
    /// Momentum at the rate's peak. Default 0.8.
    pub base_momentum: PerGroup,
    /// Momentum at the rate's trough. Default 0.9.
    pub max_momentum: PerGroup,
}

impl CyclicLRConfig {
    /// Cycles between `base_lr` and `max_lr`, other options at PyTorch's defaults.
    pub fn new(base_lr: impl Into<PerGroup>, max_lr: impl Into<PerGroup>) -> Self {
        CyclicLRConfig {
            base_lr: base_lr.into(),
            max_lr: max_lr.into(),
            step_size_up: 2000,
            step_size_down: None,
            mode: CyclicMode::Triangular,
            gamma: 1.0,
            scale_fn: None,
            cycle_momentum: true,
            base_momentum: 0.8.into(),
            max_momentum: 0.9.into(),
        }
    }
}

/// The cyclical learning rate policy (Smith 2017): the rate moves linearly
/// between `base_lr` and `max_lr` and back, with the amplitude scaled per
/// cycle or per step; momentum moves the other way.
pub struct CyclicLR {
    base: Base,
    max_lrs: Vec<f64>,
    total_size: f64,
    step_ratio: f64,
    scale: ScaleFn,
    scale_mode: ScaleMode,
    momenta: Momenta,
}

impl CyclicLR {
    /// Sets every group's rate to `base_lr` (and momentum to `max_momentum`)
    /// and starts the cycle.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, config: CyclicLRConfig) -> Self {
        let n = opt.num_groups();
        let base_lrs = config.base_lr.resolve("base_lr", n);
        for (i, &lr) in base_lrs.iter().enumerate() {
            opt.set_lr(i, lr);
        }
        let max_lrs = config.max_lr.resolve("max_lr", n);
        expect(config.step_size_up > 0, "CyclicLR", || "step_size_up must be positive".into());
        let up = config.step_size_up as f64;
        let down = config.step_size_down.map_or(up, |d| d as f64);
        let gamma = config.gamma;
        let (scale, scale_mode): (ScaleFn, ScaleMode) = match config.scale_fn {
            Some(custom) => custom,
            None => match config.mode {
                CyclicMode::Triangular => (Arc::new(|_| 1.0), ScaleMode::Cycle),
                CyclicMode::Triangular2 => (Arc::new(|x| 1.0 / 2f64.powf(x - 1.0)), ScaleMode::Cycle),
                CyclicMode::ExpRange => (Arc::new(move |x| gamma.powf(x)), ScaleMode::Iterations),
            },
        };
        let momenta = if config.cycle_momentum {
            cycle_momentum("CyclicLR", opt, &config.base_momentum, &config.max_momentum)
        } else {
            None
        };
        let mut base = Base::attach(opt);
        base.base_lrs = base_lrs;
        let s =
            CyclicLR { base, max_lrs, total_size: up + down, step_ratio: up / (up + down), scale, scale_mode, momenta };
        start(s, opt)
    }
}

impl Formula for CyclicLR {
    formula_base!("CyclicLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, _initial: bool) -> Vec<f64> {
        let t = self.base.last_epoch as f64;
        let cycle = (1.0 + t / self.total_size).floor();
        let x = 1.0 + t / self.total_size - cycle;
        let factor = if x <= self.step_ratio { x / self.step_ratio } else { (x - 1.0) / (self.step_ratio - 1.0) };
        let scale = (self.scale)(match self.scale_mode {
            ScaleMode::Cycle => cycle,
            ScaleMode::Iterations => t,
        });
        if let Some((base_m, max_m)) = &self.momenta {
            for (i, (b, m)) in base_m.iter().zip(max_m).enumerate() {
                opt.set_momentum(i, m - (m - b) * factor * scale);
            }
        }
        self.base.base_lrs.iter().zip(&self.max_lrs).map(|(b, m)| b + (m - b) * factor * scale).collect()
    }
}

/// How OneCycleLR moves between its points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnnealStrategy {
    /// Half a cosine.
    Cos,
    /// A straight line.
    Linear,
}

impl AnnealStrategy {
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

/// OneCycleLR's options; [`OneCycleLRConfig::new`] gives PyTorch's defaults.
/// (PyTorch's `epochs` and `steps_per_epoch` are `total_steps = epochs ·
/// steps_per_epoch`.)
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleLRConfig {
    /// The peak rate of each group.
    pub max_lr: PerGroup,
    /// Steps in the whole cycle; stepping past it panics, as in PyTorch.
    pub total_steps: usize,
    /// Fraction of the cycle spent rising. Default 0.3.
    pub pct_start: f64,
    /// Cosine or linear annealing. Default cosine.
    pub anneal_strategy: AnnealStrategy,
    /// Cycle momentum (or β1) inversely. Default true.
    pub cycle_momentum: bool,
    /// Momentum at the peak. Default 0.85.
    pub base_momentum: PerGroup,
    /// Momentum at the start and end. Default 0.95.
    pub max_momentum: PerGroup,
    /// The starting rate is `max_lr / div_factor`. Default 25.
    pub div_factor: f64,
    /// The final rate is the starting rate over this. Default 1e4.
    pub final_div_factor: f64,
    /// Fall back to the starting rate symmetrically, then anneal to the final
    /// rate in a third phase (the paper's schedule). Default false (fastai's).
    pub three_phase: bool,
}

impl OneCycleLRConfig {
    /// A cycle peaking at `max_lr` over `total_steps` steps, other options at
    /// PyTorch's defaults.
    pub fn new(max_lr: impl Into<PerGroup>, total_steps: usize) -> Self {
        OneCycleLRConfig {
            max_lr: max_lr.into(),
            total_steps,
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: 0.85.into(),
            max_momentum: 0.95.into(),
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

/// Where a phase starts and ends: indices into a group's `[initial, max, min]`
/// rates and `[max, base]` momenta.
#[derive(Clone, Copy, Debug)]
struct Phase {
    end_step: f64,
    lr: (usize, usize),
    momentum: (usize, usize),
}

/// The 1cycle policy (Smith & Topin 2017): the rate rises from
/// `max_lr/div_factor` to `max_lr` over `pct_start` of the cycle, then anneals
/// to `max_lr/(div_factor·final_div_factor)`; momentum moves the other way.
#[derive(Clone, Debug)]
pub struct OneCycleLR {
    base: Base,
    total_steps: i64,
    phases: Vec<Phase>,
    strategy: AnnealStrategy,
    /// Per group: the initial, maximum and final rates.
    points: Vec<[f64; 3]>,
    /// Per group: the maximum and base momenta, when cycling.
    momenta: Option<Vec<[f64; 2]>>,
}

impl OneCycleLR {
    /// Sets every group's `initial_lr` and rate to `max_lr/div_factor` (and
    /// momentum to `max_momentum`) and starts the cycle.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, config: OneCycleLRConfig) -> Self {
        let c = config;
        expect(c.total_steps > 0, "OneCycleLR", || "total_steps must be positive".into());
        expect((0.0..=1.0).contains(&c.pct_start), "OneCycleLR", || {
            format!("pct_start must be in [0, 1], got {}", c.pct_start)
        });
        let total = c.total_steps as f64;
        let rise_end = c.pct_start * total - 1.0;
        let phases = if c.three_phase {
            vec![
                Phase { end_step: rise_end, lr: (0, 1), momentum: (0, 1) },
                Phase { end_step: 2.0 * c.pct_start * total - 2.0, lr: (1, 0), momentum: (1, 0) },
                Phase { end_step: total - 1.0, lr: (0, 2), momentum: (0, 0) },
            ]
        } else {
            vec![
                Phase { end_step: rise_end, lr: (0, 1), momentum: (0, 1) },
                Phase { end_step: total - 1.0, lr: (1, 2), momentum: (1, 0) },
            ]
        };
        let n = opt.num_groups();
        let points: Vec<[f64; 3]> = c
            .max_lr
            .resolve("max_lr", n)
            .into_iter()
            .map(|max| {
                let initial = max / c.div_factor;
                [initial, max, initial / c.final_div_factor]
            })
            .collect();
        for (i, p) in points.iter().enumerate() {
            opt.set_initial_lr(i, p[0]);
        }
        let momenta = c.cycle_momentum.then(|| {
            let (base, max) = cycle_momentum("OneCycleLR", opt, &c.base_momentum, &c.max_momentum)
                .expect("cycle_momentum returns the bounds");
            max.into_iter().zip(base).map(|(m, b)| [m, b]).collect()
        });
        let s = OneCycleLR {
            base: Base::attach(opt),
            total_steps: c.total_steps as i64,
            phases,
            strategy: c.anneal_strategy,
            points,
            momenta,
        };
        start(s, opt)
    }
}

impl Formula for OneCycleLR {
    formula_base!("OneCycleLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, _initial: bool) -> Vec<f64> {
        let t = self.base.last_epoch;
        expect(t <= self.total_steps, "OneCycleLR", || {
            format!("tried to step {t} times, but total_steps is {}", self.total_steps)
        });
        let (t, last) = (t as f64, self.phases.len() - 1);
        let mut start_step = 0.0;
        let mut at = (self.phases[last], 1.0);
        for (i, phase) in self.phases.iter().enumerate() {
            if t <= phase.end_step || i == last {
                at = (*phase, (t - start_step) / (phase.end_step - start_step));
                break;
            }
            start_step = phase.end_step;
        }
        let (phase, pct) = at;
        if let Some(momenta) = &self.momenta {
            for (i, m) in momenta.iter().enumerate() {
                opt.set_momentum(i, self.strategy.anneal(m[phase.momentum.0], m[phase.momentum.1], pct));
            }
        }
        self.points.iter().map(|p| self.strategy.anneal(p[phase.lr.0], p[phase.lr.1], pct)).collect()
    }
}
