//! Custom ops: a library user adds a primitive with its own fast kernel.
//!
//! `forward` computes on detached inputs (raw values through
//! [`Tensor::to_vec`] / [`Tensor::from_vec`], or any ops: nothing is recorded)
//! and may keep what backward needs in `self`; `backward` is written in tensor
//! ops on the attached inputs and output, so second derivatives work too.
//!
//! ```
//! use lamina_core::{gradgradcheck, Function, FunctionCtx, Tensor};
//!
//! /// x³ with a hand-written kernel.
//! struct Cube;
//! impl Function<f64> for Cube {
//!     fn forward(&mut self, x: &[Tensor<f64>]) -> Tensor<f64> {
//!         Tensor::from_vec(x[0].to_vec().iter().map(|v| v * v * v).collect(), x[0].shape())
//!     }
//!     fn backward(&self, ctx: &FunctionCtx<'_, f64>, g: &Tensor<f64>) -> Vec<Option<Tensor<f64>>> {
//!         let x = ctx.input(0);
//!         vec![Some(g * &(x.square() * 3.0))]
//!     }
//! }
//!
//! let x = Tensor::from_vec(vec![0.5, -1.5], &[2]);
//! gradgradcheck(|xs| Tensor::apply(Cube, &[&xs[0]]), &[x]).unwrap();
//! ```

use crate::tape::{no_grad, BackwardCtx};
use crate::tensor::at;
use crate::{Element, Tensor};
use std::panic::Location;

/// A user-defined differentiable op.
pub trait Function<E: Element>: Send + Sync + 'static {
    /// The op's name, shown in anomaly reports and `grad_fn_name`.
    fn name(&self) -> &'static str {
        "custom"
    }

    /// The output, from detached inputs. Runs with recording off.
    fn forward(&mut self, inputs: &[Tensor<E>]) -> Tensor<E>;

    /// One gradient per input (`None`: no gradient) from the upstream gradient
    /// `grad`, written in differentiable tensor ops.
    fn backward(&self, ctx: &FunctionCtx<'_, E>, grad: &Tensor<E>) -> Vec<Option<Tensor<E>>>;
}

/// What a custom op's backward can read: its inputs and output, attached to
/// the graph so that the backward is itself differentiable.
pub struct FunctionCtx<'a, E: Element> {
    inputs: &'a [Tensor<E>],
    output: Tensor<E>,
    tape: &'a BackwardCtx<'a, E>,
}

impl<E: Element> FunctionCtx<'_, E> {
    /// Input `i` as passed to [`Tensor::apply`].
    pub fn input(&self, i: usize) -> &Tensor<E> {
        &self.inputs[i]
    }

    /// The op's output.
    pub fn output(&self) -> &Tensor<E> {
        &self.output
    }

    /// Whether input `i` needs a gradient.
    pub fn needs(&self, i: usize) -> bool {
        self.tape.needs(i)
    }
}

impl<E: Element> Tensor<E> {
    /// Runs a custom op on `inputs` and records it.
    #[track_caller]
    pub fn apply(mut op: impl Function<E>, inputs: &[&Tensor<E>]) -> Tensor<E> {
        let detached: Vec<Tensor<E>> = inputs.iter().map(|t| t.detach()).collect();
        let out = no_grad(|| op.forward(&detached));
        // A fresh handle: the op may have returned one of its inputs or a view.
        let out = out.detach();
        let saved_out = out.detach();
        let attached: Vec<Tensor<E>> = inputs.iter().map(|&t| t.clone()).collect();
        let (name, n, loc) = (op.name(), inputs.len(), Location::caller());
        out.record(name, inputs, move |tape, g| {
            let ctx = FunctionCtx { inputs: &attached, output: tape.output(&saved_out), tape };
            let grads = op.backward(&ctx, g);
            if grads.len() != n {
                panic!(
                    "{name}: backward returned {} gradients for {n} inputs (op applied at {})",
                    grads.len(),
                    at(loc)
                );
            }
            grads.into_iter().collect()
        })
    }
}
