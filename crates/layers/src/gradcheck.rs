//! Gradient checks for whole modules: the analytic gradient of a random
//! projection of the output, with respect to the input and every parameter,
//! against central finite differences that perturb each value in place.

use crate::{Forward, ModuleExt};
use lamina_core::{no_grad, Generator, GradcheckOptions, Tensor};
use std::fmt;

/// The first value whose analytic and numeric derivatives disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleGradcheckFailure {
    /// `"input"` or the parameter's dotted name.
    pub tensor: String,
    /// The element (row-major position).
    pub index: usize,
    /// From backward.
    pub analytic: f64,
    /// From central differences.
    pub numeric: f64,
}

impl fmt::Display for ModuleGradcheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradcheck_module: d/d {}[{}]: analytic {:.10e}, numeric {:.10e}",
            self.tensor, self.index, self.analytic, self.numeric
        )
    }
}

impl std::error::Error for ModuleGradcheckFailure {}

/// Checks d<m(x), v>/d(x and every parameter) for a fixed random `v`, with
/// PyTorch's gradcheck tolerances. The module's parameter values are restored.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{gradcheck_module, Sequential};
/// gradcheck_module(&Sequential::<f64>::new(), &Tensor::ones(&[2, 3])).unwrap();
/// ```
pub fn gradcheck_module<M: Forward<f64>>(m: &M, x: &Tensor<f64>) -> Result<(), ModuleGradcheckFailure> {
    let opts = GradcheckOptions::default();
    let x = x.detach().requires_grad_(true);
    let params = m.named_parameters();
    let out_shape = no_grad(|| m.forward(&x)).shape().to_vec();
    let v = Tensor::<f64>::randn_with(&out_shape, &mut Generator::new(0x6d6f_6475));
    let objective = || (m.forward(&x) * &v).sum();
    for (_, p) in &params {
        p.zero_grad();
    }
    objective().backward();
    let mut tensors = vec![("input".to_owned(), x.clone())];
    tensors.extend(params.iter().filter(|(_, p)| p.requires_grad()).cloned());
    for (name, t) in &tensors {
        let analytic = t.grad().map_or_else(|| vec![0.0; t.numel()], |g| g.to_vec());
        t.zero_grad();
        for i in 0..t.numel() {
            let at = |delta: f64| {
                t.with_data_mut(|d| d[i] += delta);
                let y = no_grad(objective).item();
                t.with_data_mut(|d| d[i] -= delta);
                y
            };
            let numeric = (at(opts.eps) - at(-opts.eps)) / (2.0 * opts.eps);
            let ok = (analytic[i] - numeric).abs() <= opts.atol + opts.rtol * numeric.abs();
            if !ok {
                return Err(ModuleGradcheckFailure { tensor: name.clone(), index: i, analytic: analytic[i], numeric });
            }
        }
    }
    Ok(())
}
