//! softmax, log_softmax and the fused cross-entropy core, with the
//! reduction-aware [`cross_entropy`] and [`nll_loss`] built on them.
//!
//! Each kernel subtracts the row maximum before exponentiating, so large
//! logits never overflow. The backward rules are written with softmax itself
//! and element-wise ops, so second derivatives work.

use super::nn::{for_each_block, split_at_dim, with_contiguous};
use crate::kernels::fold8;
use crate::math;
use crate::profile::{scope, Family};
use crate::simd::vectorized;
use crate::tape::is_grad_enabled;
use crate::tensor::at;
use crate::threads::PAR_MIN;
use crate::{Element, IndexTensor, Tensor};
use smallvec::smallvec;
use std::panic::Location;
use std::sync::Arc;

vectorized! {
    /// Softmax (or log-softmax) of one `[size, inner]` block along its first axis.
    fn softmax_block<E: Element>(src: &[E], dst: &mut [E], size: usize, inner: usize, log: bool) {
        debug_assert_eq!(src.len(), size * inner);
        if inner == 1 {
            // One contiguous row: the exponentials in a loop of their own,
            // which vectorises; the max and the sum as interleaved folds.
            let max = fold8([src], E::neg_infinity(), |[v]| v, |m, v| if v > m { v } else { m });
            dst.iter_mut().zip(src).for_each(|(o, &v)| *o = math::exp(v - max));
            let sum = fold8([&*dst], E::zero(), |[v]| v, |a, b| a + b);
            if log {
                let shift = max + sum.ln();
                dst.iter_mut().zip(src).for_each(|(o, &v)| *o = v - shift);
            } else {
                let r = sum.recip();
                dst.iter_mut().for_each(|o| *o = *o * r);
            }
            return;
        }
        let mut max = vec![E::neg_infinity(); inner];
        for row in src.chunks_exact(inner) {
            for (m, &v) in max.iter_mut().zip(row) {
                if v > *m {
                    *m = v;
                }
            }
        }
        let mut sum = vec![E::zero(); inner];
        for (out, row) in dst.chunks_exact_mut(inner).zip(src.chunks_exact(inner)) {
            for (((o, &v), &m), s) in out.iter_mut().zip(row).zip(&max).zip(sum.iter_mut()) {
                *o = math::exp(v - m);
                *s = *s + *o;
            }
        }
        if log {
            let shift: Vec<E> = max.iter().zip(&sum).map(|(&m, &s)| m + s.ln()).collect();
            for (out, row) in dst.chunks_exact_mut(inner).zip(src.chunks_exact(inner)) {
                for ((o, &v), &c) in out.iter_mut().zip(row).zip(&shift) {
                    *o = v - c;
                }
            }
        } else {
            let inv: Vec<E> = sum.iter().map(|&s| s.recip()).collect();
            for out in dst.chunks_exact_mut(inner) {
                for (o, &r) in out.iter_mut().zip(&inv) {
                    *o = *o * r;
                }
            }
        }
    }
}

vectorized! {
    /// The gradient of softmax (or log-softmax) along the first axis of one
    /// `[size, inner]` block, from its output `y` and the output's gradient
    /// `g`: `dx = y (g - Σ g y)`, or `g - exp(y) Σ g` for log-softmax.
    fn softmax_block_grad<E: Element>(y: &[E], g: &[E], dx: &mut [E], size: usize, inner: usize, log: bool) {
        debug_assert_eq!(y.len(), size * inner);
        let term = |y: E, g: E| if log { g } else { g * y };
        let grad = |y: E, g: E, s: E| if log { g - math::exp(y) * s } else { y * (g - s) };
        if inner == 1 {
            let s = fold8([y, g], E::zero(), |[y, g]| term(y, g), |a, b| a + b);
            dx.iter_mut().zip(y).zip(g).for_each(|((d, &y), &g)| *d = grad(y, g, s));
            return;
        }
        let mut sum = vec![E::zero(); inner];
        for (yr, gr) in y.chunks_exact(inner).zip(g.chunks_exact(inner)) {
            for ((s, &y), &g) in sum.iter_mut().zip(yr).zip(gr) {
                *s = *s + term(y, g);
            }
        }
        for ((dr, yr), gr) in dx.chunks_exact_mut(inner).zip(y.chunks_exact(inner)).zip(g.chunks_exact(inner)) {
            for (((d, &y), &g), &s) in dr.iter_mut().zip(yr).zip(gr).zip(&sum) {
                *d = grad(y, g, s);
            }
        }
    }
}

