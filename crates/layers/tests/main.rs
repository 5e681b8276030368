//! The integration tests of lamina-layers in one binary, so that CI links one
//! test program instead of one per file. Files that reseed the global
//! generator and compare draws stay binaries of their own, where no other
//! test draws in between.

mod activation;
mod attention;
mod blocks;
mod common;
mod conv;
mod embedding;
mod linear;
mod loss;
mod lsuv;
mod module;
mod norm;
mod pool;
mod rnn;
mod transformer;
