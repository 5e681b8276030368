//! The optimizer: parameter groups, each with its own hyperparameters, state
//! kept per parameter name, `step`, `zero_grad`, and saving and loading state.

use crate::hyper::Hyperparameters;
use crate::rule::{ParamState, Rule};
use crate::scheduler::ScheduleTarget;
use crate::{HyperValue, OptimError};
use lamina_core::{Element, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One parameter of a group: its name, the tensor, and its optimizer state.
#[derive(Clone, Debug)]
struct Entry<E: Element> {
    name: String,
    tensor: Tensor<E>,
    state: Option<ParamState<E>>,
}

/// A set of parameters that share hyperparameters (PyTorch's `param_group`).
#[derive(Clone, Debug)]
pub struct ParamGroup<R: Rule, E: Element = f32> {
    /// This group's hyperparameters. Changing a field directly skips the range
    /// checks that [`ParamGroup::set`] makes.
    pub options: R,
    frozen: bool,
    initial_lr: Option<f64>,
    entries: Vec<Entry<E>>,
}

impl<R: Rule, E: Element> ParamGroup<R, E> {
    /// The group's parameters with their names.
    pub fn params(&self) -> impl Iterator<Item = (&str, &Tensor<E>)> {
        self.entries.iter().map(|e| (e.name.as_str(), &e.tensor))
    }

    /// How many parameters the group has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the group has no parameters.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        self.options.lr()
    }

    /// Sets the option `key` by its PyTorch name, refusing unknown names and
    /// out-of-range values.
    pub fn set(&mut self, key: &str, value: impl Into<HyperValue>) -> Result<&mut Self, OptimError> {
        self.options.set(key, value.into())?;
        Ok(self)
    }

    /// Whether `step` leaves this group alone.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The state of the parameter `name`, once it has been stepped.
    pub fn state(&self, name: &str) -> Option<&ParamState<E>> {
        self.entries.iter().find(|e| e.name == name).and_then(|e| e.state.as_ref())
    }
}

/// An optimizer: an update rule `R` applied to groups of named parameters.
///
/// State is kept per parameter and saved under the parameter's name, so a
/// saved state loads into an optimizer over the same names whatever their
/// order. Parameters without a gradient are skipped by [`step`](Self::step).
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{Adam, Optimizer};
/// let w = Tensor::<f64>::from_vec(vec![3.0, -2.0], &[2]).requires_grad_(true);
/// let mut opt = Optimizer::new([("w", w.clone())], Adam { lr: 0.1, ..Adam::default() });
/// for _ in 0..100 {
///     opt.zero_grad();
///     (&w * &w).sum().backward(); // minimise |w|²
///     opt.step();
/// }
/// assert!(w.to_vec().iter().all(|x| x.abs() < 0.5));
/// ```
#[derive(Clone, Debug)]
pub struct Optimizer<R: Rule, E: Element = f32> {
    defaults: R,
    groups: Vec<ParamGroup<R, E>>,
    /// Whether two parameters share storage (views of one buffer): their
    /// updates then run one after another, in order.
    aliased: bool,
}

/// Named parameters as an optimizer takes them.
fn named<E: Element, N: Into<String>>(params: impl IntoIterator<Item = (N, Tensor<E>)>) -> Vec<(String, Tensor<E>)> {
    params.into_iter().map(|(n, t)| (n.into(), t)).collect()
}

/// Panics with the rule's complaint when its options are out of range.
#[track_caller]
fn checked<R: Rule>(op: &str, options: R) -> R {
    if let Err(e) = options.validate() {
        panic!("{op}: {e} at {}", crate::at(std::panic::Location::caller()));
    }
    options
}

impl<R: Rule, E: Element> Optimizer<R, E> {
    /// An optimizer with one group holding `params`, with options `defaults`.
    ///
    /// Panics when an option is out of range, a name or tensor appears twice,
    /// or a parameter is not a leaf.
    #[track_caller]
    pub fn new<N: Into<String>>(params: impl IntoIterator<Item = (N, Tensor<E>)>, defaults: R) -> Self {
        let mut opt = Self::empty(defaults);
        opt.add_param_group(params, defaults);
        opt
    }

