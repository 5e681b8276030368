//! Helpers shared by the layer tests.

use lamina_core::Tensor;

/// An `f64` tensor of `shape` from row-major values.
pub fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

/// Asserts `got` holds `want` (row-major) to 1e-12, relative to 1 + |want|.
pub fn assert_close(got: &Tensor<f64>, want: &[f64]) {
    let got = got.to_vec();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "element {i}: got {g}, want {w} ({got:?})");
    }
}

/// The message of the panic `f` raises.
pub fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Asserts that `msg` names every one of `parts` and the caller's test file `file`.
pub fn assert_names_in(file: &str, msg: &str, parts: &[&str]) {
    for p in parts.iter().chain(&[file]) {
        assert!(msg.contains(p), "{msg:?} does not mention {p:?}");
    }
}
