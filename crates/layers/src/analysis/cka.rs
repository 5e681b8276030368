//! Linear centred kernel alignment (Kornblith et al., 2019): how similar two
//! representations of the same examples are, up to rotation and scale.

use super::capture_outputs;
use super::plot::Heatmap;
use super::stats::display_name;
use super::table::{Cell, Table};
use crate::Module;
use lamina_core::{no_grad, Element, Tensor};

/// The centred Gram matrix `Xc Xcᵀ` of a batch of representations `[n, ...]`
/// (features flattened, columns centred), in `f64`.
#[track_caller]
fn centred_gram<E: Element>(op: &str, x: &Tensor<E>) -> Tensor<f64> {
    assert!(x.ndim() >= 1 && x.shape()[0] >= 2, "{op}: need a batch of at least 2 examples (shape {:?})", x.shape());
    no_grad(|| {
        let n = x.shape()[0];
        let x = x.cast::<f64>().reshape(&[n, x.numel() / n]);
        let xc = &x - &x.mean_dims(&[0], true);
        xc.matmul(&xc.t())
    })
}

/// `<K, L>_F / (||K||_F ||L||_F)` for centred Gram matrices: linear CKA.
fn cka_from_grams(k: &Tensor<f64>, l: &Tensor<f64>) -> f64 {
    let dot = |a: &Tensor<f64>, b: &Tensor<f64>| no_grad(|| (a * b).sum().item());
    dot(k, l) / (dot(k, k).sqrt() * dot(l, l).sqrt())
}

/// Linear CKA between two representations of the same `n` examples, `x`
/// `[n, ...]` and `y` `[n, ...]` (all but the first dimension are features):
/// `||Yᵀ X||²_F / (||Xᵀ X||_F ||Yᵀ Y||_F)` with centred columns, computed in
/// `f64` through the `n × n` Gram matrices. 1 for representations that are
/// the same up to an orthogonal transform and a scale; NaN when one is constant.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::analysis::linear_cka;
/// let x = Tensor::<f64>::randn(&[10, 4]);
/// assert!((linear_cka(&x, &(&x * 3.0)) - 1.0).abs() < 1e-12);
/// ```
#[track_caller]
pub fn linear_cka<E: Element>(x: &Tensor<E>, y: &Tensor<E>) -> f64 {
    assert_eq!(
        x.shape().first(),
        y.shape().first(),
        "linear_cka: the representations must be of the same examples (shapes {:?} and {:?})",
        x.shape(),
        y.shape()
    );
    cka_from_grams(&centred_gram("linear_cka", x), &centred_gram("linear_cka", y))
}

/// Linear CKA between every pair of two lists of named representations.
#[derive(Clone, Debug, PartialEq)]
pub struct CkaMatrix {
    /// Names of the first list (rows).
    pub rows: Vec<String>,
    /// Names of the second list (columns).
    pub columns: Vec<String>,
    /// `values[i][j]` = CKA(rows i, columns j).
    pub values: Vec<Vec<f64>>,
}

impl CkaMatrix {
    /// A table with one row per row representation and one column per column one.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            std::iter::once("layer".to_owned()).chain(self.columns.iter().map(|c| display_name(c).to_owned())),
        );
        for (name, vals) in self.rows.iter().zip(&self.values) {
            t.push(
                std::iter::once(Cell::from(display_name(name))).chain(vals.iter().map(|v| Cell::Float(*v))).collect(),
            );
        }
        t
    }

    /// The matrix as a heat map (0 to 1).
    pub fn heatmap(&self, title: &str) -> Heatmap {
        let names = |v: &[String]| v.iter().map(|n| display_name(n).to_owned()).collect();
        Heatmap::new(title, names(&self.rows), names(&self.columns), self.values.clone()).range(0.0, 1.0)
    }
}

/// Linear CKA between every representation of `a` and every one of `b` (each
/// a `(name, [n, ...])` pair, all of the same `n` examples), e.g. two calls of
/// [`collect_activations`]: the same model for a layer-by-layer matrix, two
/// models to compare them.
#[track_caller]
pub fn cka_matrix<E: Element>(a: &[(String, Tensor<E>)], b: &[(String, Tensor<E>)]) -> CkaMatrix {
    let grams = |v: &[(String, Tensor<E>)]| -> Vec<Tensor<f64>> {
        v.iter().map(|(_, t)| centred_gram("cka_matrix", t)).collect()
    };
    let (ga, gb) = (grams(a), grams(b));
    if let (Some((na, ta)), Some((nb, tb))) = (a.first(), b.first()) {
        assert_eq!(
            ta.shape()[0],
            tb.shape()[0],
            "cka_matrix: {na:?} and {nb:?} are not of the same examples (shapes {:?} and {:?})",
            ta.shape(),
            tb.shape()
        );
    }
    CkaMatrix {
        rows: a.iter().map(|(n, _)| n.clone()).collect(),
        columns: b.iter().map(|(n, _)| n.clone()).collect(),
        values: ga.iter().map(|k| gb.iter().map(|l| cka_from_grams(k, l)).collect()).collect(),
    }
}

/// The outputs of the named layers of `model` (detached), captured by forward
/// hooks while `run` runs the model; a layer run more than once keeps its last
/// output. Panics if a layer does not run.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::analysis::collect_activations;
/// use lamina_layers::{Forward, Linear, ReLU, Sequential};
/// let model = Sequential::<f32>::new().append(Linear::new(3, 5, true)).append(ReLU::new());
/// let acts = collect_activations(&model, &["0".into(), "1".into()], || {
///     model.forward(&Tensor::ones(&[8, 3]));
/// });
/// assert_eq!(acts[1].1.shape(), &[8, 5]);
/// ```
#[track_caller]
pub fn collect_activations<E: Element>(
    model: &dyn Module<E>,
    layers: &[String],
    run: impl FnOnce(),
) -> Vec<(String, Tensor<E>)> {
    let at = std::panic::Location::caller();
    let outputs = capture_outputs(("collect_activations", at), model, layers, true, run);
    layers
        .iter()
        .zip(outputs)
        .map(|(name, t)| {
            let t = t.unwrap_or_else(|| {
                panic!("collect_activations: layer {name:?} did not run at {}:{}", at.file(), at.line())
            });
            (name.clone(), t)
        })
        .collect()
}
