//! Layer normalisation as one op, PyTorch's `F.layer_norm`. Written from
//! primitives it is seven recorded ops forward and a dozen passes backward
//! over the activations; fused, it is two passes each way.

use crate::kernels::fold8;
use crate::ops::nn::{for_each_block, with_contiguous};
use crate::profile::{scope, Family};
use crate::simd::vectorized;
use crate::tape::is_grad_enabled;
use crate::tensor::at;
use crate::threads::{map_tasks, PAR_MIN, ROW_TASK_MIN};
use crate::{Element, Tensor};
use smallvec::{smallvec, SmallVec};
use std::panic::Location;

/// The weight and bias gradients sum their rows in this many fixed blocks.
const PARAM_GRAD_BLOCKS: usize = 8;

impl<E: Element> Tensor<E> {
    /// `(x - mean) / sqrt(var + eps) * weight + bias`, with the mean and the
    /// biased variance over the trailing dims of shape `normalized_shape`;
    /// `weight` and `bias` have that shape. Statistics are accumulated in f64.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 0.0, 4.0], &[2, 2]);
    /// let y = x.layer_norm(&[2], None, None, 0.0);
    /// assert_eq!(y.to_vec(), vec![-1.0, 1.0, -1.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor<E>>,
        bias: Option<&Tensor<E>>,
        eps: f64,
    ) -> Tensor<E> {
        let k = normalized_shape.len();
        let fits = |t: Option<&Tensor<E>>| t.is_none_or(|t| t.shape() == normalized_shape);
        if k == 0
            || self.ndim() < k
            || &self.shape()[self.ndim() - k..] != normalized_shape
            || !fits(weight)
            || !fits(bias)
        {
            panic!(
                "layer_norm: input {:?}, weight {:?} and bias {:?} do not fit normalized_shape {normalized_shape:?} at {}",
                self.shape(),
                weight.map(|w| w.shape().to_vec()),
                bias.map(|b| b.shape().to_vec()),
                at(Location::caller())
            );
        }
        let _profile = scope(Family::Reduction);
        let d: usize = normalized_shape.iter().product();
        let (w, b) = (weight.map(|w| w.to_vec()), bias.map(|b| b.to_vec()));
        let rows = self.numel() / d.max(1);
        let per_task = ROW_TASK_MIN.div_ceil(d.max(1));
        let mut y = crate::buffers::reused(self.numel());
        let parallel = self.numel() >= PAR_MIN;
        let (mean, rstd) = with_contiguous(self, |x| {
            // Rows are independent: any split gives the same bits.
            let stats: Vec<(E, E)> = map_tasks(rows.div_ceil(per_task), parallel, |t| {
                let mut stats = Vec::with_capacity(per_task);
                let x = &x[t * per_task * d..];
                row_stats(&x[..x.len().min(per_task * d)], d, eps, &mut stats);
                stats
            })
            .concat();
            for_each_block(&mut y, d, parallel, |r, y| {
                normalize_row(&x[r * d..(r + 1) * d], stats[r], w.as_deref(), b.as_deref(), y)
            });
            stats.into_iter().unzip::<E, E, Vec<E>, Vec<E>>()
        });
        let out = Tensor::from_vec(y, self.shape());
        let (x, weight_t) = (self.clone(), weight.cloned());
        let mut inputs: SmallVec<[&Tensor<E>; 3]> = smallvec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let dims: Vec<isize> = (-(k as isize)..0).collect();
        let (has_bias, norm_shape) = (bias.is_some(), normalized_shape.to_vec());
        out.record("layer_norm", &inputs, move |ctx, g| {
            // Inputs are numbered x, then weight and bias where present.
            let (wi, bi) = (weight_t.as_ref().map(|_| 1), has_bias.then(|| 1 + weight_t.is_some() as usize));
            let needs = |i: Option<usize>| i.is_some_and(|i| ctx.needs(i));
            let (dx, dw, db) = if is_grad_enabled() {
                // Recorded for a higher derivative: the same rule, from
                // differentiable ops.
                layer_norm_grads_composed(&x, weight_t.as_ref(), g, &dims, eps)
            } else {
                layer_norm_grads(&x, weight_t.as_ref(), g, &norm_shape, [&mean, &rstd], [needs(wi), needs(bi)])
            };
            let mut grads = smallvec![ctx.needs(0).then_some(dx)];
            if wi.is_some() {
                grads.push(dw);
            }
            if bi.is_some() {
                grads.push(db);
            }
            grads
        })
    }
}

