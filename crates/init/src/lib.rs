//! lamina-init: the initialisation schemes of the literature and of PyTorch,
//! named as PyTorch names them, and PyTorch's default initialisation of every
//! layer type.
//!
//! # Why initialisation matters
//!
//! A layer `y = W x` with independent zero-mean weights of variance `σ²` scales
//! the variance of its input by `fan_in · σ²` on the way forward and the
//! variance of its gradient by `fan_out · σ²` on the way back. Over many
//! layers any factor other than 1 makes activations or gradients explode or
//! vanish. Xavier/Glorot (`σ² = 2/(fan_in + fan_out)`) balances both passes
//! for linear and tanh-like units; He/Kaiming (`σ² = gain²/fan`) corrects for
//! a ReLU's halving of the second moment; orthogonal matrices preserve norms
//! exactly; `eye_` and `dirac_` start layers as the identity.
//! [`calculate_gain`] holds the per-nonlinearity corrections and
//! [`calculate_fan_in_and_fan_out`] the fans of any weight layout.
//!
//! # Using it
//!
//! Each scheme is a [`Scheme`] value that fills an existing tensor in place,
//! unrecorded, like PyTorch's `nn.init.*_`. [`Scheme::apply`] draws from
//! lamina's default generator, so [`manual_seed`](lamina_core::manual_seed)
//! reproduces a model's initial weights exactly; [`Scheme::apply_with`] takes
//! a [`Generator`](lamina_core::Generator) of your own. The PyTorch-named
//! functions ([`xavier_uniform_`], [`kaiming_normal_`], [`trunc_normal_`], ...)
//! are shorthands for `Scheme::...apply`. Shape problems (fans of a 1-d tensor,
//! `eye_` of a 3-d one) and out-of-domain arguments are an [`InitError`].
//!
//! ```
//! use lamina_core::{manual_seed, Tensor};
//! use lamina_init::{kaiming_normal_, FanMode, Nonlinearity};
//! let w = Tensor::<f32>::zeros(&[64, 3, 3, 3]);
//! manual_seed(7);
//! kaiming_normal_(&w, 0.0, FanMode::FanOut, Nonlinearity::Relu).unwrap();
//! let first = w.to_vec();
//! manual_seed(7);
//! kaiming_normal_(&w, 0.0, FanMode::FanOut, Nonlinearity::Relu).unwrap();
//! assert_eq!(w.to_vec(), first);
//! ```
//!
//! # Default initialisation of each layer type
//!
//! What a PyTorch layer's constructor draws, and the function of [`default`]
//! that draws it. `fan_in` is [`calculate_fan_in_and_fan_out`]'s: `in` for a
//! Linear, `in/groups · ∏kernel` for a convolution, `out/groups · ∏kernel`
//! for a transposed one (PyTorch reads dim 1 of every weight).
//!
//! | layer | parameter | default | function |
//! | --- | --- | --- | --- |
//! | `Linear` | `weight` `[out, in]` | `kaiming_uniform_(a=√5)` = U(±1/√fan_in) | [`default::linear`] |
//! | | `bias` `[out]` | U(±1/√fan_in) | |
//! | `Conv1d/2d/3d`, `ConvTranspose1d/2d/3d` | `weight` | `kaiming_uniform_(a=√5)` = U(±1/√fan_in) | [`default::conv`] |
//! | | `bias` | U(±1/√fan_in) | |
//! | `Bilinear` | `weight` `[out, in1, in2]`, `bias` | U(±1/√in1) | [`default::bilinear`] |
//! | `RNN`, `LSTM`, `GRU` and cells | every weight and bias | U(±1/√hidden_size) | [`default::rnn`] |
//! | `Embedding`, `EmbeddingBag` | `weight` | N(0, 1), row `padding_idx` zero | [`default::embedding`] |
//! | `BatchNorm*`, `InstanceNorm*` (affine), `GroupNorm`, `LayerNorm`, `RMSNorm` | `weight` / `bias` | 1 / 0 | [`default::norm`] |
//! | `BatchNorm*` | `running_mean` / `running_var` | 0 / 1 | [`default::running_stats`] |
//! | `PReLU` | `weight` | `init` (0.25) | [`default::prelu`] |
//! | `MultiheadAttention` | `in_proj_weight` (or `q/k/v_proj_weight`) | `xavier_uniform_` | [`default::multihead_attention`] |
//! | | `in_proj_bias`, `out_proj.bias` | 0 | |
//! | | `out_proj.weight` | a Linear's: U(±1/√embed_dim) | |
//! | | `bias_k`, `bias_v` | `xavier_normal_` | [`default::attention_bias_kv`] |
//! | `TransformerEncoderLayer`, `TransformerDecoderLayer` | their sublayers | as the rows above | |
//! | `Transformer` | every parameter with ≥ 2 dims | `xavier_uniform_` | [`default::transformer`] |
//!
//! # Bias strategies
//!
//! [`BiasInit`] names the common choices: zero, a small positive constant for
//! ReLU layers ([`RELU_BIAS`]), and PyTorch's U(±1/√fan_in). The
//! data-dependent one, LSUV, needs modules; [`lsuv`] gives the layers crate
//! its rescaling loop.
#![deny(missing_docs)]

mod bias;
pub mod default;
mod error;
mod fan;
pub mod lsuv;
mod qr;
mod scheme;
pub mod special;

pub use bias::{fan_in_bound, BiasInit, RELU_BIAS};
pub use error::InitError;
pub use fan::{calculate_correct_fan, calculate_fan_in_and_fan_out, calculate_gain, FanMode, Nonlinearity};
pub use scheme::{
    constant_, dirac_, eye_, kaiming_normal_, kaiming_uniform_, lecun_normal_, normal_, ones_, orthogonal_, sparse_,
    trunc_normal_, uniform_, xavier_normal_, xavier_uniform_, zeros_, Scheme,
};
