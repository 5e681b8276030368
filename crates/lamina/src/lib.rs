//! lamina: a define-by-run autograd engine and neural-network library for
//! Rust that computes exactly what PyTorch computes.
//!
//! This is the crate to depend on; it re-exports the workspace's crates and a
//! [`prelude`].
//!
//! ```
//! use lamina::prelude::*;
//! let w = Tensor::<f64>::randn(&[3, 2]).requires_grad_(true);
//! let x = Tensor::<f64>::ones(&[4, 3]);
//! x.matmul(&w).tanh().sum().backward();
//! assert_eq!(w.grad().unwrap().shape(), &[3, 2]);
//! ```
#![deny(missing_docs)]

pub mod checkpoint;

pub use lamina_core as core;
pub use lamina_init as init;
pub use lamina_layers as layers;
pub use lamina_optim as optim;

pub mod data;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctest;

/// The names most programs need, in one import.
pub mod prelude {
    pub use lamina_core::{
        grad, gradcheck, gradgradcheck, manual_seed, no_grad, no_grad_guard, Element, GradOptions, IndexTensor, Mask,
        Tensor,
    };
}

/// The guide's chapters (docs/src), compiled and run as doctests so that
/// every Rust block in the book builds and passes.
#[cfg(doctest)]
mod guide_doctests {
    #[doc = include_str!("../../../docs/src/introduction.md")]
    pub struct Introduction;
    #[doc = include_str!("../../../docs/src/installation.md")]
    pub struct Installation;
    #[doc = include_str!("../../../docs/src/tensors-and-tape.md")]
    pub struct TensorsAndTape;
    #[doc = include_str!("../../../docs/src/autograd.md")]
    pub struct Autograd;
    #[doc = include_str!("../../../docs/src/layers.md")]
    pub struct Layers;
    #[doc = include_str!("../../../docs/src/layers-recurrent.md")]
    pub struct LayersRecurrent;
    #[doc = include_str!("../../../docs/src/layers-attention.md")]
    pub struct LayersAttention;
    #[doc = include_str!("../../../docs/src/custom-layer.md")]
    pub struct CustomLayer;
    #[doc = include_str!("../../../docs/src/initialisation.md")]
    pub struct Initialisation;
    #[doc = include_str!("../../../docs/src/optimisation.md")]
    pub struct Optimisation;
    #[doc = include_str!("../../../docs/src/porting-from-pytorch.md")]
    pub struct PortingFromPytorch;
    #[doc = include_str!("../../../docs/src/performance.md")]
    pub struct Performance;
    #[doc = include_str!("../../../docs/src/checkpoints.md")]
    pub struct Checkpoints;
    #[doc = include_str!("../../../docs/src/layer-analysis.md")]
    pub struct LayerAnalysis;
}
