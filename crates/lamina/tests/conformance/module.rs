//! `module` and `double_backward` cases: a layer built from PyTorch's class
//! name and constructor options, loaded with the case's parameters and
//! buffers, run, and differentiated once or twice.

use crate::support::{attn_mask, check, check_val, in_f64_and_f32, tensor_as, val_as, Config, Outcome, Tol, Val};
use lamina::layers::{
    AttnMask, DecoderOptions, EncoderOptions, Forward, LayerNorm, LayerNormConfig, ModuleExt, MultiheadAttention,
    MultiheadAttentionConfig, MultiheadAttentionOptions, StateDict, Transformer, TransformerActivation,
    TransformerConfig, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
    TransformerLayerConfig, TransformerOptions,
};
use lamina::prelude::*;
use serde_json::Value;

/// Builds a one-input layer from a PyTorch class name and its options.
pub fn build<E: Element>(name: &str, config: &Value) -> Result<Box<dyn Forward<E>>, String> {
    use lamina::layers::*;
    let c = Config::new(config);
    let config = config.as_object().cloned().unwrap_or_default();
    let layer: Box<dyn Forward<E>> = match name {
        "Sequential" => {
            let mut seq = Sequential::new();
            for l in c.value("layers").and_then(Value::as_array).ok_or("Sequential needs `layers`")? {
                seq.push(build(l["module"].as_str().ok_or("layer without module")?, &l["config"])?);
            }
            Box::new(seq)
        }
        "Linear" => Box::new(Linear::new(c.usize("in_features")?, c.usize("out_features")?, c.bool_or("bias", true)?)),
        "Identity" => Box::new(Identity::new()),
        "Flatten" => Box::new(Flatten::new(c.usize_or("start_dim", 1)? as isize, -1)),
        "ReLU" => Box::new(ReLU::new()),
        "Sigmoid" => Box::new(Sigmoid::new()),
        "Tanh" => Box::new(Tanh::new()),
        "SELU" => Box::new(SELU::new()),
        "SiLU" => Box::new(SiLU::new()),
        "Mish" => Box::new(Mish::new()),
        "LeakyReLU" => Box::new(LeakyReLU::new(c.f64_or("negative_slope", 0.01)?)),
        "ELU" => Box::new(ELU::new(c.f64_or("alpha", 1.0)?)),
        "GELU" => Box::new(GELU::new(if c.str_or("approximate", "none")? == "tanh" { "tanh" } else { "none" })),
        "Softplus" => Box::new(Softplus::new(c.f64_or("beta", 1.0)?, c.f64_or("threshold", 20.0)?)),
        "Hardtanh" => Box::new(Hardtanh::new(c.f64_or("min_val", -1.0)?, c.f64_or("max_val", 1.0)?)),
        "Softmax" => {
            Box::new(Softmax::new(c.value("dim").and_then(Value::as_i64).ok_or("Softmax needs `dim`")? as isize))
        }
        "LogSoftmax" => {
            Box::new(LogSoftmax::new(c.value("dim").and_then(Value::as_i64).ok_or("LogSoftmax needs `dim`")? as isize))
        }
        "PReLU" => Box::new(PReLU::new(c.usize_or("num_parameters", 1)?, c.f64_or("init", 0.25)?)),
        "Dropout" => Box::new(Dropout::new(c.f64_or("p", 0.5)?)),
        "Conv1d" => Box::new(Conv1d::with_config(conv_config::<1>(&c)?)),
        "Conv2d" => Box::new(Conv2d::with_config(conv_config::<2>(&c)?)),
        "ConvTranspose1d" => Box::new(ConvTranspose1d::with_config(conv_transpose_config::<1>(&c)?)),
        "ConvTranspose2d" => Box::new(ConvTranspose2d::with_config(conv_transpose_config::<2>(&c)?)),
        "MaxPool1d" => {
            let k = c.usize("kernel_size")?;
            Box::new(MaxPool1d::with_options(lamina::core::MaxPool1dOptions {
                kernel_size: k,
                stride: c.has("stride").then(|| c.usize("stride")).transpose()?,
                padding: c.usize_or("padding", 0)?,
                dilation: c.usize_or("dilation", 1)?,
                ceil_mode: c.bool_or("ceil_mode", false)?,
            }))
        }
        "MaxPool2d" => {
            let pair = |k: &str, d| c.pair(k, d);
            Box::new(MaxPool2d::with_options(lamina::core::MaxPool2dOptions {
                kernel_size: pair("kernel_size", 1)?,
                stride: c.has("stride").then(|| pair("stride", 1)).transpose()?,
                padding: pair("padding", 0)?,
                dilation: pair("dilation", 1)?,
                ceil_mode: c.bool_or("ceil_mode", false)?,
            }))
        }
        "AvgPool2d" => {
            let pair = |k: &str, d| c.pair(k, d);
            Box::new(AvgPool2d::with_options(lamina::core::AvgPool2dOptions {
                kernel_size: pair("kernel_size", 1)?,
                stride: c.has("stride").then(|| pair("stride", 1)).transpose()?,
                padding: pair("padding", 0)?,
                ceil_mode: c.bool_or("ceil_mode", false)?,
                count_include_pad: c.bool_or("count_include_pad", true)?,
                divisor_override: c.has("divisor_override").then(|| c.usize("divisor_override")).transpose()?,
            }))
        }
        "AdaptiveAvgPool2d" => Box::new(AdaptiveAvgPool2d::with_options(c.pair("output_size", 1)?)),
        "AdaptiveMaxPool2d" => Box::new(AdaptiveMaxPool2d::with_options(c.pair("output_size", 1)?)),
        "BatchNorm1d" | "BatchNorm2d" | "BatchNorm3d" => {
            let n = c.usize("num_features")?;
            let config = BatchNormConfig {
                eps: c.f64_or("eps", 1e-5)?,
                momentum: match c.value("momentum") {
                    None if config.get("momentum").is_some() => None,
                    other => Some(other.and_then(Value::as_f64).unwrap_or(0.1)),
                },
                affine: c.bool_or("affine", true)?,
                track_running_stats: c.bool_or("track_running_stats", true)?,
            };
            match name {
                "BatchNorm1d" => Box::new(BatchNorm1d::with_config(n, config)),
                "BatchNorm2d" => Box::new(BatchNorm2d::with_config(n, config)),
                _ => Box::new(BatchNorm3d::with_config(n, config)),
            }
        }
        "InstanceNorm1d" | "InstanceNorm2d" => {
            let n = c.usize("num_features")?;
            let config = InstanceNormConfig {
                eps: c.f64_or("eps", 1e-5)?,
                momentum: c.f64_or("momentum", 0.1)?,
                affine: c.bool_or("affine", false)?,
                track_running_stats: c.bool_or("track_running_stats", false)?,
            };
            if name == "InstanceNorm1d" {
                Box::new(InstanceNorm1d::with_config(n, config))
            } else {
                Box::new(InstanceNorm2d::with_config(n, config))
            }
        }
        "LayerNorm" => Box::new(LayerNorm::with_config(
            &c.ints_or("normalized_shape", 1, 0)?,
            LayerNormConfig {
                eps: c.f64_or("eps", 1e-5)?,
                elementwise_affine: c.bool_or("elementwise_affine", true)?,
                bias: c.bool_or("bias", true)?,
            },
        )),
        "GroupNorm" => Box::new(GroupNorm::with_config(
            c.usize("num_groups")?,
            c.usize("num_channels")?,
            GroupNormConfig { eps: c.f64_or("eps", 1e-5)?, affine: c.bool_or("affine", true)? },
        )),
        "RMSNorm" => Box::new(RMSNorm::with_config(
            &c.ints_or("normalized_shape", 1, 0)?,
            RMSNormConfig {
                eps: c.value("eps").and_then(Value::as_f64),
                elementwise_affine: c.bool_or("elementwise_affine", true)?,
            },
        )),
        "BasicBlock" => Box::new(BasicBlock::new(c.usize("inplanes")?, c.usize("planes")?, c.usize_or("stride", 1)?)),
        "Bottleneck" => Box::new(Bottleneck::new(c.usize("inplanes")?, c.usize("planes")?, c.usize_or("stride", 1)?)),
        "DenseBlock" => Box::new(DenseBlock::new(
            c.usize("num_layers")?,
            c.usize("num_input_features")?,
            c.usize("bn_size")?,
            c.usize("growth_rate")?,
        )),
        other => return Err(format!("unknown module `{other}`")),
    };
    c.finish(name)?;
    Ok(layer)
}

