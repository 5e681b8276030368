//! Shared by the op tests: PyTorch conformance cases (`tests/data/*.json`, the
//! format of /work/shared/CONFORMANCE.md) checked on an op's outputs and input
//! gradients, and checks of panic messages.
#![allow(dead_code)]

use lamina_core::{grad, Element, GradOptions, GradcheckFailure, IndexTensor, Tensor};
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};

/// One output of the op under test.
pub enum Out<E: Element> {
    /// A float tensor (compared within tolerance, differentiated).
    F(Tensor<E>),
    /// An integer tensor (compared exactly).
    I(IndexTensor),
}

/// A parsed case file.
pub struct Case {
    pub name: String,
    pub json: Value,
}

impl Case {
    /// Loads `tests/data/function__{name}.json`.
    pub fn load(name: &str) -> Case {
        let path = format!("{}/tests/data/function__{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        Case { name: name.to_string(), json }
    }

    /// The PyTorch function's name.
    pub fn function(&self) -> &str {
        self.json["function"].as_str().expect("function")
    }

    /// Its keyword arguments.
    pub fn config(&self) -> &Value {
        &self.json["config"]
    }

    /// `config[key]` as a list of dims (an int or a list; absent: empty).
    pub fn dims(&self, key: &str) -> Vec<isize> {
        match &self.config()[key] {
            Value::Null => vec![],
            Value::Array(a) => a.iter().map(|d| d.as_i64().expect("int dim") as isize).collect(),
            v => vec![v.as_i64().expect("int dim") as isize],
        }
    }

    /// Runs the case in `f64` at its own tolerances and, when it allows, in
    /// `f32` at atol 1e-4 / rtol 1e-3.
    pub fn check(
        &self,
        f64_op: &dyn Fn(&[Tensor<f64>]) -> Vec<Out<f64>>,
        f32_op: &dyn Fn(&[Tensor<f32>]) -> Vec<Out<f32>>,
    ) {
        let (atol, rtol) = (self.json["atol"].as_f64().expect("atol"), self.json["rtol"].as_f64().expect("rtol"));
        self.check_in(atol, rtol, f64_op);
        if self.json["f32_ok"].as_bool().unwrap_or(false) {
            self.check_in(1e-4, 1e-3, f32_op);
        }
    }

    fn check_in<E: Element>(&self, atol: f64, rtol: f64, op: &dyn Fn(&[Tensor<E>]) -> Vec<Out<E>>) {
        let inputs: Vec<Tensor<E>> = self.json["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|v| tensor::<E>(v).requires_grad_(true))
            .collect();
        let outs = op(&inputs);
        let want = self.json["outputs"].as_array().expect("outputs");
        assert_eq!(outs.len(), want.len(), "{}: number of outputs", self.name);
        let (mut floats, mut seeds) = (vec![], vec![]);
        for (i, (got, want)) in outs.iter().zip(want).enumerate() {
            let what = format!("{} ({}) output {i}", self.name, E::DTYPE);
            match got {
                Out::F(t) => {
                    compare(&what, t, want, atol, rtol);
                    let seed = &self.json["grad_outputs"][i];
                    if !seed.is_null() {
                        floats.push(t.clone());
                        seeds.push(tensor::<E>(seed));
                    }
                }
                Out::I(ix) => {
                    assert_eq!(ix.shape(), shape(want).as_slice(), "{what}: shape");
                    let data: Vec<i64> = want["data"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                    assert_eq!(ix.to_vec(), data, "{what}: values");
                }
            }
        }
        let out_refs: Vec<&Tensor<E>> = floats.iter().collect();
        let seed_refs: Vec<&Tensor<E>> = seeds.iter().collect();
        let in_refs: Vec<&Tensor<E>> = inputs.iter().collect();
        let opts = GradOptions { allow_unused: true, ..Default::default() };
        let grads = grad(&out_refs, &in_refs, Some(&seed_refs), opts).expect("backward");
        for (i, want) in self.json["grad_inputs"].as_array().expect("grad_inputs").iter().enumerate() {
            if want.is_null() {
                continue;
            }
            let what = format!("{} ({}) grad of input {i}", self.name, E::DTYPE);
            let got = grads[i].clone().unwrap_or_else(|| panic!("{what}: no gradient"));
            compare(&what, &got, want, atol, rtol);
        }
    }
}

fn shape(v: &Value) -> Vec<usize> {
    v["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("size") as usize).collect()
}

/// A float tensor from `{"shape", "data"}`.
pub fn tensor<E: Element>(v: &Value) -> Tensor<E> {
    let data: Vec<f64> = v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("number")).collect();
    Tensor::from_f64(&data, &shape(v))
}

/// Asserts `got` matches `want` elementwise: |got - want| <= atol + rtol |want|.
pub fn compare<E: Element>(what: &str, got: &Tensor<E>, want: &Value, atol: f64, rtol: f64) {
    assert_eq!(got.shape(), shape(want).as_slice(), "{what}: shape");
    let want = tensor::<f64>(want).to_vec();
    for (j, (g, w)) in got.to_f64_vec().into_iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}: element {j}: got {g}, want {w}");
    }
}

/// The message of the panic `f` raises.
pub fn panic_message<R>(f: impl FnOnce() -> R) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).err().expect("expected a panic");
    err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

/// Asserts `f` panics with a message holding every one of `parts` and the
/// caller's own file (where the op was called).
#[track_caller]
pub fn assert_panics<R>(f: impl FnOnce() -> R, parts: &[&str]) {
    let file = Location::caller().file();
    let msg = panic_message(f);
    for p in parts.iter().chain(&[file]) {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}

/// A gradient check's result as a property test's: a failure shows where.
pub fn check(r: Result<(), GradcheckFailure>) -> Result<(), TestCaseError> {
    r.map_err(|e| TestCaseError::fail(e.to_string()))
}
