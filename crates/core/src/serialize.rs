//! serde support for [`Tensor`]: a tensor is saved as its shape and its
//! elements in row-major order (a view saves the values it shows, not its
//! storage). Gradients and `requires_grad` are not saved.

use crate::{Element, Tensor};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a tensor is saved as.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Tensor")]
struct Saved<E> {
    shape: Vec<usize>,
    data: Vec<E>,
}

impl<E: Element + Serialize> Serialize for Tensor<E> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Saved { shape: self.shape().to_vec(), data: self.to_vec() }.serialize(s)
    }
}

/// Reading a tensor checks that the data fills the shape: a malformed input
/// is an error, never a panic.
impl<'de, E: Element + Deserialize<'de>> Deserialize<'de> for Tensor<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Saved { shape, data } = Saved::<E>::deserialize(d)?;
        let numel = shape.iter().try_fold(1usize, |n, &s| n.checked_mul(s));
        match numel {
            Some(n) if n == data.len() => Ok(Tensor::from_vec(data, &shape)),
            Some(n) => Err(D::Error::custom(format!(
                "tensor of shape {shape:?} needs {n} values, the data has {}",
                data.len()
            ))),
            None => Err(D::Error::custom(format!("tensor shape {shape:?} overflows usize"))),
        }
    }
}
