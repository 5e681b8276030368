//! Shapes, strides and all index arithmetic: the only place that knows how a
//! logical index maps to a storage offset.

use smallvec::SmallVec;
use std::ops::Range;

/// A tensor's dimensions; inline for up to six dimensions.
pub type Shape = SmallVec<[usize; 6]>;

/// Where a tensor's elements live in its storage: shape, strides (in
/// elements, 0 for a broadcast dimension) and the offset of the first element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Shape,
    strides: Shape,
    offset: usize,
}

/// Row-major strides of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Shape {
    let mut strides: Shape = SmallVec::from_elem(0, shape.len());
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = acc;
        acc *= shape[d];
    }
    strides
}

/// The NumPy broadcast of two shapes, or `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = SmallVec::from_elem(1, n);
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

impl Layout {
    /// A contiguous row-major layout of `shape` starting at offset 0.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout { shape: shape.into(), strides: contiguous_strides(shape), offset: 0 }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The strides, in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Offset of the first element in the storage.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the elements are laid out row-major without gaps (at any offset).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for d in (0..self.shape.len()).rev() {
            if self.shape[d] != 1 && self.strides[d] != acc {
                return false;
            }
            acc *= self.shape[d];
        }
        true
    }

    /// The contiguous range of storage this layout covers, when it is contiguous.
    pub fn contiguous_range(&self) -> Option<Range<usize>> {
        self.is_contiguous().then(|| self.offset..self.offset + self.numel())
    }

    /// Swaps two dimensions.
    pub(crate) fn transpose(&self, d0: usize, d1: usize) -> Self {
        let mut l = self.clone();
        l.shape.swap(d0, d1);
        l.strides.swap(d0, d1);
        l
    }

    /// Reorders the dimensions: dimension `i` of the result is `perm[i]` of this one.
    pub(crate) fn permute(&self, perm: &[usize]) -> Self {
        Layout {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// A view broadcast to `shape` (stride 0 on expanded dimensions), or `None`
    /// when this shape does not broadcast to it.
    pub(crate) fn broadcast_to(&self, shape: &[usize]) -> Option<Self> {
        if shape.len() < self.shape.len() {
            return None;
        }
        let lead = shape.len() - self.shape.len();
        let mut strides: Shape = SmallVec::from_elem(0, shape.len());
        for i in 0..self.shape.len() {
            let (have, want) = (self.shape[i], shape[lead + i]);
            strides[lead + i] = if have == want {
                self.strides[i]
            } else if have == 1 {
                0
            } else {
                return None;
            };
        }
        Some(Layout { shape: shape.into(), strides, offset: self.offset })
    }

    /// Elements `start, start + step, ...` (`len` of them) along `dim`.
    pub(crate) fn narrow(&self, dim: usize, start: usize, len: usize, step: usize) -> Self {
        let mut l = self.clone();
        l.offset += start * self.strides[dim];
        l.shape[dim] = len;
        l.strides[dim] *= step;
        l
    }

    /// Inserts a dimension of size 1 at `dim`.
    pub(crate) fn unsqueeze(&self, dim: usize) -> Self {
        let mut l = self.clone();
        let stride = if dim < self.shape.len() { self.strides[dim] * self.shape[dim] } else { 1 };
        l.shape.insert(dim, 1);
        l.strides.insert(dim, stride);
        l
    }

    /// Removes the size-1 dimension `dim`.
    pub(crate) fn squeeze(&self, dim: usize) -> Self {
        let mut l = self.clone();
        l.shape.remove(dim);
        l.strides.remove(dim);
        l
    }

    /// A layout of `shape` over the same elements, when no copy is needed
    /// (this layout is contiguous).
    pub(crate) fn reshape(&self, shape: &[usize]) -> Option<Self> {
        self.is_contiguous().then(|| Layout {
            shape: shape.into(),
            strides: contiguous_strides(shape),
            offset: self.offset,
        })
    }

    /// Calls `f` with the storage offset of every element in row-major order.
    pub fn for_each_offset(&self, f: impl FnMut(usize)) {
        if let Some(r) = self.contiguous_range() {
            r.for_each(f);
        } else {
            let mut f = f;
            walk(&self.shape, [&self.strides[..]], [self.offset], 0..self.numel(), |[o]| f(o));
        }
    }
}

/// Visits the row-major positions `range` of `shape`, calling `f` with the
/// storage offset of that position under each of the `N` stride sets.
/// The inner loop runs along the last dimension without index arithmetic.
pub(crate) fn walk<const N: usize>(
    shape: &[usize],
    strides: [&[usize]; N],
    offsets: [usize; N],
    range: Range<usize>,
    mut f: impl FnMut([usize; N]),
) {
    walk_runs(shape, strides, offsets, range, |mut p, steps, run| {
        for _ in 0..run {
            f(p);
            for k in 0..N {
                p[k] += steps[k];
            }
        }
    })
}

/// [`walk`] by runs along the (merged) last dimension: `f(start, steps, len)`
/// gets each run's first offsets, the strides along it and its length, so a
/// run with unit steps can be handled as whole slices.
pub(crate) fn walk_runs<const N: usize>(
    shape: &[usize],
    strides: [&[usize]; N],
    offsets: [usize; N],
    range: Range<usize>,
    mut f: impl FnMut([usize; N], [usize; N], usize),
) {
    if range.is_empty() {
        return;
    }
    if shape.is_empty() {
        f(offsets, [1; N], 1);
        return;
    }
    // Merge neighbouring dimensions that every stride set steps through as
    // one (row-major order is unchanged), so the inner loop runs longer.
    let mut merged: Shape = SmallVec::new();
    let mut merged_strides: [Shape; N] = std::array::from_fn(|_| SmallVec::new());
    for d in 0..shape.len() {
        let joins = !merged.is_empty() && (0..N).all(|k| merged_strides[k].last() == Some(&(strides[k][d] * shape[d])));
        if joins {
            *merged.last_mut().expect("non-empty") *= shape[d];
            for k in 0..N {
                *merged_strides[k].last_mut().expect("non-empty") = strides[k][d];
            }
        } else {
            merged.push(shape[d]);
            for k in 0..N {
                merged_strides[k].push(strides[k][d]);
            }
        }
    }
    let shape = &merged[..];
    let strides: [&[usize]; N] = std::array::from_fn(|k| &merged_strides[k][..]);
    let nd = shape.len();
    // Multi-index of range.start and the matching offsets.
    let mut idx: Shape = SmallVec::from_elem(0, nd);
    let mut rem = range.start;
    let mut pos = offsets;
    for d in (0..nd).rev() {
        idx[d] = rem % shape[d];
        rem /= shape[d];
        for k in 0..N {
            pos[k] += idx[d] * strides[k][d];
        }
    }
    let last = nd - 1;
    let inner = shape[last];
    let inner_strides: [usize; N] = std::array::from_fn(|k| strides[k][last]);
    let mut remaining = range.len();
    while remaining > 0 {
        let run = (inner - idx[last]).min(remaining);
        f(pos, inner_strides, run);
        remaining -= run;
        if remaining == 0 {
            break;
        }
        // Carry: rewind the last dimension, advance the next ones.
        for k in 0..N {
            pos[k] -= idx[last] * inner_strides[k];
        }
        idx[last] = 0;
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            for k in 0..N {
                pos[k] += strides[k][d];
            }
            if idx[d] < shape[d] {
                break;
            }
            for k in 0..N {
                pos[k] -= idx[d] * strides[k][d];
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_visits_transposed_offsets_from_any_start() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1);
        let mut all = vec![];
        l.for_each_offset(|o| all.push(o));
        assert_eq!(all, vec![0, 3, 1, 4, 2, 5]);
        let mut tail = vec![];
        walk(l.shape(), [l.strides()], [0], 2..5, |[o]| tail.push(o));
        assert_eq!(tail, vec![1, 4, 2]);
    }

    #[test]
    fn walk_merges_dimensions_without_changing_the_visit_order() {
        // A per-channel [1, 3, 1, 1] operand broadcast over [2, 3, 2, 2]
        // beside a contiguous one: the two inner dimensions merge.
        let a = Layout::contiguous(&[2, 3, 2, 2]);
        let b = Layout::contiguous(&[1, 3, 1, 1]).broadcast_to(&[2, 3, 2, 2]).unwrap();
        let mut got = vec![];
        walk(a.shape(), [a.strides(), b.strides()], [0, 0], 5..19, |[i, j]| got.push((i, j)));
        let want: Vec<(usize, usize)> = (5..19).map(|i| (i, (i / 4) % 3)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn broadcast_rules_follow_numpy() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap().as_slice(), &[3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2]).unwrap().as_slice(), &[2, 2]);
        assert!(broadcast_shapes(&[3], &[4]).is_none());
        let l = Layout::contiguous(&[3, 1]).broadcast_to(&[2, 3, 4]).unwrap();
        assert_eq!(l.strides(), &[0, 1, 0]);
    }

    #[test]
    fn contiguity_ignores_unit_dims() {
        assert!(Layout::contiguous(&[2, 1, 3]).is_contiguous());
        assert!(!Layout::contiguous(&[2, 3]).transpose(0, 1).is_contiguous());
        assert!(Layout::contiguous(&[4, 3]).narrow(0, 1, 2, 1).is_contiguous());
    }
}
