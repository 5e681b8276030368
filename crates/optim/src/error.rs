//! The errors of things that come from outside the program: option names and
//! values, saved states, non-finite gradient norms.

use std::fmt;

/// What went wrong in a fallible optimizer, scheduler or clipping call.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimError {
    /// No optimizer or scheduler has this name.
    UnknownName {
        /// `"optimizer"` or `"scheduler"`.
        what: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The optimizer has no hyperparameter of this name.
    UnknownOption {
        /// The optimizer's name (`"Adam"`).
        optimizer: &'static str,
        /// The option asked for.
        key: String,
        /// The options it does have.
        known: &'static [&'static str],
    },
    /// A hyperparameter got a value of the wrong kind or out of range.
    BadValue {
        /// The optimizer's name.
        optimizer: &'static str,
        /// The option.
        key: String,
        /// Why the value is refused.
        reason: String,
    },
    /// A saved state names a parameter this optimizer does not have.
    UnknownParameter(String),
    /// A saved state has a parameter of another shape.
    ShapeMismatch {
        /// The parameter's name.
        name: String,
        /// The shape in the optimizer.
        expected: Vec<usize>,
        /// The shape in the saved state.
        found: Vec<usize>,
    },
    /// A saved state does not fit this optimizer or scheduler (another kind,
    /// other groups, a buffer of the wrong length, ...).
    StateMismatch(String),
    /// `clip_grad_norm` with `error_if_nonfinite` met a NaN or infinite norm.
    NonFiniteNorm {
        /// The norm's order.
        norm_type: f64,
        /// The total norm found.
        total_norm: f64,
    },
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::UnknownName { what, name } => write!(f, "unknown {what} `{name}`"),
            OptimError::UnknownOption { optimizer, key, known } => {
                write!(f, "{optimizer}: unknown option `{key}` (known: {})", known.join(", "))
            }
            OptimError::BadValue { optimizer, key, reason } => write!(f, "{optimizer}: option `{key}`: {reason}"),
            OptimError::UnknownParameter(name) => {
                write!(f, "load_state_dict: the state names parameter `{name}`, which this optimizer does not have")
            }
            OptimError::ShapeMismatch { name, expected, found } => write!(
                f,
                "load_state_dict: parameter `{name}` has shape {expected:?} but the saved state has shape {found:?}"
            ),
            OptimError::StateMismatch(why) => write!(f, "load_state_dict: {why}"),
            OptimError::NonFiniteNorm { norm_type, total_norm } => write!(
                f,
                "clip_grad_norm: the total norm of order {norm_type} of the gradients is {total_norm}, so they cannot \
                 be clipped (set error_if_nonfinite to false to clip anyway)"
            ),
        }
    }
}

impl std::error::Error for OptimError {}
