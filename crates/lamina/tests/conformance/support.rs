//! Reading conformance cases: JSON tensors into lamina values, and comparing
//! results at a case's tolerance.

use lamina::prelude::*;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;

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

/// An attention mask argument `name`: boolean or float.
pub fn attn_mask<E: Element>(name: &str, v: Val<E>) -> Result<lamina::layers::AttnMask<E>, String> {
    match v {
        Val::B(m) => Ok(m.into()),
        Val::F(t) => Ok(t.into()),
        Val::I(_) => Err(format!("`{name}` is an integer tensor, not a mask")),
    }
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

    /// The case's tolerance in f64, [`Tol::F32`] in f32.
    pub fn for_element<E: Element>(case: &Value) -> Tol {
        if E::DTYPE == "float64" {
            Tol::of(case)
        } else {
            Tol::F32
        }
    }

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

/// Compares a float tensor with a JSON tensor (an integer one, such as
/// `num_batches_tracked`, by value).
pub fn check<E: Element>(what: &str, got: &Tensor<E>, want: &Value, tol: Tol) -> Outcome {
    let (w, shape) = match val(want).map_err(|e| format!("{what}: {e}"))? {
        Val::F(t) => (t.to_vec(), t.shape().to_vec()),
        Val::I(i) => (i.to_vec().iter().map(|&v| v as f64).collect(), i.shape().to_vec()),
        Val::B(_) => return Err(format!("{what}: expected a number tensor, got a mask")),
    };
    check_values(what, &got.to_f64_vec(), got.shape(), &w, &shape, tol)
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

/// A constructor's (or function's) options; every key must be read, so an option the
/// factory does not know is an error rather than silently ignored.
pub struct Config<'a> {
    map: Option<&'a serde_json::Map<String, Value>>,
    read: RefCell<BTreeSet<String>>,
}

impl<'a> Config<'a> {
    pub fn new(v: &'a Value) -> Self {
        Config { map: v.as_object(), read: RefCell::new(BTreeSet::new()) }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.read.borrow_mut().insert(key.to_owned());
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// Whether the key is present with a non-null value.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn usize(&self, key: &str) -> Result<usize, String> {
        self.get(key).and_then(Value::as_u64).map(|v| v as usize).ok_or_else(|| format!("config needs integer `{key}`"))
    }

    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, String> {
        if self.has(key) {
            self.usize(key)
        } else {
            Ok(default)
        }
    }

    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| format!("config `{key}` is not a number")),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| format!("config `{key}` is not a bool")),
        }
    }

    pub fn str_or(&self, key: &str, default: &'a str) -> Result<&'a str, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| format!("config `{key}` is not a string")),
        }
    }

    /// An int-or-list option as a list of `n` values (an int is repeated).
    pub fn ints_or(&self, key: &str, n: usize, default: usize) -> Result<Vec<usize>, String> {
        match self.get(key) {
            None => Ok(vec![default; n]),
            Some(Value::Array(a)) => {
                a.iter().map(|x| x.as_u64().map(|v| v as usize).ok_or_else(|| format!("bad `{key}`"))).collect()
            }
            Some(v) => v.as_u64().map(|x| vec![x as usize; n]).ok_or_else(|| format!("bad `{key}`")),
        }
    }

    /// An int-or-pair option as a pair (an int, or a one-element list, is repeated).
    pub fn pair(&self, key: &str, default: usize) -> Result<[usize; 2], String> {
        let v = self.ints_or(key, 2, default)?;
        Ok([v[0], v[v.len() - 1]])
    }

    /// A signed integer option (a dimension).
    pub fn isize(&self, key: &str) -> Result<isize, String> {
        self.get(key).and_then(Value::as_i64).map(|v| v as isize).ok_or_else(|| format!("config needs integer `{key}`"))
    }

    /// An int-or-list option of signed integers (dimensions).
    pub fn isizes(&self, key: &str) -> Result<Vec<isize>, String> {
        match self.get(key) {
            Some(Value::Array(a)) => {
                a.iter().map(|x| x.as_i64().map(|v| v as isize).ok_or_else(|| format!("bad `{key}`"))).collect()
            }
            Some(v) => v.as_i64().map(|x| vec![x as isize]).ok_or_else(|| format!("bad `{key}`")),
            None => Err(format!("config needs `{key}`")),
        }
    }

    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    /// Errors when the case sets an option that was never read.
    pub fn finish(&self, module: &str) -> Outcome {
        let read = self.read.borrow();
        let unknown: Vec<&String> =
            self.map.into_iter().flat_map(|m| m.keys()).filter(|k| !read.contains(*k)).collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!("{module}: unknown options {unknown:?}"))
        }
    }
}

/// Runs a case in f64, and again in f32 where it is marked `f32_ok`.
pub fn in_f64_and_f32(case: &Value, in_f64: fn(&Value) -> Outcome, in_f32: fn(&Value) -> Outcome) -> Outcome {
    in_f64(case)?;
    if case["f32_ok"].as_bool() == Some(true) {
        in_f32(case).map_err(|e| format!("f32: {e}"))?;
    }
    Ok(())
}
