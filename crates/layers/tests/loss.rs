//! Loss functions: hand-computed values (the quadratic/linear switch of
//! smooth L1 and Huber, BCE's log clamp, stable logits, KL's 0·log 0 = 0,
//! every reduction) and gradient checks over input and target alike.

use lamina_core::testing::{shape, tensor, tensor_away_from_zero};
use lamina_core::{gradcheck, Tensor};
use lamina_layers::loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, huber_loss, kl_div, l1_loss, mse_loss, smooth_l1_loss,
    KlReduction, Reduction,
};
use proptest::prelude::*;

fn t(data: &[f64]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), &[data.len()])
}

fn assert_close(got: &Tensor<f64>, want: &[f64]) {
    let got = got.to_vec();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{got:?} vs {want:?}");
    }
}

#[test]
fn mse_and_l1_with_every_reduction() {
    let (x, y) = (t(&[1.0, -2.0, 0.5]), t(&[0.0, 1.0, 0.5]));
    assert_close(&mse_loss(&x, &y, Reduction::None), &[1.0, 9.0, 0.0]);
    assert_close(&mse_loss(&x, &y, Reduction::Sum), &[10.0]);
    assert_close(&mse_loss(&x, &y, Reduction::Mean), &[10.0 / 3.0]);
    assert_close(&l1_loss(&x, &y, Reduction::None), &[1.0, 3.0, 0.0]);
    assert_close(&l1_loss(&x, &y, Reduction::Mean), &[4.0 / 3.0]);
}

#[test]
fn smooth_l1_and_huber_switch_from_quadratic_to_linear_at_the_threshold() {
    // |z| = 0.5 and 3.
    let (x, y) = (t(&[0.5, -1.0]), t(&[0.0, 2.0]));
    // Smooth L1, beta 1: 0.5 z² / beta below, z - 0.5 beta above.
    assert_close(&smooth_l1_loss(&x, &y, Reduction::None, 1.0), &[0.125, 2.5]);
    // beta 2: 0.0625 and 2; beta 0 is plain L1.
    assert_close(&smooth_l1_loss(&x, &y, Reduction::None, 2.0), &[0.0625, 2.0]);
    assert_close(&smooth_l1_loss(&x, &y, Reduction::Sum, 0.0), &[3.5]);
    // Huber, delta 2: 0.5 z² below, delta (z - 0.5 delta) above.
    assert_close(&huber_loss(&x, &y, Reduction::None, 2.0), &[0.125, 4.0]);
    assert_close(&huber_loss(&x, &y, Reduction::Mean, 1.0), &[(0.125 + 2.5) / 2.0]);
}

#[test]
fn binary_cross_entropy_clamps_its_logs_at_minus_100() {
    let ln2 = 2f64.ln();
    assert_close(
        &binary_cross_entropy(&t(&[0.5, 0.25]), &t(&[1.0, 0.0]), None, Reduction::None),
        &[ln2, -(0.75f64.ln())],
    );
    // log 0 = -inf is clamped: a confident wrong answer costs 100, not inf.
    assert_close(&binary_cross_entropy(&t(&[0.0, 1.0]), &t(&[1.0, 0.0]), None, Reduction::None), &[100.0, 100.0]);
    let w = t(&[2.0, 3.0]);
    assert_close(&binary_cross_entropy(&t(&[0.5, 0.5]), &t(&[1.0, 0.0]), Some(&w), Reduction::Sum), &[5.0 * ln2]);
}

#[test]
fn binary_cross_entropy_with_logits_is_stable_and_weights_positives() {
    let ln2 = 2f64.ln();
    let x = t(&[0.0, -1000.0, 1000.0, 2.0]);
    let y = t(&[1.0, 1.0, 1.0, 0.0]);
    // softplus(-x) for y = 1, softplus(x) for y = 0; no overflow at ±1000.
    let want = [ln2, 1000.0, 0.0, 2.0 + (-2f64).exp().ln_1p()];
    assert_close(&binary_cross_entropy_with_logits(&x, &y, None, None, Reduction::None), &want);
    // pos_weight multiplies the positive term only.
    let pw = t(&[3.0, 3.0, 3.0, 3.0]);
    let weighted = binary_cross_entropy_with_logits(&x, &y, None, Some(&pw), Reduction::None);
    assert_close(&weighted, &[3.0 * ln2, 3000.0, 0.0, want[3]]);
    // Agrees with BCE of the sigmoid where that is accurate.
    let (xs, ys) = (t(&[0.3, -1.2]), t(&[0.25, 0.9]));
    let a = binary_cross_entropy_with_logits(&xs, &ys, None, None, Reduction::Mean).item();
    let b = binary_cross_entropy(&xs.sigmoid(), &ys, None, Reduction::Mean).item();
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
}

