//! Pooling: max, average and adaptive pooling in 1-d and 2-d.
//!
//! Every pool is described by its windows: for each output position along
//! each axis, the input positions it covers. Max pooling gathers the arg-max
//! of each window, and its gradient scatters back to it; average pooling is
//! linear, and its gradient spreads each output's gradient evenly over its
//! window. Each backward is a recorded primitive whose own backward is the
//! forward, so second derivatives work. 1-d pools run as 2-d pools of height 1.

use super::nn::{for_each_block, with_contiguous};
use crate::profile::{scope, Family};
use crate::simd::vectorized;
use crate::tensor::at;
use crate::threads::{for_each_task, PAR_MIN, ROW_TASK_MIN};
use crate::{Element, IndexTensor, Tensor};
use smallvec::smallvec;
use std::panic::Location;
use std::sync::Arc;

/// Marks an arg-max of an empty window (it has no input element), as
/// PyTorch's indices do.
const NONE: i64 = -1;

/// One output's window along one axis: the input positions
/// `start + k * step` for `k < len`, and the count an average divides by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Win {
    start: usize,
    step: usize,
    len: usize,
    div: usize,
}

/// The windows of a 2-d pool over planes of `big` positions.
#[derive(Debug)]
struct PoolGeom {
    name: &'static str,
    big: [usize; 2],
    wins: [Vec<Win>; 2],
    divisor_override: Option<usize>,
}

impl PoolGeom {
    fn small(&self) -> [usize; 2] {
        [self.wins[0].len(), self.wins[1].len()]
    }

    /// Calls `f` with the flat plane index of each element of window
    /// `(oy, ox)`, in row-major order.
    #[inline]
    fn each(&self, oy: usize, ox: usize, mut f: impl FnMut(usize)) {
        let (wy, wx, w) = (self.wins[0][oy], self.wins[1][ox], self.big[1]);
        let mut row = wy.start * w + wx.start;
        for _ in 0..wy.len {
            let mut i = row;
            for _ in 0..wx.len {
                f(i);
                i += wx.step;
            }
            row += wy.step * w;
        }
    }

    /// The output positions `(oy, ox)` of a plane, in row-major order.
    fn positions(&self) -> impl Iterator<Item = (usize, usize)> {
        let [oh, ow] = self.small();
        (0..oh).flat_map(move |oy| (0..ow).map(move |ox| (oy, ox)))
    }

    fn divisor(&self, oy: usize, ox: usize) -> usize {
        self.divisor_override.unwrap_or(self.wins[0][oy].div * self.wins[1][ox].div)
    }
}

/// PyTorch's pooled size: windows of span `d(k-1)+1` at stride `s` over
/// `size` padded by `pad`; `ceil_mode` keeps a last partial window when it
/// starts inside the input or its left padding.
fn pooled_size(size: usize, k: usize, pad: usize, s: usize, d: usize, ceil_mode: bool) -> Option<usize> {
    let span = (d * (k - 1) + 1) as isize;
    let extra = if ceil_mode { s as isize - 1 } else { 0 };
    let mut out = (size as isize + 2 * pad as isize - span + extra).div_euclid(s as isize) + 1;
    if ceil_mode && (out - 1) * s as isize >= (size + pad) as isize {
        out -= 1;
    }
    (out >= 1).then_some(out as usize)
}

/// Max-pool windows: taps `o*s - pad + t*d`, keeping those inside `0..size`.
fn max_windows(size: usize, out: usize, k: usize, pad: usize, s: usize, d: usize) -> Vec<Win> {
    (0..out)
        .map(|o| {
            let start = (o * s) as isize - pad as isize;
            let first = if start < 0 { ((-start) as usize).div_ceil(d) } else { 0 };
            let len = (first..k).take_while(|&t| start + ((t * d) as isize) < size as isize).count();
            Win { start: (start + (first * d) as isize).max(0) as usize, step: d, len, div: len }
        })
        .collect()
}

