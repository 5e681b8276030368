//! lamina-layers: the [`Module`] system and every layer type, each built from
//! lamina-core's differentiable primitives (none hand-writes a gradient).
//!
//! A layer names its parts with [`parts!`] (or implements [`Module::visit`]),
//! computes with [`Forward::forward`], and gets PyTorch-style parameter names,
//! `state_dict`/`load_state_dict`, `train`/`eval` and freezing from
//! [`ModuleExt`].
#![deny(missing_docs)]

/// Implements `Display` (PyTorch-style module tree) for layer types generic over `E`.
macro_rules! display_module {
    ($($t:ident),* $(,)?) => {$(
        impl<E: lamina_core::Element> std::fmt::Display for $t<E> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&crate::render::<E>(self))
            }
        }
    )*};
}

/// Declares a parameterless module holding only its train/eval flag (so it
/// is never zero-sized and can be hooked).
macro_rules! stateless {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name<E: lamina_core::Element = f32> {
            training: $crate::TrainingFlag,
            _e: std::marker::PhantomData<fn() -> E>,
        }

        impl<E: lamina_core::Element> $name<E> {
            /// The module.
            pub fn new() -> Self {
                Self::default()
            }
        }

        impl<E: lamina_core::Element> $crate::Module<E> for $name<E> {
            fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, $crate::Part<'a, E>)) {}
            fn set_training(&self, on: bool) {
                self.training.set(on);
            }
        }
        crate::visit_as_module!($name);
        display_module!($name);
    };
}

mod activation;
pub mod analysis;
mod batchnorm;
mod blocks;
mod conv;
mod dropout;
mod embedding;
mod forward;
mod gradcheck;
mod linear;
pub mod loss;
mod lsuv;
mod module;
mod norm;
mod pool;
mod rnn;
mod state;

pub use activation::*;
pub use batchnorm::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,
    InstanceNormConfig,
};
pub use blocks::{
    conv1x1, conv3x3, resnet, BasicBlock, Bottleneck, DenseBlock, DenseLayer, ResNetConfig, ResidualBlock,
};
pub use conv::{
    Conv, Conv1d, Conv2d, ConvConfig, ConvTranspose, ConvTranspose1d, ConvTranspose2d, ConvTransposeConfig, Padding,
    PaddingMode,
};
pub use dropout::{AlphaDropout, Dropout, Dropout1d, Dropout2d};
pub use embedding::Embedding;
pub use forward::{register_forward_hook, Forward, HookHandle, Residual, Sequential};
pub use gradcheck::{gradcheck_module, ModuleGradcheckFailure};
pub use linear::{Bilinear, Flatten, Identity, Linear, Unflatten};
pub use lsuv::{lsuv_init, LsuvConfig, LsuvInitReport, LsuvLayer, LsuvReport};
pub use module::{render, Buffer, Module, ModuleExt, Part, TrainingFlag, Visit};
pub use norm::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig, RMSNorm, RMSNormConfig};
pub use pool::{
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, GlobalAvgPool,
    GlobalMaxPool, MaxPool1d, MaxPool2d,
};
pub use rnn::{GRUCell, LSTMCell, RNNCell, RecurrentConfig, RecurrentWeights, RnnNonlinearity, GRU, LSTM, RNN};
pub use state::{StateDict, StateDictError};

#[doc(hidden)]
pub use lamina_core::Element as __Element;
