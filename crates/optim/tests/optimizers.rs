//! Each optimizer's first steps against values computed by hand from
//! PyTorch's update rules (and the papers' formulas for Lion, LAMB and LARS).

use crate::common;

use common::{assert_close, panic_message, param, set_grad, single, step};
use lamina_core::Tensor;
use lamina_optim::{
    optimizer_by_name, Adadelta, Adagrad, Adam, AdamW, Adamax, HyperValue, Lamb, Lars, Lion, NAdam, OptimError,
    Optimizer, RAdam, Rmsprop, Rule, Sgd,
};

#[test]
fn sgd_plain_step() {
    let (p, mut opt) = single(&[1.0, -2.0], Sgd { lr: 0.1, ..Sgd::default() });
    assert_close(&step(&mut opt, &p, &[0.5, 1.0]), &[0.95, -2.1]);
}

#[test]
fn sgd_momentum_first_step_buffer_is_the_gradient() {
    let rule = Sgd { lr: 0.1, momentum: 0.9, dampening: 0.5, ..Sgd::default() };
    let (p, mut opt) = single(&[1.0], rule);
    // Step 1: the buffer is the gradient itself, undampened.
    assert_close(&step(&mut opt, &p, &[2.0]), &[1.0 - 0.1 * 2.0]);
    assert_close(&opt.state("w").unwrap().buffers[0], &[2.0]);
    // Step 2: b = 0.9·2 + (1 − 0.5)·1 = 2.3.
    assert_close(&step(&mut opt, &p, &[1.0]), &[0.8 - 0.1 * 2.3]);
    assert_close(&opt.state("w").unwrap().buffers[0], &[2.3]);
}

#[test]
fn sgd_nesterov_looks_ahead_along_the_buffer() {
    let (p, mut opt) = single(&[1.0], Sgd { lr: 0.1, momentum: 0.9, nesterov: true, ..Sgd::default() });
    // b = 2, d = 2 + 0.9·2 = 3.8.
    assert_close(&step(&mut opt, &p, &[2.0]), &[1.0 - 0.38]);
    // b = 0.9·2 + 1 = 2.8, d = 1 + 0.9·2.8 = 3.52.
    assert_close(&step(&mut opt, &p, &[1.0]), &[0.62 - 0.352]);
}

#[test]
fn sgd_weight_decay_and_maximize() {
    let (p, mut opt) = single(&[2.0], Sgd { lr: 0.1, weight_decay: 0.1, ..Sgd::default() });
    assert_close(&step(&mut opt, &p, &[1.0]), &[2.0 - 0.1 * (1.0 + 0.1 * 2.0)]);
    let (p, mut opt) = single(&[2.0], Sgd { lr: 0.1, weight_decay: 0.1, maximize: true, ..Sgd::default() });
    assert_close(&step(&mut opt, &p, &[1.0]), &[2.0 - 0.1 * (-1.0 + 0.1 * 2.0)]);
}

#[test]
fn adam_first_step_adds_eps_after_bias_correction() {
    // m̂ = g and √v̂ = |g|, so the step is lr·g/(|g| + ε); with ε added before
    // the correction it would be lr·g/(|g| + ε/√(1 − β2)), far smaller here.
    let (p, mut opt) = single(&[1.0, 1.0], Adam { lr: 0.1, eps: 0.1, ..Adam::default() });
    let got = step(&mut opt, &p, &[2.0, -0.5]);
    assert_close(&got, &[1.0 - 0.1 * 2.0 / 2.1, 1.0 + 0.1 * 0.5 / 0.6]);
}

#[test]
fn adam_second_step() {
    let (p, mut opt) = single(&[0.0], Adam { lr: 0.1, eps: 0.0, ..Adam::default() });
    assert_close(&step(&mut opt, &p, &[1.0]), &[-0.1]);
    let (m, v): (f64, f64) = (0.9 * 0.1 + 0.1 * 3.0, 0.999 * 0.001 + 0.001 * 9.0);
    let (bc1, bc2) = (1.0 - 0.9f64 * 0.9, 1.0 - 0.999f64 * 0.999);
    assert_close(&step(&mut opt, &p, &[3.0]), &[-0.1 - 0.1 / bc1 * m / (v.sqrt() / bc2.sqrt())]);
}