/// Average-pool windows, clipped to the input; the divisor counts padding
/// (up to `size + pad`) when `count_include_pad`, as PyTorch does.
fn avg_windows(size: usize, out: usize, k: usize, pad: usize, s: usize, count_include_pad: bool) -> Vec<Win> {
    (0..out)
        .map(|o| {
            let start = (o * s) as isize - pad as isize;
            let end = (start + k as isize).min((size + pad) as isize);
            let (lo, hi) = (start.max(0), end.min(size as isize));
            let len = (hi - lo).max(0) as usize;
            let div = if count_include_pad { (end - start) as usize } else { len };
            Win { start: lo as usize, step: 1, len, div }
        })
        .collect()
}

/// Adaptive windows: output `i` covers `floor(i * size / out)..ceil((i + 1) * size / out)`.
fn adaptive_windows(size: usize, out: usize) -> Vec<Win> {
    (0..out)
        .map(|i| {
            let (start, end) = (i * size / out, ((i + 1) * size).div_ceil(out));
            Win { start, step: 1, len: end - start, div: end - start }
        })
        .collect()
}

/// The arg-max (flat plane index) of every window of every plane of `x`, and
/// the maximum itself (-inf for an empty window). Like PyTorch, a NaN wins
/// and ties keep the first maximum.
fn max_pool_raw<E: Element>(x: &Tensor<E>, geo: &PoolGeom) -> (Vec<i64>, Vec<E>) {
    let _profile = scope(Family::Conv);
    let (p, [oh, ow]) = (geo.big[0] * geo.big[1], geo.small());
    let q = oh * ow;
    let outputs = x.numel() / p.max(1) * q;
    // Every maximum is written by `argmax_plane` (-inf first).
    let (mut idx, mut max) = (vec![NONE; outputs], crate::buffers::reused(outputs));
    if p == 0 || q == 0 {
        return (idx, max);
    }
    assert!(p < EMPTY as usize, "{}: planes of {p} elements are too large", geo.name);
    // Every plane has the same windows: for each tap, in row-major window
    // order, the plane index it reads for each output (`EMPTY` past a window).
    let taps = |a: usize| geo.wins[a].iter().map(|w| w.len).max().unwrap_or(0);
    let mut tap_indices = Vec::new();
    for (ky, kx) in (0..taps(0)).flat_map(|ky| (0..taps(1)).map(move |kx| (ky, kx))) {
        tap_indices.extend(geo.positions().map(|(oy, ox)| {
            let (wy, wx) = (geo.wins[0][oy], geo.wins[1][ox]);
            match ky < wy.len && kx < wx.len {
                true => ((wy.start + ky * wy.step) * geo.big[1] + wx.start + kx * wx.step) as u32,
                false => EMPTY,
            }
        }));
    }
    let grid = Grid::of(geo);
    // Planes are independent: whole ones a task, at least ROW_TASK_MIN outputs.
    let planes = ROW_TASK_MIN.div_ceil(q) * q;
    let tasks: Vec<_> = idx.chunks_mut(planes).zip(max.chunks_mut(planes)).enumerate().collect();
    with_contiguous(x, |xd| {
        let task = |(t, (idx, max)): (usize, (&mut [i64], &mut [E]))| {
            let mut scratch = Scratch { arg: vec![EMPTY; q], value: vec![E::zero(); q] };
            for (b, (out, max)) in idx.chunks_mut(q).zip(max.chunks_mut(q)).enumerate() {
                let b = t * planes / q + b;
                argmax_plane(&xd[b * p..(b + 1) * p], &tap_indices, grid, out, max, &mut scratch);
            }
        };
        match xd.len() >= PAR_MIN {
            true => for_each_task(tasks, task),
            false => tasks.into_iter().for_each(task),
        }
    });
    (idx, max)
}

/// Windows that are all whole and evenly spaced (no padding reached, no
/// partial window): output `(oy, ox)`'s tap `(ky, kx)` reads plane position
/// `(oy s0 + ky d0, ox s1 + kx d1)`, so a tap's values are strided runs of
/// the plane's rows rather than a gather.
#[derive(Clone, Copy)]
struct Grid {
    width: usize,
    out: [usize; 2],
    taps_x: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
}

