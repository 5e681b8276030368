//! The normalisation layers against PyTorch: the `module` conformance cases of
//! tests/data/ (copied from the shared set), run in f64 at each case's
//! tolerance and again in f32 where the case allows it.
//!
//! A case builds the layer from `config`, loads `params` and `buffers`, sets
//! `mode`, and checks the output, the gradients of `sum(out * grad_output)`
//! with respect to the input and every parameter, and the buffers afterwards.

use lamina_core::{Element, Tensor};
use lamina_layers::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, Forward, GroupNorm, GroupNormConfig, InstanceNorm1d,
    InstanceNorm2d, InstanceNormConfig, LayerNorm, LayerNormConfig, ModuleExt, RMSNorm, RMSNormConfig, StateDict,
};
use serde_json::Value;
use std::path::Path;

/// Tolerances for the f32 re-run, as the shared runner's.
const F32_TOL: (f64, f64) = (1e-4, 1e-3);

/// A JSON tensor as `E` (an `i64` one, `num_batches_tracked`, holds its integer as a float).
fn tensor<E: Element>(v: &Value) -> Result<Tensor<E>, String> {
    let shape: Option<Vec<usize>> =
        v["shape"].as_array().and_then(|a| a.iter().map(|d| Some(d.as_u64()? as usize)).collect());
    let data: Option<Vec<f64>> = v["data"].as_array().and_then(|a| a.iter().map(Value::as_f64).collect());
    match (shape, data) {
        (Some(s), Some(d)) if s.iter().product::<usize>() == d.len() => Ok(Tensor::from_f64(&d, &s)),
        _ => Err(format!("malformed tensor {v}")),
    }
}

/// Compares `got` with the JSON tensor `want` elementwise at `(atol, rtol)`.
fn check<E: Element>(what: &str, got: &Tensor<E>, want: &Value, (atol, rtol): (f64, f64)) -> Result<(), String> {
    let want = tensor::<f64>(want)?;
    if got.shape() != want.shape() {
        return Err(format!("{what}: shape {:?}, want {:?}", got.shape(), want.shape()));
    }
    for (i, (g, w)) in got.to_f64_vec().into_iter().zip(want.to_vec()).enumerate() {
        if (g - w).abs() > atol + rtol * w.abs() || g.is_nan() {
            return Err(format!("{what}[{i}]: got {g:e}, want {w:e}"));
        }
    }
    Ok(())
}

/// The layer a case names, from its config (PyTorch's keyword names and defaults).
fn build<E: Element>(module: &str, cfg: &Value) -> Result<Box<dyn Forward<E>>, String> {
    let known: &[&str] = match module {
        "BatchNorm1d" | "BatchNorm2d" | "BatchNorm3d" | "InstanceNorm1d" | "InstanceNorm2d" => {
            &["num_features", "eps", "momentum", "affine", "track_running_stats"]
        }
        "LayerNorm" => &["normalized_shape", "eps", "elementwise_affine", "bias"],
        "GroupNorm" => &["num_groups", "num_channels", "eps", "affine"],
        "RMSNorm" => &["normalized_shape", "eps", "elementwise_affine"],
        other => return Err(format!("unknown module {other}")),
    };
    let map = cfg.as_object().ok_or("config is not an object")?;
    if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown option {k} of {module}"));
    }
    let flag = |k: &str, default: bool| cfg.get(k).map_or(Ok(default), |v| v.as_bool().ok_or(format!("{k}: {v}")));
    let size = |k: &str| cfg[k].as_u64().map(|v| v as usize).ok_or(format!("{k}: {}", cfg[k]));
    let shape = |k: &str| match &cfg[k] {
        Value::Array(a) => a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>(),
        v => v.as_u64().map(|d| vec![d as usize]),
    };
    let eps = cfg.get("eps").and_then(Value::as_f64);
    let momentum = match cfg.get("momentum") {
        None => Some(0.1),
        Some(Value::Null) => None,
        Some(m) => Some(m.as_f64().ok_or(format!("momentum: {m}"))?),
    };
    let bn = || -> Result<BatchNormConfig, String> {
        Ok(BatchNormConfig {
            eps: eps.unwrap_or(1e-5),
            momentum,
            affine: flag("affine", true)?,
            track_running_stats: flag("track_running_stats", true)?,
        })
    };
    let inorm = || -> Result<InstanceNormConfig, String> {
        Ok(InstanceNormConfig {
            eps: eps.unwrap_or(1e-5),
            momentum: momentum.ok_or("InstanceNorm momentum must be a number")?,
            affine: flag("affine", false)?,
            track_running_stats: flag("track_running_stats", false)?,
        })
    };
    let normalized = || shape("normalized_shape").ok_or(format!("normalized_shape: {}", cfg["normalized_shape"]));
    Ok(match module {
        "BatchNorm1d" => Box::new(BatchNorm1d::with_config(size("num_features")?, bn()?)),
        "BatchNorm2d" => Box::new(BatchNorm2d::with_config(size("num_features")?, bn()?)),
        "BatchNorm3d" => Box::new(BatchNorm3d::with_config(size("num_features")?, bn()?)),
        "InstanceNorm1d" => Box::new(InstanceNorm1d::with_config(size("num_features")?, inorm()?)),
        "InstanceNorm2d" => Box::new(InstanceNorm2d::with_config(size("num_features")?, inorm()?)),
        "LayerNorm" => Box::new(LayerNorm::with_config(
            &normalized()?,
            LayerNormConfig {
                eps: eps.unwrap_or(1e-5),
                elementwise_affine: flag("elementwise_affine", true)?,
                bias: flag("bias", true)?,
            },
        )),
        "GroupNorm" => Box::new(GroupNorm::with_config(
            size("num_groups")?,
            size("num_channels")?,
            GroupNormConfig { eps: eps.unwrap_or(1e-5), affine: flag("affine", true)? },
        )),
        _ => Box::new(RMSNorm::with_config(
            &normalized()?,
            RMSNormConfig { eps, elementwise_affine: flag("elementwise_affine", true)? },
        )),
    })
}

