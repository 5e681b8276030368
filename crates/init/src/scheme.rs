//! Every initialisation scheme as one value type, [`Scheme`], with a single
//! `apply_with` that fills a tensor in place from a generator, and the
//! PyTorch-named functions (`xavier_uniform_`, ...) built on it.

use crate::error::{argument, InitError};
use crate::fan::{calculate_correct_fan, calculate_fan_in_and_fan_out, calculate_gain, FanMode, Nonlinearity};
use crate::{qr, special};
use lamina_core::{with_default_generator, Element, Generator, Tensor};

/// An initialisation scheme: what to draw, with its parameters (PyTorch's
/// names and meanings). A `Scheme` is a plain value, so a layer config can
/// hold one; [`apply`](Scheme::apply) fills a tensor from lamina's default
/// generator (reproducible with [`manual_seed`](lamina_core::manual_seed)),
/// [`apply_with`](Scheme::apply_with) from a generator of your own.
///
/// ```
/// use lamina_core::{Generator, Tensor};
/// use lamina_init::Scheme;
/// let w = Tensor::<f32>::zeros(&[64, 32]);
/// let mut g = Generator::new(42);
/// Scheme::XavierUniform { gain: 1.0 }.apply_with(&w, &mut g).unwrap();
/// let bound = (6.0f32 / (64.0 + 32.0)).sqrt();
/// assert!(w.to_vec().iter().all(|v| v.abs() <= bound));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scheme {
    /// Every element `value` (`constant_`; `zeros_`, `ones_`).
    Constant(f64),
    /// U(a, b) (`uniform_`).
    Uniform {
        /// Lower bound.
        a: f64,
        /// Upper bound.
        b: f64,
    },
    /// N(mean, std²) (`normal_`).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (≥ 0).
        std: f64,
    },
    /// N(mean, std²) conditioned on [a, b], sampled exactly by the inverse CDF
    /// (`trunc_normal_`; `a`, `b` are absolute bounds, not multiples of `std`).
    TruncNormal {
        /// Mean of the untruncated normal.
        mean: f64,
        /// Standard deviation of the untruncated normal (> 0).
        std: f64,
        /// Lower cut.
        a: f64,
        /// Upper cut.
        b: f64,
    },
    /// Glorot & Bengio (2010): U(±gain·√(6 / (fan_in + fan_out))), variance
    /// gain²·2/(fan_in + fan_out), a compromise between the forward and backward passes.
    XavierUniform {
        /// Scale for the nonlinearity ([`calculate_gain`]).
        gain: f64,
    },
    /// N(0, gain²·2/(fan_in + fan_out)).
    XavierNormal {
        /// Scale for the nonlinearity.
        gain: f64,
    },
    /// He et al. (2015): U(±gain·√(3 / fan)), variance gain²/fan, with
    /// `gain = calculate_gain(nonlinearity, a)`.
    KaimingUniform {
        /// Negative slope of a leaky ReLU (read only for `LeakyRelu`).
        a: f64,
        /// Which fan to preserve.
        mode: FanMode,
        /// The nonlinearity after the layer.
        nonlinearity: Nonlinearity,
    },
    /// N(0, gain²/fan) with the same parameters as `KaimingUniform`.
    KaimingNormal {
        /// Negative slope of a leaky ReLU.
        a: f64,
        /// Which fan to preserve.
        mode: FanMode,
        /// The nonlinearity after the layer.
        nonlinearity: Nonlinearity,
    },
    /// LeCun et al. (1998): N(0, 1/fan_in), the scale that keeps SELU networks
    /// self-normalising (equal to `KaimingNormal` with a linear gain).
    LecunNormal,
    /// Saxe et al. (2014): a (semi-)orthogonal matrix times `gain`, drawn
    /// uniformly (Haar) by the QR of a Gaussian matrix; tensors of more than two
    /// dims are viewed as `[shape[0], rest]`.
    Orthogonal {
        /// Scale.
        gain: f64,
    },
    /// The identity matrix (ones on the main diagonal of a 2-d tensor), so a
    /// Linear layer starts by passing its input through.
    Eye,
    /// The Dirac delta of a convolution weight `[out, in/groups, k...]`: each
    /// group's first `min(out/groups, in/groups)` channels pass through
    /// unchanged, so a residual branch or a deep conv net starts as the identity.
    Dirac {
        /// Number of convolution groups (divides `out`).
        groups: usize,
    },
    /// Martens (2010): N(0, std²) with a fraction `sparsity` of each column
    /// (`ceil(sparsity·rows)` elements, chosen at random) set to zero.
    Sparse {
        /// Fraction of zeros per column, in [0, 1].
        sparsity: f64,
        /// Standard deviation of the non-zero elements.
        std: f64,
    },
}

