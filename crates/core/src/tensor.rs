//! The [`Tensor`] handle: shared storage, a strided layout, and autograd metadata.

use crate::layout::Layout;
use crate::rng::{with_default_generator, Generator};
use crate::tape::{Hooks, Node};
use crate::Element;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The elements behind one or more tensors. Views share it; in-place updates
/// (optimizer steps, running statistics) write through its lock.
pub(crate) struct Storage<E: Element> {
    data: RwLock<Vec<E>>,
}

impl<E: Element> Drop for Storage<E> {
    fn drop(&mut self) {
        let data = self.data.get_mut().unwrap_or_else(|e| e.into_inner());
        crate::buffers::recycle(std::mem::take(data));
    }
}

impl<E: Element> Storage<E> {
    pub(crate) fn new(data: Vec<E>) -> Arc<Self> {
        Arc::new(Storage { data: RwLock::new(data) })
    }
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Vec<E>> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Vec<E>> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) struct Inner<E: Element> {
    pub(crate) storage: Arc<Storage<E>>,
    pub(crate) layout: Layout,
    /// The node that produced this tensor; `None` for leaves.
    pub(crate) grad_fn: Option<Arc<Node<E>>>,
    /// Whether a leaf collects a gradient.
    pub(crate) requires_grad: AtomicBool,
    /// A leaf's accumulated gradient (or a non-leaf's, after `retain_grad`).
    pub(crate) grad: Mutex<Option<Tensor<E>>>,
    /// Hooks run on a leaf's incoming gradient before accumulation.
    pub(crate) hooks: Hooks<E>,
}

/// An n-dimensional array of `f32` (default) or `f64` that records the ops
/// applied to it when it requires a gradient.
///
/// Cloning is cheap: clones share storage and autograd identity.
///
/// ```
/// use lamina_core::Tensor;
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]).requires_grad_(true);
/// let y = (&x * &x).sum();
/// y.backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![2.0, 4.0, 6.0]);
/// ```
pub struct Tensor<E: Element = f32> {
    pub(crate) inner: Arc<Inner<E>>,
}

impl<E: Element> Clone for Tensor<E> {
    fn clone(&self) -> Self {
        Tensor { inner: self.inner.clone() }
    }
}

/// Formats a caller location the way error messages print it.
pub(crate) fn at(loc: &Location<'_>) -> String {
    format!("{}:{}", loc.file(), loc.line())
}

impl<E: Element> Tensor<E> {
    // ---------------------------------------------------------------- construction

    pub(crate) fn from_parts(storage: Arc<Storage<E>>, layout: Layout) -> Self {
        Tensor {
            inner: Arc::new(Inner {
                storage,
                layout,
                grad_fn: None,
                requires_grad: AtomicBool::new(false),
                grad: Mutex::new(None),
                hooks: Hooks::new(),
            }),
        }
    }

    /// A tensor of `shape` holding `data` in row-major order.
    #[track_caller]
    pub fn from_vec(data: Vec<E>, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        if data.len() != n {
            panic!(
                "from_vec: {} values do not fill shape {:?} ({} elements) at {}",
                data.len(),
                shape,
                n,
                at(Location::caller())
            );
        }
        Self::from_parts(Storage::new(data), Layout::contiguous(shape))
    }

    /// A tensor from a slice of `f64` values, converted to `E`.
    #[track_caller]
    pub fn from_f64(data: &[f64], shape: &[usize]) -> Self {
        Self::from_vec(data.iter().map(|&v| E::of(v)).collect(), shape)
    }

    /// A 0-dimensional tensor holding `v`.
    pub fn scalar(v: E) -> Self {
        Self::from_vec(vec![v], &[])
    }

