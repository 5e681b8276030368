//! Properties over generated problems: every optimizer decreases a convex
//! quadratic, schedules stay within their bounds, clipping never increases a
//! norm.

use crate::common;

use common::param;
use lamina_core::Tensor;
use lamina_optim::{
    adaptive_clip_grad, clip_grad_norm, clip_grad_value, vector_norm, Adadelta, Adagrad, Adam, AdamW, Adamax,
    AnnealStrategy, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, CyclicLRConfig, CyclicMode,
    ExponentialLR, Lamb, Lars, LinearLR, Lion, LrScheduler, NAdam, OneCycleLR, OneCycleLRConfig, Optimizer,
    PolynomialLR, RAdam, Rmsprop, Rule, ScheduleTarget, Sgd,
};
use proptest::prelude::*;

/// `f(w) = Σ aᵢ (wᵢ − cᵢ)²` with its minimum at `c`.
#[derive(Clone, Debug)]
struct Quadratic {
    a: Vec<f64>,
    c: Vec<f64>,
    w0: Vec<f64>,
}

impl Quadratic {
    fn value(&self, w: &[f64]) -> f64 {
        w.iter().zip(&self.a).zip(&self.c).map(|((w, a), c)| a * (w - c) * (w - c)).sum()
    }

    fn grad(&self, w: &[f64]) -> Vec<f64> {
        w.iter().zip(&self.a).zip(&self.c).map(|((w, a), c)| 2.0 * a * (w - c)).collect()
    }

    /// `f` after 20 steps of `rule` from `w0`.
    fn after<R: Rule>(&self, rule: R) -> f64 {
        let w = param(&self.w0);
        let mut opt = Optimizer::new([("w", w.clone())], rule);
        for _ in 0..20 {
            w.set_grad(Some(Tensor::from_vec(self.grad(&w.to_vec()), w.shape())));
            opt.step();
        }
        self.value(&w.to_vec())
    }
}

/// Curvatures in [0.5, 2], starting points 0.5 to 2 away from the minimum in
/// every coordinate (so that no rule overshoots it in 20 small steps), away
/// from the origin (where LARS and LAMB have no weight norm to scale by).
fn quadratic() -> impl Strategy<Value = Quadratic> {
    (1usize..=4)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(0.5..2.0f64, n),
                prop::collection::vec(-2.0..2.0f64, n),
                prop::collection::vec((0.5..2.0f64, any::<bool>()), n),
            )
        })
        .prop_map(|(a, c, d)| {
            let w0 = c.iter().zip(d).map(|(c, (d, up))| if up { c + d } else { c - d }).collect();
            Quadratic { a, c, w0 }
        })
        .prop_filter("away from the origin", |q| vector_norm(q.w0.iter().copied(), 2.0) > 0.1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_optimizer_decreases_a_convex_quadratic(q in quadratic()) {
        let start = q.value(&q.w0);
        let ends = [
            ("SGD", q.after(Sgd { lr: 0.1, ..Sgd::default() })),
            ("SGD nesterov", q.after(Sgd { lr: 0.05, momentum: 0.9, nesterov: true, ..Sgd::default() })),
            ("Adam", q.after(Adam { lr: 0.01, ..Adam::default() })),
            ("Adam amsgrad", q.after(Adam { lr: 0.01, amsgrad: true, ..Adam::default() })),
            ("AdamW", q.after(AdamW { lr: 0.01, ..AdamW::default() })),
            ("RMSprop", q.after(Rmsprop { lr: 0.001, centered: true, momentum: 0.5, ..Rmsprop::default() })),
            ("Adagrad", q.after(Adagrad { lr: 0.05, ..Adagrad::default() })),
            ("Adadelta", q.after(Adadelta::default())),
            ("Adamax", q.after(Adamax { lr: 0.01, ..Adamax::default() })),
            ("NAdam", q.after(NAdam { lr: 0.01, ..NAdam::default() })),
            ("RAdam", q.after(RAdam { lr: 0.001, ..RAdam::default() })),
            ("Lion", q.after(Lion { lr: 0.01, ..Lion::default() })),
            ("LAMB", q.after(Lamb { lr: 0.001, ..Lamb::default() })),
            ("LARS", q.after(Lars { lr: 1.0, ..Lars::default() })),
        ];
        for (name, end) in ends {
            prop_assert!(end < start, "{name}: f went from {start} to {end}");
        }
    }
}

/// A one-group SGD optimizer at rate `lr` with momentum 0.9.
fn sgd(lr: f64) -> Optimizer<Sgd, f64> {
    Optimizer::new([("w", param(&[0.0]))], Sgd { lr, momentum: 0.9, ..Sgd::default() })
}

/// The rates and momenta of `n` steps.
fn trace(opt: &mut Optimizer<Sgd, f64>, s: &mut dyn LrScheduler, n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|_| {
            let at = (opt.lr(0), opt.momentum(0).unwrap());
            s.step(opt);
            at
        })
        .collect()
}