/// An int-or-tuple option as `D` values.
fn dims<const D: usize>(c: &Config<'_>, key: &str, default: usize) -> Result<[usize; D], String> {
    let v = c.ints_or(key, D, default)?;
    (v.len() == D).then(|| std::array::from_fn(|i| v[i])).ok_or_else(|| format!("`{key}` needs {D} values"))
}

fn conv_config<const D: usize>(c: &Config<'_>) -> Result<lamina::layers::ConvConfig<D>, String> {
    use lamina::layers::{ConvConfig, Padding, PaddingMode};
    let padding = match c.value("padding") {
        Some(Value::String(s)) if s == "same" => Padding::Same,
        Some(Value::String(s)) if s == "valid" => Padding::Valid,
        _ => Padding::Explicit(dims::<D>(c, "padding", 0)?),
    };
    Ok(ConvConfig {
        stride: dims(c, "stride", 1)?,
        padding,
        dilation: dims(c, "dilation", 1)?,
        groups: c.usize_or("groups", 1)?,
        bias: c.bool_or("bias", true)?,
        padding_mode: match c.str_or("padding_mode", "zeros")? {
            "zeros" => PaddingMode::Zeros,
            "reflect" => PaddingMode::Reflect,
            "replicate" => PaddingMode::Replicate,
            "circular" => PaddingMode::Circular,
            other => return Err(format!("unknown padding_mode `{other}`")),
        },
        ..ConvConfig::new(c.usize("in_channels")?, c.usize("out_channels")?, dims(c, "kernel_size", 1)?)
    })
}

