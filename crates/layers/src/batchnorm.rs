//! The channel norms with running statistics, as PyTorch's: `BatchNorm1d/2d/3d`
//! (statistics over the batch and positions of each channel) and
//! `InstanceNorm1d/2d/3d` (over the positions of each sample's channel).
//!
//! Running statistics are updated in place in training mode, unrecorded and
//! also under `no_grad`, with the unbiased variance, as PyTorch does:
//! `running = (1 - momentum) * running + momentum * batch`, where a
//! `momentum` of `None` (BatchNorm) makes it the cumulative average,
//! `1 / num_batches_tracked` after counting the batch.

use crate::norm::{channel_shape, fail, param, py_bool, py_float, scale_shift, standardize, visit_affine};
use crate::{Buffer, Forward, Module, Part, TrainingFlag, Visit};
use lamina_core::{no_grad, Element, Tensor};
use std::panic::Location;

/// Options of [`BatchNorm1d`], [`BatchNorm2d`] and [`BatchNorm3d`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root. Default `1e-5`.
    pub eps: f64,
    /// The weight of each new batch in the running statistics; `None` for
    /// their cumulative average over all batches. Default `Some(0.1)`.
    pub momentum: Option<f64>,
    /// Whether there are learnable per-channel `weight` (1) and `bias` (0). Default `true`.
    pub affine: bool,
    /// Whether to keep `running_mean`, `running_var` and
    /// `num_batches_tracked` and normalise with them in eval mode (else batch
    /// statistics are used in both modes). Default `true`.
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig { eps: 1e-5, momentum: Some(0.1), affine: true, track_running_stats: true }
    }
}

impl BatchNormConfig {
    fn build<E: Element>(self, num_features: usize) -> ChannelNorm<E> {
        ChannelNorm::new(num_features, self.eps, self.momentum, self.affine, self.track_running_stats)
    }
}

/// Options of [`InstanceNorm1d`], [`InstanceNorm2d`] and [`InstanceNorm3d`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceNormConfig {
    /// Added to the variance before the square root. Default `1e-5`.
    pub eps: f64,
    /// The weight of each new batch in the running statistics. Default `0.1`.
    pub momentum: f64,
    /// Whether there are learnable per-channel `weight` (1) and `bias` (0). Default `false`.
    pub affine: bool,
    /// Whether to keep running statistics (averaged over the batch's
    /// instances) and normalise with them in eval mode. Default `false`.
    pub track_running_stats: bool,
}

impl Default for InstanceNormConfig {
    fn default() -> Self {
        InstanceNormConfig { eps: 1e-5, momentum: 0.1, affine: false, track_running_stats: false }
    }
}

impl InstanceNormConfig {
    fn build<E: Element>(self, num_features: usize) -> ChannelNorm<E> {
        ChannelNorm::new(num_features, self.eps, Some(self.momentum), self.affine, self.track_running_stats)
    }
}

/// What the channel norms share: options, per-channel affine parameters and
/// running statistics, named as PyTorch's `_NormBase`.
struct ChannelNorm<E: Element> {
    num_features: usize,
    eps: f64,
    momentum: Option<f64>,
    track_running_stats: bool,
    weight: Option<Tensor<E>>,
    bias: Option<Tensor<E>>,
    running_mean: Option<Buffer<E>>,
    running_var: Option<Buffer<E>>,
    num_batches_tracked: Option<Buffer<E>>,
    training: TrainingFlag,
}

