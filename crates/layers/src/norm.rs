//! Normalisation layers, as PyTorch's: `LayerNorm`, `GroupNorm` and `RMSNorm`
//! here, the channel norms with running statistics (`BatchNorm*`,
//! `InstanceNorm*`) in `batchnorm.rs`. Statistics are computed with
//! differentiable ops (mean, centred square, `(var + eps)^-1/2`), so the tape
//! gives gradients and double gradients; none is written by hand.

use crate::{Forward, Module, Part, Visit};
use lamina_core::{Element, Tensor};
use std::panic::Location;

/// Python's `repr` of a float, as PyTorch prints options: `1e-05`, `0.1`, `1.0`.
pub(crate) fn py_float(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp writes an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    if (-4..16).contains(&exp) {
        let plain = format!("{v}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// Panics with `layer: what at file:line`, the caller's line.
pub(crate) fn fail(layer: &str, what: String, at: &Location<'_>) -> ! {
    panic!("{layer}: {what} at {}:{}", at.file(), at.line())
}

/// `(x - mean) / sqrt(var + eps)` with the mean and biased variance over
/// `dims` (kept), and those two statistics (from core's one-pass-per-row,
/// f64-accumulated [`Tensor::moments`]).
pub(crate) fn standardize<E: Element>(x: &Tensor<E>, dims: &[isize], eps: f64) -> (Tensor<E>, Tensor<E>, Tensor<E>) {
    let (mean, var) = x.moments(dims, 0, true);
    let y = (x - &mean) * &var.add_scalar(E::of(eps)).pow_scalar(E::of(-0.5));
    (y, mean, var)
}

/// `y * weight + bias`, each present one viewed as `shape` to broadcast against `y`.
pub(crate) fn scale_shift<E: Element>(
    y: Tensor<E>,
    weight: Option<&Tensor<E>>,
    bias: Option<&Tensor<E>>,
    shape: &[usize],
) -> Tensor<E> {
    let y = match weight {
        Some(w) => y * &w.reshape(shape),
        None => y,
    };
    match bias {
        Some(b) => y + &b.reshape(shape),
        None => y,
    }
}

/// `[1, c, 1, ...]` with `ndim` entries: a per-channel vector's view against `[N, c, *]`.
pub(crate) fn channel_shape(c: usize, ndim: usize) -> Vec<usize> {
    (0..ndim).map(|d| if d == 1 { c } else { 1 }).collect()
}

/// A learnable tensor of `shape`, before its default initialisation.
pub(crate) fn param<E: Element>(shape: &[usize]) -> Tensor<E> {
    Tensor::zeros(shape).requires_grad_(true)
}

/// Reports `weight` and `bias` when present.
pub(crate) fn visit_affine<'a, E: Element>(
    weight: &'a Option<Tensor<E>>,
    bias: &'a Option<Tensor<E>>,
    f: &mut dyn FnMut(&str, Part<'a, E>),
) {
    weight.visit_as("weight", f);
    bias.visit_as("bias", f);
}

/// The dims of `x` that `normalized_shape` covers (its trailing ones, as
/// negative indices), or a panic naming `layer` and both shapes.
fn trailing_dims<E: Element>(layer: &str, x: &Tensor<E>, normalized_shape: &[usize], at: &Location<'_>) -> Vec<isize> {
    let k = normalized_shape.len();
    if x.ndim() < k || &x.shape()[x.ndim() - k..] != normalized_shape {
        let want: Vec<String> = normalized_shape.iter().map(usize::to_string).collect();
        fail(layer, format!("expected input of shape [*, {}], got {:?}", want.join(", "), x.shape()), at);
    }
    (-(k as isize)..0).collect()
}

/// A normalised shape as PyTorch prints it, a Python tuple: `(6,)`, `(4, 6)`.
fn py_tuple(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

#[track_caller]
fn check_normalized_shape(layer: &str, normalized_shape: &[usize]) {
    if normalized_shape.is_empty() {
        fail(layer, "normalized_shape must have at least one dimension".into(), Location::caller());
    }
}

/// Options of [`LayerNorm`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// Added to the variance before the square root. Default `1e-5`.
    pub eps: f64,
    /// Whether there is a learnable `weight` (1 at first) of the normalised shape. Default `true`.
    pub elementwise_affine: bool,
    /// Whether there is also a learnable `bias` (0 at first), with `elementwise_affine`. Default `true`.
    pub bias: bool,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        LayerNormConfig { eps: 1e-5, elementwise_affine: true, bias: true }
    }
}

/// Normalises over the trailing `normalized_shape` dims of each sample (mean 0,
/// biased variance 1), then scales and shifts elementwise: PyTorch's `nn.LayerNorm`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, LayerNorm};
/// let ln = LayerNorm::<f64>::new(&[4]);
/// let y = ln.forward(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]));
/// let s = (1.25f64 + 1e-5).sqrt(); // the variance of 1..4 is 1.25
/// let want = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
/// assert!(y.to_vec().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
/// ```
pub struct LayerNorm<E: Element = f32> {
    weight: Option<Tensor<E>>,
    bias: Option<Tensor<E>>,
    normalized_shape: Vec<usize>,
    config: LayerNormConfig,
}

impl<E: Element> LayerNorm<E> {
    /// Normalises over trailing dims of shape `normalized_shape`, with PyTorch's defaults.
    #[track_caller]
    pub fn new(normalized_shape: &[usize]) -> Self {
        Self::with_config(normalized_shape, LayerNormConfig::default())
    }

    /// Normalises over trailing dims of shape `normalized_shape`, with `config`.
    /// Panics if `normalized_shape` is empty.
    #[track_caller]
    pub fn with_config(normalized_shape: &[usize], config: LayerNormConfig) -> Self {
        check_normalized_shape("LayerNorm", normalized_shape);
        let weight = config.elementwise_affine.then(|| param(normalized_shape));
        let bias = (config.elementwise_affine && config.bias).then(|| param(normalized_shape));
        lamina_init::default::norm(weight.as_ref(), bias.as_ref());
        LayerNorm { weight, bias, normalized_shape: normalized_shape.to_vec(), config }
    }

    /// The learnable scale, of the normalised shape, when `elementwise_affine`.
    pub fn weight(&self) -> Option<&Tensor<E>> {
        self.weight.as_ref()
    }

    /// The learnable shift, of the normalised shape, when `elementwise_affine` and `bias`.
    pub fn bias(&self) -> Option<&Tensor<E>> {
        self.bias.as_ref()
    }

    /// The trailing shape normalised over.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// The options.
    pub fn config(&self) -> LayerNormConfig {
        self.config
    }
}

impl<E: Element> Module<E> for LayerNorm<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        visit_affine(&self.weight, &self.bias, f);
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, eps={}, elementwise_affine={}",
            py_tuple(&self.normalized_shape),
            py_float(self.config.eps),
            py_bool(self.config.elementwise_affine)
        )
    }
}

