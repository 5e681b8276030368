//! Per-layer training statistics, gathered through forward hooks (activations)
//! and tensor hooks (the gradient reaching each layer's output).

use super::plot::Series;
use super::table::{Cell, Table};
use super::{all_modules, is_leaf, l2};
use crate::{register_forward_hook, HookHandle, Module, ModuleExt};
use lamina_core::{Element, Tensor};
use std::sync::{Arc, Mutex, MutexGuard};

/// A tanh unit is saturated when `|y| > SATURATED` (its slope `1 - y²` is
/// then below 0.06); a sigmoid unit when `|2y - 1| > SATURATED`, the same
/// pre-activations, since `2 sigmoid(x) - 1 = tanh(x / 2)`.
pub const SATURATED: f64 = 0.97;

/// Statistics of one layer's output on one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationStats {
    /// Mean of every value.
    pub mean: f64,
    /// Standard deviation of every value (correction 1, as `torch.std`).
    pub std: f64,
    /// For ReLU layers: the fraction of units (indices of dim 1: features or
    /// channels) that are zero for every sample and position of the batch.
    pub dead_fraction: Option<f64>,
    /// For sigmoid and tanh layers: the fraction of values that are saturated
    /// (see [`SATURATED`]).
    pub saturated_fraction: Option<f64>,
}

impl ActivationStats {
    /// The statistics of `y`, the output of a layer of type `type_name`
    /// (`"ReLU"`/`"ReLU6"` get a dead fraction, `"Sigmoid"`/`"Tanh"` a saturation).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::analysis::ActivationStats;
    /// // Two samples, three units; unit 1 is zero for both: one unit in three is dead.
    /// let y = Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.0, 3.0, 0.0, 2.0], &[2, 3]);
    /// let s = ActivationStats::of(&y, "ReLU");
    /// assert_eq!(s.mean, 1.0);
    /// assert_eq!(s.dead_fraction, Some(1.0 / 3.0));
    /// ```
    pub fn of<E: Element>(y: &Tensor<E>, type_name: &str) -> Self {
        let v = y.to_f64_vec();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let dead_fraction = matches!(type_name, "ReLU" | "ReLU6").then(|| dead_fraction(&v, y.shape()));
        let saturated_fraction = match type_name {
            "Tanh" => Some(v.iter().filter(|y| y.abs() > SATURATED).count() as f64 / n),
            "Sigmoid" => Some(v.iter().filter(|y| (2.0 * *y - 1.0).abs() > SATURATED).count() as f64 / n),
            _ => None,
        };
        ActivationStats { mean, std, dead_fraction, saturated_fraction }
    }
}

/// The fraction of units (indices of dim 1; every value when there is no
/// batch dimension) that are zero throughout `v`, a row-major tensor of `shape`.
fn dead_fraction(v: &[f64], shape: &[usize]) -> f64 {
    let (units, inner) = match shape {
        [] | [_] => (v.len(), 1),
        [_, c, rest @ ..] => (*c, rest.iter().product()),
    };
    if units == 0 {
        return 0.0;
    }
    let mut alive = vec![false; units];
    for (i, x) in v.iter().enumerate() {
        if *x != 0.0 {
            alive[(i / inner) % units] = true;
        }
    }
    alive.iter().filter(|a| !**a).count() as f64 / units as f64
}

/// Copies of parameters' values, to measure how far an optimizer step moved them.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::analysis::ParamSnapshot;
/// let w = Tensor::<f64>::from_vec(vec![3.0, 4.0], &[2]);
/// let params = vec![("w".to_string(), w.clone())];
/// let before = ParamSnapshot::take(&params);
/// w.assign(&Tensor::from_vec(vec![3.0, 4.5], &[2]));
/// // ||Δw|| / ||w_before|| = 0.5 / 5
/// assert_eq!(before.update_ratios(&params), vec![("w".to_string(), 0.1)]);
/// ```
#[derive(Clone, Debug)]
pub struct ParamSnapshot {
    values: Vec<(String, Vec<f64>)>,
}

impl ParamSnapshot {
    /// Copies the values of `params` (as `named_parameters` gives them).
    pub fn take<E: Element>(params: &[(String, Tensor<E>)]) -> Self {
        ParamSnapshot { values: params.iter().map(|(n, t)| (n.clone(), t.to_f64_vec())).collect() }
    }