fn conv_transpose_config<const D: usize>(c: &Config<'_>) -> Result<lamina::layers::ConvTransposeConfig<D>, String> {
    Ok(lamina::layers::ConvTransposeConfig {
        stride: dims(c, "stride", 1)?,
        padding: dims(c, "padding", 0)?,
        output_padding: dims(c, "output_padding", 0)?,
        groups: c.usize_or("groups", 1)?,
        bias: c.bool_or("bias", true)?,
        dilation: dims(c, "dilation", 1)?,
        ..lamina::layers::ConvTransposeConfig::new(
            c.usize("in_channels")?,
            c.usize("out_channels")?,
            dims(c, "kernel_size", 1)?,
        )
    })
}

/// The case's parameters and buffers as a state dict of `E`.
fn state<E: Element>(case: &Value) -> Result<StateDict<E>, String> {
    let mut sd = StateDict::new();
    for key in ["params", "buffers"] {
        for (name, v) in case[key].as_object().into_iter().flatten() {
            let t = match val_as::<E>(v)? {
                Val::F(t) => t,
                Val::I(i) => Tensor::from_f64(&i.to_vec().iter().map(|&x| x as f64).collect::<Vec<_>>(), i.shape()),
                Val::B(_) => return Err(format!("{name}: bool state is not supported")),
            };
            sd.insert(name, t);
        }
    }
    Ok(sd)
}

/// A forward call's arguments: the case's positional `inputs` bound to
/// PyTorch's parameter names, then its `forward_kwargs`. Every keyword must be
/// read (see [`Args::finish`]); keyword tensors are constants.
pub struct Args<'a, E: Element> {
    positional: Vec<(&'static str, Val<E>)>,
    kwargs: Config<'a>,
}

impl<'a, E: Element> Args<'a, E> {
    /// Binds `inputs` (`None` for an omitted one) to `signature` in order.
    pub fn bind(signature: &[&'static str], inputs: &[Option<Val<E>>], kwargs: &'a Value) -> Result<Self, String> {
        if inputs.len() > signature.len() {
            return Err(format!("{} inputs for forward({})", inputs.len(), signature.join(", ")));
        }
        let positional = signature.iter().zip(inputs).filter_map(|(n, v)| v.clone().map(|v| (*n, v))).collect();
        Ok(Args { positional, kwargs: Config::new(kwargs) })
    }

    /// The argument `name`, positional or keyword, if given.
    pub fn val(&self, name: &str) -> Result<Option<Val<E>>, String> {
        match self.positional.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(Some(v.clone())),
            None => self.kwargs.value(name).map(val_as::<E>).transpose(),
        }
    }

    /// The float tensor `name`, required.
    pub fn float(&self, name: &str) -> Result<Tensor<E>, String> {
        self.val(name)?.ok_or_else(|| format!("forward needs `{name}`"))?.float().cloned()
    }

    /// The mask `name` (boolean or float), if given.
    pub fn mask(&self, name: &str) -> Result<Option<AttnMask<E>>, String> {
        self.val(name)?.map(|v| attn_mask(name, v)).transpose()
    }

    /// The keyword flag `name` (`null` is the default).
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, String> {
        self.kwargs.bool_or(name, default)
    }

    /// Errors on a keyword argument that was never read.
    pub fn finish(&self) -> Outcome {
        self.kwargs.finish("forward")
    }
}

