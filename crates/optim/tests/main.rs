//! The integration tests of lamina-optim in one binary, so that CI links one
//! test program instead of one per file.

mod clip;
mod common;
mod groups;
mod optimizers;
mod properties;
mod schedulers;
mod state;