/// `kernel(x, other, out, size, inner)` on each `[size, inner]` block along
/// `dim` of `x` and of `other` (shaped like `x`; empty blocks without one),
/// into a tensor shaped like `x`, in parallel when large (unrecorded).
fn along_dim<E: Element>(
    x: &Tensor<E>,
    other: Option<&Tensor<E>>,
    dim: usize,
    kernel: impl Fn(&[E], &[E], &mut [E], usize, usize) + Sync + Send,
) -> Tensor<E> {
    let _profile = scope(Family::Reduction);
    let (_, size, inner) = split_at_dim(x.shape(), dim);
    let block = size * inner;
    let mut out = crate::buffers::zeroed(x.numel());
    if block > 0 {
        let run = |out: &mut [E], src: &[E], second: &[E]| {
            for_each_block(out, block, src.len() >= PAR_MIN, |i, dst| {
                let range = i * block..(i + 1) * block;
                kernel(&src[range.clone()], second.get(range).unwrap_or(&[]), dst, size, inner);
            });
        };
        with_contiguous(x, |src| match other {
            Some(o) => with_contiguous(o, |second| run(&mut out, src, second)),
            None => run(&mut out, src, &[]),
        });
    }
    Tensor::from_vec(out, x.shape())
}

/// Softmax or log-softmax of `x` along `dim` (unrecorded).
fn softmax_raw<E: Element>(x: &Tensor<E>, dim: usize, log: bool) -> Tensor<E> {
    along_dim(x, None, dim, |src, _, dst, size, inner| softmax_block(src, dst, size, inner, log))
}

impl<E: Element> Tensor<E> {
    /// `exp(x) / sum(exp(x))` along `dim` (`F.softmax`), computed stably.
    /// d = y ⊙ (g - sum(g ⊙ y, dim)).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![0.0, 2f64.ln(), 1000.0, 1000.0], &[2, 2]);
    /// let y = x.softmax(-1).to_vec();
    /// assert!((y[0] - 1.0 / 3.0).abs() < 1e-15 && (y[1] - 2.0 / 3.0).abs() < 1e-15);
    /// assert_eq!(&y[2..], &[0.5, 0.5]);
    /// ```
    #[track_caller]
    pub fn softmax(&self, dim: isize) -> Tensor<E> {
        self.softmax_op("softmax", dim, false)
    }

    /// `x - log(sum(exp(x)))` along `dim` (`F.log_softmax`), computed stably.
    /// d = g - exp(y) ⊙ sum(g, dim).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 1.0, 1.0, 1.0], &[4]);
    /// assert!(x.log_softmax(0).to_vec().iter().all(|&v| (v + 4f64.ln()).abs() < 1e-15));
    /// ```
    #[track_caller]
    pub fn log_softmax(&self, dim: isize) -> Tensor<E> {
        self.softmax_op("log_softmax", dim, true)
    }

    #[track_caller]
    fn softmax_op(&self, op: &'static str, dim: isize, log: bool) -> Tensor<E> {
        if self.ndim() == 0 && (dim == 0 || dim == -1) {
            // As in PyTorch, a scalar is a one-element row.
            return self.reshape(&[1]).softmax_op(op, 0, log).reshape(&[]);
        }
        let d = self.dim_index(op, dim);
        let out = softmax_raw(self, d, log);
        let y = out.detach();
        let di = d as isize;
        out.record(op, &[self], move |c, g| {
            let y = c.output(&y);
            if !is_grad_enabled() {
                // One pass over each block, where the rule below is four ops.
                let dx =
                    along_dim(&y, Some(g), d, |y, g, dx, size, inner| softmax_block_grad(y, g, dx, size, inner, log));
                return smallvec![Some(dx)];
            }
            // Recorded for a higher derivative: the rule from differentiable ops.
            let dx = if log {
                g.sub(&y.exp().mul(&g.sum_dims(&[di], true)))
            } else {
                y.mul(&g.sub(&g.mul(&y).sum_dims(&[di], true)))
            };
            smallvec![Some(dx)]
        })
    }
}

