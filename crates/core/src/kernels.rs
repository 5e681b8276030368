//! Raw, unrecorded kernels over strided data: element-wise maps, broadcast
//! zips and axis reductions. Ops call these for their forward values and then
//! record a backward rule.

use crate::layout::{broadcast_shapes, walk, walk_runs, Layout};
use crate::profile::{scope, Family};
use crate::simd::vectorized;
use crate::tensor::at;
use crate::threads::{fill_chunks, for_each_chunk, map_tasks, num_threads, CHUNK, PAR_MIN};
use crate::{Element, Tensor};
use std::panic::Location;

/// `f` applied to every element; the result is contiguous.
pub(crate) fn map<E: Element>(t: &Tensor<E>, f: impl Fn(E) -> E + Sync) -> Tensor<E> {
    let _profile = scope(Family::Elementwise);
    let n = t.numel();
    let out = t.with_data(|data, layout| {
        if let Some(r) = layout.contiguous_range() {
            let src = &data[r];
            let mut out = crate::buffers::reused(n);
            if n < PAR_MIN {
                map_into(src, &mut out, &f);
            } else {
                fill_chunks(&mut out, |start, chunk| map_into(&src[start..], chunk, &f));
            }
            out
        } else {
            let mut out = crate::buffers::reused(n);
            fill_chunks(&mut out, |start, chunk| {
                let mut done = 0;
                let range = start..start + chunk.len();
                walk_runs(layout.shape(), [layout.strides()], [layout.offset()], range, |[o], [step], len| {
                    let dst = &mut chunk[done..done + len];
                    if step == 1 {
                        map_into(&data[o..o + len], dst, &f);
                    } else {
                        dst.iter_mut().enumerate().for_each(|(r, d)| *d = f(data[o + r * step]));
                    }
                    done += len;
                });
            });
            out
        }
    });
    Tensor::from_vec(out, t.shape())
}

/// `f(a, b)` element-wise over the NumPy broadcast of the two shapes.
#[track_caller]
pub(crate) fn zip<E: Element>(op: &str, a: &Tensor<E>, b: &Tensor<E>, f: impl Fn(E, E) -> E + Sync) -> Tensor<E> {
    let Some(shape) = broadcast_shapes(a.shape(), b.shape()) else {
        panic!(
            "{op}: shapes {:?} and {:?} cannot be broadcast together at {}",
            a.shape(),
            b.shape(),
            at(Location::caller())
        );
    };
    let _profile = scope(Family::Elementwise);
    let n: usize = shape.iter().product();
    let out = a.with_data(|da, la| {
        b.with_data(|db, lb| {
            let mut out = crate::buffers::reused(n);
            match (la.contiguous_range(), lb.contiguous_range()) {
                (Some(ra), Some(rb)) if la.shape() == lb.shape() => {
                    let (sa, sb) = (&da[ra], &db[rb]);
                    if n < PAR_MIN {
                        zip_into(sa, sb, &mut out, &f);
                    } else {
                        fill_chunks(&mut out, |s, c| zip_into(&sa[s..], &sb[s..], c, &f));
                    }
                }
                (Some(ra), _) if lb.numel() == 1 && la.shape() == &shape[..] => {
                    let (sa, y) = (&da[ra], db[lb.offset()]);
                    fill_chunks(&mut out, |s, c| map_into(&sa[s..], c, &|x| f(x, y)));
                }
                _ => {
                    let la = la.broadcast_to(&shape).expect("broadcast checked");
                    let lb = lb.broadcast_to(&shape).expect("broadcast checked");
                    fill_chunks(&mut out, |s, c| {
                        let mut done = 0;
                        let (strides, at) = ([la.strides(), lb.strides()], [la.offset(), lb.offset()]);
                        walk_runs(&shape, strides, at, s..s + c.len(), |[i, j], steps, len| {
                            let dst = &mut c[done..done + len];
                            match steps {
                                [1, 1] => zip_into(&da[i..i + len], &db[j..j + len], dst, &f),
                                [1, 0] => map_into(&da[i..i + len], dst, &|x| f(x, db[j])),
                                [0, 1] => map_into(&db[j..j + len], dst, &|y| f(da[i], y)),
                                [si, sj] => {
                                    dst.iter_mut().enumerate().for_each(|(r, d)| *d = f(da[i + r * si], db[j + r * sj]))
                                }
                            }
                            done += len;
                        });
                    });
                }
            }
            out
        })
    });
    Tensor::from_vec(out, &shape)
}

