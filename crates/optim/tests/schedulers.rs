//! Each scheduler's sequence against closed forms and hand-computed values,
//! PyTorch's construction semantics, and saving and loading progress.

use crate::common;

use common::{assert_close, panic_message, param};
use lamina_optim::{
    with_linear_warmup, Adam, AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR,
    CosineAnnealingWarmRestarts, CyclicLR, CyclicLRConfig, CyclicMode, ExponentialLR, LambdaLR, LinearLR, LrLambda,
    LrScheduler, MultiStepLR, MultiplicativeLR, OneCycleLR, OneCycleLRConfig, Optimizer, PlateauMode, PolynomialLR,
    ReduceLROnPlateau, ReduceLROnPlateauConfig, ScheduleTarget, SequentialLR, Sgd, StepLR, ThresholdMode,
};
use std::f64::consts::PI;
use std::sync::Arc;

/// SGD with one group per rate, each holding one parameter.
fn sgd(lrs: &[f64]) -> Optimizer<Sgd, f64> {
    sgd_with(lrs, Sgd::default())
}

fn sgd_with(lrs: &[f64], rule: Sgd) -> Optimizer<Sgd, f64> {
    let mut opt = Optimizer::empty(rule);
    for (i, &lr) in lrs.iter().enumerate() {
        opt.add_param_group([(format!("p{i}"), param(&[0.0]))], Sgd { lr, ..rule });
    }
    opt
}

/// The rates of group 0 in use for `n` steps (read before each step).
fn rates(opt: &mut dyn ScheduleTarget, sched: &mut dyn LrScheduler, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let lr = opt.lr(0);
            sched.step(opt);
            lr
        })
        .collect()
}

#[test]
fn step_lr_matches_its_closed_form() {
    let mut opt = sgd(&[0.1, 0.02]);
    let mut s = StepLR::new(&mut opt, 3, 0.5);
    for t in 0..12 {
        assert_close(&opt.lrs(), &[0.1 * 0.5f64.powi(t / 3), 0.02 * 0.5f64.powi(t / 3)]);
        s.step(&mut opt);
    }
}

#[test]
fn multistep_lr_applies_a_repeated_milestone_twice() {
    for milestones in [[2, 5, 5], [5, 2, 5]] {
        let mut opt = sgd(&[1.0]);
        let mut s = MultiStepLR::new(&mut opt, &milestones, 0.1);
        let want = [1.0, 1.0, 0.1, 0.1, 0.1, 0.001, 0.001];
        assert_close(&rates(&mut opt, &mut s, 7), &want);
    }
}

#[test]
fn exponential_constant_linear_and_polynomial_follow_their_formulas() {
    let base = 0.8;
    let mut opt = sgd(&[base]);
    let mut s = ExponentialLR::new(&mut opt, 0.9);
    let want: Vec<f64> = (0..8).map(|t| base * 0.9f64.powi(t)).collect();
    assert_close(&rates(&mut opt, &mut s, 8), &want);

    let mut opt = sgd(&[base]);
    let mut s = ConstantLR::new(&mut opt, 0.5, 3);
    let want: Vec<f64> = (0..6).map(|t| if t < 3 { base * 0.5 } else { base }).collect();
    assert_close(&rates(&mut opt, &mut s, 6), &want);

    let mut opt = sgd(&[base]);
    let mut s = LinearLR::new(&mut opt, 0.25, 1.0, 4);
    let want: Vec<f64> = (0..7).map(|t| base * (0.25 + 0.75 * (t.min(4) as f64) / 4.0)).collect();
    assert_close(&rates(&mut opt, &mut s, 7), &want);

    let mut opt = sgd(&[base]);
    let mut s = LinearLR::new(&mut opt, 1.0, 0.5, 2);
    assert_close(&rates(&mut opt, &mut s, 4), &[base, base * 0.75, base * 0.5, base * 0.5]);

    let mut opt = sgd(&[base]);
    let mut s = PolynomialLR::new(&mut opt, 4, 2.0);
    let want: Vec<f64> = (0..7).map(|t| base * (1.0 - (t.min(4) as f64) / 4.0).powi(2)).collect();
    assert_close(&rates(&mut opt, &mut s, 7), &want);
}

