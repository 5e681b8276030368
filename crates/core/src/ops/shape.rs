//! Shape ops. Views (reshape and flatten of contiguous data, transpose,
//! permute, expand, narrow, slice, split, chunk, squeeze, unsqueeze) share
//! storage and copy nothing; cat, stack, pad, repeat and flip copy.

use crate::kernels::view;
use crate::layout::{contiguous_strides, walk, walk_runs, Shape};
use crate::tensor::at;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::panic::Location;
use std::sync::Arc;

/// How [`Tensor::pad`] fills the border: `mode` (and `value`) of
/// `torch.nn.functional.pad`. With `[a b c]` padded by 2 on each side:
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant: `v v [a b c] v v`.
    Constant(f64),
    /// Mirror without repeating the edge: `c b [a b c] b a`. Each pad must be
    /// smaller than its dimension.
    Reflect,
    /// Repeat the edge: `a a [a b c] c c`.
    Replicate,
    /// Wrap around: `b c [a b c] a b`. Each pad must be at most its dimension.
    Circular,
}

impl PadMode {
    /// The input index that output index `i + left` reads, for `i` in
    /// `-left..n + right` (non-constant modes, pads allowed by `allows`).
    fn source(self, i: isize, n: usize) -> usize {
        let n = n as isize;
        let s = match self {
            PadMode::Reflect if i < 0 => -i,
            PadMode::Reflect if i >= n => 2 * (n - 1) - i,
            PadMode::Replicate => i.clamp(0, n - 1),
            PadMode::Circular => i.rem_euclid(n),
            _ => i,
        };
        s as usize
    }

    /// Whether pads `left`, `right` are allowed on a dimension of size `n`.
    fn allows(self, left: usize, right: usize, n: usize) -> bool {
        let fits = match self {
            PadMode::Constant(_) => true,
            PadMode::Reflect => left < n && right < n,
            PadMode::Replicate => n > 0,
            PadMode::Circular => left <= n && right <= n,
        };
        fits || left + right == 0
    }
}

/// Copies `src` into `out`, a contiguous buffer of shape `out_shape`, as the
/// block whose first element sits at multi-index `corner`.
fn copy_block<E: Element>(out: &mut [E], out_shape: &[usize], corner: &[usize], src: &Tensor<E>) {
    let strides = contiguous_strides(out_shape);
    let base: usize = corner.iter().zip(&strides).map(|(c, s)| c * s).sum();
    src.with_data(|data, l| {
        walk(l.shape(), [&strides[..], l.strides()], [base, l.offset()], 0..l.numel(), |[o, i]| out[o] = data[i]);
    });
}

/// Resolves a dimension to insert at: `0..=ndim`, negative counting from the end.
#[track_caller]
fn insert_index(op: &str, shape: &[usize], dim: isize) -> usize {
    let nd = shape.len() as isize + 1;
    let d = if dim < 0 { dim + nd } else { dim };
    if d < 0 || d >= nd {
        panic!("{op}: dimension {dim} out of range for shape {shape:?} at {}", at(Location::caller()));
    }
    d as usize
}

impl<E: Element> Tensor<E> {
    /// A fresh copy (gradient passes through): what ops documented to copy
    /// return when their result would otherwise alias the input.
    #[track_caller]
    fn copy(&self, name: &'static str) -> Tensor<E> {
        crate::kernels::map(self, |v| v).record(name, &[self], |_, g| smallvec![Some(g.clone())])
    }