vectorized! {
    /// `dst[i] = f(src[i])` over the shorter of the two: [`map`]'s loop,
    /// compiled as wide as the CPU runs it.
    fn map_into<E: Element, F: Fn(E) -> E>(src: &[E], dst: &mut [E], f: &F) {
        dst.iter_mut().zip(src).for_each(|(d, &x)| *d = f(x));
    }
}

vectorized! {
    /// `dst[i] = f(a[i], b[i])` over the shortest of the three: [`zip`]'s loop.
    fn zip_into<E: Element, F: Fn(E, E) -> E>(a: &[E], b: &[E], dst: &mut [E], f: &F) {
        dst.iter_mut().zip(a.iter().zip(b)).for_each(|(d, (&x, &y))| *d = f(x, y));
    }
}

/// The shape left when `dims` of `shape` are reduced: removed, or kept as 1
/// with `keepdim`.
pub(crate) fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let keep = |(d, &s): (usize, &usize)| if dims.contains(&d) { keepdim.then_some(1) } else { Some(s) };
    shape.iter().enumerate().filter_map(keep).collect()
}

/// Where a reduction reads its input: `src` holds `t`'s elements, its dim `p`
/// being one of `t`'s dims. It is `t` itself, a view of `t` in storage order
/// (when `t` is a transpose or permutation of contiguous data: read in place,
/// no copy), or a contiguous copy.
struct Source<E: Element> {
    src: Tensor<E>,
    /// `src`'s dim `p` is `t`'s dim `order[p]`.
    order: Vec<usize>,
    /// The reduced dims, as dims of `src` (sorted).
    dims: Vec<usize>,
    /// `t`'s kept dims in the order `src` has them: the order outputs come in.
    kept: Vec<usize>,
}

impl<E: Element> Source<E> {
    /// Plans reading `t` to reduce `dims`, visiting each output's reduced
    /// elements in `t`'s row-major order (so folds see the same sequence
    /// whatever the layout). When `copy`, a layout that cannot be read in
    /// place is copied; otherwise it is walked.
    fn new(t: &Tensor<E>, dims: &[usize], copy: bool) -> Self {
        let l = t.layout();
        let mut order: Vec<usize> = (0..t.ndim()).collect();
        order.sort_by_key(|&d| std::cmp::Reverse(l.strides()[d]));
        let in_place = l.permute(&order);
        let sdims: Vec<usize> = (0..order.len()).filter(|&p| dims.contains(&order[p])).collect();
        let keeps_order = sdims.windows(2).all(|w| order[w[0]] < order[w[1]]);
        if !l.is_contiguous() && in_place.is_contiguous() && keeps_order {
            let kept = order.iter().copied().filter(|d| !dims.contains(d)).collect();
            return Source { src: view(t, in_place), order, dims: sdims, kept };
        }
        let src = if copy && !l.is_contiguous() { map(t, |v| v) } else { t.clone() };
        let kept = (0..t.ndim()).filter(|d| !dims.contains(d)).collect();
        Source { src, order: (0..t.ndim()).collect(), dims: dims.to_vec(), kept }
    }

    /// `data`, laid out like `src` (contiguous), as a tensor with `t`'s dims:
    /// a view in `src`'s storage order.
    fn with_t_dims(&self, data: Vec<E>) -> Tensor<E> {
        let mut inverse = vec![0; self.order.len()];
        for (p, &d) in self.order.iter().enumerate() {
            inverse[d] = p;
        }
        let out = Tensor::from_vec(data, self.src.shape());
        let layout = out.layout().permute(&inverse);
        view(&out, layout)
    }