#[test]
fn cosine_annealing_recursion_matches_the_closed_form_past_t_max() {
    let (base, eta, t_max) = (1.0, 0.01, 7);
    let mut opt = sgd(&[base]);
    let mut s = CosineAnnealingLR::new(&mut opt, t_max, eta);
    let want: Vec<f64> =
        (0..3 * t_max).map(|t| eta + (base - eta) * (1.0 + (PI * t as f64 / t_max as f64).cos()) / 2.0).collect();
    assert_close(&rates(&mut opt, &mut s, 3 * t_max), &want);
}

#[test]
fn cosine_annealing_carries_outside_changes_through() {
    let mut opt = sgd(&[1.0]);
    let mut s = CosineAnnealingLR::new(&mut opt, 10, 0.0);
    for _ in 0..3 {
        s.step(&mut opt);
    }
    let halved = opt.lr(0) / 2.0;
    opt.set_lr(0, halved);
    s.step(&mut opt);
    let ratio = (1.0 + (PI * 4.0 / 10.0).cos()) / (1.0 + (PI * 3.0 / 10.0).cos());
    assert_close(&[opt.lr(0)], &[halved * ratio]);
}

#[test]
fn warm_restarts_lengthen_each_cycle() {
    let mut opt = sgd(&[1.0]);
    let mut s = CosineAnnealingWarmRestarts::new(&mut opt, 2, 2, 0.0);
    let c = |frac: f64| (1.0 + (PI * frac).cos()) / 2.0;
    let want = [1.0, c(0.5), 1.0, c(0.25), c(0.5), c(0.75), 1.0, c(0.125)];
    assert_close(&rates(&mut opt, &mut s, 8), &want);
    s.step_epoch(&mut opt, 1.5);
    assert_close(&[opt.lr(0)], &[c(0.75)]);
    // Epoch 3 lies one step into the second cycle, of length 4.
    s.step_epoch(&mut opt, 3.0);
    assert_close(&[opt.lr(0)], &[c(0.25)]);
}

#[test]
fn one_cycle_anneals_by_cosine_and_cycles_momentum() {
    let mut opt = sgd_with(&[5.0], Sgd { momentum: 0.9, ..Sgd::default() });
    let config = OneCycleLRConfig { div_factor: 10.0, final_div_factor: 100.0, ..OneCycleLRConfig::new(1.0, 10) };
    let mut s = OneCycleLR::new(&mut opt, config);
    assert_eq!(opt.initial_lr(0), Some(0.1), "the constructor overwrites initial_lr");
    // Rise over steps 0..=2 from 0.1 to 1, then fall over 2..=9 to 0.001.
    let cos = |start: f64, end: f64, pct: f64| end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0);
    let mut lrs = Vec::new();
    let mut momenta = Vec::new();
    for _ in 0..10 {
        lrs.push(opt.lr(0));
        momenta.push(opt.momentum(0).unwrap());
        s.step(&mut opt);
    }
    assert_close(&lrs[..3], &[0.1, cos(0.1, 1.0, 0.5), 1.0]);
    assert_close(&lrs[5..6], &[cos(1.0, 0.001, 3.0 / 7.0)]);
    assert_close(&lrs[9..], &[0.001]);
    assert_close(&[momenta[0], momenta[2], momenta[9]], &[0.95, 0.85, 0.95]);
    assert_close(&momenta[1..2], &[cos(0.95, 0.85, 0.5)]);
    // Ten steps reached step index 10, the last PyTorch allows; one more panics.
    let msg = panic_message(std::panic::AssertUnwindSafe(|| s.step(&mut opt)));
    assert!(msg.contains("OneCycleLR") && msg.contains("total_steps is 10"), "{msg}");
}

#[test]
fn one_cycle_three_phase_linear() {
    let mut opt = sgd_with(&[1.0], Sgd { momentum: 0.9, ..Sgd::default() });
    let config = OneCycleLRConfig {
        pct_start: 0.25,
        anneal_strategy: AnnealStrategy::Linear,
        three_phase: true,
        div_factor: 10.0,
        final_div_factor: 100.0,
        ..OneCycleLRConfig::new(1.0, 10)
    };
    let mut s = OneCycleLR::new(&mut opt, config);
    // Phases end at steps 1.5, 3 and 9.
    let want = [0.1, 0.1 + 0.9 / 1.5, 1.0 - 0.9 * 0.5 / 1.5, 0.1, 0.1 - 0.099 / 6.0];
    assert_close(&rates(&mut opt, &mut s, 5), &want);
}

