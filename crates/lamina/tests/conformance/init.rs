//! `init` cases. Random streams differ from PyTorch's, so a tensor case
//! compares distributions: fans and gains exactly, every sample within the
//! bound, sample mean and std within the case's tolerances, orthogonality to
//! `atol`/`rtol`. `default_init` cases name a module: its parameters (of the
//! shapes the case gives) go through the matching `lamina::init::default`
//! function and each is checked against its stated distribution. Every case
//! runs in f64 and again in f32.

use crate::support::{check_scalar, Outcome, Tol};
use lamina::core::{manual_seed, Element, Generator, Tensor};
use lamina::init::{calculate_fan_in_and_fan_out, calculate_gain, default, FanMode, Nonlinearity, Scheme};
use lamina::layers::ModuleExt;
use serde_json::Value;

/// Tolerances for values of the f32 re-run (CONFORMANCE.md: about 1e-4/1e-3).
const F32_TOL: Tol = Tol { atol: 1e-4, rtol: 1e-3 };

const CASE_KEYS: &[&str] = &[
    "format",
    "name",
    "kind",
    "function",
    "module",
    "config",
    "shape",
    "params",
    "buffers",
    "fan_in",
    "fan_out",
    "gain",
    "bound",
    "low",
    "high",
    "std",
    "std_rtol",
    "mean",
    "mean_atol",
    "atol",
    "rtol",
    "seed",
    "torch",
    "f32_ok",
];
const STAT_KEYS: &[&str] =
    &["shape", "distribution", "bound", "low", "high", "std", "std_rtol", "mean", "mean_atol", "value", "zero_rows"];

/// Runs an `init` case.
pub fn run(case: &Value) -> Outcome {
    known_keys("case", case, CASE_KEYS)?;
    let tol = Tol::of(case);
    match case["function"].as_str().ok_or("case without function")? {
        "calculate_gain" => gain_case(case, tol),
        "default_init" => {
            default_case::<f64>(case, tol)?;
            default_case::<f32>(case, F32_TOL).map_err(|e| format!("f32: {e}"))
        }
        function => {
            tensor_case::<f64>(case, function, tol)?;
            tensor_case::<f32>(case, function, F32_TOL).map_err(|e| format!("f32: {e}"))
        }
    }
}

/// Fails on a key the runner does not know, naming it.
fn known_keys(what: &str, v: &Value, known: &[&str]) -> Outcome {
    let obj = v.as_object().ok_or_else(|| format!("{what}: expected an object"))?;
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown key `{k}`")),
        None => Ok(()),
    }
}

fn number(v: &Value, key: &str, default: f64) -> Result<f64, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => x.as_f64().ok_or_else(|| format!("`{key}` is not a number: {x}")),
    }
}

fn text<'a>(v: &'a Value, key: &str, default: &'a str) -> Result<&'a str, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => x.as_str().ok_or_else(|| format!("`{key}` is not a string: {x}")),
    }
}

