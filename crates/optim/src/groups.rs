//! Building parameter groups from names: by glob pattern (no weight decay on
//! biases and norm weights), and by depth (layer-wise learning-rate decay).

use crate::optimizer::Optimizer;
use crate::rule::Rule;
use crate::{HyperValue, OptimError};
use lamina_core::{Element, Tensor};
use std::ops::Range;

/// Whether `name` matches the glob `pattern`: `*` matches any run of
/// characters (dots included), `?` any one character, anything else itself.
///
/// ```
/// use lamina_optim::glob_match;
/// assert!(glob_match("*.bias", "layers.0.linear.bias"));
/// assert!(glob_match("*norm*.weight", "encoder.layernorm1.weight"));
/// assert!(!glob_match("*.bias", "bias_scale"));
/// ```
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    // Where the last `*` was, and the name position it is matched up to.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || (p[i] != '*' && p[i] == n[j])) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            // Let the last `*` swallow one more character.
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// A parameter group chosen by name: the parameters whose names match any of
/// its glob patterns (see [`glob_match`]), with option overrides.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_optim::{AdamW, GroupSpec, Optimizer};
/// let params = vec![
///     ("fc.weight".to_string(), Tensor::<f32>::ones(&[2, 2])),
///     ("fc.bias".to_string(), Tensor::zeros(&[2])),
///     ("norm.weight".to_string(), Tensor::ones(&[2])),
/// ];
/// let no_decay = GroupSpec::matching(["*.bias", "norm.*"]).weight_decay(0.0);
/// let opt = Optimizer::with_groups(params, AdamW::default(), &[no_decay]).unwrap();
/// let names: Vec<Vec<&str>> =
///     opt.param_groups().iter().map(|g| g.params().map(|(n, _)| n).collect()).collect();
/// assert_eq!(names, vec![vec!["fc.weight"], vec!["fc.bias", "norm.weight"]]);
/// assert_eq!(opt.param_groups()[1].options.weight_decay, 0.0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupSpec {
    patterns: Vec<String>,
    overrides: Vec<(String, HyperValue)>,
    frozen: bool,
}

impl GroupSpec {
    /// The parameters whose names match any of `patterns`.
    pub fn matching<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Self {
        GroupSpec { patterns: patterns.into_iter().map(|s| s.as_ref().to_owned()).collect(), ..Self::default() }
    }

    /// Overrides the option `key` (a PyTorch name) for this group.
    pub fn set(mut self, key: &str, value: impl Into<HyperValue>) -> Self {
        self.overrides.push((key.to_owned(), value.into()));
        self
    }

    /// Overrides the learning rate.
    pub fn lr(self, lr: f64) -> Self {
        self.set("lr", lr)
    }

    /// Overrides the weight decay.
    pub fn weight_decay(self, weight_decay: f64) -> Self {
        self.set("weight_decay", weight_decay)
    }

    /// Creates the group frozen (see [`Optimizer::freeze_group`]).
    pub fn frozen(mut self) -> Self {
        self.frozen = true;
        self
    }

    /// Whether the parameter `name` belongs to this group.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, name))
    }

    fn overrides(&self) -> Vec<(&str, HyperValue)> {
        self.overrides.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }
}

impl<R: Rule, E: Element> Optimizer<R, E> {
    /// An optimizer whose group 0 holds the parameters no spec matches, with
    /// `defaults`, and whose group `k + 1` holds those that `specs[k]` is the
    /// first to match, with its overrides. Groups stay in place even when
    /// empty, so their indices are known. Errors on an unknown option or an
    /// out-of-range value; panics, as [`Optimizer::new`], on a parameter
    /// given twice or one that is not a leaf.
    #[track_caller]
    pub fn with_groups<N: Into<String>>(
        params: impl IntoIterator<Item = (N, Tensor<E>)>,
        defaults: R,
        specs: &[GroupSpec],
    ) -> Result<Self, OptimError> {
        let mut buckets: Vec<Vec<(String, Tensor<E>)>> = vec![Vec::new(); specs.len() + 1];
        for (name, t) in params {
            let name = name.into();
            let k = specs.iter().position(|s| s.matches(&name)).map_or(0, |k| k + 1);
            buckets[k].push((name, t));
        }
        let mut buckets = buckets.into_iter();
        let mut opt = Self::new(buckets.next().expect("group 0"), defaults);
        for (spec, params) in specs.iter().zip(buckets) {
            opt.add_param_group_with(params, &spec.overrides())?;
            if spec.frozen {
                opt.freeze_group(opt.param_groups().len() - 1);
            }
        }
        Ok(opt)
    }

    /// Discriminative fine-tuning (layer-wise learning-rate decay): one group
    /// per depth, where `depth_from_output(name)` is 0 for the output layer, 1
    /// for the layer before it, and so on, and a group at depth `d` gets the
    /// default learning rate times `factor^d`. Groups are added in the order
    /// their depths first appear in `params`; returns their indices.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_optim::{Adam, Optimizer};
    /// let params = ["embed.weight", "layers.0.weight", "layers.1.weight", "head.weight"]
    ///     .map(|n| (n, Tensor::<f32>::ones(&[2])));
    /// // Depth from the output: head 0, layers.1 1, layers.0 2, embed 3.
    /// let depth = |name: &str| match name.split('.').collect::<Vec<_>>()[..] {
    ///     ["head", ..] => 0,
    ///     ["layers", i, ..] => 2 - i.parse::<usize>().unwrap(),
    ///     _ => 3,
    /// };
    /// let mut opt = Optimizer::empty(Adam { lr: 1e-3, ..Adam::default() });
    /// opt.add_layerwise_groups(params, 0.5, depth);
    /// let lrs: Vec<f64> = opt.param_groups().iter().map(|g| g.lr()).collect();
    /// assert_eq!(lrs, vec![1.25e-4, 2.5e-4, 5e-4, 1e-3]);
    /// ```
    #[track_caller]
    pub fn add_layerwise_groups<N: Into<String>>(
        &mut self,
        params: impl IntoIterator<Item = (N, Tensor<E>)>,
        factor: f64,
        depth_from_output: impl Fn(&str) -> usize,
    ) -> Range<usize> {
        let mut depths: Vec<(usize, Vec<(String, Tensor<E>)>)> = Vec::new();
        for (name, t) in params {
            let name = name.into();
            let d = depth_from_output(&name);
            match depths.iter_mut().find(|(depth, _)| *depth == d) {
                Some((_, group)) => group.push((name, t)),
                None => depths.push((d, vec![(name, t)])),
            }
        }
        let start = self.param_groups().len();
        for (d, params) in depths {
            let mut options = *self.defaults();
            options.set_lr(options.lr() * factor.powi(d as i32));
            self.add_param_group(params, options);
        }
        start..self.param_groups().len()
    }
}