#[test]
fn one_cycle_cycles_adam_beta1() {
    let mut opt = Optimizer::new([("w", param(&[0.0]))], Adam::default());
    let mut s = OneCycleLR::new(&mut opt, OneCycleLRConfig::new(0.1, 10));
    assert_eq!(opt.param_groups()[0].options.betas, (0.95, 0.999));
    for _ in 0..2 {
        s.step(&mut opt);
    }
    assert_close(&[opt.param_groups()[0].options.betas.0], &[0.85]);
}

#[test]
fn cyclic_lr_modes() {
    let run = |mode: CyclicMode, gamma: f64, n: usize| {
        let mut opt = sgd_with(&[5.0], Sgd { momentum: 0.9, ..Sgd::default() });
        let config = CyclicLRConfig { step_size_up: 2, mode, gamma, ..CyclicLRConfig::new(1.0, 3.0) };
        let mut s = CyclicLR::new(&mut opt, config);
        let mut momenta = Vec::new();
        let lrs = (0..n)
            .map(|_| {
                momenta.push(opt.momentum(0).unwrap());
                let lr = opt.lr(0);
                s.step(&mut opt);
                lr
            })
            .collect::<Vec<f64>>();
        (lrs, momenta)
    };
    let (lrs, momenta) = run(CyclicMode::Triangular, 1.0, 6);
    assert_close(&lrs, &[1.0, 2.0, 3.0, 2.0, 1.0, 2.0]);
    assert_close(&momenta[..3], &[0.9, 0.85, 0.8]);
    let (lrs, _) = run(CyclicMode::Triangular2, 1.0, 9);
    assert_close(&lrs, &[1.0, 2.0, 3.0, 2.0, 1.0, 1.5, 2.0, 1.5, 1.0]);
    let (lrs, _) = run(CyclicMode::ExpRange, 0.5, 4);
    assert_close(&lrs, &[1.0, 1.0 + 2.0 * 0.5 * 0.5, 1.0 + 2.0 * 0.25, 1.0 + 2.0 * 0.5 * 0.125]);

    // Rise in one step, fall in three.
    let mut opt = sgd(&[5.0]);
    let config = CyclicLRConfig {
        step_size_up: 1,
        step_size_down: Some(3),
        cycle_momentum: false,
        ..CyclicLRConfig::new(1.0, 3.0)
    };
    let mut s = CyclicLR::new(&mut opt, config);
    assert_close(&rates(&mut opt, &mut s, 5), &[1.0, 3.0, 1.0 + 2.0 * 2.0 / 3.0, 1.0 + 2.0 / 3.0, 1.0]);
}

#[test]
fn cycling_momentum_needs_a_momentum() {
    let mut opt = Optimizer::new([("w", param(&[0.0]))], lamina_optim::Adagrad::default());
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        CyclicLR::new(&mut opt, CyclicLRConfig::new(0.1, 1.0));
    }));
    assert!(msg.contains("CyclicLR") && msg.contains("momentum") && msg.contains("tests/"), "{msg}");
}

#[test]
fn lambda_and_multiplicative_schedules() {
    let mut opt = sgd(&[1.0, 2.0]);
    let fs: Vec<LrLambda> = vec![Arc::new(|t| 1.0 / (t + 1) as f64), Arc::new(|t| 0.5f64.powi(t as i32))];
    let mut s = LambdaLR::per_group(&mut opt, fs);
    s.step(&mut opt);
    s.step(&mut opt);
    assert_close(&opt.lrs(), &[1.0 / 3.0, 2.0 * 0.25]);

    let mut opt = sgd(&[1.0]);
    let mut s = MultiplicativeLR::new(&mut opt, |t| 1.0 - 0.1 * t as f64);
    assert_close(&rates(&mut opt, &mut s, 4), &[1.0, 0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.7]);
}

#[test]
fn sequential_lr_restarts_the_next_schedule_at_its_milestone() {
    let mut opt = sgd(&[1.0]);
    let first = ConstantLR::new(&mut opt, 0.1, 10);
    let second = StepLR::new(&mut opt, 2, 0.5);
    let mut s = SequentialLR::new(&mut opt, vec![Box::new(first), Box::new(second)], &[3]);
    // StepLR counts from 0 at step 3, so it halves at steps 5 and 7.
    assert_close(&rates(&mut opt, &mut s, 8), &[0.1, 0.1, 0.1, 1.0, 1.0, 0.5, 0.5, 0.25]);
}

