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

mod batchnorm;
mod forward;
mod gradcheck;
mod module;
mod norm;
mod state;

pub use batchnorm::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,
    InstanceNormConfig,
};
pub use forward::{register_forward_hook, Forward, HookHandle, Residual, Sequential};
pub use gradcheck::{gradcheck_module, ModuleGradcheckFailure};
pub use module::{render, Buffer, Module, ModuleExt, Part, TrainingFlag, Visit};
pub use norm::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig, RMSNorm, RMSNormConfig};
pub use state::{StateDict, StateDictError};

#[doc(hidden)]
pub use lamina_core::Element as __Element;