    /// The permutation of `src`'s dims that puts the kept dims first (in
    /// order) and the reduced dims last.
    fn kept_first(&self) -> Vec<usize> {
        let nd = self.src.ndim();
        (0..nd).filter(|p| !self.dims.contains(p)).chain(self.dims.iter().copied()).collect()
    }

    /// Outputs computed in `src`'s order of the kept dims, reordered to `t`'s
    /// row-major order (`shape` is `t`'s).
    fn reorder<R: Copy>(&self, shape: &[usize], vals: Vec<R>) -> Vec<R> {
        if self.kept.windows(2).all(|w| w[0] < w[1]) {
            return vals;
        }
        let sizes: Vec<usize> = self.kept.iter().map(|&d| shape[d]).collect();
        let mut sorted = self.kept.clone();
        sorted.sort_unstable();
        let perm: Vec<usize> =
            sorted.iter().map(|d| self.kept.iter().position(|k| k == d).expect("kept dim")).collect();
        let mut out = Vec::with_capacity(vals.len());
        Layout::contiguous(&sizes).permute(&perm).for_each_offset(|o| out.push(vals[o]));
        out
    }
}

/// When the reduced `dims` form one block of `shape` (kept dims of size 1 may
/// sit inside it), the sizes `[outer, reduced, inner]` of the contiguous
/// tensor seen as such a block.
fn block_sizes(shape: &[usize], dims: &[usize]) -> Option<[usize; 3]> {
    let (Some(&a), Some(&b)) = (dims.first(), dims.last()) else {
        return Some([1, 1, shape.iter().product()]);
    };
    if (a..=b).any(|d| !dims.contains(&d) && shape[d] != 1) {
        return None;
    }
    let n = dims.iter().map(|&d| shape[d]).product();
    Some([shape[..a].iter().product(), n, shape[b + 1..].iter().product()])
}

/// Columns per task when folding whole rows of an `[outer, reduced, inner]` block.
const TILE_COLUMNS: usize = 1024;
/// Columns per task of [`sum_columns`], at most: their eight running `f64`
/// sums fill 16 KiB, inside L1 (measured on a Zen 3 core against 1024
/// columns: a `[1024, 1024]` column sum 235 -> 196 us).
const SUM_TILE_COLUMNS: usize = 256;
/// Lanes gathered at a time by [`lanes`] when they are strided.
const LANE_TILE: usize = 16;
/// Slices of at most this many elements are summed as one pairwise tree.
const PAIRWISE_BASE: usize = 256;

/// `finish(fold(...), n)` for every output of contiguous `[outer, n, inner]`
/// data, outputs ordered `[outer, inner]`; with `inner > 1` whole rows are
/// folded into a tile of accumulators, so memory is read in order.
fn fold_blocks<E: Element, A: Copy + Send + Sync, R: Send>(
    x: &[E],
    [o, n, i]: [usize; 3],
    init: A,
    fold: &(impl Fn(A, E, usize) -> A + Sync),
    finish: &(impl Fn(A, usize) -> R + Sync),
) -> Vec<R> {
    let parallel = o * n * i >= PAR_MIN;
    if i == 1 {
        return map_tasks(o, parallel && o > 1, |k| {
            finish(x[k * n..(k + 1) * n].iter().enumerate().fold(init, |a, (r, &v)| fold(a, v, r)), n)
        });
    }
    let tiles = i.div_ceil(TILE_COLUMNS);
    let parts = map_tasks(o * tiles, parallel, |task| {
        let (k, j0) = (task / tiles, (task % tiles) * TILE_COLUMNS);
        let width = TILE_COLUMNS.min(i - j0);
        let mut acc = vec![init; width];
        for r in 0..n {
            for (a, &v) in acc.iter_mut().zip(&x[(k * n + r) * i + j0..][..width]) {
                *a = fold(*a, v, r);
            }
        }
        acc.into_iter().map(|a| finish(a, n)).collect::<Vec<R>>()
    });
    parts.into_iter().flatten().collect()
}