#[test]
fn adam_amsgrad_keeps_the_largest_second_moment() {
    let run = |amsgrad: bool| {
        let (p, mut opt) = single(&[0.0], Adam { lr: 0.1, eps: 0.0, amsgrad, ..Adam::default() });
        step(&mut opt, &p, &[2.0]);
        step(&mut opt, &p, &[0.0])[0]
    };
    // After the steps v is 0.004 then 0.003996; m is 0.2 then 0.18.
    let (bc1, bc2) = (1.0 - 0.81, 1.0 - 0.998001f64);
    let with = |v: f64| -0.1 - 0.1 / bc1 * 0.18 / (v.sqrt() / bc2.sqrt());
    assert_close(&[run(true)], &[with(0.004)]);
    assert_close(&[run(false)], &[with(0.003996)]);
}

#[test]
fn adam_maximize_ascends() {
    let (p, mut opt) = single(&[0.0], Adam { lr: 0.1, maximize: true, ..Adam::default() });
    assert!(step(&mut opt, &p, &[1.0])[0] > 0.099);
}

#[test]
fn adamw_decays_weights_before_the_adam_step() {
    let adamw = AdamW { lr: 0.1, eps: 0.0, weight_decay: 0.5, ..AdamW::default() };
    let (p, mut opt) = single(&[1.0], adamw);
    assert_close(&step(&mut opt, &p, &[2.0]), &[1.0 * (1.0 - 0.1 * 0.5) - 0.1 * 2.0 / 2.0]);
    // Adam's decoupled option is the same update; its coupled decay is not.
    let decoupled = Adam { lr: 0.1, eps: 0.0, weight_decay: 0.5, decoupled_weight_decay: true, ..Adam::default() };
    let (p, mut opt) = single(&[1.0], decoupled);
    assert_close(&step(&mut opt, &p, &[2.0]), &[0.85]);
    let (p, mut opt) = single(&[1.0], Adam { decoupled_weight_decay: false, ..decoupled });
    assert_close(&step(&mut opt, &p, &[2.0]), &[1.0 - 0.1 * 2.5 / 2.5]);
}

#[test]
fn rmsprop_plain_first_step() {
    let (p, mut opt) = single(&[1.0], Rmsprop { lr: 0.01, eps: 0.0, ..Rmsprop::default() });
    // v = 0.01·4 = 0.04, p = 1 − 0.01·2/0.2.
    assert_close(&step(&mut opt, &p, &[2.0]), &[0.9]);
}

#[test]
fn rmsprop_centered_with_momentum() {
    let rule = Rmsprop { lr: 0.01, eps: 0.0, momentum: 0.5, centered: true, ..Rmsprop::default() };
    let (p, mut opt) = single(&[1.0], rule);
    let b1 = 2.0 / (0.04f64 - 0.02 * 0.02).sqrt();
    assert_close(&step(&mut opt, &p, &[2.0]), &[1.0 - 0.01 * b1]);
    let (v, avg): (f64, f64) = (0.99 * 0.04 + 0.01 * 1.0, 0.99 * 0.02 + 0.01 * 1.0);
    let b2 = 0.5 * b1 + 1.0 / (v - avg * avg).sqrt();
    assert_close(&step(&mut opt, &p, &[1.0]), &[1.0 - 0.01 * b1 - 0.01 * b2]);
}

#[test]
fn adagrad_accumulates_and_decays_the_rate() {
    let rule = Adagrad { lr: 0.1, lr_decay: 0.5, initial_accumulator_value: 1.0, eps: 0.0, ..Adagrad::default() };
    let (p, mut opt) = single(&[0.0], rule);
    let p1 = -0.1 * 1.0 / 2f64.sqrt(); // sum = 1 + 1
    assert_close(&step(&mut opt, &p, &[1.0]), &[p1]);
    // sum = 2 + 4, rate 0.1/(1 + 1·0.5).
    assert_close(&step(&mut opt, &p, &[2.0]), &[p1 - 0.1 / 1.5 * 2.0 / 6f64.sqrt()]);
}

