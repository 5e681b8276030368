//! PyTorch's default initialisation of every layer type, one function per
//! family, so a layer's constructor is one call and a model ported from
//! PyTorch starts from the same distributions. The table in the crate docs
//! lists what each function draws.
//!
//! Every function fills the given tensors in place from lamina's default
//! generator, so [`manual_seed`](lamina_core::manual_seed) reproduces a
//! model's initial weights. Shapes follow PyTorch's `state_dict` layouts.

use crate::bias::BiasInit;
use crate::error::{argument, InitError};
use crate::fan::{FanMode, Nonlinearity};
use crate::scheme::{constant_, ones_, zeros_, Scheme};
use lamina_core::{no_grad, Element, Tensor};

/// The weight half of Linear's and Conv's `reset_parameters`:
/// `kaiming_uniform_(w, a=√5)`, which works out to U(±1/√fan_in).
/// (√5 makes the leaky-ReLU gain √(2/6) = 1/√3, and the Kaiming bound
/// gain·√(3/fan_in) = 1/√fan_in: LeCun's uniform, kept for compatibility.)
pub const LINEAR_WEIGHT: Scheme =
    Scheme::KaimingUniform { a: 2.23606797749979, mode: FanMode::FanIn, nonlinearity: Nonlinearity::LeakyRelu };

/// `nn.Linear`: `weight` `[out, in]` by [`LINEAR_WEIGHT`], `bias` `[out]` by
/// U(±1/√in).
///
/// ```
/// use lamina_core::{manual_seed, Tensor};
/// let (w, b) = (Tensor::<f32>::zeros(&[4, 16]), Tensor::<f32>::zeros(&[4]));
/// manual_seed(0);
/// lamina_init::default::linear(&w, Some(&b)).unwrap();
/// assert!(w.to_vec().iter().chain(b.to_vec().iter()).all(|v| v.abs() <= 0.25));
/// ```
pub fn linear<E: Element>(weight: &Tensor<E>, bias: Option<&Tensor<E>>) -> Result<(), InitError> {
    LINEAR_WEIGHT.apply(weight)?;
    if let Some(bias) = bias {
        BiasInit::FanInUniform.scheme(weight.shape())?.apply(bias)?;
    }
    Ok(())
}

/// `nn.Conv1d/2d/3d` and `nn.ConvTranspose1d/2d/3d`: the same rule as
/// [`linear`] on the weight `[out, in/groups, k...]` (transposed:
/// `[in, out/groups, k...]`), whose fan-in is `size(1)·∏k`.
pub fn conv<E: Element>(weight: &Tensor<E>, bias: Option<&Tensor<E>>) -> Result<(), InitError> {
    linear(weight, bias)
}

/// `nn.Bilinear`: `weight` `[out, in1, in2]` and `bias` `[out]` both U(±1/√in1).
pub fn bilinear<E: Element>(weight: &Tensor<E>, bias: Option<&Tensor<E>>) -> Result<(), InitError> {
    if weight.ndim() < 2 {
        return Err(InitError::Shape { scheme: "bilinear", shape: weight.shape().to_vec(), need: "at least 2 dims" });
    }
    let bound = inverse_sqrt(weight.shape()[1]);
    for t in std::iter::once(weight).chain(bias) {
        Scheme::Uniform { a: -bound, b: bound }.apply(t)?;
    }
    Ok(())
}

/// `nn.RNN`, `nn.LSTM`, `nn.GRU` and their cells: every weight and bias
/// (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `weight_hr_l0`,
/// ..., `_reverse` too) U(±1/√hidden_size).
pub fn rnn<E: Element>(params: &[&Tensor<E>], hidden_size: usize) -> Result<(), InitError> {
    let bound = inverse_sqrt(hidden_size);
    for p in params {
        Scheme::Uniform { a: -bound, b: bound }.apply(*p)?;
    }
    Ok(())
}

