//! Transformer layers and stacks as PyTorch's (`nn.TransformerEncoderLayer`,
//! `nn.TransformerDecoderLayer`, `nn.TransformerEncoder`,
//! `nn.TransformerDecoder`, `nn.Transformer`), with PyTorch's parameter names,
//! plus positional encodings: the fixed sinusoidal one of "Attention is all
//! you need" and a learned table.

use crate::attention::{AttnMask, MultiheadAttention, MultiheadAttentionConfig, MultiheadAttentionOptions};
use crate::norm::{fail, param};
use crate::{Dropout, Forward, LayerNorm, LayerNormConfig, Linear, Module, ModuleExt, Part};
use lamina_core::{Element, Tensor};
use std::marker::PhantomData;
use std::panic::Location;

/// The activation of a transformer layer's feed-forward block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransformerActivation {
    /// `max(x, 0)` (PyTorch's default, `"relu"`).
    #[default]
    Relu,
    /// The exact GELU, `x Φ(x)` (`"gelu"`).
    Gelu,
}

impl TransformerActivation {
    fn apply<E: Element>(self, x: &Tensor<E>) -> Tensor<E> {
        match self {
            TransformerActivation::Relu => x.relu(),
            TransformerActivation::Gelu => x.gelu(),
        }
    }
}

/// Options of [`TransformerEncoderLayer`] and [`TransformerDecoderLayer`]
/// (besides `d_model` and `nhead`), with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerLayerConfig {
    /// Width of the feed-forward block's hidden layer. Default `2048`.
    pub dim_feedforward: usize,
    /// Dropout in attention, feed-forward block and residual branches. Default `0.1`.
    pub dropout: f64,
    /// The feed-forward block's activation. Default [`TransformerActivation::Relu`].
    pub activation: TransformerActivation,
    /// The layer norms' `eps`. Default `1e-5`.
    pub layer_norm_eps: f64,
    /// Inputs and outputs are `[batch, seq, feature]` (else `[seq, batch, feature]`). Default `false`.
    pub batch_first: bool,
    /// Pre-norm (`x + f(norm(x))`) instead of post-norm (`norm(x + f(x))`). Default `false`.
    pub norm_first: bool,
    /// Whether the linear layers and layer norms have biases. Default `true`.
    pub bias: bool,
}

impl Default for TransformerLayerConfig {
    fn default() -> Self {
        TransformerLayerConfig {
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: TransformerActivation::Relu,
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
        }
    }
}

impl TransformerLayerConfig {
    fn attention(&self) -> MultiheadAttentionConfig {
        MultiheadAttentionConfig {
            dropout: self.dropout,
            bias: self.bias,
            batch_first: self.batch_first,
            ..Default::default()
        }
    }

    /// A layer norm over `d_model` features.
    fn norm<E: Element>(&self, d_model: usize) -> LayerNorm<E> {
        let config = LayerNormConfig { eps: self.layer_norm_eps, elementwise_affine: true, bias: self.bias };
        LayerNorm::with_config(&[d_model], config)
    }
}

/// Masks and hints of an encoder (layer or stack), PyTorch's
/// `src_mask`/`mask`, `src_key_padding_mask` and `is_causal`.
#[derive(Clone, Debug, Default)]
pub struct EncoderOptions<E: Element = f32> {
    /// `[S, S]` or `[B·nhead, S, S]`; a boolean one's `true` = masked out. Default `None`.
    pub src_mask: Option<AttnMask<E>>,
    /// `[B, S]`; a boolean one's `true` = padding, ignored. Default `None`.
    pub src_key_padding_mask: Option<AttnMask<E>>,
    /// `src_mask` is the causal mask (applied when `src_mask` is `None`). Default `false`.
    pub is_causal: bool,
}

