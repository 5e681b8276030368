//! Gradients of gradients: (1) a Hessian-vector product by double backward,
//! checked against the analytic Hessian and used for power iteration; (2) a
//! gradient penalty (WGAN-GP) that trains a critic whose input-gradient norm
//! is pushed towards 1.
//!
//! Run with `cargo run --release --example higher_order` (add
//! `-- --max-steps N` to stop the critic's training after N steps).

mod common;

use lamina::layers::{Forward, Linear, ModuleExt, Sequential, Tanh};
use lamina::optim::{Adam, Optimizer};
use lamina::prelude::*;

/// `H v` for the Hessian `H` of `f` at `w`, without forming `H`: differentiate
/// `<grad f(w), v>` once more. `create_graph` records the first backward pass.
fn hvp(f: impl Fn(&Tensor<f64>) -> Tensor<f64>, w: &Tensor<f64>, v: &Tensor<f64>) -> Tensor<f64> {
    let w = w.detach().requires_grad_(true);
    let g = grad(&[&f(&w)], &[&w], None, GradOptions::create_graph()).unwrap()[0].clone().unwrap();
    grad(&[&(&g * v).sum()], &[&w], None, GradOptions::default()).unwrap()[0].clone().unwrap()
}

fn hessian_vector_products() {
    manual_seed(0);
    // L2-regularised logistic loss f(w) = sum_i softplus(a_i . w) + lam/2 |w|^2,
    // whose Hessian is A^T diag(s (1 - s)) A + lam I with s = sigmoid(A w).
    let (n, d, lam) = (50, 6, 0.1);
    let a = Tensor::<f64>::randn(&[n, d]);
    let f = |w: &Tensor<f64>| a.matmul(w).softplus(1.0, 20.0).sum() + w.square().sum() * (lam / 2.0);
    let w = Tensor::<f64>::randn(&[d]);
    let v = Tensor::<f64>::randn(&[d]);

    let s = a.matmul(&w).sigmoid();
    let curvature = &s * &(s.ones_like() - &s);
    let hessian = a.transpose(0, 1).matmul(&(&a * &curvature.unsqueeze(1))) + Tensor::<f64>::eye(d) * lam;
    let expected = hessian.matmul(&v);
    let got = hvp(f, &w, &v);
    let err = (&got - &expected).abs().max().item();
    println!("Hessian-vector product: max |double backward - analytic| = {err:.2e}");
    assert!(err < 1e-10, "the HVP disagrees with the analytic Hessian");

    // The largest eigenvalue of H by power iteration, using only HVPs.
    let mut u = Tensor::<f64>::randn(&[d]);
    let mut eig = 0.0;
    for _ in 0..100 {
        let hu = hvp(f, &w, &u);
        eig = (&hu * &u).sum().item() / (&u * &u).sum().item();
        u = &hu / hu.norm(2.0, &[0], false).item();
    }
    let residual = (hessian.matmul(&u) - &u * eig).abs().max().item();
    println!("largest Hessian eigenvalue {eig:.6} (|H u - lambda u| = {residual:.2e})");
}

fn gradient_penalty() {
    manual_seed(1);
    // "Real" points around (2, 2); "fake" ones from a standard normal.
    let n = 256;
    let real = || Tensor::<f32>::randn(&[n, 2]) * 0.5 + 2.0;
    let fake = || Tensor::<f32>::randn(&[n, 2]);
    let critic = Sequential::new()
        .append(Linear::new(2, 64, true))
        .append(Tanh::new())
        .append(Linear::new(64, 64, true))
        .append(Tanh::new())
        .append(Linear::new(64, 1, true));
    let mut opt = Optimizer::new(critic.named_parameters(), Adam { lr: 1e-3, betas: (0.5, 0.9), ..Adam::default() });
    let lambda = 10.0;

    // The critic's input-gradient norm at each row of `x`, differentiable.
    let grad_norm = |x: &Tensor<f32>| {
        let x = x.detach().requires_grad_(true);
        let g =
            grad(&[&critic.forward(&x).sum()], &[&x], None, GradOptions::create_graph()).unwrap()[0].clone().unwrap();
        (g.square().sum_dims(&[1], false) + 1e-12).sqrt()
    };

    let steps = common::steps_to_run(500);
    let bar = common::progress(steps);
    for step in 0..steps {
        let (r, f) = (real(), fake());
        let eps = Tensor::<f32>::rand(&[n, 1]);
        let between = &r * &eps + &f * &(eps.ones_like() - &eps);
        let norms = grad_norm(&between);
        let penalty = (norms - 1.0).square().mean();
        let distance = critic.forward(&r).mean() - critic.forward(&f).mean();
        // The critic maximises the distance; the penalty keeps it 1-Lipschitz.
        let loss = &penalty * lambda - &distance;
        opt.zero_grad();
        loss.backward(); // through the first backward pass: a second-order gradient
        opt.step();
        bar.set_message(format!("distance {:.3}  penalty {:.4}", distance.item(), penalty.item()));
        bar.inc(1);
        if step % 100 == 0 {
            bar.suspend(|| println!("step {step:3}  distance {:.4}  penalty {:.4}", distance.item(), penalty.item()));
        }
    }
    bar.finish();

    let (r, f) = (real(), fake());
    let eps = Tensor::<f32>::rand(&[n, 1]);
    let norms = grad_norm(&(&r * &eps + &f * &(eps.ones_like() - &eps)));
    let distance = no_grad(|| critic.forward(&r).mean() - critic.forward(&f).mean());
    println!(
        "after {steps} steps: critic's distance estimate {:.3}, mean input-gradient norm {:.3} (target 1)",
        distance.item(),
        norms.mean().item()
    );
}

fn main() {
    hessian_vector_products();
    gradient_penalty();
}
