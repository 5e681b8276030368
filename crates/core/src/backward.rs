//! Reverse-mode execution: `backward` and the functional [`grad`].
//!
//! Nodes are visited in decreasing sequence number, a topological order of the
//! recorded graph (every node was recorded after its inputs' nodes).

use crate::profile::{scope, Family};
use crate::tape::{
    first_non_finite, is_anomaly_enabled, is_grad_enabled, set_anomaly_enabled, set_grad_enabled, BackwardCtx, Edge,
    Node, SliceGrad,
};
use crate::tensor::at;
use crate::{Element, Tensor};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::panic::Location;
use std::sync::{Arc, Weak};

/// Options of [`grad`] and [`Tensor::backward_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct GradOptions {
    /// Keep saved tensors so the graph can be differentiated again.
    pub retain_graph: bool,
    /// Record the backward pass, so the gradients are themselves differentiable.
    /// Implies `retain_graph`.
    pub create_graph: bool,
    /// Return `None` for an input the outputs do not depend on, instead of an error.
    pub allow_unused: bool,
}

impl GradOptions {
    /// Options for a gradient that will be differentiated again.
    pub fn create_graph() -> Self {
        GradOptions { retain_graph: true, create_graph: true, allow_unused: false }
    }
}

/// Why a backward pass could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutogradError {
    /// The graph was already differentiated and its saved tensors freed.
    GraphFreed {
        /// The op whose saved tensors are gone.
        op: &'static str,
        /// Where that op was called.
        location: String,
    },
    /// An input of [`grad`] does not require grad.
    InputDoesNotRequireGrad {
        /// Its position in `inputs`.
        index: usize,
    },
    /// An input of [`grad`] was not used to compute the outputs.
    UnusedInput {
        /// Its position in `inputs`.
        index: usize,
    },
    /// An output does not require grad, so there is nothing to differentiate.
    OutputDoesNotRequireGrad {
        /// Its position in `outputs`.
        index: usize,
    },
    /// Anomaly mode found a NaN or infinity in a gradient computed by backward.
    Anomaly {
        /// The op whose backward rule produced it.
        op: &'static str,
        /// Where that op was called.
        location: String,
        /// The shapes of the op's inputs.
        input_shapes: Vec<Vec<usize>>,
        /// Which input's gradient is not finite.
        input: usize,
        /// The offending value, printed.
        value: String,
    },
    /// An upstream gradient's shape differs from its output's.
    GradShape {
        /// The output's shape.
        output: Vec<usize>,
        /// The upstream gradient's shape.
        grad: Vec<usize>,
    },
}

impl fmt::Display for AutogradError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutogradError::GraphFreed { op, location } => write!(
                f,
                "backward: trying to differentiate through the graph a second time, but the saved tensors of \
                 `{op}` (recorded at {location}) were freed; pass retain_graph: true the first time"
            ),
            AutogradError::InputDoesNotRequireGrad { index } => {
                write!(f, "grad: input {index} does not require grad")
            }
            AutogradError::UnusedInput { index } => write!(
                f,
                "grad: input {index} was not used to compute the outputs; pass allow_unused: true to get None"
            ),
            AutogradError::OutputDoesNotRequireGrad { index } => {
                write!(f, "backward: output {index} does not require grad and has no grad_fn")
            }
            AutogradError::Anomaly { op, location, input_shapes, input, value } => write!(
                f,
                "anomaly: backward of `{op}` (inputs of shapes {input_shapes:?}, recorded at {location}) \
                 produced {value} in the gradient of input {input}"
            ),
            AutogradError::GradShape { output, grad } => {
                write!(f, "backward: upstream gradient of shape {grad:?} for an output of shape {output:?}")
            }
        }
    }
}

impl std::error::Error for AutogradError {}

/// A node ordered by sequence number, for the max-heap.
struct BySeq<E: Element>(Arc<Node<E>>);

impl<E: Element> PartialEq for BySeq<E> {
    fn eq(&self, o: &Self) -> bool {
        self.0.seq == o.0.seq
    }
}
impl<E: Element> Eq for BySeq<E> {}
impl<E: Element> PartialOrd for BySeq<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E: Element> Ord for BySeq<E> {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.seq.cmp(&o.0.seq)
    }
}

/// Adds `g` to an accumulated gradient. Outside a recorded backward, an
/// accumulator no one else holds is updated in place (no allocation).
fn add_into<E: Element>(slot: &mut Option<Tensor<E>>, g: Tensor<E>) {
    *slot = Some(match slot.take() {
        Some(prev) if !is_grad_enabled() && prev.is_exclusive() && prev.shape() == g.shape() => {
            g.with_data(|gd, gl| {
                prev.with_data_mut(|d| match gl.contiguous_range() {
                    Some(r) => d.iter_mut().zip(&gd[r]).for_each(|(a, &b)| *a = *a + b),
                    None => {
                        let mut i = 0;
                        gl.for_each_offset(|o| {
                            d[i] = d[i] + gd[o];
                            i += 1;
                        });
                    }
                })
            });
            prev
        }
        Some(prev) => &prev + &g,
        None => g,
    });
}

