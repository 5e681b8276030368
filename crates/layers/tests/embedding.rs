//! Embedding: lookups, the padding row (zero, and exactly zero gradient),
//! max_norm renormalisation, names and printing, and gradient checks of the
//! table through a small module that scales the looked-up rows by its input.

use lamina_core::testing::tensor;
use lamina_core::{IndexTensor, Tensor};
use lamina_layers::{gradcheck_module, Embedding, Forward, Module, ModuleExt, Part};
use proptest::prelude::*;

fn table(e: &Embedding<f64>, rows: &[f64]) {
    e.weight.assign(&Tensor::from_vec(rows.to_vec(), e.weight.shape()));
}

#[test]
fn forward_ids_looks_up_rows_in_the_ids_shape() {
    let e = Embedding::<f64>::new(3, 2, None);
    table(&e, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let out = e.forward_ids(&IndexTensor::from_vec(vec![2, 0, 1, 2], &[2, 2]));
    assert_eq!(out.shape(), &[2, 2, 2]);
    assert_eq!(out.to_vec(), vec![5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(e.named_parameters()[0].0, "weight");
    assert_eq!(e.to_string(), "Embedding(3, 2)\n[6 parameters]");
}

#[test]
fn the_padding_row_starts_at_zero_and_gets_exactly_zero_gradient() {
    // Negative padding_idx counts from the end: -1 is row 3.
    let e = Embedding::<f64>::new(4, 3, Some(-1));
    assert_eq!(e.padding_idx(), Some(3));
    assert_eq!(&e.weight.to_vec()[9..], &[0.0; 3]);
    assert!(e.weight.to_vec()[..9].iter().any(|&v| v != 0.0));
    let ids = IndexTensor::from_vec(vec![3, 1, 3, 1, 0], &[5]);
    let scale = Tensor::<f64>::linspace(1.0, 2.0, 15).reshape(&[5, 3]);
    (e.forward_ids(&ids) * &scale).sum().backward();
    let g = e.weight.grad().expect("a gradient").to_vec();
    let s = scale.to_vec();
    // Row 0 from position 4, row 1 summed from positions 1 and 3, row 2 unused, row 3 padding.
    let want_row1: Vec<f64> = (0..3).map(|j| s[3 + j] + s[9 + j]).collect();
    assert_eq!(&g[..3], &s[12..]);
    assert_eq!(&g[3..6], &want_row1[..]);
    assert_eq!(&g[6..], &[0.0; 6]);
}

#[test]
fn max_norm_renormalises_the_looked_up_rows_in_place() {
    let mut e = Embedding::<f64>::new(3, 2, None);
    table(&e, &[3.0, 4.0, 0.3, 0.4, 6.0, 8.0]);
    e.max_norm = Some(1.0);
    let out = e.forward_ids(&IndexTensor::from_vec(vec![0, 1], &[2]));
    // Row 0 (norm 5) shrinks to norm 1 (PyTorch divides by norm + 1e-7); row 1
    // (norm 0.5) stays; row 2 is not looked up and keeps norm 10.
    let scale = 1.0 / (5.0 + 1e-7);
    let w = e.weight.to_vec();
    for (got, want) in w.iter().zip([3.0 * scale, 4.0 * scale, 0.3, 0.4, 6.0, 8.0]) {
        assert!((got - want).abs() < 1e-15, "{w:?}");
    }
    assert_eq!(out.to_vec(), w[..4].to_vec());
    assert!(e.to_string().contains("max_norm=1"));
}

#[test]
fn out_of_range_padding_idx_panics_at_construction() {
    let msg = std::panic::catch_unwind(|| drop(Embedding::<f64>::new(3, 2, Some(3))))
        .expect_err("a panic")
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(msg.contains("Embedding") && msg.contains("padding_idx 3"), "{msg}");
}

/// The looked-up rows of fixed `ids`, times the input (of the output's shape),
/// so that a module gradient check reaches the table.
struct Lookup {
    embedding: Embedding<f64>,
    ids: IndexTensor,
}

impl Lookup {
    fn new(num: usize, dim: usize, padding: Option<i64>, ids: Vec<i64>) -> Self {
        let n = ids.len();
        Lookup { embedding: Embedding::new(num, dim, padding), ids: IndexTensor::from_vec(ids, &[n]) }
    }
}

impl Module<f64> for Lookup {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, f64>)) {
        f("embedding", Part::Module(&self.embedding));
    }
}

impl Forward<f64> for Lookup {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        self.embedding.forward_ids(&self.ids) * x
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn embedding_gradchecks_through_the_table(
        (num, dim, ids, x) in (1..=4usize, 1..=3usize, 1..=5usize).prop_flat_map(|(num, dim, n)| {
            (Just(num), Just(dim), proptest::collection::vec(0..num as i64, n), tensor(vec![n, dim], -2.0, 2.0))
        }),
        padding in proptest::option::of(0..4i64),
    ) {
        let padding = padding.filter(|&p| p < num as i64);
        // The padding row gets no gradient by definition (though its numeric
        // derivative is not zero), so the table is checked on the other ids.
        let kept: Vec<usize> = (0..ids.len()).filter(|&i| Some(ids[i]) != padding).collect();
        if !kept.is_empty() {
            let m = Lookup::new(num, dim, padding, kept.iter().map(|&i| ids[i]).collect());
            let xs: Vec<f64> = kept.iter().flat_map(|&i| x.to_vec()[i * dim..(i + 1) * dim].to_vec()).collect();
            let r = gradcheck_module(&m, &Tensor::from_vec(xs, &[kept.len(), dim]));
            prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        }
        // The analytic gradient of the padding row is exactly zero even when looked up.
        if let Some(p) = padding {
            let m = Lookup::new(num, dim, padding, ids.iter().copied().chain([p]).collect());
            (m.forward(&Tensor::ones(&[ids.len() + 1, dim])) * 3.0).sum().backward();
            let g = m.embedding.weight.grad().expect("a gradient").to_vec();
            prop_assert!(g[p as usize * dim..(p as usize + 1) * dim].iter().all(|&v| v == 0.0), "{g:?}");
        }
    }
}
