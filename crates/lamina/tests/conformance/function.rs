//! `function` cases: a `torch` / `torch.nn.functional` call on the inputs,
//! optionally followed by `then` steps; outputs and input gradients compared.

use crate::support::{check, check_val, ints, tensor_as, val_as, Outcome, Tol, Val};
use lamina::prelude::*;
use serde_json::Value;

type Args<'a, E> = (&'a [Val<E>], &'a Value, &'a Value);

fn float<E: Element>(inputs: &[Val<E>], i: usize) -> Result<&Tensor<E>, String> {
    inputs.get(i).ok_or_else(|| format!("missing input {i}"))?.float()
}

fn dim(config: &Value, key: &str) -> Result<isize, String> {
    config[key].as_i64().map(|d| d as isize).ok_or_else(|| format!("config needs integer `{key}`"))
}

/// Runs one function call: `(inputs, config, forward_kwargs)` to outputs.
fn call<E: Element>(name: &str, (inputs, config, _kwargs): Args<'_, E>) -> Result<Vec<Val<E>>, String> {
    let x = || float(inputs, 0);
    let y = || float(inputs, 1);
    let one = |t: Tensor<E>| Ok(vec![Val::F(t)]);
    match name {
        "exp" => one(x()?.exp()),
        "log" => one(x()?.log()),
        "add" => one(x()? + y()?),
        "mul" => one(x()? * y()?),
        "div" => one(x()? / y()?),
        "matmul" => one(x()?.matmul(y()?)),
        "transpose" => one(x()?.transpose(dim(config, "dim0")?, dim(config, "dim1")?)),
        "reshape" => {
            let shape: Vec<usize> =
                ints(config, "shape").ok_or("reshape needs `shape`")?.iter().map(|&d| d as usize).collect();
            one(x()?.reshape(&shape))
        }
        other => Err(format!("unknown function `{other}`")),
    }
}

/// Runs a `function` case in f64, and again in f32 where the case allows it.
pub fn run(case: &Value) -> Outcome {
    run_as::<f64>(case, Tol::of(case))?;
    if case["f32_ok"].as_bool() == Some(true) {
        run_as::<f32>(case, Tol::F32).map_err(|e| format!("f32: {e}"))?;
    }
    Ok(())
}

fn run_as<E: Element>(case: &Value, tol: Tol) -> Outcome {
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
    let mut outputs = call(name, (&inputs, &case["config"], &case["forward_kwargs"]))?;
    for step in case["then"].as_array().into_iter().flatten() {
        let f = step["function"].as_str().ok_or("`then` step without function")?;
        outputs = call(f, (&outputs, &step["config"], &Value::Null))?;
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