impl<E: Element> Forward<E> for LayerNorm<E> {
    /// `[*, normalized_shape...]` to the same shape.
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        trailing_dims("LayerNorm", x, &self.normalized_shape, Location::caller());
        x.layer_norm(&self.normalized_shape, self.weight.as_ref(), self.bias.as_ref(), self.config.eps)
    }
}

/// Python's spelling of a bool, as PyTorch prints options.
pub(crate) fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Options of [`GroupNorm`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupNormConfig {
    /// Added to the variance before the square root. Default `1e-5`.
    pub eps: f64,
    /// Whether there are learnable per-channel `weight` (1) and `bias` (0). Default `true`.
    pub affine: bool,
}

impl Default for GroupNormConfig {
    fn default() -> Self {
        GroupNormConfig { eps: 1e-5, affine: true }
    }
}

/// Splits the channels into `num_groups` groups and normalises each group of
/// each sample over its channels and positions, then scales and shifts per
/// channel: PyTorch's `nn.GroupNorm`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, GroupNorm};
/// let gn = GroupNorm::<f32>::new(2, 6);
/// assert_eq!(gn.forward(&Tensor::ones(&[4, 6, 3, 3])).shape(), &[4, 6, 3, 3]);
/// ```
pub struct GroupNorm<E: Element = f32> {
    weight: Option<Tensor<E>>,
    bias: Option<Tensor<E>>,
    num_groups: usize,
    num_channels: usize,
    config: GroupNormConfig,
}

impl<E: Element> GroupNorm<E> {
    /// `num_channels` channels in `num_groups` groups, with PyTorch's defaults.
    #[track_caller]
    pub fn new(num_groups: usize, num_channels: usize) -> Self {
        Self::with_config(num_groups, num_channels, GroupNormConfig::default())
    }

    /// `num_channels` channels in `num_groups` groups, with `config`. Panics
    /// unless `num_groups` is positive and divides `num_channels`.
    #[track_caller]
    pub fn with_config(num_groups: usize, num_channels: usize, config: GroupNormConfig) -> Self {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            fail(
                "GroupNorm",
                format!("num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"),
                Location::caller(),
            );
        }
        let weight = config.affine.then(|| param(&[num_channels]));
        let bias = config.affine.then(|| param(&[num_channels]));
        lamina_init::default::norm(weight.as_ref(), bias.as_ref());
        GroupNorm { weight, bias, num_groups, num_channels, config }
    }

    /// The per-channel scale `[num_channels]`, when `affine`.
    pub fn weight(&self) -> Option<&Tensor<E>> {
        self.weight.as_ref()
    }

    /// The per-channel shift `[num_channels]`, when `affine`.
    pub fn bias(&self) -> Option<&Tensor<E>> {
        self.bias.as_ref()
    }

    /// The number of groups.
    pub fn num_groups(&self) -> usize {
        self.num_groups
    }

    /// The number of channels.
    pub fn num_channels(&self) -> usize {
        self.num_channels
    }

    /// The options.
    pub fn config(&self) -> GroupNormConfig {
        self.config
    }
}

