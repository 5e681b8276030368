//! Reductions over all elements or chosen dimensions, with `keepdim`: sums and
//! means, products, extremes (with their indices), variance and standard
//! deviation, log-sum-exp, vector norms, and the cumulative sum.
//!
//! As in PyTorch, an empty list of dims reduces over every dimension, and a
//! 0-d tensor accepts dim `0` / `-1`.

use crate::kernels::{
    cumulative_sum, lanes, map, reduce, reduce_rows, reduce_with, reduced_shape, sum_map, sum_reduce, zip,
};
use crate::layout::Shape;
use crate::ops::IndexTensor;
use crate::tensor::at;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::panic::Location;

/// `g` (a reduction's gradient) with the reduced `dims` reinserted (when not
/// kept) and expanded to `shape`, the reduced tensor's shape.
fn unreduce<E: Element>(g: &Tensor<E>, shape: &[usize], dims: &[usize], keepdim: bool) -> Tensor<E> {
    let mut g = g.clone();
    if !keepdim {
        for &d in dims {
            g = g.unsqueeze(d as isize);
        }
    }
    g.expand(shape)
}

/// `(before, size, after)`: the number of lanes before `dim`, its size, and
/// the elements after it, viewing a contiguous `shape` as `[before, size, after]`.
fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
}

/// Whether `v` replaces `best` as the running extreme: NaN wins (and stays),
/// ties keep the first occurrence, as PyTorch.
fn replaces<E: Element>(v: E, best: E, better: fn(E, E) -> bool) -> bool {
    !best.is_nan() && (v.is_nan() || better(v, best))
}

fn greater<E: Element>(a: E, b: E) -> bool {
    a > b
}

fn less<E: Element>(a: E, b: E) -> bool {
    a < b
}

/// The sign of each element (0 at 0), as a constant: `x * sign(x)` is a
/// differentiable `|x|` whose derivative is `sign(x)`.
fn sign_of<E: Element>(x: &Tensor<E>) -> Tensor<E> {
    map(x, |v| {
        if v > E::zero() {
            E::one()
        } else if v < E::zero() {
            -E::one()
        } else {
            E::zero()
        }
    })
}

/// A constant that is 1 where `x` is 0 and 0 elsewhere: `x + zero_indicator(x)`
/// is `x` exactly where `x != 0` and a safe divisor where it is 0.
fn zero_indicator<E: Element>(x: &Tensor<E>) -> Tensor<E> {
    map(x, |v| if v == E::zero() { E::one() } else { E::zero() })
}

/// The constant `mask / count` that splits a gradient evenly among the
/// elements of `x` equal to their reduction `r` (NaN matching NaN), as
/// PyTorch's amax/amin and max()/min() backward.
fn tie_weights<E: Element>(op: &str, x: &Tensor<E>, r: &Tensor<E>, dims: &[usize]) -> Tensor<E> {
    let mask = zip(op, x, r, |a, b| if a == b || (a.is_nan() && b.is_nan()) { E::one() } else { E::zero() });
    let count = sum_reduce(&mask, dims, true);
    zip(op, &mask, &count, |m, c| m / c)
}

impl<E: Element> Tensor<E> {
    /// Resolves, sorts and checks a list of (possibly negative) dimensions.
    #[track_caller]
    pub(crate) fn dims_index(&self, op: &str, dims: &[isize]) -> Vec<usize> {
        // A loop, not a closure: closures do not carry `#[track_caller]`.
        let mut out = Vec::with_capacity(dims.len());
        for &d in dims {
            out.push(self.dim_index(op, d));
        }
        out.sort_unstable();
        if out.windows(2).any(|w| w[0] == w[1]) {
            panic!("{op}: repeated dimension in {dims:?} for shape {:?} at {}", self.shape(), at(Location::caller()));
        }
        out
    }

