//! Dropout layers: the identity in evaluation; in training the fraction
//! dropped and the scaling of the rest (statistically), whole channels for
//! Dropout1d/2d, AlphaDropout keeping SELU's mean 0 and variance 1,
//! reproducibility under manual_seed, and gradient checks with a fixed mask.

use lamina_core::testing::{shape, tensor};
use lamina_core::{manual_seed, Generator, Tensor};
use lamina_layers::{
    gradcheck_module, AlphaDropout, Dropout, Dropout1d, Dropout2d, Forward, Module, ModuleExt, Part, Sequential,
};
use proptest::prelude::*;
use std::sync::{Mutex, MutexGuard};

/// Tests here draw from the process-wide generator: one at a time, so that
/// reseeding it in one test does not interleave with another's draws.
static GLOBAL_RNG: Mutex<()> = Mutex::new(());

fn rng_lock() -> MutexGuard<'static, ()> {
    GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n)
}

#[test]
fn every_dropout_is_the_identity_in_eval_mode() {
    let _g = rng_lock();
    let x = Tensor::<f64>::randn_with(&[4, 3, 2, 2], &mut Generator::new(1));
    let layers: Vec<Box<dyn Forward<f64>>> = vec![
        Box::new(Dropout::new(0.5)),
        Box::new(Dropout1d::new(0.5)),
        Box::new(Dropout2d::new(0.9)),
        Box::new(AlphaDropout::new(0.5)),
    ];
    for l in layers {
        // Modules start in training mode, where dropout changes the input.
        assert_ne!(l.forward(&x).to_vec(), x.to_vec(), "{}", l.type_name());
        l.eval();
        assert_eq!(l.forward(&x).to_vec(), x.to_vec(), "{}", l.type_name());
        l.train();
        assert_ne!(l.forward(&x).to_vec(), x.to_vec(), "{}", l.type_name());
    }
}

#[test]
fn eval_reaches_dropout_inside_a_sequential() {
    let _g = rng_lock();
    let net = Sequential::<f64>::new().append(Dropout::new(0.5));
    net.eval();
    let x = Tensor::<f64>::ones(&[100]);
    assert_eq!(net.forward(&x).to_vec(), vec![1.0; 100]);
}