/// Masks and hints of a decoder (layer or stack), with PyTorch's names.
#[derive(Clone, Debug, Default)]
pub struct DecoderOptions<E: Element = f32> {
    /// Self-attention mask `[T, T]` or `[B·nhead, T, T]`, e.g. [`causal_mask`](crate::causal_mask). Default `None`.
    pub tgt_mask: Option<AttnMask<E>>,
    /// Cross-attention mask `[T, S]` or `[B·nhead, T, S]`. Default `None`.
    pub memory_mask: Option<AttnMask<E>>,
    /// `[B, T]`: target positions to ignore. Default `None`.
    pub tgt_key_padding_mask: Option<AttnMask<E>>,
    /// `[B, S]`: memory positions to ignore. Default `None`.
    pub memory_key_padding_mask: Option<AttnMask<E>>,
    /// `tgt_mask` is the causal mask (applied when `tgt_mask` is `None`). Default `false`.
    pub tgt_is_causal: bool,
    /// `memory_mask` is the causal mask (applied when `memory_mask` is `None`). Default `false`.
    pub memory_is_causal: bool,
}

/// Attention of `x` over `memory` (itself for self-attention) without
/// weights, then the residual branch's dropout; errors name `at`.
#[allow(clippy::too_many_arguments)]
fn attention_block<E: Element>(
    attn: &MultiheadAttention<E>,
    dropout: &Dropout<E>,
    x: &Tensor<E>,
    memory: &Tensor<E>,
    attn_mask: &Option<AttnMask<E>>,
    key_padding_mask: &Option<AttnMask<E>>,
    is_causal: bool,
    at: &Location<'_>,
) -> Tensor<E> {
    let opts = MultiheadAttentionOptions {
        attn_mask: attn_mask.clone(),
        key_padding_mask: key_padding_mask.clone(),
        need_weights: false,
        is_causal,
        ..Default::default()
    };
    dropout.call(&attn.forward_at(x, memory, memory, &opts, at).0)
}

/// The feed-forward block of both layers, `linear1`, activation, dropout,
/// `linear2`, and its residual branch's dropout.
struct FeedForward<'a, E: Element> {
    linear1: &'a Linear<E>,
    dropout: &'a Dropout<E>,
    linear2: &'a Linear<E>,
    dropout_out: &'a Dropout<E>,
    activation: TransformerActivation,
}

impl<E: Element> FeedForward<'_, E> {
    fn apply(&self, x: &Tensor<E>) -> Tensor<E> {
        let hidden = self.dropout.call(&self.activation.apply(&self.linear1.call(x)));
        self.dropout_out.call(&self.linear2.call(&hidden))
    }
}

/// `x + f(norm(x))` (pre-norm) or `norm(x + f(x))` (post-norm).
fn residual<E: Element>(
    norm_first: bool,
    norm: &LayerNorm<E>,
    x: &Tensor<E>,
    f: impl FnOnce(&Tensor<E>) -> Tensor<E>,
) -> Tensor<E> {
    if norm_first {
        x + &f(&norm.call(x))
    } else {
        norm.call(&(x + &f(x)))
    }
}

/// The methods both layer types share: `duplicate` and `config`.
macro_rules! layer_methods {
    ($($layer:ident),*) => {$(
        impl<E: Element> $layer<E> {
            /// A layer of the same shape and options, holding a copy of this one's parameters.
            pub fn duplicate(&self) -> Self {
                let copy = Self::with_config(self.d_model, self.nhead, self.config);
                copy.load_state_dict(&self.state_dict()).expect("same structure");
                copy
            }

            /// The options.
            pub fn config(&self) -> TransformerLayerConfig {
                self.config
            }
        }
    )*};
}