    /// An optimizer without groups yet; `defaults` fill the options that
    /// [`add_param_group_with`](Self::add_param_group_with) does not set.
    #[track_caller]
    pub fn empty(defaults: R) -> Self {
        Optimizer { defaults: checked(R::NAME, defaults), groups: Vec::new(), aliased: false }
    }

    /// The options new groups start from.
    pub fn defaults(&self) -> &R {
        &self.defaults
    }

    /// Adds a group of parameters with its own options; returns it.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_optim::{Optimizer, Sgd};
    /// let (w, b) = (Tensor::<f32>::ones(&[2, 2]), Tensor::<f32>::zeros(&[2]));
    /// let mut opt = Optimizer::new([("w", w)], Sgd { lr: 0.1, weight_decay: 1e-4, ..Sgd::default() });
    /// opt.add_param_group([("b", b)], Sgd { weight_decay: 0.0, ..*opt.defaults() });
    /// assert_eq!(opt.param_groups()[1].options.lr, 0.1);
    /// ```
    #[track_caller]
    pub fn add_param_group<N: Into<String>>(
        &mut self,
        params: impl IntoIterator<Item = (N, Tensor<E>)>,
        options: R,
    ) -> &mut ParamGroup<R, E> {
        let options = checked("add_param_group", options);
        let params = named(params);
        self.aliased |= self.check_new(&params);
        self.groups.push(ParamGroup {
            options,
            frozen: false,
            initial_lr: None,
            entries: params.into_iter().map(|(name, tensor)| Entry { name, tensor, state: None }).collect(),
        });
        self.groups.last_mut().expect("just pushed")
    }

    /// Adds a group whose options are the defaults with `overrides` (PyTorch
    /// names) applied, as PyTorch's `add_param_group({"params": ..., "lr": ...})`.
    pub fn add_param_group_with<N: Into<String>>(
        &mut self,
        params: impl IntoIterator<Item = (N, Tensor<E>)>,
        overrides: &[(&str, HyperValue)],
    ) -> Result<&mut ParamGroup<R, E>, OptimError> {
        let mut options = self.defaults;
        for &(key, value) in overrides {
            options.set(key, value)?;
        }
        Ok(self.add_param_group(params, options))
    }

    /// Panics unless the new parameters are leaves not already in a group;
    /// returns whether one of them shares storage with another parameter.
    #[track_caller]
    fn check_new(&self, params: &[(String, Tensor<E>)]) -> bool {
        let here = crate::at(std::panic::Location::caller());
        let mut names: HashSet<&str> = self.named_params().map(|(n, _)| n).collect();
        let mut aliased = false;
        for (i, (name, t)) in params.iter().enumerate() {
            if !names.insert(name) {
                panic!("add_param_group: parameter name `{name}` appears more than once at {here}");
            }
            for other in self.named_params().map(|(_, t)| t).chain(params[..i].iter().map(|(_, t)| t)) {
                if other.same(t) {
                    panic!(
                        "add_param_group: the tensor named `{name}` is already a parameter of this optimizer at {here}"
                    );
                }
                aliased |= other.shares_storage(t);
            }
            if !t.is_leaf() {
                panic!("add_param_group: parameter `{name}` is not a leaf tensor (use detach()) at {here}");
            }
        }
        aliased
    }

    /// The groups, in the order they were added.
    pub fn param_groups(&self) -> &[ParamGroup<R, E>] {
        &self.groups
    }

    /// The groups, to change their options.
    pub fn param_groups_mut(&mut self) -> &mut [ParamGroup<R, E>] {
        &mut self.groups
    }

    /// Every parameter with its name, group by group.
    pub fn named_params(&self) -> impl Iterator<Item = (&str, &Tensor<E>)> {
        self.groups.iter().flat_map(|g| g.params())
    }

    /// Every parameter, group by group (what clipping functions take).
    pub fn params(&self) -> impl Iterator<Item = &Tensor<E>> {
        self.named_params().map(|(_, t)| t)
    }

    /// The state of the parameter `name`, once it has been stepped.
    pub fn state(&self, name: &str) -> Option<&ParamState<E>> {
        self.groups.iter().find_map(|g| g.state(name))
    }