    /// The dims a reduction runs over: every dim when `dims` is empty (as
    /// PyTorch), none for a 0-d tensor.
    #[track_caller]
    fn reduction_dims(&self, op: &str, dims: &[isize]) -> Vec<usize> {
        if dims.is_empty() {
            return (0..self.ndim()).collect();
        }
        let mut d = self.dims_index(op, dims);
        d.retain(|&i| i < self.ndim());
        d
    }

    /// Panics when a reduction without an identity (max, min) would reduce
    /// over no elements.
    #[track_caller]
    fn check_nonempty(&self, op: &str, dims: &[usize]) {
        if dims.iter().any(|&d| self.shape()[d] == 0) || (self.numel() == 0 && dims.is_empty()) {
            panic!(
                "{op}: cannot reduce over an empty dimension (shape {:?}, dims {dims:?}) at {}",
                self.shape(),
                at(Location::caller())
            );
        }
    }

    /// Gradient of a reduction broadcast back to this tensor's shape: `g` with
    /// the reduced `dims` reinserted (when not kept) and expanded.
    pub(crate) fn unreduce(&self, g: &Tensor<E>, dims: &[usize], keepdim: bool) -> Tensor<E> {
        unreduce(g, self.shape(), dims, keepdim)
    }

    // ------------------------------------------------------------ sums and means

    /// Sum of all elements (a 0-d tensor).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(x.sum().item(), 10.0);
    /// ```
    #[track_caller]
    pub fn sum(&self) -> Tensor<E> {
        self.sum_dims(&[], false)
    }