/// One encoder layer, PyTorch's `nn.TransformerEncoderLayer`: self-attention
/// then a feed-forward block, each with a residual connection and a layer
/// norm (after it by default, before it with `norm_first`). Parameters:
/// `self_attn.*`, `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, TransformerEncoderLayer, TransformerLayerConfig};
/// let config = TransformerLayerConfig { dim_feedforward: 32, batch_first: true, ..Default::default() };
/// let layer = TransformerEncoderLayer::<f32>::with_config(16, 4, config);
/// assert_eq!(layer.forward(&Tensor::randn(&[2, 7, 16])).shape(), &[2, 7, 16]);
/// ```
pub struct TransformerEncoderLayer<E: Element = f32> {
    /// Self-attention.
    pub self_attn: MultiheadAttention<E>,
    /// `d_model -> dim_feedforward`.
    pub linear1: Linear<E>,
    dropout: Dropout<E>,
    /// `dim_feedforward -> d_model`.
    pub linear2: Linear<E>,
    /// The norm of the attention branch.
    pub norm1: LayerNorm<E>,
    /// The norm of the feed-forward branch.
    pub norm2: LayerNorm<E>,
    dropout1: Dropout<E>,
    dropout2: Dropout<E>,
    d_model: usize,
    nhead: usize,
    config: TransformerLayerConfig,
}

crate::parts!(TransformerEncoderLayer<E> { self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2 });

impl<E: Element> TransformerEncoderLayer<E> {
    /// A layer of width `d_model` with `nhead` heads and PyTorch's defaults.
    #[track_caller]
    pub fn new(d_model: usize, nhead: usize) -> Self {
        Self::with_config(d_model, nhead, TransformerLayerConfig::default())
    }

    /// A layer of width `d_model` with `nhead` heads (which must divide it).
    #[track_caller]
    pub fn with_config(d_model: usize, nhead: usize, config: TransformerLayerConfig) -> Self {
        TransformerEncoderLayer {
            self_attn: MultiheadAttention::with_config(d_model, nhead, config.attention()),
            linear1: Linear::new(d_model, config.dim_feedforward, config.bias),
            dropout: Dropout::new(config.dropout),
            linear2: Linear::new(config.dim_feedforward, d_model, config.bias),
            norm1: config.norm(d_model),
            norm2: config.norm(d_model),
            dropout1: Dropout::new(config.dropout),
            dropout2: Dropout::new(config.dropout),
            d_model,
            nhead,
            config,
        }
    }

    /// `src` `[S, B, d_model]` (`[B, S, d_model]` with `batch_first`, or
    /// unbatched `[S, d_model]`) to the same shape, under `opts`' masks.
    #[track_caller]
    pub fn forward_with(&self, src: &Tensor<E>, opts: &EncoderOptions<E>) -> Tensor<E> {
        let (norm_first, at) = (self.config.norm_first, Location::caller());
        let sa = |x: &Tensor<E>| {
            let (mask, padding) = (&opts.src_mask, &opts.src_key_padding_mask);
            attention_block(&self.self_attn, &self.dropout1, x, x, mask, padding, opts.is_causal, at)
        };
        let x = residual(norm_first, &self.norm1, src, sa);
        let ff = FeedForward {
            linear1: &self.linear1,
            dropout: &self.dropout,
            linear2: &self.linear2,
            dropout_out: &self.dropout2,
            activation: self.config.activation,
        };
        residual(norm_first, &self.norm2, &x, |x| ff.apply(x))
    }
}

impl<E: Element> Forward<E> for TransformerEncoderLayer<E> {
    /// [`forward_with`](Self::forward_with) without masks.
    #[track_caller]
    fn forward(&self, src: &Tensor<E>) -> Tensor<E> {
        self.forward_with(src, &EncoderOptions::default())
    }
}