    /// Updates every parameter that has a gradient, in place and unrecorded.
    /// Frozen groups are skipped. Each parameter's update reads only its own
    /// gradient and state, so they run as parallel tasks, with the same
    /// results for any thread count (in order, when parameters share storage).
    pub fn step(&mut self) {
        let _profile = lamina_core::profile::scope(lamina_core::profile::Family::Optimizer);
        let mut updates = Vec::new();
        for group in self.groups.iter_mut().filter(|g| !g.frozen) {
            let options = group.options;
            for e in &mut group.entries {
                let Some(grad) = e.tensor.grad() else { continue };
                let state = e.state.get_or_insert_with(|| options.new_state());
                updates.push((options, &e.tensor, grad, state));
            }
        }
        let update = |(options, param, grad, state): (R, &Tensor<E>, Tensor<E>, &mut ParamState<E>)| {
            with_slices(param, &grad, |p, g| options.update(state, p, g))
        };
        match self.aliased {
            true => updates.into_iter().for_each(update),
            false => lamina_core::for_each_task(updates, update),
        }
    }

    /// Clears every parameter's gradient (sets it to `None`, PyTorch's default).
    pub fn zero_grad(&self) {
        for t in self.params() {
            t.set_grad(None);
        }
    }

    /// Freezes group `i`: `step` skips it and its parameters stop requiring
    /// grad, so backward no longer computes their gradients.
    #[track_caller]
    pub fn freeze_group(&mut self, i: usize) {
        self.set_frozen(i, true);
    }

    /// Undoes [`freeze_group`](Self::freeze_group).
    #[track_caller]
    pub fn unfreeze_group(&mut self, i: usize) {
        self.set_frozen(i, false);
    }

    #[track_caller]
    fn set_frozen(&mut self, i: usize, frozen: bool) {
        let n = self.groups.len();
        let Some(group) = self.groups.get_mut(i) else {
            panic!(
                "freeze_group: group {i} out of range ({n} groups) at {}",
                crate::at(std::panic::Location::caller())
            );
        };
        group.frozen = frozen;
        for e in &group.entries {
            e.tensor.set_requires_grad(!frozen);
            if frozen {
                e.tensor.set_grad(None);
            }
        }
    }

    /// The optimizer's state: every group's parameter names and options, and
    /// each stepped parameter's buffers keyed by its name.
    pub fn state_dict(&self) -> OptimizerState {
        let mut state = BTreeMap::new();
        let param_groups = self
            .groups
            .iter()
            .map(|g| {
                for e in &g.entries {
                    if let Some(s) = &e.state {
                        state.insert(e.name.clone(), save_param(&e.tensor, s, R::BUFFERS, R::SCALARS));
                    }
                }
                GroupState {
                    params: g.entries.iter().map(|e| e.name.clone()).collect(),
                    options: R::KEYS.iter().filter_map(|&k| Some((k.to_owned(), g.options.get(k)?))).collect(),
                    frozen: g.frozen,
                    initial_lr: g.initial_lr,
                }
            })
            .collect();
        OptimizerState { optimizer: R::NAME.to_owned(), param_groups, state }
    }