/// How a loss reduces its per-element values (PyTorch's `reduction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// Per-element losses (`'none'`).
    None,
    /// The mean, weighted by class weights where the loss has them (`'mean'`, the default).
    #[default]
    Mean,
    /// The sum (`'sum'`).
    Sum,
}

/// Options of [`cross_entropy`], with PyTorch's names and defaults.
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions<E: Element = f32> {
    /// A weight per class, shape `[C]` (default none: all 1). A constant: it
    /// receives no gradient.
    pub weight: Option<Tensor<E>>,
    /// Class-index targets equal to this contribute nothing (default -100).
    pub ignore_index: i64,
    /// How the per-element losses are reduced (default [`Reduction::Mean`]).
    pub reduction: Reduction,
    /// Mixes the target with the uniform distribution: `(1 - s) * target + s / C`
    /// (default 0.0).
    pub label_smoothing: f64,
}

impl<E: Element> Default for CrossEntropyOptions<E> {
    fn default() -> Self {
        CrossEntropyOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean, label_smoothing: 0.0 }
    }
}

/// Options of [`nll_loss`], with PyTorch's names and defaults.
#[derive(Clone, Debug)]
pub struct NllLossOptions<E: Element = f32> {
    /// A weight per class, shape `[C]` (default none: all 1). A constant.
    pub weight: Option<Tensor<E>>,
    /// Targets equal to this contribute nothing (default -100).
    pub ignore_index: i64,
    /// How the per-element losses are reduced (default [`Reduction::Mean`]).
    pub reduction: Reduction,
}

impl<E: Element> Default for NllLossOptions<E> {
    fn default() -> Self {
        NllLossOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean }
    }
}

/// The target of [`cross_entropy`]: class indices or class probabilities.
/// Converts from `&IndexTensor` and `&Tensor`.
#[derive(Clone, Copy, Debug)]
pub enum ClassTarget<'a, E: Element = f32> {
    /// Class indices, shape `[N, d1, ...]` (the input without its class dim).
    Indices(&'a IndexTensor),
    /// Class probabilities, the input's shape; differentiable.
    Probabilities(&'a Tensor<E>),
}

impl<'a, E: Element> From<&'a IndexTensor> for ClassTarget<'a, E> {
    fn from(t: &'a IndexTensor) -> Self {
        ClassTarget::Indices(t)
    }
}

impl<'a, E: Element> From<&'a Tensor<E>> for ClassTarget<'a, E> {
    fn from(t: &'a Tensor<E>) -> Self {
        ClassTarget::Probabilities(t)
    }
}

/// Class-index targets checked against an input `[N, C, inner...]`.
struct Classes {
    /// Samples, classes, and positions per sample (the product of `d1...`).
    n: usize,
    c: usize,
    inner: usize,
    /// The target class of each position (`n * inner`, row-major); `None` where ignored.
    target: Vec<Option<usize>>,
    /// The class weights (all 1 without a weight).
    weight: Vec<f64>,
}

impl Classes {
    #[track_caller]
    fn new<E: Element>(
        op: &str,
        input: &Tensor<E>,
        target: &IndexTensor,
        weight: Option<&Tensor<E>>,
        ignore_index: i64,
    ) -> Classes {
        let s = input.shape();
        let fits = s.len() >= 2
            && target.shape().len() == s.len() - 1
            && target.shape()[0] == s[0]
            && target.shape()[1..] == s[2..];
        if !fits {
            panic!(
                "{op}: expected an input [N, C, d1...] and a target [N, d1...] (shapes {:?} and {:?}) at {}",
                s,
                target.shape(),
                at(Location::caller())
            );
        }
        let c = s[1];
        let weight = match weight {
            Some(w) if w.shape() != [c] => panic!(
                "{op}: the class weight must have shape [{c}] (shapes {:?} and weight {:?}) at {}",
                s,
                w.shape(),
                at(Location::caller())
            ),
            Some(w) => w.to_f64_vec(),
            None => vec![1.0; c],
        };
        // A loop, not a closure: the panic must report the caller's line.
        let mut targets = Vec::with_capacity(target.data.len());
        for &t in target.data.iter() {
            if t == ignore_index {
                targets.push(None);
            } else if t < 0 || t >= c as i64 {
                panic!(
                    "{op}: target {t} is out of bounds for {c} classes (shapes {:?} and {:?}) at {}",
                    s,
                    target.shape(),
                    at(Location::caller())
                );
            } else {
                targets.push(Some(t as usize));
            }
        }
        Classes { n: s[0], c, inner: s[2..].iter().product(), target: targets, weight }
    }