impl Grid {
    /// The grid of `geo`'s windows, if they form one.
    fn of(geo: &PoolGeom) -> Option<Grid> {
        let axis = |a: usize| {
            let w = geo.wins[a].first()?;
            // (Clipped by padding, a later window can start before an earlier one.)
            let step = geo.wins[a].get(1).map_or(Some(1), |v| v.start.checked_sub(w.start))?;
            let regular = geo.wins[a].iter().enumerate().all(|(o, v)| v.start == o * step && v.len == w.len);
            (regular && w.len > 0 && step > 0).then_some((step, w.step, w.len))
        };
        let ((s0, d0, _), (s1, d1, k1)) = (axis(0)?, axis(1)?);
        Some(Grid { width: geo.big[1], out: geo.small(), taps_x: k1, stride: [s0, s1], dilation: [d0, d1] })
    }

    /// Tap `t`'s value for every output of `plane`, into `values`.
    #[inline(always)]
    fn gather<E: Copy>(self, plane: &[E], t: usize, values: &mut [E]) {
        let (ky, kx, s1) = (t / self.taps_x, t % self.taps_x, self.stride[1]);
        for (oy, row) in values.chunks_exact_mut(self.out[1]).enumerate() {
            let start = (oy * self.stride[0] + ky * self.dilation[0]) * self.width + kx * self.dilation[1];
            let src = &plane[start..start + (self.out[1] - 1) * s1 + 1];
            row.iter_mut().zip(src.iter().step_by(s1)).for_each(|(v, &x)| *v = x);
        }
    }
}

vectorized! {
    /// The arg-max of each window of `plane`: `out[o]` is the plane index of
    /// output `o`'s maximum (`NONE` for an empty window) and `max[o]` the
    /// maximum (-inf for an empty window), from
    /// `tap_indices`, one block of outputs' plane indices per tap in window
    /// order. Each tap's values are first gathered side by side (read as
    /// strided runs of rows where the windows form a `grid`), so that the
    /// comparisons, selects rather than branches, run many outputs at a time.
    fn argmax_plane<E: Element>(
        plane: &[E],
        tap_indices: &[u32],
        grid: Option<Grid>,
        out: &mut [i64],
        best: &mut [E],
        scratch: &mut Scratch<E>,
    ) {
        let Scratch { arg, value } = scratch;
        best.fill(E::neg_infinity());
        arg.fill(EMPTY);
        let last = plane.len() - 1;
        for (t, tap) in tap_indices.chunks_exact(out.len()).enumerate() {
            match grid {
                Some(grid) => grid.gather(plane, t, value),
                // A tap past its window reads (and ignores) the plane's start.
                None => value.iter_mut().zip(tap).for_each(|(v, &i)| {
                    *v = plane[(if i == EMPTY { 0 } else { i as usize }).min(last)];
                }),
            }
            for (((a, max), &v), &i) in arg.iter_mut().zip(best.iter_mut()).zip(&*value).zip(tap) {
                // `&` and `|`, not `&&` and `||`: no branch to take.
                let take = (i != EMPTY) & ((*a == EMPTY) | (v > *max) | v.is_nan());
                *a = if take { i } else { *a };
                *max = if take { v } else { *max };
            }
        }
        for (o, &a) in out.iter_mut().zip(&*arg) {
            *o = if a == EMPTY { NONE } else { a as i64 };
        }
    }
}

/// [`NONE`] among the `u32` plane indices of [`argmax_plane`].
const EMPTY: u32 = u32::MAX;

/// Per-output scratch of [`argmax_plane`]: the best value's plane index so
/// far, and one tap's values.
struct Scratch<E> {
    arg: Vec<u32>,
    value: Vec<E>,
}

/// Leading dims of `x` (everything before the last two) followed by `tail`.
fn with_tail(x: &[usize], tail: [usize; 2]) -> Vec<usize> {
    let mut s = x[..x.len() - 2].to_vec();
    s.extend(tail);
    s
}

