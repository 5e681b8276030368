//! lamina-init: Initialisation schemes (Xavier, Kaiming, orthogonal, ...) and PyTorch's default initialisation of every layer.
//!
//! Filled by its own milestone; see the workspace README.
#![deny(missing_docs)]