/// A layer as a case runs it: from its arguments to every output it returns.
pub trait CaseLayer<E: Element>: lamina::layers::Module<E> {
    /// PyTorch's names of the forward's parameters, in positional order.
    fn signature(&self) -> &'static [&'static str] {
        &["input"]
    }

    /// The outputs, flattened in PyTorch's order (`None` ones dropped).
    fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String>;

    /// The first output for positional inputs only.
    fn apply(&self, inputs: &[Val<E>]) -> Result<Tensor<E>, String> {
        let inputs: Vec<Option<Val<E>>> = inputs.iter().cloned().map(Some).collect();
        let args = Args::bind(self.signature(), &inputs, &Value::Null)?;
        self.call(&args)?.into_iter().next().ok_or_else(|| "no output".into())
    }
}

impl<E: Element> CaseLayer<E> for Box<dyn Forward<E>> {
    fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
        Ok(vec![self.forward(&args.float("input")?)])
    }
}

impl<E: Element> CaseLayer<E> for lamina::layers::Embedding<E> {
    fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
        Ok(vec![self.forward_ids(args.val("input")?.ok_or("no input")?.index()?)])
    }
}

impl<E: Element> CaseLayer<E> for MultiheadAttention<E> {
    fn signature(&self) -> &'static [&'static str] {
        &["query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights", "is_causal"]
    }
    fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
        let opts = MultiheadAttentionOptions {
            key_padding_mask: args.mask("key_padding_mask")?,
            need_weights: args.flag("need_weights", true)?,
            attn_mask: args.mask("attn_mask")?,
            average_attn_weights: args.flag("average_attn_weights", true)?,
            is_causal: args.flag("is_causal", false)?,
        };
        let (y, w) = self.forward_qkv(&args.float("query")?, &args.float("key")?, &args.float("value")?, &opts);
        Ok([Some(y), w].into_iter().flatten().collect())
    }
}

/// The encoder masks of a forward whose parameters are named `mask_name`,
/// `padding_name` and `causal_name`.
fn encoder_options<E: Element>(
    args: &Args<'_, E>,
    [mask_name, padding_name, causal_name]: [&str; 3],
) -> Result<EncoderOptions<E>, String> {
    Ok(EncoderOptions {
        src_mask: args.mask(mask_name)?,
        src_key_padding_mask: args.mask(padding_name)?,
        is_causal: args.flag(causal_name, false)?,
    })
}

fn decoder_options<E: Element>(args: &Args<'_, E>) -> Result<DecoderOptions<E>, String> {
    Ok(DecoderOptions {
        tgt_mask: args.mask("tgt_mask")?,
        memory_mask: args.mask("memory_mask")?,
        tgt_key_padding_mask: args.mask("tgt_key_padding_mask")?,
        memory_key_padding_mask: args.mask("memory_key_padding_mask")?,
        tgt_is_causal: args.flag("tgt_is_causal", false)?,
        memory_is_causal: args.flag("memory_is_causal", false)?,
    })
}

const DECODER_SIGNATURE: &[&str] = &[
    "tgt",
    "memory",
    "tgt_mask",
    "memory_mask",
    "tgt_key_padding_mask",
    "memory_key_padding_mask",
    "tgt_is_causal",
    "memory_is_causal",
];

impl<E: Element> CaseLayer<E> for TransformerEncoderLayer<E> {
    fn signature(&self) -> &'static [&'static str] {
        &["src", "src_mask", "src_key_padding_mask", "is_causal"]
    }
    fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
        let opts = encoder_options(args, ["src_mask", "src_key_padding_mask", "is_causal"])?;
        Ok(vec![self.forward_with(&args.float("src")?, &opts)])
    }
}

impl<E: Element> CaseLayer<E> for TransformerEncoder<E> {
    fn signature(&self) -> &'static [&'static str] {
        &["src", "mask", "src_key_padding_mask", "is_causal"]
    }
    fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
        let opts = encoder_options(args, ["mask", "src_key_padding_mask", "is_causal"])?;
        Ok(vec![self.forward_with(&args.float("src")?, &opts)])
    }
}

/// A decoder layer and a decoder stack take the same arguments.
macro_rules! decoder_case {
    ($($t:ident),*) => {$(
        impl<E: Element> CaseLayer<E> for $t<E> {
            fn signature(&self) -> &'static [&'static str] {
                DECODER_SIGNATURE
            }
            fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
                Ok(vec![self.forward_with(&args.float("tgt")?, &args.float("memory")?, &decoder_options(args)?)])
            }
        }
    )*};
}
decoder_case!(TransformerDecoderLayer, TransformerDecoder);

