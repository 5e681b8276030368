//! Layer analysis: what each layer of a model learns and how gradients flow
//! through it, for any model made of [`Module`]s.
//!
//! - [`StatsCollector`]: per-layer training statistics (activation mean/std,
//!   dead ReLU units, sigmoid/tanh saturation, gradient norms, update-to-weight
//!   ratios) every N steps, as a [`Table`] that prints aligned or saves as CSV.
//! - [`ablate`]: the change in loss/accuracy when each layer in turn is
//!   replaced by the identity or zeroed.
//! - [`linear_cka`] and [`cka_matrix`]: representational similarity between
//!   layers, of one model or two.
//! - [`saliency`], [`input_gradient`], [`activation_maximisation`]: what in the
//!   input a prediction or a unit responds to.
//! - [`image_grid`] and [`write_png`]: filters and feature maps as image grids;
//!   [`LinePlot`] and [`Heatmap`]: curves and matrices as SVG.
//!
//! Layers are found by their dotted names (as in `named_modules`) and observed
//! through forward hooks, so a layer is seen when its parent runs it with
//! [`Forward::call`](crate::Forward::call), as [`Sequential`](crate::Sequential) does.

mod ablation;
mod cka;
mod image;
mod plot;
mod saliency;
mod stats;
mod table;

pub use ablation::{ablate, Ablation, AblationReport, AblationRow, Evaluation};
pub use cka::{cka_matrix, collect_activations, linear_cka, CkaMatrix};
pub use image::{encode_png, image_grid, write_png, Colormap, GridOptions, RgbImage};
pub use plot::{Heatmap, LinePlot, Series};
pub use saliency::{activation_maximisation, input_gradient, saliency, ActivationMaxConfig};
pub use stats::{ActivationStats, LayerRecord, ParamRecord, ParamSnapshot, StatsCollector, SATURATED};
pub use table::{Cell, Table};

use crate::{register_forward_hook, Module, ModuleExt, Part};
use lamina_core::{Element, Tensor};
use std::panic::Location;
use std::sync::{Arc, Mutex};

/// The model itself (named `""`) and every module below it, depth first.
fn all_modules<E: Element>(model: &dyn Module<E>) -> Vec<(String, &dyn Module<E>)> {
    let mut out = vec![(String::new(), model)];
    out.extend(model.named_modules());
    out
}

/// Whether `m` has no child modules.
fn is_leaf<E: Element>(m: &dyn Module<E>) -> bool {
    let mut leaf = true;
    m.visit(&mut |_, part| leaf &= !matches!(part, Part::Module(_)));
    leaf
}

/// The dotted names of the modules without children (the layers proper),
/// in order; `[""]` when the model is itself such a module.
///
/// ```
/// use lamina_layers::{analysis::leaf_layers, Linear, ReLU, Sequential};
/// let m = Sequential::<f32>::new().append(Linear::new(2, 3, true)).append(ReLU::new());
/// assert_eq!(leaf_layers(&m), ["0", "1"]);
/// ```
pub fn leaf_layers<E: Element>(model: &dyn Module<E>) -> Vec<String> {
    all_modules(model).into_iter().filter(|(_, m)| is_leaf(*m)).map(|(n, _)| n).collect()
}

/// The names of the model's direct children (the blocks of a network).
pub fn child_layers<E: Element>(model: &dyn Module<E>) -> Vec<String> {
    let mut out = Vec::new();
    model.visit(&mut |name, part| {
        if let Part::Module(_) = part {
            out.push(name.to_owned());
        }
    });
    out
}

/// The module called `name` below `model` (`""` is the model itself); panics,
/// listing the names there are and naming the caller's line `at`, when there is none.
fn find_module<'a, E: Element>(op: &str, model: &'a dyn Module<E>, name: &str, at: &Location<'_>) -> &'a dyn Module<E> {
    let all = all_modules(model);
    match all.iter().find(|(n, _)| n == name) {
        Some((_, m)) => *m,
        None => {
            let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).filter(|n| !n.is_empty()).collect();
            panic!("{op}: no layer named {name:?} (the model has {names:?}) at {}:{}", at.file(), at.line())
        }
    }
}

/// The Euclidean norm of `values`.
fn l2(values: &[f64]) -> f64 {
    values.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// The last output of each named layer (detached if `detach`) while `run`
/// runs the model, captured by forward hooks; `None` for a layer that did not
/// run. An unknown name panics naming the caller's line `at`.
fn capture_outputs<E: Element>(
    (op, at): (&str, &Location<'_>),
    model: &dyn Module<E>,
    layers: &[String],
    detach: bool,
    run: impl FnOnce(),
) -> Vec<Option<Tensor<E>>> {
    let slots: Vec<Arc<Mutex<Option<Tensor<E>>>>> = layers.iter().map(|_| Arc::default()).collect();
    let hooks: Vec<_> = layers
        .iter()
        .zip(&slots)
        .map(|(name, slot)| {
            let slot = slot.clone();
            register_forward_hook(find_module(op, model, name, at), move |_, y: &Tensor<E>| {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(if detach { y.detach() } else { y.clone() });
                None
            })
        })
        .collect();
    run();
    drop(hooks);
    slots.into_iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).take()).collect()
}
