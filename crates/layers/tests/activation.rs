//! Activation modules: hand-computed values (PReLU per channel, the options'
//! defaults) and gradient checks of every activation over generated inputs
//! kept away from their kinks.

use lamina_core::testing::{shape, tensor_away_from_zero};
use lamina_core::Tensor;
use lamina_layers::{
    gradcheck_module, Forward, Hardtanh, LeakyReLU, LogSoftmax, Mish, Module, ModuleExt, PReLU, Part, ReLU, SiLU,
    Sigmoid, Softmax, Softplus, Tanh, ELU, GELU, SELU,
};
use proptest::prelude::*;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

#[test]
fn prelu_has_one_slope_per_channel_along_dim_1() {
    let p = PReLU::<f64>::new(2, 0.25);
    assert_eq!(p.weight.to_vec(), vec![0.25, 0.25]);
    p.weight.assign(&t(&[0.5, 2.0], &[2]));
    // [N=1, C=2, L=2]: channel 0 scales negatives by 0.5, channel 1 by 2.
    let y = p.forward(&t(&[-2.0, 3.0, -1.0, 4.0], &[1, 2, 2]));
    assert_eq!(y.to_vec(), vec![-1.0, 3.0, -2.0, 4.0]);
    assert_eq!(p.named_parameters()[0].0, "weight");
    // One shared slope applies to every element of any shape.
    let shared = PReLU::<f64>::default();
    assert_eq!(shared.forward(&t(&[-4.0, 4.0, -8.0], &[3])).to_vec(), vec![-1.0, 4.0, -2.0]);
}

#[test]
fn activations_with_options_use_them_and_pytorchs_defaults() {
    let x = t(&[-2.0, 0.5, 3.0], &[3]);
    assert_eq!(ReLU::<f64>::new().forward(&x).to_vec(), vec![0.0, 0.5, 3.0]);
    assert_eq!(LeakyReLU::<f64>::default().forward(&x).to_vec(), vec![-0.02, 0.5, 3.0]);
    assert_eq!(LeakyReLU::<f64>::new(0.5).forward(&x).to_vec(), vec![-1.0, 0.5, 3.0]);
    assert_eq!(Hardtanh::<f64>::default().forward(&x).to_vec(), vec![-1.0, 0.5, 1.0]);
    assert_eq!(Hardtanh::<f64>::new(0.0, 2.0).forward(&x).to_vec(), vec![0.0, 0.5, 2.0]);
    let elu = ELU::<f64>::new(2.0).forward(&x).to_vec();
    assert!((elu[0] - 2.0 * ((-2f64).exp() - 1.0)).abs() < 1e-15 && elu[1..] == [0.5, 3.0]);
    // Above threshold / beta softplus is the identity; below, log(1 + e^(beta x)) / beta.
    let sp = Softplus::<f64>::new(2.0, 4.0).forward(&x).to_vec();
    assert_eq!(sp[2], 3.0);
    assert!((sp[1] - 1f64.exp().ln_1p() / 2.0).abs() < 1e-15);
    let s = Softmax::<f64>::new(0).forward(&t(&[0.0, 2f64.ln()], &[2])).to_vec();
    assert!((s[0] - 1.0 / 3.0).abs() < 1e-15 && (s[1] - 2.0 / 3.0).abs() < 1e-15);
    assert!(GELU::<f64>::default().to_string().contains("approximate=\"none\""));
}

/// Activation number `kind` (every activation type, with non-default options too).
fn activation(kind: usize, channels: usize) -> Box<dyn Forward<f64>> {
    match kind {
        0 => Box::new(ReLU::new()),
        1 => Box::new(Sigmoid::new()),
        2 => Box::new(Tanh::new()),
        3 => Box::new(SELU::new()),
        4 => Box::new(SiLU::new()),
        5 => Box::new(Mish::new()),
        6 => Box::new(LeakyReLU::new(0.2)),
        7 => Box::new(ELU::new(1.5)),
        8 => Box::new(GELU::default()),
        9 => Box::new(GELU::new("tanh")),
        10 => Box::new(Softplus::default()),
        11 => Box::new(Softplus::new(2.0, 1.0)),
        12 => Box::new(Hardtanh::new(-0.75, 1.25)),
        13 => Box::new(Softmax::new(-1)),
        14 => Box::new(LogSoftmax::new(0)),
        15 => Box::new(PReLU::default()),
        _ => {
            let p = PReLU::new(channels, 0.25);
            p.weight.assign(&Tensor::linspace(-0.5, 1.5, channels));
            Box::new(p)
        }
    }
}

/// The points where activation `kind` has a kink: none but 0 (kept away by the
/// generator) except Softplus(beta 2, threshold 1) at 0.5 and Hardtanh at its bounds.
fn kinks(kind: usize) -> &'static [f64] {
    match kind {
        11 => &[0.5],
        12 => &[-0.75, 1.25],
        _ => &[],
    }
}

/// Feeds its layer the input with dims 0 and -1 swapped: a strided view.
struct Transposed(Box<dyn Forward<f64>>);

impl Module<f64> for Transposed {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, f64>)) {
        self.0.visit(f)
    }
}

impl Forward<f64> for Transposed {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        self.0.forward(&x.transpose(0, -1))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn every_activation_gradchecks(
        x in shape(2, 3, 3).prop_flat_map(|s| tensor_away_from_zero(s, 0.1, 2.0)),
        transposed: bool,
    ) {
        for kind in 0..17 {
            if x.to_vec().iter().any(|v| kinks(kind).iter().any(|k| (v - k).abs() < 1e-3)) {
                continue;
            }
            let r = if transposed {
                // A strided view: the layer sees the input with dims 0 and -1 swapped.
                let channels = x.shape()[x.ndim() - 2];
                gradcheck_module(&Transposed(activation(kind, channels)), &x)
            } else {
                gradcheck_module(&activation(kind, x.shape()[1]), &x)
            };
            prop_assert!(r.is_ok(), "kind {kind}: {}", r.unwrap_err());
        }
    }
}