impl<E: Element> CaseLayer<E> for Transformer<E> {
    fn signature(&self) -> &'static [&'static str] {
        &[
            "src",
            "tgt",
            "src_mask",
            "tgt_mask",
            "memory_mask",
            "src_key_padding_mask",
            "tgt_key_padding_mask",
            "memory_key_padding_mask",
            "src_is_causal",
            "tgt_is_causal",
            "memory_is_causal",
        ]
    }
    fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
        let opts = TransformerOptions {
            encoder: encoder_options(args, ["src_mask", "src_key_padding_mask", "src_is_causal"])?,
            decoder: decoder_options(args)?,
        };
        Ok(vec![self.forward_with(&args.float("src")?, &args.float("tgt")?, &opts)])
    }
}

/// The options shared by the transformer layers (and `nn.Transformer`).
fn transformer_layer_config(c: &Config<'_>) -> Result<TransformerLayerConfig, String> {
    let d = TransformerLayerConfig::default();
    Ok(TransformerLayerConfig {
        dim_feedforward: c.usize_or("dim_feedforward", d.dim_feedforward)?,
        dropout: c.f64_or("dropout", d.dropout)?,
        activation: match c.str_or("activation", "relu")? {
            "relu" => TransformerActivation::Relu,
            "gelu" => TransformerActivation::Gelu,
            other => return Err(format!("unknown activation `{other}`")),
        },
        layer_norm_eps: c.f64_or("layer_norm_eps", d.layer_norm_eps)?,
        batch_first: c.bool_or("batch_first", d.batch_first)?,
        norm_first: c.bool_or("norm_first", d.norm_first)?,
        bias: c.bool_or("bias", d.bias)?,
    })
}

/// A nested `{"module", "config"}` that must name `want`; its config.
fn nested<'a>(c: &Config<'a>, key: &str, want: &str) -> Result<Option<&'a Value>, String> {
    match c.value(key) {
        None => Ok(None),
        Some(v) if v["module"].as_str() == Some(want) => Ok(Some(&v["config"])),
        Some(v) => Err(format!("`{key}` must be a {want}, got {}", v["module"])),
    }
}

/// A stack's final norm from `config.norm`, if any.
fn final_norm<E: Element>(c: &Config<'_>) -> Result<Option<LayerNorm<E>>, String> {
    let Some(config) = nested(c, "norm", "LayerNorm")? else { return Ok(None) };
    let n = Config::new(config);
    let norm = LayerNorm::with_config(
        &n.ints_or("normalized_shape", 1, 0)?,
        LayerNormConfig {
            eps: n.f64_or("eps", 1e-5)?,
            elementwise_affine: n.bool_or("elementwise_affine", true)?,
            bias: n.bool_or("bias", true)?,
        },
    );
    n.finish("LayerNorm")?;
    Ok(Some(norm))
}

/// Builds the attention and transformer modules, or `None` for another name.
fn build_attention<E: Element>(name: &str, c: &Config<'_>) -> Result<Option<Box<dyn CaseLayer<E>>>, String> {
    let layer = |key: &str, module: &str| -> Result<(usize, usize, TransformerLayerConfig), String> {
        let config = nested(c, key, module)?.ok_or_else(|| format!("{name} needs `{key}`"))?;
        let lc = Config::new(config);
        let out = (lc.usize("d_model")?, lc.usize("nhead")?, transformer_layer_config(&lc)?);
        lc.finish(module)?;
        Ok(out)
    };
    Ok(Some(match name {
        "MultiheadAttention" => {
            let config = MultiheadAttentionConfig {
                dropout: c.f64_or("dropout", 0.0)?,
                bias: c.bool_or("bias", true)?,
                add_bias_kv: c.bool_or("add_bias_kv", false)?,
                add_zero_attn: c.bool_or("add_zero_attn", false)?,
                kdim: c.has("kdim").then(|| c.usize("kdim")).transpose()?,
                vdim: c.has("vdim").then(|| c.usize("vdim")).transpose()?,
                batch_first: c.bool_or("batch_first", false)?,
            };
            Box::new(MultiheadAttention::<E>::with_config(c.usize("embed_dim")?, c.usize("num_heads")?, config))
        }
        "TransformerEncoderLayer" => {
            let (d, h) = (c.usize("d_model")?, c.usize("nhead")?);
            Box::new(TransformerEncoderLayer::<E>::with_config(d, h, transformer_layer_config(c)?))
        }
        "TransformerDecoderLayer" => {
            let (d, h) = (c.usize("d_model")?, c.usize("nhead")?);
            Box::new(TransformerDecoderLayer::<E>::with_config(d, h, transformer_layer_config(c)?))
        }
        "TransformerEncoder" => {
            let (d, h, config) = layer("encoder_layer", "TransformerEncoderLayer")?;
            // PyTorch's nested-tensor fast path changes no value.
            c.bool_or("enable_nested_tensor", true)?;
            c.bool_or("mask_check", true)?;
            let first = TransformerEncoderLayer::with_config(d, h, config);
            Box::new(TransformerEncoder::<E>::new(first, c.usize("num_layers")?, final_norm(c)?))
        }
        "TransformerDecoder" => {
            let (d, h, config) = layer("decoder_layer", "TransformerDecoderLayer")?;
            let first = TransformerDecoderLayer::with_config(d, h, config);
            Box::new(TransformerDecoder::<E>::new(first, c.usize("num_layers")?, final_norm(c)?))
        }
        "Transformer" => {
            let d = TransformerConfig::default();
            Box::new(Transformer::<E>::new(TransformerConfig {
                d_model: c.usize_or("d_model", d.d_model)?,
                nhead: c.usize_or("nhead", d.nhead)?,
                num_encoder_layers: c.usize_or("num_encoder_layers", d.num_encoder_layers)?,
                num_decoder_layers: c.usize_or("num_decoder_layers", d.num_decoder_layers)?,
                layer: transformer_layer_config(c)?,
            }))
        }
        _ => return Ok(None),
    }))
}