impl<E: Element> ChannelNorm<E> {
    fn new(num_features: usize, eps: f64, momentum: Option<f64>, affine: bool, track_running_stats: bool) -> Self {
        let weight = affine.then(|| param(&[num_features]));
        let bias = affine.then(|| param(&[num_features]));
        lamina_init::default::norm(weight.as_ref(), bias.as_ref());
        let (mut running_mean, mut running_var, mut num_batches_tracked) = (None, None, None);
        if track_running_stats {
            let (mean, var) = (Tensor::zeros(&[num_features]), Tensor::zeros(&[num_features]));
            lamina_init::default::running_stats(&mean, &var);
            running_mean = Some(Buffer(mean));
            running_var = Some(Buffer(var));
            num_batches_tracked = Some(Buffer(Tensor::zeros(&[])));
        }
        ChannelNorm {
            num_features,
            eps,
            momentum,
            track_running_stats,
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            training: TrainingFlag::default(),
        }
    }

    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        visit_affine(&self.weight, &self.bias, f);
        self.running_mean.visit_as("running_mean", f);
        self.running_var.visit_as("running_var", f);
        self.num_batches_tracked.visit_as("num_batches_tracked", f);
    }

    fn extra_repr(&self) -> String {
        format!(
            "{}, eps={}, momentum={}, affine={}, track_running_stats={}",
            self.num_features,
            py_float(self.eps),
            self.momentum.map_or_else(|| "None".to_owned(), py_float),
            py_bool(self.weight.is_some()),
            py_bool(self.track_running_stats)
        )
    }

    /// `x` (`[N, C, *]`) normalised with the running statistics.
    fn with_running_stats(&self, x: &Tensor<E>, mean: &Tensor<E>, var: &Tensor<E>) -> Tensor<E> {
        let shape = channel_shape(self.num_features, x.ndim());
        let inv_std = var.reshape(&shape).add_scalar(E::of(self.eps)).pow_scalar(E::of(-0.5));
        (x - &mean.reshape(&shape)) * &inv_std
    }

    /// Blends a batch's per-channel `mean` and unbiased `var` (`[C]`) into the
    /// running statistics, unrecorded.
    fn update_running_stats(&self, mean: &Tensor<E>, var: &Tensor<E>, factor: f64) {
        let (Some(run_mean), Some(run_var)) = (&self.running_mean, &self.running_var) else { return };
        no_grad(|| {
            for (run, new) in [(&run_mean.0, mean), (&run_var.0, var)] {
                run.assign(&(run.mul_scalar(E::of(1.0 - factor)) + new.detach().mul_scalar(E::of(factor))));
            }
        });
    }

    /// `[N, C, *]` with `spatial` the names of the dims after `C`, checked.
    fn batch_norm(&self, x: &Tensor<E>, layer: &str, spatial: &[&[&str]], at: &Location<'_>) -> Tensor<E> {
        let c = self.num_features;
        if !spatial.iter().any(|s| x.ndim() == s.len() + 2) || x.shape()[1] != c {
            let want: Vec<String> = spatial.iter().map(|s| pattern(&["N"], c, s)).collect();
            fail(layer, format!("expected input of shape {}, got {:?}", want.join(" or "), x.shape()), at);
        }
        let training = self.training.get();
        if let (Some(run_mean), Some(run_var), false) = (&self.running_mean, &self.running_var, training) {
            return self.affine(self.with_running_stats(x, &run_mean.0, &run_var.0));
        }
        let n = x.numel() / c;
        if n <= 1 {
            let what =
                format!("expected more than 1 value per channel when training, got input of shape {:?}", x.shape());
            fail(layer, what, at);
        }
        let dims: Vec<isize> = (0..x.ndim() as isize).filter(|&d| d != 1).collect();
        let (y, mean, var) = standardize(x, &dims, self.eps);
        if let (true, Some(count)) = (training, &self.num_batches_tracked) {
            let count = count.0.with_data_mut(|v| {
                v[0] = v[0] + E::one();
                v[0].f64()
            });
            let factor = self.momentum.unwrap_or(1.0 / count);
            let unbiased = var.reshape(&[c]).mul_scalar(E::of(n as f64 / (n - 1) as f64));
            self.update_running_stats(&mean.reshape(&[c]), &unbiased, factor);
        }
        self.affine(y)
    }

    /// `[N, C, *]` or `[C, *]`, with `spatial` the names of the dims after `C`, checked.
    fn instance_norm(&self, x: &Tensor<E>, layer: &str, spatial: &[&str], at: &Location<'_>) -> Tensor<E> {
        let c = self.num_features;
        let batched = spatial.len() + 2;
        let channel_dim = x.ndim().wrapping_sub(spatial.len() + 1);
        // Without affine parameters or running statistics the channel count is
        // not used, and PyTorch only warns about a mismatch.
        let strict = self.weight.is_some() || self.track_running_stats;
        if !(x.ndim() == batched || x.ndim() == batched - 1) || (strict && x.shape()[channel_dim] != c) {
            let want = format!("{} or {}", pattern(&["N"], c, spatial), pattern(&[], c, spatial));
            fail(layer, format!("expected input of shape {want}, got {:?}", x.shape()), at);
        }
        if x.ndim() < batched {
            return self.instance_norm(&x.unsqueeze(0), layer, spatial, at).squeeze(0);
        }
        let training = self.training.get();
        if let (Some(run_mean), Some(run_var), false) = (&self.running_mean, &self.running_var, training) {
            return self.affine(self.with_running_stats(x, &run_mean.0, &run_var.0));
        }
        let n = x.shape()[2..].iter().product::<usize>();
        if n <= 1 {
            let what =
                format!("expected more than 1 spatial element when training, got input of shape {:?}", x.shape());
            fail(layer, what, at);
        }
        let dims: Vec<isize> = (2..x.ndim() as isize).collect();
        let (y, mean, var) = standardize(x, &dims, self.eps);
        if training && self.track_running_stats {
            // PyTorch updates a copy of the running statistics per instance,
            // then averages the copies over the batch.
            let per_instance = [x.shape()[0], c];
            let mean = mean.reshape(&per_instance).mean_dims(&[0], false);
            let unbiased =
                var.reshape(&per_instance).mean_dims(&[0], false).mul_scalar(E::of(n as f64 / (n - 1) as f64));
            self.update_running_stats(&mean, &unbiased, self.momentum.expect("instance norms have a momentum"));
        }
        self.affine(y)
    }

    fn affine(&self, y: Tensor<E>) -> Tensor<E> {
        let shape = channel_shape(self.num_features, y.ndim());
        scale_shift(y, self.weight.as_ref(), self.bias.as_ref(), &shape)
    }
}

