//! `function` cases: a `torch` / `torch.nn.functional` call on the inputs,
//! optionally followed by `then` steps; outputs and input gradients compared.

use crate::support::{attn_mask, check, check_val, in_f64_and_f32, tensor_as, val_as, Config, Outcome, Tol, Val};
use lamina::core::{ClassTarget, CrossEntropyOptions, Fold2dOptions, NllLossOptions, PadMode, Reduction};
use lamina::layers::{loss, scaled_dot_product_attention, SdpaOptions};
use lamina::prelude::*;
use serde_json::Value;

fn float<E: Element>(inputs: &[Val<E>], i: usize) -> Result<&Tensor<E>, String> {
    inputs.get(i).ok_or_else(|| format!("missing input {i}"))?.float()
}

/// A tensor keyword argument (a constant: no gradient flows to it).
fn kwarg<E: Element>(kwargs: &Value, key: &str) -> Result<Option<Tensor<E>>, String> {
    kwargs.get(key).filter(|v| !v.is_null()).map(tensor_as::<E>).transpose()
}

fn reduction(c: &Config<'_>) -> Result<Reduction, String> {
    match c.str_or("reduction", "mean")? {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        "none" => Ok(Reduction::None),
        other => Err(format!("unknown reduction `{other}`")),
    }
}

/// Runs one function call on `inputs` with options `config` and tensor
/// keyword arguments `kwargs`. Also used for the losses of `training` cases.
pub fn call<E: Element>(name: &str, inputs: &[Val<E>], config: &Value, kwargs: &Value) -> Result<Vec<Val<E>>, String> {
    let c = Config::new(config);
    let x = || float(inputs, 0);
    let y = || float(inputs, 1);
    let all_floats = || inputs.iter().map(|v| v.float()).collect::<Result<Vec<_>, _>>();
    let out = match name {
        "abs" => x()?.abs(),
        "exp" => x()?.exp(),
        "log" => x()?.log(),
        "sqrt" => x()?.sqrt(),
        "add" => x()? + y()?,
        "mul" => x()? * y()?,
        "div" => x()? / y()?,
        "pow" => x()?.pow(y()?),
        "matmul" => x()?.matmul(y()?),
        "clamp" => {
            let bound = |k: &str| c.value(k).and_then(Value::as_f64).map(E::of);
            x()?.clamp(bound("min"), bound("max"))
        }
        "gelu" => match c.str_or("approximate", "none")? {
            "none" => x()?.gelu(),
            "tanh" => x()?.gelu_tanh(),
            other => return Err(format!("unknown approximate `{other}`")),
        },
        "where" => Tensor::where_(inputs[0].mask()?, y()?, float(inputs, 2)?),
        "softmax" => x()?.softmax(c.isize("dim")?),
        "log_softmax" => x()?.log_softmax(c.isize("dim")?),
        "sum" => x()?.sum_dims(&c.isizes("dim")?, c.bool_or("keepdim", false)?),
        "mean" => x()?.mean_dims(&c.isizes("dim")?, c.bool_or("keepdim", false)?),
        "amax" => x()?.amax(&c.isizes("dim")?, c.bool_or("keepdim", false)?),
        "logsumexp" => x()?.logsumexp(&c.isizes("dim")?, c.bool_or("keepdim", false)?),
        "var" | "std" => {
            let (dims, correction, keep) =
                (c.isizes("dim")?, c.usize_or("correction", 1)?, c.bool_or("keepdim", false)?);
            if name == "var" {
                x()?.var_dims(&dims, correction, keep)
            } else {
                x()?.std_dims(&dims, correction, keep)
            }
        }
        "norm" => x()?.norm(c.f64_or("p", 2.0)?, &c.isizes("dim")?, c.bool_or("keepdim", false)?),
        "cumsum" => x()?.cumsum(c.isize("dim")?),
        "max" => {
            let (values, indices) = x()?.max_dim(c.isize("dim")?, c.bool_or("keepdim", false)?);
            c.finish(name)?;
            return Ok(vec![Val::F(values), Val::I(indices)]);
        }
        "transpose" => x()?.transpose(c.isize("dim0")?, c.isize("dim1")?),
        "reshape" => x()?.reshape(&c.ints_or("shape", 0, 0)?),
        "cat" => Tensor::cat(&all_floats()?, c.isize("dim")?),
        "stack" => Tensor::stack(&all_floats()?, c.isize("dim")?),
        "gather" => x()?.gather(c.isize("dim")?, inputs.get(1).ok_or("missing index")?.index()?),
        "index_select" => x()?.index_select(c.isize("dim")?, inputs.get(1).ok_or("missing index")?.index()?),
        "pad" => {
            let pads = c.ints_or("pad", 0, 0)?;
            let mode = match c.str_or("mode", "constant")? {
                "constant" => PadMode::Constant(c.f64_or("value", 0.0)?),
                "reflect" => PadMode::Reflect,
                "replicate" => PadMode::Replicate,
                "circular" => PadMode::Circular,
                other => return Err(format!("unknown pad mode `{other}`")),
            };
            x()?.pad(&pads, mode)
        }
        "unfold" => {
            let opts = Fold2dOptions {
                kernel_size: c.pair("kernel_size", 1)?,
                dilation: c.pair("dilation", 1)?,
                padding: c.pair("padding", 0)?,
                stride: c.pair("stride", 1)?,
            };
            x()?.unfold2d(&opts)
        }
        "cross_entropy" => {
            let opts = CrossEntropyOptions {
                weight: kwarg(kwargs, "weight")?,
                ignore_index: c.value("ignore_index").and_then(Value::as_i64).unwrap_or(-100),
                reduction: reduction(&c)?,
                label_smoothing: c.f64_or("label_smoothing", 0.0)?,
            };
            let target: ClassTarget<'_, E> = match inputs.get(1).ok_or("missing target")? {
                Val::I(t) => t.into(),
                Val::F(t) => t.into(),
                Val::B(_) => return Err("a bool target".into()),
            };
            lamina::core::cross_entropy(x()?, target, &opts)
        }
        "nll_loss" => {
            let opts = NllLossOptions {
                weight: kwarg(kwargs, "weight")?,
                ignore_index: c.value("ignore_index").and_then(Value::as_i64).unwrap_or(-100),
                reduction: reduction(&c)?,
            };
            lamina::core::nll_loss(x()?, inputs.get(1).ok_or("missing target")?.index()?, &opts)
        }
        "mse_loss" => loss::mse_loss(x()?, y()?, reduction(&c)?),
        "l1_loss" => loss::l1_loss(x()?, y()?, reduction(&c)?),
        "smooth_l1_loss" => loss::smooth_l1_loss(x()?, y()?, reduction(&c)?, c.f64_or("beta", 1.0)?),
        "huber_loss" => loss::huber_loss(x()?, y()?, reduction(&c)?, c.f64_or("delta", 1.0)?),
        "binary_cross_entropy" => {
            loss::binary_cross_entropy(x()?, y()?, kwarg(kwargs, "weight")?.as_ref(), reduction(&c)?)
        }
        "binary_cross_entropy_with_logits" => loss::binary_cross_entropy_with_logits(
            x()?,
            y()?,
            kwarg(kwargs, "weight")?.as_ref(),
            kwarg(kwargs, "pos_weight")?.as_ref(),
            reduction(&c)?,
        ),
        "kl_div" => {
            let r = match c.str_or("reduction", "mean")? {
                "mean" => loss::KlReduction::Mean,
                "sum" => loss::KlReduction::Sum,
                "none" => loss::KlReduction::None,
                "batchmean" => loss::KlReduction::BatchMean,
                other => return Err(format!("unknown reduction `{other}`")),
            };
            loss::kl_div(x()?, y()?, r, c.bool_or("log_target", false)?)
        }
        "scaled_dot_product_attention" => {
            let mask = kwargs.get("attn_mask").filter(|v| !v.is_null()).map(val_as::<E>).transpose()?;
            let opts = SdpaOptions {
                attn_mask: mask.map(|m| attn_mask("attn_mask", m)).transpose()?,
                dropout_p: c.f64_or("dropout_p", 0.0)?,
                is_causal: c.bool_or("is_causal", false)?,
                scale: c.value("scale").and_then(Value::as_f64),
                enable_gqa: c.bool_or("enable_gqa", false)?,
            };
            scaled_dot_product_attention(x()?, y()?, float(inputs, 2)?, &opts)
        }
        other => return Err(format!("unknown function `{other}`")),
    };
    c.finish(name)?;
    Ok(vec![Val::F(out)])
}

