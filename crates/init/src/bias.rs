//! Bias strategies: what a layer's bias starts at.

use crate::default::inverse_sqrt;
use crate::error::InitError;
use crate::fan::calculate_fan_in_and_fan_out;
use crate::scheme::Scheme;

/// A common positive bias for layers followed by a ReLU, so every unit starts
/// active and receives gradient (CS231n's "0.01"; its benefit is debated).
pub const RELU_BIAS: f64 = 0.01;

/// How to initialise a bias, given the weight of its layer.
///
/// ```
/// use lamina_init::{BiasInit, Scheme};
/// let s = BiasInit::FanInUniform.scheme(&[8, 16]).unwrap();
/// assert_eq!(s, Scheme::Uniform { a: -0.25, b: 0.25 });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum BiasInit {
    /// 0: the usual choice with normalisation layers and in attention.
    Zeros,
    /// A constant, e.g. [`RELU_BIAS`] for ReLU layers, or 1 for an LSTM's forget gate.
    Constant(f64),
    /// PyTorch's default for Linear and Conv: U(±1/√fan_in), fan_in of the weight.
    #[default]
    FanInUniform,
}

impl BiasInit {
    /// The scheme this strategy gives the bias of a layer whose weight has
    /// shape `weight_shape` (errors only for `FanInUniform` of a weight with
    /// fewer than 2 dims).
    pub fn scheme(&self, weight_shape: &[usize]) -> Result<Scheme, InitError> {
        Ok(match *self {
            BiasInit::Zeros => Scheme::Constant(0.0),
            BiasInit::Constant(v) => Scheme::Constant(v),
            BiasInit::FanInUniform => {
                let bound = fan_in_bound(weight_shape)?;
                Scheme::Uniform { a: -bound, b: bound }
            }
        })
    }
}

/// 1/√fan_in of a weight shape (0 when fan_in is 0): the bound of PyTorch's
/// default bias, and of its default Linear/Conv weight.
pub fn fan_in_bound(weight_shape: &[usize]) -> Result<f64, InitError> {
    let (fan_in, _) = calculate_fan_in_and_fan_out(weight_shape)?;
    Ok(inverse_sqrt(fan_in))
}
