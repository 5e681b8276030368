//! Every differentiable primitive, one file per family. Each op's forward and
//! backward stand side by side; backward rules use the same differentiable
//! ops, so every op has second derivatives.

mod binary;
mod compare;
mod conv;
mod index;
mod linalg;
mod nn;
mod pool;
mod reduce;
mod shape;
mod softmax;
mod unary;

pub use compare::Mask;
pub use index::IndexTensor;
pub use shape::PadMode;
