//! Shared by the nn op tests (softmax, conv, pool, nn): the PyTorch
//! conformance cases copied into `tests/data`, run through lamina-core's
//! functional ops, compared at each case's tolerance; and a panic-message
//! check for error tests.
#![allow(dead_code)] // each test binary uses part of it

use lamina_core::{GradcheckFailure, IndexTensor, Tensor};
use proptest::test_runner::TestCaseError;
use serde_json::Value;

/// A float tensor of `shape` from row-major values.
pub fn t(v: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), shape)
}

/// A gradient check's result as a property-test result.
pub fn ok(r: Result<(), GradcheckFailure>) -> Result<(), TestCaseError> {
    r.map_err(|e| TestCaseError::fail(e.to_string()))
}

/// One conformance case.
pub struct Case {
    pub name: String,
    pub v: Value,
    atol: f64,
    rtol: f64,
}

fn shape_of(v: &Value) -> Vec<usize> {
    v["shape"].as_array().expect("tensor shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect()
}

fn data_of(v: &Value) -> Vec<f64> {
    v["data"].as_array().expect("tensor data").iter().map(|x| x.as_f64().expect("number")).collect()
}

/// A float JSON tensor.
pub fn tensor(v: &Value) -> Tensor<f64> {
    Tensor::from_vec(data_of(v), &shape_of(v))
}

impl Case {
    /// Loads `tests/data/{file}.json`.
    pub fn load(file: &str) -> Case {
        let path = format!("{}/tests/data/{file}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let atol = v["atol"].as_f64().expect("atol");
        let rtol = v["rtol"].as_f64().expect("rtol");
        Case { name: file.to_owned(), v, atol, rtol }
    }

    /// The `config` object.
    pub fn config(&self) -> &Value {
        &self.v["config"]
    }

    /// A config entry PyTorch takes as an int or a pair, as a pair (`default`
    /// when absent or a string such as `"same"`).
    pub fn pair(&self, key: &str, default: [usize; 2]) -> [usize; 2] {
        match self.config().get(key) {
            None | Some(Value::Null) | Some(Value::String(_)) => default,
            Some(Value::Array(a)) => [a[0].as_u64().expect("int") as usize, a[1].as_u64().expect("int") as usize],
            Some(v) => [v.as_u64().expect("int") as usize; 2],
        }
    }

    /// A config entry that is one int.
    pub fn int(&self, key: &str, default: usize) -> usize {
        self.config().get(key).and_then(Value::as_u64).map_or(default, |v| v as usize)
    }

    /// Float input `i`, as a leaf that requires grad.
    pub fn input(&self, i: usize) -> Tensor<f64> {
        tensor(&self.v["inputs"][i]).requires_grad_(true)
    }

    /// Integer input `i`.
    pub fn index(&self, i: usize) -> IndexTensor {
        let v = &self.v["inputs"][i];
        assert_eq!(v["dtype"], "i64", "{}: input {i} is not i64", self.name);
        IndexTensor::from_vec(data_of(v).iter().map(|&x| x as i64).collect(), &shape_of(v))
    }

    /// Parameter `name`, as a leaf that requires grad.
    pub fn param(&self, name: &str) -> Option<Tensor<f64>> {
        self.v["params"].get(name).map(|p| tensor(p).requires_grad_(true))
    }

    /// Tensor keyword argument `name` (a constant).
    pub fn kwarg(&self, name: &str) -> Option<Tensor<f64>> {
        self.v["forward_kwargs"].get(name).map(tensor)
    }

    /// Asserts `got` matches the JSON tensor `want` at the case tolerance.
    pub fn compare(&self, what: &str, got: &Tensor<f64>, want: &Value) {
        let w = tensor(want);
        assert_eq!(got.shape(), w.shape(), "{}: {what} shape", self.name);
        for (i, (g, w)) in got.to_vec().iter().zip(w.to_vec()).enumerate() {
            assert!(
                (g - w).abs() <= self.atol + self.rtol * w.abs(),
                "{}: {what} element {i} is {g:.15e}, PyTorch has {w:.15e}",
                self.name
            );
        }
    }

    /// Checks the outputs, then backpropagates `sum_i <outputs_i, grad_outputs_i>`
    /// and checks the gradients of the given float inputs (by position) and
    /// parameters (by name).
    pub fn check(&self, outputs: &[Tensor<f64>], inputs: &[(usize, &Tensor<f64>)], params: &[(&str, &Tensor<f64>)]) {
        let want = self.v["outputs"].as_array().expect("outputs");
        assert_eq!(outputs.len(), want.len(), "{}: number of outputs", self.name);
        let mut total: Option<Tensor<f64>> = None;
        for (i, (got, w)) in outputs.iter().zip(want).enumerate() {
            self.compare(&format!("output {i}"), got, w);
            let g = &self.v["grad_outputs"][i];
            if !g.is_null() {
                let term = got.mul(&tensor(g)).sum();
                total = Some(match total {
                    Some(t) => t.add(&term),
                    None => term,
                });
            }
        }
        let Some(total) = total else { return };
        total.backward();
        for &(i, x) in inputs {
            let want = &self.v["grad_inputs"][i];
            let got = x.grad().unwrap_or_else(|| panic!("{}: input {i} got no gradient", self.name));
            self.compare(&format!("grad of input {i}"), &got, want);
        }
        for &(name, p) in params {
            let want = &self.v["grad_params"][name];
            let got = p.grad().unwrap_or_else(|| panic!("{}: parameter {name} got no gradient", self.name));
            self.compare(&format!("grad of {name}"), &got, want);
        }
    }
}

/// Runs `f`, which must panic with a message containing every one of `needles`.
pub fn panics_with(f: impl FnOnce() + std::panic::UnwindSafe, needles: &[&str]) {
    let err = std::panic::catch_unwind(f).expect_err("expected a panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    for n in needles {
        assert!(msg.contains(n), "panic message {msg:?} lacks {n:?}");
    }
}

/// The dot product of two tensors' values.
pub fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_vec().iter().zip(b.to_vec()).map(|(x, y)| x * y).sum()
}

/// Asserts two value lists agree to `tol` (absolute plus relative).
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: {g} vs {w}\n got {got:?}\nwant {want:?}");
    }
}
