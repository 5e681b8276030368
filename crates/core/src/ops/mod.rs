//! Every differentiable primitive, one file per family. Each op's forward and
//! backward stand side by side; backward rules use the same differentiable
//! ops, so every op has second derivatives.

mod binary;
mod compare;
mod conv;
mod index;
mod linalg;
mod nn;
mod norm;
mod pool;
mod recurrent;
mod reduce;
mod shape;
mod softmax;
mod unary;

pub use compare::Mask;
pub use conv::{
    Conv1dOptions, Conv2dOptions, ConvTranspose1dOptions, ConvTranspose2dOptions, Fold1dOptions, Fold2dOptions,
};
pub use index::IndexTensor;
pub use pool::{AvgPool1dOptions, AvgPool2dOptions, MaxPool1dOptions, MaxPool2dOptions};
pub use shape::PadMode;
pub use softmax::{cross_entropy, nll_loss, ClassTarget, CrossEntropyOptions, NllLossOptions, Reduction};