    /// For each parameter in both, `||now - before|| / ||before||` (the
    /// update-to-weight ratio; about 1e-3 is the usual healthy size).
    pub fn update_ratios<E: Element>(&self, now: &[(String, Tensor<E>)]) -> Vec<(String, f64)> {
        self.deltas(now).into_iter().map(|(n, d, w)| (n, d / w)).collect()
    }

    /// `(name, ||now - before||, ||before||)` for each parameter in both.
    fn deltas<E: Element>(&self, now: &[(String, Tensor<E>)]) -> Vec<(String, f64, f64)> {
        self.values
            .iter()
            .filter_map(|(name, before)| {
                let (_, t) = now.iter().find(|(n, _)| n == name)?;
                let diff: Vec<f64> = t.to_f64_vec().iter().zip(before).map(|(a, b)| a - b).collect();
                Some((name.clone(), l2(&diff), l2(before)))
            })
            .collect()
    }
}

/// One layer's statistics at one recorded step.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRecord {
    /// The training step.
    pub step: usize,
    /// The layer's dotted name (`""` for the model itself).
    pub layer: String,
    /// The layer's type (`Conv2d`, `ReLU`).
    pub kind: &'static str,
    /// Statistics of its output, if it ran during the step.
    pub activation: Option<ActivationStats>,
    /// The norm of the loss gradient with respect to its output (how much
    /// gradient flows back through it), if backward reached it.
    pub output_grad_norm: Option<f64>,
    /// The norm of the gradient of all its parameters together.
    pub grad_norm: Option<f64>,
    /// `||Δw|| / ||w||` over all its parameters after the optimizer step.
    pub update_ratio: Option<f64>,
}

/// One parameter's statistics at one recorded step.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamRecord {
    /// The training step.
    pub step: usize,
    /// The parameter's dotted name.
    pub name: String,
    /// Its norm (before the step).
    pub weight_norm: f64,
    /// Its gradient's norm, if it has a gradient.
    pub grad_norm: Option<f64>,
    /// `||Δw|| / ||w||` after the optimizer step.
    pub update_ratio: Option<f64>,
}

/// What the hooks gather during a recorded step, per layer.
#[derive(Default)]
struct Pending {
    active: bool,
    activation: Vec<Option<ActivationStats>>,
    output_grad_norm: Vec<Option<f64>>,
}

fn lock(p: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// A layer observed by the collector.
struct Layer {
    name: String,
    kind: &'static str,
    /// Indices into the collector's parameter list.
    params: Vec<usize>,
}

/// Collects per-layer statistics every `every` steps of training, through
/// hooks on every layer (module without children) of a model.
///
/// Each step: [`begin_step`](Self::begin_step) before the forward pass,
/// [`after_backward`](Self::after_backward) once gradients are in, and
/// [`after_update`](Self::after_update) after the optimizer step. Steps that
/// are not recorded cost one mutex lock per layer call.
///
/// ```
/// use lamina_core::{no_grad, Tensor};
/// use lamina_layers::analysis::StatsCollector;
/// use lamina_layers::{Forward, Linear, ModuleExt, ReLU, Sequential};
///
/// let model = Sequential::<f32>::new().append(Linear::new(4, 8, true)).append(ReLU::new()).append(Linear::new(8, 1, true));
/// let mut stats = StatsCollector::new(&model, 2);
/// for step in 0..4 {
///     stats.begin_step(step);
///     let loss = model.forward(&Tensor::randn(&[16, 4])).square().mean();
///     model.zero_grad();
///     loss.backward();
///     stats.after_backward();
///     no_grad(|| for p in model.parameters() { p.assign(&(&p - &(p.grad().unwrap() * 0.1))) });
///     stats.after_update();
/// }
/// let table = stats.layer_table();
/// assert_eq!(table.rows.len(), 2 * 3); // steps 0 and 2, three layers
/// println!("{table}");
/// ```
pub struct StatsCollector<'m, E: Element = f32> {
    model: &'m dyn Module<E>,
    every: usize,
    layers: Vec<Layer>,
    params: Vec<(String, Tensor<E>)>,
    pending: Arc<Mutex<Pending>>,
    _hooks: Vec<HookHandle>,
    step: Option<usize>,
    grad_norms: Vec<Option<f64>>,
    snapshot: Option<ParamSnapshot>,
    layer_records: Vec<LayerRecord>,
    param_records: Vec<ParamRecord>,
}

