//! lamina-core: tensors, the define-by-run tape, and every differentiable
//! primitive of lamina.
//!
//! A [`Tensor`] is a cheap handle on shared, strided storage. Ops on tensors
//! that require grad are recorded; [`Tensor::backward`] and [`grad`] run them
//! in reverse. Every backward rule is written with the same differentiable
//! ops, so gradients of gradients work everywhere.
//!
//! ```
//! use lamina_core::Tensor;
//! let w = Tensor::<f64>::from_vec(vec![0.5, -1.0], &[2]).requires_grad_(true);
//! let x = Tensor::<f64>::from_vec(vec![2.0, 3.0], &[2]);
//! let loss = (&w * &x).sum().tanh();
//! loss.backward();
//! println!("{}", w.grad().unwrap());
//! ```
#![deny(missing_docs)]

mod backward;
mod buffers;
mod display;
mod element;
mod function;
mod gemm;
mod gradcheck;
mod kernels;
mod layout;
mod math;
mod ops;
pub mod profile;
mod rng;
mod serialize;
mod simd;
mod tape;
mod tensor;
mod threads;

#[cfg(feature = "proptest")]
pub mod testing;

pub use backward::{grad, AutogradError, GradOptions};
pub use element::Element;
pub use function::{Function, FunctionCtx};
pub use gradcheck::{
    gradcheck, gradcheck_outputs, gradcheck_with, gradgradcheck, gradgradcheck_with, GradcheckFailure, GradcheckOptions,
};
pub use layout::{broadcast_shapes, Layout, Shape};
pub use ops::{
    cross_entropy, nll_loss, AvgPool1dOptions, AvgPool2dOptions, ClassTarget, Conv1dOptions, Conv2dOptions,
    ConvTranspose1dOptions, ConvTranspose2dOptions, CrossEntropyOptions, Fold1dOptions, Fold2dOptions, IndexTensor,
    Mask, MaxPool1dOptions, MaxPool2dOptions, NllLossOptions, PadMode, Reduction,
};
pub use rng::{default_generator_state, manual_seed, set_default_generator_state, with_default_generator, Generator};
pub use tape::{
    detect_anomaly, is_anomaly_enabled, is_grad_enabled, no_grad, no_grad_guard, set_anomaly_enabled, set_grad_enabled,
    AnomalyGuard, BackwardCtx, GradModeGuard, Grads,
};
pub use tensor::Tensor;
pub use threads::{for_each_task, num_threads, set_num_threads};
