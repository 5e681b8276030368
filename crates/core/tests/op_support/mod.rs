//! Helpers shared by the shape and index op tests: PyTorch conformance cases
//! (tests/data/*.json, the format of CONFORMANCE.md), gradient checks inside
//! proptest, non-contiguous inputs and panic messages.
#![allow(dead_code)]

use lamina_core::{grad, gradcheck, gradgradcheck, Element, GradOptions, IndexTensor, Tensor};
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use std::panic::{catch_unwind, UnwindSafe};

/// A case's op: its float inputs and index inputs (each in order) and the
/// whole case (for `config` and `then`) in, the single output out.
pub type Run<E> = fn(&[Tensor<E>], &[IndexTensor], &Value) -> Tensor<E>;

fn shape_of(t: &Value) -> Vec<usize> {
    t["shape"].as_array().expect("tensor shape").iter().map(|d| d.as_u64().expect("dimension") as usize).collect()
}

fn data_of(t: &Value) -> Vec<f64> {
    t["data"].as_array().expect("tensor data").iter().map(|v| v.as_f64().expect("number")).collect()
}

/// Loads `tests/data/function__{name}.json`.
pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/function__{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid JSON: {e}"))
}

/// An integer entry of the case's `config`.
pub fn config_int(case: &Value, key: &str) -> isize {
    case["config"][key].as_i64().unwrap_or_else(|| panic!("config.{key} is not an integer")) as isize
}

/// A list-of-integers entry of the case's `config`.
pub fn config_usizes(case: &Value, key: &str) -> Vec<usize> {
    case["config"][key]
        .as_array()
        .unwrap_or_else(|| panic!("config.{key} is not a list"))
        .iter()
        .map(|v| v.as_u64().expect("non-negative integer") as usize)
        .collect()
}

fn assert_close(case: &str, what: &str, got: &Tensor<f64>, want: &Value, atol: f64, rtol: f64) {
    assert_eq!(got.shape(), &shape_of(want)[..], "{case}: shape of {what}");
    for (i, (g, w)) in got.to_vec().iter().zip(data_of(want)).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{case}: {what}[{i}] = {g}, PyTorch has {w}");
    }
}

fn check_as<E: Element>(case: &Value, run: Run<E>, atol: f64, rtol: f64) {
    let name = case["name"].as_str().expect("case name");
    let inputs = case["inputs"].as_array().expect("inputs");
    let (mut floats, mut indices) = (vec![], vec![]);
    for t in inputs {
        if t["dtype"] == "i64" {
            indices.push(IndexTensor::from_vec(data_of(t).iter().map(|&v| v as i64).collect(), &shape_of(t)));
        } else {
            floats.push(Tensor::<E>::from_f64(&data_of(t), &shape_of(t)).requires_grad_(true));
        }
    }
    let out = run(&floats, &indices, case);
    let outputs = case["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 1, "{name}: one output");
    assert_close(name, "output", &out.cast(), &outputs[0], atol, rtol);
    let g = &case["grad_outputs"][0];
    let seed = Tensor::<E>::from_f64(&data_of(g), &shape_of(g));
    let refs: Vec<&Tensor<E>> = floats.iter().collect();
    let opts = GradOptions { allow_unused: true, ..Default::default() };
    let mut grads = grad(&[&out], &refs, Some(&[&seed]), opts).expect("backward").into_iter();
    let want = case["grad_inputs"].as_array().expect("grad_inputs");
    assert_eq!(want.len(), inputs.len(), "{name}: one grad_inputs entry per input");
    for (i, (t, w)) in inputs.iter().zip(want).enumerate() {
        if t["dtype"] == "i64" {
            assert!(w.is_null(), "{name}: integer input {i} has a gradient");
            continue;
        }
        let g = grads.next().expect("one gradient per float input");
        let g = g.unwrap_or_else(|| Tensor::zeros(&shape_of(t)));
        assert_close(name, &format!("grad of input {i}"), &g.cast(), w, atol, rtol);
    }
}

/// Checks the output and the input gradients of a case in `f64` at the case's
/// tolerance, then (when `f32_ok`) in `f32` at atol 1e-4, rtol 1e-3.
pub fn check_case(name: &str, run64: Run<f64>, run32: Run<f32>) {
    let case = load(name);
    let atol = case["atol"].as_f64().expect("atol");
    let rtol = case["rtol"].as_f64().expect("rtol");
    check_as(&case, run64, atol, rtol);
    if case["f32_ok"].as_bool() == Some(true) {
        check_as(&case, run32, 1e-4, 1e-3);
    }
}

/// `gradcheck` and `gradgradcheck` (PyTorch tolerances) as a proptest result.
pub fn check_grads(f: impl Fn(&[Tensor<f64>]) -> Tensor<f64>, inputs: &[Tensor<f64>]) -> Result<(), TestCaseError> {
    gradcheck(&f, inputs).map_err(|e| TestCaseError::fail(format!("first derivative: {e}")))?;
    gradgradcheck(&f, inputs).map_err(|e| TestCaseError::fail(format!("second derivative: {e}")))
}

/// `shape` reversed: generate a leaf of this shape and [`unrev`] it inside
/// the checked function to get a non-contiguous input of `shape`.
pub fn rev(shape: &[usize]) -> Vec<usize> {
    shape.iter().rev().copied().collect()
}

/// The view with all dimensions in reverse order (non-contiguous).
pub fn unrev<E: Element>(x: &Tensor<E>) -> Tensor<E> {
    let perm: Vec<isize> = (0..x.ndim() as isize).rev().collect();
    x.permute(&perm)
}

/// Runs `f`, which must panic, and checks that the message contains every
/// one of `parts` and names the calling test file.
pub fn assert_panics(f: impl FnOnce() + UnwindSafe, file: &str, parts: &[&str]) {
    let err = catch_unwind(f).expect_err("expected a panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a string panic message");
    for p in parts.iter().chain([&file]) {
        assert!(msg.contains(p), "panic message {msg:?} does not mention {p:?}");
    }
}