/// An input shape as the error messages show it: `[N, 3, H, W]`.
fn pattern(lead: &[&str], c: usize, spatial: &[&str]) -> String {
    let c = c.to_string();
    let dims: Vec<&str> = lead.iter().copied().chain([c.as_str()]).chain(spatial.iter().copied()).collect();
    format!("[{}]", dims.join(", "))
}

/// A channel norm type: the struct, its constructors and accessors, Module and Forward.
macro_rules! channel_norm {
    ($(#[$doc:meta])* $name:ident, $config:ident, $shapes:literal, $forward:ident, $spatial:expr) => {
        $(#[$doc])*
        pub struct $name<E: Element = f32>(ChannelNorm<E>);

        impl<E: Element> $name<E> {
            /// A layer over `num_features` channels with PyTorch's default options.
            pub fn new(num_features: usize) -> Self {
                Self::with_config(num_features, $config::default())
            }

            /// A layer over `num_features` channels with `config`.
            pub fn with_config(num_features: usize, config: $config) -> Self {
                $name(config.build(num_features))
            }

            /// The number of channels `C`.
            pub fn num_features(&self) -> usize {
                self.0.num_features
            }

            /// Whether the layer is in training mode (the default).
            pub fn training(&self) -> bool {
                self.0.training.get()
            }

            /// The per-channel scale `[C]`, when `affine`.
            pub fn weight(&self) -> Option<&Tensor<E>> {
                self.0.weight.as_ref()
            }

            /// The per-channel shift `[C]`, when `affine`.
            pub fn bias(&self) -> Option<&Tensor<E>> {
                self.0.bias.as_ref()
            }

            /// The running mean `[C]` (0 at first), when `track_running_stats`.
            pub fn running_mean(&self) -> Option<&Tensor<E>> {
                self.0.running_mean.as_ref().map(|b| &b.0)
            }

            /// The running unbiased variance `[C]` (1 at first), when `track_running_stats`.
            pub fn running_var(&self) -> Option<&Tensor<E>> {
                self.0.running_var.as_ref().map(|b| &b.0)
            }

            /// The number of batches seen in training mode, when
            /// `track_running_stats`: a 0-d tensor of the element type holding an
            /// integer (exact up to 2^24 in f32). Instance norms keep it at 0, as PyTorch.
            pub fn num_batches_tracked(&self) -> Option<&Tensor<E>> {
                self.0.num_batches_tracked.as_ref().map(|b| &b.0)
            }
        }

        impl<E: Element> Module<E> for $name<E> {
            fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
                self.0.visit(f)
            }
            fn set_training(&self, training: bool) {
                self.0.training.set(training)
            }
            fn extra_repr(&self) -> String {
                self.0.extra_repr()
            }
        }

        impl<E: Element> Forward<E> for $name<E> {
            #[doc = $shapes]
            #[track_caller]
            fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
                self.0.$forward(x, stringify!($name), $spatial, Location::caller())
            }
        }

        display_module!($name);
        crate::visit_as_module!($name);
    };
}

