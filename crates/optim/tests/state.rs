//! Saving and loading optimizer state by parameter name, and the errors when
//! a saved state does not fit.

use crate::common;

use common::set_grad;
use lamina_core::Tensor;
use lamina_optim::{Adam, HyperValue, OptimError, Optimizer, OptimizerState, Sgd};

/// Two parameters, `a` [2, 2] and `b` [3], with the given values.
fn params(a: &[f64], b: &[f64]) -> Vec<(String, Tensor<f64>)> {
    vec![
        ("a".to_string(), Tensor::from_vec(a.to_vec(), &[2, 2]).requires_grad_(true)),
        ("b".to_string(), Tensor::from_vec(b.to_vec(), &[3]).requires_grad_(true)),
    ]
}

fn grads_for(k: usize) -> [Vec<f64>; 2] {
    let k = k as f64;
    [vec![0.1 * k, -1.0, 0.5, 2.0 - k], vec![1.0 / (k + 1.0), 0.0, -0.3 * k]]
}

fn run(opt: &mut Optimizer<Adam, f64>, ps: &[(String, Tensor<f64>)], steps: std::ops::Range<usize>) {
    for k in steps {
        let g = grads_for(k);
        for (name, p) in ps {
            set_grad(p, if name == "a" { &g[0] } else { &g[1] });
        }
        opt.step();
    }
}

fn adam() -> Adam {
    Adam { lr: 0.05, amsgrad: true, ..Adam::default() }
}

/// An Adam optimizer stepped three times, and its parameters.
fn trained() -> (Optimizer<Adam, f64>, Vec<(String, Tensor<f64>)>) {
    let ps = params(&[1.0, 2.0, 3.0, 4.0], &[-1.0, 0.0, 1.0]);
    let mut opt = Optimizer::new(ps.clone(), adam());
    run(&mut opt, &ps, 0..3);
    (opt, ps)
}

#[test]
fn round_trip_through_json_continues_identically() {
    let (mut opt, ps) = trained();
    opt.param_groups_mut()[0].options.lr = 0.01; // as a scheduler would
    let json = serde_json::to_string(&opt.state_dict()).unwrap();
    let saved: OptimizerState = serde_json::from_str(&json).unwrap();
    assert_eq!(saved, opt.state_dict());
    assert_eq!(saved.state["a"].step, 3);
    assert!(saved.state["a"].buffers.contains_key("max_exp_avg_sq"));

    // A new optimizer over copies of the parameters, listed in another order.
    let copies: Vec<(String, Tensor<f64>)> = ps
        .iter()
        .rev()
        .map(|(n, t)| (n.clone(), Tensor::from_vec(t.to_vec(), t.shape()).requires_grad_(true)))
        .collect();
    let mut fresh = Optimizer::new(copies.clone(), Adam::default());
    fresh.load_state_dict(&saved).unwrap();
    assert_eq!(fresh.param_groups()[0].options, Adam { lr: 0.01, ..adam() });
    run(&mut opt, &ps, 3..6);
    run(&mut fresh, &copies, 3..6);
    for (n, p) in &ps {
        let q = &copies.iter().find(|(m, _)| m == n).unwrap().1;
        assert_eq!(p.to_vec(), q.to_vec(), "parameter {n}");
    }
}

#[test]
fn f32_optimizer_loads_an_f64_state() {
    let (opt, ps) = trained();
    let ps32: Vec<(String, Tensor<f32>)> = ps.iter().map(|(n, t)| (n.clone(), t.cast::<f32>())).collect();
    let mut o32 = Optimizer::new(ps32, adam());
    o32.load_state_dict(&opt.state_dict()).unwrap();
    let (s64, s32) = (opt.state("a").unwrap(), o32.state("a").unwrap());
    assert_eq!(s32.step, 3);
    for (x, y) in s64.buffers[1].iter().zip(&s32.buffers[1]) {
        assert!((x - *y as f64).abs() <= 1e-7 * x.abs());
    }
}

#[test]
fn unknown_names_are_refused() {
    let (opt, _) = trained();
    let mut saved = opt.state_dict();
    let s = saved.state.remove("b").unwrap();
    saved.state.insert("c".to_string(), s);
    let mut other = Optimizer::new(params(&[0.0; 4], &[0.0; 3]), adam());
    let err = other.load_state_dict(&saved).unwrap_err();
    assert_eq!(err, OptimError::UnknownParameter("c".to_string()));
    assert!(err.to_string().contains("`c`"), "{err}");
}

#[test]
fn renamed_groups_are_refused() {
    let (opt, _) = trained();
    let renamed =
        vec![("a".to_string(), Tensor::<f64>::zeros(&[2, 2])), ("bb".to_string(), Tensor::<f64>::zeros(&[3]))];
    let err = Optimizer::new(renamed, adam()).load_state_dict(&opt.state_dict()).unwrap_err();
    assert_eq!(err, OptimError::UnknownParameter("b".to_string()));
}

#[test]
fn wrong_shapes_are_refused() {
    let (opt, _) = trained();
    let reshaped = vec![("a".to_string(), Tensor::<f64>::zeros(&[4])), ("b".to_string(), Tensor::<f64>::zeros(&[3]))];
    let err = Optimizer::new(reshaped, adam()).load_state_dict(&opt.state_dict()).unwrap_err();
    assert_eq!(err, OptimError::ShapeMismatch { name: "a".into(), expected: vec![4], found: vec![2, 2] });
    let msg = err.to_string();
    assert!(msg.contains("`a`") && msg.contains("[4]") && msg.contains("[2, 2]"), "{msg}");
}

#[test]
fn other_mismatches_are_refused_and_change_nothing() {
    let (mut opt, _) = trained();
    let good = opt.state_dict();
    let refuse = |opt: &mut Optimizer<Adam, f64>, saved: OptimizerState, what: &str| {
        let err = opt.load_state_dict(&saved).unwrap_err();
        assert!(err.to_string().contains(what), "{err} should mention {what}");
        assert_eq!(opt.state_dict(), good, "a refused load changes nothing");
    };
    let mut s = good.clone();
    s.optimizer = "SGD".into();
    refuse(&mut opt, s, "SGD");
    let mut s = good.clone();
    s.param_groups.push(s.param_groups[0].clone());
    refuse(&mut opt, s, "2 parameter groups");
    let mut s = good.clone();
    s.state.get_mut("b").unwrap().buffers.get_mut("exp_avg").unwrap().pop();
    refuse(&mut opt, s, "exp_avg");
    let mut s = good.clone();
    s.state.get_mut("b").unwrap().buffers.insert("momentum_buffer".into(), vec![0.0; 3]);
    refuse(&mut opt, s, "momentum_buffer");
    let mut s = good.clone();
    s.param_groups[0].options.insert("lr".into(), HyperValue::Bool(true));
    refuse(&mut opt, s, "lr");
    let mut s = good.clone();
    s.param_groups[0].params.pop();
    refuse(&mut opt, s, "group 0");
}

#[test]
fn groups_must_hold_the_same_names() {
    let ps = params(&[0.0; 4], &[0.0; 3]);
    let mut split = Optimizer::new([ps[0].clone()], Sgd::default());
    split.add_param_group([ps[1].clone()], Sgd::default());
    let mut saved = split.state_dict();
    saved.param_groups.swap(0, 1);
    let err = split.load_state_dict(&saved).unwrap_err();
    assert!(matches!(err, OptimError::StateMismatch(ref m) if m.contains("group 0")), "{err}");
}
