//! `optimizer`, `scheduler` and `clip` cases: optimizer trajectories,
//! learning-rate sequences and clipped gradients, through `lamina::optim`.
//! Optimizer and clip cases marked `f32_ok` are run again in f32.

use crate::support::{check, check_scalar, in_f64_and_f32, tensors, Outcome, Tol};
use lamina::optim::{
    clip_grad_norm, clip_grad_value, optimizer_by_name, AnnealStrategy, AnyOptimizer, ChainedScheduler, ConstantLR,
    CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, CyclicLRConfig, CyclicMode, ExponentialLR, HyperValue,
    LinearLR, LrScheduler, MultiStepLR, OneCycleLR, OneCycleLRConfig, PerGroup, PlateauMode, PolynomialLR,
    ReduceLROnPlateau, ReduceLROnPlateauConfig, ScheduleTarget, SequentialLR, StepLR, ThresholdMode,
};
use lamina::prelude::*;
use serde_json::{Map, Value};

/// An empty JSON object.
fn empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// A case's object field (absent or null: empty).
fn object<'a>(case: &'a Value, key: &str) -> Result<&'a Map<String, Value>, String> {
    match case.get(key) {
        None | Some(Value::Null) => Ok(empty()),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(format!("`{key}` should be an object, got {other}")),
    }
}

/// A JSON option value as an optimizer hyperparameter.
fn hyper(key: &str, v: &Value) -> Result<HyperValue, String> {
    match v {
        Value::Bool(b) => Ok(HyperValue::Bool(*b)),
        Value::Number(n) => Ok(HyperValue::Num(n.as_f64().ok_or("bad number")?)),
        Value::Array(a) if a.len() == 2 => match (a[0].as_f64(), a[1].as_f64()) {
            (Some(x), Some(y)) => Ok(HyperValue::Pair(x, y)),
            _ => Err(format!("option `{key}`: expected two numbers, got {v}")),
        },
        other => Err(format!("option `{key}`: lamina has no value {other} for it")),
    }
}

/// Every option of a JSON object but `skip`, as hyperparameters.
fn hypers(m: &Map<String, Value>, skip: &str) -> Result<Vec<(String, HyperValue)>, String> {
    m.iter().filter(|(k, _)| k.as_str() != skip).map(|(k, v)| Ok((k.clone(), hyper(k, v)?))).collect()
}