channel_norm!(
    /// Batch normalisation of `[N, C]` or `[N, C, L]` input: PyTorch's `nn.BatchNorm1d`.
    /// In training mode each channel is normalised with its batch mean and
    /// biased variance (over `N` and `L`) and the running statistics are
    /// updated; in eval mode the running statistics are used.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{BatchNorm1d, Forward};
    /// let bn = BatchNorm1d::<f64>::new(1);
    /// let y = bn.forward(&Tensor::from_vec(vec![1.0, 3.0], &[2, 1]));
    /// let s = (1.0f64 + 1e-5).sqrt(); // mean 2, biased variance 1
    /// assert!((y.to_vec()[1] - 1.0 / s).abs() < 1e-15);
    /// // The running mean moved a tenth of the way to 2, the variance to 2 (unbiased).
    /// assert_eq!(bn.running_mean().unwrap().to_vec(), vec![0.2]);
    /// assert!((bn.running_var().unwrap().to_vec()[0] - 1.1).abs() < 1e-15);
    /// ```
    BatchNorm1d, BatchNormConfig, "`[N, C]` or `[N, C, L]` to the same shape.", batch_norm, &[&[], &["L"]]
);

channel_norm!(
    /// Batch normalisation of `[N, C, H, W]` input: PyTorch's `nn.BatchNorm2d`.
    /// Statistics are per channel over `N`, `H` and `W`; see [`BatchNorm1d`].
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{BatchNorm2d, Forward, ModuleExt};
    /// let bn = BatchNorm2d::<f32>::new(3);
    /// bn.eval(); // running statistics 0 and 1: the identity up to eps
    /// let y = bn.forward(&Tensor::ones(&[2, 3, 4, 4]));
    /// assert!(y.to_vec().iter().all(|&v| (v - 1.0).abs() < 1e-5));
    /// ```
    BatchNorm2d, BatchNormConfig, "`[N, C, H, W]` to the same shape.", batch_norm, &[&["H", "W"]]
);

channel_norm!(
    /// Batch normalisation of `[N, C, D, H, W]` input: PyTorch's `nn.BatchNorm3d`.
    /// Statistics are per channel over `N`, `D`, `H` and `W`; see [`BatchNorm1d`].
    BatchNorm3d, BatchNormConfig, "`[N, C, D, H, W]` to the same shape.", batch_norm, &[&["D", "H", "W"]]
);

channel_norm!(
    /// Instance normalisation of `[N, C, L]` (or unbatched `[C, L]`) input:
    /// PyTorch's `nn.InstanceNorm1d`. Each sample's channel is normalised over
    /// `L`; with `track_running_stats`, eval mode uses running statistics.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{Forward, InstanceNorm1d};
    /// let y = InstanceNorm1d::<f64>::new(1).forward(&Tensor::from_vec(vec![1.0, 3.0], &[1, 2]));
    /// let s = (1.0f64 + 1e-5).sqrt();
    /// assert!((y.to_vec()[0] + 1.0 / s).abs() < 1e-15);
    /// ```
    InstanceNorm1d, InstanceNormConfig, "`[N, C, L]` or `[C, L]` to the same shape.", instance_norm, &["L"]
);

channel_norm!(
    /// Instance normalisation of `[N, C, H, W]` (or unbatched `[C, H, W]`)
    /// input: PyTorch's `nn.InstanceNorm2d`; see [`InstanceNorm1d`].
    InstanceNorm2d, InstanceNormConfig, "`[N, C, H, W]` or `[C, H, W]` to the same shape.", instance_norm, &["H", "W"]
);

channel_norm!(
    /// Instance normalisation of `[N, C, D, H, W]` (or unbatched `[C, D, H, W]`)
    /// input: PyTorch's `nn.InstanceNorm3d`; see [`InstanceNorm1d`].
    InstanceNorm3d, InstanceNormConfig, "`[N, C, D, H, W]` or `[C, D, H, W]` to the same shape.", instance_norm,
    &["D", "H", "W"]
);
