//! Reductions over all elements or chosen dimensions, with `keepdim`.

use crate::kernels::reduce;
use crate::tensor::at;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::panic::Location;

impl<E: Element> Tensor<E> {
    /// Resolves, sorts and checks a list of (possibly negative) dimensions.
    #[track_caller]
    pub(crate) fn dims_index(&self, op: &str, dims: &[isize]) -> Vec<usize> {
        let mut out: Vec<usize> = dims.iter().map(|&d| self.dim_index(op, d)).collect();
        out.sort_unstable();
        if out.windows(2).any(|w| w[0] == w[1]) {
            panic!("{op}: repeated dimension in {dims:?} for shape {:?} at {}", self.shape(), at(Location::caller()));
        }
        out
    }

    /// Gradient of a reduction broadcast back to this tensor's shape: `g` with
    /// the reduced `dims` reinserted (when not kept) and expanded.
    pub(crate) fn unreduce(&self, g: &Tensor<E>, dims: &[usize], keepdim: bool) -> Tensor<E> {
        let mut g = g.clone();
        if !keepdim {
            for &d in dims {
                g = g.unsqueeze(d as isize);
            }
        }
        g.expand(self.shape())
    }

    /// Sum of all elements (a 0-d tensor).
    #[track_caller]
    pub fn sum(&self) -> Tensor<E> {
        let all: Vec<isize> = (0..self.ndim() as isize).collect();
        self.sum_dims(&all, false)
    }

    /// Sum over `dims` (negative counts from the end).
    #[track_caller]
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<E> {
        let d = self.dims_index("sum", dims);
        let x = self.clone();
        reduce(self, &d, keepdim, E::zero(), |a, v, _| a + v, |a, _| a)
            .record("sum", &[self], move |_, g| smallvec![Some(x.unreduce(g, &d, keepdim))])
    }

    /// Mean of all elements.
    #[track_caller]
    pub fn mean(&self) -> Tensor<E> {
        let all: Vec<isize> = (0..self.ndim() as isize).collect();
        self.mean_dims(&all, false)
    }

    /// Mean over `dims`.
    #[track_caller]
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<E> {
        let d = self.dims_index("mean", dims);
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
}