impl<E: Element> Tensor<E> {
    /// Element `idx[b, o]` of each plane `b` of `self` (`[..., H, W]`), shaped
    /// `out_shape`; `fill` where a window was empty. The adjoint is
    /// [`pool_put`](Self::pool_put).
    #[track_caller]
    fn pool_take(&self, idx: Arc<Vec<i64>>, out_shape: Vec<usize>, fill: E) -> Tensor<E> {
        let _profile = scope(Family::Conv);
        let q = out_shape[out_shape.len() - 2..].iter().product::<usize>();
        let p = self.shape()[self.ndim() - 2..].iter().product::<usize>();
        let mut out = crate::buffers::filled(idx.len(), fill);
        with_contiguous(self, |xd| {
            for (b, (outs, ids)) in out.chunks_mut(q.max(1)).zip(idx.chunks(q.max(1))).enumerate() {
                let plane = &xd[b * p..];
                for (v, &i) in outs.iter_mut().zip(ids) {
                    if i != NONE {
                        *v = plane[i as usize];
                    }
                }
            }
        });
        self.record_take(Tensor::from_vec(out, &out_shape), idx)
    }

    /// `values`, the elements of `self` at `idx` (as [`pool_take`](Self::pool_take)
    /// gives them), recorded as that op.
    #[track_caller]
    fn record_take(&self, values: Tensor<E>, idx: Arc<Vec<i64>>) -> Tensor<E> {
        let in_shape: Vec<usize> = self.shape().into();
        values.record("max_pool2d", &[self], move |_, g| smallvec![Some(g.pool_put(idx.clone(), in_shape.clone()))])
    }

    /// Zeros of `in_shape` with element `o` of each plane of `self` added at
    /// `idx[b, o]`: the gradient of a max pool.
    #[track_caller]
    fn pool_put(&self, idx: Arc<Vec<i64>>, in_shape: Vec<usize>) -> Tensor<E> {
        let _profile = scope(Family::Conv);
        let q = self.shape()[self.ndim() - 2..].iter().product::<usize>();
        let p = in_shape[in_shape.len() - 2..].iter().product::<usize>();
        let out_shape: Vec<usize> = self.shape().into();
        let mut out = crate::buffers::zeroed(in_shape.iter().product());
        with_contiguous(self, |gd| {
            for (b, (gs, ids)) in gd.chunks(q.max(1)).zip(idx.chunks(q.max(1))).enumerate() {
                let plane = &mut out[b * p..];
                for (&v, &i) in gs.iter().zip(ids) {
                    if i != NONE {
                        plane[i as usize] = plane[i as usize] + v;
                    }
                }
            }
        });
        Tensor::from_vec(out, &in_shape).record("max_pool2d_backward", &[self], move |_, g| {
            smallvec![Some(g.pool_take(idx.clone(), out_shape.clone(), E::zero()))]
        })
    }

    /// The window averages of every plane of `self` (`[..., H, W]`).
    #[track_caller]
    fn avg_pool_prim(&self, geo: Arc<PoolGeom>) -> Tensor<E> {
        let _profile = scope(Family::Conv);
        let (p, small) = (geo.big[0] * geo.big[1], geo.small());
        let q = small[0] * small[1];
        let mut out = crate::buffers::zeroed(self.numel() / p.max(1) * q);
        with_contiguous(self, |xd| {
            for_each_block(&mut out, q, xd.len() >= PAR_MIN, |b, dst| {
                let plane = &xd[b * p..(b + 1) * p];
                for (v, (oy, ox)) in dst.iter_mut().zip(geo.positions()) {
                    let mut sum = E::zero();
                    geo.each(oy, ox, |i| sum = sum + plane[i]);
                    *v = sum / E::of(geo.divisor(oy, ox) as f64);
                }
            });
        });
        let out = Tensor::from_vec(out, &with_tail(self.shape(), small));
        out.record(geo.name, &[self], move |_, g| smallvec![Some(g.avg_pool_adjoint(geo.clone()))])
    }

