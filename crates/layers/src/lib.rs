//! lamina-layers: The Module system and every layer type, each built from lamina-core's differentiable primitives.
//!
//! Filled by its own milestone; see the workspace README.
#![deny(missing_docs)]
