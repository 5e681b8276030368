//! Raw, unrecorded kernels over strided data: element-wise maps, broadcast
//! zips and axis reductions. Ops call these for their forward values and then
//! record a backward rule.

use crate::layout::{broadcast_shapes, walk, Layout};
use crate::tensor::at;
use crate::threads::{fill_chunks, map_tasks, PAR_MIN};
use crate::{Element, Tensor};
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

/// Reduces the dimensions `dims` (sorted, distinct) of `t`: for every output
/// element, `finish(fold over the reduced elements in row-major order, count)`.
/// The result has the reduced dimensions removed (or kept as 1 with `keepdim`).
pub(crate) fn reduce<E: Element, A: Copy + Send + Sync>(
    t: &Tensor<E>,
    dims: &[usize],
    keepdim: bool,
    init: A,
    fold: impl Fn(A, E, usize) -> A + Sync,
    finish: impl Fn(A, usize) -> E + Sync,
) -> Tensor<E> {
    let shape = t.shape();
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
    let perm: Vec<usize> = kept.iter().chain(dims.iter()).copied().collect();
    let inner: usize = dims.iter().map(|&d| shape[d]).product();
    let outer: usize = kept.iter().map(|&d| shape[d]).product();
    let out_shape: Vec<usize> = if keepdim {
        shape.iter().enumerate().map(|(d, &s)| if dims.contains(&d) { 1 } else { s }).collect()
    } else {
        kept.iter().map(|&d| shape[d]).collect()
    };
    let out = t.with_data(|data, layout| {
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
    });
    Tensor::from_vec(out, &out_shape)
}

/// A view of `t` with another layout over the same storage (not recorded).
pub(crate) fn view<E: Element>(t: &Tensor<E>, layout: Layout) -> Tensor<E> {
    Tensor::from_parts(t.inner.storage.clone(), layout)
}