#[test]
fn adadelta_first_two_steps() {
    let (p, mut opt) = single(&[0.0], Adadelta::default());
    let eps: f64 = 1e-6;
    let d1 = eps.sqrt() / (0.4f64 + eps).sqrt() * 2.0;
    assert_close(&step(&mut opt, &p, &[2.0]), &[-d1]);
    let acc = 0.1 * d1 * d1;
    let d2 = (acc + eps).sqrt() / (0.9 * 0.4f64 + 0.1 + eps).sqrt() * 1.0;
    assert_close(&step(&mut opt, &p, &[1.0]), &[-d1 - d2]);
}

#[test]
fn adamax_uses_the_infinity_norm() {
    let (p, mut opt) = single(&[0.0], Adamax { lr: 0.1, eps: 0.0, ..Adamax::default() });
    // m = 0.2, u = 2: p = −0.1/0.1 · 0.2/2.
    assert_close(&step(&mut opt, &p, &[2.0]), &[-0.1]);
    // m = 0.18 − 0.1, u = max(0.999·2, 1).
    assert_close(&step(&mut opt, &p, &[-1.0]), &[-0.1 - 0.1 / 0.19 * 0.08 / 1.998]);
}

#[test]
fn nadam_first_step() {
    let (p, mut opt) = single(&[0.0], NAdam { lr: 0.1, eps: 0.0, ..NAdam::default() });
    let mu1 = 0.9 * (1.0 - 0.5 * 0.96f64.powf(0.004));
    let mu2 = 0.9 * (1.0 - 0.5 * 0.96f64.powf(0.008));
    // m = 0.2, √(v/(1 − β2)) = 2.
    let want = -0.1 * (1.0 - mu1) / (1.0 - mu1) * 2.0 / 2.0 - 0.1 * mu2 / (1.0 - mu1 * mu2) * 0.2 / 2.0;
    assert_close(&step(&mut opt, &p, &[2.0]), &[want]);
    assert_close(&opt.state("w").unwrap().scalars, &[mu1]);
}

#[test]
fn radam_is_momentum_sgd_until_the_variance_is_tractable() {
    // With β2 = 0.9, ρ∞ = 19 and ρₜ passes 5 at t = 6. A constant gradient
    // makes m̂ = g and √v̂ = |g|.
    let (p, mut opt) = single(&[0.0], RAdam { lr: 0.01, betas: (0.9, 0.9), eps: 0.0, ..RAdam::default() });
    for t in 1..=5 {
        assert_close(&step(&mut opt, &p, &[2.0]), &[-0.02 * t as f64]);
    }
    let rho = 19.0 - 2.0 * 6.0 * 0.9f64.powi(6) / (1.0 - 0.9f64.powi(6));
    let r = ((rho - 4.0) * (rho - 2.0) * 19.0 / (15.0 * 17.0 * rho)).sqrt();
    assert_close(&step(&mut opt, &p, &[2.0]), &[-0.1 - 0.01 * 2.0 * 0.5 * r]);
}

#[test]
fn lion_moves_by_the_sign_of_the_interpolated_momentum() {
    let (p, mut opt) = single(&[1.0, 1.0, 1.0], Lion { lr: 0.1, ..Lion::default() });
    assert_close(&step(&mut opt, &p, &[2.0, -3.0, 0.0]), &[0.9, 1.1, 1.0]);
    assert_close(&opt.state("w").unwrap().buffers[0], &[0.02, -0.03, 0.0]);
    // c = 0.9·m + 0.1·g = [0.008, −0.037, 0.05]: the first element still
    // descends along the momentum although its gradient is negative.
    assert_close(&step(&mut opt, &p, &[-0.1, -0.1, 0.5]), &[0.8, 1.2, 0.9]);
    let (p, mut opt) = single(&[1.0], Lion { lr: 0.1, weight_decay: 0.5, ..Lion::default() });
    assert_close(&step(&mut opt, &p, &[2.0]), &[1.0 * (1.0 - 0.05) - 0.1]);
}

