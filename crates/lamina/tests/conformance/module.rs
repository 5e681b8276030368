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

/// A layer as a case runs it: on the case's inputs (float tensors, or ids).
pub trait CaseLayer<E: Element>: lamina::layers::Module<E> {
    fn apply(&self, inputs: &[Val<E>]) -> Result<Tensor<E>, String>;
}

impl<E: Element> CaseLayer<E> for Box<dyn Forward<E>> {
    fn apply(&self, inputs: &[Val<E>]) -> Result<Tensor<E>, String> {
        Ok(self.forward(inputs.first().ok_or("no input")?.float()?))
    }
}

impl<E: Element> CaseLayer<E> for lamina::layers::Embedding<E> {
    fn apply(&self, inputs: &[Val<E>]) -> Result<Tensor<E>, String> {
        Ok(self.forward_ids(inputs.first().ok_or("no input")?.index()?))
    }
}

/// Builds a case's layer: [`build`]'s layers plus those whose input is not one float tensor.
fn build_case<E: Element>(name: &str, config: &Value) -> Result<Box<dyn CaseLayer<E>>, String> {
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

/// The case's inputs, float ones as leaves requiring grad.
fn inputs<E: Element>(case: &Value) -> Result<Vec<Val<E>>, String> {
    let list = case["inputs"].as_array().ok_or("case without inputs")?;
    if list.len() != 1 || case["forward_kwargs"].as_object().is_some_and(|m| !m.is_empty()) {
        return Err(format!("{} inputs / keyword arguments: only one-input layers are supported", list.len()));
    }
    list.iter()
        .map(|v| {
            Ok(match val_as::<E>(v)? {
                Val::F(t) => Val::F(t.requires_grad_(true)),
                other => other,
            })
        })
        .collect()
}

/// Runs a `module` case in f64, and again in f32 where the case allows it.
pub fn run(case: &Value) -> Outcome {
    in_f64_and_f32(case, run_as::<f64>, run_as::<f32>)
}

fn run_as<E: Element>(case: &Value) -> Outcome {
    let tol = Tol::for_element::<E>(case);
    let layer = prepare::<E>(case)?;
    let xs = inputs::<E>(case)?;
    let y = layer.apply(&xs)?;
    let want = case["outputs"].as_array().ok_or("case without outputs")?;
    check_val("output 0", &Val::F(y.clone()), &want[0], tol)?;
    let seed = tensor_as::<E>(&case["grad_outputs"][0])?;
    let params = layer.named_parameters();
    let x = xs[0].float().ok();
    let mut wrt: Vec<&Tensor<E>> = x.into_iter().collect();
    let first_param = wrt.len();
    wrt.extend(params.iter().map(|(_, p)| p));
    let grads = grad(&[&y], &wrt, Some(&[&seed]), GradOptions { allow_unused: true, ..Default::default() })
        .map_err(|e| e.to_string())?;
    let zero = |i: usize| grads[i].clone().unwrap_or_else(|| wrt[i].zeros_like());
    if let Some(g) = case["grad_inputs"].get(0).filter(|g| !g.is_null() && first_param == 1) {
        check("grad of input 0", &zero(0), g, tol)?;
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
    let x = xs[0].float()?;
    let params = layer.named_parameters();
    let p_refs: Vec<&Tensor<f64>> = params.iter().map(|(_, p)| p).collect();
    let y = layer.apply(&xs)?;
    let seed = tensor_as::<f64>(&case["grad_outputs"][0])?;
    let objective = (&y * &seed).sum();
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