#[test]
fn chained_schedulers_multiply() {
    let mut opt = sgd(&[1.0]);
    let a = StepLR::new(&mut opt, 2, 0.5);
    let b = ExponentialLR::new(&mut opt, 0.9);
    let mut s = ChainedScheduler::new(&mut opt, vec![Box::new(a), Box::new(b)]);
    let want: Vec<f64> = (0..6).map(|t| 0.5f64.powi(t / 2) * 0.9f64.powi(t)).collect();
    assert_close(&rates(&mut opt, &mut s, 6), &want);
}

#[test]
fn linear_warmup_then_step_decay() {
    let mut opt = sgd(&[1.0]);
    let mut s = with_linear_warmup(&mut opt, 2, 0.5, |o| Box::new(StepLR::new(o, 2, 0.1)));
    assert_close(&rates(&mut opt, &mut s, 6), &[0.5, 0.75, 1.0, 1.0, 0.1, 0.1]);
}

/// The rates after each plateau step for `metrics`.
fn plateau(lrs: &[f64], config: ReduceLROnPlateauConfig, metrics: &[f64]) -> Vec<Vec<f64>> {
    let mut opt = sgd(lrs);
    let mut s = ReduceLROnPlateau::new(&mut opt, config);
    metrics
        .iter()
        .map(|&m| {
            s.step(&mut opt, m);
            opt.lrs()
        })
        .collect()
}

#[test]
fn reduce_on_plateau_patience_and_cooldown() {
    let config =
        ReduceLROnPlateauConfig { factor: 0.5, patience: 2, threshold: 0.1, cooldown: 1, ..Default::default() };
    let metrics = [10.0, 9.5, 9.5, 9.5, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0];
    let got: Vec<f64> = plateau(&[1.0], config, &metrics).into_iter().map(|l| l[0]).collect();
    // 9.5 is not 10% below 10; the cooldown step after each reduction is not counted.
    assert_close(&got, &[1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125]);
}

#[test]
fn reduce_on_plateau_max_mode_absolute_threshold() {
    let config = ReduceLROnPlateauConfig {
        mode: PlateauMode::Max,
        threshold_mode: ThresholdMode::Abs,
        threshold: 0.5,
        patience: 0,
        ..Default::default()
    };
    let got: Vec<f64> = plateau(&[1.0], config, &[1.0, 1.4, 1.6, 1.6]).into_iter().map(|l| l[0]).collect();
    assert_close(&got, &[1.0, 0.1, 0.1, 0.1 * 0.1]);
}

#[test]
fn reduce_on_plateau_min_lr_and_eps() {
    let config = ReduceLROnPlateauConfig { patience: 0, min_lr: 0.05.into(), ..Default::default() };
    let got: Vec<f64> = plateau(&[1.0], config, &[1.0; 4]).into_iter().map(|l| l[0]).collect();
    assert_close(&got, &[1.0, 0.1, 0.05, 0.05]);
    // A reduction of less than eps (1e-8) is skipped.
    let config = ReduceLROnPlateauConfig { patience: 0, ..Default::default() };
    let got = plateau(&[1.5e-8, 1e-8], config, &[1.0, 1.0]);
    assert_close(&got[1], &[1.5e-9, 1e-8]);
    let config = ReduceLROnPlateauConfig { patience: 0, min_lr: vec![0.5, 0.0].into(), ..Default::default() };
    assert_close(&plateau(&[1.0, 1.0], config, &[1.0, 1.0])[1], &[0.5, 0.1]);
}

#[test]
fn constructors_check_their_arguments() {
    let mut opt = sgd(&[1.0]);
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        ConstantLR::new(&mut opt, 1.5, 3);
    }));
    assert!(msg.contains("ConstantLR") && msg.contains("factor") && msg.contains("tests/"), "{msg}");
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let a = StepLR::new(&mut opt, 1, 0.5);
        SequentialLR::new(&mut opt, vec![Box::new(a)], &[3]);
    }));
    assert!(msg.contains("SequentialLR") && msg.contains("milestones") && msg.contains("tests/"), "{msg}");
}

