//! Integer index tensors and the ops that take them: `index_select`,
//! `index_add`, `gather`, `scatter_add`.
//!
//! Two pairs of adjoint primitives do the work, each recorded as the other's
//! backward so gradients of gradients work: `take`/`put` (one index map along
//! one dimension: index_select, flip, reflect/replicate/circular pads) and
//! `gather_raw`/`scatter_raw` (an index per element).

use crate::layout::{contiguous_strides, walk, Shape};
use crate::tensor::at;
use crate::threads::fill_chunks;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::panic::Location;
use std::sync::Arc;

/// An integer tensor (contiguous, row-major) of indices: class targets, token
/// ids, the indices `max` returns, the index of `gather`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexTensor {
    pub(crate) shape: Shape,
    pub(crate) data: Arc<Vec<i64>>,
}

impl IndexTensor {
    /// An index tensor of `shape` from row-major values.
    #[track_caller]
    pub fn from_vec(data: Vec<i64>, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        if data.len() != n {
            panic!(
                "IndexTensor::from_vec: {} values do not fill shape {:?} at {}",
                data.len(),
                shape,
                crate::tensor::at(std::panic::Location::caller())
            );
        }
        IndexTensor { shape: shape.into(), data: Arc::new(data) }
    }

    /// A 1-d index tensor holding `data`.
    ///
    /// ```
    /// use lamina_core::IndexTensor;
    /// assert_eq!(IndexTensor::from_slice(&[2, 0]).shape(), &[2]);
    /// ```
    pub fn from_slice(data: &[i64]) -> Self {
        IndexTensor { shape: smallvec![data.len()], data: Arc::new(data.to_vec()) }
    }

    /// `0, 1, ..., n - 1`, like `torch.arange(n)`.
    pub fn arange(n: usize) -> Self {
        IndexTensor { shape: smallvec![n], data: Arc::new((0..n as i64).collect()) }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The values, row-major.
    pub fn to_vec(&self) -> Vec<i64> {
        self.data.to_vec()
    }

    /// The values, row-major, without copying.
    pub fn as_slice(&self) -> &[i64] {
        &self.data
    }

    /// The same values with another shape (sharing them).
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Self {
        if shape.iter().product::<usize>() != self.numel() {
            panic!(
                "IndexTensor::reshape: cannot view shape {:?} as {:?} at {}",
                self.shape(),
                shape,
                at(Location::caller())
            );
        }
        IndexTensor { shape: shape.into(), data: self.data.clone() }
    }

    /// Panics unless every index lies in `0..size`, naming the op, the
    /// offending value and the dimension.
    #[track_caller]
    fn check_range(&self, op: &str, dim: isize, size: usize, shape: &[usize]) {
        if let Some(bad) = self.data.iter().find(|&&i| i < 0 || i as usize >= size) {
            panic!(
                "{op}: index {bad} is out of range for dimension {dim} with size {size} (shape {shape:?}) at {}",
                at(Location::caller())
            );
        }
    }
}

/// The names a `take`/`put` pair records: (take, put).
pub(crate) type OpNames = (&'static str, &'static str);

/// A shape of `nd` dims with 1 at `dim`: as strides, it walks the index along `dim`.
fn unit(nd: usize, dim: usize) -> Vec<usize> {
    (0..nd).map(|d| usize::from(d == dim)).collect()
}

/// `strides` with `dim` zeroed (so a walk yields the offset of index 0 along
/// `dim`), and the stride of `dim`.
fn split_stride(strides: &[usize], dim: usize) -> (Vec<usize>, usize) {
    let mut s = strides.to_vec();
    let sd = std::mem::replace(&mut s[dim], 0);
    (s, sd)
}

impl<E: Element> Tensor<E> {
    /// Output index `o` along `dim` reads input index `map[o]`; the other
    /// dimensions are unchanged. Adjoint: [`put`](Self::put).
    #[track_caller]
    pub(crate) fn take(&self, names: OpNames, dim: usize, map: Arc<[usize]>) -> Tensor<E> {
        let mut shape = self.shape().to_vec();
        let size = std::mem::replace(&mut shape[dim], map.len());
        let mut out = crate::buffers::zeroed(shape.iter().product());
        let walk_dim = unit(shape.len(), dim);
        self.with_data(|data, l| {
            let (base, sd) = split_stride(l.strides(), dim);
            fill_chunks(&mut out, |start, chunk| {
                let mut it = chunk.iter_mut();
                walk(&shape, [&base[..], &walk_dim[..]], [l.offset(), 0], start..start + it.len(), |[b, o]| {
                    *it.next().expect("chunk length") = data[b + map[o] * sd];
                });
            });
        });
        Tensor::from_vec(out, &shape)
            .record(names.0, &[self], move |_, g| smallvec![Some(g.put(names, dim, map.clone(), size))])
    }

