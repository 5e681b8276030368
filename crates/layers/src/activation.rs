//! Activation functions as modules, with PyTorch's names, options and defaults.

use crate::{Forward, Module, Part};
use lamina_core::{Element, Tensor};
use std::marker::PhantomData;

/// Declares a parameterless activation: `activation!(doc, Name, |x| expr)`.
macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        stateless!($(#[$doc])* $name);
        impl<E: Element> Forward<E> for $name<E> {
            #[track_caller]
            fn forward(&self, $x: &Tensor<E>) -> Tensor<E> {
                $body
            }
        }
    };
}

activation!(
    /// `max(x, 0)`.
    ReLU,
    |x| x.relu()
);
activation!(
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    |x| x.sigmoid()
);
activation!(
    /// Hyperbolic tangent.
    Tanh,
    |x| x.tanh()
);
activation!(
    /// Scaled ELU with PyTorch's constants (self-normalising networks).
    SELU,
    |x| x.selu()
);
activation!(
    /// `x · sigmoid(x)` (swish).
    SiLU,
    |x| x.silu()
);
activation!(
    /// `x · tanh(softplus(x))`.
    Mish,
    |x| x.mish()
);

/// Declares an activation with options: the struct, `new`, `Default` with
/// PyTorch's defaults, `Module` (printing the options) and `Forward`.
macro_rules! activation_with {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty = $default:expr),* }, |$s:ident, $x:ident| $body:expr) => {
        $(#[$doc])*
        pub struct $name<E: Element = f32> {
            $($(#[$fdoc])* pub $field: $ty,)*
            _e: PhantomData<fn() -> E>,
        }

        impl<E: Element> $name<E> {
            /// The module with these options.
            pub fn new($($field: $ty),*) -> Self {
                $name { $($field,)* _e: PhantomData }
            }
        }

        impl<E: Element> Default for $name<E> {
            /// PyTorch's defaults.
            fn default() -> Self {
                Self::new($($default),*)
            }
        }

        impl<E: Element> Module<E> for $name<E> {
            fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Part<'a, E>)) {}
            fn extra_repr(&self) -> String {
                [$(format!("{}={:?}", stringify!($field), self.$field)),*].join(", ")
            }
        }

        impl<E: Element> Forward<E> for $name<E> {
            #[track_caller]
            fn forward(&self, $x: &Tensor<E>) -> Tensor<E> {
                let $s = self;
                $body
            }
        }
        crate::visit_as_module!($name);
        display_module!($name);
    };
}

activation_with!(
    /// `x` for `x > 0`, else `negative_slope · x`.
    LeakyReLU { /// Slope for negative inputs (0.01).
    negative_slope: f64 = 0.01 },
    |s, x| x.leaky_relu(E::of(s.negative_slope))
);
activation_with!(
    /// `x` for `x > 0`, else `alpha (e^x - 1)`.
    ELU { /// Scale of the negative part (1.0).
    alpha: f64 = 1.0 },
    |s, x| x.elu(E::of(s.alpha))
);
activation_with!(
    /// Gaussian error linear unit: `x Φ(x)`, exact (`"none"`) or the tanh approximation (`"tanh"`).
    GELU { /// `"none"` or `"tanh"`.
    approximate: &'static str = "none" },
    |s, x| if s.approximate == "tanh" { x.gelu_tanh() } else { x.gelu() }
);
activation_with!(
    /// `log(1 + e^(beta x)) / beta`, linear above `threshold`.
    Softplus { /// Sharpness (1.0).
    beta: f64 = 1.0, /// Above `beta · x > threshold` the output is `x` (20.0).
    threshold: f64 = 20.0 },
    |s, x| x.softplus(E::of(s.beta), E::of(s.threshold))
);
activation_with!(
    /// `clamp(x, min_val, max_val)`.
    Hardtanh { /// Lower bound (-1.0).
    min_val: f64 = -1.0, /// Upper bound (1.0).
    max_val: f64 = 1.0 },
    |s, x| x.hardtanh(E::of(s.min_val), E::of(s.max_val))
);
activation_with!(
    /// `softmax` over `dim` (PyTorch requires it; the default here is the last dim).
    Softmax { /// The dimension that sums to 1.
    dim: isize = -1 },
    |s, x| x.softmax(s.dim)
);
activation_with!(
    /// `log_softmax` over `dim`.
    LogSoftmax { /// The dimension normalised.
    dim: isize = -1 },
    |s, x| x.log_softmax(s.dim)
);

/// `max(0, x) + a · min(0, x)` with a learned slope `a`, one per channel
/// (dim 1) or shared (PyTorch's `nn.PReLU`, `weight` initialised to 0.25).
pub struct PReLU<E: Element = f32> {
    /// `[num_parameters]`.
    pub weight: Tensor<E>,
}

impl<E: Element> PReLU<E> {
    /// `num_parameters` slopes (1, or the number of channels), each `init`.
    pub fn new(num_parameters: usize, init: f64) -> Self {
        let weight = Tensor::zeros(&[num_parameters]).requires_grad_(true);
        lamina_init::default::prelu(&weight, init);
        PReLU { weight }
    }
}

impl<E: Element> Default for PReLU<E> {
    fn default() -> Self {
        Self::new(1, 0.25)
    }
}

crate::parts!(PReLU<E> { weight }, extra_repr = |p: &PReLU<E>| format!("num_parameters={}", p.weight.numel()));

impl<E: Element> Forward<E> for PReLU<E> {
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let n = self.weight.numel();
        let a = if n > 1 && x.ndim() >= 2 {
            let mut shape = vec![1; x.ndim()];
            shape[1] = n;
            self.weight.reshape(&shape)
        } else {
            self.weight.clone()
        };
        x.relu() - a * x.neg().relu()
    }
}
