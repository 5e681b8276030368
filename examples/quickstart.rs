//! Quickstart: fit a two-layer network to a noisy sine with nothing but
//! lamina-core's ops and a hand-written gradient-descent step, and watch the
//! loss fall.
//!
//! Run with `cargo run --release --example quickstart`.

use lamina::prelude::*;

fn main() {
    manual_seed(0);
    // Data: y = sin(3x) + noise on [-1, 1].
    let n = 256;
    let x = Tensor::<f32>::linspace(-1.0, 1.0, n).reshape(&[n, 1]);
    let noise = Tensor::<f32>::randn(&[n, 1]) * 0.05;
    let y = (&x * 3.0).sin() + noise;

    // Parameters of a 1-32-1 tanh network.
    let hidden = 32;
    let w1 = (Tensor::<f32>::randn(&[1, hidden]) * 1.0).requires_grad_(true);
    let b1 = Tensor::<f32>::zeros(&[hidden]).requires_grad_(true);
    let w2 = (Tensor::<f32>::randn(&[hidden, 1]) * (1.0 / (hidden as f32).sqrt())).requires_grad_(true);
    let b2 = Tensor::<f32>::zeros(&[1]).requires_grad_(true);
    let params = [&w1, &b1, &w2, &b2];

    let lr = 0.1;
    for step in 0..=2000 {
        let h = (x.matmul(&w1) + &b1).tanh();
        let pred = h.matmul(&w2) + &b2;
        let loss = (&pred - &y).square().mean();
        for p in params {
            p.zero_grad();
        }
        loss.backward();
        no_grad(|| {
            for p in params {
                p.assign(&(p - &(p.grad().expect("every parameter is used") * lr)));
            }
        });
        if step % 200 == 0 {
            println!("step {step:4}  loss {:.5}", loss.item());
        }
    }
}