/// `nn.Embedding` (and `EmbeddingBag`): `weight` `[num_embeddings, dim]` N(0, 1),
/// with row `padding_idx` (negative counts from the end) zero.
pub fn embedding<E: Element>(weight: &Tensor<E>, padding_idx: Option<isize>) -> Result<(), InitError> {
    if weight.ndim() != 2 {
        return Err(InitError::Shape { scheme: "embedding", shape: weight.shape().to_vec(), need: "exactly 2 dims" });
    }
    Scheme::Normal { mean: 0.0, std: 1.0 }.apply(weight)?;
    if let Some(idx) = padding_idx {
        let rows = weight.shape()[0] as isize;
        let row = if idx < 0 { idx + rows } else { idx };
        if !(0..rows).contains(&row) {
            return Err(argument("embedding", format!("padding_idx {idx} out of range for {rows} embeddings")));
        }
        zeros_(&no_grad(|| weight.narrow(0, row as usize, 1)));
    }
    Ok(())
}

/// `nn.BatchNorm*`, `InstanceNorm*` (affine), `GroupNorm`, `LayerNorm`,
/// `RMSNorm`: `weight` 1 and `bias` 0, so the layer starts as a pure normaliser.
pub fn norm<E: Element>(weight: Option<&Tensor<E>>, bias: Option<&Tensor<E>>) {
    if let Some(w) = weight {
        ones_(w);
    }
    if let Some(b) = bias {
        zeros_(b);
    }
}

/// The running statistics of `BatchNorm*` (and `InstanceNorm*` with
/// `track_running_stats`): `running_mean` 0, `running_var` 1 (the count
/// `num_batches_tracked` starts at 0).
pub fn running_stats<E: Element>(running_mean: &Tensor<E>, running_var: &Tensor<E>) {
    zeros_(running_mean);
    ones_(running_var);
}

/// PReLU's default slope.
pub const PRELU_INIT: f64 = 0.25;

/// `nn.PReLU`: `weight` (one slope, or one per channel) is the config's `init`,
/// [`PRELU_INIT`] by default.
pub fn prelu<E: Element>(weight: &Tensor<E>, init: f64) {
    constant_(weight, init);
}

/// `nn.MultiheadAttention` (`_reset_parameters`): each input projection weight
/// Xavier uniform (the packed `in_proj_weight` `[3E, E]` as one matrix, or
/// `q_proj_weight`, `k_proj_weight`, `v_proj_weight` each on its own when
/// `kdim`/`vdim` differ), `in_proj_bias` 0, `out_proj.weight` the default of a
/// Linear ([`LINEAR_WEIGHT`], U(±1/√E)), and `out_proj.bias` 0.
pub fn multihead_attention<E: Element>(
    in_proj_weights: &[&Tensor<E>],
    in_proj_bias: Option<&Tensor<E>>,
    out_proj_weight: &Tensor<E>,
    out_proj_bias: Option<&Tensor<E>>,
) -> Result<(), InitError> {
    for w in in_proj_weights {
        Scheme::XavierUniform { gain: 1.0 }.apply(*w)?;
    }
    linear(out_proj_weight, None)?;
    in_proj_bias.into_iter().chain(out_proj_bias).for_each(zeros_);
    Ok(())
}

/// `bias_k` and `bias_v` `[1, 1, E]` of a MultiheadAttention with
/// `add_bias_kv`: Xavier normal.
pub fn attention_bias_kv<E: Element>(bias_k: &Tensor<E>, bias_v: &Tensor<E>) -> Result<(), InitError> {
    for t in [bias_k, bias_v] {
        Scheme::XavierNormal { gain: 1.0 }.apply(t)?;
    }
    Ok(())
}

/// `nn.Transformer` (the whole encoder–decoder model, not its layers):
/// after its layers' own defaults, every parameter with more than one dim is
/// redrawn Xavier uniform; vectors (biases, norm weights) keep theirs.
pub fn transformer<E: Element>(params: &[&Tensor<E>]) -> Result<(), InitError> {
    for p in params.iter().filter(|p| p.ndim() > 1) {
        Scheme::XavierUniform { gain: 1.0 }.apply(*p)?;
    }
    Ok(())
}

/// 1/√n, or 0 for n = 0 (PyTorch's guard for empty layers).
pub(crate) fn inverse_sqrt(n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        1.0 / (n as f64).sqrt()
    }
}