impl<'m, E: Element> StatsCollector<'m, E> {
    /// Hooks every layer of `model`, recording every `every` steps (steps
    /// `0, every, 2 every, ...`). The hooks go when the collector is dropped.
    #[track_caller]
    pub fn new(model: &'m dyn Module<E>, every: usize) -> Self {
        assert!(every > 0, "StatsCollector::new: `every` must be at least 1");
        let params = model.named_parameters();
        let pending = Arc::new(Mutex::new(Pending::default()));
        let mut layers = Vec::new();
        let mut hooks = Vec::new();
        for (name, m) in all_modules(model) {
            if !is_leaf(m) || std::mem::size_of_val(m) == 0 {
                continue;
            }
            let i = layers.len();
            let kind = m.type_name();
            let owned = params.iter().enumerate().filter(|(_, (p, _))| owner(p) == name).map(|(j, _)| j).collect();
            layers.push(Layer { name, kind, params: owned });
            let pending = pending.clone();
            hooks.push(register_forward_hook(m, move |_, y: &Tensor<E>| {
                if !lock(&pending).active {
                    return None;
                }
                let stats = ActivationStats::of(y, kind);
                lock(&pending).activation[i] = Some(stats);
                if y.requires_grad() && !y.is_leaf() {
                    let pending = pending.clone();
                    y.register_hook(move |g| {
                        lock(&pending).output_grad_norm[i] = Some(l2(&g.to_f64_vec()));
                        None
                    });
                }
                None
            }));
        }
        StatsCollector {
            model,
            every,
            layers,
            params,
            pending,
            _hooks: hooks,
            step: None,
            grad_norms: Vec::new(),
            snapshot: None,
            layer_records: Vec::new(),
            param_records: Vec::new(),
        }
    }

    /// The observed layers' names, in order.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }

    /// Starts step `step` (call before the forward pass); returns whether it
    /// is recorded. Closes a recorded step left open (without update ratios).
    pub fn begin_step(&mut self, step: usize) -> bool {
        if self.step.is_some() {
            self.close(None);
        }
        let on = step.is_multiple_of(self.every);
        let mut p = lock(&self.pending);
        p.active = on;
        p.activation = vec![None; self.layers.len()];
        p.output_grad_norm = vec![None; self.layers.len()];
        self.step = on.then_some(step);
        on
    }

    /// Reads the parameters' gradient norms and snapshots their values (call
    /// after `backward`, before the optimizer step).
    pub fn after_backward(&mut self) {
        if self.step.is_none() {
            return;
        }
        lock(&self.pending).active = false;
        self.grad_norms = self.params.iter().map(|(_, t)| t.grad().map(|g| l2(&g.to_f64_vec()))).collect();
        self.snapshot = Some(ParamSnapshot::take(&self.params));
    }

    /// Measures each update-to-weight ratio and stores the step's records
    /// (call after the optimizer step).
    pub fn after_update(&mut self) {
        if self.step.is_some() {
            let deltas = self.snapshot.take().map(|s| s.deltas(&self.params));
            self.close(deltas);
        }
    }

