//! The tape: nodes recorded by ops, grad mode, and gradient hooks.
//!
//! An op that runs on a tensor requiring grad records a [`Node`]: its name, a
//! sequence number, one edge per input (to the input's node, or to the leaf it
//! accumulates into), and a backward closure holding its saved tensors. The
//! backward closure is written with the same differentiable ops as the forward,
//! so with `create_graph` the backward pass is itself recorded.

use crate::layout::Shape;
use crate::profile::{scope, Family};
use crate::tensor::{at, Inner};
use crate::{Element, Tensor};
use smallvec::SmallVec;
use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Gradients a backward rule returns, one per input (`None`: no gradient).
pub type Grads<E> = SmallVec<[Option<Tensor<E>>; 2]>;

/// A backward rule: the context and the gradient of the op's output in,
/// one gradient per input out.
pub(crate) type BackwardFn<E> = Box<dyn Fn(&BackwardCtx<'_, E>, &Tensor<E>) -> Grads<E> + Send + Sync>;

/// A gradient hook: sees a gradient and may replace it.
pub(crate) type GradHook<E> = Box<dyn Fn(&Tensor<E>) -> Option<Tensor<E>> + Send + Sync>;

/// The hooks of a node or a leaf. A backward pass asks every node for its
/// hooks and almost none has any, so a flag read without locking says
/// whether there are any (locking costs two atomic writes a node).
pub(crate) struct Hooks<E: Element> {
    any: AtomicBool,
    list: Mutex<Vec<GradHook<E>>>,
}

impl<E: Element> Hooks<E> {
    pub(crate) const fn new() -> Hooks<E> {
        Hooks { any: AtomicBool::new(false), list: Mutex::new(Vec::new()) }
    }

    fn push(&self, hook: GradHook<E>) {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).push(hook);
        self.any.store(true, Ordering::Release);
    }

    /// Whether no hook is registered.
    pub(crate) fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// `g` passed through every hook in the order registered, each seeing
    /// the previous one's result.
    pub(crate) fn apply(&self, mut g: Tensor<E>) -> Tensor<E> {
        if self.is_empty() {
            return g;
        }
        for h in self.list.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if let Some(new) = h(&g) {
                g = new;
            }
        }
        g
    }
}

pub(crate) enum Edge<E: Element> {
    /// The input was produced by this node.
    Node(Arc<Node<E>>),
    /// The input is a leaf that collects a gradient.
    Leaf(Tensor<E>),
}

/// One recorded op.
pub(crate) struct Node<E: Element> {
    pub(crate) seq: u64,
    pub(crate) name: &'static str,
    pub(crate) location: &'static Location<'static>,
    /// Shape of the op's output: the shape its incoming gradient must have.
    pub(crate) shape: Shape,
    pub(crate) edges: SmallVec<[Option<Edge<E>>; 2]>,
    /// Taken (freeing the saved tensors) once run, unless the graph is retained.
    pub(crate) backward: Mutex<Option<BackwardFn<E>>>,
    pub(crate) hooks: Hooks<E>,
    /// The output tensor, when it keeps its gradient (`retain_grad`); weak, so
    /// the node does not keep its own output alive.
    pub(crate) retained: OnceLock<Weak<Inner<E>>>,
    /// The inputs' shapes, kept only for nodes recorded in anomaly mode.
    pub(crate) input_shapes: Option<Box<[Shape]>>,
    /// The gradient accumulated for this node's output during a backward pass.
    pub(crate) pending: Mutex<Option<Tensor<E>>>,
}

impl<E: Element> Drop for Node<E> {
    /// Frees a chain of nodes iteratively, so a graph thousands of ops deep
    /// cannot overflow the stack.
    fn drop(&mut self) {
        let _profile = scope(Family::Tape);
        self.backward.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        let mut stack: Vec<Arc<Node<E>>> = Vec::new();
        let push_edges = |edges: &mut SmallVec<[Option<Edge<E>>; 2]>, stack: &mut Vec<Arc<Node<E>>>| {
            for e in edges.drain(..) {
                if let Some(Edge::Node(n)) = e {
                    stack.push(n);
                }
            }
        };
        push_edges(&mut self.edges, &mut stack);
        while let Some(n) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(n) {
                node.backward.get_mut().unwrap_or_else(|e| e.into_inner()).take();
                push_edges(&mut node.edges, &mut stack);
            }
        }
    }
}

/// What a backward rule can ask about the op it differentiates.
pub struct BackwardCtx<'a, E: Element> {
    pub(crate) node: &'a Arc<Node<E>>,
    /// Gradients of a slice of an input, added in place into that input's
    /// accumulated gradient by the engine (see [`SliceGrad`]).
    pub(crate) slices: std::cell::RefCell<Vec<SliceGrad<E>>>,
}

