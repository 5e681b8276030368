//! The fused LSTM recurrence: its values against the loop of `matmul` and
//! `lstm_cell` it replaces, in both directions, its gradients (fused when
//! the backward is not recorded, composed when it is) against that loop's
//! and against finite differences, f32 on the prepacked kernel, the
//! independence of the thread count, and its errors.

use lamina_core::{grad, gradcheck, gradgradcheck, set_num_threads, Element, GradOptions, Tensor};
use proptest::prelude::*;

use super::values;

/// The recurrence as a loop of recorded ops: outputs `[T, B, H]`, final h and c.
fn reference<E: Element>(
    gi: &Tensor<E>,
    w: &Tensor<E>,
    h0: &Tensor<E>,
    c0: &Tensor<E>,
    reverse: bool,
) -> (Tensor<E>, Tensor<E>, Tensor<E>) {
    let steps = gi.shape()[0];
    let mut outs = vec![None; steps];
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let order: Vec<usize> = if reverse { (0..steps).rev().collect() } else { (0..steps).collect() };
    for t in order {
        (h, c) = (gi.narrow(0, t, 1).squeeze(0) + h.matmul(&w.t())).lstm_cell(&c);
        outs[t] = Some(h.clone());
    }
    let outs: Vec<&Tensor<E>> = outs.iter().map(|o| o.as_ref().unwrap()).collect();
    (Tensor::stack(&outs, 0), h, c)
}

/// The four inputs for `steps` steps, a batch of `b` and `hs` units.
fn inputs<E: Element>(steps: usize, b: usize, hs: usize, seed: u64) -> [Tensor<E>; 4] {
    let t = |n: usize, s: u64, scale: f64, shape: &[usize]| {
        let v = values(n, s, scale).into_iter().map(E::of).collect();
        Tensor::from_vec(v, shape).requires_grad_(true)
    };
    [
        t(steps * b * 4 * hs, seed, 2.0, &[steps, b, 4 * hs]),
        t(4 * hs * hs, seed + 1, 0.8, &[4 * hs, hs]),
        t(b * hs, seed + 2, 1.0, &[b, hs]),
        t(b * hs, seed + 3, 1.5, &[b, hs]),
    ]
}

/// The three outputs, weighted so that each element's gradient differs.
fn weighted<E: Element>(out: &Tensor<E>, h: &Tensor<E>, c: &Tensor<E>) -> Tensor<E> {
    let w = |t: &Tensor<E>, seed: u64| {
        let v = values(t.numel(), seed, 1.0).into_iter().map(E::of).collect();
        Tensor::from_vec(v, t.shape())
    };
    (out * &w(out, 11)).sum() + (h * &w(h, 12)).sum() + (c * &w(c, 13)).sum()
}

