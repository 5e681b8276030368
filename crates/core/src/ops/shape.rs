//! Shape ops. Views (reshape of contiguous data, transpose, permute, expand,
//! narrow, squeeze, unsqueeze) share storage and copy nothing.

use crate::kernels::view;
use crate::tensor::at;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::panic::Location;

impl<E: Element> Tensor<E> {
    /// The same elements with another shape. A view when the data is
    /// contiguous, else a copy.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Tensor<E> {
        if shape.iter().product::<usize>() != self.numel() {
            panic!("reshape: cannot view shape {:?} as {:?} at {}", self.shape(), shape, at(Location::caller()));
        }
        if shape == self.shape() {
            return self.clone();
        }
        let src: Vec<usize> = self.shape().into();
        let base = self.contiguous();
        let layout = base.layout().reshape(shape).expect("contiguous data reshapes");
        view(&base, layout).record("reshape", &[&base], move |_, g| smallvec![Some(g.reshape(&src))])
    }

    /// Swaps dimensions `d0` and `d1` (a view).
    #[track_caller]
    pub fn transpose(&self, d0: isize, d1: isize) -> Tensor<E> {
        let (a, b) = (self.dim_index("transpose", d0), self.dim_index("transpose", d1));
        view(self, self.layout().transpose(a, b))
            .record("transpose", &[self], move |_, g| smallvec![Some(g.transpose(a as isize, b as isize))])
    }

    /// The matrix transpose of a 2-d tensor.
    #[track_caller]
    pub fn t(&self) -> Tensor<E> {
        if self.ndim() != 2 {
            panic!("t: expects a 2-d tensor, got shape {:?} at {}", self.shape(), at(Location::caller()));
        }
        self.transpose(0, 1)
    }

    /// Reorders dimensions: dimension `i` of the result is `perm[i]` of `self` (a view).
    #[track_caller]
    pub fn permute(&self, perm: &[isize]) -> Tensor<E> {
        let p: Vec<usize> = perm.iter().map(|&d| self.dim_index("permute", d)).collect();
        let mut seen = vec![false; self.ndim()];
        if p.len() != self.ndim() || p.iter().any(|&d| std::mem::replace(&mut seen[d], true)) {
            panic!(
                "permute: {perm:?} is not a permutation of the dims of shape {:?} at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        let mut inverse = vec![0isize; p.len()];
        for (i, &d) in p.iter().enumerate() {
            inverse[d] = i as isize;
        }
        view(self, self.layout().permute(&p))
            .record("permute", &[self], move |_, g| smallvec![Some(g.permute(&inverse))])
    }

    /// Broadcasts to `shape` without copying (stride 0 on expanded dims).
    #[track_caller]
    pub fn expand(&self, shape: &[usize]) -> Tensor<E> {
        if shape == self.shape() {
            return self.clone();
        }
        let Some(layout) = self.layout().broadcast_to(shape) else {
            panic!("expand: shape {:?} cannot be broadcast to {:?} at {}", self.shape(), shape, at(Location::caller()));
        };
        let src: Vec<usize> = self.shape().into();
        view(self, layout).record("expand", &[self], move |_, g| smallvec![Some(g.sum_to(&src))])
    }

    /// Alias of [`expand`](Self::expand), NumPy's name.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor<E> {
        self.expand(shape)
    }

    /// Inserts a dimension of size 1 at `dim` (`-1`: at the end).
    #[track_caller]
    pub fn unsqueeze(&self, dim: isize) -> Tensor<E> {
        let nd = self.ndim() as isize + 1;
        let d = if dim < 0 { dim + nd } else { dim };
        if d < 0 || d >= nd {
            panic!(
                "unsqueeze: dimension {dim} out of range for shape {:?} at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        view(self, self.layout().unsqueeze(d as usize))
            .record("unsqueeze", &[self], move |_, g| smallvec![Some(g.squeeze(d))])
    }

    /// Removes dimension `dim`, which must have size 1.
    #[track_caller]
    pub fn squeeze(&self, dim: isize) -> Tensor<E> {
        let d = self.dim_index("squeeze", dim);
        if self.shape()[d] != 1 {
            panic!("squeeze: dimension {dim} of shape {:?} is not 1 at {}", self.shape(), at(Location::caller()));
        }
        view(self, self.layout().squeeze(d))
            .record("squeeze", &[self], move |_, g| smallvec![Some(g.unsqueeze(d as isize))])
    }

    /// `len` elements of `dim` from `start` (a view), like `torch.narrow`.
    #[track_caller]
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Tensor<E> {
        self.slice(dim, start, start + len, 1)
    }

    /// Elements `start..end` of `dim` taking every `step`-th (a view), like `x[start:end:step]`.
    #[track_caller]
    pub fn slice(&self, dim: isize, start: usize, end: usize, step: usize) -> Tensor<E> {
        let d = self.dim_index("slice", dim);
        let size = self.shape()[d];
        if step == 0 || start > end || end > size {
            panic!(
                "slice: range {start}..{end} step {step} invalid for dimension {dim} of shape {:?} at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        let len = (end - start).div_ceil(step);
        let src: Vec<usize> = self.shape().into();
        view(self, self.layout().narrow(d, start, len, step))
            .record("slice", &[self], move |_, g| smallvec![Some(g.slice_backward(&src, d, start, step))])
    }

    /// Zeros of `shape` with `self` written at `start, start + step, ...` of
    /// `dim`: the adjoint of [`slice`](Self::slice).
    #[track_caller]
    pub(crate) fn slice_backward(&self, shape: &[usize], dim: usize, start: usize, step: usize) -> Tensor<E> {
        let out = Tensor::zeros(shape);
        let len = self.shape()[dim];
        view(&out, out.layout().narrow(dim, start, len, step)).assign(self);
        out.record("slice_backward", &[self], move |_, g| {
            smallvec![Some(g.slice(dim as isize, start, start + (len - 1) * step + 1, step))]
        })
    }
}