/// One decoder layer, PyTorch's `nn.TransformerDecoderLayer`: masked
/// self-attention over the target, attention over the encoder's output
/// (`memory`), then a feed-forward block, each with a residual connection and
/// a layer norm. Parameters: `self_attn.*`, `multihead_attn.*`, `linear1.*`,
/// `linear2.*`, `norm1.*`, `norm2.*`, `norm3.*`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{causal_mask, DecoderOptions, TransformerDecoderLayer, TransformerLayerConfig};
/// let config = TransformerLayerConfig { dim_feedforward: 32, ..Default::default() };
/// let layer = TransformerDecoderLayer::<f32>::with_config(16, 4, config);
/// let (tgt, memory) = (Tensor::randn(&[5, 2, 16]), Tensor::randn(&[9, 2, 16]));
/// let opts = DecoderOptions { tgt_mask: Some(causal_mask(5).into()), ..Default::default() };
/// assert_eq!(layer.forward_with(&tgt, &memory, &opts).shape(), &[5, 2, 16]);
/// ```
pub struct TransformerDecoderLayer<E: Element = f32> {
    /// Self-attention over the target.
    pub self_attn: MultiheadAttention<E>,
    /// Attention over the memory.
    pub multihead_attn: MultiheadAttention<E>,
    /// `d_model -> dim_feedforward`.
    pub linear1: Linear<E>,
    dropout: Dropout<E>,
    /// `dim_feedforward -> d_model`.
    pub linear2: Linear<E>,
    /// The norm of the self-attention branch.
    pub norm1: LayerNorm<E>,
    /// The norm of the cross-attention branch.
    pub norm2: LayerNorm<E>,
    /// The norm of the feed-forward branch.
    pub norm3: LayerNorm<E>,
    dropout1: Dropout<E>,
    dropout2: Dropout<E>,
    dropout3: Dropout<E>,
    d_model: usize,
    nhead: usize,
    config: TransformerLayerConfig,
}

layer_methods!(TransformerEncoderLayer, TransformerDecoderLayer);

crate::parts!(TransformerDecoderLayer<E> {
    self_attn, multihead_attn, linear1, dropout, linear2, norm1, norm2, norm3, dropout1, dropout2, dropout3
});

impl<E: Element> TransformerDecoderLayer<E> {
    /// A layer of width `d_model` with `nhead` heads and PyTorch's defaults.
    #[track_caller]
    pub fn new(d_model: usize, nhead: usize) -> Self {
        Self::with_config(d_model, nhead, TransformerLayerConfig::default())
    }

    /// A layer of width `d_model` with `nhead` heads (which must divide it).
    #[track_caller]
    pub fn with_config(d_model: usize, nhead: usize, config: TransformerLayerConfig) -> Self {
        TransformerDecoderLayer {
            self_attn: MultiheadAttention::with_config(d_model, nhead, config.attention()),
            multihead_attn: MultiheadAttention::with_config(d_model, nhead, config.attention()),
            linear1: Linear::new(d_model, config.dim_feedforward, config.bias),
            dropout: Dropout::new(config.dropout),
            linear2: Linear::new(config.dim_feedforward, d_model, config.bias),
            norm1: config.norm(d_model),
            norm2: config.norm(d_model),
            norm3: config.norm(d_model),
            dropout1: Dropout::new(config.dropout),
            dropout2: Dropout::new(config.dropout),
            dropout3: Dropout::new(config.dropout),
            d_model,
            nhead,
            config,
        }
    }

    /// `tgt` `[T, B, d_model]` attending to `memory` `[S, B, d_model]`
    /// (batch first with `batch_first`; or unbatched) to `[T, B, d_model]`.
    #[track_caller]
    pub fn forward_with(&self, tgt: &Tensor<E>, memory: &Tensor<E>, opts: &DecoderOptions<E>) -> Tensor<E> {
        let (norm_first, at) = (self.config.norm_first, Location::caller());
        let sa = |x: &Tensor<E>| {
            let (mask, padding) = (&opts.tgt_mask, &opts.tgt_key_padding_mask);
            attention_block(&self.self_attn, &self.dropout1, x, x, mask, padding, opts.tgt_is_causal, at)
        };
        let mha = |x: &Tensor<E>| {
            let (mask, padding) = (&opts.memory_mask, &opts.memory_key_padding_mask);
            attention_block(&self.multihead_attn, &self.dropout2, x, memory, mask, padding, opts.memory_is_causal, at)
        };
        let x = residual(norm_first, &self.norm1, tgt, sa);
        let x = residual(norm_first, &self.norm2, &x, mha);
        let ff = FeedForward {
            linear1: &self.linear1,
            dropout: &self.dropout,
            linear2: &self.linear2,
            dropout_out: &self.dropout3,
            activation: self.config.activation,
        };
        residual(norm_first, &self.norm3, &x, |x| ff.apply(x))
    }
}