    /// Restores a state from [`state_dict`](Self::state_dict), matching
    /// parameters by name. Nothing changes unless the whole state fits: the
    /// same optimizer, the same groups of names, known options, and buffers of
    /// the parameters' shapes.
    pub fn load_state_dict(&mut self, saved: &OptimizerState) -> Result<(), OptimError> {
        if saved.optimizer != R::NAME {
            return Err(OptimError::StateMismatch(format!(
                "the state is of a {} optimizer, not {}",
                saved.optimizer,
                R::NAME
            )));
        }
        if saved.param_groups.len() != self.groups.len() {
            return Err(OptimError::StateMismatch(format!(
                "the state has {} parameter groups, the optimizer {}",
                saved.param_groups.len(),
                self.groups.len()
            )));
        }
        let all: HashSet<&str> = self.named_params().map(|(n, _)| n).collect();
        let mut options = Vec::with_capacity(self.groups.len());
        for (i, (group, sg)) in self.groups.iter().zip(&saved.param_groups).enumerate() {
            if let Some(unknown) = sg.params.iter().find(|n| !all.contains(n.as_str())) {
                return Err(OptimError::UnknownParameter(unknown.clone()));
            }
            let here: BTreeSet<&str> = group.entries.iter().map(|e| e.name.as_str()).collect();
            let there: BTreeSet<&str> = sg.params.iter().map(String::as_str).collect();
            if here != there {
                let missing: Vec<&str> = here.difference(&there).copied().collect();
                let extra: Vec<&str> = there.difference(&here).copied().collect();
                return Err(OptimError::StateMismatch(format!(
                    "group {i} differs: the state lacks {missing:?} and adds {extra:?}"
                )));
            }
            let mut o = group.options;
            for (k, v) in &sg.options {
                o.set(k, *v)?;
            }
            options.push(o);
        }
        let mut states: BTreeMap<&str, ParamState<E>> = BTreeMap::new();
        for (name, s) in &saved.state {
            let tensor = self
                .named_params()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| OptimError::UnknownParameter(name.clone()))?;
            states.insert(name, load_param(name, tensor, s, R::BUFFERS, R::SCALARS)?);
        }
        for (i, (sg, o)) in saved.param_groups.iter().zip(options).enumerate() {
            if sg.frozen != self.groups[i].frozen {
                self.set_frozen(i, sg.frozen);
            }
            let group = &mut self.groups[i];
            group.options = o;
            group.initial_lr = sg.initial_lr;
            for e in &mut group.entries {
                e.state = states.remove(e.name.as_str());
            }
        }
        Ok(())
    }
}

/// Runs `f` on the parameter's data and the gradient's, in place when the
/// parameter is contiguous; reads a gradient that is strided (an expanded
/// view) or shares the parameter's storage through a copy.
fn with_slices<E: Element>(p: &Tensor<E>, g: &Tensor<E>, f: impl FnOnce(&mut [E], &[E])) {
    let direct_grad = g.is_contiguous() && !g.shares_storage(p);
    if p.is_contiguous() {
        if direct_grad {
            p.with_data_mut(|pd| g.with_data_mut(|gd| f(pd, gd)));
        } else {
            let gv = g.to_vec();
            p.with_data_mut(|pd| f(pd, &gv));
        }
    } else {
        let (mut pv, gv) = (p.to_vec(), g.to_vec());
        f(&mut pv, &gv);
        p.assign(&Tensor::from_vec(pv, p.shape()));
    }
}

/// A saved optimizer: what [`Optimizer::state_dict`] returns, serializable
/// with serde.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The optimizer's PyTorch name (`"Adam"`).
    pub optimizer: String,
    /// Each group's parameter names and options, in order.
    pub param_groups: Vec<GroupState>,
    /// Per-parameter state, by parameter name (only parameters stepped so far).
    pub state: BTreeMap<String, SavedParamState>,
}

/// A saved parameter group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The names of the group's parameters.
    pub params: Vec<String>,
    /// Every option by its PyTorch name.
    pub options: BTreeMap<String, HyperValue>,
    /// Whether the group is frozen.
    pub frozen: bool,
    /// The learning rate the first scheduler found (`initial_lr`).
    pub initial_lr: Option<f64>,
}

/// A saved parameter's state, values as f64 whatever the element type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedParamState {
    /// The parameter's shape.
    pub shape: Vec<usize>,
    /// Updates so far.
    pub step: u64,
    /// Per-element buffers by name (those created so far).
    pub buffers: BTreeMap<String, Vec<f64>>,
    /// Scalar state by name.
    pub scalars: BTreeMap<String, f64>,
}

fn save_param<E: Element>(
    t: &Tensor<E>,
    s: &ParamState<E>,
    buffers: &[&str],
    scalars: &[(&str, f64)],
) -> SavedParamState {
    SavedParamState {
        shape: t.shape().to_vec(),
        step: s.step,
        buffers: buffers
            .iter()
            .zip(&s.buffers)
            .filter(|(_, b)| !b.is_empty())
            .map(|(n, b)| (n.to_string(), b.iter().map(|v| v.f64()).collect()))
            .collect(),
        scalars: scalars.iter().zip(&s.scalars).map(|((n, _), v)| (n.to_string(), *v)).collect(),
    }
}