/// The traversal: where gradients are going and where they are collected.
struct Pass<'a, E: Element> {
    heap: BinaryHeap<BySeq<E>>,
    /// `None`: accumulate into leaves' `.grad()`; `Some`: collect for these targets only.
    targets: Option<&'a [&'a Tensor<E>]>,
    results: Vec<Option<Tensor<E>>>,
}

impl<E: Element> Pass<'_, E> {
    fn send(&mut self, edge: &Edge<E>, g: Tensor<E>) {
        match edge {
            Edge::Node(n) => {
                let mut pending = n.pending.lock().unwrap_or_else(|e| e.into_inner());
                if pending.is_none() {
                    self.heap.push(BySeq(n.clone()));
                }
                add_into(&mut pending, g);
            }
            Edge::Leaf(t) => match self.targets {
                Some(targets) => {
                    if let Some(i) = targets.iter().position(|x| x.same(t)) {
                        add_into(&mut self.results[i], g);
                    }
                }
                None => {
                    let mut g = t.inner.hooks.apply(g);
                    // As PyTorch's gradient layout contract: a contiguous leaf
                    // gets a contiguous gradient, so optimizers read it in place.
                    if !g.is_contiguous() && t.is_contiguous() {
                        g = g.contiguous();
                    }
                    add_into(&mut t.inner.grad.lock().unwrap_or_else(|e| e.into_inner()), g);
                }
            },
        }
    }

    /// Adds a slice's gradient into the region it came from of its input's
    /// pending gradient, in place; so does a leaf collecting into `.grad()`
    /// without hooks (a weight cut into parts, as attention's `in_proj`).
    /// Other leaves take it zero-padded, whole.
    fn send_slice(&mut self, edge: &Edge<E>, s: SliceGrad<E>) {
        let slot = match edge {
            Edge::Node(n) => &n.pending,
            Edge::Leaf(t) if self.targets.is_none() && t.inner.hooks.is_empty() => &t.inner.grad,
            Edge::Leaf(t) => {
                let whole = s.grad.slice_backward(t.shape(), s.dim, s.start, s.step);
                return self.send(edge, whole);
            }
        };
        let mut pending = slot.lock().unwrap_or_else(|e| e.into_inner());
        let acc = match pending.take() {
            Some(p) if p.is_exclusive() => p,
            Some(p) => Tensor::from_vec(p.to_vec(), p.shape()),
            None => {
                if let Edge::Node(n) = edge {
                    self.heap.push(BySeq(n.clone()));
                }
                Tensor::zeros(edge_shape(edge))
            }
        };
        acc.add_at_slice(&s.grad, s.dim, s.start, s.step);
        *pending = Some(acc);
    }

    fn run(&mut self, retain: bool) -> Result<(), AutogradError> {
        let _profile = scope(Family::Tape);
        while let Some(BySeq(node)) = self.heap.pop() {
            let g =
                node.pending.lock().unwrap_or_else(|e| e.into_inner()).take().expect("queued nodes have a gradient");
            let g = node.hooks.apply(g);
            if let Some(inner) = node.retained.get().and_then(Weak::upgrade) {
                add_into(&mut inner.grad.lock().unwrap_or_else(|e| e.into_inner()), g.clone());
            }
            if let Some(targets) = self.targets {
                for (i, t) in targets.iter().enumerate() {
                    if t.inner.grad_fn.as_ref().is_some_and(|n| Arc::ptr_eq(n, &node)) {
                        add_into(&mut self.results[i], g.clone());
                    }
                }
            }
            let anomaly = is_anomaly_enabled();
            let ctx = BackwardCtx { node: &node, slices: Default::default() };
            let grads = {
                // Ops inside a backward rule are judged by the rule's result below.
                let _quiet = set_anomaly_enabled(false);
                let mut slot = node.backward.lock().unwrap_or_else(|e| e.into_inner());
                let f = if retain { slot.as_ref() } else { None };
                match f {
                    Some(f) => f(&ctx, &g),
                    None => match slot.take() {
                        Some(f) => {
                            drop(slot);
                            f(&ctx, &g)
                        }
                        None => return Err(AutogradError::GraphFreed { op: node.name, location: at(node.location) }),
                    },
                }
            };
            for s in ctx.slices.into_inner() {
                if let Some(edge) = &node.edges[s.input] {
                    self.send_slice(edge, s);
                }
            }
            if anomaly {
                check_gradients(&node, &grads)?;
            }
            for (edge, grad) in node.edges.iter().zip(grads) {
                if let (Some(edge), Some(grad)) = (edge, grad) {
                    assert_eq!(
                        grad.shape(),
                        edge_shape(edge),
                        "backward of `{}` (recorded at {}) returned a gradient of the wrong shape",
                        node.name,
                        at(node.location)
                    );
                    self.send(edge, grad);
                }
            }
        }
        Ok(())
    }
}