/// How a scheme's values are produced once its parameters are known.
enum Draw {
    /// Independent draws, one per element in row-major order.
    Each(Box<dyn Fn(&mut Generator) -> f64>),
    /// All values at once (structured schemes).
    All(Vec<f64>),
}

impl Scheme {
    /// PyTorch's name of the scheme (`"xavier_uniform_"`), used in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Constant(_) => "constant_",
            Scheme::Uniform { .. } => "uniform_",
            Scheme::Normal { .. } => "normal_",
            Scheme::TruncNormal { .. } => "trunc_normal_",
            Scheme::XavierUniform { .. } => "xavier_uniform_",
            Scheme::XavierNormal { .. } => "xavier_normal_",
            Scheme::KaimingUniform { .. } => "kaiming_uniform_",
            Scheme::KaimingNormal { .. } => "kaiming_normal_",
            Scheme::LecunNormal => "lecun_normal_",
            Scheme::Orthogonal { .. } => "orthogonal_",
            Scheme::Eye => "eye_",
            Scheme::Dirac { .. } => "dirac_",
            Scheme::Sparse { .. } => "sparse_",
        }
    }

    /// Fills `tensor` in place from lamina's default generator (unrecorded,
    /// like PyTorch's `nn.init.*_` under `no_grad`).
    pub fn apply<E: Element>(&self, tensor: &Tensor<E>) -> Result<(), InitError> {
        with_default_generator(|g| self.apply_with(tensor, g))
    }

    /// Fills `tensor` in place from `g` (unrecorded). The shape is checked
    /// first: fan-based schemes need at least 2 dims, `eye_` and `sparse_`
    /// exactly 2, `dirac_` at least 3. A tensor with no elements is left as is.
    pub fn apply_with<E: Element>(&self, tensor: &Tensor<E>, g: &mut Generator) -> Result<(), InitError> {
        match self.draw(tensor.shape(), g)? {
            Draw::Each(f) => fill(tensor, || f(g)),
            Draw::All(values) => {
                let mut it = values.into_iter();
                fill(tensor, || it.next().expect("one value per element"));
            }
        }
        Ok(())
    }

    /// Checks the shape and arguments and returns the values to write.
    fn draw(&self, shape: &[usize], g: &mut Generator) -> Result<Draw, InitError> {
        let name = self.name();
        let numel: usize = shape.iter().product();
        let each = |f: Box<dyn Fn(&mut Generator) -> f64>| Ok(Draw::Each(f));
        match *self {
            Scheme::Constant(v) => each(Box::new(move |_| v)),
            Scheme::Uniform { a, b } => {
                if !(a.is_finite() && b.is_finite() && a <= b) {
                    return Err(argument(name, format!("needs finite a <= b (a = {a}, b = {b})")));
                }
                each(Box::new(move |g| a + (b - a) * g.uniform()))
            }
            Scheme::Normal { mean, std } => {
                if !(mean.is_finite() && std.is_finite() && std >= 0.0) {
                    return Err(argument(
                        name,
                        format!("needs a finite mean and std >= 0 (mean = {mean}, std = {std})"),
                    ));
                }
                each(Box::new(move |g| mean + std * g.normal()))
            }
            Scheme::TruncNormal { mean, std, a, b } => {
                let t = TruncatedNormal::new(mean, std, a, b)?;
                each(Box::new(move |g| t.sample(g)))
            }
            Scheme::XavierUniform { gain } | Scheme::XavierNormal { gain } => {
                let (fan_in, fan_out) = calculate_fan_in_and_fan_out(shape).map_err(|e| rename(e, name))?;
                if numel == 0 {
                    return Ok(Draw::All(Vec::new()));
                }
                let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
                self.spread(std).draw(shape, g)
            }
            Scheme::KaimingUniform { a, mode, nonlinearity } | Scheme::KaimingNormal { a, mode, nonlinearity } => {
                // PyTorch returns before computing fans when there is nothing to fill.
                if numel == 0 {
                    return Ok(Draw::All(Vec::new()));
                }
                let fan = calculate_correct_fan(shape, mode).map_err(|e| rename(e, name))?;
                let std = calculate_gain(nonlinearity, Some(a)) / (fan as f64).sqrt();
                self.spread(std).draw(shape, g)
            }
            Scheme::LecunNormal => {
                let fan_in = calculate_correct_fan(shape, FanMode::FanIn).map_err(|e| rename(e, name))?;
                if numel == 0 {
                    return Ok(Draw::All(Vec::new()));
                }
                Scheme::Normal { mean: 0.0, std: 1.0 / (fan_in as f64).sqrt() }.draw(shape, g)
            }
            Scheme::Orthogonal { gain } => orthogonal(shape, gain, g).map(Draw::All),
            Scheme::Eye => eye(shape).map(Draw::All),
            Scheme::Dirac { groups } => dirac(shape, groups).map(Draw::All),
            Scheme::Sparse { sparsity, std } => sparse(shape, sparsity, std, g).map(Draw::All),
        }
    }

    /// The uniform or normal scheme of standard deviation `std` that a Xavier
    /// or Kaiming scheme reduces to (uniform bound = √3·std).
    fn spread(&self, std: f64) -> Scheme {
        if matches!(self, Scheme::XavierUniform { .. } | Scheme::KaimingUniform { .. }) {
            let bound = 3f64.sqrt() * std;
            Scheme::Uniform { a: -bound, b: bound }
        } else {
            Scheme::Normal { mean: 0.0, std }
        }
    }
}