fn load_param<E: Element>(
    name: &str,
    t: &Tensor<E>,
    s: &SavedParamState,
    buffers: &[&str],
    scalars: &[(&str, f64)],
) -> Result<ParamState<E>, OptimError> {
    if s.shape != t.shape() {
        return Err(OptimError::ShapeMismatch {
            name: name.to_owned(),
            expected: t.shape().to_vec(),
            found: s.shape.clone(),
        });
    }
    if let Some(b) = s.buffers.keys().find(|b| !buffers.contains(&b.as_str())) {
        return Err(OptimError::StateMismatch(format!(
            "parameter `{name}` has unknown buffer `{b}` (known: {buffers:?})"
        )));
    }
    let numel = t.numel();
    let mut out = Vec::with_capacity(buffers.len());
    for &b in buffers {
        out.push(match s.buffers.get(b) {
            None => Vec::new(),
            Some(v) if v.len() == numel => v.iter().map(|&x| E::of(x)).collect(),
            Some(v) => {
                return Err(OptimError::StateMismatch(format!(
                    "buffer `{b}` of parameter `{name}` has {} values, the parameter {numel}",
                    v.len()
                )))
            }
        });
    }
    let scalars = scalars
        .iter()
        .map(|(n, _)| {
            s.scalars
                .get(*n)
                .copied()
                .ok_or_else(|| OptimError::StateMismatch(format!("parameter `{name}` lacks scalar state `{n}`")))
        })
        .collect::<Result<Vec<f64>, _>>()?;
    Ok(ParamState { step: s.step, buffers: out, scalars })
}

impl<R: Rule, E: Element> ScheduleTarget for Optimizer<R, E> {
    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn lr(&self, group: usize) -> f64 {
        self.groups[group].options.lr()
    }

    fn set_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].options.set_lr(lr);
    }

    fn initial_lr(&self, group: usize) -> Option<f64> {
        self.groups[group].initial_lr
    }

    fn set_initial_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].initial_lr = Some(lr);
    }

    fn momentum(&self, group: usize) -> Option<f64> {
        self.groups[group].options.momentum()
    }

    fn set_momentum(&mut self, group: usize, momentum: f64) {
        self.groups[group].options.set_momentum(momentum);
    }
}

/// Any optimizer, whatever its rule: what [`optimizer_by_name`] returns, for
/// programs that pick the optimizer from a configuration.
pub trait AnyOptimizer<E: Element>: ScheduleTarget + Send {
    /// The optimizer's PyTorch name.
    fn name(&self) -> &'static str;
    /// See [`Optimizer::step`].
    fn step(&mut self);
    /// See [`Optimizer::zero_grad`].
    fn zero_grad(&self);
    /// See [`Optimizer::add_param_group_with`].
    fn add_param_group_with(
        &mut self,
        params: Vec<(String, Tensor<E>)>,
        overrides: &[(&str, HyperValue)],
    ) -> Result<(), OptimError>;
    /// Group `group`'s option `key`.
    fn option(&self, group: usize, key: &str) -> Option<HyperValue>;
    /// Sets group `group`'s option `key`.
    fn set_option(&mut self, group: usize, key: &str, value: HyperValue) -> Result<(), OptimError>;
    /// Every parameter with its name.
    fn named_params(&self) -> Vec<(String, Tensor<E>)>;
    /// See [`Optimizer::state_dict`].
    fn state_dict(&self) -> OptimizerState;
    /// See [`Optimizer::load_state_dict`].
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError>;
}