    /// Zeros with `size` entries along `dim`, with slice `o` of `self` along
    /// `dim` added at index `map[o]`: the adjoint of [`take`](Self::take).
    #[track_caller]
    pub(crate) fn put(&self, names: OpNames, dim: usize, map: Arc<[usize]>, size: usize) -> Tensor<E> {
        let mut shape = self.shape().to_vec();
        shape[dim] = size;
        let mut out = crate::buffers::zeroed(shape.iter().product());
        let (base, sd) = split_stride(&contiguous_strides(&shape), dim);
        let walk_dim = unit(shape.len(), dim);
        self.with_data(|data, l| {
            walk(l.shape(), [l.strides(), &base[..], &walk_dim[..]], [l.offset(), 0, 0], 0..l.numel(), |[i, b, o]| {
                let slot = &mut out[b + map[o] * sd];
                *slot = *slot + data[i];
            });
        });
        Tensor::from_vec(out, &shape)
            .record(names.1, &[self], move |_, g| smallvec![Some(g.take(names, dim, map.clone()))])
    }

    /// Element `p` of the result is `self` at `p` with coordinate `dim`
    /// replaced by `index[p]` (unchecked). Adjoint: [`scatter_raw`](Self::scatter_raw).
    #[track_caller]
    fn gather_raw(&self, dim: usize, index: &IndexTensor) -> Tensor<E> {
        let mut out = crate::buffers::zeroed(index.numel());
        self.with_data(|data, l| {
            let (base, sd) = split_stride(l.strides(), dim);
            fill_chunks(&mut out, |start, chunk| {
                let mut k = start;
                let mut it = chunk.iter_mut();
                walk(index.shape(), [&base[..]], [l.offset()], start..start + it.len(), |[b]| {
                    *it.next().expect("chunk length") = data[b + index.data[k] as usize * sd];
                    k += 1;
                });
            });
        });
        let (shape, idx) = (self.shape().to_vec(), index.clone());
        Tensor::from_vec(out, index.shape())
            .record("gather", &[self], move |_, g| smallvec![Some(g.scatter_raw(&shape, dim, &idx))])
    }

    /// Zeros of `shape` with `self[p]` added at `p` with coordinate `dim`
    /// replaced by `index[p]` (`self` has the index's shape; unchecked): the
    /// adjoint of [`gather_raw`](Self::gather_raw).
    #[track_caller]
    fn scatter_raw(&self, shape: &[usize], dim: usize, index: &IndexTensor) -> Tensor<E> {
        let mut out = crate::buffers::zeroed(shape.iter().product());
        let (base, sd) = split_stride(&contiguous_strides(shape), dim);
        self.with_data(|data, l| {
            let mut k = 0;
            walk(l.shape(), [l.strides(), &base[..]], [l.offset(), 0], 0..l.numel(), |[i, b]| {
                let slot = &mut out[b + index.data[k] as usize * sd];
                *slot = *slot + data[i];
                k += 1;
            });
        });
        let idx = index.clone();
        Tensor::from_vec(out, shape)
            .record("scatter_add", &[self], move |_, g| smallvec![Some(g.gather_raw(dim, &idx))])
    }

    /// The slices `index[0], index[1], ...` of `dim` (repeats allowed), like
    /// `torch.index_select`; `index` is 1-d (or a 0-d single index). The
    /// gradient adds each slice of the output gradient back at its index.
    ///
    /// ```
    /// use lamina_core::{IndexTensor, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    /// let y = x.index_select(0, &IndexTensor::from_slice(&[2, 0, 2]));
    /// assert_eq!(y.to_vec(), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    /// ```
    #[track_caller]
    pub fn index_select(&self, dim: isize, index: &IndexTensor) -> Tensor<E> {
        let d = self.real_dim("index_select", dim);
        if index.ndim() > 1 {
            panic!(
                "index_select: index of shape {:?} must be 1-d (input shape {:?}) at {}",
                index.shape(),
                self.shape(),
                at(Location::caller())
            );
        }
        index.check_range("index_select", dim, self.shape()[d], self.shape());
        let map: Arc<[usize]> = index.data.iter().map(|&i| i as usize).collect();
        self.take(("index_select", "index_add"), d, map)
    }

