//! The schedulers defined by a formula of the step index: step and exponential
//! decay, constant and linear factors, polynomial decay, cosine annealing
//! (plain and with warm restarts), and closures.

use super::base::{extra, formula_base, start, Base, Formula};
use super::{expect, LrScheduler, ScheduleTarget, SchedulerState};
use crate::OptimError;
use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::sync::Arc;

/// Every group's current learning rate times `factor`.
fn scaled(opt: &dyn ScheduleTarget, factor: f64) -> Vec<f64> {
    opt.lrs().into_iter().map(|lr| lr * factor).collect()
}

/// Multiplies the rate by `gamma` every `step_size` steps:
/// `lr = base · γ^⌊t/step_size⌋`.
#[derive(Clone, Debug)]
pub struct StepLR {
    base: Base,
    step_size: i64,
    gamma: f64,
}

impl StepLR {
    /// Decays by `gamma` (PyTorch's default 0.1) every `step_size` steps.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, step_size: usize, gamma: f64) -> Self {
        expect(step_size > 0, "StepLR", || "step_size must be positive".into());
        start(StepLR { base: Base::attach(opt), step_size: step_size as i64, gamma }, opt)
    }
}

impl Formula for StepLR {
    formula_base!("StepLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, _initial: bool) -> Vec<f64> {
        let t = self.base.last_epoch;
        if t == 0 || t % self.step_size != 0 {
            opt.lrs()
        } else {
            scaled(opt, self.gamma)
        }
    }

    fn closed_form(&self) -> Option<Vec<f64>> {
        let k = self.base.last_epoch.div_euclid(self.step_size);
        Some(self.base.base_lrs.iter().map(|b| b * self.gamma.powf(k as f64)).collect())
    }
}

/// Multiplies the rate by `gamma` at each milestone (twice at a milestone
/// listed twice): `lr = base · γ^(milestones ≤ t)`.
#[derive(Clone, Debug)]
pub struct MultiStepLR {
    base: Base,
    milestones: Vec<i64>,
    gamma: f64,
}

impl MultiStepLR {
    /// Decays by `gamma` (PyTorch's default 0.1) at each of `milestones`.
    pub fn new(opt: &mut dyn ScheduleTarget, milestones: &[i64], gamma: f64) -> Self {
        let mut milestones = milestones.to_vec();
        milestones.sort_unstable();
        start(MultiStepLR { base: Base::attach(opt), milestones, gamma }, opt)
    }
}

impl Formula for MultiStepLR {
    formula_base!("MultiStepLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, _initial: bool) -> Vec<f64> {
        let t = self.base.last_epoch;
        let repeats = self.milestones.iter().filter(|&&m| m == t).count();
        if repeats == 0 {
            opt.lrs()
        } else {
            scaled(opt, self.gamma.powf(repeats as f64))
        }
    }

    fn closed_form(&self) -> Option<Vec<f64>> {
        let passed = self.milestones.partition_point(|&m| m <= self.base.last_epoch);
        Some(self.base.base_lrs.iter().map(|b| b * self.gamma.powf(passed as f64)).collect())
    }
}

/// Multiplies the rate by `factor` for the first `total_iters` steps.
#[derive(Clone, Debug)]
pub struct ConstantLR {
    base: Base,
    factor: f64,
    total_iters: i64,
}

impl ConstantLR {
    /// `factor` in [0, 1] (PyTorch's default 1/3) for `total_iters` steps (default 5).
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, factor: f64, total_iters: usize) -> Self {
        expect((0.0..=1.0).contains(&factor), "ConstantLR", || format!("factor must be in [0, 1], got {factor}"));
        start(ConstantLR { base: Base::attach(opt), factor, total_iters: total_iters as i64 }, opt)
    }
}

impl Formula for ConstantLR {
    formula_base!("ConstantLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, _initial: bool) -> Vec<f64> {
        match self.base.last_epoch {
            0 => scaled(opt, self.factor),
            t if t != self.total_iters => opt.lrs(),
            _ => scaled(opt, 1.0 / self.factor),
        }
    }

    fn closed_form(&self) -> Option<Vec<f64>> {
        let done = if self.base.last_epoch >= self.total_iters { 1.0 } else { 0.0 };
        Some(self.base.base_lrs.iter().map(|b| b * (self.factor + done * (1.0 - self.factor))).collect())
    }
}

/// Moves the rate's factor linearly from `start_factor` to `end_factor` over
/// `total_iters` steps, then keeps it (a linear warm-up when rising).
#[derive(Clone, Debug)]
pub struct LinearLR {
    base: Base,
    start_factor: f64,
    end_factor: f64,
    total_iters: i64,
}