/// The fused backward of [`Tensor::layer_norm`] (unrecorded): with `x̂ = (x -
/// mean) rstd` and `ĝ = g w`, `dx = rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂))`,
/// `dw = Σ g x̂` and `db = Σ g` over the rows.
fn layer_norm_grads<E: Element>(
    x: &Tensor<E>,
    weight: Option<&Tensor<E>>,
    g: &Tensor<E>,
    norm_shape: &[usize],
    [mean, rstd]: [&[E]; 2],
    [need_w, need_b]: [bool; 2],
) -> (Tensor<E>, Option<Tensor<E>>, Option<Tensor<E>>) {
    let _profile = scope(Family::Reduction);
    let d: usize = norm_shape.iter().product();
    let w = weight.map(|w| w.to_vec());
    let mut dx = crate::buffers::reused(x.numel());
    let rows = mean.len();
    let parallel = x.numel() >= PAR_MIN;
    let (dw, db) = with_contiguous(x, |xs| {
        with_contiguous(g, |gs| {
            for_each_block(&mut dx, d, parallel, |r, dx| {
                let (x, g) = (&xs[r * d..(r + 1) * d], &gs[r * d..(r + 1) * d]);
                row_input_grad(x, g, w.as_deref(), (mean[r], rstd[r]), dx)
            });
            // dw and db: fixed blocks of rows summed in order, so the result
            // does not depend on the thread count.
            let blocks = rows.clamp(1, PARAM_GRAD_BLOCKS);
            let partials = map_tasks(blocks, parallel && (need_w || need_b), |bi| {
                let (mut dw, mut db) = (vec![E::zero(); d], vec![E::zero(); d]);
                let r = bi * rows / blocks..(bi + 1) * rows / blocks;
                let (x, g) = (&xs[r.start * d..r.end * d], &gs[r.start * d..r.end * d]);
                let stats = (&mean[r.clone()], &rstd[r]);
                add_param_grads(x, g, d, stats, need_w.then_some(&mut dw[..]), need_b.then_some(&mut db[..]));
                (dw, db)
            });
            let (mut dw, mut db) = (vec![E::zero(); d], vec![E::zero(); d]);
            for (pw, pb) in partials {
                dw.iter_mut().zip(pw).for_each(|(o, v)| *o = *o + v);
                db.iter_mut().zip(pb).for_each(|(o, v)| *o = *o + v);
            }
            (dw, db)
        })
    });
    (
        Tensor::from_vec(dx, x.shape()),
        need_w.then(|| Tensor::from_vec(dw, norm_shape)),
        need_b.then(|| Tensor::from_vec(db, norm_shape)),
    )
}

vectorized! {
    /// The mean and `1 / sqrt(var + eps)` of each row of `d` values of `x`,
    /// accumulated in f64, pushed onto `stats`.
    fn row_stats<E: Element>(x: &[E], d: usize, eps: f64, stats: &mut Vec<(E, E)>) {
        for x in x.chunks_exact(d) {
            let m = fold8([x], 0.0, |[v]| v.f64(), |a, b| a + b) / d as f64;
            let var = fold8([x], 0.0, |[v]| (v.f64() - m) * (v.f64() - m), |a, b| a + b) / d as f64;
            stats.push((E::of(m), E::of(1.0 / (var + eps).sqrt())));
        }
    }
}

vectorized! {
    /// One row of the output from its row `x` and `stats = (mean, rstd)`:
    /// `(x - mean) rstd`, times the weight and plus the bias where given.
    fn normalize_row<E: Element>(x: &[E], stats: (E, E), w: Option<&[E]>, b: Option<&[E]>, y: &mut [E]) {
        let (m, s) = stats;
        y.iter_mut().zip(x).for_each(|(o, &v)| *o = (v - m) * s);
        if let Some(w) = w {
            y.iter_mut().zip(w).for_each(|(o, &w)| *o = *o * w);
        }
        if let Some(b) = b {
            y.iter_mut().zip(b).for_each(|(o, &b)| *o = *o + b);
        }
    }
}