/// A stack of encoder layers and an optional final norm, PyTorch's
/// `nn.TransformerEncoder`: parameters `layers.N.*` and `norm.*`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, LayerNorm, TransformerEncoder, TransformerEncoderLayer, TransformerLayerConfig};
/// let config = TransformerLayerConfig { dim_feedforward: 16, ..Default::default() };
/// let enc = TransformerEncoder::<f32>::new(TransformerEncoderLayer::with_config(8, 2, config), 3, Some(LayerNorm::new(&[8])));
/// assert_eq!(enc.layers.len(), 3);
/// assert_eq!(enc.forward(&Tensor::randn(&[4, 2, 8])).shape(), &[4, 2, 8]);
/// ```
pub struct TransformerEncoder<E: Element = f32> {
    /// The layers, applied in order.
    pub layers: Vec<TransformerEncoderLayer<E>>,
    /// The final norm, if any.
    pub norm: Option<LayerNorm<E>>,
}

crate::parts!(TransformerEncoder<E> { layers, norm });

impl<E: Element> TransformerEncoder<E> {
    /// `num_layers` copies of `layer` (equal starting parameters, as PyTorch's
    /// deep copies), then `norm`.
    pub fn new(layer: TransformerEncoderLayer<E>, num_layers: usize, norm: Option<LayerNorm<E>>) -> Self {
        TransformerEncoder { layers: copies(layer, num_layers, TransformerEncoderLayer::duplicate), norm }
    }

    /// Every layer on `src` under the same masks, then the final norm.
    #[track_caller]
    pub fn forward_with(&self, src: &Tensor<E>, opts: &EncoderOptions<E>) -> Tensor<E> {
        let mut x = src.clone();
        for layer in &self.layers {
            x = layer.forward_with(&x, opts);
        }
        final_norm(&self.norm, x)
    }
}

impl<E: Element> Forward<E> for TransformerEncoder<E> {
    /// [`forward_with`](Self::forward_with) without masks.
    #[track_caller]
    fn forward(&self, src: &Tensor<E>) -> Tensor<E> {
        self.forward_with(src, &EncoderOptions::default())
    }
}

/// A stack of decoder layers and an optional final norm, PyTorch's
/// `nn.TransformerDecoder`: parameters `layers.N.*` and `norm.*`.
pub struct TransformerDecoder<E: Element = f32> {
    /// The layers, applied in order.
    pub layers: Vec<TransformerDecoderLayer<E>>,
    /// The final norm, if any.
    pub norm: Option<LayerNorm<E>>,
}

crate::parts!(TransformerDecoder<E> { layers, norm });

impl<E: Element> TransformerDecoder<E> {
    /// `num_layers` copies of `layer` (equal starting parameters, as PyTorch's
    /// deep copies), then `norm`.
    pub fn new(layer: TransformerDecoderLayer<E>, num_layers: usize, norm: Option<LayerNorm<E>>) -> Self {
        TransformerDecoder { layers: copies(layer, num_layers, TransformerDecoderLayer::duplicate), norm }
    }

    /// Every layer on `tgt` with the same `memory` and masks, then the final norm.
    #[track_caller]
    pub fn forward_with(&self, tgt: &Tensor<E>, memory: &Tensor<E>, opts: &DecoderOptions<E>) -> Tensor<E> {
        let mut x = tgt.clone();
        for layer in &self.layers {
            x = layer.forward_with(&x, memory, opts);
        }
        final_norm(&self.norm, x)
    }
}