/// The gradient of a view `input.slice(dim, start, .., step)`: the engine adds
/// it into the matching region of the input's gradient, so a tensor cut into
/// `n` slices costs one buffer, not `n` zero-padded copies of it.
pub(crate) struct SliceGrad<E: Element> {
    pub(crate) input: usize,
    pub(crate) grad: Tensor<E>,
    pub(crate) dim: usize,
    pub(crate) start: usize,
    pub(crate) step: usize,
}

impl<E: Element> BackwardCtx<'_, E> {
    /// Whether input `i` needs a gradient (skip computing it otherwise).
    pub fn needs(&self, i: usize) -> bool {
        self.node.edges.get(i).is_some_and(|e| e.is_some())
    }

    /// Hands the engine `grad` as the gradient of the slice `(dim, start,
    /// step)` of input `input`, when the backward is not itself recorded (a
    /// recorded backward needs the differentiable zero-padded form).
    pub(crate) fn add_to_slice(&self, input: usize, grad: &Tensor<E>, dim: usize, start: usize, step: usize) -> bool {
        if is_grad_enabled() {
            return false;
        }
        self.slices.borrow_mut().push(SliceGrad { input, grad: grad.clone(), dim, start, step });
        true
    }

    /// Re-attaches the op's own saved output (saved detached, to avoid a
    /// cycle) to this node, so a backward that uses the output is itself
    /// differentiable under `create_graph`.
    pub fn output(&self, saved: &Tensor<E>) -> Tensor<E> {
        if is_grad_enabled() {
            let mut t = saved.detach();
            Arc::get_mut(&mut t.inner).expect("fresh handle").grad_fn = Some(self.node.clone());
            t
        } else {
            saved.clone()
        }
    }
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
}

/// Whether anomaly mode is on for this thread.
pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(|a| a.get())
}

/// Restores the previous anomaly mode when dropped.
#[must_use = "anomaly mode is restored when the guard is dropped"]
pub struct AnomalyGuard {
    prev: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for AnomalyGuard {
    fn drop(&mut self) {
        ANOMALY.with(|a| a.set(self.prev));
    }
}

/// Turns anomaly mode on or off on this thread until the guard is dropped.
///
/// In anomaly mode every op checks its output, and every backward rule its
/// gradients, for NaN and infinity, and reports the first offender with its
/// name, its inputs' shapes and the caller's line. Off by default: when off it
/// costs one thread-local read per op.
pub fn set_anomaly_enabled(on: bool) -> AnomalyGuard {
    let prev = ANOMALY.with(|a| a.replace(on));
    AnomalyGuard { prev, _not_send: PhantomData }
}

/// Runs `f` in anomaly mode.
///
/// ```should_panic
/// use lamina_core::{detect_anomaly, Tensor};
/// let x = Tensor::<f64>::zeros(&[2]);
/// detect_anomaly(|| x.log()); // panics: "anomaly: `log` produced -inf ..."
/// ```
pub fn detect_anomaly<R>(f: impl FnOnce() -> R) -> R {
    let _g = set_anomaly_enabled(true);
    f()
}

/// The first non-finite value of `t`, if any.
pub(crate) fn first_non_finite<E: Element>(t: &Tensor<E>) -> Option<E> {
    t.to_vec().into_iter().find(|v| !v.is_finite())
}

/// Whether ops on this thread are recorded.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Restores the previous grad mode when dropped. Not `Send`: grad mode is per thread.
#[must_use = "grad mode is restored when the guard is dropped"]
pub struct GradModeGuard {
    prev: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// Turns recording on or off on this thread until the guard is dropped.
pub fn set_grad_enabled(on: bool) -> GradModeGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(on));
    GradModeGuard { prev, _not_send: PhantomData }
}

/// A guard under which nothing is recorded and nothing is saved.
///
/// ```
/// use lamina_core::{no_grad_guard, Tensor};
/// let w = Tensor::<f32>::ones(&[2]).requires_grad_(true);
/// let _g = no_grad_guard();
/// assert!(!(&w * 2.0).requires_grad());
/// ```
pub fn no_grad_guard() -> GradModeGuard {
    set_grad_enabled(false)
}

/// Runs `f` with recording off.
///
/// ```
/// use lamina_core::{no_grad, Tensor};
/// let w = Tensor::<f32>::ones(&[2]).requires_grad_(true);
/// assert!(!no_grad(|| w.exp()).requires_grad());
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = no_grad_guard();
    f()
}