impl<R: Rule, E: Element> AnyOptimizer<E> for Optimizer<R, E> {
    fn name(&self) -> &'static str {
        R::NAME
    }
    fn step(&mut self) {
        Optimizer::step(self)
    }
    fn zero_grad(&self) {
        Optimizer::zero_grad(self)
    }
    fn add_param_group_with(
        &mut self,
        params: Vec<(String, Tensor<E>)>,
        overrides: &[(&str, HyperValue)],
    ) -> Result<(), OptimError> {
        Optimizer::add_param_group_with(self, params, overrides).map(|_| ())
    }
    fn option(&self, group: usize, key: &str) -> Option<HyperValue> {
        self.groups.get(group)?.options.get(key)
    }
    fn set_option(&mut self, group: usize, key: &str, value: HyperValue) -> Result<(), OptimError> {
        let n = self.groups.len();
        let g = self
            .groups
            .get_mut(group)
            .ok_or_else(|| OptimError::StateMismatch(format!("group {group} out of range ({n} groups)")))?;
        g.options.set(key, value)
    }
    fn named_params(&self) -> Vec<(String, Tensor<E>)> {
        Optimizer::named_params(self).map(|(n, t)| (n.to_owned(), t.clone())).collect()
    }
    fn state_dict(&self) -> OptimizerState {
        Optimizer::state_dict(self)
    }
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        Optimizer::load_state_dict(self, state)
    }
}

impl<E: Element> ScheduleTarget for Box<dyn AnyOptimizer<E>> {
    fn num_groups(&self) -> usize {
        (**self).num_groups()
    }
    fn lr(&self, group: usize) -> f64 {
        (**self).lr(group)
    }
    fn set_lr(&mut self, group: usize, lr: f64) {
        (**self).set_lr(group, lr)
    }
    fn initial_lr(&self, group: usize) -> Option<f64> {
        (**self).initial_lr(group)
    }
    fn set_initial_lr(&mut self, group: usize, lr: f64) {
        (**self).set_initial_lr(group, lr)
    }
    fn momentum(&self, group: usize) -> Option<f64> {
        (**self).momentum(group)
    }
    fn set_momentum(&mut self, group: usize, momentum: f64) {
        (**self).set_momentum(group, momentum)
    }
}

/// An empty optimizer chosen by its PyTorch name (`"SGD"`, `"Adam"`, `"AdamW"`,
/// `"RMSprop"`, `"Adagrad"`, `"Adadelta"`, `"Adamax"`, `"NAdam"`, `"RAdam"`, and
/// `"Lion"`, `"LAMB"`, `"LARS"`), its defaults changed by `options`; add groups
/// with [`AnyOptimizer::add_param_group_with`].
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{optimizer_by_name, AnyOptimizer};
/// let mut opt = optimizer_by_name::<f32>("SGD", &[("lr", 0.1.into()), ("momentum", 0.9.into())]).unwrap();
/// opt.add_param_group_with(vec![("w".into(), Tensor::zeros(&[3]))], &[]).unwrap();
/// assert!(optimizer_by_name::<f32>("Adam", &[("momentum", 0.9.into())]).is_err());
/// ```
pub fn optimizer_by_name<E: Element>(
    name: &str,
    options: &[(&str, HyperValue)],
) -> Result<Box<dyn AnyOptimizer<E>>, OptimError> {
    fn make<R: Rule, E: Element>(options: &[(&str, HyperValue)]) -> Result<Box<dyn AnyOptimizer<E>>, OptimError> {
        let mut defaults = R::default();
        for &(key, value) in options {
            defaults.set(key, value)?;
        }
        Ok(Box::new(Optimizer::<R, E>::empty(defaults)))
    }
    use crate::rules::{adam::*, adaptive::*, lion::Lion, sgd::Sgd, trust::*};
    match name {
        n if n == Sgd::NAME => make::<Sgd, E>(options),
        n if n == Adam::NAME => make::<Adam, E>(options),
        n if n == AdamW::NAME => make::<AdamW, E>(options),
        n if n == Rmsprop::NAME => make::<Rmsprop, E>(options),
        n if n == Adagrad::NAME => make::<Adagrad, E>(options),
        n if n == Adadelta::NAME => make::<Adadelta, E>(options),
        n if n == Adamax::NAME => make::<Adamax, E>(options),
        n if n == NAdam::NAME => make::<NAdam, E>(options),
        n if n == RAdam::NAME => make::<RAdam, E>(options),
        n if n == Lion::NAME => make::<Lion, E>(options),
        n if n == Lamb::NAME => make::<Lamb, E>(options),
        n if n == Lars::NAME => make::<Lars, E>(options),
        other => Err(OptimError::UnknownName { what: "optimizer", name: other.to_owned() }),
    }
}