/// `layer` followed by `n - 1` duplicates of it (none for `n = 0`).
fn copies<L>(layer: L, n: usize, duplicate: fn(&L) -> L) -> Vec<L> {
    let mut out: Vec<L> = (1..n).map(|_| duplicate(&layer)).collect();
    if n > 0 {
        out.insert(0, layer);
    }
    out
}

#[track_caller]
fn final_norm<E: Element>(norm: &Option<LayerNorm<E>>, x: Tensor<E>) -> Tensor<E> {
    match norm {
        Some(n) => n.call(&x),
        None => x,
    }
}

/// Options of [`Transformer`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerConfig {
    /// Model width. Default `512`.
    pub d_model: usize,
    /// Attention heads per layer. Default `8`.
    pub nhead: usize,
    /// Encoder layers. Default `6`.
    pub num_encoder_layers: usize,
    /// Decoder layers. Default `6`.
    pub num_decoder_layers: usize,
    /// Every layer's options (`dim_feedforward`, `dropout`, `activation`,
    /// `layer_norm_eps`, `batch_first`, `norm_first`, `bias`).
    pub layer: TransformerLayerConfig,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig {
            d_model: 512,
            nhead: 8,
            num_encoder_layers: 6,
            num_decoder_layers: 6,
            layer: TransformerLayerConfig::default(),
        }
    }
}

/// Masks of a whole [`Transformer`]: the encoder's (`src_mask`,
/// `src_key_padding_mask`, `src_is_causal`) and the decoder's.
#[derive(Clone, Debug, Default)]
pub struct TransformerOptions<E: Element = f32> {
    /// The encoder's masks.
    pub encoder: EncoderOptions<E>,
    /// The decoder's masks (`memory_key_padding_mask` is usually the
    /// encoder's `src_key_padding_mask`).
    pub decoder: DecoderOptions<E>,
}

/// The encoder–decoder model of "Attention is all you need", PyTorch's
/// `nn.Transformer`: an encoder and a decoder stack, each with a final layer
/// norm. As in PyTorch, every parameter of more than one dim is drawn Xavier
/// uniform after the layers' own initialisation. Parameters `encoder.*`, `decoder.*`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Transformer, TransformerConfig, TransformerLayerConfig, TransformerOptions};
/// let layer = TransformerLayerConfig { dim_feedforward: 16, ..Default::default() };
/// let config = TransformerConfig { d_model: 8, nhead: 2, num_encoder_layers: 1, num_decoder_layers: 1, layer };
/// let model = Transformer::<f32>::new(config);
/// let (src, tgt) = (Tensor::randn(&[6, 2, 8]), Tensor::randn(&[4, 2, 8]));
/// assert_eq!(model.forward_with(&src, &tgt, &TransformerOptions::default()).shape(), &[4, 2, 8]);
/// ```
pub struct Transformer<E: Element = f32> {
    /// The encoder stack with its final norm.
    pub encoder: TransformerEncoder<E>,
    /// The decoder stack with its final norm.
    pub decoder: TransformerDecoder<E>,
    config: TransformerConfig,
}

crate::parts!(Transformer<E> { encoder, decoder });

impl<E: Element> Transformer<E> {
    /// The model with `config`.
    #[track_caller]
    pub fn new(config: TransformerConfig) -> Self {
        let (d, h, layer) = (config.d_model, config.nhead, config.layer);
        let encoder = TransformerEncoder::new(
            TransformerEncoderLayer::with_config(d, h, layer),
            config.num_encoder_layers,
            Some(layer.norm(d)),
        );
        let decoder = TransformerDecoder::new(
            TransformerDecoderLayer::with_config(d, h, layer),
            config.num_decoder_layers,
            Some(layer.norm(d)),
        );
        let model = Transformer { encoder, decoder, config };
        let params = model.parameters();
        lamina_init::default::transformer(&params.iter().collect::<Vec<_>>()).expect("matrices have fans");
        model
    }

