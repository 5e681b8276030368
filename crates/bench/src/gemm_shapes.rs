//! `--gemm`: GFLOP/s of the matrix products the workloads spend their time
//! in, one line each, so a GEMM change is judged on the shapes that matter.

use lamina::prelude::*;
use std::time::Instant;

/// A product `[m, k] @ [k, n]`, with either operand stored transposed.
struct Shape {
    what: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_transposed: bool,
    b_transposed: bool,
}

const fn shape(what: &'static str, [m, k, n]: [usize; 3], [a_transposed, b_transposed]: [bool; 2]) -> Shape {
    Shape { what, m, k, n, a_transposed, b_transposed }
}

/// The products of one step of each workload, forward and backward.
const SHAPES: &[Shape] = &[
    shape("matmul a@b", [1024, 1024, 1024], [false, false]),
    shape("matmul g@bT", [1024, 1024, 1024], [false, true]),
    shape("matmul aT@g", [1024, 1024, 1024], [true, false]),
    shape("mlp x@W1T", [128, 784, 512], [false, true]),
    shape("mlp gT@x", [512, 128, 784], [true, false]),
    shape("mlp g@W2", [128, 512, 512], [false, false]),
    shape("lstm h@Whh", [32, 256, 1024], [false, false]),
    shape("lstm g@WhhT", [32, 1024, 256], [false, true]),
    shape("lstm gT@h", [1024, 992, 256], [true, false]),
    shape("lstm x@WihT", [1024, 64, 1024], [false, true]),
    shape("lstm g@Wih", [1024, 1024, 64], [false, false]),
    shape("lstm gT@x", [1024, 1024, 64], [true, false]),
    shape("tf x@WqkvT", [1024, 256, 768], [false, true]),
    shape("tf x@W1T", [1024, 256, 1024], [false, true]),
    shape("tf gT@x", [1024, 1024, 256], [true, false]),
    shape("tf q@kT", [64, 64, 64], [false, true]),
    shape("cnn conv2", [64, 288, 196], [false, false]),
    shape("cnn conv2 dW", [64, 196, 288], [false, true]),
];

/// Prints `gemm WHAT MxKxN GFLOPS` for every shape, timing the median of
/// `steps` products.
pub fn run(steps: usize) {
    let _no_grad = no_grad_guard();
    for s in SHAPES {
        let stored = |rows, cols, transposed: bool| {
            if transposed {
                Tensor::<f32>::randn(&[cols, rows]).t()
            } else {
                Tensor::<f32>::randn(&[rows, cols])
            }
        };
        let (a, b) = (stored(s.m, s.k, s.a_transposed), stored(s.k, s.n, s.b_transposed));
        let reps = (2e8 / (s.m * s.k * s.n) as f64).ceil() as usize;
        let mut times: Vec<f64> = (0..steps.max(1) + 2)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..reps {
                    std::hint::black_box(a.matmul(&b));
                }
                t.elapsed().as_secs_f64() / reps as f64
            })
            .skip(2)
            .collect();
        times.sort_by(f64::total_cmp);
        let gflops = 2.0 * (s.m * s.k * s.n) as f64 / times[times.len() / 2] / 1e9;
        println!("gemm {:<13} {}x{}x{} {gflops:.1}", s.what, s.m, s.k, s.n);
    }
}