/// Runs a `function` case in f64, and again in f32 where the case allows it.
pub fn run(case: &Value) -> Outcome {
    in_f64_and_f32(case, run_as::<f64>, run_as::<f32>)
}

fn run_as<E: Element>(case: &Value) -> Outcome {
    let tol = Tol::for_element::<E>(case);
    let inputs: Vec<Val<E>> = case["inputs"]
        .as_array()
        .ok_or("case without inputs")?
        .iter()
        .map(|v| {
            Ok(match val_as::<E>(v)? {
                Val::F(t) => Val::F(t.requires_grad_(true)),
                other => other,
            })
        })
        .collect::<Result<_, String>>()?;
    let name = case["function"].as_str().ok_or("case without function")?;
    let mut outputs = call(name, &inputs, &case["config"], &case["forward_kwargs"])?;
    for step in case["then"].as_array().into_iter().flatten() {
        let f = step["function"].as_str().ok_or("`then` step without function")?;
        outputs = call(f, &outputs, &step["config"], &Value::Null)?;
    }
    let want = case["outputs"].as_array().ok_or("case without outputs")?;
    if want.len() != outputs.len() {
        return Err(format!("{} outputs, want {}", outputs.len(), want.len()));
    }
    for (i, (got, w)) in outputs.iter().zip(want).enumerate() {
        check_val(&format!("output {i}"), got, w, tol)?;
    }
    // Backward of sum_i <outputs_i, grad_outputs_i> over the used outputs.
    let mut outs = Vec::new();
    let mut seeds = Vec::new();
    for (o, g) in outputs.iter().zip(case["grad_outputs"].as_array().ok_or("case without grad_outputs")?) {
        if !g.is_null() {
            outs.push(o.float()?.clone());
            seeds.push(tensor_as::<E>(g)?);
        }
    }
    let leaves: Vec<&Tensor<E>> = inputs.iter().filter_map(|v| v.float().ok()).collect();
    if outs.is_empty() || leaves.is_empty() {
        return Ok(());
    }
    let out_refs: Vec<&Tensor<E>> = outs.iter().collect();
    let seed_refs: Vec<&Tensor<E>> = seeds.iter().collect();
    let grads = grad(&out_refs, &leaves, Some(&seed_refs), GradOptions { allow_unused: true, ..Default::default() })
        .map_err(|e| e.to_string())?;
    let mut grads = grads.into_iter();
    for (i, (input, want)) in inputs.iter().zip(case["grad_inputs"].as_array().ok_or("no grad_inputs")?).enumerate() {
        if let Val::F(t) = input {
            let g = grads.next().flatten().unwrap_or_else(|| t.zeros_like());
            if !want.is_null() {
                check(&format!("grad of input {i}"), &g, want, tol)?;
            }
        }
    }
    Ok(())
}