    /// The options.
    pub fn config(&self) -> TransformerConfig {
        self.config
    }

    /// PyTorch's `generate_square_subsequent_mask`: [`causal_mask`](crate::causal_mask).
    pub fn generate_square_subsequent_mask(n: usize) -> Tensor<E> {
        crate::causal_mask(n)
    }

    /// `src` `[S, B, d_model]` and `tgt` `[T, B, d_model]` (batch first with
    /// `batch_first`; or both unbatched) to `[T, B, d_model]`: the encoder's
    /// output is the decoder's memory.
    #[track_caller]
    pub fn forward_with(&self, src: &Tensor<E>, tgt: &Tensor<E>, opts: &TransformerOptions<E>) -> Tensor<E> {
        let d = self.config.d_model;
        let batch_dim = if self.config.layer.batch_first { 0 } else { 1 };
        let batch = |t: &Tensor<E>| (t.ndim() == 3).then(|| t.shape()[batch_dim]);
        if src.size(-1) != d || tgt.size(-1) != d || src.ndim() != tgt.ndim() || batch(src) != batch(tgt) {
            fail(
                "Transformer",
                format!(
                    "src and tgt of shapes {:?} and {:?} need one batch size and d_model {d} features",
                    src.shape(),
                    tgt.shape()
                ),
                Location::caller(),
            );
        }
        let memory = self.encoder.forward_with(src, &opts.encoder);
        self.decoder.forward_with(tgt, &memory, &opts.decoder)
    }
}

/// Where the sequence dim is: `[B, T, d]` with `batch_first`, else `[T, B, d]`
/// (or unbatched `[T, d]`). Returns the length and the shape `[T, 1, d]`,
/// `[T, d]` or `[1, T, d]` that a `[T, d]` table is viewed as to add to `x`.
#[track_caller]
fn positions<E: Element>(layer: &str, x: &Tensor<E>, d_model: usize, batch_first: bool) -> (usize, Vec<usize>) {
    if !(2..=3).contains(&x.ndim()) || x.size(-1) != d_model {
        let want = if batch_first { "[B, T, d]" } else { "[T, B, d]" };
        fail(
            layer,
            format!("expected {want} or [T, d] with d = {d_model}, got shape {:?}", x.shape()),
            Location::caller(),
        );
    }
    let t = if x.ndim() == 3 && batch_first { x.shape()[1] } else { x.shape()[0] };
    let view = match (x.ndim(), batch_first) {
        (2, _) => vec![t, d_model],
        (_, true) => vec![1, t, d_model],
        _ => vec![t, 1, d_model],
    };
    (t, view)
}

/// Adds the fixed sinusoidal position code of "Attention is all you need":
/// `PE(t, 2i) = sin(t / 10000^(2i/d))`, `PE(t, 2i+1) = cos(t / 10000^(2i/d))`
/// (the frequency computed as `exp(2i · -ln(10000)/d)`, as PyTorch's tutorial).
/// Stateless: the table is computed for each input's length, so any length works.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, SinusoidalPositionalEncoding};
/// let pe = SinusoidalPositionalEncoding::<f64>::new(4, true);
/// let y = pe.forward(&Tensor::zeros(&[1, 2, 4]));
/// // Position 0 is [sin 0, cos 0, sin 0, cos 0].
/// assert_eq!(&y.to_vec()[..4], &[0.0, 1.0, 0.0, 1.0]);
/// assert!((y.to_vec()[4] - 1f64.sin()).abs() < 1e-15);
/// ```
pub struct SinusoidalPositionalEncoding<E: Element = f32> {
    d_model: usize,
    batch_first: bool,
    _e: PhantomData<fn() -> E>,
}

