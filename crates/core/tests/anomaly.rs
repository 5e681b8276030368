//! Anomaly mode names the first op whose output or gradient is not finite.

use lamina_core::{detect_anomaly, Function, FunctionCtx, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

#[test]
fn forward_log_of_zero_is_reported_with_op_shapes_and_line() {
    let x = Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2]).requires_grad_(true);
    let msg = panic_message(|| {
        detect_anomaly(|| x.log());
    });
    assert!(msg.contains("`log`") && msg.contains("-inf") && msg.contains("[[2]]"), "{msg}");
    assert!(msg.contains("tests/anomaly.rs"), "{msg}");
}

#[test]
fn forward_zero_over_zero_is_reported() {
    let x = Tensor::<f32>::zeros(&[3, 1]);
    let y = Tensor::<f32>::zeros(&[1, 2]);
    let msg = panic_message(|| {
        detect_anomaly(|| &x / &y);
    });
    assert!(msg.contains("`div`") && msg.contains("NaN") && msg.contains("[[3, 1], [1, 2]]"), "{msg}");
}

/// An op whose backward computes `log(0)` or `0/0` on purpose.
struct Broken {
    zero_over_zero: bool,
}

impl Function<f64> for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn forward(&mut self, x: &[Tensor<f64>]) -> Tensor<f64> {
        x[0].clone()
    }
    fn backward(&self, _: &FunctionCtx<'_, f64>, g: &Tensor<f64>) -> Vec<Option<Tensor<f64>>> {
        let zeros = g.zeros_like();
        vec![Some(if self.zero_over_zero { &zeros / &g.zeros_like() } else { g * &zeros.log() })]
    }
}

#[test]
fn backward_log_of_zero_and_zero_over_zero_are_reported() {
    for zero_over_zero in [false, true] {
        let x = Tensor::<f64>::ones(&[2, 2]).requires_grad_(true);
        let y = Tensor::apply(Broken { zero_over_zero }, &[&x]).exp().sum();
        let msg = panic_message(|| detect_anomaly(|| y.backward()));
        let want = if zero_over_zero { "NaN" } else { "-inf" };
        assert!(msg.contains("backward of `broken`") && msg.contains(want) && msg.contains("[[2, 2]]"), "{msg}");
        assert!(msg.contains("tests/anomaly.rs"), "{msg}");
    }
}

#[test]
fn off_by_default() {
    let x = Tensor::<f64>::zeros(&[1]);
    assert_eq!(x.log().to_vec()[0], f64::NEG_INFINITY);
}