impl<E: Element> Tensor<E> {
    /// The edge by which a gradient reaches this tensor, if one should.
    pub(crate) fn edge(&self) -> Option<Edge<E>> {
        match &self.inner.grad_fn {
            Some(n) => Some(Edge::Node(n.clone())),
            None if self.requires_grad() => Some(Edge::Leaf(self.clone())),
            None => None,
        }
    }

    /// Records `self` (a fresh, unrecorded result) as the output of op `name`
    /// applied to `inputs`, with `backward` as its derivative rule. Records
    /// nothing when grad mode is off or no input requires grad.
    #[track_caller]
    pub(crate) fn record(
        mut self,
        name: &'static str,
        inputs: &[&Tensor<E>],
        backward: impl Fn(&BackwardCtx<'_, E>, &Tensor<E>) -> Grads<E> + Send + Sync + 'static,
    ) -> Tensor<E> {
        let anomaly = is_anomaly_enabled();
        if anomaly {
            if let Some(v) = first_non_finite(&self) {
                let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
                panic!("anomaly: `{name}` produced {v} (inputs of shapes {shapes:?}) at {}", at(Location::caller()));
            }
        }
        if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return self;
        }
        let _profile = scope(Family::Tape);
        let node = Node {
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
            name,
            location: Location::caller(),
            shape: self.shape().into(),
            edges: inputs.iter().map(|t| t.edge()).collect(),
            backward: Mutex::new(Some(Box::new(backward))),
            hooks: Hooks::new(),
            retained: OnceLock::new(),
            input_shapes: anomaly.then(|| inputs.iter().map(|t| t.shape().into()).collect()),
            pending: Mutex::new(None),
        };
        let inner = Arc::get_mut(&mut self.inner).expect("record: output must be a fresh tensor");
        inner.grad_fn = Some(Arc::new(node));
        self
    }

    /// Registers a hook that sees this tensor's gradient during backward and
    /// may replace it (return `Some(new)`), like `Tensor.register_hook`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::ones(&[2]).requires_grad_(true);
    /// x.register_hook(|g| Some(g * 10.0));
    /// x.sum().backward();
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![10.0, 10.0]);
    /// ```
    #[track_caller]
    pub fn register_hook(&self, hook: impl Fn(&Tensor<E>) -> Option<Tensor<E>> + Send + Sync + 'static) {
        let hooks = match &self.inner.grad_fn {
            Some(node) => &node.hooks,
            None if self.requires_grad() => &self.inner.hooks,
            None => panic!(
                "register_hook: tensor of shape {:?} does not require grad at {}",
                self.shape(),
                at(Location::caller())
            ),
        };
        hooks.push(Box::new(hook));
    }

    /// Keeps the gradient of a non-leaf tensor in `.grad()` after backward.
    /// As in PyTorch, it stores the gradient after every hook has run.
    pub fn retain_grad(&self) {
        if let Some(node) = &self.inner.grad_fn {
            // A node has one output, so a second call would store the same.
            node.retained.get_or_init(|| Arc::downgrade(&self.inner));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{GradOptions, Tensor};
    use std::sync::Arc;

    #[test]
    fn saved_tensors_are_freed_once_their_node_has_run() {
        let x = Tensor::<f64>::ones(&[3]).requires_grad_(true);
        let y = x.exp().sum();
        let exp_node = y.inner.grad_fn.as_ref().unwrap().edges[0].as_ref().map(|e| match e {
            super::Edge::Node(n) => n.clone(),
            super::Edge::Leaf(_) => unreachable!("exp's output is not a leaf"),
        });
        let exp_node = exp_node.unwrap();
        assert!(exp_node.backward.lock().unwrap().is_some());
        y.backward_with(None, GradOptions { retain_graph: true, ..Default::default() }).unwrap();
        assert!(exp_node.backward.lock().unwrap().is_some(), "retained");
        y.backward();
        assert!(exp_node.backward.lock().unwrap().is_none(), "freed after running");
    }

    #[test]
    fn dropping_the_outputs_releases_the_graph() {
        let x = Tensor::<f64>::ones(&[3]).requires_grad_(true);
        let h = x.exp();
        let storage = Arc::downgrade(&h.inner.storage);
        let y = h.tanh().sum();
        let node = Arc::downgrade(y.inner.grad_fn.as_ref().unwrap());
        drop(h);
        assert!(storage.upgrade().is_some(), "saved by tanh's node");
        drop(y);
        assert!(node.upgrade().is_none() && storage.upgrade().is_none());
    }
}