/// The shape of the tensor an edge leads to.
fn edge_shape<E: Element>(edge: &Edge<E>) -> &[usize] {
    match edge {
        Edge::Node(n) => &n.shape,
        Edge::Leaf(t) => t.shape(),
    }
}

/// The anomaly-mode check of one backward rule's results.
fn check_gradients<E: Element>(node: &Node<E>, grads: &[Option<Tensor<E>>]) -> Result<(), AutogradError> {
    for (input, g) in grads.iter().enumerate() {
        if let Some(v) = g.as_ref().and_then(first_non_finite) {
            return Err(AutogradError::Anomaly {
                op: node.name,
                location: at(node.location),
                input_shapes: match &node.input_shapes {
                    Some(shapes) => shapes.iter().map(|s| s.to_vec()).collect(),
                    // Recorded outside anomaly mode: the shapes the edges know.
                    None => node.edges.iter().flatten().map(|e| edge_shape(e).to_vec()).collect(),
                },
                input,
                value: v.to_string(),
            });
        }
    }
    Ok(())
}

fn execute<E: Element>(
    outputs: &[&Tensor<E>],
    grad_outputs: Option<&[&Tensor<E>]>,
    targets: Option<&[&Tensor<E>]>,
    opts: GradOptions,
) -> Result<Vec<Option<Tensor<E>>>, AutogradError> {
    let _mode = set_grad_enabled(opts.create_graph);
    let mut pass = Pass { heap: BinaryHeap::new(), targets, results: vec![None; targets.map_or(0, |t| t.len())] };
    for (i, out) in outputs.iter().enumerate() {
        let g = match grad_outputs {
            Some(gs) => {
                if gs[i].shape() != out.shape() {
                    return Err(AutogradError::GradShape {
                        output: out.shape().to_vec(),
                        grad: gs[i].shape().to_vec(),
                    });
                }
                gs[i].clone()
            }
            None => out.ones_like(),
        };
        let edge = out.edge().ok_or(AutogradError::OutputDoesNotRequireGrad { index: i })?;
        pass.send(&edge, g);
    }
    pass.run(opts.retain_graph || opts.create_graph)?;
    Ok(pass.results)
}

/// The gradients of `outputs` with respect to `inputs`, like `torch.autograd.grad`;
/// `.grad()` of leaves is left untouched. `grad_outputs` (one per output, default
/// ones) seeds the vector-Jacobian product.
///
/// ```
/// use lamina_core::{grad, GradOptions, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![3.0], &[1]).requires_grad_(true);
/// let y = &x * &x * &x;
/// let dy = grad(&[&y], &[&x], None, GradOptions::create_graph()).unwrap();
/// let dy = dy[0].clone().unwrap();
/// assert_eq!(dy.to_vec(), vec![27.0]);
/// let d2y = grad(&[&dy], &[&x], None, GradOptions::default()).unwrap();
/// assert_eq!(d2y[0].as_ref().unwrap().to_vec(), vec![18.0]);
/// ```
pub fn grad<E: Element>(
    outputs: &[&Tensor<E>],
    inputs: &[&Tensor<E>],
    grad_outputs: Option<&[&Tensor<E>]>,
    opts: GradOptions,
) -> Result<Vec<Option<Tensor<E>>>, AutogradError> {
    if let Some(i) = inputs.iter().position(|t| !t.requires_grad()) {
        return Err(AutogradError::InputDoesNotRequireGrad { index: i });
    }
    let results = execute(outputs, grad_outputs, Some(inputs), opts)?;
    if !opts.allow_unused {
        if let Some(i) = results.iter().position(|r| r.is_none()) {
            return Err(AutogradError::UnusedInput { index: i });
        }
    }
    Ok(results)
}

impl<E: Element> Tensor<E> {
    /// Accumulates d(self)/d(leaf) into every leaf's `.grad()`. `self` must hold
    /// one element (for others use [`backward_with`](Self::backward_with)).
    /// Frees the graph's saved tensors.
    #[track_caller]
    pub fn backward(&self) {
        if self.numel() != 1 {
            panic!(
                "backward: output of shape {:?} is not a scalar; pass an upstream gradient to backward_with at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        if let Err(e) = self.backward_with(None, GradOptions::default()) {
            panic!("{e} (called at {})", at(Location::caller()));
        }
    }

    /// Backward with an explicit upstream gradient (default ones) and options.
    pub fn backward_with(&self, grad: Option<&Tensor<E>>, opts: GradOptions) -> Result<(), AutogradError> {
        let seeds = grad.map(|g| [g]);
        execute(&[self], seeds.as_ref().map(|s| &s[..]), None, opts).map(|_| ())
    }
}