    /// Turns what the step gathered into records.
    fn close(&mut self, deltas: Option<Vec<(String, f64, f64)>>) {
        let Some(step) = self.step.take() else { return };
        let (activation, output_grad_norm) = {
            let mut p = lock(&self.pending);
            p.active = false;
            (std::mem::take(&mut p.activation), std::mem::take(&mut p.output_grad_norm))
        };
        let grads = std::mem::take(&mut self.grad_norms);
        let delta = |j: usize| deltas.as_ref().map(|d| (d[j].1, d[j].2));
        for (j, (name, t)) in self.params.iter().enumerate() {
            self.param_records.push(ParamRecord {
                step,
                name: name.clone(),
                weight_norm: delta(j).map_or_else(|| l2(&t.to_f64_vec()), |d| d.1),
                grad_norm: grads.get(j).copied().flatten(),
                update_ratio: delta(j).map(|(d, w)| d / w),
            });
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let own = &layer.params;
            let sq = |v: Vec<Option<f64>>| v.into_iter().map(|x| x.map(|x| x * x)).sum::<Option<f64>>().map(f64::sqrt);
            let grad_norm =
                if own.is_empty() { None } else { sq(own.iter().map(|&j| grads.get(j).copied().flatten()).collect()) };
            let update_ratio = if own.is_empty() {
                None
            } else {
                let d = sq(own.iter().map(|&j| delta(j).map(|d| d.0)).collect());
                let w = sq(own.iter().map(|&j| delta(j).map(|d| d.1)).collect());
                d.zip(w).map(|(d, w)| d / w)
            };
            let record = LayerRecord {
                step,
                layer: layer.name.clone(),
                kind: layer.kind,
                activation: activation.get(i).copied().flatten(),
                output_grad_norm: output_grad_norm.get(i).copied().flatten(),
                grad_norm,
                update_ratio,
            };
            if record.activation.is_some() || !own.is_empty() {
                self.layer_records.push(record);
            }
        }
    }

    /// Every recorded step's layer statistics.
    pub fn layer_records(&self) -> &[LayerRecord] {
        &self.layer_records
    }

    /// Every recorded step's parameter statistics.
    pub fn param_records(&self) -> &[ParamRecord] {
        &self.param_records
    }

    /// The layer statistics as a table: step, layer, type, act_mean, act_std,
    /// dead_frac, saturated, out_grad_norm, grad_norm, update_ratio.
    pub fn layer_table(&self) -> Table {
        let mut t = Table::new([
            "step",
            "layer",
            "type",
            "act_mean",
            "act_std",
            "dead_frac",
            "saturated",
            "out_grad_norm",
            "grad_norm",
            "update_ratio",
        ]);
        for r in &self.layer_records {
            let a = r.activation;
            t.push(vec![
                r.step.into(),
                display_name(&r.layer).into(),
                r.kind.into(),
                a.map(|a| a.mean).into(),
                a.map(|a| a.std).into(),
                a.and_then(|a| a.dead_fraction).into(),
                a.and_then(|a| a.saturated_fraction).into(),
                r.output_grad_norm.into(),
                r.grad_norm.into(),
                r.update_ratio.into(),
            ]);
        }
        t
    }

    /// The parameter statistics as a table: step, parameter, shape,
    /// weight_norm, grad_norm, update_ratio.
    pub fn param_table(&self) -> Table {
        let mut t = Table::new(["step", "parameter", "shape", "weight_norm", "grad_norm", "update_ratio"]);
        for r in &self.param_records {
            let shape = self.params.iter().find(|(n, _)| *n == r.name).map(|(_, p)| format!("{:?}", p.shape()));
            t.push(vec![
                r.step.into(),
                r.name.clone().into(),
                Cell::from(shape),
                r.weight_norm.into(),
                r.grad_norm.into(),
                r.update_ratio.into(),
            ]);
        }
        t
    }

    /// One curve per layer of `value` over the recorded steps (layers where it
    /// is never defined are left out), e.g. `|r| r.grad_norm` for gradient-norm curves.
    pub fn layer_series(&self, value: impl Fn(&LayerRecord) -> Option<f64>) -> Vec<Series> {
        self.layers
            .iter()
            .map(|l| {
                let label = format!("{} ({})", display_name(&l.name), l.kind);
                let points = self
                    .layer_records
                    .iter()
                    .filter(|r| r.layer == l.name)
                    .filter_map(|r| value(r).map(|v| (r.step as f64, v)))
                    .collect();
                Series::new(label, points)
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    }

    /// The model being observed.
    pub fn model(&self) -> &'m dyn Module<E> {
        self.model
    }
}

/// The name shown for a layer: its dotted name, `(model)` for the model itself.
pub(crate) fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "(model)"
    } else {
        name
    }
}

/// The module a parameter belongs to: its name without the last component.
fn owner(param: &str) -> &str {
    param.rsplit_once('.').map_or("", |(m, _)| m)
}
