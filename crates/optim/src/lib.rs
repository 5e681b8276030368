//! lamina-optim: optimizers with parameter groups, learning-rate schedulers
//! and gradient clipping, computing what `torch.optim` computes.
//!
//! An [`Optimizer`] applies an update [`Rule`] ([`Sgd`], [`Adam`], [`AdamW`],
//! [`Rmsprop`], [`Adagrad`], [`Adadelta`], [`Adamax`], [`NAdam`], [`RAdam`],
//! and [`Lion`], [`Lamb`], [`Lars`], which PyTorch lacks) to groups of named
//! parameters, each group with its own options. It takes parameters as
//! `(name, tensor)` pairs (what a module's `named_parameters` gives), keeps
//! state per parameter name, and updates parameters in place, unrecorded.
//! Schedulers ([`StepLR`], [`CosineAnnealingLR`], [`OneCycleLR`], ...) set
//! the groups' learning rates through [`ScheduleTarget`]; clipping functions
//! ([`clip_grad_norm`], ...) work on the gradients before `step`.
//!
//! ```
//! use lamina_core::Tensor;
//! use lamina_optim::{clip_grad_norm, AdamW, CosineAnnealingLR, GroupSpec, LrScheduler, Optimizer};
//! let w = Tensor::<f32>::from_vec(vec![1.0, -1.0, 0.5, 2.0], &[2, 2]).requires_grad_(true);
//! let b = Tensor::<f32>::zeros(&[2]).requires_grad_(true);
//! let params = vec![("fc.weight".to_string(), w.clone()), ("fc.bias".to_string(), b.clone())];
//! // No weight decay on biases.
//! let mut opt = Optimizer::with_groups(
//!     params,
//!     AdamW { lr: 1e-2, ..AdamW::default() },
//!     &[GroupSpec::matching(["*.bias"]).weight_decay(0.0)],
//! )
//! .unwrap();
//! let mut sched = CosineAnnealingLR::new(&mut opt, 100, 0.0);
//! for _ in 0..10 {
//!     opt.zero_grad();
//!     let x = Tensor::<f32>::ones(&[3, 2]);
//!     let loss = (x.matmul(&w) + &b).square().mean();
//!     loss.backward();
//!     clip_grad_norm(opt.params(), 1.0, 2.0, false).unwrap();
//!     opt.step();
//!     sched.step(&mut opt);
//! }
//! ```
#![deny(missing_docs)]

mod clip;
mod error;
mod groups;
mod hyper;
mod optimizer;
mod rule;
mod rules;
mod scheduler;

pub use clip::{adaptive_clip_grad, clip_grad_norm, clip_grad_value, grad_norms, total_grad_norm, vector_norm};
pub use error::OptimError;
pub use groups::{glob_match, GroupSpec};
pub use hyper::{HyperValue, Hyperparameters};
pub use optimizer::{
    optimizer_by_name, AnyOptimizer, GroupState, Optimizer, OptimizerState, ParamGroup, SavedParamState,
};
pub use rule::{ParamState, Rule};
pub use rules::adam::{Adam, AdamW, Adamax, NAdam, RAdam};
pub use rules::adaptive::{Adadelta, Adagrad, Rmsprop};
pub use rules::lion::Lion;
pub use rules::sgd::Sgd;
pub use rules::trust::{Lamb, Lars};
pub use scheduler::{
    with_linear_warmup, AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
    CyclicLR, CyclicLRConfig, CyclicMode, ExponentialLR, LambdaLR, LinearLR, LrLambda, LrScheduler, MultiStepLR,
    MultiplicativeLR, OneCycleLR, OneCycleLRConfig, PerGroup, PlateauMode, PolynomialLR, ReduceLROnPlateau,
    ReduceLROnPlateauConfig, ScaleFn, ScaleMode, ScheduleTarget, SchedulerState, SequentialLR, StepLR, ThresholdMode,
};

/// Formats a caller location the way error messages print it.
pub(crate) fn at(loc: &std::panic::Location<'_>) -> String {
    format!("{}:{}", loc.file(), loc.line())
}
