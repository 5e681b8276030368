//! Ablation: evaluate a model with one layer at a time replaced by the
//! identity or zeroed, and report the change in loss and accuracy.

use super::find_module;
use super::stats::display_name;
use super::table::Table;
use crate::{register_forward_hook, Module};
use lamina_core::{Element, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How a layer is knocked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ablation {
    /// The layer passes its input through unchanged (only where its output has
    /// its input's shape).
    Identity,
    /// The layer outputs zeros of its output's shape.
    Zero,
}

/// What an evaluation measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The loss.
    pub loss: f64,
    /// The accuracy (0 to 1), if it means something for the task.
    pub accuracy: Option<f64>,
}

/// The result of knocking out one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct AblationRow {
    /// The layer's dotted name.
    pub layer: String,
    /// Its type.
    pub kind: &'static str,
    /// The evaluation with the layer knocked out, or `None` when it could not
    /// be (see `note`).
    pub result: Option<Evaluation>,
    /// Why there is no result: the identity does not fit the layer's shapes,
    /// or the evaluation never ran the layer.
    pub note: Option<String>,
}

/// The baseline and one row per knocked-out layer.
#[derive(Clone, Debug, PartialEq)]
pub struct AblationReport {
    /// How the layers were knocked out.
    pub mode: Ablation,
    /// The evaluation of the intact model.
    pub baseline: Evaluation,
    /// One row per layer, in the order asked.
    pub rows: Vec<AblationRow>,
}

impl AblationReport {
    /// A table: layer, type, loss, delta_loss, accuracy, delta_acc, note; the
    /// first row is the intact model.
    pub fn table(&self) -> Table {
        let mut t = Table::new(["layer", "type", "loss", "delta_loss", "accuracy", "delta_acc", "note"]);
        let b = self.baseline;
        t.push(vec![
            "(none)".into(),
            "".into(),
            b.loss.into(),
            0.0.into(),
            b.accuracy.into(),
            b.accuracy.map(|_| 0.0).into(),
            "baseline".into(),
        ]);
        for r in &self.rows {
            let e = r.result;
            t.push(vec![
                display_name(&r.layer).into(),
                r.kind.into(),
                e.map(|e| e.loss).into(),
                e.map(|e| e.loss - b.loss).into(),
                e.and_then(|e| e.accuracy).into(),
                e.and_then(|e| Some(e.accuracy? - b.accuracy?)).into(),
                r.note.clone().unwrap_or_default().into(),
            ]);
        }
        t
    }
}

/// Evaluates `model` intact and then with each layer of `layers` (dotted
/// names, see [`leaf_layers`](super::leaf_layers) and
/// [`child_layers`](super::child_layers)) knocked out in turn by a forward
/// hook, which `evaluate` must trigger by running the model.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::analysis::{ablate, Ablation, Evaluation};
/// use lamina_layers::{Forward, Linear, ReLU, Sequential};
/// let model = Sequential::<f64>::new().append(Linear::new(2, 2, false)).append(ReLU::new());
/// let x = Tensor::<f64>::ones(&[1, 2]);
/// let report = ablate(&model, &["0".into(), "1".into()], Ablation::Zero, || Evaluation {
///     loss: model.forward(&x).sum().item(),
///     accuracy: None,
/// });
/// assert_eq!(report.rows[0].result.unwrap().loss, 0.0); // relu(0) = 0
/// println!("{}", report.table());
/// ```
#[track_caller]
pub fn ablate<E: Element>(
    model: &dyn Module<E>,
    layers: &[String],
    mode: Ablation,
    mut evaluate: impl FnMut() -> Evaluation,
) -> AblationReport {
    let at = std::panic::Location::caller();
    let targets: Vec<&dyn Module<E>> = layers.iter().map(|name| find_module("ablate", model, name, at)).collect();
    let baseline = evaluate();
    let mut rows = Vec::new();
    for (name, m) in layers.iter().zip(targets) {
        let calls = Arc::new(AtomicUsize::new(0));
        let mismatch = Arc::new(AtomicUsize::new(0));
        let (c, bad) = (calls.clone(), mismatch.clone());
        let hook = register_forward_hook(m, move |x: &Tensor<E>, y: &Tensor<E>| {
            c.fetch_add(1, Ordering::Relaxed);
            match mode {
                Ablation::Zero => Some(y.zeros_like()),
                Ablation::Identity if x.shape() == y.shape() => Some(x.clone()),
                Ablation::Identity => {
                    bad.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        });
        let result = evaluate();
        drop(hook);
        let note = if calls.load(Ordering::Relaxed) == 0 {
            Some("not run by the evaluation".to_owned())
        } else if mismatch.load(Ordering::Relaxed) > 0 {
            Some("identity does not fit: output shape differs from input".to_owned())
        } else {
            None
        };
        rows.push(AblationRow {
            layer: name.clone(),
            kind: m.type_name(),
            result: note.is_none().then_some(result),
            note,
        });
    }
    AblationReport { mode, baseline, rows }
}
