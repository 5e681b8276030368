//! The integration tests of lamina-init in one binary, so that CI links one
//! test program instead of one per file. Files that reseed the global
//! generator and compare draws stay binaries of their own, where no other
//! test draws in between.

mod common;
mod defaults;
mod fans;
mod lsuv;
mod schemes;
mod special;