impl<E: Element> SinusoidalPositionalEncoding<E> {
    /// The code for width `d_model`, for inputs `[B, T, d]` if `batch_first`, else `[T, B, d]`.
    pub fn new(d_model: usize, batch_first: bool) -> Self {
        SinusoidalPositionalEncoding { d_model, batch_first, _e: PhantomData }
    }

    /// The `[len, d_model]` table.
    pub fn table(len: usize, d_model: usize) -> Tensor<E> {
        let step = -(10000f64).ln() / d_model as f64;
        let data = (0..len)
            .flat_map(|t| {
                (0..d_model).map(move |j| {
                    let angle = t as f64 * ((j - j % 2) as f64 * step).exp();
                    E::of(if j % 2 == 0 { angle.sin() } else { angle.cos() })
                })
            })
            .collect();
        Tensor::from_vec(data, &[len, d_model])
    }
}

impl<E: Element> Module<E> for SinusoidalPositionalEncoding<E> {
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Part<'a, E>)) {}
    fn extra_repr(&self) -> String {
        format!("d_model={}, batch_first={}", self.d_model, self.batch_first)
    }
}

impl<E: Element> Forward<E> for SinusoidalPositionalEncoding<E> {
    /// `x + PE` for `x` of `[T, B, d]` (`[B, T, d]` with `batch_first`) or `[T, d]`.
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let (t, view) = positions("SinusoidalPositionalEncoding", x, self.d_model, self.batch_first);
        x + &Self::table(t, self.d_model).reshape(&view)
    }
}

/// Adds a learned position vector, row `t` of `weight` `[max_len, d_model]`,
/// to position `t` (BERT/GPT style). `weight` starts N(0, 1), as an
/// `nn.Embedding`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, LearnedPositionalEmbedding, ModuleExt};
/// let pe = LearnedPositionalEmbedding::<f32>::new(16, 8, false);
/// assert_eq!(pe.forward(&Tensor::zeros(&[5, 2, 8])).shape(), &[5, 2, 8]);
/// assert_eq!(pe.named_parameters()[0].0, "weight");
/// ```
pub struct LearnedPositionalEmbedding<E: Element = f32> {
    /// `[max_len, d_model]`.
    pub weight: Tensor<E>,
    batch_first: bool,
}

crate::parts!(LearnedPositionalEmbedding<E> { weight }, extra_repr = |p: &LearnedPositionalEmbedding<E>| format!(
    "{}, {}, batch_first={}",
    p.weight.shape()[0],
    p.weight.shape()[1],
    p.batch_first
));

impl<E: Element> LearnedPositionalEmbedding<E> {
    /// Positions `0..max_len` of width `d_model`, for inputs `[B, T, d]` if `batch_first`, else `[T, B, d]`.
    pub fn new(max_len: usize, d_model: usize, batch_first: bool) -> Self {
        let weight = param(&[max_len, d_model]);
        lamina_init::default::embedding(&weight, None).expect("a 2-d table");
        LearnedPositionalEmbedding { weight, batch_first }
    }
}

impl<E: Element> Forward<E> for LearnedPositionalEmbedding<E> {
    /// `x + weight[..T]` for `x` of `[T, B, d]` (`[B, T, d]` with `batch_first`) or `[T, d]`.
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let (max_len, d) = (self.weight.shape()[0], self.weight.shape()[1]);
        let (t, view) = positions("LearnedPositionalEmbedding", x, d, self.batch_first);
        if t > max_len {
            fail(
                "LearnedPositionalEmbedding",
                format!("sequence of {t} positions (shape {:?}) exceeds max_len {max_len}", x.shape()),
                Location::caller(),
            );
        }
        x + &self.weight.narrow(0, 0, t).reshape(&view)
    }
}

display_module!(
    TransformerEncoderLayer,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerDecoder,
    Transformer,
    SinusoidalPositionalEncoding,
    LearnedPositionalEmbedding
);
crate::visit_as_module!(SinusoidalPositionalEncoding);