    /// The sum of the weights of the non-ignored targets: the mean's divisor.
    fn weight_sum(&self) -> f64 {
        self.target.iter().flatten().map(|&t| self.weight[t]).sum()
    }

    /// `[N, C, inner]` constants: `diag * w[t]` at each target class plus
    /// `off * w[c]` for every class, zero at ignored positions.
    fn coefficients<E: Element>(&self, shape: &[usize], diag: f64, off: f64) -> Tensor<E> {
        let (c, inner) = (self.c, self.inner);
        let mut out = crate::buffers::zeroed(self.n * c * inner);
        for (pos, t) in self.target.iter().enumerate() {
            let Some(t) = *t else { continue };
            let (ni, j) = (pos / inner, pos % inner);
            for k in 0..c {
                let delta = if k == t { diag * self.weight[t] } else { 0.0 };
                out[(ni * c + k) * inner + j] = E::of(delta + off * self.weight[k]);
            }
        }
        Tensor::from_vec(out, shape)
    }

    /// Calls `f(sample, position, target, column, block)` for each non-ignored position of a
    /// contiguous `[N, C, inner]` input, where `column(k)` reads class `k` there,
    /// writing into `out`, which holds `per` values for each sample in turn;
    /// samples run in parallel on large inputs.
    fn each_position<E: Element, T: Send>(
        &self,
        input: &Tensor<E>,
        out: &mut [T],
        per: usize,
        f: impl Fn(usize, usize, usize, &dyn Fn(usize) -> f64, &mut [T]) + Sync + Send,
    ) {
        let (c, inner) = (self.c, self.inner);
        with_contiguous(input, |x| {
            for_each_block(out, per, x.len() >= PAR_MIN, |ni, block| {
                for j in 0..inner {
                    let Some(t) = self.target[ni * inner + j] else { continue };
                    let column = |k: usize| x[(ni * c + k) * inner + j].f64();
                    f(ni, j, t, &column, block);
                }
            })
        })
    }
}

/// Applies `reduction` to per-element losses whose mean divides by `divisor`.
#[track_caller]
fn reduce_loss<E: Element>(per: Tensor<E>, reduction: Reduction, divisor: f64) -> Tensor<E> {
    match reduction {
        Reduction::None => per,
        Reduction::Sum => per.sum(),
        Reduction::Mean => per.sum().div_scalar(E::of(divisor)),
    }
}

/// Lifts an unbatched input `[C]` with a 0-d target to `[1, C]` and `[1]`.
fn batch_classes<E: Element>(input: &Tensor<E>, target: &IndexTensor) -> Option<(Tensor<E>, IndexTensor)> {
    (input.ndim() == 1 && target.shape().is_empty())
        .then(|| (input.unsqueeze(0), IndexTensor::from_vec(target.to_vec(), &[1])))
}