    /// Each element of `self` (`[..., OH, OW]`) divided by its window's
    /// divisor and added over that window: the gradient of an average pool.
    #[track_caller]
    fn avg_pool_adjoint(&self, geo: Arc<PoolGeom>) -> Tensor<E> {
        let _profile = scope(Family::Conv);
        let (p, small) = (geo.big[0] * geo.big[1], geo.small());
        let q = small[0] * small[1];
        let mut out = crate::buffers::zeroed(self.numel() / q.max(1) * p);
        with_contiguous(self, |gd| {
            for_each_block(&mut out, p, gd.len() >= PAR_MIN, |b, dst| {
                for (&v, (oy, ox)) in gd[b * q..(b + 1) * q].iter().zip(geo.positions()) {
                    let share = v / E::of(geo.divisor(oy, ox) as f64);
                    geo.each(oy, ox, |i| dst[i] = dst[i] + share);
                }
            });
        });
        let out = Tensor::from_vec(out, &with_tail(self.shape(), geo.big));
        out.record("avg_pool2d_backward", &[self], move |_, g| smallvec![Some(g.avg_pool_prim(geo.clone()))])
    }

    /// Checks a pool's input and returns it as `[..., H, W]` (1-d: height 1).
    #[track_caller]
    fn pool_input(&self, op: &str, spatial: usize, kernel: &[usize]) -> Tensor<E> {
        if self.ndim() != spatial + 1 && self.ndim() != spatial + 2 {
            panic!(
                "{op}: expected a {}-d or {}-d input (shape {:?}, kernel {kernel:?}) at {}",
                spatial + 1,
                spatial + 2,
                self.shape(),
                at(Location::caller())
            );
        }
        if spatial == 1 {
            self.unsqueeze(-2)
        } else {
            self.clone()
        }
    }

    /// Max pooling of `[..., H, W]` with the arg-max indices, lowered back to
    /// `spatial` dims.
    #[track_caller]
    fn max_pool_windows(&self, geo: PoolGeom, spatial: usize) -> (Tensor<E>, IndexTensor) {
        let (idx, max) = max_pool_raw(self, &geo);
        let idx = Arc::new(idx);
        // The maxima are the values at the arg-maxes, -inf where a window is empty.
        let mut out = self.record_take(Tensor::from_vec(max, &with_tail(self.shape(), geo.small())), idx.clone());
        if spatial == 1 {
            out = out.squeeze(-2);
        }
        // The backward's indices, shared: PyTorch's, -1 marking an empty window.
        let ids = IndexTensor { shape: out.shape().into(), data: idx };
        (out, ids)
    }

