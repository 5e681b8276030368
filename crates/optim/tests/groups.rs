//! Parameter groups: by glob pattern, by hand, by depth (layer-wise rates),
//! frozen groups, and the checks on the parameters given.

use crate::common;

use common::{assert_close, panic_message, param, set_grad};
use lamina_core::Tensor;
use lamina_optim::{glob_match, AdamW, GroupSpec, HyperValue, OptimError, Optimizer, Sgd};

fn names<R: lamina_optim::Rule>(opt: &Optimizer<R, f64>) -> Vec<Vec<String>> {
    opt.param_groups().iter().map(|g| g.params().map(|(n, _)| n.to_owned()).collect()).collect()
}

#[test]
fn glob_patterns() {
    assert!(glob_match("*", ""));
    assert!(glob_match("*", "a.b.c"));
    assert!(glob_match("layers.?.bias", "layers.3.bias"));
    assert!(!glob_match("layers.?.bias", "layers.12.bias"));
    assert!(glob_match("layers.*.bias", "layers.12.bias"));
    assert!(glob_match("a*b*c", "a_x_b_y_b_c"));
    assert!(!glob_match("a*b*c", "a_x_b_y_c_d"));
    assert!(glob_match("weight", "weight"));
    assert!(!glob_match("weight", "weight2"));
    assert!(!glob_match("*.weight", "weight"));
}

#[test]
fn groups_by_pattern_first_match_wins_and_options_apply() {
    let all = ["enc.0.weight", "enc.0.bias", "enc.norm.weight", "head.weight", "head.bias"];
    let params: Vec<(String, Tensor<f64>)> = all.iter().map(|n| (n.to_string(), param(&[1.0]))).collect();
    let specs = [GroupSpec::matching(["*.bias", "*norm*"]).weight_decay(0.0), GroupSpec::matching(["head.*"]).lr(0.5)];
    let mut opt =
        Optimizer::with_groups(params.clone(), Sgd { lr: 0.1, weight_decay: 0.1, ..Sgd::default() }, &specs).unwrap();
    assert_eq!(
        names(&opt),
        vec![vec!["enc.0.weight"], vec!["enc.0.bias", "enc.norm.weight", "head.bias"], vec!["head.weight"]]
    );
    for (_, p) in &params {
        set_grad(p, &[1.0]);
    }
    opt.step();
    let value = |n: &str| params.iter().find(|(m, _)| m == n).unwrap().1.to_vec()[0];
    assert_close(&[value("enc.0.weight")], &[1.0 - 0.1 * 1.1]);
    assert_close(&[value("head.bias")], &[1.0 - 0.1 * 1.0]);
    assert_close(&[value("head.weight")], &[1.0 - 0.5 * 1.1]);
}

#[test]
fn unmatched_specs_keep_their_empty_group() {
    let opt = Optimizer::with_groups(
        [("w", param(&[1.0]))],
        Sgd::default(),
        &[GroupSpec::matching(["*.bias"]), GroupSpec::matching(["w"]).lr(0.2)],
    )
    .unwrap();
    assert_eq!(names(&opt), vec![vec![], vec![], vec!["w".to_string()]]);
    assert_eq!(opt.param_groups()[2].lr(), 0.2);
}

#[test]
fn group_specs_refuse_unknown_options() {
    let spec = GroupSpec::matching(["*"]).set("momentun", 0.9);
    let err = Optimizer::with_groups([("w", param(&[1.0]))], Sgd::default(), &[spec]).unwrap_err();
    assert!(matches!(&err, OptimError::UnknownOption { key, .. } if key == "momentun"), "{err}");
}

#[test]
fn add_param_group_with_overrides_the_defaults() {
    let (a, b) = (param(&[1.0]), param(&[1.0]));
    let mut opt = Optimizer::new([("a", a.clone())], AdamW { lr: 0.02, weight_decay: 0.1, ..AdamW::default() });
    opt.add_param_group_with([("b", b.clone())], &[("lr", HyperValue::Num(0.005)), ("weight_decay", 0.0.into())])
        .unwrap();
    let g = &opt.param_groups()[1];
    assert_eq!((g.options.lr, g.options.weight_decay, g.options.betas), (0.005, 0.0, (0.9, 0.999)));
    assert!(opt.add_param_group_with([("c", param(&[1.0]))], &[("lr", (-1.0).into())]).is_err());
    assert_eq!(opt.param_groups().len(), 2, "a refused group is not added");
    let g = opt.param_groups_mut()[0].set("amsgrad", true).unwrap();
    assert!(g.options.amsgrad);
}