impl<E: Element> Tensor<E> {
    /// The fused cross-entropy core: per-element losses `[N, d1...]` of logits
    /// `[N, C, d1...]` against class indices,
    /// `(1 - s) w[t] (lse - x_t) + (s / C) sum_c w[c] (lse - x_c)` (zero where
    /// the target is ignored), and the mean's divisor `sum w[t]` over the
    /// non-ignored targets. d/dx = g (a softmax(x) - B) with constants
    /// `a = (1 - s) w[t] + (s / C) sum w` and `B = (1 - s) w[t] onehot(t) + (s / C) w`,
    /// built from recorded ops under `create_graph` and fused into one pass otherwise.
    #[track_caller]
    fn cross_entropy_core(
        &self,
        target: &IndexTensor,
        weight: Option<&Tensor<E>>,
        ignore_index: i64,
        smoothing: f64,
    ) -> (Tensor<E>, f64) {
        let cls = Arc::new(Classes::new("cross_entropy", self, target, weight, ignore_index));
        let c = cls.c as f64;
        let total_w: f64 = cls.weight.iter().sum();
        // Per position: -(1 - s) w[t] log p_t - (s / C) sum_c w[c] log p_c.
        let lsm = softmax_raw(self, 1, true);
        let mut per = crate::buffers::zeroed(cls.target.len());
        cls.each_position(&lsm, &mut per, cls.inner, |_, j, t, logp, out| {
            let mut loss = -cls.weight[t] * logp(t);
            if smoothing > 0.0 {
                let all: f64 = (0..cls.c).map(|k| cls.weight[k] * logp(k)).sum();
                loss = (1.0 - smoothing) * loss - smoothing / c * all;
            }
            out[j] = E::of(loss);
        });
        let divisor = cls.weight_sum();
        let x = self.clone();
        let x_shape: Vec<usize> = self.shape().into();
        let out = Tensor::from_vec(per, target.shape()).record("cross_entropy", &[self], move |_, g| {
            if !is_grad_enabled() {
                // Not recording (no create_graph): the same values in one pass.
                let gv = g.to_f64_vec();
                let mut dx = crate::buffers::zeroed(lsm.numel());
                let inner = cls.inner;
                cls.each_position(&lsm, &mut dx, cls.c * inner, |ni, j, t, logp, out| {
                    let gp = gv[ni * inner + j];
                    let wt = (1.0 - smoothing) * cls.weight[t];
                    let a = wt + smoothing / c * total_w;
                    for k in 0..cls.c {
                        let b = if k == t { wt } else { 0.0 } + smoothing / c * cls.weight[k];
                        // exp in the element type: the fast one for f32.
                        let p = E::of(logp(k)).exp().f64();
                        out[k * inner + j] = E::of(gp * (a * p - b));
                    }
                });
                return smallvec![Some(Tensor::from_vec(dx, &x_shape))];
            }
            let keep: Vec<usize> = x_shape.iter().enumerate().map(|(d, &s)| if d == 1 { 1 } else { s }).collect();
            let b = cls.coefficients::<E>(&x_shape, 1.0 - smoothing, smoothing / c);
            let scale: Vec<E> = cls
                .target
                .iter()
                .map(|t| t.map_or(E::zero(), |t| E::of((1.0 - smoothing) * cls.weight[t] + smoothing / c * total_w)))
                .collect();
            let scale = Tensor::from_vec(scale, &keep);
            smallvec![Some(g.unsqueeze(1).mul(&x.softmax(1).mul(&scale).sub(&b)))]
        });
        (out, divisor)
    }

    /// The NLL core: per-element `-w[t] x_t` of log-probabilities `[N, C, d1...]`
    /// (zero where ignored) and the mean's divisor. d/dx = -g w[t] onehot(t).
    #[track_caller]
    fn nll_core(&self, target: &IndexTensor, weight: Option<&Tensor<E>>, ignore_index: i64) -> (Tensor<E>, f64) {
        let cls = Arc::new(Classes::new("nll_loss", self, target, weight, ignore_index));
        let mut per = crate::buffers::zeroed(cls.target.len());
        cls.each_position(self, &mut per, cls.inner, |_, j, t, column, out| {
            out[j] = E::of(-cls.weight[t] * column(t));
        });
        let divisor = cls.weight_sum();
        let x_shape: Vec<usize> = self.shape().into();
        let out = Tensor::from_vec(per, target.shape()).record("nll_loss", &[self], move |_, g| {
            smallvec![Some(g.unsqueeze(1).mul(&cls.coefficients::<E>(&x_shape, -1.0, 0.0)))]
        });
        (out, divisor)
    }
}