    /// `self` plus `source`'s slice `i` along `dim` added at index `index[i]`,
    /// like `torch.Tensor.index_add`; `index` is 1-d with one entry per slice
    /// of `source`. The gradient for `source` is `index_select` of the output
    /// gradient.
    ///
    /// ```
    /// use lamina_core::{IndexTensor, Tensor};
    /// let x = Tensor::<f32>::zeros(&[3]);
    /// let y = x.index_add(0, &IndexTensor::from_slice(&[2, 0, 2]), &Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    /// assert_eq!(y.to_vec(), vec![2.0, 0.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn index_add(&self, dim: isize, index: &IndexTensor, source: &Tensor<E>) -> Tensor<E> {
        let d = self.real_dim("index_add", dim);
        let agree = source.ndim() == self.ndim()
            && (0..self.ndim()).all(|i| source.shape()[i] == if i == d { index.numel() } else { self.shape()[i] });
        if index.ndim() > 1 || !agree {
            panic!(
                "index_add: source of shape {:?} and index of shape {:?} do not match dimension {dim} of shape {:?} at {}",
                source.shape(),
                index.shape(),
                self.shape(),
                at(Location::caller())
            );
        }
        index.check_range("index_add", dim, self.shape()[d], self.shape());
        let map: Arc<[usize]> = index.data.iter().map(|&i| i as usize).collect();
        self.add(&source.put(("index_select", "index_add"), d, map, self.shape()[d]))
    }

    /// Picks along `dim` by an index of the same number of dimensions, like
    /// `torch.gather`: `out[i][j] = self[index[i][j]][j]` for `dim = 0`. The
    /// result has the index's shape; along the other dims the index may be
    /// smaller than `self`. The gradient scatter-adds the output gradient.
    ///
    /// ```
    /// use lamina_core::{IndexTensor, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// let y = x.gather(1, &IndexTensor::from_vec(vec![1, 1, 0, 1], &[2, 2]));
    /// assert_eq!(y.to_vec(), vec![2.0, 2.0, 3.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn gather(&self, dim: isize, index: &IndexTensor) -> Tensor<E> {
        let d = self.real_dim("gather", dim);
        let fits =
            index.ndim() == self.ndim() && (0..self.ndim()).all(|i| i == d || index.shape()[i] <= self.shape()[i]);
        if !fits {
            panic!(
                "gather: index of shape {:?} does not fit input of shape {:?} outside dimension {dim} at {}",
                index.shape(),
                self.shape(),
                at(Location::caller())
            );
        }
        index.check_range("gather", dim, self.shape()[d], self.shape());
        self.gather_raw(d, index)
    }

    /// `self` with `src[p]` added at `p` with coordinate `dim` replaced by
    /// `index[p]`, for every position `p` of `index`, like
    /// `torch.Tensor.scatter_add`. `self`, `index` and `src` have the same
    /// number of dimensions; `index` is no larger than `src` anywhere and no
    /// larger than `self` outside `dim`. The gradient for `src` is `gather` of
    /// the output gradient (zero where `index` does not reach).
    ///
    /// ```
    /// use lamina_core::{IndexTensor, Tensor};
    /// let x = Tensor::<f32>::zeros(&[3]);
    /// let src = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]);
    /// let y = x.scatter_add(0, &IndexTensor::from_slice(&[0, 2, 0, 2]), &src);
    /// assert_eq!(y.to_vec(), vec![4.0, 0.0, 6.0]);
    /// ```
    #[track_caller]
    pub fn scatter_add(&self, dim: isize, index: &IndexTensor, src: &Tensor<E>) -> Tensor<E> {
        let d = self.real_dim("scatter_add", dim);
        let nd = self.ndim();
        let fits = index.ndim() == nd
            && src.ndim() == nd
            && (0..nd).all(|i| index.shape()[i] <= src.shape()[i] && (i == d || index.shape()[i] <= self.shape()[i]));
        if !fits {
            panic!(
                "scatter_add: index of shape {:?} does not fit src of shape {:?} and input of shape {:?} (dimension {dim}) at {}",
                index.shape(),
                src.shape(),
                self.shape(),
                at(Location::caller())
            );
        }
        index.check_range("scatter_add", dim, self.shape()[d], self.shape());
        let mut s = src.clone();
        for i in (0..nd).filter(|&i| src.shape()[i] != index.shape()[i]) {
            s = s.narrow(i as isize, 0, index.shape()[i]);
        }
        self.add(&s.scatter_raw(self.shape(), d, index))
    }
}
