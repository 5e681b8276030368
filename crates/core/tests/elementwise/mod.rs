//! Helpers shared by the element-wise test files (unary, binary, compare):
//! tolerance checks, panic capture, the fused-vs-composite backward check and
//! the loader of PyTorch conformance cases kept in `tests/data/`.
#![allow(dead_code)]

use lamina_core::{grad, GradOptions, Mask, Tensor};
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// An `f64` tensor from values and a shape.
pub fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

/// Asserts `got` matches `want` element-wise: `|got - want| <= atol + rtol * |want|`
/// (or both the same infinity).
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, want {}", got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        // Equal infinities pass; NaN on either side fails.
        assert!(g == w || (g - w).abs() <= atol + rtol * w.abs(), "{what}[{i}]: got {g:e}, want {w:e} (all: {got:?})");
    }
}

/// Asserts a tensor's shape and values, to 1e-14 relative (hand-computed values).
#[track_caller]
pub fn assert_tensor(got: &Tensor<f64>, shape: &[usize], want: &[f64], what: &str) {
    assert_eq!(got.shape(), shape, "{what}: shape");
    assert_close(&got.to_vec(), want, 1e-15, 1e-14, what);
}

/// The gradient of `sum(f(x) * upstream)` with respect to each of `xs`.
pub fn grads_of(xs: &[&Tensor<f64>], y: &Tensor<f64>, upstream: &Tensor<f64>, opts: GradOptions) -> Vec<Tensor<f64>> {
    grad(&[y], xs, Some(&[upstream]), GradOptions { allow_unused: true, ..opts })
        .expect("backward")
        .into_iter()
        .zip(xs)
        .map(|(g, x)| g.unwrap_or_else(|| x.zeros_like()))
        .collect()
}

/// The message of the panic `f` raises (fails the test if it does not panic).
pub fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Asserts `f` panics with a message containing every one of `needles` and
/// naming this test file as the caller's location.
#[track_caller]
pub fn assert_panics_with(f: impl FnOnce(), needles: &[&str]) {
    let msg = panic_message(f);
    for n in needles.iter().chain(&["tests/"]) {
        assert!(msg.contains(n), "panic message {msg:?} lacks {n:?}");
    }
}

/// Checks that the gradient computed by the fused kernel (plain backward)
/// equals the one built from differentiable ops (`create_graph`), for `f`
/// applied to the leaves `xs` with upstream gradient `upstream`.
pub fn fused_matches_composite(
    what: &str,
    f: impl Fn(&[Tensor<f64>]) -> Tensor<f64>,
    xs: &[Tensor<f64>],
    upstream: &Tensor<f64>,
) -> Result<(), TestCaseError> {
    let leaves: Vec<Tensor<f64>> = xs.iter().map(|x| x.detach().requires_grad_(true)).collect();
    let refs: Vec<&Tensor<f64>> = leaves.iter().collect();
    let y = f(&leaves);
    let keep = GradOptions { retain_graph: true, ..Default::default() };
    let fused = grads_of(&refs, &y, upstream, keep);
    let composite = grads_of(&refs, &y, upstream, GradOptions::create_graph());
    for (i, (a, b)) in fused.iter().zip(&composite).enumerate() {
        for (j, (u, v)) in a.to_vec().iter().zip(b.to_vec()).enumerate() {
            if (u - v).abs() > 1e-12 * (1.0 + v.abs()) {
                return Err(TestCaseError::fail(format!(
                    "{what}: input {i} element {j}: fused gradient {u:e}, composite {v:e}"
                )));
            }
        }
    }
    Ok(())
}

/// An input of a conformance case: a float tensor (a differentiable leaf) or a bool mask.
pub enum Arg {
    /// A float input, requiring grad.
    Float(Tensor<f64>),
    /// A bool input.
    Bool(Mask),
}

impl Arg {
    /// The tensor of a float input.
    pub fn t(&self) -> &Tensor<f64> {
        match self {
            Arg::Float(x) => x,
            Arg::Bool(_) => panic!("conformance: expected a float input"),
        }
    }

    /// The mask of a bool input.
    pub fn mask(&self) -> &Mask {
        match self {
            Arg::Bool(m) => m,
            Arg::Float(_) => panic!("conformance: expected a bool input"),
        }
    }
}

fn shape_of(v: &Value) -> Vec<usize> {
    v["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect()
}

fn data_of(v: &Value) -> Vec<f64> {
    v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn tensor_of(v: &Value) -> Tensor<f64> {
    Tensor::from_vec(data_of(v), &shape_of(v))
}

/// Runs the PyTorch conformance case `tests/data/function__{name}.json`
/// through `op` (given the case's `config` and inputs) and checks its output
/// and every input gradient at the case's tolerances.
pub fn check_conformance(name: &str, function: &str, op: impl Fn(&Value, &[Arg]) -> Tensor<f64>) {
    let path = format!("{}/tests/data/function__{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let case: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(case["kind"], "function", "{path}");
    assert_eq!(case["function"], function, "{path}");
    let (atol, rtol) = (case["atol"].as_f64().expect("atol"), case["rtol"].as_f64().expect("rtol"));
    let args: Vec<Arg> = case["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|v| match v["dtype"].as_str() {
            Some("bool") => Arg::Bool(Mask::from_vec(data_of(v).iter().map(|&b| b != 0.0).collect(), &shape_of(v))),
            _ => Arg::Float(tensor_of(v).requires_grad_(true)),
        })
        .collect();
    let out = op(&case["config"], &args);
    let want = tensor_of(&case["outputs"][0]);
    assert_eq!(out.shape(), want.shape(), "{name}: output shape");
    assert_close(&out.to_vec(), &want.to_vec(), atol, rtol, &format!("{name}: output"));

    let floats: Vec<&Tensor<f64>> =
        args.iter().filter_map(|a| if let Arg::Float(x) = a { Some(x) } else { None }).collect();
    let upstream = tensor_of(&case["grad_outputs"][0]);
    let mut grads = grads_of(&floats, &out, &upstream, GradOptions::default()).into_iter();
    let want_grads = case["grad_inputs"].as_array().expect("grad_inputs");
    for (i, (arg, want)) in args.iter().zip(want_grads).enumerate() {
        match arg {
            Arg::Bool(_) => assert!(want.is_null(), "{name}: input {i} is a mask but has a gradient"),
            Arg::Float(_) => {
                let g = grads.next().expect("one gradient per float input");
                let want = tensor_of(want);
                assert_eq!(g.shape(), want.shape(), "{name}: grad shape of input {i}");
                assert_close(&g.to_vec(), &want.to_vec(), atol, rtol, &format!("{name}: grad of input {i}"));
            }
        }
    }
}
