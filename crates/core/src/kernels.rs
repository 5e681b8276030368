//! Raw, unrecorded kernels over strided data: element-wise maps, broadcast
//! zips and axis reductions. Ops call these for their forward values and then
//! record a backward rule.

use crate::layout::{broadcast_shapes, walk, Layout};
use crate::tensor::at;
use crate::threads::{fill_chunks, install, map_tasks, num_threads, CHUNK, PAR_MIN};
use crate::{Element, Tensor};
use rayon::prelude::*;
use std::panic::Location;

/// `f` applied to every element; the result is contiguous.
pub(crate) fn map<E: Element>(t: &Tensor<E>, f: impl Fn(E) -> E + Sync) -> Tensor<E> {
    let n = t.numel();
    let out = t.with_data(|data, layout| {
        if let Some(r) = layout.contiguous_range() {
            let src = &data[r];
            if n < PAR_MIN {
                src.iter().map(|&x| f(x)).collect()
            } else {
                let mut out = vec![E::zero(); n];
                fill_chunks(&mut out, |start, chunk| {
                    for (o, &x) in chunk.iter_mut().zip(&src[start..]) {
                        *o = f(x);
                    }
                });
                out
            }
        } else {
            let mut out = vec![E::zero(); n];
            fill_chunks(&mut out, |start, chunk| {
                let mut it = chunk.iter_mut();
                walk(layout.shape(), [layout.strides()], [layout.offset()], start..start + it.len(), |[o]| {
                    *it.next().expect("chunk length") = f(data[o]);
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
    let n: usize = shape.iter().product();
    let out = a.with_data(|da, la| {
        b.with_data(|db, lb| {
            let mut out = vec![E::zero(); n];
            match (la.contiguous_range(), lb.contiguous_range()) {
                (Some(ra), Some(rb)) if la.shape() == lb.shape() => {
                    let (sa, sb) = (&da[ra], &db[rb]);
                    fill_chunks(&mut out, |s, c| {
                        for ((o, &x), &y) in c.iter_mut().zip(&sa[s..]).zip(&sb[s..]) {
                            *o = f(x, y);
                        }
                    });
                }
                (Some(ra), _) if lb.numel() == 1 && la.shape() == &shape[..] => {
                    let (sa, y) = (&da[ra], db[lb.offset()]);
                    fill_chunks(&mut out, |s, c| {
                        for (o, &x) in c.iter_mut().zip(&sa[s..]) {
                            *o = f(x, y);
                        }
                    });
                }
                _ => {
                    let la = la.broadcast_to(&shape).expect("broadcast checked");
                    let lb = lb.broadcast_to(&shape).expect("broadcast checked");
                    fill_chunks(&mut out, |s, c| {
                        let mut it = c.iter_mut();
                        walk(
                            &shape,
                            [la.strides(), lb.strides()],
                            [la.offset(), lb.offset()],
                            s..s + it.len(),
                            |[i, j]| {
                                *it.next().expect("chunk length") = f(da[i], db[j]);
                            },
                        );
                    });
                }
            }
            out
        })
    });
    Tensor::from_vec(out, &shape)
}

/// The shape left when `dims` of `shape` are reduced: removed, or kept as 1
/// with `keepdim`.
pub(crate) fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let keep = |(d, &s): (usize, &usize)| if dims.contains(&d) { keepdim.then_some(1) } else { Some(s) };
    shape.iter().enumerate().filter_map(keep).collect()
}

/// For every output element of reducing `dims` (sorted, distinct) of `t`, in
/// row-major order of the kept dims: `finish(fold over the reduced elements in
/// row-major order, count)`. `fold` also gets the element's position `k`
/// among the reduced elements (what `argmax` returns). Strided: no copy.
pub(crate) fn reduce_with<E: Element, A: Copy + Send + Sync, R: Send>(
    t: &Tensor<E>,
    dims: &[usize],
    init: A,
    fold: impl Fn(A, E, usize) -> A + Sync,
    finish: impl Fn(A, usize) -> R + Sync,
) -> Vec<R> {
    let shape = t.shape();
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
    let perm: Vec<usize> = kept.iter().chain(dims.iter()).copied().collect();
    let inner: usize = dims.iter().map(|&d| shape[d]).product();
    let outer: usize = kept.iter().map(|&d| shape[d]).product();
    t.with_data(|data, layout| {
        let l = layout.permute(&perm);
        let one = |o: usize| {
            let mut acc = init;
            let mut k = 0;
            if let Some(r) = l.contiguous_range() {
                for &x in &data[r.start + o * inner..r.start + (o + 1) * inner] {
                    acc = fold(acc, x, k);
                    k += 1;
                }
            } else {
                walk(l.shape(), [l.strides()], [l.offset()], o * inner..(o + 1) * inner, |[p]| {
                    acc = fold(acc, data[p], k);
                    k += 1;
                });
            }
            finish(acc, inner)
        };
        map_tasks(outer, outer * inner >= PAR_MIN && outer > 1, one)
    })
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

/// Slices of at most this many elements are summed as one pairwise tree.
const PAIRWISE_BASE: usize = 256;
/// Columns per task when summing rows of a `[outer, reduced, inner]` block.
const SUM_COLUMNS: usize = 1024;

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
    let tail: f64 = lanes.remainder().iter().map(|&v| f(v)).sum();
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

/// Runs `f` on `t`'s elements as one contiguous `[outer, reduced, inner]`
/// block (output elements ordered `[outer, inner]`, i.e. kept dims row-major).
/// `t` is used in place when it is contiguous and `dims` form one block; else
/// it is copied first, with the reduced dims moved last when they do not form
/// one block or when `rows` asks for `inner == 1`.
fn with_blocks<E: Element, R>(t: &Tensor<E>, dims: &[usize], rows: bool, f: impl FnOnce(&[E], [usize; 3]) -> R) -> R {
    let (src, sizes) = match block_sizes(t.shape(), dims).filter(|s| !rows || s[2] == 1) {
        Some(sizes) if t.is_contiguous() => (t.clone(), sizes),
        Some(sizes) => (map(t, |v| v), sizes),
        None => {
            let shape = t.shape();
            let kept: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
            let perm: Vec<usize> = kept.iter().chain(dims).copied().collect();
            let n = dims.iter().map(|&d| shape[d]).product();
            let o = kept.iter().map(|&d| shape[d]).product();
            (map(&view(t, t.layout().permute(&perm)), |v| v), [o, n, 1])
        }
    };
    src.with_data(|data, l| f(&data[l.contiguous_range().expect("a contiguous source")], sizes))
}

/// Sum over `dims` (sorted, distinct), accumulated in `f64` in an order that
/// depends only on the shape: the same bits for any thread count and any
/// input layout, and close to exact in `f32`.
pub(crate) fn sum_reduce<E: Element>(t: &Tensor<E>, dims: &[usize], keepdim: bool) -> Tensor<E> {
    let out = with_blocks(t, dims, false, |x, [o, n, i]| {
        if i == 1 {
            map_tasks(o, o > 1 && o * n >= PAR_MIN, |k| E::of(sum_map(&x[k * n..(k + 1) * n], E::f64)))
        } else {
            // Rows of `inner` elements added in order into f64 accumulators.
            let blocks = i.div_ceil(SUM_COLUMNS);
            let parts = map_tasks(o * blocks, o * n * i >= PAR_MIN, |task| {
                let (k, j0) = (task / blocks, (task % blocks) * SUM_COLUMNS);
                let j1 = (j0 + SUM_COLUMNS).min(i);
                let mut acc = vec![0.0f64; j1 - j0];
                for r in 0..n {
                    let row = &x[(k * n + r) * i..][j0..j1];
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += v.f64();
                    }
                }
                acc
            });
            parts.into_iter().flatten().map(E::of).collect()
        }
    });
    Tensor::from_vec(out, &reduced_shape(t.shape(), dims, keepdim))
}

/// For every output element of reducing `dims`, `f` of the contiguous slice of
/// its reduced elements (row-major); for reductions that take several passes.
pub(crate) fn reduce_rows<E: Element, R: Send>(t: &Tensor<E>, dims: &[usize], f: impl Fn(&[E]) -> R + Sync) -> Vec<R> {
    with_blocks(t, dims, true, |x, [o, n, _]| map_tasks(o, o > 1 && o * n >= PAR_MIN, |k| f(&x[k * n..(k + 1) * n])))
}

/// `f(lane, out)` on every lane of `t` along `dim` (scans: cumulative sums,
/// products of the other elements); the result has `t`'s shape.
pub(crate) fn lanes<E: Element>(t: &Tensor<E>, dim: usize, f: impl Fn(&[E], &mut [E]) + Sync) -> Tensor<E> {
    let shape = t.shape();
    let (n, inner) = (shape[dim], shape[dim + 1..].iter().product::<usize>());
    let block = n * inner;
    let mut out = vec![E::zero(); t.numel()];
    if block > 0 {
        let src = if t.is_contiguous() { t.clone() } else { map(t, |v| v) };
        src.with_data(|data, l| {
            let x = &data[l.contiguous_range().expect("a contiguous source")];
            let run = |k: usize, ob: &mut [E]| {
                let xb = &x[k * block..(k + 1) * block];
                if inner == 1 {
                    return f(xb, ob);
                }
                let (mut a, mut b) = (vec![E::zero(); n], vec![E::zero(); n]);
                for j in 0..inner {
                    for r in 0..n {
                        a[r] = xb[r * inner + j];
                    }
                    f(&a, &mut b);
                    for r in 0..n {
                        ob[r * inner + j] = b[r];
                    }
                }
            };
            if out.len() >= PAR_MIN && out.len() > block && num_threads() > 1 {
                install(|| out.par_chunks_mut(block).enumerate().for_each(|(k, ob)| run(k, ob)));
            } else {
                out.chunks_mut(block).enumerate().for_each(|(k, ob)| run(k, ob));
            }
        });
    }
    Tensor::from_vec(out, shape)
}

/// A view of `t` with another layout over the same storage (not recorded).
pub(crate) fn view<E: Element>(t: &Tensor<E>, layout: Layout) -> Tensor<E> {
    Tensor::from_parts(t.inner.storage.clone(), layout)
}