/// Re-labels a fan error with the scheme that asked for the fans.
fn rename(e: InitError, scheme: &'static str) -> InitError {
    match e {
        InitError::Shape { shape, need, .. } => InitError::Shape { scheme, shape, need },
        other => other,
    }
}

/// Writes `next()` into every element of `t`, in row-major order.
fn fill<E: Element>(t: &Tensor<E>, mut next: impl FnMut() -> f64) {
    if t.is_contiguous() {
        t.with_data_mut(|d| d.iter_mut().for_each(|x| *x = E::of(next())));
    } else {
        let values: Vec<f64> = (0..t.numel()).map(|_| next()).collect();
        t.assign(&Tensor::from_f64(&values, t.shape()));
    }
}

/// The truncated normal N(mean, std²) on [a, b], sampled by the inverse CDF:
/// x = mean + std·Φ⁻¹(Φ(α) + U·(Φ(β) - Φ(α))), α, β the standardised cuts.
/// (PyTorch draws U(2Φ(α)-1, 2Φ(β)-1) and applies √2·erfinv: the same map.)
/// An interval lying mostly above the mean is sampled as its mirror image, so
/// Φ is always evaluated where it is small and keeps its relative precision.
#[derive(Clone, Copy, Debug)]
struct TruncatedNormal {
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
    flip: bool,
    lo: f64,
    width: f64,
}

impl TruncatedNormal {
    fn new(mean: f64, std: f64, a: f64, b: f64) -> Result<Self, InitError> {
        if !(mean.is_finite() && std.is_finite() && std > 0.0 && !a.is_nan() && !b.is_nan() && a <= b) {
            return Err(argument(
                "trunc_normal_",
                format!("needs a finite mean, std > 0 and a <= b (mean = {mean}, std = {std}, a = {a}, b = {b})"),
            ));
        }
        let (alpha, beta) = ((a - mean) / std, (b - mean) / std);
        let flip = alpha + beta > 0.0;
        let (l, u) = if flip { (-beta, -alpha) } else { (alpha, beta) };
        let (pl, pu) = (special::norm_cdf(l), special::norm_cdf(u));
        Ok(TruncatedNormal { mean, std, a, b, flip, lo: pl, width: pu - pl })
    }

    fn sample(&self, g: &mut Generator) -> f64 {
        let z = special::ndtri(self.lo + self.width * g.uniform());
        let z = if self.flip { -z } else { z };
        (self.mean + self.std * z).clamp(self.a, self.b)
    }
}

fn orthogonal(shape: &[usize], gain: f64, g: &mut Generator) -> Result<Vec<f64>, InitError> {
    if shape.len() < 2 {
        return Err(InitError::Shape { scheme: "orthogonal_", shape: shape.to_vec(), need: "at least 2 dims" });
    }
    let numel: usize = shape.iter().product();
    if numel == 0 {
        return Ok(Vec::new());
    }
    let rows = shape[0];
    let cols = numel / rows;
    let flat: Vec<f64> = (0..numel).map(|_| g.normal()).collect();
    // QR needs a tall matrix: factor the transpose of a wide one.
    let q = if rows < cols {
        let (q, _) = qr::qr(&transpose(&flat, rows, cols), cols, rows);
        transpose(&q, cols, rows)
    } else {
        qr::qr(&flat, rows, cols).0
    };
    Ok(q.into_iter().map(|v| gain * v).collect())
}

/// The transpose of a row-major `rows x cols` matrix.
fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols).flat_map(|j| (0..rows).map(move |i| a[i * cols + j])).collect()
}