impl<E: Element> Module<E> for GroupNorm<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        visit_affine(&self.weight, &self.bias, f);
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, {}, eps={}, affine={}",
            self.num_groups,
            self.num_channels,
            py_float(self.config.eps),
            py_bool(self.config.affine)
        )
    }
}

impl<E: Element> Forward<E> for GroupNorm<E> {
    /// `[N, num_channels, *]` to the same shape.
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let c = self.num_channels;
        if x.ndim() < 2 || x.shape()[1] != c {
            fail("GroupNorm", format!("expected input of shape [N, {c}, *], got {:?}", x.shape()), Location::caller());
        }
        let (n, g) = (x.shape()[0], self.num_groups);
        let per_group = if n == 0 { 0 } else { x.numel() / (n * g) };
        let (y, _, _) = standardize(&x.reshape(&[n, g, per_group]), &[2], self.config.eps);
        let y = y.reshape(x.shape());
        scale_shift(y, self.weight.as_ref(), self.bias.as_ref(), &channel_shape(c, x.ndim()))
    }
}

/// Options of [`RMSNorm`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RMSNormConfig {
    /// Added to the mean square before the square root. Default `None`: the
    /// element type's machine epsilon (`torch.finfo(dtype).eps`: 2.22e-16 for
    /// f64, 1.19e-7 for f32).
    pub eps: Option<f64>,
    /// Whether there is a learnable `weight` (1 at first) of the normalised shape. Default `true`.
    pub elementwise_affine: bool,
}

impl Default for RMSNormConfig {
    fn default() -> Self {
        RMSNormConfig { eps: None, elementwise_affine: true }
    }
}

/// Divides each sample by its root mean square over the trailing
/// `normalized_shape` dims, then scales elementwise: PyTorch's `nn.RMSNorm`,
/// `y = x / sqrt(mean(x²) + eps) * weight`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, RMSNorm};
/// let y = RMSNorm::<f64>::new(&[2]).forward(&Tensor::from_vec(vec![3.0, 4.0], &[1, 2]));
/// let rms = (12.5f64 + f64::EPSILON).sqrt(); // mean(9, 16) = 12.5
/// assert!((y.to_vec()[1] - 4.0 / rms).abs() < 1e-15);
/// ```
pub struct RMSNorm<E: Element = f32> {
    weight: Option<Tensor<E>>,
    normalized_shape: Vec<usize>,
    config: RMSNormConfig,
}

impl<E: Element> RMSNorm<E> {
    /// Normalises over trailing dims of shape `normalized_shape`, with PyTorch's defaults.
    #[track_caller]
    pub fn new(normalized_shape: &[usize]) -> Self {
        Self::with_config(normalized_shape, RMSNormConfig::default())
    }

    /// Normalises over trailing dims of shape `normalized_shape`, with
    /// `config`. Panics if `normalized_shape` is empty.
    #[track_caller]
    pub fn with_config(normalized_shape: &[usize], config: RMSNormConfig) -> Self {
        check_normalized_shape("RMSNorm", normalized_shape);
        let weight = config.elementwise_affine.then(|| param(normalized_shape));
        lamina_init::default::norm(weight.as_ref(), None);
        RMSNorm { weight, normalized_shape: normalized_shape.to_vec(), config }
    }

    /// The learnable scale, of the normalised shape, when `elementwise_affine`.
    pub fn weight(&self) -> Option<&Tensor<E>> {
        self.weight.as_ref()
    }

    /// The trailing shape normalised over.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// The options.
    pub fn config(&self) -> RMSNormConfig {
        self.config
    }

    /// The `eps` in use: the configured one, or the element type's machine epsilon.
    pub fn eps(&self) -> f64 {
        self.config.eps.unwrap_or_else(|| E::epsilon().f64())
    }
}

impl<E: Element> Module<E> for RMSNorm<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        self.weight.visit_as("weight", f);
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, eps={}, elementwise_affine={}",
            py_tuple(&self.normalized_shape),
            self.config.eps.map_or_else(|| "None".to_owned(), py_float),
            py_bool(self.config.elementwise_affine)
        )
    }
}

impl<E: Element> Forward<E> for RMSNorm<E> {
    /// `[*, normalized_shape...]` to the same shape.
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let dims = trailing_dims("RMSNorm", x, &self.normalized_shape, Location::caller());
        let inv_rms = x.square().mean_dims(&dims, true).add_scalar(E::of(self.eps())).pow_scalar(E::of(-0.5));
        scale_shift(x * &inv_rms, self.weight.as_ref(), None, &self.normalized_shape)
    }
}

display_module!(LayerNorm, GroupNorm, RMSNorm);
crate::visit_as_module!(LayerNorm, GroupNorm, RMSNorm);