    /// Sum over `dims` (negative counts from the end; empty: all dims).
    /// Accumulated in `f64` in an order fixed by the shape, so the result is
    /// the same for any thread count.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// assert_eq!(x.sum_dims(&[0], false).to_vec(), vec![5.0, 7.0, 9.0]);
    /// assert_eq!(x.sum_dims(&[-1], true).shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<E> {
        let d = self.reduction_dims("sum", dims);
        let shape: Shape = self.shape().into();
        sum_reduce(self, &d, keepdim)
            .record("sum", &[self], move |_, g| smallvec![Some(unreduce(g, &shape, &d, keepdim))])
    }

    /// Mean of all elements.
    #[track_caller]
    pub fn mean(&self) -> Tensor<E> {
        self.mean_dims(&[], false)
    }

    /// Mean over `dims` (empty: all dims).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(x.mean_dims(&[1], false).to_vec(), vec![1.5, 3.5]);
    /// ```
    #[track_caller]
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<E> {
        let d = self.reduction_dims("mean", dims);
        let count: usize = d.iter().map(|&i| self.shape()[i]).product();
        self.sum_dims(dims, keepdim).div_scalar(E::of(count as f64))
    }

    /// Sums this (broadcast) tensor down to `shape`, the adjoint of
    /// [`expand`](Self::expand): how a broadcast input receives its gradient.
    #[track_caller]
    pub fn sum_to(&self, shape: &[usize]) -> Tensor<E> {
        if self.shape() == shape {
            return self.clone();
        }
        let lead = self.ndim().checked_sub(shape.len()).unwrap_or_else(|| {
            panic!("sum_to: cannot sum shape {:?} to {:?} at {}", self.shape(), shape, at(Location::caller()))
        });
        let dims: Vec<isize> = (0..self.ndim())
            .filter(|&d| d < lead || (shape[d - lead] == 1 && self.shape()[d] != 1))
            .map(|d| d as isize)
            .collect();
        for (d, &s) in shape.iter().enumerate() {
            if s != 1 && s != self.shape()[lead + d] {
                panic!("sum_to: cannot sum shape {:?} to {:?} at {}", self.shape(), shape, at(Location::caller()));
            }
        }
        self.sum_dims(&dims, true).reshape(shape)
    }

    // ------------------------------------------------------------ products

    /// Product of all elements (a 0-d tensor).
    #[track_caller]
    pub fn prod(&self) -> Tensor<E> {
        self.reshape(&[self.numel()]).prod_dim(0, false)
    }

    /// Product over `dim`. Gradient: g · prod / x when no element is 0, else
    /// g · (the product of the other elements), exact at zeros (as PyTorch).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![2.0, 0.0, 3.0], &[3]).requires_grad_(true);
    /// let p = x.prod_dim(0, false);
    /// assert_eq!(p.item(), 0.0);
    /// p.backward();
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 6.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn prod_dim(&self, dim: isize, keepdim: bool) -> Tensor<E> {
        let d = self.reduction_dims("prod", &[dim]);
        let out = reduce(self, &d, keepdim, 1.0f64, |a, v, _| a * v.f64(), |a, _| E::of(a));
        let saved = out.detach();
        let x = self.clone();
        out.record("prod", &[self], move |c, g| {
            let Some(&dim) = d.first() else {
                return smallvec![Some(g.clone())];
            };
            let g = x.unreduce(g, &d, keepdim);
            let others = if x.to_vec().contains(&E::zero()) {
                x.prod_others(dim)
            } else {
                Tensor::div(&x.unreduce(&c.output(&saved), &d, keepdim), &x)
            };
            smallvec![Some(g.mul(&others))]
        })
    }

    /// For every element, the product of the other elements of its lane along
    /// `dim`, from prefix and suffix products (exact when some are zero).
    /// d others_i / d x_j = the product of all but x_i and x_j (i ≠ j).
    #[track_caller]
    fn prod_others(&self, dim: usize) -> Tensor<E> {
        let out = lanes(self, dim, |a, out| {
            let mut before = Vec::with_capacity(a.len());
            let mut p = 1.0f64;
            for &v in a {
                before.push(p);
                p *= v.f64();
            }
            let mut after = 1.0f64;
            for ((o, &v), b) in out.iter_mut().zip(a).zip(before).rev() {
                *o = E::of(b * after);
                after *= v.f64();
            }
        });
        let x = self.clone();
        out.record("prod_others", &[self], move |_, g| {
            // Row i of `xs` is the lane with x_i replaced by 1, so its
            // products of others are the second derivatives ∏_{k≠i,j} x_k.
            let n = x.shape()[dim];
            let eye = Tensor::<E>::eye(n);
            let off = eye.rsub_scalar(E::one());
            let xt = x.transpose(dim as isize, -1);
            let mut square: Vec<usize> = xt.shape().to_vec();
            square.insert(square.len() - 1, n);
            let xs = xt.unsqueeze(-2).expand(&square).mul(&off).add(&eye);
            let second = xs.prod_others(square.len() - 1);
            let gt = g.transpose(dim as isize, -1).unsqueeze(-1);
            smallvec![Some(gt.mul(&second).mul(&off).sum_dims(&[-2], false).transpose(dim as isize, -1))]
        })
    }

    // ------------------------------------------------------------ extremes

    /// The extreme of every lane along `dims` (at most one dim) and its index:
    /// `better(a, b)` says `a` beats `b`.
    #[track_caller]
    fn select(&self, op: &str, dims: &[usize], better: fn(E, E) -> bool) -> (Vec<E>, Vec<i64>) {
        self.check_nonempty(op, dims);
        let picked = reduce_with(
            self,
            dims,
            (E::nan(), 0usize),
            move |best, v, k| if k == 0 || replaces(v, best.0, better) { (v, k) } else { best },
            |best, _| (best.0, best.1 as i64),
        );
        picked.into_iter().unzip()
    }

    /// Values and indices of the extreme along `dim`; the gradient goes to
    /// the selected element only.
    #[track_caller]
    fn extreme_dim(
        &self,
        op: &'static str,
        dim: isize,
        keepdim: bool,
        better: fn(E, E) -> bool,
    ) -> (Tensor<E>, IndexTensor) {
        let d = self.reduction_dims(op, &[dim]);
        let (values, indices) = self.select(op, &d, better);
        let kept = IndexTensor::from_vec(indices, &reduced_shape(self.shape(), &d, true));
        let shape = reduced_shape(self.shape(), &d, keepdim);
        let out_indices = IndexTensor { shape: shape.as_slice().into(), data: kept.data.clone() };
        let x_shape = self.shape().to_vec();
        let values = Tensor::from_vec(values, &shape).record(op, &[self], move |_, g| {
            let Some(&dim) = d.first() else {
                return smallvec![Some(g.clone())];
            };
            let g = if keepdim { g.clone() } else { g.unsqueeze(dim as isize) };
            smallvec![Some(g.scatter_selected(&kept, dim, &x_shape))]
        });
        (values, out_indices)
    }

    /// Largest value along `dim` and its index, like `torch.max(x, dim)`:
    /// the first occurrence among ties; NaN propagates. The gradient flows to
    /// the selected element.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 5.0, 5.0, 7.0, 2.0, 0.0], &[2, 3]);
    /// let (v, i) = x.max_dim(1, false);
    /// assert_eq!(v.to_vec(), vec![5.0, 7.0]);
    /// assert_eq!(i.to_vec(), vec![1, 0]);
    /// ```
    #[track_caller]
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> (Tensor<E>, IndexTensor) {
        self.extreme_dim("max", dim, keepdim, greater)
    }

    /// Smallest value along `dim` and its index, like `torch.min(x, dim)`
    /// (first occurrence among ties; the gradient flows to it).
    #[track_caller]
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> (Tensor<E>, IndexTensor) {
        self.extreme_dim("min", dim, keepdim, less)
    }

    /// Zeros of `shape` with this tensor (`shape` with `dim` of size 1)
    /// written along `dim` at the positions `idx`: the gradient of a selection.
    /// Its adjoint is [`gather_selected`](Self::gather_selected).
    #[track_caller]
    fn scatter_selected(&self, idx: &IndexTensor, dim: usize, shape: &[usize]) -> Tensor<E> {
        let (before, n, after) = split_at_dim(shape, dim);
        let mut out = crate::buffers::zeroed(before * n * after);
        for (p, v) in self.to_vec().into_iter().enumerate() {
            let (k, j) = (p / after, p % after);
            out[(k * n + idx.data[p] as usize) * after + j] = v;
        }
        let idx = idx.clone();
        Tensor::from_vec(out, shape)
            .record("scatter_selected", &[self], move |_, g| smallvec![Some(g.gather_selected(&idx, dim))])
    }

    /// The elements at positions `idx` (shaped like this tensor with `dim` of
    /// size 1) along `dim`. Its adjoint is [`scatter_selected`](Self::scatter_selected).
    #[track_caller]
    fn gather_selected(&self, idx: &IndexTensor, dim: usize) -> Tensor<E> {
        let shape = self.shape().to_vec();
        let (_, n, after) = split_at_dim(&shape, dim);
        let x = self.to_vec();
        let out =
            (0..idx.data.len()).map(|p| x[((p / after) * n + idx.data[p] as usize) * after + p % after]).collect();
        let idx = idx.clone();
        Tensor::from_vec(out, idx.shape())
            .record("gather_selected", &[self], move |_, g| smallvec![Some(g.scatter_selected(&idx, dim, &shape))])
    }

    /// The extreme over `dims` with the gradient split evenly among ties.
    #[track_caller]
    fn extreme(&self, op: &'static str, dims: &[isize], keepdim: bool, better: fn(E, E) -> bool) -> Tensor<E> {
        let d = self.reduction_dims(op, dims);
        self.check_nonempty(op, &d);
        let fold = move |best, v, k| if k == 0 || replaces(v, best, better) { v } else { best };
        let out = reduce(self, &d, keepdim, E::nan(), fold, |best, _| best);
        let saved = out.detach();
        let x = self.clone();
        out.record(op, &[self], move |_, g| {
            let weights = tie_weights(op, &x, &x.unreduce(&saved, &d, keepdim), &d);
            smallvec![Some(x.unreduce(g, &d, keepdim).mul(&weights))]
        })
    }

    /// Largest element (a 0-d tensor), like `torch.max(x)`; NaN propagates.
    /// The gradient is split evenly among tied maxima.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 3.0], &[3]).requires_grad_(true);
    /// x.max().backward();
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.5, 0.5]);
    /// ```
    #[track_caller]
    pub fn max(&self) -> Tensor<E> {
        self.extreme("max", &[], false, greater)
    }

    /// Smallest element (a 0-d tensor); the gradient is split among ties.
    #[track_caller]
    pub fn min(&self) -> Tensor<E> {
        self.extreme("min", &[], false, less)
    }

    /// Largest value over `dims` (empty: all), like `torch.amax`; the
    /// gradient is split evenly among tied maxima.
    #[track_caller]
    pub fn amax(&self, dims: &[isize], keepdim: bool) -> Tensor<E> {
        self.extreme("amax", dims, keepdim, greater)
    }

    /// Smallest value over `dims` (empty: all), like `torch.amin`; the
    /// gradient is split evenly among tied minima.
    #[track_caller]
    pub fn amin(&self, dims: &[isize], keepdim: bool) -> Tensor<E> {
        self.extreme("amin", dims, keepdim, less)
    }

    /// The indices of the extreme along `dim`, or of the flattened tensor.
    #[track_caller]
    fn arg_extreme(&self, op: &str, dim: Option<isize>, keepdim: bool, better: fn(E, E) -> bool) -> IndexTensor {
        let d = match dim {
            Some(dim) => self.reduction_dims(op, &[dim]),
            None => (0..self.ndim()).collect(),
        };
        let (_, indices) = self.select(op, &d, better);
        IndexTensor::from_vec(indices, &reduced_shape(self.shape(), &d, keepdim))
    }

    /// Index of the largest value along `dim` (first among ties), or into the
    /// flattened tensor when `dim` is `None`, like `torch.argmax`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 9.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(x.argmax(None, false).to_vec(), vec![1]);
    /// assert_eq!(x.argmax(Some(0), false).to_vec(), vec![1, 0]);
    /// ```
    #[track_caller]
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> IndexTensor {
        self.arg_extreme("argmax", dim, keepdim, greater)
    }

    /// Index of the smallest value along `dim` (first among ties), or into the
    /// flattened tensor when `dim` is `None`, like `torch.argmin`.
    #[track_caller]
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> IndexTensor {
        self.arg_extreme("argmin", dim, keepdim, less)
    }

    // ------------------------------------------------------------ moments

    /// Variance of all elements with Bessel's correction, like `torch.var(x)`.
    #[track_caller]
    pub fn var(&self) -> Tensor<E> {
        self.var_dims(&[], 1, false)
    }

    /// Variance over `dims` (empty: all): `Σ (x - mean)² / max(0, N - correction)`,
    /// like `torch.var(x, dims, correction=.., keepdim=..)`; `correction` 1 is
    /// the unbiased estimate, 0 the population variance.
    /// Gradient: g · 2 (x - mean) / (N - correction).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]);
    /// assert_eq!(x.var_dims(&[0], 0, false).item(), 1.25);
    /// assert!((x.var().item() - 5.0 / 3.0).abs() < 1e-15);
    /// ```
    #[track_caller]
    pub fn var_dims(&self, dims: &[isize], correction: usize, keepdim: bool) -> Tensor<E> {
        self.variance("var", dims, correction, keepdim)
    }

    /// [`var_dims`](Self::var_dims), reporting errors as `op`.
    #[track_caller]
    fn variance(&self, op: &str, dims: &[isize], correction: usize, keepdim: bool) -> Tensor<E> {
        let d = self.reduction_dims(op, dims);
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        let denom = (n as f64 - correction as f64).max(0.0);
        let values = reduce_rows(self, &d, |row| {
            let mean = sum_map(row, E::f64) / n as f64;
            E::of(sum_map(row, |v| (v.f64() - mean) * (v.f64() - mean)) / denom)
        });
        let x = self.clone();
        Tensor::from_vec(values, &reduced_shape(self.shape(), &d, keepdim)).record("var", &[self], move |_, g| {
            let dims: Vec<isize> = d.iter().map(|&i| i as isize).collect();
            let centred = Tensor::sub(&x, &x.mean_dims(&dims, true));
            smallvec![Some(x.unreduce(g, &d, keepdim).mul(&centred).mul_scalar(E::of(2.0 / denom)))]
        })
    }

    /// Standard deviation of all elements with Bessel's correction, like `torch.std(x)`.
    #[track_caller]
    pub fn std(&self) -> Tensor<E> {
        self.std_dims(&[], 1, false)
    }

    /// Standard deviation over `dims`: the square root of
    /// [`var_dims`](Self::var_dims). Gradient: var's gradient · g / (2 std).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], &[8]);
    /// assert_eq!(x.std_dims(&[0], 0, false).item(), 2.0);
    /// ```
    #[track_caller]
    pub fn std_dims(&self, dims: &[isize], correction: usize, keepdim: bool) -> Tensor<E> {
        let var = self.variance("std", dims, correction, keepdim);
        let out = map(&var, E::sqrt);
        let saved = out.detach();
        out.record("std", &[&var], move |c, g| smallvec![Some(g.div(&c.output(&saved).mul_scalar(E::of(2.0))))])
    }

    // ------------------------------------------------------------ log-sum-exp and norms

    /// `log Σ exp(x)` over `dims` (empty: all), computed as
    /// `m + log Σ exp(x - m)` with `m` the maximum, so large values do not
    /// overflow; `-inf` entries contribute nothing. Gradient: g · exp(x - out).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1000.0, 1000.0, f64::NEG_INFINITY], &[3]);
    /// assert_eq!(x.logsumexp(&[0], false).item(), 1000.0 + 2f64.ln());
    /// ```
    #[track_caller]
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Tensor<E> {
        let d = self.reduction_dims("logsumexp", dims);
        let values = reduce_rows(self, &d, |row| {
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v.f64()));
            let shift = if m.is_infinite() { 0.0 } else { m };
            E::of(sum_map(row, |v| (v.f64() - shift).exp()).ln() + shift)
        });
        let out = Tensor::from_vec(values, &reduced_shape(self.shape(), &d, keepdim));
        let saved = out.detach();
        let x = self.clone();
        out.record("logsumexp", &[self], move |c, g| {
            let out = x.unreduce(&c.output(&saved), &d, keepdim);
            smallvec![Some(x.unreduce(g, &d, keepdim).mul(&Tensor::sub(&x, &out).exp()))]
        })
    }

    /// Vector p-norm over `dims` (empty: all), like `torch.norm(x, p, dims)` /
    /// `torch.linalg.vector_norm`: `(Σ |x|^p)^(1/p)` for any `p > 0`;
    /// `p = inf` is `max |x|`, `p = -inf` is `min |x|`, `p = 0` counts non-zeros.
    /// Gradient: g · sign(x) |x|^(p-1) / norm^(p-1), 0 where the norm is 0;
    /// for ±inf it is split evenly among the elements attaining the norm.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![3.0, -4.0], &[2]);
    /// assert_eq!(x.norm(2.0, &[], false).item(), 5.0);
    /// assert_eq!(x.norm(1.0, &[0], false).item(), 7.0);
    /// assert_eq!(x.norm(f64::INFINITY, &[], false).item(), 4.0);
    /// ```
    #[track_caller]
    pub fn norm(&self, p: f64, dims: &[isize], keepdim: bool) -> Tensor<E> {
        if p.is_nan() || (p < 0.0 && p != f64::NEG_INFINITY) {
            panic!(
                "norm: p must be >= 0, inf or -inf, got {p} (shape {:?}) at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        let d = self.reduction_dims("norm", dims);
        let out = if p.is_infinite() {
            self.check_nonempty("norm", &d);
            let better = if p > 0.0 { greater } else { less };
            let fold = move |best: E, v: E, k| if k == 0 || replaces(v.abs(), best, better) { v.abs() } else { best };
            reduce(self, &d, keepdim, E::nan(), fold, |best, _| best)
        } else {
            let term = move |v: f64| match p {
                0.0 => f64::from(u8::from(v != 0.0)),
                1.0 => v.abs(),
                2.0 => v * v,
                _ => v.abs().powf(p),
            };
            let root = move |s: f64| match p {
                0.0 | 1.0 => s,
                2.0 => s.sqrt(),
                _ => s.powf(1.0 / p),
            };
            reduce(self, &d, keepdim, 0.0f64, move |a, v, _| a + term(v.f64()), move |a, _| E::of(root(a)))
        };
        let saved = out.detach();
        let x = self.clone();
        out.record("norm", &[self], move |c, g| {
            let g = x.unreduce(g, &d, keepdim);
            let sign = sign_of(&x);
            let dx = if p == 0.0 {
                x.zeros_like()
            } else if p == 1.0 {
                g.mul(&sign)
            } else if p.is_infinite() {
                let abs = Tensor::mul(&x, &sign);
                let weights = tie_weights("norm", &abs, &x.unreduce(&saved, &d, keepdim), &d);
                g.mul(&sign.mul(&weights))
            } else {
                let norm = x.unreduce(&c.output(&saved), &d, keepdim);
                let safe_norm = norm.add(&zero_indicator(&norm));
                if p == 2.0 {
                    g.mul(&Tensor::div(&x, &safe_norm))
                } else if p < 1.0 {
                    // |x|^(p-1) is infinite at 0, where the sign is 0.
                    let abs = Tensor::mul(&x, &sign);
                    let safe_abs = abs.add(&zero_indicator(&x));
                    let e = E::of(p);
                    g.mul(&sign.mul(&safe_abs.pow_scalar(e - E::one()))).mul(&norm.pow_scalar(E::one() - e))
                } else {
                    let abs = Tensor::mul(&x, &sign);
                    let e = E::of(p);
                    let scaled = sign.mul(&abs.pow_scalar(e - E::one()));
                    g.mul(&scaled).div(&safe_norm.pow_scalar(e - E::one()))
                }
            };
            smallvec![Some(dx)]
        })
    }

    // ------------------------------------------------------------ scans

    /// Cumulative sum along `dim`, like `torch.cumsum` (accumulated in `f64`).
    /// Gradient: the reversed cumulative sum of g.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(x.cumsum(1).to_vec(), vec![1.0, 3.0, 3.0, 7.0]);
    /// assert_eq!(x.cumsum(0).to_vec(), vec![1.0, 2.0, 4.0, 6.0]);
    /// ```
    #[track_caller]
    pub fn cumsum(&self, dim: isize) -> Tensor<E> {
        let d = self.dim_index("cumsum", dim);
        if self.ndim() == 0 {
            return self.reshape(&[1]).cumsum(0).reshape(&[]);
        }
        self.scan_sum(d, false)
    }

    /// Cumulative sum along `dim`, from the end when `reverse`: each is the
    /// other's adjoint, so derivatives of any order are scans.
    #[track_caller]
    fn scan_sum(&self, dim: usize, reverse: bool) -> Tensor<E> {
        let out = cumulative_sum(self, dim, reverse);
        let name = if reverse { "cumsum_backward" } else { "cumsum" };
        out.record(name, &[self], move |_, g| smallvec![Some(g.scan_sum(dim, !reverse))])
    }
}