    #[track_caller]
    fn max_pool_checked(
        &self,
        op: &str,
        spatial: usize,
        k: [usize; 2],
        s: [usize; 2],
        p: [usize; 2],
        d: [usize; 2],
        ceil_mode: bool,
    ) -> (Tensor<E>, IndexTensor) {
        let x = self.pool_input(op, spatial, &k[2 - spatial..]);
        let big = [x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]];
        let mut wins: [Vec<Win>; 2] = Default::default();
        for a in 0..2 {
            if k[a] == 0 || s[a] == 0 || d[a] == 0 {
                panic!(
                    "{op}: kernel_size, stride and dilation must be positive (shape {:?}, kernel {:?}) at {}",
                    self.shape(),
                    &k[2 - spatial..],
                    at(Location::caller())
                );
            }
            let span = d[a] * (k[a] - 1) + 1;
            if p[a] > span / 2 {
                panic!("{op}: padding should be at most half of the effective kernel size (shape {:?}, kernel {:?}, padding {:?}) at {}", self.shape(), &k[2 - spatial..], &p[2 - spatial..], at(Location::caller()));
            }
            let Some(out) = pooled_size(big[a], k[a], p[a], s[a], d[a], ceil_mode) else {
                panic!(
                    "{op}: input of shape {:?} is too small for kernel {:?} at {}",
                    self.shape(),
                    &k[2 - spatial..],
                    at(Location::caller())
                );
            };
            wins[a] = max_windows(big[a], out, k[a], p[a], s[a], d[a]);
        }
        x.max_pool_windows(PoolGeom { name: "max_pool2d", big, wins, divisor_override: None }, spatial)
    }

    #[track_caller]
    fn avg_pool_checked(
        &self,
        op: &'static str,
        spatial: usize,
        k: [usize; 2],
        s: [usize; 2],
        p: [usize; 2],
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: Option<usize>,
    ) -> Tensor<E> {
        let x = self.pool_input(op, spatial, &k[2 - spatial..]);
        let big = [x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]];
        let mut wins: [Vec<Win>; 2] = Default::default();
        if divisor_override == Some(0) {
            panic!("{op}: divisor_override must be positive (shape {:?}) at {}", self.shape(), at(Location::caller()));
        }
        for a in 0..2 {
            if k[a] == 0 || s[a] == 0 {
                panic!(
                    "{op}: kernel_size and stride must be positive (shape {:?}, kernel {:?}) at {}",
                    self.shape(),
                    &k[2 - spatial..],
                    at(Location::caller())
                );
            }
            if p[a] > k[a] / 2 {
                panic!("{op}: padding should be at most half of the kernel size (shape {:?}, kernel {:?}, padding {:?}) at {}", self.shape(), &k[2 - spatial..], &p[2 - spatial..], at(Location::caller()));
            }
            let Some(out) = pooled_size(big[a], k[a], p[a], s[a], 1, ceil_mode) else {
                panic!(
                    "{op}: input of shape {:?} is too small for kernel {:?} at {}",
                    self.shape(),
                    &k[2 - spatial..],
                    at(Location::caller())
                );
            };
            wins[a] = avg_windows(big[a], out, k[a], p[a], s[a], count_include_pad);
        }
        let out = x.avg_pool_prim(Arc::new(PoolGeom { name: op, big, wins, divisor_override }));
        if spatial == 1 {
            out.squeeze(-2)
        } else {
            out
        }
    }

    #[track_caller]
    fn adaptive_geom(&self, op: &'static str, spatial: usize, out: [usize; 2]) -> (Tensor<E>, PoolGeom) {
        let x = self.pool_input(op, spatial, &out[2 - spatial..]);
        let big = [x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]];
        if out.contains(&0) || big.contains(&0) {
            panic!(
                "{op}: input of shape {:?} and output size {:?} must be non-empty at {}",
                self.shape(),
                &out[2 - spatial..],
                at(Location::caller())
            );
        }
        let wins = [adaptive_windows(big[0], out[0]), adaptive_windows(big[1], out[1])];
        (x, PoolGeom { name: op, big, wins, divisor_override: None })
    }

    /// 2-d max pooling (`F.max_pool2d`) of `[N, C, H, W]` (or `[C, H, W]`).
    /// d/dx routes each output's gradient to its window's arg-max.
    ///
    /// ```
    /// use lamina_core::{MaxPool2dOptions, Tensor};
    /// let x = Tensor::<f64>::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]);
    /// let y = x.max_pool2d(&MaxPool2dOptions::new([2, 2]));
    /// assert_eq!(y.to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
    /// ```
    #[track_caller]
    pub fn max_pool2d(&self, opts: &MaxPool2dOptions) -> Tensor<E> {
        self.max_pool2d_with_indices(opts).0
    }

    /// [`max_pool2d`](Self::max_pool2d) and the arg-max of each window as a
    /// flat index into its input plane (`h * W + w`), as PyTorch returns them.
    /// A window that covers no input element (possible only when the dilated
    /// kernel straddles a tiny input) gives `-inf` and index -1.
    #[track_caller]
    pub fn max_pool2d_with_indices(&self, opts: &MaxPool2dOptions) -> (Tensor<E>, IndexTensor) {
        let s = opts.stride.unwrap_or(opts.kernel_size);
        self.max_pool_checked("max_pool2d", 2, opts.kernel_size, s, opts.padding, opts.dilation, opts.ceil_mode)
    }

    /// 1-d max pooling (`F.max_pool1d`) of `[N, C, L]` (or `[C, L]`).
    #[track_caller]
    pub fn max_pool1d(&self, opts: &MaxPool1dOptions) -> Tensor<E> {
        self.max_pool1d_with_indices(opts).0
    }

    /// [`max_pool1d`](Self::max_pool1d) and the arg-max index of each window.
    #[track_caller]
    pub fn max_pool1d_with_indices(&self, opts: &MaxPool1dOptions) -> (Tensor<E>, IndexTensor) {
        let s = opts.stride.unwrap_or(opts.kernel_size);
        let o = opts;
        self.max_pool_checked("max_pool1d", 1, [1, o.kernel_size], [1, s], [0, o.padding], [1, o.dilation], o.ceil_mode)
    }

    /// 2-d average pooling (`F.avg_pool2d`) of `[N, C, H, W]` (or `[C, H, W]`).
    /// Each window is clipped to the input; its sum is divided by
    /// `divisor_override`, else by the window's size counting padding
    /// (`count_include_pad`) or not.
    ///
    /// ```
    /// use lamina_core::{AvgPool2dOptions, Tensor};
    /// let x = Tensor::<f64>::ones(&[1, 1, 2, 2]);
    /// let opts = AvgPool2dOptions { padding: [1, 1], ..AvgPool2dOptions::new([2, 2]) };
    /// assert_eq!(x.avg_pool2d(&opts).to_vec(), vec![0.25; 4]);
    /// let opts = AvgPool2dOptions { count_include_pad: false, ..opts };
    /// assert_eq!(x.avg_pool2d(&opts).to_vec(), vec![1.0; 4]);
    /// ```
    #[track_caller]
    pub fn avg_pool2d(&self, opts: &AvgPool2dOptions) -> Tensor<E> {
        let o = opts;
        let s = o.stride.unwrap_or(o.kernel_size);
        self.avg_pool_checked(
            "avg_pool2d",
            2,
            o.kernel_size,
            s,
            o.padding,
            o.ceil_mode,
            o.count_include_pad,
            o.divisor_override,
        )
    }

    /// 1-d average pooling (`F.avg_pool1d`) of `[N, C, L]` (or `[C, L]`).
    #[track_caller]
    pub fn avg_pool1d(&self, opts: &AvgPool1dOptions) -> Tensor<E> {
        let o = opts;
        let s = o.stride.unwrap_or(o.kernel_size);
        self.avg_pool_checked(
            "avg_pool1d",
            1,
            [1, o.kernel_size],
            [1, s],
            [0, o.padding],
            o.ceil_mode,
            o.count_include_pad,
            None,
        )
    }

    /// Adaptive 2-d average pooling (`F.adaptive_avg_pool2d`) to `output_size`:
    /// output `i` averages inputs `floor(i * in / out)..ceil((i + 1) * in / out)`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::arange(0.0, 5.0, 1.0).reshape(&[1, 1, 5]);
    /// // Windows [0, 2), [1, 4), [3, 5).
    /// assert_eq!(x.adaptive_avg_pool1d(3).to_vec(), vec![0.5, 2.0, 3.5]);
    /// ```
    #[track_caller]
    pub fn adaptive_avg_pool2d(&self, output_size: [usize; 2]) -> Tensor<E> {
        let (x, geo) = self.adaptive_geom("adaptive_avg_pool2d", 2, output_size);
        x.avg_pool_prim(Arc::new(geo))
    }

    /// Adaptive 1-d average pooling (`F.adaptive_avg_pool1d`) of `[N, C, L]` (or `[C, L]`).
    #[track_caller]
    pub fn adaptive_avg_pool1d(&self, output_size: usize) -> Tensor<E> {
        let (x, geo) = self.adaptive_geom("adaptive_avg_pool1d", 1, [1, output_size]);
        x.avg_pool_prim(Arc::new(geo)).squeeze(-2)
    }

    /// Adaptive 2-d max pooling (`F.adaptive_max_pool2d`) to `output_size`,
    /// with the windows of [`adaptive_avg_pool2d`](Self::adaptive_avg_pool2d).
    #[track_caller]
    pub fn adaptive_max_pool2d(&self, output_size: [usize; 2]) -> Tensor<E> {
        self.adaptive_max_pool2d_with_indices(output_size).0
    }

    /// [`adaptive_max_pool2d`](Self::adaptive_max_pool2d) and the flat arg-max
    /// index of each window in its input plane.
    #[track_caller]
    pub fn adaptive_max_pool2d_with_indices(&self, output_size: [usize; 2]) -> (Tensor<E>, IndexTensor) {
        let (x, geo) = self.adaptive_geom("adaptive_max_pool2d", 2, output_size);
        x.max_pool_windows(geo, 2)
    }

    /// Adaptive 1-d max pooling (`F.adaptive_max_pool1d`) of `[N, C, L]` (or `[C, L]`).
    #[track_caller]
    pub fn adaptive_max_pool1d(&self, output_size: usize) -> Tensor<E> {
        self.adaptive_max_pool1d_with_indices(output_size).0
    }

    /// [`adaptive_max_pool1d`](Self::adaptive_max_pool1d) and the arg-max index of each window.
    #[track_caller]
    pub fn adaptive_max_pool1d_with_indices(&self, output_size: usize) -> (Tensor<E>, IndexTensor) {
        let (x, geo) = self.adaptive_geom("adaptive_max_pool1d", 1, [1, output_size]);
        x.max_pool_windows(geo, 1)
    }
}

