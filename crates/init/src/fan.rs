//! Fans and gains: the two numbers every variance-preserving scheme is built from.
//!
//! A weight of shape `[out, in, k1, k2, ...]` connects each output unit to
//! `in * k1 * k2 * ...` inputs (its *fan-in*) and each input to
//! `out * k1 * k2 * ...` outputs (its *fan-out*). Keeping the variance of
//! activations (forward) or gradients (backward) constant through a layer fixes
//! the weight variance at `gain² / fan`, where the *gain* undoes the shrinking
//! a nonlinearity applies to the variance.

use crate::error::InitError;
use std::str::FromStr;

/// `(fan_in, fan_out)` of a weight shape, as PyTorch's `_calculate_fan_in_and_fan_out`:
/// `fan_in = shape[1] * receptive`, `fan_out = shape[0] * receptive`, where the
/// receptive field is the product of the dims after the first two.
///
/// This reads dim 0 as outputs and dim 1 as inputs for every layout. That is
/// right for `Linear` (`[out, in]`) and convolutions (`[out, in/groups, k...]`);
/// a transposed convolution's weight is `[in, out/groups, k...]`, and PyTorch
/// (and so lamina) still uses `size(1)`, which makes its "fan-in" the number of
/// outputs per group times the kernel size.
///
/// ```
/// use lamina_init::calculate_fan_in_and_fan_out;
/// assert_eq!(calculate_fan_in_and_fan_out(&[32, 16, 3, 3]).unwrap(), (144, 288));
/// assert!(calculate_fan_in_and_fan_out(&[5]).is_err());
/// ```
pub fn calculate_fan_in_and_fan_out(shape: &[usize]) -> Result<(usize, usize), InitError> {
    if shape.len() < 2 {
        return Err(InitError::Shape {
            scheme: "calculate_fan_in_and_fan_out",
            shape: shape.to_vec(),
            need: "at least 2 dims",
        });
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[1] * receptive, shape[0] * receptive))
}

/// Which fan a Kaiming scheme keeps the variance of: `FanIn` preserves the
/// forward activations' variance, `FanOut` the backward gradients'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FanMode {
    /// `"fan_in"` (PyTorch's default).
    #[default]
    FanIn,
    /// `"fan_out"`.
    FanOut,
}

impl FromStr for FanMode {
    type Err = InitError;
    fn from_str(s: &str) -> Result<Self, InitError> {
        match s {
            "fan_in" => Ok(FanMode::FanIn),
            "fan_out" => Ok(FanMode::FanOut),
            other => Err(InitError::Unknown { what: "fan mode", name: other.to_owned() }),
        }
    }
}

/// The fan of `shape` that `mode` selects (PyTorch's `_calculate_correct_fan`).
pub fn calculate_correct_fan(shape: &[usize], mode: FanMode) -> Result<usize, InitError> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(shape)?;
    Ok(match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    })
}

/// The nonlinearities [`calculate_gain`] knows, named as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nonlinearity {
    /// `"linear"`: no nonlinearity.
    Linear,
    /// `"conv1d"`.
    Conv1d,
    /// `"conv2d"`.
    Conv2d,
    /// `"conv3d"`.
    Conv3d,
    /// `"conv_transpose1d"`.
    ConvTranspose1d,
    /// `"conv_transpose2d"`.
    ConvTranspose2d,
    /// `"conv_transpose3d"`.
    ConvTranspose3d,
    /// `"sigmoid"`.
    Sigmoid,
    /// `"tanh"`.
    Tanh,
    /// `"relu"`.
    Relu,
    /// `"leaky_relu"`, whose slope is `calculate_gain`'s `param` (default 0.01);
    /// the default of the Kaiming schemes, which pass their `a` as the slope.
    #[default]
    LeakyRelu,
    /// `"selu"`.
    Selu,
}

impl FromStr for Nonlinearity {
    type Err = InitError;
    fn from_str(s: &str) -> Result<Self, InitError> {
        use Nonlinearity::*;
        Ok(match s {
            "linear" => Linear,
            "conv1d" => Conv1d,
            "conv2d" => Conv2d,
            "conv3d" => Conv3d,
            "conv_transpose1d" => ConvTranspose1d,
            "conv_transpose2d" => ConvTranspose2d,
            "conv_transpose3d" => ConvTranspose3d,
            "sigmoid" => Sigmoid,
            "tanh" => Tanh,
            "relu" => Relu,
            "leaky_relu" => LeakyRelu,
            "selu" => Selu,
            other => return Err(InitError::Unknown { what: "nonlinearity", name: other.to_owned() }),
        })
    }
}

/// The recommended gain for a nonlinearity, as PyTorch's `calculate_gain`:
///
/// | nonlinearity | gain |
/// | --- | --- |
/// | linear, conv*, sigmoid | 1 |
/// | tanh | 5/3 |
/// | relu | √2 (ReLU zeroes half the inputs: it halves the second moment) |
/// | leaky_relu | √(2 / (1 + slope²)), slope = `param` or 0.01 |
/// | selu | 3/4 (chosen in PyTorch for self-normalising nets) |
///
/// `param` is read only by `LeakyRelu`.
///
/// ```
/// use lamina_init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Relu, None), 2f64.sqrt());
/// assert_eq!(calculate_gain(Nonlinearity::LeakyRelu, Some(1.0)), 1.0);
/// ```
pub fn calculate_gain(nonlinearity: Nonlinearity, param: Option<f64>) -> f64 {
    use Nonlinearity::*;
    match nonlinearity {
        Linear | Conv1d | Conv2d | Conv3d | ConvTranspose1d | ConvTranspose2d | ConvTranspose3d | Sigmoid => 1.0,
        Tanh => 5.0 / 3.0,
        Relu => 2f64.sqrt(),
        LeakyRelu => {
            let slope = param.unwrap_or(0.01);
            (2.0 / (1.0 + slope * slope)).sqrt()
        }
        Selu => 0.75,
    }
}