#[test]
fn lamb_scales_the_adam_direction_by_the_trust_ratio() {
    let (p, mut opt) = single(&[3.0, 4.0], Lamb { lr: 0.1, eps: 0.0, weight_decay: 0.1, ..Lamb::default() });
    // r = g/|g| = [1, −1], u = r + 0.1·p = [1.3, −0.6], ratio ‖p‖/‖u‖ = 5/√2.05.
    let trust = 5.0 / 2.05f64.sqrt();
    assert_close(&step(&mut opt, &p, &[1.0, -2.0]), &[3.0 - 0.1 * trust * 1.3, 4.0 + 0.1 * trust * 0.6]);
    // Zero weights: the ratio is 1.
    let (p, mut opt) = single(&[0.0, 0.0], Lamb { lr: 0.1, eps: 0.0, ..Lamb::default() });
    assert_close(&step(&mut opt, &p, &[1.0, -2.0]), &[-0.1, 0.1]);
}

#[test]
fn lars_uses_the_layerwise_local_rate() {
    let rule = Lars { lr: 1.0, weight_decay: 0.1, ..Lars::default() };
    let (p, mut opt) = single(&[3.0, 4.0], rule);
    // ‖p‖ = 5, ‖g‖ = 1: η_l = 0.001·5/(1 + 0.5); b = η_l·(g + 0.1·p) = η_l·[0.9, 1.2].
    let l1 = 0.001 * 5.0 / 1.5;
    let b1 = [l1 * 0.9, l1 * 1.2];
    let p1 = [3.0 - b1[0], 4.0 - b1[1]];
    assert_close(&step(&mut opt, &p, &[0.6, 0.8]), &p1);
    let n1 = (p1[0] * p1[0] + p1[1] * p1[1]).sqrt();
    let l2 = 0.001 * n1 / (1.0 + 0.1 * n1);
    let b2 = [0.9 * b1[0] + l2 * (0.6 + 0.1 * p1[0]), 0.9 * b1[1] + l2 * (0.8 + 0.1 * p1[1])];
    assert_close(&step(&mut opt, &p, &[0.6, 0.8]), &[p1[0] - b2[0], p1[1] - b2[1]]);
    // Without adaptation the group is momentum SGD.
    let (p, mut opt) = single(&[3.0, 4.0], Lars { adapt: false, ..rule });
    assert_close(&step(&mut opt, &p, &[0.6, 0.8]), &[3.0 - 0.9, 4.0 - 1.2]);
}

#[test]
fn parameters_without_gradients_are_skipped() {
    let (a, b) = (param(&[1.0]), param(&[2.0]));
    let mut opt = Optimizer::new([("a", a.clone()), ("b", b.clone())], Adam { lr: 0.1, ..Adam::default() });
    set_grad(&a, &[1.0]);
    opt.step();
    assert_eq!(b.to_vec(), vec![2.0]);
    assert!(opt.state("b").is_none());
    assert_eq!(opt.state("a").unwrap().step, 1);
}

#[test]
fn gradients_from_backward_and_strided_parameters() {
    // x.sum() gives an expanded (stride 0) gradient.
    let (w, mut opt) = single(&[1.0, 2.0, 3.0], Sgd { lr: 0.5, ..Sgd::default() });
    w.sum().backward();
    opt.step();
    assert_close(&w.to_vec(), &[0.5, 1.5, 2.5]);
    // A transposed view as a parameter is updated through its layout.
    let base = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let t = base.transpose(0, 1).requires_grad_(true);
    let mut opt = Optimizer::new([("t", t.clone())], Sgd { lr: 1.0, ..Sgd::default() });
    t.set_grad(Some(Tensor::from_vec(vec![1.0, 0.0, 0.0, 0.0, 0.0, 2.0], &[3, 2])));
    opt.step();
    assert_close(&t.to_vec(), &[0.0, 4.0, 2.0, 5.0, 3.0, 4.0]);
    assert_close(&base.to_vec(), &[0.0, 2.0, 3.0, 4.0, 5.0, 4.0]);
}