fn eye(shape: &[usize]) -> Result<Vec<f64>, InitError> {
    let &[rows, cols] = shape else {
        return Err(InitError::Shape { scheme: "eye_", shape: shape.to_vec(), need: "exactly 2 dims" });
    };
    Ok((0..rows * cols).map(|k| if k / cols == k % cols { 1.0 } else { 0.0 }).collect())
}

fn dirac(shape: &[usize], groups: usize) -> Result<Vec<f64>, InitError> {
    if shape.len() < 3 {
        return Err(InitError::Shape { scheme: "dirac_", shape: shape.to_vec(), need: "at least 3 dims" });
    }
    if groups == 0 || !shape[0].is_multiple_of(groups) {
        return Err(argument("dirac_", format!("dim 0 ({}) must be divisible by groups ({groups})", shape[0])));
    }
    let out_per_group = shape[0] / groups;
    let min_dim = out_per_group.min(shape[1]);
    let kernel = &shape[2..];
    let kernel_numel: usize = kernel.iter().product();
    // Offset of the kernel's centre (index k/2 along each kernel dim) in row-major order.
    let centre = kernel.iter().fold(0, |acc, &k| acc * k + k / 2);
    let mut values = vec![0.0; shape.iter().product()];
    for gi in 0..groups {
        for d in 0..min_dim {
            let out = gi * out_per_group + d;
            values[(out * shape[1] + d) * kernel_numel + centre] = 1.0;
        }
    }
    Ok(values)
}

fn sparse(shape: &[usize], sparsity: f64, std: f64, g: &mut Generator) -> Result<Vec<f64>, InitError> {
    let &[rows, cols] = shape else {
        return Err(InitError::Shape { scheme: "sparse_", shape: shape.to_vec(), need: "exactly 2 dims" });
    };
    if !((0.0..=1.0).contains(&sparsity) && std.is_finite() && std >= 0.0) {
        return Err(argument(
            "sparse_",
            format!("needs sparsity in [0, 1] and std >= 0 (sparsity = {sparsity}, std = {std})"),
        ));
    }
    let num_zeros = (sparsity * rows as f64).ceil() as usize;
    let mut values: Vec<f64> = (0..rows * cols).map(|_| std * g.normal()).collect();
    let mut perm: Vec<usize> = (0..rows).collect();
    for col in 0..cols {
        // A fresh random permutation of the rows per column (Fisher–Yates);
        // its first `num_zeros` rows are zeroed, as PyTorch's randperm slice.
        for i in (1..rows).rev() {
            perm.swap(i, g.below(i as u64 + 1) as usize);
        }
        for &row in &perm[..num_zeros] {
            values[row * cols + col] = 0.0;
        }
    }
    Ok(values)
}

// ------------------------------------------------------------- PyTorch names
//
// Each fills a tensor in place from the default generator; for a generator of
// your own, use the corresponding `Scheme` with `apply_with`.

/// Fills with `value` (PyTorch `constant_`).
pub fn constant_<E: Element>(tensor: &Tensor<E>, value: f64) {
    fill(tensor, || value);
}

/// Fills with zeros (PyTorch `zeros_`).
pub fn zeros_<E: Element>(tensor: &Tensor<E>) {
    constant_(tensor, 0.0);
}

/// Fills with ones (PyTorch `ones_`).
pub fn ones_<E: Element>(tensor: &Tensor<E>) {
    constant_(tensor, 1.0);
}

/// Fills with U(a, b) (PyTorch `uniform_`); errors unless `a <= b`, both finite.
pub fn uniform_<E: Element>(tensor: &Tensor<E>, a: f64, b: f64) -> Result<(), InitError> {
    Scheme::Uniform { a, b }.apply(tensor)
}

/// Fills with N(mean, std²) (PyTorch `normal_`); errors if `std < 0`.
pub fn normal_<E: Element>(tensor: &Tensor<E>, mean: f64, std: f64) -> Result<(), InitError> {
    Scheme::Normal { mean, std }.apply(tensor)
}

/// Fills with N(mean, std²) truncated to [a, b] (PyTorch `trunc_normal_`,
/// whose defaults are `mean = 0, std = 1, a = -2, b = 2`). The cuts are
/// absolute: `std = 0.02` with the default ±2 hardly truncates (±100σ), while
/// cutting at ±0.04 (±2σ) leaves a standard deviation of 0.88·0.02, not 0.02.
///
/// ```
/// use lamina_core::Tensor;
/// let w = Tensor::<f64>::zeros(&[100]);
/// lamina_init::trunc_normal_(&w, 0.0, 0.02, -0.04, 0.04).unwrap();
/// assert!(w.to_vec().iter().all(|v| v.abs() <= 0.04));
/// ```
pub fn trunc_normal_<E: Element>(tensor: &Tensor<E>, mean: f64, std: f64, a: f64, b: f64) -> Result<(), InitError> {
    Scheme::TruncNormal { mean, std, a, b }.apply(tensor)
}