/// Options of [`Tensor::max_pool2d`], with PyTorch's names and defaults; pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2dOptions {
    /// Window size.
    pub kernel_size: [usize; 2],
    /// Step between windows (default `None`: the kernel size).
    pub stride: Option<[usize; 2]>,
    /// Implicit `-inf` padding on both sides, at most half the effective kernel (default `[0, 0]`).
    pub padding: [usize; 2],
    /// Spacing between window taps (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Keep a last partial window (default false).
    pub ceil_mode: bool,
}

impl MaxPool2dOptions {
    /// Windows of `kernel_size` with the other options at their defaults.
    pub fn new(kernel_size: [usize; 2]) -> Self {
        MaxPool2dOptions { kernel_size, stride: None, padding: [0, 0], dilation: [1, 1], ceil_mode: false }
    }
}

/// Options of [`Tensor::max_pool1d`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool1dOptions {
    /// Window length.
    pub kernel_size: usize,
    /// Step between windows (default `None`: the kernel size).
    pub stride: Option<usize>,
    /// Implicit `-inf` padding at both ends, at most half the effective kernel (default 0).
    pub padding: usize,
    /// Spacing between window taps (default 1).
    pub dilation: usize,
    /// Keep a last partial window (default false).
    pub ceil_mode: bool,
}

