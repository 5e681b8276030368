//! The integration tests of lamina-core in one binary, so that CI links one
//! test program instead of one per file. Files that reseed the global
//! generator and compare draws stay binaries of their own, where no other
//! test draws in between.

mod anomaly;
mod binary;
mod compare;
mod conv;
mod elementwise;
mod function;
mod fused;
mod index;
mod linalg;
mod nn_support;
mod op_support;
mod pool;
mod reduce;
mod second_order;
mod shape;
mod softmax;
mod tape;
mod test_support;
mod unary;
