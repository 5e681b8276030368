//! `manual_seed` reproduces initial weights exactly. One test, alone in its
//! binary: the default generator is global, and tests in one binary run in
//! parallel threads that would draw from it in between.

use lamina_core::{manual_seed, Tensor};
use lamina_init::{default, kaiming_normal_, orthogonal_, trunc_normal_, FanMode, Nonlinearity};

/// A small model's worth of parameters, initialised from the default generator.
fn model() -> Vec<Vec<f32>> {
    let (w1, b1) = (Tensor::<f32>::zeros(&[16, 8]), Tensor::<f32>::zeros(&[16]));
    default::linear(&w1, Some(&b1)).unwrap();
    let conv = Tensor::<f32>::zeros(&[4, 2, 3, 3]);
    kaiming_normal_(&conv, 0.0, FanMode::FanOut, Nonlinearity::Relu).unwrap();
    let emb = Tensor::<f32>::zeros(&[10, 4]);
    default::embedding(&emb, Some(0)).unwrap();
    let rnn = Tensor::<f32>::zeros(&[12, 3]);
    default::rnn(&[&rnn], 3).unwrap();
    let q = Tensor::<f32>::zeros(&[5, 5]);
    orthogonal_(&q, 1.0).unwrap();
    let t = Tensor::<f32>::zeros(&[20]);
    trunc_normal_(&t, 0.0, 0.02, -0.04, 0.04).unwrap();
    [w1, b1, conv, emb, rnn, q, t].iter().map(Tensor::to_vec).collect()
}

#[test]
fn manual_seed_reproduces_a_models_initial_weights() {
    manual_seed(1234);
    let first = model();
    let next = model();
    manual_seed(1234);
    assert_eq!(model(), first, "the same seed gives the same weights");
    assert_ne!(next, first, "drawing again advances the generator");
    manual_seed(1235);
    assert_ne!(model(), first, "another seed gives other weights");
}