impl LinearLR {
    /// PyTorch's defaults are `start_factor` 1/3, `end_factor` 1, `total_iters` 5.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, start_factor: f64, end_factor: f64, total_iters: usize) -> Self {
        expect(start_factor > 0.0 && start_factor <= 1.0, "LinearLR", || {
            format!("start_factor must be in (0, 1], got {start_factor}")
        });
        expect((0.0..=1.0).contains(&end_factor), "LinearLR", || {
            format!("end_factor must be in [0, 1], got {end_factor}")
        });
        let s = LinearLR { base: Base::attach(opt), start_factor, end_factor, total_iters: total_iters as i64 };
        start(s, opt)
    }
}

impl Formula for LinearLR {
    formula_base!("LinearLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, initial: bool) -> Vec<f64> {
        let t = self.base.last_epoch;
        if t == 0 {
            return scaled(opt, self.start_factor);
        }
        if initial || t > self.total_iters {
            return opt.lrs();
        }
        let (s, e) = (self.start_factor, self.end_factor);
        scaled(opt, 1.0 + (e - s) / (self.total_iters as f64 * s + (t - 1) as f64 * (e - s)))
    }

    fn closed_form(&self) -> Option<Vec<f64>> {
        let (s, e, n) = (self.start_factor, self.end_factor, self.total_iters);
        let f = s + (e - s) * n.min(self.base.last_epoch) as f64 / n as f64;
        Some(self.base.base_lrs.iter().map(|b| b * f).collect())
    }
}

/// Multiplies the rate by `gamma` every step: `lr = base · γᵗ`.
#[derive(Clone, Debug)]
pub struct ExponentialLR {
    base: Base,
    gamma: f64,
}

impl ExponentialLR {
    /// Decays by `gamma` per step.
    pub fn new(opt: &mut dyn ScheduleTarget, gamma: f64) -> Self {
        start(ExponentialLR { base: Base::attach(opt), gamma }, opt)
    }
}

impl Formula for ExponentialLR {
    formula_base!("ExponentialLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, initial: bool) -> Vec<f64> {
        if initial {
            opt.lrs()
        } else {
            scaled(opt, self.gamma)
        }
    }

    fn closed_form(&self) -> Option<Vec<f64>> {
        let t = self.base.last_epoch as f64;
        Some(self.base.base_lrs.iter().map(|b| b * self.gamma.powf(t)).collect())
    }
}

/// Decays the rate to 0 over `total_iters` steps as a polynomial:
/// `lr = base · (1 − min(t, T)/T)^power`.
#[derive(Clone, Debug)]
pub struct PolynomialLR {
    base: Base,
    total_iters: i64,
    power: f64,
}

impl PolynomialLR {
    /// PyTorch's defaults are `total_iters` 5 and `power` 1.
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, total_iters: usize, power: f64) -> Self {
        expect(total_iters > 0, "PolynomialLR", || "total_iters must be positive".into());
        start(PolynomialLR { base: Base::attach(opt), total_iters: total_iters as i64, power }, opt)
    }
}

impl Formula for PolynomialLR {
    formula_base!("PolynomialLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, initial: bool) -> Vec<f64> {
        let t = self.base.last_epoch;
        if initial || t > self.total_iters {
            return opt.lrs();
        }
        let n = self.total_iters as f64;
        scaled(opt, ((1.0 - t as f64 / n) / (1.0 - (t - 1) as f64 / n)).powf(self.power))
    }

    fn closed_form(&self) -> Option<Vec<f64>> {
        let n = self.total_iters;
        let f = (1.0 - n.min(self.base.last_epoch) as f64 / n as f64).powf(self.power);
        Some(self.base.base_lrs.iter().map(|b| b * f).collect())
    }
}

/// Cosine annealing from the base rate to `eta_min` over `T_max` steps, in
/// PyTorch's recursive form: each step rescales the current rate's distance
/// to `eta_min`, so changes made by other schedulers carry through; past
/// `T_max` the rate rises again (the cosine's period is `2·T_max`).
#[derive(Clone, Debug)]
pub struct CosineAnnealingLR {
    base: Base,
    t_max: i64,
    eta_min: f64,
}

impl CosineAnnealingLR {
    /// Anneals over `t_max` steps down to `eta_min` (PyTorch's default 0).
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, t_max: usize, eta_min: f64) -> Self {
        expect(t_max > 0, "CosineAnnealingLR", || "T_max must be positive".into());
        start(CosineAnnealingLR { base: Base::attach(opt), t_max: t_max as i64, eta_min }, opt)
    }

    fn cosine(&self, t: f64) -> impl Fn(&f64) -> f64 + '_ {
        move |b| self.eta_min + (b - self.eta_min) * (1.0 + (t * PI / self.t_max as f64).cos()) / 2.0
    }
}

