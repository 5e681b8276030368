//! The fused LSTM cell: its values against the cell written from primitive
//! ops, its gradients (fused when the backward is not recorded, composed from
//! differentiable ops when it is) against finite differences, and its errors.

use lamina_core::{grad, gradcheck, gradgradcheck, GradOptions, Tensor};
use proptest::prelude::*;

use super::values;

/// The LSTM cell from primitive ops: `(h', c')`.
fn reference(gates: &Tensor<f64>, c: &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>) {
    let hs = c.shape()[1];
    let s = gates.sigmoid();
    let (i, f, o) = (s.narrow(1, 0, hs), s.narrow(1, hs, hs), s.narrow(1, 3 * hs, hs));
    let g = gates.narrow(1, 2 * hs, hs).tanh();
    let c = f * c + i * g;
    (o * c.tanh(), c)
}

/// Both outputs, weighted so that each element's gradient differs.
fn weighted(h: &Tensor<f64>, c: &Tensor<f64>) -> Tensor<f64> {
    let w = |t: &Tensor<f64>, k: f64| Tensor::from_vec(values(t.numel(), 7, k), t.shape());
    (h * &w(h, 1.0)).sum() + (c * &w(c, 0.5)).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn matches_the_cell_from_primitives(b in 1usize..5, hs in 1usize..7, seed: u64) {
        let gates = Tensor::from_vec(values(b * 4 * hs, seed, 3.0), &[b, 4 * hs]).requires_grad_(true);
        let c = Tensor::from_vec(values(b * hs, seed + 1, 2.0), &[b, hs]).requires_grad_(true);
        let (h, c_new) = gates.lstm_cell(&c);
        let (h_ref, c_ref) = reference(&gates, &c);
        for (got, want) in [(&h, &h_ref), (&c_new, &c_ref)] {
            for (x, y) in got.to_vec().iter().zip(want.to_vec()) {
                prop_assert!((x - y).abs() <= 1e-14, "{x} vs {y}");
            }
        }
        // The fused backward (unrecorded) and the composed one (recorded)
        // agree with each other and with the primitives' gradients.
        let inputs = [&gates, &c];
        let retain = GradOptions { retain_graph: true, ..Default::default() };
        let fused = grad(&[&weighted(&h, &c_new)], &inputs, None, retain).unwrap();
        let composed = grad(&[&weighted(&h, &c_new)], &inputs, None, GradOptions::create_graph()).unwrap();
        let primitive = grad(&[&weighted(&h_ref, &c_ref)], &inputs, None, GradOptions::default()).unwrap();
        for k in 0..2 {
            let (f, c, p) = (fused[k].as_ref().unwrap(), composed[k].as_ref().unwrap(), primitive[k].as_ref().unwrap());
            for ((x, y), z) in f.to_vec().iter().zip(c.to_vec()).zip(p.to_vec()) {
                prop_assert!((x - y).abs() <= 1e-13 && (x - z).abs() <= 1e-13, "{x} {y} {z}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences(b in 1usize..4, hs in 1usize..5, seed: u64) {
        let gates = Tensor::from_vec(values(b * 4 * hs, seed, 2.0), &[b, 4 * hs]);
        let c = Tensor::from_vec(values(b * hs, seed + 3, 1.5), &[b, hs]);
        let f = |xs: &[Tensor<f64>]| {
            let (h, c) = xs[0].lstm_cell(&xs[1]);
            weighted(&h, &c)
        };
        prop_assert!(gradcheck(f, &[gates.clone(), c.clone()]).is_ok());
        prop_assert!(gradgradcheck(f, &[gates, c]).is_ok());
    }
}

#[test]
fn strided_inputs_are_read_in_place() {
    let gates = Tensor::from_vec(values(24, 5, 2.0), &[6, 4]).t().contiguous().t();
    let wide = Tensor::from_vec(values(12, 6, 1.0), &[6, 2]);
    let c = wide.narrow(1, 1, 1);
    let (h, c_new) = gates.lstm_cell(&c);
    let (h_ref, c_ref) = reference(&gates.contiguous(), &c.contiguous());
    assert_eq!(h.to_vec(), h_ref.to_vec());
    assert_eq!(c_new.to_vec(), c_ref.to_vec());
}

#[test]
fn mismatched_shapes_name_the_op_and_the_shapes() {
    let err = std::panic::catch_unwind(|| Tensor::<f64>::zeros(&[2, 8]).lstm_cell(&Tensor::zeros(&[2, 3])))
        .expect_err("gates [2, 8] need a cell state [2, 2]");
    let msg = err.downcast_ref::<String>().expect("a formatted message");
    assert!(
        msg.contains("lstm_cell") && msg.contains("[2, 8]") && msg.contains("[2, 3]") && msg.contains("lstm_cell.rs"),
        "{msg}"
    );
}
