//! The workloads, exactly as BENCHMARKS.md defines them.

use lamina::prelude::*;

/// A named workload: `setup` builds its data and returns one step.
pub struct Workload {
    pub name: &'static str,
    pub setup: fn() -> Box<dyn FnMut()>,
}

/// Every workload, in BENCHMARKS.md's order.
pub fn all() -> Vec<Workload> {
    vec![Workload { name: "overhead", setup: overhead }, Workload { name: "matmul", setup: matmul }]
}

/// 2500 tiny ops and their backward: the cost of the tape itself.
fn overhead() -> Box<dyn FnMut()> {
    manual_seed(0);
    let w = Tensor::<f32>::randn(&[16]).requires_grad_(true);
    Box::new(move || {
        let mut h = w.clone();
        for _ in 0..500 {
            h = (&h * 0.999 + 0.001).tanh() - &h * 0.5;
        }
        h.sum().backward();
        w.zero_grad();
    })
}

/// backward of sum(a @ b) for 1024 x 1024 operands: three GEMMs.
fn matmul() -> Box<dyn FnMut()> {
    manual_seed(0);
    let a = Tensor::<f32>::randn(&[1024, 1024]).requires_grad_(true);
    let b = Tensor::<f32>::randn(&[1024, 1024]).requires_grad_(true);
    Box::new(move || {
        a.matmul(&b).sum().backward();
        a.zero_grad();
        b.zero_grad();
    })
}
