//! The LSUV rescaling loop.

use lamina_core::{Generator, Tensor};
use lamina_init::lsuv::{lsuv_rescale_, variance, LsuvConfig};
use lamina_init::{InitError, Scheme};

fn batch(seed: u64) -> Tensor<f64> {
    let mut g = Generator::new(seed);
    // Input variance 9, so the unscaled layer's output is far from 1.
    &Tensor::<f64>::randn_with(&[128, 32], &mut g) * &Tensor::scalar(3.0)
}

fn orthogonal(shape: &[usize], seed: u64) -> Tensor<f64> {
    let w = Tensor::<f64>::zeros(shape);
    Scheme::Orthogonal { gain: 1.0 }.apply_with(&w, &mut Generator::new(seed)).unwrap();
    w
}

#[test]
fn variance_is_the_population_variance() {
    // Mean 2.5, squared deviations 2.25, 0.25, 0.25, 2.25.
    assert_eq!(variance(&Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])), 1.25);
    assert_eq!(variance(&Tensor::<f64>::zeros(&[0])), 0.0);
}

#[test]
fn a_linear_layer_reaches_unit_variance_in_one_step() {
    // Output variance scales with the square of the weight, so one division
    // by the measured standard deviation lands exactly on 1.
    let (x, w) = (batch(1), orthogonal(&[16, 32], 2));
    let before = variance(&x.matmul(&w.t()));
    assert!(before > 5.0, "{before}");
    let report = lsuv_rescale_(&w, LsuvConfig::default(), || variance(&x.matmul(&w.t()))).unwrap();
    assert_eq!(report.iterations, 1);
    assert!(report.converged && (report.variance - 1.0).abs() < 1e-12, "{report:?}");
    // The weight was scaled by 1/√before and is still orthogonal up to that factor.
    let gram = w.matmul(&w.t()).to_vec();
    assert!((gram[0] - 1.0 / before).abs() < 1e-12);
}

#[test]
fn a_nonlinear_layer_converges_within_tolerance() {
    let (x, w) = (batch(3), orthogonal(&[16, 32], 4));
    // z + tanh(z): not homogeneous in the weight, so one step is not enough.
    let measure = || {
        let z = x.matmul(&w.t());
        variance(&(&z + &z.tanh()))
    };
    let cfg = LsuvConfig { tol: 0.01, max_iters: 50 };
    let report = lsuv_rescale_(&w, cfg, measure).unwrap();
    assert!(report.converged && report.iterations > 1, "{report:?}");
    assert!((measure() - 1.0).abs() < 0.01 && report.variance == measure());
}

#[test]
fn rescaling_stops_after_max_iters() {
    // A measurement that never changes cannot converge: the weight is halved
    // max_iters times and the report says so.
    let w = Tensor::<f64>::ones(&[2, 2]);
    let report = lsuv_rescale_(&w, LsuvConfig { tol: 0.1, max_iters: 3 }, || 4.0).unwrap();
    assert_eq!((report.iterations, report.variance, report.converged), (3, 4.0, false));
    assert_eq!(w.to_vec(), [0.125; 4]);
    // Already within tolerance: nothing is touched.
    let report = lsuv_rescale_(&w, LsuvConfig::default(), || 1.05).unwrap();
    assert_eq!((report.iterations, report.converged), (0, true));
    assert_eq!(w.to_vec(), [0.125; 4]);
}

#[test]
fn a_dead_or_broken_output_is_an_error() {
    let w = Tensor::<f64>::zeros(&[4, 32]);
    let x = batch(5);
    let err = lsuv_rescale_(&w, LsuvConfig::default(), || variance(&x.matmul(&w.t()))).unwrap_err();
    assert_eq!(err, InitError::Variance { variance: 0.0 });
    assert!(err.to_string().contains("lsuv") && err.to_string().contains("variance 0"));
    assert!(lsuv_rescale_(&w, LsuvConfig::default(), || f64::NAN).is_err());
}
