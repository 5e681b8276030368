//! `module` and `double_backward` cases: a layer built from PyTorch's class
//! name and constructor options, loaded with the case's parameters and
//! buffers, run, and differentiated once or twice.

use crate::support::{check, check_val, in_f64_and_f32, tensor_as, val_as, Config, Outcome, Tol, Val};
use lamina::layers::{Forward, ModuleExt, StateDict};
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

/// A layer as a case runs it: on the case's inputs (float tensors, or ids;
/// `None` for an omitted optional one), giving every output in order.
pub trait CaseLayer<E: Element>: lamina::layers::Module<E> {
    fn apply(&self, inputs: &[Option<Val<E>>]) -> Result<Vec<Tensor<E>>, String>;
}

/// The first input, the only one allowed: one-tensor layers.
fn only_input<E: Element>(inputs: &[Option<Val<E>>]) -> Result<&Val<E>, String> {
    match inputs {
        [Some(x)] => Ok(x),
        _ => Err(format!("expected exactly one input, got {}", inputs.len())),
    }
}

impl<E: Element> CaseLayer<E> for Box<dyn Forward<E>> {
    fn apply(&self, inputs: &[Option<Val<E>>]) -> Result<Vec<Tensor<E>>, String> {
        Ok(vec![self.forward(only_input(inputs)?.float()?)])
    }
}

impl<E: Element> CaseLayer<E> for lamina::layers::Embedding<E> {
    fn apply(&self, inputs: &[Option<Val<E>>]) -> Result<Vec<Tensor<E>>, String> {
        Ok(vec![self.forward_ids(only_input(inputs)?.index()?)])
    }
}

/// The float inputs of a recurrent layer or cell: `x`, then up to `states`
/// optional initial states (given all together or not at all).
fn recurrent_inputs<E: Element>(inputs: &[Option<Val<E>>], states: usize) -> Result<Vec<&Tensor<E>>, String> {
    let given: Vec<&Tensor<E>> = inputs.iter().flatten().map(Val::float).collect::<Result<_, _>>()?;
    match (inputs.first(), given.len()) {
        (Some(Some(_)), n) if n == 1 || n == 1 + states => Ok(given),
        _ => Err(format!("expected the input and 0 or {states} initial states, got {} inputs", inputs.len())),
    }
}

/// Implements [`CaseLayer`] for a recurrent layer or cell with `states`
/// initial states: `|layer, x, h, c| outputs` (`h`, `c` optional).
macro_rules! recurrent_case {
    ($t:ident, $states:literal, |$m:ident, $x:ident, $h:ident, $c:ident| $outputs:expr) => {
        impl<E: Element> CaseLayer<E> for lamina::layers::$t<E> {
            fn apply(&self, inputs: &[Option<Val<E>>]) -> Result<Vec<Tensor<E>>, String> {
                let xs = recurrent_inputs(inputs, $states)?;
                let ($m, $x, $h, $c) = (self, xs[0], xs.get(1).copied(), xs.get(2).copied());
                Ok($outputs)
            }
        }
    };
}
recurrent_case!(RNN, 1, |m, x, h, _c| {
    let (y, h) = m.forward(x, h);
    vec![y, h]
});
recurrent_case!(GRU, 1, |m, x, h, _c| {
    let (y, h) = m.forward(x, h);
    vec![y, h]
});
recurrent_case!(LSTM, 2, |m, x, h, c| {
    let (y, (h, c)) = m.forward(x, h.zip(c));
    vec![y, h, c]
});
recurrent_case!(RNNCell, 1, |m, x, h, _c| vec![m.forward(x, h)]);
recurrent_case!(GRUCell, 1, |m, x, h, _c| vec![m.forward(x, h)]);
recurrent_case!(LSTMCell, 2, |m, x, h, c| {
    let (h, c) = m.forward(x, h.zip(c));
    vec![h, c]
});

/// `RNN`, `LSTM`, `GRU` and their cells from PyTorch's constructor options
/// (each type reads only the options its constructor has).
fn build_recurrent<E: Element>(name: &str, c: &Config<'_>) -> Result<Box<dyn CaseLayer<E>>, String> {
    use lamina::layers::*;
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
    Ok(match name {
        "RNN" => Box::new(RNN::with_config(layer(nonlinearity(c)?, 0)?)),
        "LSTM" => Box::new(LSTM::with_config(layer(RnnNonlinearity::Tanh, c.usize_or("proj_size", 0)?)?)),
        "GRU" => Box::new(GRU::with_config(layer(RnnNonlinearity::Tanh, 0)?)),
        "RNNCell" => Box::new(RNNCell::new(input, hidden, c.bool_or("bias", true)?, nonlinearity(c)?)),
        "LSTMCell" => Box::new(LSTMCell::new(input, hidden, c.bool_or("bias", true)?)),
        "GRUCell" => Box::new(GRUCell::new(input, hidden, c.bool_or("bias", true)?)),
        other => return Err(format!("`{other}` is not a recurrent module")),
    })
}