/// Xavier/Glorot uniform (PyTorch `xavier_uniform_`, default `gain = 1`).
pub fn xavier_uniform_<E: Element>(tensor: &Tensor<E>, gain: f64) -> Result<(), InitError> {
    Scheme::XavierUniform { gain }.apply(tensor)
}

/// Xavier/Glorot normal (PyTorch `xavier_normal_`, default `gain = 1`).
pub fn xavier_normal_<E: Element>(tensor: &Tensor<E>, gain: f64) -> Result<(), InitError> {
    Scheme::XavierNormal { gain }.apply(tensor)
}

/// He/Kaiming uniform (PyTorch `kaiming_uniform_`; defaults `a = 0`,
/// `FanMode::FanIn`, `Nonlinearity::LeakyRelu`).
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_init::{kaiming_uniform_, FanMode, Nonlinearity};
/// let w = Tensor::<f32>::zeros(&[256, 128]);
/// kaiming_uniform_(&w, 0.0, FanMode::FanIn, Nonlinearity::Relu).unwrap();
/// let bound = (6.0f32 / 128.0).sqrt(); // √2 · √(3 / fan_in)
/// assert!(w.to_vec().iter().all(|v| v.abs() <= bound));
/// ```
pub fn kaiming_uniform_<E: Element>(
    tensor: &Tensor<E>,
    a: f64,
    mode: FanMode,
    nonlinearity: Nonlinearity,
) -> Result<(), InitError> {
    Scheme::KaimingUniform { a, mode, nonlinearity }.apply(tensor)
}

/// He/Kaiming normal (PyTorch `kaiming_normal_`, same defaults as [`kaiming_uniform_`]).
pub fn kaiming_normal_<E: Element>(
    tensor: &Tensor<E>,
    a: f64,
    mode: FanMode,
    nonlinearity: Nonlinearity,
) -> Result<(), InitError> {
    Scheme::KaimingNormal { a, mode, nonlinearity }.apply(tensor)
}

/// LeCun normal, N(0, 1/fan_in) (not in `torch.nn.init`; PyTorch's SELU docs
/// reach it as `kaiming_normal_(w, nonlinearity='linear')`).
pub fn lecun_normal_<E: Element>(tensor: &Tensor<E>) -> Result<(), InitError> {
    Scheme::LecunNormal.apply(tensor)
}

/// A (semi-)orthogonal matrix times `gain` (PyTorch `orthogonal_`, default `gain = 1`).
///
/// ```
/// use lamina_core::Tensor;
/// let w = Tensor::<f64>::zeros(&[3, 5]);
/// lamina_init::orthogonal_(&w, 1.0).unwrap();
/// let wwt = w.matmul(&w.t()).to_vec(); // the 3 x 3 identity
/// assert!((wwt[0] - 1.0).abs() < 1e-12 && wwt[1].abs() < 1e-12);
/// ```
pub fn orthogonal_<E: Element>(tensor: &Tensor<E>, gain: f64) -> Result<(), InitError> {
    Scheme::Orthogonal { gain }.apply(tensor)
}

/// The identity matrix (PyTorch `eye_`); errors unless the tensor has 2 dims.
pub fn eye_<E: Element>(tensor: &Tensor<E>) -> Result<(), InitError> {
    Scheme::Eye.apply(tensor)
}

/// The identity convolution (PyTorch `dirac_`, default `groups = 1`).
///
/// ```
/// use lamina_core::Tensor;
/// let w = Tensor::<f32>::zeros(&[2, 2, 3]);
/// lamina_init::dirac_(&w, 1).unwrap();
/// assert_eq!(w.to_vec(), [0., 1., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0.]);
/// ```
pub fn dirac_<E: Element>(tensor: &Tensor<E>, groups: usize) -> Result<(), InitError> {
    Scheme::Dirac { groups }.apply(tensor)
}

/// Sparse normal columns (PyTorch `sparse_`, default `std = 0.01`).
pub fn sparse_<E: Element>(tensor: &Tensor<E>, sparsity: f64, std: f64) -> Result<(), InitError> {
    Scheme::Sparse { sparsity, std }.apply(tensor)
}
