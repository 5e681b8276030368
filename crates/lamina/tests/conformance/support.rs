//! Reading conformance cases: JSON tensors into lamina values, and comparing
//! results at a case's tolerance.

use lamina::prelude::*;
use serde_json::Value;

/// A case's error: what differs, where.
pub type Outcome = Result<(), String>;

/// A value of a case's tensor fields: float (in the element type under
/// test), integer or boolean.
#[derive(Clone, Debug)]
pub enum Val<E: Element = f64> {
    F(Tensor<E>),
    I(IndexTensor),
    B(Mask),
}

impl<E: Element> Val<E> {
    /// The float tensor, or an error naming what it was.
    pub fn float(&self) -> Result<&Tensor<E>, String> {
        match self {
            Val::F(t) => Ok(t),
            other => Err(format!("expected a float tensor, got {other:?}")),
        }
    }
    /// The integer tensor.
    pub fn index(&self) -> Result<&IndexTensor, String> {
        match self {
            Val::I(t) => Ok(t),
            other => Err(format!("expected an i64 tensor, got {other:?}")),
        }
    }
    /// The boolean mask.
    pub fn mask(&self) -> Result<&Mask, String> {
        match self {
            Val::B(t) => Ok(t),
            other => Err(format!("expected a bool tensor, got {other:?}")),
        }
    }
}

fn shape_of(v: &Value) -> Result<Vec<usize>, String> {
    v["shape"]
        .as_array()
        .ok_or("tensor without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| format!("bad dim {d}")))
        .collect()
}

fn numbers(v: &Value) -> Result<Vec<f64>, String> {
    v["data"]
        .as_array()
        .ok_or("tensor without data")?
        .iter()
        .map(|x| x.as_f64().ok_or_else(|| format!("bad number {x}")))
        .collect()
}

/// Parses a JSON tensor of any dtype, floats as `E`.
pub fn val_as<E: Element>(v: &Value) -> Result<Val<E>, String> {
    let shape = shape_of(v)?;
    let data = numbers(v)?;
    Ok(match v["dtype"].as_str().unwrap_or("f64") {
        "f64" | "float64" => Val::F(Tensor::from_f64(&data, &shape)),
        "i64" | "int64" => Val::I(IndexTensor::from_vec(data.iter().map(|&x| x as i64).collect(), &shape)),
        "bool" => Val::B(Mask::from_vec(data.iter().map(|&x| x != 0.0).collect(), &shape)),
        other => return Err(format!("unknown dtype {other}")),
    })
}

/// Parses a JSON tensor of any dtype, floats as `f64`.
pub fn val(v: &Value) -> Result<Val, String> {
    val_as(v)
}

/// Parses a JSON float tensor as `E`.
pub fn tensor_as<E: Element>(v: &Value) -> Result<Tensor<E>, String> {
    val_as::<E>(v)?.float().cloned()
}

/// Parses a JSON float tensor.
pub fn tensor(v: &Value) -> Result<Tensor<f64>, String> {
    tensor_as(v)
}

/// Parses a list of JSON float tensors.
pub fn tensors(v: &Value) -> Result<Vec<Tensor<f64>>, String> {
    v.as_array().ok_or("expected a list of tensors")?.iter().map(tensor).collect()
}

/// Tolerances of a case.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub atol: f64,
    pub rtol: f64,
}

impl Tol {
    /// The case's `atol`/`rtol`.
    pub fn of(case: &Value) -> Tol {
        Tol { atol: case["atol"].as_f64().unwrap_or(1e-10), rtol: case["rtol"].as_f64().unwrap_or(1e-8) }
    }

    /// The tolerance of a float32 re-run.
    pub const F32: Tol = Tol { atol: 1e-4, rtol: 1e-3 };

    /// Whether `got` matches `want`.
    pub fn close(&self, got: f64, want: f64) -> bool {
        got == want || (got - want).abs() <= self.atol + self.rtol * want.abs()
    }
}

/// Compares values element-wise, naming the first mismatch.
pub fn check_values(
    what: &str,
    got: &[f64],
    got_shape: &[usize],
    want: &[f64],
    want_shape: &[usize],
    tol: Tol,
) -> Outcome {
    if got_shape != want_shape {
        return Err(format!("{what}: shape {got_shape:?}, want {want_shape:?}"));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if !tol.close(*g, *w) {
            return Err(format!("{what}: element {i} is {g:.12e}, want {w:.12e} (|diff| {:.3e})", (g - w).abs()));
        }
    }
    Ok(())
}

/// Compares a float tensor with a JSON tensor.
pub fn check<E: Element>(what: &str, got: &Tensor<E>, want: &Value, tol: Tol) -> Outcome {
    let w = tensor(want).map_err(|e| format!("{what}: {e}"))?;
    check_values(what, &got.to_f64_vec(), got.shape(), &w.to_vec(), w.shape(), tol)
}

/// Compares any value with a JSON tensor (integers and masks exactly).
pub fn check_val<E: Element>(what: &str, got: &Val<E>, want: &Value, tol: Tol) -> Outcome {
    match (got, val(want)?) {
        (Val::F(g), _) => check(what, g, want, tol),
        (Val::I(g), Val::I(w)) if g == &w => Ok(()),
        (Val::B(g), Val::B(w)) if g == &w => Ok(()),
        (g, w) => Err(format!("{what}: got {g:?}, want {w:?}")),
    }
}

/// Compares a scalar.
pub fn check_scalar(what: &str, got: f64, want: &Value, tol: Tol) -> Outcome {
    let w = want.as_f64().ok_or_else(|| format!("{what}: expected number, got {want}"))?;
    check_values(what, &[got], &[], &[w], &[], tol)
}

/// A config entry as f64, or `default` when absent or null.
pub fn num(config: &Value, key: &str, default: f64) -> f64 {
    config.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// A config entry as bool, or `default`.
pub fn flag(config: &Value, key: &str, default: bool) -> bool {
    config.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// A config entry that PyTorch accepts as an int or a list of ints, as a list.
pub fn ints(config: &Value, key: &str) -> Option<Vec<i64>> {
    match config.get(key)? {
        Value::Array(a) => a.iter().map(Value::as_i64).collect(),
        v => v.as_i64().map(|x| vec![x]),
    }
}