/// Whether `x` lies in `[lo, hi]` up to rounding.
fn within(x: f64, lo: f64, hi: f64) -> bool {
    let slack = 1e-12 * hi.abs().max(1.0);
    x >= lo - slack && x <= hi + slack
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn cosine_schedules_stay_between_eta_min_and_the_base_rate(
        base in 1e-3..1.0f64, frac in 0.0..1.0f64, t_max in 1usize..20, t_mult in 1usize..3,
    ) {
        let eta = base * frac;
        let mut opt = sgd(base);
        let mut s = CosineAnnealingLR::new(&mut opt, t_max, eta);
        for (lr, _) in trace(&mut opt, &mut s, 3 * t_max + 5) {
            prop_assert!(within(lr, eta, base), "CosineAnnealingLR: {lr} outside [{eta}, {base}]");
        }
        let mut opt = sgd(base);
        let mut s = CosineAnnealingWarmRestarts::new(&mut opt, t_max, t_mult, eta);
        for (lr, _) in trace(&mut opt, &mut s, 3 * t_max + 5) {
            prop_assert!(within(lr, eta, base), "CosineAnnealingWarmRestarts: {lr} outside [{eta}, {base}]");
        }
    }

    #[test]
    fn one_cycle_stays_within_its_rates_and_momenta(
        max_lr in 1e-3..1.0f64, total in 10usize..60, pct in 0.2..0.8f64, three_phase: bool, linear: bool,
    ) {
        let mut opt = sgd(0.1);
        let config = OneCycleLRConfig {
            pct_start: pct,
            three_phase,
            anneal_strategy: if linear { AnnealStrategy::Linear } else { AnnealStrategy::Cos },
            ..OneCycleLRConfig::new(max_lr, total)
        };
        let min_lr = max_lr / config.div_factor / config.final_div_factor;
        let mut s = OneCycleLR::new(&mut opt, config);
        for (lr, m) in trace(&mut opt, &mut s, total) {
            prop_assert!(within(lr, min_lr, max_lr), "lr {lr} outside [{min_lr}, {max_lr}]");
            prop_assert!(within(m, 0.85, 0.95), "momentum {m} outside [0.85, 0.95]");
        }
    }

    #[test]
    fn cyclic_lr_stays_between_its_bounds(
        base in 1e-3..0.5f64, span in 0.0..1.0f64, up in 1usize..6, down in 1usize..6, mode in 0usize..3,
    ) {
        let mut opt = sgd(1.0);
        let mode = [CyclicMode::Triangular, CyclicMode::Triangular2, CyclicMode::ExpRange][mode];
        let config = CyclicLRConfig {
            step_size_up: up,
            step_size_down: Some(down),
            mode,
            gamma: 0.99,
            ..CyclicLRConfig::new(base, base + span)
        };
        let mut s = CyclicLR::new(&mut opt, config);
        for (lr, m) in trace(&mut opt, &mut s, 4 * (up + down)) {
            prop_assert!(within(lr, base, base + span), "lr {lr} outside [{base}, {}]", base + span);
            prop_assert!(within(m, 0.8, 0.9), "momentum {m} outside [0.8, 0.9]");
        }
    }

    #[test]
    fn decays_stay_within_their_factors(
        base in 1e-3..1.0f64, start in 0.05..1.0f64, end in 0.0..1.0f64, iters in 1usize..15,
        power in 0.5..3.0f64, gamma in 0.5..1.0f64,
    ) {
        let mut opt = sgd(base);
        let mut s = LinearLR::new(&mut opt, start, end, iters);
        let (lo, hi) = (base * start.min(end), base * start.max(end));
        for (lr, _) in trace(&mut opt, &mut s, iters + 5) {
            prop_assert!(within(lr, lo, hi), "LinearLR: {lr} outside [{lo}, {hi}]");
        }
        let mut opt = sgd(base);
        let mut s = PolynomialLR::new(&mut opt, iters, power);
        for (lr, _) in trace(&mut opt, &mut s, iters + 5) {
            prop_assert!(within(lr, 0.0, base), "PolynomialLR: {lr} outside [0, {base}]");
        }
        let mut opt = sgd(base);
        let mut s = ExponentialLR::new(&mut opt, gamma);
        let lrs = trace(&mut opt, &mut s, 20);
        prop_assert!(lrs.windows(2).all(|w| w[1].0 <= w[0].0), "ExponentialLR rose");
    }
}

/// One to three gradients of one to four values.
fn gradients() -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(-10.0..10.0f64, 1..=4), 1..=3)
}

fn params_with(grads: &[Vec<f64>]) -> Vec<Tensor<f64>> {
    grads
        .iter()
        .map(|g| {
            let p = param(&vec![1.0; g.len()]);
            p.set_grad(Some(Tensor::from_vec(g.clone(), &[g.len()])));
            p
        })
        .collect()
}

fn grads_of(ps: &[Tensor<f64>]) -> Vec<f64> {
    ps.iter().flat_map(|p| p.grad().unwrap().to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn clipping_never_increases_a_norm(
        grads in gradients(), max_norm in 0.01..20.0f64, order in 0usize..4, clip in 0.01..5.0f64,
    ) {
        let p = [1.0, 2.0, 3.0, f64::INFINITY][order];
        let ps = params_with(&grads);
        let before = grads_of(&ps);
        let total = clip_grad_norm(&ps, max_norm, p, false).unwrap();
        let after = grads_of(&ps);
        let norm_after = vector_norm(after.iter().copied(), p);
        prop_assert!(norm_after <= total * (1.0 + 1e-12), "norm rose from {total} to {norm_after}");
        prop_assert!(norm_after <= max_norm * (1.0 + 1e-12), "norm {norm_after} above {max_norm}");
        prop_assert!(after.iter().zip(&before).all(|(a, b)| a.abs() <= b.abs()));

        let ps = params_with(&grads);
        clip_grad_value(&ps, clip);
        prop_assert!(grads_of(&ps).iter().zip(&before).all(|(a, b)| a.abs() <= b.abs().min(clip)));

        let ps = params_with(&grads);
        adaptive_clip_grad(&ps, 0.1, 1e-3);
        prop_assert!(grads_of(&ps).iter().zip(&before).all(|(a, b)| a.abs() <= b.abs()));
    }
}