vectorized! {
    /// One row of the input's gradient from the row's `x`, its output
    /// gradient `g` and `stats = (mean, rstd)`: with `x̂ = (x - mean) rstd`
    /// and `ĝ = g w`, `rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂))`.
    fn row_input_grad<E: Element>(x: &[E], g: &[E], w: Option<&[E]>, stats: (E, E), dx: &mut [E]) {
        let (m, s) = stats;
        let d = x.len() as f64;
        // x̂ goes in `dx` until the last loop overwrites it.
        dx.iter_mut().zip(x).for_each(|(o, &v)| *o = (v - m) * s);
        let (sum_g, sum_gx) = match w {
            Some(w) => (
                fold8([g, w], 0.0, |[g, w]| (g * w).f64(), |a, b| a + b),
                fold8([g, w, &*dx], 0.0, |[g, w, x]| (g * w * x).f64(), |a, b| a + b),
            ),
            None => (
                fold8([g], 0.0, |[g]| g.f64(), |a, b| a + b),
                fold8([g, &*dx], 0.0, |[g, x]| (g * x).f64(), |a, b| a + b),
            ),
        };
        let (mean_g, mean_gx) = (E::of(sum_g / d), E::of(sum_gx / d));
        let out = |o: &mut E, ghat: E| *o = s * (ghat - mean_g - *o * mean_gx);
        match w {
            Some(w) => dx.iter_mut().zip(g).zip(w).for_each(|((o, &g), &w)| out(o, g * w)),
            None => dx.iter_mut().zip(g).for_each(|(o, &g)| out(o, g)),
        }
    }
}

vectorized! {
    /// Adds the rows of `d` values of `x`, with their output gradients `g`,
    /// to the weight's gradient `dw` (`g x̂`) and the bias's `db` (`g`),
    /// those that are wanted; `stats` are the rows' means and rstds.
    fn add_param_grads<E: Element>(
        x: &[E],
        g: &[E],
        d: usize,
        stats: (&[E], &[E]),
        dw: Option<&mut [E]>,
        db: Option<&mut [E]>,
    ) {
        // (An empty normalized shape has no rows to add.)
        let rows = x.chunks_exact(d.max(1)).zip(g.chunks_exact(d.max(1))).zip(stats.0.iter().zip(stats.1));
        if let Some(dw) = dw {
            for ((x, g), (&m, &s)) in rows.clone() {
                dw.iter_mut().zip(g).zip(x).for_each(|((o, &g), &v)| *o = *o + g * ((v - m) * s));
            }
        }
        if let Some(db) = db {
            for ((_, g), _) in rows {
                db.iter_mut().zip(g).for_each(|(o, &g)| *o = *o + g);
            }
        }
    }
}

/// The gradients of [`Tensor::layer_norm`] from differentiable ops.
fn layer_norm_grads_composed<E: Element>(
    x: &Tensor<E>,
    weight: Option<&Tensor<E>>,
    g: &Tensor<E>,
    dims: &[isize],
    eps: f64,
) -> (Tensor<E>, Option<Tensor<E>>, Option<Tensor<E>>) {
    let centred = x - &x.mean_dims(dims, true);
    let rstd = centred.square().mean_dims(dims, true).add_scalar(E::of(eps)).pow_scalar(E::of(-0.5));
    let xhat = &centred * &rstd;
    let ghat = match weight {
        Some(w) => g * w,
        None => g.clone(),
    };
    let dx = rstd * (&ghat - &ghat.mean_dims(dims, true) - &xhat * &(&ghat * &xhat).mean_dims(dims, true));
    let norm_shape = &x.shape()[x.ndim() - dims.len()..];
    (dx, Some((g * &xhat).sum_to(norm_shape)), Some(g.sum_to(norm_shape)))
}
