//! Neural-network helpers: dropout masks, embedding lookup, batched statistics.
//!
//! Also the small kernel utilities the other nn families (softmax, conv,
//! pool) share: a row-major view of any tensor and a per-block parallel fill.

use crate::kernels::{view, zip};
use crate::layout::Shape;
use crate::rng::{with_default_generator, Generator};
use crate::tape::is_grad_enabled;
use crate::tensor::at;
use crate::threads::{for_each_chunk, map_tasks, num_threads, PAR_MIN, ROW_TASK_MIN};
use crate::{Element, IndexTensor, Tensor};
use smallvec::smallvec;
use std::panic::Location;
use std::sync::Arc;

/// Runs `f` on `t`'s elements as one row-major slice, copying only when `t`
/// is not contiguous.
pub(crate) fn with_contiguous<E: Element, R>(t: &Tensor<E>, f: impl FnOnce(&[E]) -> R) -> R {
    match t.layout().contiguous_range() {
        Some(r) => t.with_data(|d, _| f(&d[r])),
        None => f(&t.to_vec()),
    }
}

/// Calls `f(i, block)` on the consecutive `block`-element blocks of `out`,
/// in parallel when `parallel` (each block is computed alone, so the result
/// does not depend on the thread count).
pub(crate) fn for_each_block<T: Send>(
    out: &mut [T],
    block: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if block == 0 || out.is_empty() {
        return;
    }
    if parallel && num_threads() > 1 && out.len() > block {
        // Whole blocks a task, enough of them that claiming the task costs
        // little beside its work (a layer norm's 256-value rows, one a task,
        // were slower on 2 threads than on 1).
        let per_task = ROW_TASK_MIN.div_ceil(block);
        for_each_chunk(out, block * per_task, |t, blocks| {
            blocks.chunks_mut(block).enumerate().for_each(|(i, b)| f(t * per_task + i, b))
        });
    } else {
        out.chunks_mut(block).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// `(outer, size, inner)`: the element counts before, along and after `dim`.
pub(crate) fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    if shape.is_empty() {
        return (1, 1, 1);
    }
    (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
}

#[track_caller]
fn check_probability(op: &str, p: f64) {
    if !(0.0..=1.0).contains(&p) {
        panic!("{op}: dropout probability has to be between 0 and 1, but got {p} at {}", at(Location::caller()));
    }
}

impl<E: Element> Tensor<E> {
    /// `self * mask` where `mask` (broadcast to `self`) holds `0` for a dropped
    /// element and `1 / (1 - p)` for a kept one. d = mask.
    #[track_caller]
    fn apply_dropout_mask(&self, mask: Tensor<E>) -> Tensor<E> {
        let m = mask.clone();
        zip("dropout", self, &mask, |x, k| x * k).record("dropout", &[self], move |_, g| smallvec![Some(g.mul(&m))])
    }

    /// A mask of `shape` with `0` (probability `p`) or `1 / (1 - p)`, drawn
    /// element by element in row-major order.
    fn dropout_mask(shape: &[usize], p: f64, g: Option<&mut Generator>) -> Tensor<E> {
        let keep = 1.0 - p;
        let scale = if keep > 0.0 { E::of(1.0 / keep) } else { E::zero() };
        let n: usize = shape.iter().product();
        let draw = |g: &mut Generator| (0..n).map(|_| if g.uniform() < keep { scale } else { E::zero() }).collect();
        let data = match g {
            Some(g) => draw(g),
            None => with_default_generator(draw),
        };
        Tensor::from_vec(data, shape)
    }

    /// Inverted dropout (`F.dropout`): in training, zeroes each element with
    /// probability `p` and scales the rest by `1 / (1 - p)`, drawing from the
    /// default generator; outside training (or with `p == 0`) returns `self`.
    ///
    /// ```
    /// use lamina_core::{manual_seed, Tensor};
    /// manual_seed(3);
    /// let y = Tensor::<f64>::ones(&[1000]).dropout(0.25, true);
    /// assert!(y.to_vec().iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-12));
    /// ```
    #[track_caller]
    pub fn dropout(&self, p: f64, training: bool) -> Tensor<E> {
        self.dropout_impl("dropout", p, training, false, None)
    }

    /// [`dropout`](Self::dropout) drawing from an explicit generator.
    #[track_caller]
    pub fn dropout_with(&self, p: f64, training: bool, g: &mut Generator) -> Tensor<E> {
        self.dropout_impl("dropout", p, training, false, Some(g))
    }

    /// Channel-wise dropout (`torch.feature_dropout`, the rule of `Dropout1d`,
    /// `Dropout2d` and `Dropout3d`): for an input of shape `[N, C, *]`, zeroes
    /// each whole channel `(n, c)` with probability `p` and scales the rest by
    /// `1 / (1 - p)`.
    ///
    /// ```
    /// use lamina_core::{Generator, Tensor};
    /// let y = Tensor::<f64>::ones(&[2, 8, 3, 3]).feature_dropout_with(0.5, true, &mut Generator::new(1));
    /// let v = y.to_vec();
    /// // Every 3x3 channel is either all 0 or all 2.
    /// assert!(v.chunks(9).all(|c| c.iter().all(|&x| x == c[0])));
    /// ```
    #[track_caller]
    pub fn feature_dropout(&self, p: f64, training: bool) -> Tensor<E> {
        self.dropout_impl("feature_dropout", p, training, true, None)
    }

    /// [`feature_dropout`](Self::feature_dropout) drawing from an explicit generator.
    #[track_caller]
    pub fn feature_dropout_with(&self, p: f64, training: bool, g: &mut Generator) -> Tensor<E> {
        self.dropout_impl("feature_dropout", p, training, true, Some(g))
    }

    #[track_caller]
    fn dropout_impl(&self, op: &str, p: f64, training: bool, channels: bool, g: Option<&mut Generator>) -> Tensor<E> {
        check_probability(op, p);
        if channels && self.ndim() < 2 {
            panic!(
                "{op}: expects an input of shape [N, C, *], got shape {:?} at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        if !training || p == 0.0 {
            return self.clone();
        }
        let mask_shape: Shape = if channels {
            self.shape().iter().enumerate().map(|(d, &s)| if d < 2 { s } else { 1 }).collect()
        } else {
            self.shape().into()
        };
        self.apply_dropout_mask(Self::dropout_mask(&mask_shape, p, g))
    }

    /// Embedding lookup (`F.embedding`): `self` is the table `[num, dim]`, the
    /// result `[*ids.shape, dim]` holds row `ids[i]` at position `i`. The
    /// gradient sums into the looked-up rows, except row `padding_idx`
    /// (negative counts from the end), which receives none.
    ///
    /// ```
    /// use lamina_core::{IndexTensor, Tensor};
    /// let w = Tensor::<f64>::from_vec(vec![0.0, 0.0, 1.0, 2.0, 3.0, 4.0], &[3, 2]);
    /// let ids = IndexTensor::from_vec(vec![2, 0, 2], &[3]);
    /// assert_eq!(w.embedding(&ids, Some(0)).to_vec(), vec![3.0, 4.0, 0.0, 0.0, 3.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn embedding(&self, ids: &IndexTensor, padding_idx: Option<i64>) -> Tensor<E> {
        if self.ndim() != 2 {
            panic!(
                "embedding: the weight must be 2-d [num, dim], got shape {:?} (ids shape {:?}) at {}",
                self.shape(),
                ids.shape(),
                at(Location::caller())
            );
        }
        let num = self.shape()[0];
        // Loops, not closures: the panics must report the caller's line.
        let mut pad = None;
        if let Some(p) = padding_idx {
            let q = if p < 0 { p + num as i64 } else { p };
            if q < 0 || q >= num as i64 {
                panic!(
                    "embedding: padding_idx {p} out of range for a weight of shape {:?} at {}",
                    self.shape(),
                    at(Location::caller())
                );
            }
            pad = Some(q as usize);
        }
        let mut rows = Vec::with_capacity(ids.data.len());
        for &i in ids.data.iter() {
            if i < 0 || i >= num as i64 {
                panic!(
                    "embedding: index {i} out of range for a weight of shape {:?} (ids shape {:?}) at {}",
                    self.shape(),
                    ids.shape(),
                    at(Location::caller())
                );
            }
            rows.push(i as usize);
        }
        let mut out_shape: Vec<usize> = ids.shape().to_vec();
        out_shape.push(self.shape()[1]);
        self.embedding_gather(Arc::new(rows), pad, false, &out_shape)
    }

    /// Rows `rows[i]` of the 2-d `self`, shaped `out_shape`; with
    /// `zero_pad`, rows equal to `pad` read as zeros. Its adjoint is
    /// [`embedding_scatter`](Self::embedding_scatter), which never writes row `pad`.
    #[track_caller]
    fn embedding_gather(
        &self,
        rows: Arc<Vec<usize>>,
        pad: Option<usize>,
        zero_pad: bool,
        out_shape: &[usize],
    ) -> Tensor<E> {
        let (num, dim) = (self.shape()[0], self.shape()[1]);
        let mut out = crate::buffers::zeroed(rows.len() * dim);
        with_contiguous(self, |w| {
            for (o, &r) in out.chunks_mut(dim.max(1)).zip(rows.iter()) {
                if !(zero_pad && Some(r) == pad) {
                    o.copy_from_slice(&w[r * dim..(r + 1) * dim]);
                }
            }
        });
        Tensor::from_vec(out, out_shape)
            .record("embedding", &[self], move |_, g| smallvec![Some(g.embedding_scatter(rows.clone(), pad, num))])
    }

    /// `[num, dim]` zeros with row `i` of `self` (flattened to `[len, dim]`)
    /// added into row `rows[i]`, skipping rows equal to `pad`.
    #[track_caller]
    fn embedding_scatter(&self, rows: Arc<Vec<usize>>, pad: Option<usize>, num: usize) -> Tensor<E> {
        let dim = self.shape().last().copied().unwrap_or(1);
        let mut out = crate::buffers::zeroed(num * dim);
        with_contiguous(self, |g| {
            for (src, &r) in g.chunks(dim.max(1)).zip(rows.iter()) {
                if Some(r) != pad {
                    for (o, &v) in out[r * dim..(r + 1) * dim].iter_mut().zip(src) {
                        *o = *o + v;
                    }
                }
            }
        });
        let src_shape: Vec<usize> = self.shape().into();
        Tensor::from_vec(out, &[num, dim]).record("embedding_backward", &[self], move |_, g| {
            smallvec![Some(g.embedding_gather(rows.clone(), pad, true, &src_shape))]
        })
    }

    /// Mean and variance over `dims` in one call, as the norms need them
    /// (`torch.var_mean`, but returned as `(mean, var)`): the variance divides the summed squared deviations
    /// by `count - correction` (0: biased, 1: unbiased). Computed two-pass in
    /// `f64` per row, so it is stable for data far from zero. Both results are
    /// differentiable: d var/dx = 2 (x - mean) / (count - correction).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0], &[2, 3]);
    /// let (mean, var) = x.moments(&[1], 1, false);
    /// assert_eq!(mean.to_vec(), vec![2.0, 6.0]);
    /// assert_eq!(var.to_vec(), vec![1.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn moments(&self, dims: &[isize], correction: usize, keepdim: bool) -> (Tensor<E>, Tensor<E>) {
        for &i in dims {
            // Checked here, outside any closure, so a bad dim reports the caller's line.
            self.dim_index("moments", i);
        }
        let d = self.dims_index("moments", dims);
        let shape = self.shape();
        let kept: Vec<usize> = (0..shape.len()).filter(|i| !d.contains(i)).collect();
        let perm: Vec<usize> = kept.iter().chain(d.iter()).copied().collect();
        let count: usize = d.iter().map(|&i| shape[i]).product();
        let outer: usize = kept.iter().map(|&i| shape[i]).product();
        let rows = view(self, self.layout().permute(&perm)).to_vec();
        let stats = map_tasks(outer, rows.len() >= PAR_MIN, |o| {
            let row = &rows[o * count..(o + 1) * count];
            let mean = row.iter().map(|v| v.f64()).sum::<f64>() / count as f64;
            let m2: f64 = row.iter().map(|v| (v.f64() - mean) * (v.f64() - mean)).sum();
            (mean, m2 / (count as f64 - correction as f64).max(0.0))
        });
        let keep_shape: Vec<usize> =
            shape.iter().enumerate().map(|(i, &s)| if d.contains(&i) { 1 } else { s }).collect();
        let out_shape: Vec<usize> = if keepdim { keep_shape.clone() } else { kept.iter().map(|&i| shape[i]).collect() };
        let mean_raw = Tensor::from_vec(stats.iter().map(|s| E::of(s.0)).collect(), &out_shape);
        let var_raw = Tensor::from_vec(stats.iter().map(|s| E::of(s.1)).collect(), &out_shape);

        let x = self.clone();
        let dd = d.clone();
        let mean = mean_raw.record("mean", &[self], move |_, g| {
            smallvec![Some(x.unreduce(g, &dd, keepdim).div_scalar(E::of(count as f64)))]
        });
        let x = self.clone();
        let saved_mean = mean.detach().reshape(&keep_shape);
        let factor = E::of(2.0 / (count as f64 - correction as f64));
        let dims_i: Vec<isize> = d.iter().map(|&i| i as isize).collect();
        let var = var_raw.record("var", &[self], move |_, g| {
            // Under create_graph the mean is recomputed on the tape so that
            // second derivatives see its dependence on x.
            let m = if is_grad_enabled() { x.mean_dims(&dims_i, true) } else { saved_mean.clone() };
            smallvec![Some(x.unreduce(g, &d, keepdim).mul(&x.sub(&m)).mul_scalar(factor))]
        });
        (mean, var)
    }
}
