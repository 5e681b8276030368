//! The pieces of LSUV, layer-sequential unit-variance initialisation
//! (Mishkin & Matas, "All you need is a good init", 2016).
//!
//! LSUV is data-dependent: start every layer orthogonal
//! ([`Scheme::Orthogonal`](crate::Scheme::Orthogonal)), then, layer by layer
//! from the input, run a batch through the network and divide the layer's
//! weight by the standard deviation of its output until that output has
//! variance 1 (within `tol`, at most `max_iters` rescalings). Walking the
//! layers needs modules, so the sequencing lives with the layers crate; this
//! module gives it the rescaling loop, [`lsuv_rescale_`], and [`variance`].
//!
//! ```
//! use lamina_core::{Generator, Tensor};
//! use lamina_init::{lsuv::{lsuv_rescale_, variance, LsuvConfig}, Scheme};
//! let mut g = Generator::new(0);
//! let x = Tensor::<f64>::randn_with(&[64, 16], &mut g); // a batch
//! let w = Tensor::<f64>::zeros(&[8, 16]);
//! Scheme::Orthogonal { gain: 1.0 }.apply_with(&w, &mut g).unwrap();
//! // The paper measures each layer's output before its nonlinearity.
//! let report = lsuv_rescale_(&w, LsuvConfig::default(), || variance(&x.matmul(&w.t()))).unwrap();
//! assert!(report.converged && (report.variance - 1.0).abs() < 0.1);
//! ```

use crate::error::InitError;
use lamina_core::{Element, Tensor};

/// The stopping rule of [`lsuv_rescale_`]; the paper's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LsuvConfig {
    /// Stop once |variance - 1| < `tol` (default 0.1).
    pub tol: f64,
    /// Give up after this many rescalings (default 10).
    pub max_iters: usize,
}

impl Default for LsuvConfig {
    fn default() -> Self {
        LsuvConfig { tol: 0.1, max_iters: 10 }
    }
}

/// What [`lsuv_rescale_`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LsuvReport {
    /// How many times the weight was rescaled.
    pub iterations: usize,
    /// The last measured output variance.
    pub variance: f64,
    /// Whether that variance is within `tol` of 1.
    pub converged: bool,
}

/// Rescales `weight` in place (unrecorded) until `measure()`, the variance of
/// the layer's output on a batch computed with the current weight, is within
/// `config.tol` of 1: each round divides the weight by √variance. Errors if a
/// measurement is zero, negative or not finite, as no scale can fix that.
pub fn lsuv_rescale_<E: Element>(
    weight: &Tensor<E>,
    config: LsuvConfig,
    mut measure: impl FnMut() -> f64,
) -> Result<LsuvReport, InitError> {
    let mut iterations = 0;
    loop {
        let variance = measure();
        if !(variance.is_finite() && variance > 0.0) {
            return Err(InitError::Variance { variance });
        }
        let converged = (variance - 1.0).abs() < config.tol;
        if converged || iterations == config.max_iters {
            return Ok(LsuvReport { iterations, variance, converged });
        }
        let scale = E::of(1.0 / variance.sqrt());
        let scaled: Vec<E> = weight.to_vec().into_iter().map(|v| v * scale).collect();
        weight.assign(&Tensor::from_vec(scaled, weight.shape()));
        iterations += 1;
    }
}

/// The (population) variance of a tensor's elements, accumulated in `f64`:
/// the usual measurement for [`lsuv_rescale_`]. 0 for an empty tensor.
pub fn variance<E: Element>(t: &Tensor<E>) -> f64 {
    let v = t.to_f64_vec();
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n
}
