//! lamina-optim: Optimizers with parameter groups, learning-rate schedulers and gradient clipping.
//!
//! Filled by its own milestone; see the workspace README.
#![deny(missing_docs)]
