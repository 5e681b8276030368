//! Hyperparameters by PyTorch name: the values a parameter group's options
//! take, and the trait that reads and writes them by key.

use crate::OptimError;
use std::fmt::Debug;

/// The value of one hyperparameter: a number (`lr`), a flag (`nesterov`) or a
/// pair (`betas`).
///
/// ```
/// use lamina_optim::HyperValue;
/// assert_eq!(HyperValue::from(0.1), HyperValue::Num(0.1));
/// assert_eq!(HyperValue::from((0.9, 0.999)), HyperValue::Pair(0.9, 0.999));
/// ```
///
/// Saved as a bare value (`0.1`, `true`, `[0.9, 0.999]`) in human-readable
/// formats such as JSON, and as a tagged enum in binary formats such as
/// bincode, which cannot tell the variants apart without a tag.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HyperValue {
    /// A flag such as `nesterov` or `amsgrad`.
    Bool(bool),
    /// A number such as `lr` or `weight_decay`.
    Num(f64),
    /// A pair such as `betas`.
    Pair(f64, f64),
}

/// The two serde forms of a [`HyperValue`], chosen by the format.
mod repr {
    use super::HyperValue;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Bare {
        Bool(bool),
        Num(f64),
        Pair(f64, f64),
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename = "HyperValue")]
    enum Tagged {
        Bool(bool),
        Num(f64),
        Pair(f64, f64),
    }

    macro_rules! convert {
        ($t:ident) => {
            impl From<HyperValue> for $t {
                fn from(v: HyperValue) -> Self {
                    match v {
                        HyperValue::Bool(b) => $t::Bool(b),
                        HyperValue::Num(x) => $t::Num(x),
                        HyperValue::Pair(a, b) => $t::Pair(a, b),
                    }
                }
            }
            impl From<$t> for HyperValue {
                fn from(v: $t) -> Self {
                    match v {
                        $t::Bool(b) => HyperValue::Bool(b),
                        $t::Num(x) => HyperValue::Num(x),
                        $t::Pair(a, b) => HyperValue::Pair(a, b),
                    }
                }
            }
        };
    }
    convert!(Bare);
    convert!(Tagged);

    impl Serialize for HyperValue {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if s.is_human_readable() {
                Bare::from(*self).serialize(s)
            } else {
                Tagged::from(*self).serialize(s)
            }
        }
    }

    impl<'de> Deserialize<'de> for HyperValue {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            if d.is_human_readable() {
                Bare::deserialize(d).map(Into::into)
            } else {
                Tagged::deserialize(d).map(Into::into)
            }
        }
    }
}

impl From<f64> for HyperValue {
    fn from(v: f64) -> Self {
        HyperValue::Num(v)
    }
}

impl From<bool> for HyperValue {
    fn from(v: bool) -> Self {
        HyperValue::Bool(v)
    }
}

impl From<(f64, f64)> for HyperValue {
    fn from(v: (f64, f64)) -> Self {
        HyperValue::Pair(v.0, v.1)
    }
}

/// A field type a [`HyperValue`] converts back into.
pub(crate) trait FromHyper: Sized {
    fn from_hyper(v: HyperValue) -> Option<Self>;
    const KIND: &'static str;
}

impl FromHyper for f64 {
    fn from_hyper(v: HyperValue) -> Option<Self> {
        match v {
            HyperValue::Num(x) => Some(x),
            _ => None,
        }
    }
    const KIND: &'static str = "a number";
}

impl FromHyper for bool {
    fn from_hyper(v: HyperValue) -> Option<Self> {
        match v {
            HyperValue::Bool(x) => Some(x),
            _ => None,
        }
    }
    const KIND: &'static str = "true or false";
}

impl FromHyper for (f64, f64) {
    fn from_hyper(v: HyperValue) -> Option<Self> {
        match v {
            HyperValue::Pair(a, b) => Some((a, b)),
            _ => None,
        }
    }
    const KIND: &'static str = "a pair of numbers";
}

/// Reads a field from a [`HyperValue`], or explains that the kind is wrong.
pub(crate) fn field<T: FromHyper>(optimizer: &'static str, key: &str, v: HyperValue) -> Result<T, OptimError> {
    T::from_hyper(v).ok_or_else(|| OptimError::BadValue {
        optimizer,
        key: key.to_owned(),
        reason: format!("expected {}, got {v:?}", T::KIND),
    })
}

/// An error unless `ok`: the check behind every rule's `validate`.
pub(crate) fn require(
    ok: bool,
    optimizer: &'static str,
    key: &str,
    reason: impl Into<String>,
) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::BadValue { optimizer, key: key.to_owned(), reason: reason.into() })
    }
}

/// `0 <= x` (false for NaN): the range check PyTorch applies to most options.
pub(crate) fn non_negative(optimizer: &'static str, key: &str, x: f64) -> Result<(), OptimError> {
    require(x >= 0.0, optimizer, key, format!("must be >= 0, got {x}"))
}

/// Both betas in `[0, 1)`.
pub(crate) fn betas_in_range(optimizer: &'static str, (b1, b2): (f64, f64)) -> Result<(), OptimError> {
    require((0.0..1.0).contains(&b1), optimizer, "betas", format!("beta1 must be in [0, 1), got {b1}"))?;
    require((0.0..1.0).contains(&b2), optimizer, "betas", format!("beta2 must be in [0, 1), got {b2}"))
}

/// A set of hyperparameters addressed by PyTorch's option names; every
/// optimizer's options struct implements it.
pub trait Hyperparameters: Copy + Debug + Default + Send + Sync + 'static {
    /// The optimizer's name as PyTorch spells it (`"SGD"`, `"AdamW"`).
    const NAME: &'static str;
    /// Every option's name, as PyTorch spells it.
    const KEYS: &'static [&'static str];

    /// The option `key`, if the optimizer has it.
    fn get(&self, key: &str) -> Option<HyperValue>;

    /// Sets the option `key` after checking only that the value is of the
    /// right kind; [`Rule::set`](crate::Rule::set) also checks the range.
    fn set_unchecked(&mut self, key: &str, value: HyperValue) -> Result<(), OptimError>;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (what schedulers do).
    fn set_lr(&mut self, lr: f64);
}

/// Implements [`Hyperparameters`] for an options struct from its field list.
macro_rules! hyperparameters {
    ($ty:ident, $name:literal, { $($key:ident),* $(,)? }) => {
        impl $crate::hyper::Hyperparameters for $ty {
            const NAME: &'static str = $name;
            const KEYS: &'static [&'static str] = &[$(stringify!($key)),*];

            fn get(&self, key: &str) -> Option<$crate::HyperValue> {
                match key {
                    $(stringify!($key) => Some($crate::HyperValue::from(self.$key)),)*
                    _ => None,
                }
            }

            fn set_unchecked(&mut self, key: &str, value: $crate::HyperValue) -> Result<(), $crate::OptimError> {
                match key {
                    $(stringify!($key) => self.$key = $crate::hyper::field($name, key, value)?,)*
                    _ => {
                        return Err($crate::OptimError::UnknownOption {
                            optimizer: $name,
                            key: key.to_owned(),
                            known: <Self as $crate::hyper::Hyperparameters>::KEYS,
                        })
                    }
                }
                Ok(())
            }

            fn lr(&self) -> f64 {
                self.lr
            }

            fn set_lr(&mut self, lr: f64) {
                self.lr = lr;
            }
        }
    };
}
pub(crate) use hyperparameters;