/// For every output element of reducing `dims` (sorted, distinct) of `t`, in
/// row-major order of the kept dims: `finish(fold over the reduced elements in
/// row-major order, count)`. `fold` also gets the element's position `k`
/// among the reduced elements (what `argmax` returns). Never copies `t`.
pub(crate) fn reduce_with<E: Element, A: Copy + Send + Sync, R: Copy + Send>(
    t: &Tensor<E>,
    dims: &[usize],
    init: A,
    fold: impl Fn(A, E, usize) -> A + Sync,
    finish: impl Fn(A, usize) -> R + Sync,
) -> Vec<R> {
    let _profile = scope(Family::Reduction);
    let s = Source::new(t, dims, false);
    let vals = s.src.with_data(|data, layout| {
        if let (Some(r), Some(sizes)) = (layout.contiguous_range(), block_sizes(layout.shape(), &s.dims)) {
            return fold_blocks(&data[r], sizes, init, &fold, &finish);
        }
        let l = layout.permute(&s.kept_first());
        let inner: usize = s.dims.iter().map(|&d| layout.shape()[d]).product();
        let outer: usize = s.kept.iter().map(|&d| t.shape()[d]).product();
        let one = |o: usize| {
            let mut acc = init;
            let mut k = 0;
            walk(l.shape(), [l.strides()], [l.offset()], o * inner..(o + 1) * inner, |[p]| {
                acc = fold(acc, data[p], k);
                k += 1;
            });
            finish(acc, inner)
        };
        map_tasks(outer, outer * inner >= PAR_MIN && outer > 1, one)
    });
    s.reorder(t.shape(), vals)
}

/// [`reduce_with`] producing a tensor of the reduced shape.
pub(crate) fn reduce<E: Element, A: Copy + Send + Sync>(
    t: &Tensor<E>,
    dims: &[usize],
    keepdim: bool,
    init: A,
    fold: impl Fn(A, E, usize) -> A + Sync,
    finish: impl Fn(A, usize) -> E + Sync,
) -> Tensor<E> {
    Tensor::from_vec(reduce_with(t, dims, init, fold, finish), &reduced_shape(t.shape(), dims, keepdim))
}

/// `f(lane 0) ⊕ f(lane 1) ⊕ … ⊕ f(lane n - 1)` for an associative `op`,
/// over `N` slices of one length `n` (lane `i` is element `i` of each), as
/// eight interleaved running folds (lane `i` into fold `i % 8`) combined in
/// a fixed tree, so that a row's adds or comparisons do not wait on one
/// another and the order depends on `n` alone (measured on a Zen 3 core, 1
/// thread: layer_norm's sums took a transformer step's reduction time from
/// 8.1 to 6.1 ms; softmax's max and sum over rows of 64, forward and
/// backward of `[16, 4, 64, 64]`, 1024 -> 900 us). Eight lanes are read at a
/// time, so the loop has no bounds check per element and vectorises (on a
/// Zen 4 core, layer_norm's row statistics in f64 went from scalar code to
/// eight lanes a vector).
#[inline(always)]
pub(crate) fn fold8<E: Copy, T: Copy, const N: usize>(
    slices: [&[E]; N],
    init: T,
    f: impl Fn([E; N]) -> T,
    op: impl Fn(T, T) -> T,
) -> T {
    let n = slices.first().map_or(0, |s| s.len());
    assert!(slices.iter().all(|s| s.len() == n), "fold8: slices of different lengths");
    let (mut acc, full) = ([init; 8], n - n % 8);
    for i in (0..full).step_by(8) {
        let lanes: [&[E; 8]; N] = slices.map(|s| s[i..i + 8].try_into().expect("eight lanes"));
        for (l, a) in acc.iter_mut().enumerate() {
            *a = op(*a, f(lanes.map(|s| s[l])));
        }
    }
    for i in full..n {
        acc[i - full] = op(acc[i - full], f(slices.map(|s| s[i])));
    }
    op(op(op(acc[0], acc[1]), op(acc[2], acc[3])), op(op(acc[4], acc[5]), op(acc[6], acc[7])))
}