#[test]
fn dropout_zeroes_about_p_and_scales_the_rest_by_one_over_one_minus_p() {
    let _g = rng_lock();
    manual_seed(11);
    let n = 100_000;
    for p in [0.1, 0.3, 0.5, 0.8] {
        let y = Dropout::<f64>::new(p).forward(&Tensor::full(&[n], 2.0)).to_vec();
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        // Standard deviation sqrt(p (1 - p) / n) <= 0.0016: 0.01 is over 6 of them.
        assert!((zeros - p).abs() < 0.01, "p {p}: dropped {zeros}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 2.0 / (1.0 - p)).abs() < 1e-12), "p {p}");
    }
    // The extremes: nothing dropped, everything dropped.
    let x = Tensor::<f64>::full(&[10], 2.0);
    assert_eq!(Dropout::<f64>::new(0.0).forward(&x).to_vec(), vec![2.0; 10]);
    assert_eq!(Dropout::<f64>::new(1.0).forward(&x).to_vec(), vec![0.0; 10]);
}

#[test]
fn channel_dropout_zeroes_whole_channels() {
    let _g = rng_lock();
    manual_seed(12);
    let p = 0.4;
    for (layer, shape) in [
        (Box::new(Dropout2d::<f64>::new(p)) as Box<dyn Forward<f64>>, vec![40, 50, 2, 3]),
        (Box::new(Dropout1d::<f64>::new(p)), vec![40, 50, 6]),
    ] {
        let y = layer.forward(&Tensor::ones(&shape)).to_vec();
        let mut dropped = 0;
        for channel in y.chunks(6) {
            let kept = 1.0 / (1.0 - p);
            assert!(
                channel.iter().all(|&v| v == 0.0) || channel.iter().all(|&v| (v - kept).abs() < 1e-12),
                "{channel:?}"
            );
            dropped += usize::from(channel[0] == 0.0);
        }
        // 2000 channels: standard deviation 0.011 of the fraction dropped.
        let frac = dropped as f64 / 2000.0;
        assert!((frac - p).abs() < 0.06, "{}: dropped {frac}", layer.type_name());
    }
}

#[test]
fn alpha_dropout_keeps_selu_activations_at_mean_zero_and_variance_one() {
    let _g = rng_lock();
    manual_seed(13);
    // SELU of standard normal values has mean 0 and variance 1 (its fixed point).
    let x = Tensor::<f64>::randn_with(&[200_000], &mut Generator::new(5)).selu();
    let (m0, v0) = mean_var(&x.to_vec());
    assert!(m0.abs() < 0.01 && (v0 - 1.0).abs() < 0.02, "input mean {m0}, variance {v0}");
    for p in [0.1, 0.5] {
        let y = AlphaDropout::<f64>::new(p).forward(&x).to_vec();
        let (m, v) = mean_var(&y);
        // Standard errors are about 0.003 (mean) and 0.006 (variance).
        assert!(m.abs() < 0.02, "p {p}: mean {m}");
        assert!((v - 1.0).abs() < 0.04, "p {p}: variance {v}");
        // Dropped elements all take a · α' · (1 - p), with α' = -λα SELU's saturation value.
        let alpha = -1.758_099_340_847_376_6;
        let a = 1.0 / ((alpha * alpha * p + 1.0) * (1.0 - p)).sqrt();
        let dropped_value = a * alpha * (1.0 - p);
        let dropped = y.iter().filter(|&&v| (v - dropped_value).abs() < 1e-12).count() as f64 / y.len() as f64;
        assert!((dropped - p).abs() < 0.01, "p {p}: dropped {dropped}");
    }
}

#[test]
fn manual_seed_makes_the_masks_reproducible() {
    let _g = rng_lock();
    let x = Tensor::<f64>::ones(&[4, 8, 3]);
    let layers: Vec<Box<dyn Forward<f64>>> =
        vec![Box::new(Dropout::new(0.5)), Box::new(Dropout1d::new(0.5)), Box::new(AlphaDropout::new(0.5))];
    for l in layers {
        manual_seed(42);
        let first = l.forward(&x).to_vec();
        let second = l.forward(&x).to_vec();
        manual_seed(42);
        assert_eq!(l.forward(&x).to_vec(), first, "{}", l.type_name());
        assert_ne!(first, second, "{}: a new mask each call", l.type_name());
    }
}

/// Reseeds the global generator before every forward, so that each call of
/// the gradient check sees the same mask.
struct Seeded(Box<dyn Forward<f64>>);

impl Module<f64> for Seeded {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, f64>)) {
        self.0.visit(f)
    }
}

impl Forward<f64> for Seeded {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        manual_seed(3);
        self.0.forward(x)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn dropouts_gradcheck_in_both_modes(
        x in shape(3, 4, 3).prop_flat_map(|s| tensor(s, -2.0, 2.0)),
        p in prop_oneof![Just(0.0), Just(0.25), Just(0.5), Just(1.0)],
        training: bool,
    ) {
        let _g = rng_lock();
        let layers: Vec<Box<dyn Forward<f64>>> = vec![
            Box::new(Dropout::new(p)),
            Box::new(Dropout1d::new(p)),
            Box::new(Dropout2d::new(p)),
            Box::new(AlphaDropout::new(p)),
        ];
        for l in layers {
            l.set_mode(training);
            let name = l.type_name();
            let r = gradcheck_module(&Seeded(l), &x);
            prop_assert!(r.is_ok(), "{name}: {}", r.unwrap_err());
        }
    }
}
