//! Fans and gains against PyTorch's formulas, computed by hand.

use lamina_init::{
    calculate_correct_fan, calculate_fan_in_and_fan_out, calculate_gain, FanMode, InitError, Nonlinearity,
};

#[test]
fn fans_of_linear_and_convolution_weights() {
    // Linear [out, in]: fan_in = in, fan_out = out.
    assert_eq!(calculate_fan_in_and_fan_out(&[256, 512]).unwrap(), (512, 256));
    // Conv1d [out, in, k]: receptive field k = 5.
    assert_eq!(calculate_fan_in_and_fan_out(&[8, 4, 5]).unwrap(), (20, 40));
    // Conv2d [128, 64, 3, 3]: 64·9 = 576 in, 128·9 = 1152 out.
    assert_eq!(calculate_fan_in_and_fan_out(&[128, 64, 3, 3]).unwrap(), (576, 1152));
    // Conv3d [6, 2, 3, 4, 5]: receptive 60.
    assert_eq!(calculate_fan_in_and_fan_out(&[6, 2, 3, 4, 5]).unwrap(), (120, 360));
    // Grouped Conv2d, 4 groups of 16 -> 32: weight [32, 4, 3, 3].
    assert_eq!(calculate_fan_in_and_fan_out(&[32, 4, 3, 3]).unwrap(), (36, 288));
    // ConvTranspose2d(16 -> 8, k 2) has weight [in=16, out=8, 2, 2]; PyTorch
    // still reads dim 1 as the inputs: fan_in = 8·4 = 32, fan_out = 16·4 = 64.
    assert_eq!(calculate_fan_in_and_fan_out(&[16, 8, 2, 2]).unwrap(), (32, 64));
    // Empty dims give empty fans, not errors.
    assert_eq!(calculate_fan_in_and_fan_out(&[0, 3]).unwrap(), (3, 0));
    assert_eq!(calculate_fan_in_and_fan_out(&[4, 3, 0]).unwrap(), (0, 0));
}

#[test]
fn correct_fan_picks_by_mode() {
    assert_eq!(calculate_correct_fan(&[10, 20, 3], FanMode::FanIn).unwrap(), 60);
    assert_eq!(calculate_correct_fan(&[10, 20, 3], FanMode::FanOut).unwrap(), 30);
    assert_eq!(FanMode::default(), FanMode::FanIn);
}

#[test]
fn fans_need_two_dims() {
    for shape in [&[][..], &[7][..]] {
        let err = calculate_fan_in_and_fan_out(shape).unwrap_err();
        assert_eq!(
            err,
            InitError::Shape { scheme: "calculate_fan_in_and_fan_out", shape: shape.to_vec(), need: "at least 2 dims" }
        );
        assert!(err.to_string().contains("at least 2 dims") && err.to_string().contains(&format!("{shape:?}")));
        assert!(calculate_correct_fan(shape, FanMode::FanOut).is_err());
    }
}

#[test]
fn gains_follow_pytorch() {
    use Nonlinearity::*;
    for nl in [Linear, Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Sigmoid] {
        assert_eq!(calculate_gain(nl, None), 1.0, "{nl:?}");
        assert_eq!(calculate_gain(nl, Some(0.3)), 1.0, "param is ignored by {nl:?}");
    }
    assert_eq!(calculate_gain(Tanh, None), 5.0 / 3.0);
    assert_eq!(calculate_gain(Relu, None), 2f64.sqrt());
    assert_eq!(calculate_gain(Selu, None), 0.75);
    // leaky_relu: √(2 / (1 + slope²)), slope 0.01 by default.
    assert_eq!(calculate_gain(LeakyRelu, None), (2.0 / 1.0001f64).sqrt());
    assert!((calculate_gain(LeakyRelu, None) - 1.4141428569978354).abs() < 1e-15);
    assert!((calculate_gain(LeakyRelu, Some(0.2)) - (2.0 / 1.04f64).sqrt()).abs() < 1e-15);
    // a = √5, Linear's default: gain √(2/6) = 1/√3.
    assert!((calculate_gain(LeakyRelu, Some(5f64.sqrt())) - 1.0 / 3f64.sqrt()).abs() < 1e-15);
    // A slope of 0 is a ReLU.
    assert_eq!(calculate_gain(LeakyRelu, Some(0.0)), calculate_gain(Relu, None));
}

#[test]
fn names_parse_as_pytorch_spells_them() {
    let pairs = [
        ("linear", Nonlinearity::Linear),
        ("conv1d", Nonlinearity::Conv1d),
        ("conv2d", Nonlinearity::Conv2d),
        ("conv3d", Nonlinearity::Conv3d),
        ("conv_transpose1d", Nonlinearity::ConvTranspose1d),
        ("conv_transpose2d", Nonlinearity::ConvTranspose2d),
        ("conv_transpose3d", Nonlinearity::ConvTranspose3d),
        ("sigmoid", Nonlinearity::Sigmoid),
        ("tanh", Nonlinearity::Tanh),
        ("relu", Nonlinearity::Relu),
        ("leaky_relu", Nonlinearity::LeakyRelu),
        ("selu", Nonlinearity::Selu),
    ];
    for (name, nl) in pairs {
        assert_eq!(name.parse::<Nonlinearity>().unwrap(), nl);
    }
    assert_eq!(Nonlinearity::default(), Nonlinearity::LeakyRelu);
    let err = "gelu".parse::<Nonlinearity>().unwrap_err();
    assert_eq!(err.to_string(), "unsupported nonlinearity `gelu`");
    assert_eq!("fan_out".parse::<FanMode>().unwrap(), FanMode::FanOut);
    assert!("fan_avg".parse::<FanMode>().unwrap_err().to_string().contains("fan_avg"));
}