/// `Σ f(v)` over `s` in `f64`: eight running sums over blocks of
/// [`PAIRWISE_BASE`], combined pairwise. The tree depends only on `s.len()`.
fn pairwise_sum<E: Element>(s: &[E], f: &(impl Fn(E) -> f64 + Sync)) -> f64 {
    if s.len() > PAIRWISE_BASE {
        let half = (s.len() / 2).next_multiple_of(8);
        return pairwise_sum(&s[..half], f) + pairwise_sum(&s[half..], f);
    }
    let mut acc = [0.0f64; 8];
    let mut lanes = s.chunks_exact(8);
    for c in &mut lanes {
        for k in 0..8 {
            acc[k] += f(c[k]);
        }
    }
    let tail = lanes.remainder().iter().fold(0.0, |a, &v| a + f(v));
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// `Σ f(v)` over `s` in `f64`. Long slices are cut into fixed [`CHUNK`]s summed
/// in parallel, whose partial sums are then combined pairwise in order: the
/// result is the same bits for any thread count.
pub(crate) fn sum_map<E: Element>(s: &[E], f: impl Fn(E) -> f64 + Sync) -> f64 {
    if s.len() <= CHUNK {
        return pairwise_sum(s, &f);
    }
    let parts = map_tasks(s.len().div_ceil(CHUNK), s.len() >= PAR_MIN, |c| {
        pairwise_sum(&s[c * CHUNK..((c + 1) * CHUNK).min(s.len())], &f)
    });
    pairwise_sum(&parts, &|v| v)
}

/// Sums of `w` columns from `j0` of the rows `rows` of data with row stride
/// `i`, into `out`: for each column the same tree as [`pairwise_sum`] builds
/// over that column's values, so a column sums to the same bits as a row.
fn pairwise_columns<E: Element>(x: &[E], i: usize, rows: std::ops::Range<usize>, j0: usize, out: &mut [f64]) {
    let (len, w) = (rows.len(), out.len());
    if len > PAIRWISE_BASE {
        let half = rows.start + (len / 2).next_multiple_of(8);
        let mut right = vec![0.0; w];
        pairwise_columns(x, i, rows.start..half, j0, out);
        pairwise_columns(x, i, half..rows.end, j0, &mut right);
        out.iter_mut().zip(right).for_each(|(o, r)| *o += r);
        return;
    }
    leaf_columns(x, i, rows, j0, out);
}

vectorized! {
    /// [`pairwise_sum`]'s leaf for each of the columns of [`pairwise_columns`]
    /// over at most [`PAIRWISE_BASE`] rows.
    fn leaf_columns<E: Element>(x: &[E], i: usize, rows: std::ops::Range<usize>, j0: usize, out: &mut [f64]) {
        let (len, w) = (rows.len(), out.len());
        let row = |r: usize| &x[(rows.start + r) * i + j0..][..w];
        // Running sum k of column j at acc[k * w + j]: row-wise, vectorisable.
        let mut acc = vec![0.0f64; 8 * w];
        let full = len / 8 * 8;
        for m in (0..full).step_by(8) {
            for (k, lane) in acc.chunks_mut(w).enumerate() {
                lane.iter_mut().zip(row(m + k)).for_each(|(a, &v)| *a += v.f64());
            }
        }
        let mut tail = vec![0.0f64; w];
        for r in full..len {
            tail.iter_mut().zip(row(r)).for_each(|(t, &v)| *t += v.f64());
        }
        let a = |k: usize, j: usize| acc[k * w + j];
        for (j, (o, t)) in out.iter_mut().zip(tail).enumerate() {
            *o = ((a(0, j) + a(1, j)) + (a(2, j) + a(3, j))) + ((a(4, j) + a(5, j)) + (a(6, j) + a(7, j))) + t;
        }
    }
}

/// Column sums of contiguous `[outer, n, inner]` data, outputs `[outer,
/// inner]`, each the same bits as [`sum_map`] of that column's values.
fn sum_columns<E: Element>(x: &[E], [o, n, i]: [usize; 3]) -> Vec<f64> {
    // Narrower tiles where there would be fewer than one per thread (the
    // tiling does not change any column's sum).
    let width = SUM_TILE_COLUMNS.min(i.div_ceil(num_threads()).next_multiple_of(16)).max(64);
    let tiles = i.div_ceil(width);
    let parts = map_tasks(o * tiles, o * n * i >= PAR_MIN, |task| {
        let (k, j0) = (task / tiles, (task % tiles) * width);
        let (xk, w) = (&x[k * n * i..], width.min(i - j0));
        let mut out = vec![0.0; w];
        if n <= CHUNK {
            pairwise_columns(xk, i, 0..n, j0, &mut out);
            return out;
        }
        // Chunk partial sums, combined pairwise as `sum_map` combines them.
        let chunks = map_tasks(n.div_ceil(CHUNK), true, |c| {
            let mut part = vec![0.0; w];
            pairwise_columns(xk, i, c * CHUNK..((c + 1) * CHUNK).min(n), j0, &mut part);
            part
        });
        for (j, o) in out.iter_mut().enumerate() {
            let column: Vec<f64> = chunks.iter().map(|p| p[j]).collect();
            *o = pairwise_sum(&column, &|v| v);
        }
        out
    });
    parts.into_iter().flatten().collect()
}

/// Runs `f` on `t`'s elements as contiguous `[outer, reduced, inner]` data
/// (with `inner == 1` when `rows`) and returns its outputs, given in
/// `[outer, inner]` order, in row-major order of `t`'s kept dims. `t` is read
/// in place when its layout allows, else copied with the reduced dims last.
fn with_blocks<E: Element, R: Copy>(
    t: &Tensor<E>,
    dims: &[usize],
    rows: bool,
    f: impl FnOnce(&[E], [usize; 3]) -> Vec<R>,
) -> Vec<R> {
    let s = Source::new(t, dims, true);
    let (src, sizes) = match block_sizes(s.src.shape(), &s.dims).filter(|b| !rows || b[2] == 1) {
        Some(sizes) => (s.src.clone(), sizes),
        None => {
            let n: usize = s.dims.iter().map(|&d| s.src.shape()[d]).product();
            let copy = map(&view(&s.src, s.src.layout().permute(&s.kept_first())), |v| v);
            (copy, [s.kept.iter().map(|&d| t.shape()[d]).product(), n, 1])
        }
    };
    let vals = src.with_data(|data, l| f(&data[l.contiguous_range().expect("a contiguous source")], sizes));
    s.reorder(t.shape(), vals)
}

/// Sum over `dims` (sorted, distinct), accumulated in `f64` pairwise: each
/// output is [`sum_map`] of its values in row-major order, so the bits depend
/// on neither the thread count nor the layout, and `f32` sums are close to exact.
pub(crate) fn sum_reduce<E: Element>(t: &Tensor<E>, dims: &[usize], keepdim: bool) -> Tensor<E> {
    let _profile = scope(Family::Reduction);
    let out = with_blocks(t, dims, false, |x, [o, n, i]| {
        if i == 1 {
            map_tasks(o, o > 1 && o * n >= PAR_MIN, |k| E::of(sum_map(&x[k * n..(k + 1) * n], E::f64)))
        } else {
            sum_columns(x, [o, n, i]).into_iter().map(E::of).collect()
        }
    });
    Tensor::from_vec(out, &reduced_shape(t.shape(), dims, keepdim))
}

/// For every output element of reducing `dims`, `f` of the contiguous slice of
/// its reduced elements (row-major); for reductions that take several passes.
pub(crate) fn reduce_rows<E: Element, R: Copy + Send>(
    t: &Tensor<E>,
    dims: &[usize],
    f: impl Fn(&[E]) -> R + Sync,
) -> Vec<R> {
    let _profile = scope(Family::Reduction);
    with_blocks(t, dims, true, |x, [o, n, _]| map_tasks(o, o > 1 && o * n >= PAR_MIN, |k| f(&x[k * n..(k + 1) * n])))
}

/// A result shaped like `t`, computed block by block along `dim`: `run(x,
/// out, n, inner)` fills each contiguous `[n, inner]` block `out` from the
/// matching block `x` of the input (`n` is `dim`'s size). A transposed or
/// permuted `t` is read in place and the result keeps its storage order.
fn along_dim<E: Element>(t: &Tensor<E>, dim: usize, run: impl Fn(&[E], &mut [E], usize, usize) + Sync) -> Tensor<E> {
    let _profile = scope(Family::Reduction);
    let s = Source::new(t, &[dim], true);
    let shape = s.src.shape();
    let (n, inner) = (shape[s.dims[0]], shape[s.dims[0] + 1..].iter().product::<usize>());
    let block = n * inner;
    let mut out = crate::buffers::zeroed(t.numel());
    if block > 0 {
        s.src.with_data(|data, l| {
            let x = &data[l.contiguous_range().expect("a contiguous source")];
            let one = |k: usize, ob: &mut [E]| run(&x[k * block..(k + 1) * block], ob, n, inner);
            if out.len() >= PAR_MIN && out.len() > block && num_threads() > 1 {
                for_each_chunk(&mut out, block, one);
            } else {
                out.chunks_mut(block).enumerate().for_each(|(k, ob)| one(k, ob));
            }
        });
    }
    s.with_t_dims(out)
}

/// `f(lane, out)` on every lane of `t` along `dim` (products of the other
/// elements); the result has `t`'s shape.
pub(crate) fn lanes<E: Element>(t: &Tensor<E>, dim: usize, f: impl Fn(&[E], &mut [E]) + Sync) -> Tensor<E> {
    along_dim(t, dim, |x, out, n, inner| {
        if inner == 1 {
            return f(x, out);
        }
        // Strided lanes are gathered and scattered a tile at a time.
        let (mut a, mut b) = (vec![E::zero(); n * LANE_TILE], vec![E::zero(); n * LANE_TILE]);
        for j0 in (0..inner).step_by(LANE_TILE) {
            let w = LANE_TILE.min(inner - j0);
            for r in 0..n {
                for (j, &v) in x[r * inner + j0..][..w].iter().enumerate() {
                    a[j * n + r] = v;
                }
            }
            for j in 0..w {
                f(&a[j * n..(j + 1) * n], &mut b[j * n..(j + 1) * n]);
            }
            for r in 0..n {
                for (j, o) in out[r * inner + j0..][..w].iter_mut().enumerate() {
                    *o = b[j * n + r];
                }
            }
        }
    })
}

/// Cumulative sum of `t` along `dim` (from the end when `reverse`),
/// accumulated in `f64`: whole rows of `inner` elements are added into
/// running sums, so memory is read in order along any dim.
pub(crate) fn cumulative_sum<E: Element>(t: &Tensor<E>, dim: usize, reverse: bool) -> Tensor<E> {
    along_dim(t, dim, |x, out, n, inner| {
        if inner == 1 {
            let mut acc = 0.0f64;
            let step = |(o, &v): (&mut E, &E)| {
                acc += v.f64();
                *o = E::of(acc);
            };
            return if reverse {
                out.iter_mut().zip(x).rev().for_each(step)
            } else {
                out.iter_mut().zip(x).for_each(step)
            };
        }
        let mut acc = vec![0.0f64; inner];
        let mut step = |r: usize| {
            let rows = x[r * inner..(r + 1) * inner].iter().zip(&mut out[r * inner..(r + 1) * inner]);
            for (a, (&v, o)) in acc.iter_mut().zip(rows) {
                *a += v.f64();
                *o = E::of(*a);
            }
        };
        if reverse {
            (0..n).rev().for_each(&mut step);
        } else {
            (0..n).for_each(&mut step);
        }
    })
}

/// A view of `t` with another layout over the same storage (not recorded).
pub(crate) fn view<E: Element>(t: &Tensor<E>, layout: Layout) -> Tensor<E> {
    Tensor::from_parts(t.inner.storage.clone(), layout)
}