    /// Resolves a dimension that must exist: like `dim_index`, but a 0-d
    /// tensor has none.
    #[track_caller]
    pub(crate) fn real_dim(&self, op: &str, dim: isize) -> usize {
        if self.ndim() == 0 {
            panic!("{op}: a 0-d tensor has no dimension {dim} (shape []) at {}", at(Location::caller()));
        }
        self.dim_index(op, dim)
    }

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
        let src: Shape = self.shape().into();
        let base = self.contiguous();
        let layout = base.layout().reshape(shape).expect("contiguous data reshapes");
        view(&base, layout).record("reshape", &[&base], move |_, g| smallvec![Some(g.reshape(&src))])
    }

    /// Merges dimensions `start_dim..=end_dim` into one, like `torch.flatten`
    /// (a 0-d tensor becomes 1-d). A view when the data is contiguous.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f32>::zeros(&[2, 3, 4, 5]);
    /// assert_eq!(x.flatten(1, -1).shape(), &[2, 60]);
    /// assert_eq!(x.flatten(0, 1).shape(), &[6, 4, 5]);
    /// ```
    #[track_caller]
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Tensor<E> {
        if self.ndim() == 0 {
            // Like PyTorch, a 0-d tensor has the one dimension 0 (or -1).
            if let Some(bad) = [start_dim, end_dim].into_iter().find(|d| !(-1..=0).contains(d)) {
                panic!("flatten: dimension {bad} out of range for shape [] at {}", at(Location::caller()));
            }
            return self.reshape(&[1]);
        }
        let (s, e) = (self.dim_index("flatten", start_dim), self.dim_index("flatten", end_dim));
        if s > e {
            panic!(
                "flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {:?} at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        let sh = self.shape();
        let mut shape = sh[..s].to_vec();
        shape.push(sh[s..=e].iter().product());
        shape.extend_from_slice(&sh[e + 1..]);
        self.reshape(&shape)
    }

    /// Splits dimension `dim` into `sizes` (whose product must be its size),
    /// like `torch.unflatten`. A view when the data is contiguous.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f32>::zeros(&[2, 12]);
    /// assert_eq!(x.unflatten(-1, &[3, 4]).shape(), &[2, 3, 4]);
    /// ```
    #[track_caller]
    pub fn unflatten(&self, dim: isize, sizes: &[usize]) -> Tensor<E> {
        let d = self.real_dim("unflatten", dim);
        if sizes.is_empty() || sizes.iter().product::<usize>() != self.shape()[d] {
            panic!(
                "unflatten: sizes {sizes:?} do not multiply to {}, the size of dimension {dim} of shape {:?} at {}",
                self.shape()[d],
                self.shape(),
                at(Location::caller())
            );
        }
        let mut shape = self.shape()[..d].to_vec();
        shape.extend_from_slice(sizes);
        shape.extend_from_slice(&self.shape()[d + 1..]);
        self.reshape(&shape)
    }

    /// Swaps dimensions `d0` and `d1` (a view).
    #[track_caller]
    pub fn transpose(&self, d0: isize, d1: isize) -> Tensor<E> {
        let (a, b) = (self.dim_index("transpose", d0), self.dim_index("transpose", d1));
        if self.ndim() == 0 {
            return self.clone();
        }
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
        let src: Shape = self.shape().into();
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
        let d = insert_index("unsqueeze", self.shape(), dim);
        view(self, self.layout().unsqueeze(d))
            .record("unsqueeze", &[self], move |_, g| smallvec![Some(g.squeeze(d as isize))])
    }

    /// Removes dimension `dim` if it has size 1; otherwise returns the tensor
    /// unchanged, as `torch.squeeze(x, dim)` does.
    #[track_caller]
    pub fn squeeze(&self, dim: isize) -> Tensor<E> {
        let d = self.real_dim("squeeze", dim);
        if self.shape()[d] != 1 {
            return self.clone();
        }
        view(self, self.layout().squeeze(d))
            .record("squeeze", &[self], move |_, g| smallvec![Some(g.unsqueeze(d as isize))])
    }

    /// Removes every dimension of size 1 (a view), like `torch.squeeze(x)`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[1, 3, 1, 2]).squeeze_all().shape(), &[3, 2]);
    /// ```
    #[track_caller]
    pub fn squeeze_all(&self) -> Tensor<E> {
        let mut layout = self.layout().clone();
        for d in (0..self.ndim()).rev().filter(|&d| self.shape()[d] == 1) {
            layout = layout.squeeze(d);
        }
        if layout.shape() == self.shape() {
            return self.clone();
        }
        let src: Shape = self.shape().into();
        view(self, layout).record("squeeze", &[self], move |_, g| smallvec![Some(g.reshape(&src))])
    }

    /// `len` elements of `dim` from `start` (a view), like `torch.narrow`.
    #[track_caller]
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Tensor<E> {
        self.slice(dim, start, start + len, 1)
    }

    /// Elements `start..end` of `dim` taking every `step`-th (a view), like `x[start:end:step]`.
    #[track_caller]
    pub fn slice(&self, dim: isize, start: usize, end: usize, step: usize) -> Tensor<E> {
        let d = self.real_dim("slice", dim);
        let size = self.shape()[d];
        if step == 0 || start > end || end > size {
            panic!(
                "slice: range {start}..{end} step {step} invalid for dimension {dim} of shape {:?} at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        let len = (end - start).div_ceil(step);
        let src: Shape = self.shape().into();
        view(self, self.layout().narrow(d, start, len, step)).record("slice", &[self], move |c, g| {
            smallvec![(!c.add_to_slice(0, g, d, start, step)).then(|| g.slice_backward(&src, d, start, step))]
        })
    }

    /// Zeros of `shape` with `self` written at `start, start + step, ...` of
    /// `dim`: the adjoint of [`slice`](Self::slice).
    #[track_caller]
    pub(crate) fn slice_backward(&self, shape: &[usize], dim: usize, start: usize, step: usize) -> Tensor<E> {
        let out = Tensor::zeros(shape);
        let len = self.shape()[dim];
        view(&out, out.layout().narrow(dim, start, len, step)).assign(self);
        let end = if len == 0 { start } else { start + (len - 1) * step + 1 };
        out.record("slice_backward", &[self], move |_, g| smallvec![Some(g.slice(dim as isize, start, end, step))])
    }

    /// Adds `g` into the region `slice(dim, start, .., step)` of `self`, in
    /// place and unrecorded; `self` must be the only handle on its storage.
    pub(crate) fn add_at_slice(&self, g: &Tensor<E>, dim: usize, start: usize, step: usize) {
        let region = self.layout().narrow(dim, start, g.shape()[dim], step);
        g.with_data(|gd, gl| {
            let mut data = self.inner.storage.write();
            let at = [region.offset(), gl.offset()];
            walk_runs(g.shape(), [region.strides(), gl.strides()], at, 0..g.numel(), |[i, j], steps, len| {
                if steps == [1, 1] {
                    data[i..i + len].iter_mut().zip(&gd[j..j + len]).for_each(|(d, &v)| *d = *d + v);
                } else {
                    (0..len).for_each(|r| data[i + r * steps[0]] = data[i + r * steps[0]] + gd[j + r * steps[1]]);
                }
            });
        });
    }

    /// Pieces of `split_size` along `dim` (the last may be smaller), as views,
    /// like `torch.split`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f32>::arange(0.0, 5.0, 1.0);
    /// let parts: Vec<Vec<f32>> = x.split(2, 0).iter().map(|p| p.to_vec()).collect();
    /// assert_eq!(parts, vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0]]);
    /// ```
    #[track_caller]
    pub fn split(&self, split_size: usize, dim: isize) -> Vec<Tensor<E>> {
        let d = self.real_dim("split", dim);
        let n = self.shape()[d];
        if split_size == 0 && n > 0 {
            panic!(
                "split: split_size 0 for dimension {dim} of size {n} in shape {:?} at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        // Like PyTorch, an empty dimension gives one empty piece.
        let sizes: Vec<usize> =
            if n == 0 { vec![0] } else { (0..n).step_by(split_size).map(|s| split_size.min(n - s)).collect() };
        self.split_sizes(&sizes, dim)
    }

    /// Pieces of the given `sizes` (summing to the size of `dim`) along `dim`,
    /// as views, like `torch.split` with a list.
    #[track_caller]
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Vec<Tensor<E>> {
        let d = self.real_dim("split_sizes", dim);
        if sizes.iter().sum::<usize>() != self.shape()[d] {
            panic!(
                "split_sizes: sizes {sizes:?} do not sum to {}, the size of dimension {dim} of shape {:?} at {}",
                self.shape()[d],
                self.shape(),
                at(Location::caller())
            );
        }
        let mut parts = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for &len in sizes {
            parts.push(self.narrow(d as isize, start, len));
            start += len;
        }
        parts
    }

    /// At most `chunks` views along `dim`, each of `ceil(size / chunks)`
    /// elements but the last, exactly as `torch.chunk` (so 6 elements in 4
    /// chunks give 3 pieces of 2).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f32>::zeros(&[6, 2]);
    /// let sizes: Vec<usize> = x.chunk(4, 0).iter().map(|p| p.shape()[0]).collect();
    /// assert_eq!(sizes, vec![2, 2, 2]);
    /// ```
    #[track_caller]
    pub fn chunk(&self, chunks: usize, dim: isize) -> Vec<Tensor<E>> {
        let d = self.real_dim("chunk", dim);
        if chunks == 0 {
            panic!("chunk: chunks must be at least 1 (shape {:?}) at {}", self.shape(), at(Location::caller()));
        }
        match self.shape()[d] {
            // PyTorch keeps the number of chunks for an empty dimension.
            0 => self.split_sizes(&vec![0; chunks], dim),
            n => self.split(n.div_ceil(chunks), dim),
        }
    }

    /// Joins tensors along an existing dimension `dim`; all other dimensions
    /// must agree, like `torch.cat`. Each input's gradient is its slice of the
    /// output gradient.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2, 1]);
    /// let b = Tensor::<f32>::from_vec(vec![3.0, 4.0, 5.0, 6.0], &[2, 2]);
    /// let c = Tensor::cat(&[&a, &b], 1);
    /// assert_eq!(c.shape(), &[2, 3]);
    /// assert_eq!(c.to_vec(), vec![1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    /// ```
    #[track_caller]
    pub fn cat(tensors: &[&Tensor<E>], dim: isize) -> Tensor<E> {
        let Some(first) = tensors.first() else {
            panic!("cat: expects a non-empty list of tensors at {}", at(Location::caller()));
        };
        let d = first.real_dim("cat", dim);
        let mut out_shape = first.shape().to_vec();
        out_shape[d] = 0;
        for t in tensors {
            let agree = t.ndim() == first.ndim() && (0..t.ndim()).all(|i| i == d || t.shape()[i] == first.shape()[i]);
            if !agree {
                panic!(
                    "cat: shapes {:?} and {:?} differ outside dimension {dim} at {}",
                    first.shape(),
                    t.shape(),
                    at(Location::caller())
                );
            }
            out_shape[d] += t.shape()[d];
        }
        let mut out = crate::buffers::zeroed(out_shape.iter().product());
        let mut corner = vec![0; out_shape.len()];
        for t in tensors {
            copy_block(&mut out, &out_shape, &corner, t);
            corner[d] += t.shape()[d];
        }
        let sizes: Vec<usize> = tensors.iter().map(|t| t.shape()[d]).collect();
        Tensor::from_vec(out, &out_shape).record("cat", tensors, move |c, g| {
            let mut start = 0;
            sizes
                .iter()
                .enumerate()
                .map(|(i, &len)| {
                    start += len;
                    c.needs(i).then(|| g.narrow(d as isize, start - len, len))
                })
                .collect()
        })
    }

    /// Joins tensors of one shape along a new dimension `dim`, like `torch.stack`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
    /// let b = Tensor::<f32>::from_vec(vec![3.0, 4.0], &[2]);
    /// assert_eq!(Tensor::stack(&[&a, &b], 1).to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn stack(tensors: &[&Tensor<E>], dim: isize) -> Tensor<E> {
        let Some(first) = tensors.first() else {
            panic!("stack: expects a non-empty list of tensors at {}", at(Location::caller()));
        };
        if let Some(t) = tensors.iter().find(|t| t.shape() != first.shape()) {
            panic!(
                "stack: all tensors need the same shape, got {:?} and {:?} at {}",
                first.shape(),
                t.shape(),
                at(Location::caller())
            );
        }
        let d = insert_index("stack", first.shape(), dim) as isize;
        let parts: Vec<Tensor<E>> = tensors.iter().map(|t| t.unsqueeze(d)).collect();
        Tensor::cat(&parts.iter().collect::<Vec<_>>(), d)
    }

    /// Pads the last `pads.len() / 2` dimensions: `pads` is
    /// `[left_last, right_last, left_second_last, right_second_last, ...]`, as
    /// in `torch.nn.functional.pad`. The gradient of a constant pad is the
    /// interior of the output gradient; for the other modes each input
    /// element sums the gradient of every output element that copies it.
    ///
    /// ```
    /// use lamina_core::{PadMode, Tensor};
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]);
    /// assert_eq!(x.pad(&[2, 1], PadMode::Reflect).to_vec(), vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0]);
    /// assert_eq!(x.pad(&[1, 1], PadMode::Constant(0.5)).to_vec(), vec![0.5, 1.0, 2.0, 3.0, 0.5]);
    /// ```
    #[track_caller]
    pub fn pad(&self, pads: &[usize], mode: PadMode) -> Tensor<E> {
        let nd = self.ndim();
        if !pads.len().is_multiple_of(2) || pads.len() / 2 > nd {
            panic!(
                "pad: {} pad values for shape {:?}: expects an even number, at most 2 per dimension at {}",
                pads.len(),
                self.shape(),
                at(Location::caller())
            );
        }
        // (dimension, left, right), starting from the last dimension.
        let sides: Vec<(usize, usize, usize)> =
            pads.chunks(2).enumerate().map(|(i, p)| (nd - 1 - i, p[0], p[1])).collect();
        for &(d, left, right) in &sides {
            if !mode.allows(left, right, self.shape()[d]) {
                panic!(
                    "pad: {mode:?} padding ({left}, {right}) is too large for dimension {d} of shape {:?} at {}",
                    self.shape(),
                    at(Location::caller())
                );
            }
        }
        if let PadMode::Constant(value) = mode {
            let mut out_shape = self.shape().to_vec();
            let mut corner = vec![0; nd];
            for &(d, left, right) in &sides {
                out_shape[d] += left + right;
                corner[d] = left;
            }
            let mut out = vec![E::of(value); out_shape.iter().product()];
            copy_block(&mut out, &out_shape, &corner, self);
            let shape = self.shape().to_vec();
            return Tensor::from_vec(out, &out_shape).record("pad", &[self], move |_, g| {
                let mut g = g.clone();
                for &(d, left, _) in &sides {
                    g = g.narrow(d as isize, left, shape[d]);
                }
                smallvec![Some(g)]
            });
        }
        let mut out = self.clone();
        for &(d, left, right) in sides.iter().filter(|s| s.1 + s.2 > 0) {
            let n = self.shape()[d];
            let map: Arc<[usize]> = (0..left + n + right).map(|o| mode.source(o as isize - left as isize, n)).collect();
            out = out.take(("pad", "pad_backward"), d, map);
        }
        if out.same(self) {
            out = self.copy("pad");
        }
        out
    }

    /// Tiles the tensor `repeats[i]` times along dimension `i`, like
    /// `torch.Tensor.repeat`; extra leading `repeats` add new dimensions.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
    /// let y = x.repeat(&[2, 2]);
    /// assert_eq!(y.shape(), &[2, 4]);
    /// assert_eq!(y.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn repeat(&self, repeats: &[usize]) -> Tensor<E> {
        if repeats.len() < self.ndim() {
            panic!(
                "repeat: {} repeats for shape {:?}: need at least one per dimension at {}",
                repeats.len(),
                self.shape(),
                at(Location::caller())
            );
        }
        // [s0, s1] -> [1, s0, 1, s1] -> expand to [r0, s0, r1, s1] -> [r0 s0, r1 s1].
        let lead = repeats.len() - self.ndim();
        let (mut unit, mut tiled, mut out) = (vec![], vec![], vec![]);
        for (i, &r) in repeats.iter().enumerate() {
            let s = if i < lead { 1 } else { self.shape()[i - lead] };
            unit.extend([1, s]);
            tiled.extend([r, s]);
            out.push(r * s);
        }
        let tiles = self.reshape(&unit).expand(&tiled);
        // Every repeat 1: nothing to tile, but the result is still a copy.
        let tiles = if tiles.is_contiguous() { tiles.copy("repeat") } else { tiles };
        tiles.reshape(&out)
    }

    /// Reverses the order of elements along each of `dims`, like `torch.flip`
    /// (a copy). Its gradient is the output gradient flipped back.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(x.flip(&[-1]).to_vec(), vec![2.0, 1.0, 4.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn flip(&self, dims: &[isize]) -> Tensor<E> {
        let mut seen = vec![false; self.ndim().max(1)];
        for &dim in dims {
            if std::mem::replace(&mut seen[self.dim_index("flip", dim)], true) {
                panic!(
                    "flip: repeated dimension in {dims:?} for shape {:?} at {}",
                    self.shape(),
                    at(Location::caller())
                );
            }
        }
        let mut out = self.clone();
        for d in (0..self.ndim()).filter(|&d| seen[d] && self.shape()[d] > 1) {
            let n = self.shape()[d];
            out = out.take(("flip", "flip_backward"), d, (0..n).rev().collect());
        }
        if out.same(self) {
            out = self.copy("flip");
        }
        out
    }
}