/// Steps `make(opt)` 5 times, saves, restores into a fresh optimizer and
/// scheduler, and checks both continue alike for 12 steps.
fn resumes_alike(make: impl Fn(&mut Optimizer<Sgd, f64>) -> Box<dyn LrScheduler>) {
    let rule = Sgd { momentum: 0.9, ..Sgd::default() };
    let mut opt = sgd_with(&[0.5, 0.1], rule);
    let mut s = make(&mut opt);
    for _ in 0..5 {
        s.step(&mut opt);
    }
    let (saved_opt, saved) = (opt.state_dict(), s.state());
    let json = serde_json::to_string(&saved).unwrap();
    let mut opt2 = sgd_with(&[0.5, 0.1], rule);
    let mut s2 = make(&mut opt2);
    opt2.load_state_dict(&saved_opt).unwrap();
    s2.load_state(&serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(s2.last_lr(), s.last_lr());
    for _ in 0..12 {
        s.step(&mut opt);
        s2.step(&mut opt2);
        assert_eq!(opt.lrs(), opt2.lrs(), "{}", s.name());
        assert_eq!(opt.momentum(0), opt2.momentum(0));
    }
}

#[test]
fn schedulers_resume_from_a_saved_state() {
    resumes_alike(|o| Box::new(StepLR::new(o, 3, 0.5)));
    resumes_alike(|o| Box::new(CosineAnnealingLR::new(o, 6, 0.01)));
    resumes_alike(|o| Box::new(CosineAnnealingWarmRestarts::new(o, 2, 2, 0.0)));
    resumes_alike(|o| Box::new(OneCycleLR::new(o, OneCycleLRConfig::new(1.0, 20))));
    resumes_alike(|o| Box::new(CyclicLR::new(o, CyclicLRConfig { step_size_up: 3, ..CyclicLRConfig::new(0.1, 1.0) })));
    resumes_alike(|o| {
        let a = LinearLR::new(o, 0.1, 1.0, 4);
        let b = ExponentialLR::new(o, 0.9);
        Box::new(SequentialLR::new(o, vec![Box::new(a), Box::new(b)], &[4]))
    });
    resumes_alike(|o| {
        let a = ConstantLR::new(o, 0.5, 8);
        let b = MultiStepLR::new(o, &[2, 9], 0.5);
        Box::new(ChainedScheduler::new(o, vec![Box::new(a), Box::new(b)]))
    });
}

#[test]
fn plateau_resumes_from_a_saved_state() {
    let config = ReduceLROnPlateauConfig { patience: 1, cooldown: 1, ..Default::default() };
    let metrics = [3.0, 2.0, 2.5, 2.5, 2.5, 1.0, 1.0, 1.0, 1.0, 1.0];
    let mut opt = sgd(&[1.0]);
    let mut s = ReduceLROnPlateau::new(&mut opt, config.clone());
    for &m in &metrics[..3] {
        s.step(&mut opt, m);
    }
    let saved: lamina_optim::SchedulerState =
        serde_json::from_str(&serde_json::to_string(&s.state()).unwrap()).unwrap();
    let mut opt2 = sgd(&[1.0]);
    opt2.load_state_dict(&opt.state_dict()).unwrap();
    let mut s2 = ReduceLROnPlateau::new(&mut opt2, config);
    s2.load_state(&saved).unwrap();
    for &m in &metrics[3..] {
        s.step(&mut opt, m);
        s2.step(&mut opt2, m);
        assert_eq!(opt.lrs(), opt2.lrs());
    }
    assert!(opt.lr(0) < 0.1, "the schedule reduced the rate twice");
    let other = StepLR::new(&mut sgd(&[1.0]), 1, 0.5).state();
    assert!(s2.load_state(&other).is_err());
}

#[test]
fn loading_a_state_of_another_scheduler_fails() {
    let mut opt = sgd(&[1.0]);
    let step = StepLR::new(&mut opt, 2, 0.5).state();
    let mut cos = CosineAnnealingLR::new(&mut opt, 5, 0.0);
    let err = cos.load_state(&step).unwrap_err().to_string();
    assert!(err.contains("StepLR") && err.contains("CosineAnnealingLR"), "{err}");
}