impl Formula for CosineAnnealingLR {
    formula_base!("CosineAnnealingLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, initial: bool) -> Vec<f64> {
        let (t, n, eta) = (self.base.last_epoch, self.t_max, self.eta_min);
        if initial {
            opt.lrs()
        } else if self.base.step_count == 1 && t > 0 {
            self.base.base_lrs.iter().map(self.cosine(t as f64)).collect()
        } else if (t - 1 - n).rem_euclid(2 * n) == 0 {
            let rise = (1.0 - (PI / n as f64).cos()) / 2.0;
            opt.lrs().iter().zip(&self.base.base_lrs).map(|(lr, b)| lr + (b - eta) * rise).collect()
        } else {
            let ratio = (1.0 + (PI * t as f64 / n as f64).cos()) / (1.0 + (PI * (t - 1) as f64 / n as f64).cos());
            opt.lrs().iter().map(|lr| ratio * (lr - eta) + eta).collect()
        }
    }

    fn closed_form(&self) -> Option<Vec<f64>> {
        Some(self.base.base_lrs.iter().map(self.cosine(self.base.last_epoch as f64)).collect())
    }
}

/// A closure of the step index giving a factor.
pub type LrLambda = Arc<dyn Fn(i64) -> f64 + Send + Sync>;

/// One closure per group, or one shared by all.
#[track_caller]
fn lambdas(opt: &dyn ScheduleTarget, op: &str, fs: Vec<LrLambda>) -> Vec<LrLambda> {
    let n = opt.num_groups();
    if fs.len() == 1 {
        return vec![fs[0].clone(); n];
    }
    expect(fs.len() == n, op, || format!("{} closures for {n} parameter groups", fs.len()));
    fs
}

/// Sets the rate to the base rate times a closure of the step index:
/// `lr = base · f(t)`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{LambdaLR, LrScheduler, Optimizer, Sgd};
/// let mut opt = Optimizer::new([("w", Tensor::<f32>::zeros(&[1]))], Sgd { lr: 1.0, ..Sgd::default() });
/// let mut sched = LambdaLR::new(&mut opt, |t| 1.0 / (t + 1) as f64);
/// sched.step(&mut opt);
/// assert_eq!(opt.param_groups()[0].lr(), 0.5);
/// ```
pub struct LambdaLR {
    base: Base,
    lambdas: Vec<LrLambda>,
}

impl LambdaLR {
    /// One closure for every group.
    pub fn new(opt: &mut dyn ScheduleTarget, f: impl Fn(i64) -> f64 + Send + Sync + 'static) -> Self {
        Self::per_group(opt, vec![Arc::new(f)])
    }

    /// One closure per group (or one for all).
    #[track_caller]
    pub fn per_group(opt: &mut dyn ScheduleTarget, fs: Vec<LrLambda>) -> Self {
        let lambdas = lambdas(opt, "LambdaLR", fs);
        start(LambdaLR { base: Base::attach(opt), lambdas }, opt)
    }
}

impl Formula for LambdaLR {
    formula_base!("LambdaLR");

    fn lrs(&mut self, _opt: &mut dyn ScheduleTarget, _initial: bool) -> Vec<f64> {
        let t = self.base.last_epoch;
        self.base.base_lrs.iter().zip(&self.lambdas).map(|(b, f)| b * f(t)).collect()
    }
}

/// Multiplies the current rate by a closure of the step index at every step
/// after the first: `lr ← lr · f(t)`.
pub struct MultiplicativeLR {
    base: Base,
    lambdas: Vec<LrLambda>,
}

impl MultiplicativeLR {
    /// One closure for every group.
    pub fn new(opt: &mut dyn ScheduleTarget, f: impl Fn(i64) -> f64 + Send + Sync + 'static) -> Self {
        Self::per_group(opt, vec![Arc::new(f)])
    }

    /// One closure per group (or one for all).
    #[track_caller]
    pub fn per_group(opt: &mut dyn ScheduleTarget, fs: Vec<LrLambda>) -> Self {
        let lambdas = lambdas(opt, "MultiplicativeLR", fs);
        start(MultiplicativeLR { base: Base::attach(opt), lambdas }, opt)
    }
}

impl Formula for MultiplicativeLR {
    formula_base!("MultiplicativeLR");

    fn lrs(&mut self, opt: &mut dyn ScheduleTarget, initial: bool) -> Vec<f64> {
        if initial {
            return opt.lrs();
        }
        let t = self.base.last_epoch;
        opt.lrs().iter().zip(&self.lambdas).map(|(lr, f)| lr * f(t)).collect()
    }
}