fn shape(v: &Value) -> Result<Vec<usize>, String> {
    v.as_array()
        .ok_or("expected a shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| format!("bad dim {d}")))
        .collect()
}

fn gain_case(case: &Value, tol: Tol) -> Outcome {
    let config = &case["config"];
    known_keys("config", config, &["nonlinearity", "param"])?;
    let nl: Nonlinearity = text(config, "nonlinearity", "")?.parse().map_err(|e| format!("{e}"))?;
    let param = config.get("param").and_then(Value::as_f64);
    check_scalar("gain", calculate_gain(nl, param), &case["gain"], tol)
}

/// The scheme a `torch.nn.init` function call names, with PyTorch's defaults.
fn scheme(function: &str, config: &Value) -> Result<Scheme, String> {
    let keys: &[&str] = match function {
        "uniform_" | "trunc_normal_" => &["a", "b", "mean", "std"],
        "normal_" => &["mean", "std"],
        "constant_" => &["val"],
        "zeros_" | "ones_" | "eye_" => &[],
        "xavier_uniform_" | "xavier_normal_" | "orthogonal_" => &["gain"],
        "kaiming_uniform_" | "kaiming_normal_" => &["a", "mode", "nonlinearity"],
        "dirac_" => &["groups"],
        "sparse_" => &["sparsity", "std"],
        other => return Err(format!("unknown init function `{other}`")),
    };
    known_keys("config", config, keys)?;
    let f = |key, default| number(config, key, default);
    let kaiming = || -> Result<(f64, FanMode, Nonlinearity), String> {
        let mode = text(config, "mode", "fan_in")?.parse().map_err(|e| format!("{e}"))?;
        let nl = text(config, "nonlinearity", "leaky_relu")?.parse().map_err(|e| format!("{e}"))?;
        Ok((f("a", 0.0)?, mode, nl))
    };
    Ok(match function {
        "uniform_" => Scheme::Uniform { a: f("a", 0.0)?, b: f("b", 1.0)? },
        "normal_" => Scheme::Normal { mean: f("mean", 0.0)?, std: f("std", 1.0)? },
        "trunc_normal_" => {
            Scheme::TruncNormal { mean: f("mean", 0.0)?, std: f("std", 1.0)?, a: f("a", -2.0)?, b: f("b", 2.0)? }
        }
        "constant_" => Scheme::Constant(config.get("val").and_then(Value::as_f64).ok_or("constant_ needs `val`")?),
        "zeros_" => Scheme::Constant(0.0),
        "ones_" => Scheme::Constant(1.0),
        "eye_" => Scheme::Eye,
        "xavier_uniform_" => Scheme::XavierUniform { gain: f("gain", 1.0)? },
        "xavier_normal_" => Scheme::XavierNormal { gain: f("gain", 1.0)? },
        "orthogonal_" => Scheme::Orthogonal { gain: f("gain", 1.0)? },
        "kaiming_uniform_" => {
            let (a, mode, nonlinearity) = kaiming()?;
            Scheme::KaimingUniform { a, mode, nonlinearity }
        }
        "kaiming_normal_" => {
            let (a, mode, nonlinearity) = kaiming()?;
            Scheme::KaimingNormal { a, mode, nonlinearity }
        }
        "dirac_" => Scheme::Dirac { groups: f("groups", 1.0)? as usize },
        _ => Scheme::Sparse { sparsity: f("sparsity", f64::NAN)?, std: f("std", 0.01)? },
    })
}

/// The gain a scheme scales by, where it has one.
fn gain_of(s: &Scheme) -> Option<f64> {
    match *s {
        Scheme::XavierUniform { gain } | Scheme::XavierNormal { gain } | Scheme::Orthogonal { gain } => Some(gain),
        Scheme::KaimingUniform { a, nonlinearity, .. } | Scheme::KaimingNormal { a, nonlinearity, .. } => {
            Some(calculate_gain(nonlinearity, Some(a)))
        }
        _ => None,
    }
}

fn tensor_case<E: Element>(case: &Value, function: &str, tol: Tol) -> Outcome {
    let s = scheme(function, &case["config"])?;
    let shape = shape(&case["shape"])?;
    let t = Tensor::<E>::zeros(&shape);
    let seed = case["seed"].as_u64().unwrap_or(0);
    s.apply_with(&t, &mut Generator::new(seed)).map_err(|e| e.to_string())?;
    if case.get("fan_in").is_some() || case.get("fan_out").is_some() {
        let (fan_in, fan_out) = calculate_fan_in_and_fan_out(&shape).map_err(|e| e.to_string())?;
        for (key, got) in [("fan_in", fan_in), ("fan_out", fan_out)] {
            if let Some(want) = case.get(key) {
                if want.as_u64() != Some(got as u64) {
                    return Err(format!("{key} {got}, want {want}"));
                }
            }
        }
    }
    if let Some(want) = case.get("gain") {
        let got = gain_of(&s).ok_or_else(|| format!("{function} has no gain to compare"))?;
        check_scalar("gain", got, want, tol)?;
    }
    if function == "orthogonal_" {
        check_orthogonal(&t, gain_of(&s).unwrap_or(1.0), tol)?;
    }
    check_stats("values", &t.to_f64_vec(), case, tol)
}

/// W Wᵀ = gain² I for the tensor viewed as `[shape[0], -1]` (rows ≤ cols), else Wᵀ W.
fn check_orthogonal<E: Element>(t: &Tensor<E>, gain: f64, tol: Tol) -> Outcome {
    let rows = t.shape()[0];
    let w = t.reshape(&[rows, t.numel() / rows]);
    let g = if rows <= w.shape()[1] { w.matmul(&w.t()) } else { w.t().matmul(&w) };
    let n = g.shape()[0];
    for (k, v) in g.to_f64_vec().into_iter().enumerate() {
        let want = if k / n == k % n { gain * gain } else { 0.0 };
        if !tol.close(v, want) {
            return Err(format!("orthogonality: gram[{}, {}] is {v:.12e}, want {want}", k / n, k % n));
        }
    }
    Ok(())
}

/// The checks of a distribution spec (a tensor case, or one parameter of a
/// `default_init` case): range, sample moments, constant value.
fn check_stats(what: &str, v: &[f64], spec: &Value, tol: Tol) -> Outcome {
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    if let Some(b) = spec.get("bound") {
        let b = b.as_f64().ok_or("bad bound")?;
        (lo, hi) = (-b, b);
    }
    if let Some(l) = spec.get("low") {
        lo = l.as_f64().ok_or("bad low")?;
    }
    if let Some(h) = spec.get("high") {
        hi = h.as_f64().ok_or("bad high")?;
    }
    let slack = |x: f64| tol.atol + tol.rtol * x.abs();
    if let Some(x) = v.iter().find(|&&x| !(x >= lo - slack(lo) && x <= hi + slack(hi))) {
        return Err(format!("{what}: sample {x} outside [{lo}, {hi}]"));
    }
    if let Some(value) = spec.get("value") {
        let value = value.as_f64().ok_or("bad value")?;
        if let Some(x) = v.iter().find(|&&x| !tol.close(x, value)) {
            return Err(format!("{what}: {x}, want the constant {value}"));
        }
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if let Some(want) = spec.get("mean") {
        let want = want.as_f64().ok_or("bad mean")?;
        let atol = spec.get("mean_atol").map(|a| a.as_f64().ok_or("bad mean_atol")).transpose()?;
        // A constant's mean is exact; a sample's needs its tolerance.
        let atol = atol.or(spec.get("value").map(|_| slack(want))).ok_or(format!("{what}: mean without mean_atol"))?;
        if (mean - want).abs() > atol {
            return Err(format!("{what}: sample mean {mean}, want {want} ± {atol}"));
        }
    }
    if let Some(want) = spec.get("std") {
        let want = want.as_f64().ok_or("bad std")?;
        let rtol = spec["std_rtol"].as_f64().ok_or(format!("{what}: std without std_rtol"))?;
        let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
        if (std - want).abs() > rtol * want {
            return Err(format!("{what}: sample std {std}, want {want} ± {}%", rtol * 100.0));
        }
    }
    Ok(())
}

/// A module's parameters (or buffers) by name, built from the case's shapes.
struct Named<E: Element>(Vec<(String, Tensor<E>)>);

impl<E: Element> Named<E> {
    fn of(spec: &Value) -> Result<Self, String> {
        let obj = spec.as_object().map_or_else(Default::default, Clone::clone);
        let mut out = Vec::new();
        for (name, p) in obj {
            known_keys(&name, &p, STAT_KEYS)?;
            out.push((name, Tensor::zeros(&shape(&p["shape"])?)));
        }
        Ok(Named(out))
    }

    fn get(&self, name: &str) -> Option<&Tensor<E>> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The one parameter `name`, required.
    fn need(&self, name: &str) -> Result<&Tensor<E>, String> {
        self.get(name).ok_or_else(|| format!("missing parameter `{name}`"))
    }

    /// Fails unless `allowed` accepts every name.
    fn only(&self, module: &str, allowed: impl Fn(&str) -> bool) -> Outcome {
        match self.0.iter().find(|(n, _)| !allowed(n)) {
            Some((n, _)) => Err(format!("{module} has no parameter or buffer `{n}`")),
            None => Ok(()),
        }
    }
}

/// Whether `name` is a recurrent layer's parameter: `weight_ih_l0`,
/// `bias_hh_l1_reverse`, `weight_hr_l0`, or a cell's `weight_ih`.
fn recurrent_name(name: &str) -> bool {
    let base = name.strip_suffix("_reverse").unwrap_or(name);
    let Some(rest) =
        ["weight_ih", "weight_hh", "weight_hr", "bias_ih", "bias_hh"].iter().find_map(|p| base.strip_prefix(p))
    else {
        return false;
    };
    rest.is_empty() || rest.strip_prefix("_l").is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
}

fn default_case<E: Element>(case: &Value, tol: Tol) -> Outcome {
    let module = case["module"].as_str().ok_or("default_init case without module")?;
    let config = &case["config"];
    let params = Named::<E>::of(&case["params"])?;
    let buffers = Named::<E>::of(&case["buffers"])?;
    let config_keys: &[&str] = match module {
        "Linear" => &["in_features", "out_features", "bias"],
        "Bilinear" => &["in1_features", "in2_features", "out_features", "bias"],
        "Conv1d" | "Conv2d" | "Conv3d" | "ConvTranspose1d" | "ConvTranspose2d" | "ConvTranspose3d" => &[
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "output_padding",
            "dilation",
            "groups",
            "bias",
            "padding_mode",
        ],
        "RNN" | "LSTM" | "GRU" | "RNNCell" | "LSTMCell" | "GRUCell" => &[
            "input_size",
            "hidden_size",
            "num_layers",
            "nonlinearity",
            "bias",
            "batch_first",
            "dropout",
            "bidirectional",
            "proj_size",
        ],
        "Embedding" => {
            &["num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"]
        }
        "BatchNorm1d" | "BatchNorm2d" | "BatchNorm3d" | "InstanceNorm1d" | "InstanceNorm2d" | "InstanceNorm3d" => {
            &["num_features", "eps", "momentum", "affine", "track_running_stats"]
        }
        "LayerNorm" | "RMSNorm" => &["normalized_shape", "eps", "elementwise_affine", "bias"],
        "GroupNorm" => &["num_groups", "num_channels", "eps", "affine"],
        "PReLU" => &["num_parameters", "init"],
        "MultiheadAttention" => &[
            "embed_dim",
            "num_heads",
            "dropout",
            "bias",
            "add_bias_kv",
            "add_zero_attn",
            "kdim",
            "vdim",
            "batch_first",
        ],
        other => return Err(format!("unknown module `{other}`")),
    };
    known_keys("config", config, config_keys)?;
    let norm = module.contains("Norm");
    let buffer_names: &[&str] = if norm { &["running_mean", "running_var", "num_batches_tracked"] } else { &[] };
    buffers.only(module, |n| buffer_names.contains(&n))?;
    manual_seed(case["seed"].as_u64().unwrap_or(0));
    let err = |e: lamina::init::InitError| e.to_string();
    let mut num_batches_tracked = None;
    match module {
        "Linear" | "Bilinear" | "Conv1d" | "Conv2d" | "Conv3d" | "ConvTranspose1d" | "ConvTranspose2d"
        | "ConvTranspose3d" => {
            params.only(module, |n| n == "weight" || n == "bias")?;
            let (w, b) = (params.need("weight")?, params.get("bias"));
            match module {
                "Linear" => default::linear(w, b),
                "Bilinear" => default::bilinear(w, b),
                _ => default::conv(w, b),
            }
            .map_err(err)?;
        }
        "RNN" | "LSTM" | "GRU" | "RNNCell" | "LSTMCell" | "GRUCell" => {
            params.only(module, recurrent_name)?;
            let hidden = config["hidden_size"].as_u64().ok_or("config needs `hidden_size`")? as usize;
            let all: Vec<&Tensor<E>> = params.0.iter().map(|(_, t)| t).collect();
            default::rnn(&all, hidden).map_err(err)?;
        }
        "Embedding" => {
            params.only(module, |n| n == "weight")?;
            let padding_idx = config.get("padding_idx").and_then(Value::as_i64).map(|i| i as isize);
            default::embedding(params.need("weight")?, padding_idx).map_err(err)?;
        }
        "PReLU" => {
            params.only(module, |n| n == "weight")?;
            default::prelu(params.need("weight")?, number(config, "init", default::PRELU_INIT)?);
        }
        "MultiheadAttention" => {
            // The layer's own constructor, its parameters copied out by name.
            let num = |key: &str| config[key].as_u64().map(|v| v as usize);
            let mha = lamina::layers::MultiheadAttention::<E>::with_config(
                num("embed_dim").ok_or("config needs `embed_dim`")?,
                num("num_heads").ok_or("config needs `num_heads`")?,
                lamina::layers::MultiheadAttentionConfig {
                    dropout: number(config, "dropout", 0.0)?,
                    bias: config["bias"].as_bool().unwrap_or(true),
                    add_bias_kv: config["add_bias_kv"].as_bool().unwrap_or(false),
                    add_zero_attn: config["add_zero_attn"].as_bool().unwrap_or(false),
                    kdim: num("kdim"),
                    vdim: num("vdim"),
                    batch_first: config["batch_first"].as_bool().unwrap_or(false),
                },
            );
            let mine = mha.named_parameters();
            if mine.len() != params.0.len() {
                let names: Vec<&String> = mine.iter().map(|(n, _)| n).collect();
                return Err(format!("MultiheadAttention has parameters {names:?}"));
            }
            for (name, t) in &mine {
                let want = params.need(name)?;
                if want.shape() != t.shape() {
                    return Err(format!("{name}: shape {:?}, want {:?}", t.shape(), want.shape()));
                }
                want.assign(t);
            }
        }
        _ => {
            // The normalisation layers.
            params.only(module, |n| n == "weight" || n == "bias")?;
            default::norm(params.get("weight"), params.get("bias"));
            if let (Some(m), Some(v)) = (buffers.get("running_mean"), buffers.get("running_var")) {
                default::running_stats(m, v);
            }
            // The batch counter is an integer the layer starts at 0.
            num_batches_tracked = buffers.get("num_batches_tracked").map(|_| 0.0);
        }
    }
    for (section, named) in [("params", &params), ("buffers", &buffers)] {
        for (name, t) in &named.0 {
            let spec = &case[section][name];
            let mut v = t.to_f64_vec();
            if name == "num_batches_tracked" {
                v = vec![num_batches_tracked.unwrap_or(f64::NAN)];
            }
            check_distribution(name, &mut v, t.shape(), spec, tol)?;
        }
    }
    Ok(())
}

/// One parameter against its `distribution` spec; `zero_rows` must be
/// exactly 0 and are left out of the statistics.
fn check_distribution(name: &str, v: &mut Vec<f64>, shape: &[usize], spec: &Value, tol: Tol) -> Outcome {
    let dist = spec["distribution"].as_str().ok_or_else(|| format!("{name}: no distribution"))?;
    match dist {
        "uniform" if spec.get("bound").is_some() => {}
        "constant" if spec.get("value").is_some() => {}
        "normal" if spec.get("std").is_some() => {}
        other => return Err(format!("{name}: unknown or incomplete distribution `{other}`")),
    }
    if let Some(rows) = spec.get("zero_rows") {
        let width = if shape.is_empty() { 1 } else { v.len() / shape[0].max(1) };
        let mut rows: Vec<usize> = shape_list(rows)?;
        rows.sort_unstable();
        for &r in rows.iter().rev() {
            let row: Vec<f64> = v.drain(r * width..(r + 1) * width).collect();
            if let Some(x) = row.iter().find(|x| **x != 0.0) {
                return Err(format!("{name}: row {r} must be zero, holds {x}"));
            }
        }
    }
    check_stats(name, v, spec, tol)
}

/// A JSON integer or list of integers.
fn shape_list(v: &Value) -> Result<Vec<usize>, String> {
    match v {
        Value::Array(_) => shape(v),
        x => x.as_u64().map(|r| vec![r as usize]).ok_or_else(|| format!("bad row list {x}")),
    }
}
