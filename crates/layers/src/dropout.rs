//! Dropout layers: inverted scaling in training, the identity in evaluation.

use crate::{Forward, Module, Part, TrainingFlag};
use lamina_core::{Element, Tensor};
use std::marker::PhantomData;

/// Declares a dropout layer: probability `p`, a train/eval flag, and a forward
/// `|p, training, x| expr`.
macro_rules! dropout_layer {
    ($(#[$doc:meta])* $name:ident, |$p:ident, $t:ident, $x:ident| $body:expr) => {
        $(#[$doc])*
        pub struct $name<E: Element = f32> {
            /// Probability of dropping an element (channel), in `[0, 1]`.
            pub p: f64,
            training: TrainingFlag,
            _e: PhantomData<fn() -> E>,
        }

        impl<E: Element> $name<E> {
            /// Drops with probability `p` (PyTorch's default is 0.5).
            #[track_caller]
            pub fn new(p: f64) -> Self {
                assert!((0.0..=1.0).contains(&p), "{}: p must be in [0, 1], got {p}", stringify!($name));
                $name { p, training: TrainingFlag::default(), _e: PhantomData }
            }
        }

        impl<E: Element> Default for $name<E> {
            fn default() -> Self {
                Self::new(0.5)
            }
        }

        impl<E: Element> Module<E> for $name<E> {
            fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Part<'a, E>)) {}
            fn set_training(&self, on: bool) {
                self.training.set(on);
            }
            fn extra_repr(&self) -> String {
                format!("p={}", self.p)
            }
        }

        impl<E: Element> Forward<E> for $name<E> {
            #[track_caller]
            fn forward(&self, $x: &Tensor<E>) -> Tensor<E> {
                let ($p, $t) = (self.p, self.training.get());
                $body
            }
        }
        crate::visit_as_module!($name);
        display_module!($name);
    };
}

dropout_layer!(
    /// Zeroes each element with probability `p` and scales the rest by `1/(1-p)`
    /// in training; the identity in evaluation.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{Dropout, Forward, ModuleExt};
    /// let d = Dropout::<f32>::new(0.5);
    /// d.eval();
    /// assert_eq!(d.forward(&Tensor::ones(&[4])).to_vec(), vec![1.0; 4]);
    /// ```
    Dropout,
    |p, training, x| x.dropout(p, training)
);
dropout_layer!(
    /// Zeroes whole channels of `[N, C, L]` (each `(n, c)` with probability `p`).
    Dropout1d,
    |p, training, x| x.feature_dropout(p, training)
);
dropout_layer!(
    /// Zeroes whole channels of `[N, C, H, W]`.
    Dropout2d,
    |p, training, x| x.feature_dropout(p, training)
);
dropout_layer!(
    /// Dropout for SELU networks: dropped elements take SELU's negative
    /// saturation value and an affine correction keeps mean 0 and variance 1.
    AlphaDropout,
    |p, training, x| alpha_dropout(x, p, training)
);

/// PyTorch's alpha dropout: `x · a·mask + a·α'·(p - (1 - mask))` with
/// `α' = 1.7580993408473766` (SELU's λα) and `a = 1/√((α'² p + 1)(1 - p))`.
fn alpha_dropout<E: Element>(x: &Tensor<E>, p: f64, training: bool) -> Tensor<E> {
    if !training || p == 0.0 {
        return x.clone();
    }
    if p == 1.0 {
        // Zeros still connected to `x` (zero gradient), as PyTorch's `input * 0`.
        return x.mul_scalar(E::zero());
    }
    let alpha = 1.758_099_340_847_376_6;
    let a = 1.0 / ((alpha * alpha * p + 1.0) * (1.0 - p)).sqrt();
    let keep = Tensor::<E>::bernoulli(x.shape(), 1.0 - p);
    let shift = keep.sub_scalar(E::one()).mul_scalar(E::of(alpha * a)).add_scalar(E::of(alpha * a * p));
    x * &keep.mul_scalar(E::of(a)) + shift
}