    /// A tensor of `shape` filled with `v`.
    pub fn full(shape: &[usize], v: E) -> Self {
        Self::from_vec(crate::buffers::filled(shape.iter().product(), v), shape)
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, E::zero())
    }

    /// All ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, E::one())
    }

    /// Zeros with this tensor's shape.
    pub fn zeros_like(&self) -> Self {
        Self::zeros(self.shape())
    }

    /// Ones with this tensor's shape.
    pub fn ones_like(&self) -> Self {
        Self::ones(self.shape())
    }

    /// `v` everywhere, with this tensor's shape.
    pub fn full_like(&self, v: E) -> Self {
        Self::full(self.shape(), v)
    }

    /// `start, start + step, ...` up to (excluding) `end`, like `torch.arange`.
    #[track_caller]
    pub fn arange(start: f64, end: f64, step: f64) -> Self {
        if step == 0.0 || !((end - start) / step).is_finite() {
            panic!("arange: bad range {start}..{end} step {step} at {}", at(Location::caller()));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        Self::from_vec((0..n).map(|i| E::of(start + i as f64 * step)).collect(), &[n])
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive, like `torch.linspace`.
    pub fn linspace(start: f64, end: f64, steps: usize) -> Self {
        let step = if steps > 1 { (end - start) / (steps - 1) as f64 } else { 0.0 };
        // Like PyTorch, fill the second half from the end so `end` is exact.
        let data = (0..steps)
            .map(|i| {
                if i < steps / 2 {
                    E::of(start + step * i as f64)
                } else {
                    E::of(end - step * (steps - 1 - i) as f64)
                }
            })
            .collect();
        Self::from_vec(data, &[steps])
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize) -> Self {
        let mut d = crate::buffers::zeroed(n * n);
        for i in 0..n {
            d[i * n + i] = E::one();
        }
        Self::from_vec(d, &[n, n])
    }

    fn sample(shape: &[usize], g: Option<&mut Generator>, f: impl Fn(&mut Generator) -> f64) -> Self {
        let n = shape.iter().product();
        let fill = |g: &mut Generator| (0..n).map(|_| E::of(f(g))).collect::<Vec<E>>();
        let data = match g {
            Some(g) => fill(g),
            None => with_default_generator(fill),
        };
        Self::from_vec(data, shape)
    }

    /// Uniform samples in `[0, 1)` from the default generator.
    pub fn rand(shape: &[usize]) -> Self {
        Self::sample(shape, None, Generator::uniform)
    }

    /// Standard normal samples from the default generator.
    pub fn randn(shape: &[usize]) -> Self {
        Self::sample(shape, None, Generator::normal)
    }

    /// Uniform samples in `[0, 1)` from `g`.
    pub fn rand_with(shape: &[usize], g: &mut Generator) -> Self {
        Self::sample(shape, Some(g), Generator::uniform)
    }

    /// Standard normal samples from `g`.
    pub fn randn_with(shape: &[usize], g: &mut Generator) -> Self {
        Self::sample(shape, Some(g), Generator::normal)
    }

    /// Uniform samples with this tensor's shape.
    pub fn rand_like(&self) -> Self {
        Self::rand(self.shape())
    }

    /// Normal samples with this tensor's shape.
    pub fn randn_like(&self) -> Self {
        Self::randn(self.shape())
    }

    /// 1 with probability `p`, else 0, element-wise from the default generator.
    pub fn bernoulli(shape: &[usize], p: f64) -> Self {
        Self::sample(shape, None, |g| if g.uniform() < p { 1.0 } else { 0.0 })
    }

    /// 1 with probability `p`, else 0, from `g`.
    pub fn bernoulli_with(shape: &[usize], p: f64, g: &mut Generator) -> Self {
        Self::sample(shape, Some(g), |g| if g.uniform() < p { 1.0 } else { 0.0 })
    }

    /// A copy converted to another element type (not recorded on the tape).
    pub fn cast<F: Element>(&self) -> Tensor<F> {
        Tensor::from_vec(self.to_vec().into_iter().map(|v| F::of(v.f64())).collect(), self.shape())
    }

    // ---------------------------------------------------------------- accessors

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        self.inner.layout.shape()
    }

    /// The size of dimension `dim` (negative counts from the end).
    #[track_caller]
    pub fn size(&self, dim: isize) -> usize {
        self.shape()[self.dim_index("size", dim)]
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.inner.layout.numel()
    }

    /// The strides, in elements.
    pub fn strides(&self) -> &[usize] {
        self.inner.layout.strides()
    }

    /// The layout (shape, strides, offset).
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// Whether the elements are row-major without gaps.
    pub fn is_contiguous(&self) -> bool {
        self.inner.layout.is_contiguous()
    }

    /// Whether two tensors share storage (one is a view of the other's data).
    pub fn shares_storage(&self, other: &Tensor<E>) -> bool {
        Arc::ptr_eq(&self.inner.storage, &other.inner.storage)
    }

    /// Whether this handle is the only reference to its tensor and storage
    /// (so writing in place cannot be observed elsewhere).
    pub(crate) fn is_exclusive(&self) -> bool {
        Arc::strong_count(&self.inner) == 1 && Arc::strong_count(&self.inner.storage) == 1 && self.is_contiguous()
    }

    /// Whether two handles are the same tensor (same autograd identity).
    pub fn same(&self, other: &Tensor<E>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The elements in row-major order.
    pub fn to_vec(&self) -> Vec<E> {
        let data = self.inner.storage.read();
        match self.inner.layout.contiguous_range() {
            Some(r) => data[r].to_vec(),
            None => {
                let mut out = Vec::with_capacity(self.numel());
                self.inner.layout.for_each_offset(|o| out.push(data[o]));
                out
            }
        }
    }

    /// The elements as `f64`, row-major.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.to_vec().into_iter().map(E::f64).collect()
    }

    /// The single value of a one-element tensor.
    #[track_caller]
    pub fn item(&self) -> E {
        if self.numel() != 1 {
            panic!(
                "item: tensor of shape {:?} has {} elements, not 1 at {}",
                self.shape(),
                self.numel(),
                at(Location::caller())
            );
        }
        self.to_vec()[0]
    }

    /// Runs `f` on the storage and this tensor's layout (read-locked).
    pub(crate) fn with_data<R>(&self, f: impl FnOnce(&[E], &Layout) -> R) -> R {
        f(&self.inner.storage.read(), &self.inner.layout)
    }

    /// Runs `f` on this tensor's elements as one mutable slice, in place and
    /// unrecorded (for optimizer updates and running statistics).
    ///
    /// Panics unless the tensor is contiguous.
    #[track_caller]
    pub fn with_data_mut<R>(&self, f: impl FnOnce(&mut [E]) -> R) -> R {
        let Some(r) = self.inner.layout.contiguous_range() else {
            panic!("with_data_mut: tensor of shape {:?} is not contiguous at {}", self.shape(), at(Location::caller()));
        };
        f(&mut self.inner.storage.write()[r])
    }

    /// Overwrites this tensor's values with `src`'s (same shape), unrecorded,
    /// like `p.data.copy_(src)` in PyTorch.
    #[track_caller]
    pub fn assign(&self, src: &Tensor<E>) {
        if src.shape() != self.shape() {
            panic!("assign: shapes {:?} and {:?} differ at {}", self.shape(), src.shape(), at(Location::caller()));
        }
        let values = src.to_vec();
        let mut data = self.inner.storage.write();
        let mut it = values.into_iter();
        self.inner.layout.for_each_offset(|o| data[o] = it.next().expect("same numel"));
    }

    /// Resolves a possibly negative dimension, panicking with the op's name.
    #[track_caller]
    pub(crate) fn dim_index(&self, op: &str, dim: isize) -> usize {
        let nd = self.ndim() as isize;
        let d = if dim < 0 { dim + nd } else { dim };
        if d < 0 || d >= nd.max(1) {
            panic!(
                "{op}: dimension {dim} out of range for shape {:?} ({} dims) at {}",
                self.shape(),
                nd,
                at(Location::caller())
            );
        }
        d as usize
    }

    // ---------------------------------------------------------------- autograd state

    /// Whether gradients flow to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.inner.grad_fn.is_some() || self.inner.requires_grad.load(Ordering::Relaxed)
    }

    /// Marks a leaf as collecting gradients (builder style).
    #[track_caller]
    pub fn requires_grad_(self, on: bool) -> Self {
        self.set_requires_grad(on);
        self
    }

    /// Turns gradient collection on or off for a leaf, through every handle to it.
    #[track_caller]
    pub fn set_requires_grad(&self, on: bool) {
        if self.inner.grad_fn.is_some() {
            panic!(
                "set_requires_grad: only leaf tensors can change requires_grad; use detach() at {}",
                at(Location::caller())
            );
        }
        self.inner.requires_grad.store(on, Ordering::Relaxed);
    }

    /// Whether this tensor was created by the user rather than by a recorded op.
    pub fn is_leaf(&self) -> bool {
        self.inner.grad_fn.is_none()
    }

    /// The gradient accumulated by `backward`, if any.
    pub fn grad(&self) -> Option<Tensor<E>> {
        self.inner.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the accumulated gradient (what `p.grad = g` does in PyTorch).
    #[track_caller]
    pub fn set_grad(&self, grad: Option<Tensor<E>>) {
        if let Some(g) = &grad {
            if g.shape() != self.shape() {
                panic!(
                    "set_grad: gradient shape {:?} differs from tensor shape {:?} at {}",
                    g.shape(),
                    self.shape(),
                    at(Location::caller())
                );
            }
        }
        *self.inner.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad;
    }

    /// Clears the accumulated gradient (sets it to `None`, as PyTorch does by default).
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// The same values, cut off from the tape: no gradient flows through it.
    pub fn detach(&self) -> Tensor<E> {
        Self::from_parts(self.inner.storage.clone(), self.inner.layout.clone())
    }

    /// The name of the op that produced this tensor, if it was recorded.
    pub fn grad_fn_name(&self) -> Option<&'static str> {
        self.inner.grad_fn.as_ref().map(|n| n.name)
    }

    /// A contiguous copy when this tensor is not contiguous, else itself.
    #[track_caller]
    pub fn contiguous(&self) -> Tensor<E> {
        if self.is_contiguous() {
            self.clone()
        } else {
            crate::kernels::map(self, |v| v).record("contiguous", &[self], |_, g| smallvec::smallvec![Some(g.clone())])
        }
    }
}

// SAFETY-free: `Tensor` is Send + Sync because every field is (Arc, RwLock,
// Mutex, AtomicBool); this assertion keeps it that way.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tensor<f32>>();
    assert_send_sync::<Tensor<f64>>();
};