fn assert_close<E: Element>(got: &Tensor<E>, want: &Tensor<E>, tol: f64) {
    assert_eq!(got.shape(), want.shape());
    for (x, y) in got.to_vec().iter().zip(want.to_vec()) {
        let (x, y) = (x.f64(), y.f64());
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn matches_the_loop_of_primitives(steps in 1usize..5, b in 1usize..4, hs in 1usize..5, reverse: bool, seed: u64) {
        let xs = inputs::<f64>(steps, b, hs, seed);
        let [gi, w, h0, c0] = &xs;
        let (out, h, c) = gi.lstm_sequence(w, h0, c0, reverse);
        let (out_ref, h_ref, c_ref) = reference(gi, w, h0, c0, reverse);
        for (got, want) in [(&out, &out_ref), (&h, &h_ref), (&c, &c_ref)] {
            assert_close(got, want, 1e-14);
        }
        // The fused backward (unrecorded) and the composed one (recorded)
        // agree with each other and with the loop's gradients.
        let inputs: Vec<&Tensor<f64>> = xs.iter().collect();
        let retain = GradOptions { retain_graph: true, ..Default::default() };
        let fused = grad(&[&weighted(&out, &h, &c)], &inputs, None, retain).unwrap();
        let composed = grad(&[&weighted(&out, &h, &c)], &inputs, None, GradOptions::create_graph()).unwrap();
        let looped = grad(&[&weighted(&out_ref, &h_ref, &c_ref)], &inputs, None, GradOptions::default()).unwrap();
        for k in 0..4 {
            let (f, c, l) = (fused[k].as_ref().unwrap(), composed[k].as_ref().unwrap(), looped[k].as_ref().unwrap());
            assert_close(f, l, 1e-12);
            assert_close(c, l, 1e-12);
        }
    }

    #[test]
    fn gradients_match_finite_differences(steps in 1usize..4, b in 1usize..3, hs in 1usize..3, reverse: bool, seed: u64) {
        let xs = inputs::<f64>(steps, b, hs, seed).map(|t| t.detach());
        let f = |xs: &[Tensor<f64>]| {
            let (out, h, c) = xs[0].lstm_sequence(&xs[1], &xs[2], &xs[3], reverse);
            weighted(&out, &h, &c)
        };
        prop_assert!(gradcheck(f, &xs).is_ok());
        prop_assert!(gradgradcheck(f, &xs).is_ok());
    }
}

/// In f32 the prepacked kernel serves the steps' products: the values and
/// gradients are the loop's, up to f32 rounding, with several `k` blocks and
/// more columns than one panel.
#[test]
fn f32_on_the_prepacked_kernel_matches_the_loop() {
    for (steps, b, hs, reverse) in [(3, 20, 70, false), (2, 9, 300, true)] {
        let xs = inputs::<f32>(steps, b, hs, 4);
        let [gi, w, h0, c0] = &xs;
        let (out, h, c) = gi.lstm_sequence(w, h0, c0, reverse);
        let (out_ref, h_ref, c_ref) = reference(gi, w, h0, c0, reverse);
        for (got, want) in [(&out, &out_ref), (&h, &h_ref), (&c, &c_ref)] {
            assert_close(got, want, 1e-5);
        }
        let inputs: Vec<&Tensor<f32>> = xs.iter().collect();
        let fused = grad(&[&weighted(&out, &h, &c)], &inputs, None, GradOptions::default()).unwrap();
        let looped = grad(&[&weighted(&out_ref, &h_ref, &c_ref)], &inputs, None, GradOptions::default()).unwrap();
        for (f, l) in fused.iter().zip(&looped) {
            assert_close(f.as_ref().unwrap(), l.as_ref().unwrap(), 1e-4);
        }
    }
}

/// The batch is split between threads by rows; every bit of the values and
/// gradients is the same on one thread or two.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        set_num_threads(threads);
        let xs = inputs::<f32>(4, 24, 40, 9);
        let (out, h, c) = xs[0].lstm_sequence(&xs[1], &xs[2], &xs[3], false);
        let inputs: Vec<&Tensor<f32>> = xs.iter().collect();
        let grads = grad(&[&weighted(&out, &h, &c)], &inputs, None, GradOptions::default()).unwrap();
        let mut all = out.to_vec();
        grads.iter().for_each(|g| all.extend(g.as_ref().unwrap().to_vec()));
        all
    };
    let (one, two) = (run(1), run(2));
    set_num_threads(lamina_core::num_threads());
    assert!(one.iter().zip(&two).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn no_steps_leave_the_state_as_it_was() {
    let [gi, w, h0, c0] = inputs::<f64>(0, 2, 3, 1);
    let (out, h, c) = gi.lstm_sequence(&w, &h0, &c0, false);
    assert_eq!(out.shape(), &[0, 2, 3]);
    assert_eq!((h.to_vec(), c.to_vec()), (h0.to_vec(), c0.to_vec()));
}

#[test]
fn mismatched_shapes_name_the_op_and_the_shapes() {
    let err = std::panic::catch_unwind(|| {
        let z = |s: &[usize]| Tensor::<f64>::zeros(s);
        z(&[3, 2, 8]).lstm_sequence(&z(&[8, 2]), &z(&[2, 3]), &z(&[2, 2]), false)
    })
    .expect_err("states of 3 units do not fit gates of 2");
    let msg = err.downcast_ref::<String>().expect("a formatted message");
    assert!(
        msg.contains("lstm_sequence")
            && msg.contains("[3, 2, 8]")
            && msg.contains("[2, 3]")
            && msg.contains("lstm_sequence.rs"),
        "{msg}"
    );
}
