//! LSUV, layer-sequential unit-variance initialisation (Mishkin & Matas, "All
//! you need is a good init", 2016): every Linear/Conv weight is made
//! orthogonal, then, layer by layer from the input, rescaled until its output
//! on a batch has variance 1. The rescaling loop is lamina-init's
//! [`lsuv_rescale_`]; this module walks the layers and measures each one's
//! output with a forward hook.

use crate::{register_forward_hook, Forward, Module, ModuleExt, Part};
use lamina_core::{no_grad, Element, Tensor};
use lamina_init::lsuv::{lsuv_rescale_, variance};
pub use lamina_init::lsuv::{LsuvConfig, LsuvReport};
use lamina_init::{orthogonal_, InitError};
use std::sync::{Arc, Mutex};

/// What [`lsuv_init`] did to one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LsuvLayer {
    /// The layer's dotted name (`""` for the model itself).
    pub name: String,
    /// The rescaling of its weight.
    pub report: LsuvReport,
}

/// What [`lsuv_init`] did, layer by layer in forward order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LsuvInitReport {
    /// The layers initialised.
    pub layers: Vec<LsuvLayer>,
}

impl LsuvInitReport {
    /// Whether every layer reached unit variance within the tolerance.
    pub fn converged(&self) -> bool {
        self.layers.iter().all(|l| l.report.converged)
    }
}

/// The weight LSUV initialises in `m`: its own parameter named `weight`
/// with at least 2 dimensions (Linear, Conv, ConvTranspose, Bilinear).
fn lsuv_weight<E: Element>(m: &dyn Module<E>) -> Option<Tensor<E>> {
    let mut found = None;
    m.visit(&mut |name, part| {
        if let (Part::Param(t), "weight") = (part, name) {
            if t.ndim() >= 2 {
                found = Some(t.clone());
            }
        }
    });
    found
}

/// LSUV-initialises `model` on `batch`: for each module with a `weight` of
/// at least 2 dimensions, in registration order (the model itself first),
/// sets the weight orthogonal ([`orthogonal_`], gain 1) and rescales it with
/// [`lsuv_rescale_`] until the variance of that module's output on `batch`,
/// seen by a forward hook, is within `config.tol` of 1. Biases are kept.
/// Modules the forward pass does not reach through [`Forward::call`] (an
/// [`Embedding`](crate::Embedding)) are skipped. The forward passes run
/// without recording and in the model's current mode (call
/// [`eval`](ModuleExt::eval) first to leave batch-norm running statistics and
/// dropout out of it).
///
/// ```
/// use lamina_core::{Generator, Tensor};
/// use lamina_layers::{lsuv_init, Linear, LsuvConfig, ReLU, Sequential};
/// let net = Sequential::<f64>::new().append(Linear::new(8, 16, true)).append(ReLU::new()).append(Linear::new(16, 4, true));
/// let batch = Tensor::<f64>::randn_with(&[64, 8], &mut Generator::new(0));
/// let report = lsuv_init(&net, &batch, LsuvConfig::default()).unwrap();
/// assert_eq!(report.layers.len(), 2);
/// assert!(report.converged());
/// ```
pub fn lsuv_init<E: Element, M: Forward<E>>(
    model: &M,
    batch: &Tensor<E>,
    config: LsuvConfig,
) -> Result<LsuvInitReport, InitError> {
    let mut modules: Vec<(String, &dyn Module<E>)> = vec![(String::new(), model.as_dyn())];
    modules.extend(model.named_modules());
    let mut report = LsuvInitReport::default();
    for (name, m) in modules {
        let Some(weight) = lsuv_weight(m) else { continue };
        orthogonal_(&weight, 1.0)?;
        let seen = Arc::new(Mutex::new(None::<f64>));
        let slot = Arc::clone(&seen);
        let hook = register_forward_hook(m, move |_, y: &Tensor<E>| {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(variance(y));
            None
        });
        let measure = || {
            no_grad(|| model.call(batch));
            seen.lock().unwrap_or_else(|e| e.into_inner()).take()
        };
        if measure().is_none() {
            continue;
        }
        let r = lsuv_rescale_(&weight, config, || measure().unwrap_or(f64::NAN))?;
        hook.remove();
        report.layers.push(LsuvLayer { name, report: r });
    }
    Ok(report)
}
