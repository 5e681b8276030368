//! What can go wrong when initialising a tensor.

use std::fmt;

/// Why an initialiser refused a tensor or an argument. Every message names
/// the scheme, so `w.init()?` in a model constructor still says which call failed.
#[derive(Clone, Debug, PartialEq)]
pub enum InitError {
    /// The tensor's shape does not suit the scheme (fans of a 1-d tensor,
    /// `eye_` of a 3-d one, `dirac_` of a matrix).
    Shape {
        /// The scheme, named as in PyTorch (`"xavier_uniform_"`).
        scheme: &'static str,
        /// The offending shape.
        shape: Vec<usize>,
        /// What the scheme needs (`"at least 2 dims"`).
        need: &'static str,
    },
    /// An argument is out of its domain (`uniform_` with `a > b`, a negative `std`).
    Argument {
        /// The scheme.
        scheme: &'static str,
        /// What is wrong, with the values.
        message: String,
    },
    /// A name that is not one of the known ones (a nonlinearity, a fan mode).
    Unknown {
        /// What kind of name (`"nonlinearity"`).
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// LSUV measured an output variance it cannot rescale to 1 (zero or not finite).
    Variance {
        /// The measured variance.
        variance: f64,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Shape { scheme, shape, need } => {
                write!(f, "{scheme}: needs a tensor with {need} (shape {shape:?})")
            }
            InitError::Argument { scheme, message } => write!(f, "{scheme}: {message}"),
            InitError::Unknown { what, name } => write!(f, "unsupported {what} `{name}`"),
            InitError::Variance { variance } => {
                write!(f, "lsuv: output variance {variance} cannot be rescaled to 1")
            }
        }
    }
}

impl std::error::Error for InitError {}

/// Shorthand for an [`InitError::Argument`].
pub(crate) fn argument(scheme: &'static str, message: String) -> InitError {
    InitError::Argument { scheme, message }
}