/// Implements [`CaseLayer`] for a recurrent layer or cell whose forward takes
/// the input and optional initial states (`h0`, and `c0` for the LSTMs).
macro_rules! recurrent_case {
    ($t:ident, [$($state:literal),*], |$m:ident, $x:ident, $s:ident| $outputs:expr) => {
        impl<E: Element> CaseLayer<E> for lamina::layers::$t<E> {
            fn signature(&self) -> &'static [&'static str] {
                &["input", $($state),*]
            }
            fn call(&self, args: &Args<'_, E>) -> Result<Vec<Tensor<E>>, String> {
                let $m = self;
                let $x = args.float("input")?;
                let $s: Vec<Tensor<E>> = [$($state),*].iter().map(|n| args.val(n)).collect::<Result<Vec<_>, _>>()?
                    .into_iter().flatten().map(|v| v.float().cloned()).collect::<Result<_, _>>()?;
                if !$s.is_empty() && $s.len() != [$($state),*].len() {
                    return Err(format!("give all of {:?} or none", [$($state),*]));
                }
                Ok($outputs)
            }
        }
    };
}
recurrent_case!(RNN, ["h0"], |m, x, s| {
    let (y, h) = m.forward(&x, s.first());
    vec![y, h]
});
recurrent_case!(GRU, ["h0"], |m, x, s| {
    let (y, h) = m.forward(&x, s.first());
    vec![y, h]
});
recurrent_case!(LSTM, ["h0", "c0"], |m, x, s| {
    let (y, (h, c)) = m.forward(&x, s.first().zip(s.get(1)));
    vec![y, h, c]
});
recurrent_case!(RNNCell, ["hx"], |m, x, s| vec![m.forward(&x, s.first())]);
recurrent_case!(GRUCell, ["hx"], |m, x, s| vec![m.forward(&x, s.first())]);
recurrent_case!(LSTMCell, ["h0", "c0"], |m, x, s| {
    let (h, c) = m.forward(&x, s.first().zip(s.get(1)));
    vec![h, c]
});