#[test]
fn layerwise_rates_decay_with_depth_from_the_output() {
    let all = ["embed.w", "blocks.0.w", "blocks.0.b", "blocks.1.w", "head.w"];
    let depth = |n: &str| match n.split('.').collect::<Vec<_>>()[..] {
        ["head", ..] => 0,
        ["blocks", i, ..] => 2 - i.parse::<usize>().unwrap(),
        _ => 3,
    };
    let mut opt = Optimizer::new([("extra", param(&[0.0]))], Sgd { lr: 0.8, ..Sgd::default() });
    let range = opt.add_layerwise_groups(all.map(|n| (n, param(&[1.0]))), 0.5, depth);
    assert_eq!(range, 1..5);
    let lrs: Vec<f64> = opt.param_groups().iter().map(|g| g.lr()).collect();
    assert_eq!(lrs, vec![0.8, 0.1, 0.2, 0.4, 0.8]);
    assert_eq!(names(&opt)[2], vec!["blocks.0.w", "blocks.0.b"]);
}

#[test]
fn frozen_groups_are_not_updated() {
    let (a, b) = (param(&[1.0]), param(&[1.0]));
    let mut opt = Optimizer::new([("a", a.clone())], Sgd { lr: 0.5, ..Sgd::default() });
    opt.add_param_group([("b", b.clone())], Sgd { lr: 0.5, ..Sgd::default() });
    set_grad(&b, &[1.0]);
    opt.freeze_group(1);
    assert!(!b.requires_grad() && b.grad().is_none() && opt.param_groups()[1].is_frozen());
    set_grad(&a, &[1.0]);
    set_grad(&b, &[1.0]);
    opt.step();
    assert_eq!((a.to_vec()[0], b.to_vec()[0]), (0.5, 1.0));
    opt.unfreeze_group(1);
    assert!(b.requires_grad());
    opt.step();
    assert_eq!((a.to_vec()[0], b.to_vec()[0]), (0.0, 0.5));
    let spec = GroupSpec::matching(["b"]).frozen();
    let opt = Optimizer::with_groups([("a", param(&[1.0])), ("b", param(&[1.0]))], Sgd::default(), &[spec]).unwrap();
    assert!(opt.param_groups()[1].is_frozen());
}

#[test]
fn a_parameter_can_be_in_only_one_group() {
    let w = param(&[1.0]);
    let msg = panic_message(|| {
        let mut opt = Optimizer::new([("w", param(&[1.0]))], Sgd::default());
        opt.add_param_group([("w", param(&[2.0]))], Sgd::default());
    });
    assert!(msg.contains("add_param_group") && msg.contains("`w`") && msg.contains("tests/"), "{msg}");
    let msg = panic_message(|| {
        Optimizer::new([("a", w.clone()), ("b", w.clone())], Sgd::default());
    });
    assert!(msg.contains("`b`") && msg.contains("already a parameter") && msg.contains("tests/"), "{msg}");
    let msg = panic_message(|| {
        let derived = param(&[1.0]).mul_scalar(2.0);
        Optimizer::new([("d", derived)], Sgd::default());
    });
    assert!(msg.contains("not a leaf") && msg.contains("tests/"), "{msg}");
}

#[test]
fn parameters_sharing_storage_update_in_order_on_any_thread_count() {
    // Two leaves viewing one buffer: each step's updates land one after the
    // other, as with one thread, whatever the thread count.
    let before = lamina_core::num_threads();
    let run = |threads| {
        lamina_core::set_num_threads(threads);
        let base = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
        let (a, b) = (base.detach().requires_grad_(true), base.detach().requires_grad_(true));
        let mut opt = Optimizer::new([("a", a.clone()), ("b", b.clone())], Sgd { lr: 0.1, ..Default::default() });
        for _ in 0..3 {
            set_grad(&a, &[1.0, 1.0, 1.0]);
            set_grad(&b, &[0.5, 0.25, 0.125]);
            opt.step();
        }
        base.to_vec()
    };
    let (one, two) = (run(1), run(2));
    lamina_core::set_num_threads(before);
    assert_eq!(one, two);
    let want: Vec<f64> = [1.0f64, 2.0, 3.0]
        .iter()
        .zip([0.5, 0.25, 0.125])
        .map(|(&p, g)| (0..3).fold(p, |p, _| (p - 0.1 * 1.0) - 0.1 * g))
        .collect();
    assert_eq!(one, want);
}
