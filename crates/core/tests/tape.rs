//! The tape's contract: accumulation, retain/free, create_graph, hooks,
//! no_grad, and second derivatives checked against finite differences.

use lamina_core::{grad, gradcheck, gradgradcheck, no_grad, GradOptions, Tensor};

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

#[test]
fn leaves_accumulate_across_backward_calls() {
    let x = t(&[1.0, 2.0], &[2]).requires_grad_(true);
    (&x * 3.0).sum().backward();
    (&x * &x).sum().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![5.0, 7.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn slices_of_a_leaf_add_into_its_gradient() {
    let w = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).requires_grad_(true);
    (w.narrow(0, 0, 1) * 2.0 + w.narrow(0, 1, 1) * 3.0).sum().backward();
    let first = w.grad().unwrap();
    assert_eq!(first.to_vec(), vec![2.0, 2.0, 3.0, 3.0]);
    (w.slice(1, 1, 2, 1) * 10.0).sum().backward();
    assert_eq!(w.grad().unwrap().to_vec(), vec![2.0, 12.0, 3.0, 13.0]);
    // The gradient handed out earlier is not changed by later accumulation.
    assert_eq!(first.to_vec(), vec![2.0, 2.0, 3.0, 3.0]);
    // A leaf with a hook gets each slice's gradient whole, through the hook.
    let v = t(&[1.0, 2.0], &[2]).requires_grad_(true);
    v.register_hook(|g| Some(g * 2.0));
    (v.narrow(0, 0, 1) + v.narrow(0, 1, 1) * 5.0).sum().backward();
    assert_eq!(v.grad().unwrap().to_vec(), vec![2.0, 10.0]);
}

#[test]
fn second_backward_without_retain_is_an_error() {
    let x = t(&[1.0, 2.0], &[2]).requires_grad_(true);
    let y = x.exp().sum();
    y.backward_with(None, GradOptions::default()).unwrap();
    let err = y.backward_with(None, GradOptions::default()).unwrap_err();
    assert!(err.to_string().contains("second time"), "{err}");
    assert!(err.to_string().contains("tape.rs"), "{err}");
}

#[test]
fn retain_graph_allows_a_second_backward() {
    let x = t(&[1.0, 2.0], &[2]).requires_grad_(true);
    let y = x.exp().sum();
    let keep = GradOptions { retain_graph: true, ..Default::default() };
    y.backward_with(None, keep).unwrap();
    y.backward_with(None, keep).unwrap();
    let e: Vec<f64> = [1.0f64, 2.0].iter().map(|v| 2.0 * v.exp()).collect();
    assert_eq!(x.grad().unwrap().to_vec(), e);
}

#[test]
fn no_grad_records_nothing() {
    let x = t(&[1.0], &[1]).requires_grad_(true);
    let y = no_grad(|| x.exp());
    assert!(!y.requires_grad() && y.grad_fn_name().is_none());
    let z = x.detach().exp();
    assert!(!z.requires_grad());
}

#[test]
fn hooks_see_and_replace_non_leaf_gradients() {
    let x = t(&[1.0, 2.0], &[2]).requires_grad_(true);
    let h = &x * 2.0;
    // retain_grad stores the gradient after every hook, whatever the order.
    h.retain_grad();
    h.register_hook(|g| Some(g * 0.5));
    h.sum().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 1.0]);
    assert_eq!(h.grad().unwrap().to_vec(), vec![0.5, 0.5]);
}

#[test]
fn functional_grad_leaves_dot_grad_alone_and_reports_unused() {
    let x = t(&[2.0], &[1]).requires_grad_(true);
    let u = t(&[2.0], &[1]).requires_grad_(true);
    let y = &x * &x;
    let g = grad(&[&y], &[&x], None, GradOptions { retain_graph: true, ..Default::default() }).unwrap();
    assert_eq!(g[0].as_ref().unwrap().to_vec(), vec![4.0]);
    assert!(x.grad().is_none());
    assert!(grad(&[&y], &[&u], None, GradOptions { retain_graph: true, ..Default::default() }).is_err());
    let g = grad(&[&y], &[&u], None, GradOptions { allow_unused: true, ..Default::default() }).unwrap();
    assert!(g[0].is_none());
}

#[test]
fn a_graph_thousands_of_ops_deep_drops_without_overflow() {
    let w = Tensor::<f32>::ones(&[4]).requires_grad_(true);
    let mut h = w.clone();
    for _ in 0..200_000 {
        h = &h * 0.999;
    }
    drop(h);
}

#[test]
fn gradcheck_reports_a_wrong_gradient() {
    // A function whose gradient hook lies: the check must catch it.
    let f = |xs: &[Tensor<f64>]| {
        let y = &xs[0] * 2.0;
        y.register_hook(|g| Some(g * 3.0));
        y.sum()
    };
    let err = gradcheck(f, &[t(&[0.5, 1.5], &[2])]).unwrap_err();
    assert_eq!(err.input, 0);
    assert!((err.analytic - 6.0).abs() < 1e-9 && (err.numeric - 2.0).abs() < 1e-6, "{err}");
}

#[test]
fn second_derivatives_of_core_ops() {
    let x = t(&[0.3, -0.7, 1.1, 0.2], &[2, 2]);
    let w = t(&[0.5, -0.2, 0.1, 0.9], &[2, 2]);
    let f = |xs: &[Tensor<f64>]| xs[0].matmul(&xs[1]).tanh().mul(&xs[0].exp()).sum();
    gradcheck(f, &[x.clone(), w.clone()]).unwrap();
    gradgradcheck(f, &[x, w]).unwrap();
}