fn refs(v: &[(String, HyperValue)]) -> Vec<(&str, HyperValue)> {
    v.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

/// Builds the optimizer of a case from its name, `config` and `param_groups`
/// (indices into `params`, named by index); usable by other kinds.
pub fn build_optimizer<E: Element>(
    name: &str,
    config: &Map<String, Value>,
    groups: &[Value],
    params: &[Tensor<E>],
    names: &[String],
) -> Result<Box<dyn AnyOptimizer<E>>, String> {
    let defaults = hypers(config, "")?;
    let mut opt = optimizer_by_name::<E>(name, &refs(&defaults)).map_err(|e| e.to_string())?;
    for g in groups {
        let g = g.as_object().ok_or("a param group should be an object")?;
        let members = g
            .get("params")
            .and_then(Value::as_array)
            .ok_or("a param group needs `params`")?
            .iter()
            .map(|i| {
                let i = i.as_u64().ok_or("param index should be an integer")? as usize;
                let t = params.get(i).ok_or_else(|| format!("param index {i} out of range"))?;
                Ok((names[i].clone(), t.clone()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let overrides = hypers(g, "params")?;
        opt.add_param_group_with(members, &refs(&overrides)).map_err(|e| e.to_string())?;
    }
    Ok(opt)
}

fn optimizer_in<E: Element>(case: &Value) -> Outcome {
    let tol = Tol::for_element::<E>(case);
    let name = case["optimizer"].as_str().ok_or("case without optimizer")?;
    let params: Vec<Tensor<E>> = tensors(&case["params"])?.iter().map(|t| t.cast::<E>().requires_grad_(true)).collect();
    let names: Vec<String> = (0..params.len()).map(|i| i.to_string()).collect();
    let groups = case["param_groups"].as_array().ok_or("case without param_groups")?;
    let mut opt = build_optimizer(name, object(case, "config")?, groups, &params, &names)?;
    let grads = case["grads"].as_array().ok_or("case without grads")?;
    let after = case["params_after"].as_array().ok_or("case without params_after")?;
    if grads.len() != after.len() {
        return Err(format!("{} steps of grads but {} of params_after", grads.len(), after.len()));
    }
    for (step, (gs, want)) in grads.iter().zip(after).enumerate() {
        for (p, g) in params.iter().zip(tensors(gs)?) {
            p.set_grad(Some(g.cast::<E>()));
        }
        opt.step();
        let want = want.as_array().ok_or("params_after entries should be lists")?;
        for (i, (p, w)) in params.iter().zip(want).enumerate() {
            check(&format!("{} step {step} param {i}", E::DTYPE), p, w, tol)?;
        }
    }
    Ok(())
}

/// Runs an `optimizer` case.
pub fn run_optimizer(case: &Value) -> Outcome {
    in_f64_and_f32(case, optimizer_in::<f64>, optimizer_in::<f32>)
}

// ------------------------------------------------------------------ schedulers

/// A scheduler's `config` with its known keys checked.
struct Config<'a> {
    what: String,
    map: &'a Map<String, Value>,
}

impl<'a> Config<'a> {
    fn new(what: &str, v: &'a Value, known: &[&str]) -> Result<Self, String> {
        let map = match v {
            Value::Object(m) => m,
            Value::Null => empty(),
            other => return Err(format!("{what}: config should be an object, got {other}")),
        };
        if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("{what}: unknown option `{k}` (known: {})", known.join(", ")));
        }
        Ok(Config { what: what.to_owned(), map })
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn num(&self, key: &str, default: f64) -> Result<f64, String> {
        self.get(key).map_or(Ok(default), |v| v.as_f64().ok_or_else(|| self.bad(key, v)))
    }

    fn required(&self, key: &str) -> Result<&'a Value, String> {
        self.get(key).ok_or_else(|| format!("{}: config needs `{key}`", self.what))
    }

    fn count(&self, key: &str, default: Option<usize>) -> Result<usize, String> {
        match (self.get(key), default) {
            (Some(v), _) => v.as_u64().map(|x| x as usize).ok_or_else(|| self.bad(key, v)),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!("{}: config needs `{key}`", self.what)),
        }
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, String> {
        self.get(key).map_or(Ok(default), |v| v.as_bool().ok_or_else(|| self.bad(key, v)))
    }

    fn text(&self, key: &str, default: &'a str) -> Result<&'a str, String> {
        self.get(key).map_or(Ok(default), |v| v.as_str().ok_or_else(|| self.bad(key, v)))
    }

    fn ints(&self, key: &str) -> Result<Vec<i64>, String> {
        let v = self.required(key)?;
        v.as_array().and_then(|a| a.iter().map(Value::as_i64).collect()).ok_or_else(|| self.bad(key, v))
    }

    fn per_group(&self, key: &str, default: Option<f64>) -> Result<PerGroup, String> {
        match (self.get(key), default) {
            (Some(Value::Array(a)), _) => a
                .iter()
                .map(Value::as_f64)
                .collect::<Option<Vec<f64>>>()
                .map(PerGroup::Each)
                .ok_or_else(|| self.bad(key, &a[0])),
            (Some(v), _) => v.as_f64().map(PerGroup::All).ok_or_else(|| self.bad(key, v)),
            (None, Some(d)) => Ok(PerGroup::All(d)),
            (None, None) => Err(format!("{}: config needs `{key}`", self.what)),
        }
    }

    fn bad(&self, key: &str, v: &Value) -> String {
        format!("{}: cannot read option `{key}` = {v}", self.what)
    }
}

/// A scheduler of a case: any chainable one, or ReduceLROnPlateau.
pub enum Sched {
    /// A scheduler stepped without arguments.
    Plain(Box<dyn LrScheduler>),
    /// ReduceLROnPlateau, stepped on a metric.
    Plateau(ReduceLROnPlateau),
}

/// Builds a scheduler from its PyTorch name and config on `opt` (nested
/// schedulers first, in list order); usable by other kinds.
pub fn build_scheduler(name: &str, config: &Value, opt: &mut dyn ScheduleTarget) -> Result<Sched, String> {
    let plain = |s: Box<dyn LrScheduler>| Ok(Sched::Plain(s));
    match name {
        "StepLR" => {
            let c = Config::new(name, config, &["step_size", "gamma"])?;
            plain(Box::new(StepLR::new(opt, c.count("step_size", None)?, c.num("gamma", 0.1)?)))
        }
        "MultiStepLR" => {
            let c = Config::new(name, config, &["milestones", "gamma"])?;
            plain(Box::new(MultiStepLR::new(opt, &c.ints("milestones")?, c.num("gamma", 0.1)?)))
        }
        "ConstantLR" => {
            let c = Config::new(name, config, &["factor", "total_iters"])?;
            plain(Box::new(ConstantLR::new(opt, c.num("factor", 1.0 / 3.0)?, c.count("total_iters", Some(5))?)))
        }
        "LinearLR" => {
            let c = Config::new(name, config, &["start_factor", "end_factor", "total_iters"])?;
            let (s, e) = (c.num("start_factor", 1.0 / 3.0)?, c.num("end_factor", 1.0)?);
            plain(Box::new(LinearLR::new(opt, s, e, c.count("total_iters", Some(5))?)))
        }
        "ExponentialLR" => {
            let c = Config::new(name, config, &["gamma"])?;
            let gamma = c.required("gamma")?.as_f64().ok_or("ExponentialLR: gamma should be a number")?;
            plain(Box::new(ExponentialLR::new(opt, gamma)))
        }
        "PolynomialLR" => {
            let c = Config::new(name, config, &["total_iters", "power"])?;
            plain(Box::new(PolynomialLR::new(opt, c.count("total_iters", Some(5))?, c.num("power", 1.0)?)))
        }
        "CosineAnnealingLR" => {
            let c = Config::new(name, config, &["T_max", "eta_min"])?;
            plain(Box::new(CosineAnnealingLR::new(opt, c.count("T_max", None)?, c.num("eta_min", 0.0)?)))
        }
        "CosineAnnealingWarmRestarts" => {
            let c = Config::new(name, config, &["T_0", "T_mult", "eta_min"])?;
            let s = CosineAnnealingWarmRestarts::new(
                opt,
                c.count("T_0", None)?,
                c.count("T_mult", Some(1))?,
                c.num("eta_min", 0.0)?,
            );
            plain(Box::new(s))
        }
        "CyclicLR" => {
            let known = [
                "base_lr",
                "max_lr",
                "step_size_up",
                "step_size_down",
                "mode",
                "gamma",
                "cycle_momentum",
                "base_momentum",
                "max_momentum",
            ];
            let c = Config::new(name, config, &known)?;
            let mut cfg = CyclicLRConfig::new(c.per_group("base_lr", None)?, c.per_group("max_lr", None)?);
            cfg.step_size_up = c.count("step_size_up", Some(2000))?;
            cfg.step_size_down = c.get("step_size_down").map(|_| c.count("step_size_down", None)).transpose()?;
            cfg.mode = match c.text("mode", "triangular")? {
                "triangular" => CyclicMode::Triangular,
                "triangular2" => CyclicMode::Triangular2,
                "exp_range" => CyclicMode::ExpRange,
                other => return Err(format!("CyclicLR: unknown mode `{other}`")),
            };
            cfg.gamma = c.num("gamma", 1.0)?;
            cfg.cycle_momentum = c.flag("cycle_momentum", true)?;
            cfg.base_momentum = c.per_group("base_momentum", Some(0.8))?;
            cfg.max_momentum = c.per_group("max_momentum", Some(0.9))?;
            plain(Box::new(CyclicLR::new(opt, cfg)))
        }
        "OneCycleLR" => {
            let known = [
                "max_lr",
                "total_steps",
                "epochs",
                "steps_per_epoch",
                "pct_start",
                "anneal_strategy",
                "cycle_momentum",
                "base_momentum",
                "max_momentum",
                "div_factor",
                "final_div_factor",
                "three_phase",
            ];
            let c = Config::new(name, config, &known)?;
            let total = match c.get("total_steps") {
                Some(_) => c.count("total_steps", None)?,
                None => c.count("epochs", None)? * c.count("steps_per_epoch", None)?,
            };
            let mut cfg = OneCycleLRConfig::new(c.per_group("max_lr", None)?, total);
            cfg.pct_start = c.num("pct_start", 0.3)?;
            cfg.anneal_strategy = match c.text("anneal_strategy", "cos")? {
                "cos" => AnnealStrategy::Cos,
                "linear" => AnnealStrategy::Linear,
                other => return Err(format!("OneCycleLR: unknown anneal_strategy `{other}`")),
            };
            cfg.cycle_momentum = c.flag("cycle_momentum", true)?;
            cfg.base_momentum = c.per_group("base_momentum", Some(0.85))?;
            cfg.max_momentum = c.per_group("max_momentum", Some(0.95))?;
            cfg.div_factor = c.num("div_factor", 25.0)?;
            cfg.final_div_factor = c.num("final_div_factor", 1e4)?;
            cfg.three_phase = c.flag("three_phase", false)?;
            plain(Box::new(OneCycleLR::new(opt, cfg)))
        }
        "ReduceLROnPlateau" => {
            let known = ["mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"];
            let c = Config::new(name, config, &known)?;
            let d = ReduceLROnPlateauConfig::default();
            let cfg = ReduceLROnPlateauConfig {
                mode: match c.text("mode", "min")? {
                    "min" => PlateauMode::Min,
                    "max" => PlateauMode::Max,
                    other => return Err(format!("ReduceLROnPlateau: unknown mode `{other}`")),
                },
                factor: c.num("factor", d.factor)?,
                patience: c.count("patience", Some(d.patience))?,
                threshold: c.num("threshold", d.threshold)?,
                threshold_mode: match c.text("threshold_mode", "rel")? {
                    "rel" => ThresholdMode::Rel,
                    "abs" => ThresholdMode::Abs,
                    other => return Err(format!("ReduceLROnPlateau: unknown threshold_mode `{other}`")),
                },
                cooldown: c.count("cooldown", Some(d.cooldown))?,
                min_lr: c.per_group("min_lr", Some(0.0))?,
                eps: c.num("eps", d.eps)?,
            };
            Ok(Sched::Plateau(ReduceLROnPlateau::new(opt, cfg)))
        }
        "SequentialLR" | "ChainedScheduler" => {
            let known: &[&str] = if name == "SequentialLR" { &["schedulers", "milestones"] } else { &["schedulers"] };
            let c = Config::new(name, config, known)?;
            let mut inner = Vec::new();
            for s in c.required("schedulers")?.as_array().ok_or("`schedulers` should be a list")? {
                let n = s["scheduler"].as_str().ok_or("a nested scheduler needs `scheduler`")?;
                match build_scheduler(n, &s["config"], opt)? {
                    Sched::Plain(s) => inner.push(s),
                    Sched::Plateau(_) => return Err(format!("{name} cannot hold ReduceLROnPlateau")),
                }
            }
            if name == "SequentialLR" {
                plain(Box::new(SequentialLR::new(opt, inner, &c.ints("milestones")?)))
            } else {
                plain(Box::new(ChainedScheduler::new(opt, inner)))
            }
        }
        other => Err(format!("unknown scheduler `{other}`")),
    }
}

/// Runs a `scheduler` case: one group per base rate, each holding one
/// parameter; record, `optimizer.step()`, `scheduler.step()`.
pub fn run_scheduler(case: &Value) -> Outcome {
    let tol = Tol::of(case);
    let base_lrs: Vec<f64> = case["base_lrs"]
        .as_array()
        .ok_or("case without base_lrs")?
        .iter()
        .map(|v| v.as_f64().ok_or("base_lrs should be numbers"))
        .collect::<Result<_, _>>()?;
    let opt_name = case.get("optimizer").and_then(Value::as_str).unwrap_or("SGD");
    let defaults = hypers(object(case, "optimizer_config")?, "")?;
    let mut opt = optimizer_by_name::<f64>(opt_name, &refs(&defaults)).map_err(|e| e.to_string())?;
    for (i, &lr) in base_lrs.iter().enumerate() {
        let p = Tensor::<f64>::zeros(&[1]).requires_grad_(true);
        opt.add_param_group_with(vec![(format!("p{i}"), p)], &[("lr", lr.into())]).map_err(|e| e.to_string())?;
    }
    let name = case["scheduler"].as_str().ok_or("case without scheduler")?;
    let mut sched = build_scheduler(name, &case["config"], &mut opt)?;
    let want = case["lrs"].as_array().ok_or("case without lrs")?;
    let metrics = case["metrics"].as_array();
    for (t, w) in want.iter().enumerate() {
        let w = w.as_array().ok_or("lrs entries should be lists")?;
        if w.len() != base_lrs.len() {
            return Err(format!("step {t}: {} lrs for {} groups", w.len(), base_lrs.len()));
        }
        for (g, lr) in w.iter().enumerate() {
            check_scalar(&format!("step {t} group {g} lr"), opt.lr(g), lr, tol)?;
        }
        opt.step();
        match &mut sched {
            Sched::Plain(s) => s.step(&mut opt),
            Sched::Plateau(s) => {
                let m = metrics.and_then(|m| m.get(t)).and_then(Value::as_f64);
                s.step(&mut opt, m.ok_or_else(|| format!("no metric for step {t}"))?);
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ clipping

/// Applies the clipping `function` with its `config` to the gradients of
/// `params`; returns the total norm for norm clipping. Usable by other kinds.
pub fn apply_clip<E: Element>(function: &str, config: &Value, params: &[Tensor<E>]) -> Result<Option<f64>, String> {
    match function {
        "clip_grad_norm_" => {
            let c = Config::new(function, config, &["max_norm", "norm_type", "error_if_nonfinite"])?;
            let max_norm = c.required("max_norm")?.as_f64().ok_or("max_norm should be a number")?;
            let norm_type = match c.get("norm_type") {
                None => 2.0,
                Some(Value::String(s)) if s == "inf" => f64::INFINITY,
                Some(Value::String(s)) if s == "-inf" => f64::NEG_INFINITY,
                Some(v) => v.as_f64().ok_or_else(|| format!("cannot read norm_type {v}"))?,
            };
            let total = clip_grad_norm(params, max_norm, norm_type, c.flag("error_if_nonfinite", false)?)
                .map_err(|e| e.to_string())?;
            Ok(Some(total))
        }
        "clip_grad_value_" => {
            let c = Config::new(function, config, &["clip_value"])?;
            clip_grad_value(params, c.required("clip_value")?.as_f64().ok_or("clip_value should be a number")?);
            Ok(None)
        }
        other => Err(format!("unknown clip function `{other}`")),
    }
}

fn clip_in<E: Element>(case: &Value) -> Outcome {
    let tol = Tol::for_element::<E>(case);
    let params: Vec<Tensor<E>> = tensors(&case["grads"])?
        .iter()
        .map(|g| {
            let p = Tensor::<E>::zeros(g.shape()).requires_grad_(true);
            p.set_grad(Some(g.cast::<E>()));
            p
        })
        .collect();
    let function = case["function"].as_str().ok_or("case without function")?;
    if let Some(total) = apply_clip(function, &case["config"], &params)? {
        check_scalar(&format!("{} total_norm", E::DTYPE), total, &case["total_norm"], tol)?;
    }
    for (i, (p, want)) in
        params.iter().zip(case["grads_after"].as_array().ok_or("case without grads_after")?).enumerate()
    {
        let g = p.grad().ok_or("a gradient disappeared")?;
        check(&format!("{} grad {i}", E::DTYPE), &g, want, tol)?;
    }
    Ok(())
}

/// Runs a `clip` case.
pub fn run_clip(case: &Value) -> Outcome {
    in_f64_and_f32(case, clip_in::<f64>, clip_in::<f32>)
}