#[test]
fn kl_div_takes_zero_log_zero_as_zero() {
    let input = t(&[-1.0, -2.0, (0.5f64).ln()]);
    let target = t(&[0.0, 0.25, 0.5]);
    let pointwise = kl_div(&input, &target, KlReduction::None, false);
    assert_close(&pointwise, &[0.0, 0.25 * (0.25f64.ln() + 2.0), 0.0]);
    // And its gradient at a zero target is finite: d/dt (t log t - t x) = log t + 1 - x is
    // taken through log 1 there, so it is -x = 1.
    let target = target.requires_grad_(true);
    kl_div(&input, &target, KlReduction::Sum, false).backward();
    let g = target.grad().expect("a gradient").to_vec();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    assert_close(&Tensor::from_vec(vec![g[0]], &[1]), &[1.0]);
}

#[test]
fn kl_div_reductions_and_log_target() {
    // [2, 2]: rows are distributions.
    let p = Tensor::<f64>::from_vec(vec![0.5, 0.5, 0.25, 0.75], &[2, 2]);
    let q = Tensor::<f64>::from_vec(vec![0.25, 0.75, 0.5, 0.5], &[2, 2]);
    let kl = |a: f64, b: f64, c: f64, d: f64| a * (a / c).ln() + b * (b / d).ln();
    let total = kl(0.5, 0.5, 0.25, 0.75) + kl(0.25, 0.75, 0.5, 0.5);
    let logq = q.log();
    assert_close(&kl_div(&logq, &p, KlReduction::Sum, false), &[total]);
    assert_close(&kl_div(&logq, &p, KlReduction::BatchMean, false), &[total / 2.0]);
    assert_close(&kl_div(&logq, &p, KlReduction::Mean, false), &[total / 4.0]);
    assert_close(&kl_div(&logq, &p.log(), KlReduction::Sum, true), &[total]);
    assert_eq!(KlReduction::default(), KlReduction::Mean);
}

fn reduction(i: usize) -> Reduction {
    [Reduction::None, Reduction::Mean, Reduction::Sum][i]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn regression_losses_gradcheck_over_input_and_target(
        (target, diff) in shape(1, 3, 3).prop_flat_map(|s| (tensor(s.clone(), -1.0, 1.0), tensor_away_from_zero(s, 0.05, 2.0))),
        r in 0..3usize, threshold in prop_oneof![Just(0.5), Just(1.0), Just(1.5)],
    ) {
        // Away from the kinks: z = 0 (L1) and |z| = threshold (smooth L1, Huber).
        prop_assume!(diff.to_vec().iter().all(|d| (d.abs() - threshold).abs() > 1e-3));
        let input = &target + &diff;
        let red = reduction(r);
        let losses: [(&str, Box<dyn Fn(&[Tensor<f64>]) -> Tensor<f64>>); 4] = [
            ("mse", Box::new(move |xs| mse_loss(&xs[0], &xs[1], red))),
            ("l1", Box::new(move |xs| l1_loss(&xs[0], &xs[1], red))),
            ("smooth_l1", Box::new(move |xs| smooth_l1_loss(&xs[0], &xs[1], red, threshold))),
            ("huber", Box::new(move |xs| huber_loss(&xs[0], &xs[1], red, threshold))),
        ];
        for (name, f) in losses {
            let res = gradcheck(f, &[input.clone(), target.clone()]);
            prop_assert!(res.is_ok(), "{name}: {}", res.unwrap_err());
        }
    }

    #[test]
    fn binary_cross_entropies_gradcheck_over_input_target_and_weights(
        (x, p, y, w, pw) in shape(1, 3, 3).prop_flat_map(|s| {
            let last = vec![*s.last().expect("a dim")];
            (tensor(s.clone(), -3.0, 3.0), tensor(s.clone(), 0.05, 0.95), tensor(s.clone(), 0.0, 1.0), tensor(s, 0.5, 2.0), tensor(last, 0.5, 3.0))
        }),
        r in 0..3usize,
    ) {
        let red = reduction(r);
        let bce = gradcheck(|xs| binary_cross_entropy(&xs[0], &xs[1], Some(&xs[2]), red), &[p, y.clone(), w.clone()]);
        prop_assert!(bce.is_ok(), "bce: {}", bce.unwrap_err());
        // pos_weight broadcasts over the last (class) dimension.
        let logits = gradcheck(
            |xs| binary_cross_entropy_with_logits(&xs[0], &xs[1], Some(&xs[2]), Some(&xs[3]), red),
            &[x, y, w, pw],
        );
        prop_assert!(logits.is_ok(), "bce_with_logits: {}", logits.unwrap_err());
    }

    #[test]
    fn kl_div_gradchecks_over_input_and_target(
        (input, target, log_target) in shape(1, 3, 3).prop_flat_map(|s| (tensor(s.clone(), -3.0, 0.0), tensor(s.clone(), 0.05, 1.0), tensor(s, -3.0, 0.0))),
        r in 0..4usize,
    ) {
        let red = [KlReduction::None, KlReduction::Mean, KlReduction::Sum, KlReduction::BatchMean][r];
        let plain = gradcheck(|xs| kl_div(&xs[0], &xs[1], red, false), &[input.clone(), target]);
        prop_assert!(plain.is_ok(), "{}", plain.unwrap_err());
        let logs = gradcheck(|xs| kl_div(&xs[0], &xs[1], red, true), &[input, log_target]);
        prop_assert!(logs.is_ok(), "log_target: {}", logs.unwrap_err());
    }
}
