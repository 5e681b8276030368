//! Embedding: a lookup table of learned vectors indexed by integer ids.

use crate::{Module, Part};
use lamina_core::{no_grad, Element, IndexTensor, Tensor};

/// A table of `num_embeddings` vectors of size `embedding_dim` (PyTorch's
/// `nn.Embedding`, `weight` initialised N(0, 1)). The `padding_idx` row is
/// zero and receives no gradient; with `max_norm`, looked-up rows are
/// renormalised in place to at most that norm, as PyTorch does.
///
/// ```
/// use lamina_core::IndexTensor;
/// use lamina_layers::Embedding;
/// let e = Embedding::<f32>::new(10, 4, Some(0));
/// let out = e.forward_ids(&IndexTensor::from_vec(vec![0, 3, 3], &[3]));
/// assert_eq!(out.shape(), &[3, 4]);
/// assert_eq!(&out.to_vec()[..4], &[0.0; 4]);
/// ```
pub struct Embedding<E: Element = f32> {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Tensor<E>,
    padding_idx: Option<i64>,
    /// Rows looked up are rescaled to at most this norm (with `norm_type`).
    pub max_norm: Option<f64>,
    /// The p of the norm for `max_norm` (default 2).
    pub norm_type: f64,
}

impl<E: Element> Embedding<E> {
    /// A table with an optional padding row (negative counts from the end).
    #[track_caller]
    pub fn new(num_embeddings: usize, embedding_dim: usize, padding_idx: Option<i64>) -> Self {
        let weight = Tensor::zeros(&[num_embeddings, embedding_dim]).requires_grad_(true);
        let padding_idx = padding_idx.map(|p| if p < 0 { p + num_embeddings as i64 } else { p });
        if let Some(p) = padding_idx {
            assert!(
                (0..num_embeddings as i64).contains(&p),
                "Embedding: padding_idx {p} out of range for {num_embeddings} embeddings"
            );
        }
        lamina_init::default::embedding(&weight, padding_idx.map(|p| p as isize)).expect("a 2-d table");
        Embedding { weight, padding_idx, max_norm: None, norm_type: 2.0 }
    }

    /// The padding row, if any.
    pub fn padding_idx(&self) -> Option<i64> {
        self.padding_idx
    }

    /// The rows of `ids`: `[*ids.shape, embedding_dim]`.
    #[track_caller]
    pub fn forward_ids(&self, ids: &IndexTensor) -> Tensor<E> {
        if let Some(max_norm) = self.max_norm {
            self.renorm(ids, max_norm);
        }
        self.weight.embedding(ids, self.padding_idx)
    }

    /// Rescales the rows `ids` refers to whose norm exceeds `max_norm` (unrecorded).
    fn renorm(&self, ids: &IndexTensor, max_norm: f64) {
        let dim = self.weight.shape()[1];
        let p = self.norm_type;
        no_grad(|| {
            self.weight.with_data_mut(|w| {
                let mut rows: Vec<i64> = ids.to_vec();
                rows.sort_unstable();
                rows.dedup();
                let num_rows = (w.len() / dim.max(1)) as i64;
                for r in rows.into_iter().filter(|&r| (0..num_rows).contains(&r)) {
                    let row = &mut w[r as usize * dim..(r as usize + 1) * dim];
                    let norm = row.iter().map(|v| v.f64().abs().powf(p)).sum::<f64>().powf(1.0 / p);
                    if norm > max_norm {
                        let scale = E::of(max_norm / (norm + 1e-7));
                        row.iter_mut().for_each(|v| *v = *v * scale);
                    }
                }
            })
        });
    }
}

impl<E: Element> Module<E> for Embedding<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        f("weight", Part::Param(&self.weight));
    }
    fn extra_repr(&self) -> String {
        let s = self.weight.shape();
        let mut r = format!("{}, {}", s[0], s[1]);
        if let Some(p) = self.padding_idx {
            r.push_str(&format!(", padding_idx={p}"));
        }
        if let Some(m) = self.max_norm {
            r.push_str(&format!(", max_norm={m}"));
        }
        r
    }
}

crate::visit_as_module!(Embedding);
display_module!(Embedding);