/// Cosine annealing with warm restarts (SGDR): within a cycle of `T_i` steps,
/// `lr = η_min + (base − η_min)(1 + cos(π·T_cur/T_i))/2`; the first cycle has
/// `T_0` steps and each next one `T_mult` times more.
#[derive(Clone, Debug)]
pub struct CosineAnnealingWarmRestarts {
    base: Base,
    t_0: i64,
    t_i: i64,
    t_mult: i64,
    eta_min: f64,
    t_cur: f64,
}

impl CosineAnnealingWarmRestarts {
    /// Cycles of `t_0`, `t_0·t_mult`, ... steps (PyTorch's defaults: `t_mult` 1, `eta_min` 0).
    #[track_caller]
    pub fn new(opt: &mut dyn ScheduleTarget, t_0: usize, t_mult: usize, eta_min: f64) -> Self {
        expect(t_0 > 0, "CosineAnnealingWarmRestarts", || format!("T_0 must be positive, got {t_0}"));
        expect(t_mult >= 1, "CosineAnnealingWarmRestarts", || format!("T_mult must be >= 1, got {t_mult}"));
        let (t_0, t_mult) = (t_0 as i64, t_mult as i64);
        let mut s =
            CosineAnnealingWarmRestarts { base: Base::attach(opt), t_0, t_i: t_0, t_mult, eta_min, t_cur: -1.0 };
        s.initial_step(opt);
        s
    }

    /// Jumps to a fractional `epoch` (e.g. `epoch + batch / batches`), as
    /// PyTorch's `step(epoch)`.
    #[track_caller]
    pub fn step_epoch(&mut self, opt: &mut dyn ScheduleTarget, epoch: f64) {
        expect(epoch >= 0.0, "CosineAnnealingWarmRestarts", || format!("expected a non-negative epoch, got {epoch}"));
        self.base.step_count += 1;
        self.seek(epoch);
        self.apply(opt);
    }

    /// Sets `T_cur` and `T_i` for `epoch`.
    fn seek(&mut self, epoch: f64) {
        let t_0 = self.t_0 as f64;
        if epoch >= t_0 {
            if self.t_mult == 1 {
                self.t_cur = epoch % t_0;
            } else {
                let m = self.t_mult as f64;
                let n = (epoch / t_0 * (m - 1.0) + 1.0).log(m).floor();
                self.t_cur = epoch - t_0 * (m.powf(n) - 1.0) / (m - 1.0);
                self.t_i = self.t_0 * self.t_mult.pow(n as u32);
            }
        } else {
            self.t_i = self.t_0;
            self.t_cur = epoch;
        }
        self.base.last_epoch = epoch.floor() as i64;
    }

    fn apply(&mut self, opt: &mut dyn ScheduleTarget) {
        let (eta, frac) = (self.eta_min, self.t_cur / self.t_i as f64);
        let lrs: Vec<f64> =
            self.base.base_lrs.iter().map(|b| eta + (b - eta) * (1.0 + (PI * frac).cos()) / 2.0).collect();
        self.base.apply(opt, &lrs);
    }
}

impl LrScheduler for CosineAnnealingWarmRestarts {
    fn name(&self) -> &'static str {
        "CosineAnnealingWarmRestarts"
    }

    fn step(&mut self, opt: &mut dyn ScheduleTarget) {
        self.base.step_count += 1;
        if self.base.last_epoch < 0 {
            self.seek(0.0);
        } else {
            self.base.last_epoch += 1;
            self.t_cur += 1.0;
            if self.t_cur >= self.t_i as f64 {
                self.t_cur %= self.t_i as f64;
                self.t_i *= self.t_mult;
            }
        }
        self.apply(opt);
    }

    fn step_to(&mut self, opt: &mut dyn ScheduleTarget, epoch: i64) {
        self.seek(epoch as f64);
        self.apply(opt);
    }

    fn last_lr(&self) -> &[f64] {
        &self.base.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.base.last_epoch
    }

    fn state(&self) -> SchedulerState {
        let extra = BTreeMap::from([("T_cur".to_owned(), self.t_cur), ("T_i".to_owned(), self.t_i as f64)]);
        self.base.save(self.name(), extra, Vec::new())
    }

    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        let (t_cur, t_i) = (extra(state, "T_cur")?, extra(state, "T_i")?);
        self.base.load(self.name(), state)?;
        self.t_cur = t_cur;
        self.t_i = t_i as i64;
        Ok(())
    }

    fn initial_step(&mut self, opt: &mut dyn ScheduleTarget) {
        self.base.step_count = 0;
        self.step(opt);
    }

    fn undo_initial_step(&mut self) {
        self.base.last_epoch -= 1;
    }
}