/// Builds a case's layer: [`build`]'s layers plus those whose input is not one float tensor.
fn build_case<E: Element>(name: &str, config: &Value) -> Result<Box<dyn CaseLayer<E>>, String> {
    if let "RNN" | "LSTM" | "GRU" | "RNNCell" | "LSTMCell" | "GRUCell" = name {
        let c = Config::new(config);
        let layer = build_recurrent(name, &c)?;
        c.finish(name)?;
        return Ok(layer);
    }
    if name == "Embedding" {
        let c = Config::new(config);
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

/// The case's inputs (`None` for `null`), float ones as leaves requiring grad.
fn inputs<E: Element>(case: &Value) -> Result<Vec<Option<Val<E>>>, String> {
    let list = case["inputs"].as_array().ok_or("case without inputs")?;
    if case["forward_kwargs"].as_object().is_some_and(|m| !m.is_empty()) {
        return Err("keyword arguments are not supported".into());
    }
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

/// The float inputs, with their positions in the case's list.
fn float_inputs<E: Element>(xs: &[Option<Val<E>>]) -> Vec<(usize, &Tensor<E>)> {
    xs.iter().enumerate().filter_map(|(i, v)| v.as_ref()?.float().ok().map(|t| (i, t))).collect()
}

/// Checks every output against the case's, and pairs the outputs that have
/// an upstream gradient with it (`grad_outputs` entries that are `null` are
/// unused outputs).
fn outputs_and_seeds<'a, E: Element>(
    case: &Value,
    ys: &'a [Tensor<E>],
    tol: Option<Tol>,
) -> Result<(Vec<&'a Tensor<E>>, Vec<Tensor<E>>), String> {
    let want = case["outputs"].as_array().ok_or("case without outputs")?;
    if want.len() != ys.len() {
        return Err(format!("the layer gives {} outputs, the case {}", ys.len(), want.len()));
    }
    let (mut used, mut seeds) = (Vec::new(), Vec::new());
    for (i, (y, w)) in ys.iter().zip(want).enumerate() {
        if let Some(tol) = tol {
            check_val(&format!("output {i}"), &Val::F(y.clone()), w, tol)?;
        }
        match case["grad_outputs"].get(i) {
            Some(g) if !g.is_null() => {
                used.push(y);
                seeds.push(tensor_as::<E>(g)?);
            }
            _ => {}
        }
    }
    Ok((used, seeds))
}

/// Runs a `module` case in f64, and again in f32 where the case allows it.
pub fn run(case: &Value) -> Outcome {
    in_f64_and_f32(case, run_as::<f64>, run_as::<f32>)
}

fn run_as<E: Element>(case: &Value) -> Outcome {
    let tol = Tol::for_element::<E>(case);
    let layer = prepare::<E>(case)?;
    let xs = inputs::<E>(case)?;
    let ys = layer.apply(&xs)?;
    let (used, seeds) = outputs_and_seeds(case, &ys, Some(tol))?;
    let seed_refs: Vec<&Tensor<E>> = seeds.iter().collect();
    let params = layer.named_parameters();
    let xs = float_inputs(&xs);
    let mut wrt: Vec<&Tensor<E>> = xs.iter().map(|(_, x)| *x).collect();
    let first_param = wrt.len();
    wrt.extend(params.iter().map(|(_, p)| p));
    let grads = grad(&used, &wrt, Some(&seed_refs), GradOptions { allow_unused: true, ..Default::default() })
        .map_err(|e| e.to_string())?;
    let zero = |i: usize| grads[i].clone().unwrap_or_else(|| wrt[i].zeros_like());
    for (k, (i, _)) in xs.iter().enumerate() {
        if let Some(g) = case["grad_inputs"].get(i).filter(|g| !g.is_null()) {
            check(&format!("grad of input {i}"), &zero(k), g, tol)?;
        }
    }
    for (i, (name, _)) in params.iter().enumerate() {
        let want = case["grad_params"].get(name).ok_or_else(|| format!("no expected grad for {name}"))?;
        check(&format!("grad of {name}"), &zero(first_param + i), want, tol)?;
    }
    for (name, t) in layer.named_buffers() {
        if let Some(want) = case["buffers_after"].get(&name) {
            check(&format!("buffer {name} after"), &t, want, tol)?;
        }
    }
    Ok(())
}

/// Runs a `double_backward` case (in f64).
pub fn run_double_backward(case: &Value) -> Outcome {
    let tol = Tol::of(case);
    let layer = prepare::<f64>(case)?;
    let xs = inputs::<f64>(case)?;
    let x = xs.first().and_then(Option::as_ref).ok_or("no input")?.float()?;
    let params = layer.named_parameters();
    let p_refs: Vec<&Tensor<f64>> = params.iter().map(|(_, p)| p).collect();
    let ys = layer.apply(&xs)?;
    let (used, seeds) = outputs_and_seeds(case, &ys, None)?;
    let objective =
        used.iter().zip(&seeds).map(|(y, s)| (*y * s).sum()).reduce(|a, b| a + b).ok_or("no output is used")?;
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
