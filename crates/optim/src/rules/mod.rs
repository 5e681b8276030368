//! The update rules, one file per family.

pub mod adam;
pub mod adaptive;
pub mod lion;
pub mod sgd;
pub mod trust;
