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