#[test]
fn f32_follows_f64() {
    let w64 = param(&[0.5, -1.5, 2.0]);
    let w32 = w64.detach().cast::<f32>().requires_grad_(true);
    let rule = Adam { lr: 0.05, amsgrad: true, weight_decay: 0.01, ..Adam::default() };
    let mut o64 = Optimizer::new([("w", w64.clone())], rule);
    let mut o32 = Optimizer::new([("w", w32.clone())], rule);
    for k in 0..5 {
        let g: Vec<f64> = vec![0.3 * k as f64 - 0.5, 1.0, -0.25 * k as f64];
        set_grad(&w64, &g);
        w32.set_grad(Some(Tensor::from_f64(&g, &[3])));
        o64.step();
        o32.step();
    }
    for (a, b) in w64.to_vec().iter().zip(w32.to_vec()) {
        assert!((a - b as f64).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn invalid_options_panic_naming_the_optimizer_and_caller() {
    let msg = panic_message(|| {
        single(&[1.0], Sgd { nesterov: true, ..Sgd::default() });
    });
    assert!(msg.contains("SGD") && msg.contains("nesterov") && msg.contains("tests/"), "{msg}");
    let msg = panic_message(|| {
        single(&[1.0], Adam { betas: (1.0, 0.999), ..Adam::default() });
    });
    assert!(msg.contains("Adam") && msg.contains("beta1") && msg.contains("tests/"), "{msg}");
}

#[test]
fn set_rejects_unknown_options_and_bad_values() {
    let mut sgd = Sgd::default();
    assert!(matches!(sgd.set("betas", (0.9, 0.99).into()), Err(OptimError::UnknownOption { .. })));
    assert!(matches!(sgd.set("lr", true.into()), Err(OptimError::BadValue { .. })));
    assert!(matches!(sgd.set("lr", (-1.0).into()), Err(OptimError::BadValue { .. })));
    assert_eq!(sgd, Sgd::default(), "a refused value changes nothing");
    sgd.set("momentum", 0.9.into()).unwrap();
    assert_eq!(sgd.momentum, 0.9);
    let err = Adam::default().set("momentum", 0.9.into()).unwrap_err().to_string();
    assert!(err.contains("Adam") && err.contains("momentum") && err.contains("betas"), "{err}");
}

#[test]
fn optimizers_are_found_by_pytorch_name() {
    let names =
        ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Lion", "LAMB", "LARS"];
    for name in names {
        let mut opt = optimizer_by_name::<f64>(name, &[("lr", HyperValue::Num(0.01))]).unwrap();
        assert_eq!(opt.name(), name);
        let p = param(&[1.0, 2.0]);
        opt.add_param_group_with(vec![("p".into(), p.clone())], &[("weight_decay", 0.0.into())]).unwrap();
        set_grad(&p, &[1.0, 1.0]);
        opt.step();
        assert!(p.to_vec()[0] < 1.0, "{name} did not descend");
        assert_eq!(opt.option(0, "lr"), Some(HyperValue::Num(0.01)));
    }
    assert!(matches!(optimizer_by_name::<f32>("Sgd", &[]), Err(OptimError::UnknownName { .. })));
    assert!(matches!(
        optimizer_by_name::<f32>("SGD", &[("foreach", true.into())]),
        Err(OptimError::UnknownOption { .. })
    ));
}

#[test]
fn zero_grad_clears_every_gradient() {
    let (a, b) = (param(&[1.0]), param(&[2.0]));
    let opt = Optimizer::new([("a", a.clone()), ("b", b.clone())], Sgd::default());
    set_grad(&a, &[1.0]);
    set_grad(&b, &[1.0]);
    opt.zero_grad();
    assert!(a.grad().is_none() && b.grad().is_none());
}

#[test]
fn every_rule_names_its_state_buffers() {
    fn buffers<R: Rule>() -> &'static [&'static str] {
        R::BUFFERS
    }
    assert_eq!(buffers::<Sgd>(), ["momentum_buffer"]);
    assert_eq!(buffers::<Adam>(), ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]);
    assert_eq!(buffers::<Adagrad>(), ["sum"]);
    assert_eq!(buffers::<Adadelta>(), ["square_avg", "acc_delta"]);
}