impl MaxPool1dOptions {
    /// Windows of `kernel_size` with the other options at their defaults.
    pub fn new(kernel_size: usize) -> Self {
        MaxPool1dOptions { kernel_size, stride: None, padding: 0, dilation: 1, ceil_mode: false }
    }
}

/// Options of [`Tensor::avg_pool2d`], with PyTorch's names and defaults; pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2dOptions {
    /// Window size.
    pub kernel_size: [usize; 2],
    /// Step between windows (default `None`: the kernel size).
    pub stride: Option<[usize; 2]>,
    /// Zero padding on both sides, at most half the kernel (default `[0, 0]`).
    pub padding: [usize; 2],
    /// Keep a last partial window (default false).
    pub ceil_mode: bool,
    /// Count padded positions in the divisor (default true).
    pub count_include_pad: bool,
    /// Divide every window sum by this instead (default `None`).
    pub divisor_override: Option<usize>,
}

impl AvgPool2dOptions {
    /// Windows of `kernel_size` with the other options at their defaults.
    pub fn new(kernel_size: [usize; 2]) -> Self {
        AvgPool2dOptions {
            kernel_size,
            stride: None,
            padding: [0, 0],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
}

/// Options of [`Tensor::avg_pool1d`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool1dOptions {
    /// Window length.
    pub kernel_size: usize,
    /// Step between windows (default `None`: the kernel size).
    pub stride: Option<usize>,
    /// Zero padding at both ends, at most half the kernel (default 0).
    pub padding: usize,
    /// Keep a last partial window (default false).
    pub ceil_mode: bool,
    /// Count padded positions in the divisor (default true).
    pub count_include_pad: bool,
}

impl AvgPool1dOptions {
    /// Windows of `kernel_size` with the other options at their defaults.
    pub fn new(kernel_size: usize) -> Self {
        AvgPool1dOptions { kernel_size, stride: None, padding: 0, ceil_mode: false, count_include_pad: true }
    }
}