/// Cross-entropy between logits and targets (`F.cross_entropy`), with
/// PyTorch's definitions.
///
/// - `input`: logits `[N, C]`, `[N, C, d1...]` (class dim 1) or `[C]`.
/// - class-index `target` ([`IndexTensor`] `[N, d1...]`, or 0-d for `[C]`):
///   per element `(1 - s) w[t] nll + (s / C) sum_c w[c] (-log p_c)`, zero where
///   `target == ignore_index`; the mean divides by the sum of `w[t]` over
///   non-ignored targets.
/// - probability `target` (a [`Tensor`] of the input's shape, differentiable):
///   per element `-sum_c w[c] t'_c log p_c` with `t' = (1 - s) t + s / C`; the
///   mean divides by the number of elements `N * d1 * ...`.
///
/// ```
/// use lamina_core::{cross_entropy, CrossEntropyOptions, IndexTensor, Tensor};
/// let logits = Tensor::<f64>::from_vec(vec![0.0, 0.0, 5.0, 5.0], &[2, 2]);
/// let target = IndexTensor::from_vec(vec![1, 0], &[2]);
/// let loss = cross_entropy(&logits, &target, &CrossEntropyOptions::default());
/// assert!((loss.item() - 2f64.ln()).abs() < 1e-15);
/// ```
#[track_caller]
pub fn cross_entropy<'a, E: Element>(
    input: &Tensor<E>,
    target: impl Into<ClassTarget<'a, E>>,
    opts: &CrossEntropyOptions<E>,
) -> Tensor<E> {
    let s = opts.label_smoothing;
    if !(0.0..=1.0).contains(&s) {
        panic!("cross_entropy: label_smoothing must be between 0.0 and 1.0, got {s} at {}", at(Location::caller()));
    }
    match target.into() {
        ClassTarget::Indices(t) => {
            if let Some((x, t)) = batch_classes(input, t) {
                let (per, divisor) = x.cross_entropy_core(&t, opts.weight.as_ref(), opts.ignore_index, s);
                return reduce_loss(per.reshape(&[]), opts.reduction, divisor);
            }
            let (per, divisor) = input.cross_entropy_core(t, opts.weight.as_ref(), opts.ignore_index, s);
            reduce_loss(per, opts.reduction, divisor)
        }
        ClassTarget::Probabilities(t) => {
            if t.shape() != input.shape() || input.ndim() == 0 {
                panic!(
                    "cross_entropy: probability targets must have the input's shape (shapes {:?} and {:?}) at {}",
                    input.shape(),
                    t.shape(),
                    at(Location::caller())
                );
            }
            if opts.ignore_index >= 0 {
                panic!(
                    "cross_entropy: ignore_index is not supported for probability targets (shapes {:?} and {:?}) at {}",
                    input.shape(),
                    t.shape(),
                    at(Location::caller())
                );
            }
            let cd = usize::from(input.ndim() > 1);
            let c = input.shape()[cd];
            let t = if s > 0.0 { t.mul_scalar(E::of(1.0 - s)).add_scalar(E::of(s / c as f64)) } else { t.clone() };
            let mut prod = input.log_softmax(cd as isize).mul(&t);
            if let Some(w) = &opts.weight {
                if w.shape() != [c] {
                    panic!(
                        "cross_entropy: the class weight must have shape [{c}] (shapes {:?} and weight {:?}) at {}",
                        input.shape(),
                        w.shape(),
                        at(Location::caller())
                    );
                }
                let mut ws = vec![1; input.ndim() - cd];
                ws[0] = c;
                prod = prod.mul(&w.reshape(&ws));
            }
            let per = prod.sum_dims(&[cd as isize], false).neg();
            reduce_loss(per, opts.reduction, (input.numel() / c.max(1)) as f64)
        }
    }
}

/// Negative log-likelihood of log-probabilities `input` (`[N, C, d1...]` or
/// `[C]`) at class indices `target` (`F.nll_loss`): per element `-w[t] x_t`,
/// zero where `target == ignore_index`; the mean divides by the sum of `w[t]`
/// over non-ignored targets.
///
/// ```
/// use lamina_core::{nll_loss, IndexTensor, NllLossOptions, Tensor};
/// let logp = Tensor::<f64>::from_vec(vec![-1.0, -2.0, -3.0, -4.0], &[2, 2]);
/// let target = IndexTensor::from_vec(vec![1, 0], &[2]);
/// assert_eq!(nll_loss(&logp, &target, &NllLossOptions::default()).item(), 2.5);
/// ```
#[track_caller]
pub fn nll_loss<E: Element>(input: &Tensor<E>, target: &IndexTensor, opts: &NllLossOptions<E>) -> Tensor<E> {
    if let Some((x, t)) = batch_classes(input, target) {
        let (per, divisor) = x.nll_core(&t, opts.weight.as_ref(), opts.ignore_index);
        return reduce_loss(per.reshape(&[]), opts.reduction, divisor);
    }
    let (per, divisor) = input.nll_core(target, opts.weight.as_ref(), opts.ignore_index);
    reduce_loss(per, opts.reduction, divisor)
}