/// Compares named tensors with a JSON object of expected ones, by name, both ways.
fn check_named<E: Element>(
    what: &str,
    got: &[(String, Option<Tensor<E>>)],
    want: &Value,
    tol: (f64, f64),
) -> Result<(), String> {
    let want = want.as_object().ok_or(format!("{what} is not an object"))?;
    let names: Vec<&String> = got.iter().map(|(n, _)| n).collect();
    if want.len() != got.len() || !want.keys().all(|k| names.contains(&k)) {
        return Err(format!("{what}: the layer has {names:?}, the case {:?}", want.keys().collect::<Vec<_>>()));
    }
    for (name, t) in got {
        let t = t.as_ref().ok_or(format!("{what} {name}: missing"))?;
        check(&format!("{what} {name}"), t, &want[name], tol)?;
    }
    Ok(())
}

fn run<E: Element>(case: &Value, tol: (f64, f64)) -> Result<(), String> {
    let layer = build::<E>(case["module"].as_str().ok_or("no module")?, &case["config"])?;
    let mut sd = StateDict::new();
    for group in ["params", "buffers"] {
        for (name, v) in case[group].as_object().ok_or(format!("no {group}"))? {
            sd.insert(name, tensor::<E>(v)?);
        }
    }
    layer.load_state_dict(&sd).map_err(|e| e.to_string())?;
    match case["mode"].as_str() {
        Some("train") => layer.train(),
        Some("eval") => layer.eval(),
        other => return Err(format!("unknown mode {other:?}")),
    }
    let x = tensor::<E>(&case["inputs"][0])?.requires_grad_(true);
    let y = layer.forward(&x);
    check("output", &y, &case["outputs"][0], tol)?;
    (y * tensor::<E>(&case["grad_outputs"][0])?).sum().backward();
    check("grad_input", &x.grad().ok_or("no input gradient")?, &case["grad_inputs"][0], tol)?;
    let grads: Vec<_> = layer.named_parameters().into_iter().map(|(n, p)| (n, p.grad())).collect();
    check_named("grad_params", &grads, &case["grad_params"], tol)?;
    let buffers: Vec<_> = layer.named_buffers().into_iter().map(|(n, b)| (n, Some(b))).collect();
    check_named("buffers_after", &buffers, &case["buffers_after"], tol)
}

#[test]
fn norm_layers_match_pytorch_on_every_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("module__")))
        .collect();
    files.sort();
    assert_eq!(files.len(), 12, "the twelve norm cases");
    let mut failures = Vec::new();
    for path in &files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON");
        let name = case["name"].as_str().unwrap_or("?").to_owned();
        let tol = (case["atol"].as_f64().unwrap_or(1e-10), case["rtol"].as_f64().unwrap_or(1e-8));
        let mut outcome = run::<f64>(&case, tol);
        if outcome.is_ok() && case["f32_ok"].as_bool() == Some(true) {
            outcome = run::<f32>(&case, F32_TOL).map_err(|e| format!("f32: {e}"));
        }
        if let Err(e) = outcome {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}