/// `RNN`, `LSTM`, `GRU` and their cells from PyTorch's constructor options
/// (each type reads only the options its constructor has).
fn build_recurrent<E: Element>(name: &str, c: &Config<'_>) -> Result<Option<Box<dyn CaseLayer<E>>>, String> {
    use lamina::layers::*;
    if !matches!(name, "RNN" | "LSTM" | "GRU" | "RNNCell" | "LSTMCell" | "GRUCell") {
        return Ok(None);
    }
    let (input, hidden) = (c.usize("input_size")?, c.usize("hidden_size")?);
    let nonlinearity = |c: &Config<'_>| c.str_or("nonlinearity", "tanh")?.parse::<RnnNonlinearity>();
    let layer = |nonlinearity, proj_size| -> Result<RecurrentConfig, String> {
        Ok(RecurrentConfig {
            num_layers: c.usize_or("num_layers", 1)?,
            nonlinearity,
            bias: c.bool_or("bias", true)?,
            batch_first: c.bool_or("batch_first", false)?,
            dropout: c.f64_or("dropout", 0.0)?,
            bidirectional: c.bool_or("bidirectional", false)?,
            proj_size,
            ..RecurrentConfig::new(input, hidden)
        })
    };
    Ok(Some(match name {
        "RNN" => Box::new(RNN::with_config(layer(nonlinearity(c)?, 0)?)),
        "LSTM" => Box::new(LSTM::with_config(layer(RnnNonlinearity::Tanh, c.usize_or("proj_size", 0)?)?)),
        "GRU" => Box::new(GRU::with_config(layer(RnnNonlinearity::Tanh, 0)?)),
        "RNNCell" => Box::new(RNNCell::new(input, hidden, c.bool_or("bias", true)?, nonlinearity(c)?)),
        "LSTMCell" => Box::new(LSTMCell::new(input, hidden, c.bool_or("bias", true)?)),
        _ => Box::new(GRUCell::new(input, hidden, c.bool_or("bias", true)?)),
    }))
}

/// Builds a case's layer: [`build`]'s layers plus those whose input is not one float tensor.
fn build_case<E: Element>(name: &str, config: &Value) -> Result<Box<dyn CaseLayer<E>>, String> {
    let c = Config::new(config);
    let special = match build_recurrent::<E>(name, &c)? {
        Some(layer) => Some(layer),
        None => build_attention::<E>(name, &c)?,
    };
    if let Some(layer) = special {
        c.finish(name)?;
        return Ok(layer);
    }
    if name == "Embedding" {
        let mut e = lamina::layers::Embedding::new(
            c.usize("num_embeddings")?,
            c.usize("embedding_dim")?,
            c.value("padding_idx").and_then(Value::as_i64),
        );
        e.max_norm = c.value("max_norm").and_then(Value::as_f64);
        e.norm_type = c.f64_or("norm_type", 2.0)?;
        c.finish(name)?;
        return Ok(Box::new(e));
    }
    Ok(Box::new(build::<E>(name, config)?))
}

/// Builds the case's layer in the case's mode, with its state loaded.
pub fn prepare<E: Element>(case: &Value) -> Result<Box<dyn CaseLayer<E>>, String> {
    let layer = build_case::<E>(case["module"].as_str().ok_or("case without module")?, &case["config"])?;
    layer.load_state_dict(&state(case)?).map_err(|e| e.to_string())?;
    match case["mode"].as_str() {
        Some("eval") => layer.eval(),
        Some("train") | None => layer.train(),
        Some(other) => return Err(format!("unknown mode `{other}`")),
    }
    Ok(layer)
}

/// The case's positional inputs (`None` where omitted), float ones as leaves requiring grad.
fn inputs<E: Element>(case: &Value) -> Result<Vec<Option<Val<E>>>, String> {
    let list = case["inputs"].as_array().ok_or("case without inputs")?;
    list.iter()
        .map(|v| {
            if v.is_null() {
                return Ok(None);
            }
            Ok(Some(match val_as::<E>(v)? {
                Val::F(t) => Val::F(t.requires_grad_(true)),
                other => other,
            }))
        })
        .collect()
}

/// Runs the case's forward: the layer, its float inputs (differentiable
/// leaves, by input index) and its outputs, as many as the case lists.
fn forward<E: Element>(case: &Value) -> Result<ForwardRun<E>, String> {
    let layer = prepare::<E>(case)?;
    let xs = inputs::<E>(case)?;
    let args = Args::bind(layer.signature(), &xs, &case["forward_kwargs"])?;
    let outputs = layer.call(&args)?;
    args.finish()?;
    if let Some(want) = case["outputs"].as_array().map(Vec::len).filter(|&n| n != outputs.len()) {
        return Err(format!("{} outputs, want {want}", outputs.len()));
    }
    let leaves = xs.into_iter().map(|v| v.and_then(|v| v.float().ok().cloned())).collect();
    Ok(ForwardRun { layer, leaves, outputs })
}

struct ForwardRun<E: Element> {
    layer: Box<dyn CaseLayer<E>>,
    /// Per input: the float leaf, or `None` (omitted, integer or bool).
    leaves: Vec<Option<Tensor<E>>>,
    outputs: Vec<Tensor<E>>,
}

