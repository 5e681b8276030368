//! LSUV initialisation: after it, every Linear/Conv layer's output on the
//! batch has variance 1 within the tolerance, in an MLP and a small CNN.

use lamina_core::{no_grad, Generator, Tensor};
use lamina_init::lsuv::variance;
use lamina_layers::{
    lsuv_init, register_forward_hook, Conv2d, ConvConfig, Flatten, Forward, Linear, LsuvConfig, ModuleExt, Padding,
    ReLU, Sequential, Tanh,
};
use std::sync::{Arc, Mutex};

/// The variance of the output of each module of `net` that has a weight, on `batch`.
fn output_variances(net: &Sequential<f64>, batch: &Tensor<f64>) -> Vec<(String, f64)> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut hooks = Vec::new();
    for (name, m) in net.named_modules() {
        if m.named_parameters().iter().any(|(n, p)| n == "weight" && p.ndim() >= 2) {
            let seen = Arc::clone(&seen);
            hooks.push(register_forward_hook(m, move |_, y: &Tensor<f64>| {
                seen.lock().unwrap().push((name.clone(), variance(y)));
                None
            }));
        }
    }
    no_grad(|| net.forward(batch));
    drop(hooks);
    let out = seen.lock().unwrap().clone();
    out
}

fn check(net: &Sequential<f64>, batch: &Tensor<f64>, layers: usize) {
    let before = output_variances(net, batch);
    assert!(
        before.iter().any(|(_, v)| (v - 1.0).abs() > 0.1),
        "PyTorch's default init is not already unit variance: {before:?}"
    );
    let config = LsuvConfig { tol: 0.05, max_iters: 20 };
    let report = lsuv_init(net, batch, config).unwrap();
    assert_eq!(report.layers.len(), layers);
    assert!(report.converged(), "{report:?}");
    let after = output_variances(net, batch);
    assert_eq!(after.len(), layers);
    let names: Vec<&String> = report.layers.iter().map(|l| &l.name).collect();
    assert_eq!(names, after.iter().map(|(n, _)| n).collect::<Vec<_>>());
    // Later layers' rescaling leaves earlier outputs alone, so all are still at 1.
    for (name, v) in &after {
        assert!((v - 1.0).abs() < config.tol, "{name}: variance {v}");
    }
}

#[test]
fn lsuv_gives_every_layer_of_an_mlp_unit_output_variance() {
    let net = Sequential::<f64>::new()
        .append(Linear::new(16, 32, true))
        .append(Tanh::new())
        .append(Linear::new(32, 32, true))
        .append(ReLU::new())
        .append(Linear::new(32, 8, false));
    let batch = Tensor::<f64>::randn_with(&[256, 16], &mut Generator::new(1)) * 3.0;
    check(&net, &batch, 3);
    // The weights are orthogonal up to scale: W Wᵀ is a multiple of the identity.
    let w = net.state_dict().get("2.weight").unwrap().clone();
    let gram = w.matmul(&w.t()).to_vec();
    let d = gram[0];
    for (i, g) in gram.iter().enumerate() {
        let want = if i % 33 == 0 { d } else { 0.0 };
        assert!((g - want).abs() < 1e-9 * d, "gram[{i}] = {g}, diagonal {d}");
    }
}

#[test]
fn lsuv_gives_every_layer_of_a_cnn_unit_output_variance() {
    let net = Sequential::<f64>::new()
        .append(Conv2d::with_config(ConvConfig { padding: Padding::Same, ..ConvConfig::new(3, 8, [3, 3]) }))
        .append(ReLU::new())
        .append(Conv2d::with_config(ConvConfig { stride: [2, 2], ..ConvConfig::new(8, 8, [3, 3]) }))
        .append(ReLU::new())
        .append(Flatten::default())
        .append(Linear::new(8 * 3 * 3, 10, true));
    let batch = Tensor::<f64>::randn_with(&[32, 3, 8, 8], &mut Generator::new(2)) * 0.2;
    check(&net, &batch, 3);
}