impl<E: Element> ForwardRun<E> {
    /// `sum_i <outputs_i, grad_outputs_i>` over the outputs with a gradient.
    fn objective(&self, case: &Value) -> Result<Tensor<E>, String> {
        let seeds = case["grad_outputs"].as_array().ok_or("case without grad_outputs")?;
        let mut total: Option<Tensor<E>> = None;
        for (y, g) in self.outputs.iter().zip(seeds).filter(|(_, g)| !g.is_null()) {
            let term = (y * &tensor_as::<E>(g)?).sum();
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
        total.ok_or_else(|| "no output has a gradient".into())
    }
}

/// Runs a `module` case in f64, and again in f32 where the case allows it.
pub fn run(case: &Value) -> Outcome {
    in_f64_and_f32(case, run_as::<f64>, run_as::<f32>)
}

fn run_as<E: Element>(case: &Value) -> Outcome {
    let tol = Tol::for_element::<E>(case);
    let run = forward::<E>(case)?;
    for (i, (y, want)) in run.outputs.iter().zip(case["outputs"].as_array().into_iter().flatten()).enumerate() {
        check_val(&format!("output {i}"), &Val::F(y.clone()), want, tol)?;
    }
    let params = run.layer.named_parameters();
    let inputs: Vec<&Tensor<E>> = run.leaves.iter().flatten().collect();
    let mut wrt = inputs.clone();
    wrt.extend(params.iter().map(|(_, p)| p));
    let objective = run.objective(case)?;
    let grads = grad(&[&objective], &wrt, None, GradOptions { allow_unused: true, ..Default::default() })
        .map_err(|e| e.to_string())?;
    let grad_or_zero = |i: usize| grads[i].clone().unwrap_or_else(|| wrt[i].zeros_like());
    let mut next = 0;
    for (i, leaf) in run.leaves.iter().enumerate() {
        if leaf.is_some() {
            if let Some(g) = case["grad_inputs"].get(i).filter(|g| !g.is_null()) {
                check(&format!("grad of input {i}"), &grad_or_zero(next), g, tol)?;
            }
            next += 1;
        }
    }
    for (i, (name, _)) in params.iter().enumerate() {
        let want = case["grad_params"].get(name).ok_or_else(|| format!("no expected grad for {name}"))?;
        check(&format!("grad of {name}"), &grad_or_zero(inputs.len() + i), want, tol)?;
    }
    for (name, t) in run.layer.named_buffers() {
        if let Some(want) = case["buffers_after"].get(&name) {
            check(&format!("buffer {name} after"), &t, want, tol)?;
        }
    }
    Ok(())
}

/// Runs a `double_backward` case (in f64).
pub fn run_double_backward(case: &Value) -> Outcome {
    let tol = Tol::of(case);
    let run = forward::<f64>(case)?;
    let x = run.leaves.iter().flatten().next().ok_or("no float input")?;
    let params = run.layer.named_parameters();
    let p_refs: Vec<&Tensor<f64>> = params.iter().map(|(_, p)| p).collect();
    let objective = run.objective(case)?;
    let second_order = GradOptions { allow_unused: true, ..GradOptions::create_graph() };
    let result = match case["quantity"].as_str() {
        Some("hvp") => {
            let g = grad(&[&objective], &p_refs, None, second_order).map_err(|e| e.to_string())?;
            let mut gv: Option<Tensor<f64>> = None;
            for ((name, p), g) in params.iter().zip(&g) {
                let v = tensor_as::<f64>(case["vectors"].get(name).ok_or_else(|| format!("no vector for {name}"))?)?;
                let term = (g.clone().unwrap_or_else(|| p.zeros_like()) * v).sum();
                gv = Some(match gv {
                    Some(acc) => acc + term,
                    None => term,
                });
            }
            let gv = gv.ok_or("module without parameters")?;
            grad(&[&gv], &p_refs, None, GradOptions { allow_unused: true, ..Default::default() })
                .map_err(|e| e.to_string())?
        }
        Some("input_grad_penalty") => {
            let gx = grad(&[&objective], &[x], None, second_order).map_err(|e| e.to_string())?[0]
                .clone()
                .ok_or("output does not depend on the input")?;
            let penalty = gx.square().sum();
            grad(&[&penalty], &p_refs, None, GradOptions { allow_unused: true, ..Default::default() })
                .map_err(|e| e.to_string())?
        }
        other => return Err(format!("unknown quantity {other:?}")),
    };
    for ((name, p), r) in params.iter().zip(result) {
        let want = case["result"].get(name).ok_or_else(|| format!("no expected result for {name}"))?;
        check(&format!("result for {name}"), &r.unwrap_or_else(|| p.zeros_like()), want, tol)?;
    }
    Ok(())
}
