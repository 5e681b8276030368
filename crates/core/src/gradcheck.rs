//! Finite-difference gradient checks, public so users check their own layers
//! and ops the way lamina checks its own.
//!
//! [`gradcheck`] compares every element of the analytic Jacobian (one backward
//! pass per output element) with central differences in `f64`;
//! [`gradgradcheck`] does the same for the Jacobian of the vector-Jacobian
//! product, i.e. second derivatives. Defaults are PyTorch's.

use crate::backward::{grad, GradOptions};
use crate::rng::Generator;
use crate::tape::no_grad;
use crate::Tensor;
use std::fmt;

/// Tolerances of a check: a pair passes when `|analytic - numeric| <= atol + rtol * |numeric|`.
#[derive(Clone, Copy, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step (PyTorch: 1e-6).
    pub eps: f64,
    /// Absolute tolerance (PyTorch: 1e-5).
    pub atol: f64,
    /// Relative tolerance (PyTorch: 1e-3).
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-6, atol: 1e-5, rtol: 1e-3 }
    }
}

/// The first Jacobian element where analytic and numeric derivatives disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckFailure {
    /// Which input (position in the inputs slice).
    pub input: usize,
    /// The element of that input (multi-index).
    pub index: Vec<usize>,
    /// Which output.
    pub output: usize,
    /// The element of that output (multi-index).
    pub output_index: Vec<usize>,
    /// d output / d input from backward.
    pub analytic: f64,
    /// The same from central differences.
    pub numeric: f64,
    /// `|analytic - numeric|`.
    pub error: f64,
}

impl fmt::Display for GradcheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradcheck: d output {} {:?} / d input {} {:?}: analytic {:.10e}, numeric {:.10e}, error {:.3e}",
            self.output, self.output_index, self.input, self.index, self.analytic, self.numeric, self.error
        )
    }
}

impl std::error::Error for GradcheckFailure {}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

fn leaves(values: &[Vec<f64>], shapes: &[Vec<usize>]) -> Vec<Tensor<f64>> {
    values.iter().zip(shapes).map(|(v, s)| Tensor::from_vec(v.clone(), s).requires_grad_(true)).collect()
}

/// Checks the Jacobian of a multi-output function. See [`gradcheck`].
pub fn gradcheck_outputs(
    f: impl Fn(&[Tensor<f64>]) -> Vec<Tensor<f64>>,
    inputs: &[Tensor<f64>],
    opts: GradcheckOptions,
) -> Result<(), GradcheckFailure> {
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let values: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_vec()).collect();
    // Evaluated with recording on: `f` may itself differentiate (gradgradcheck).
    let eval = |vals: &[Vec<f64>]| -> Vec<f64> { f(&leaves(vals, &shapes)).iter().flat_map(|o| o.to_vec()).collect() };
    // Numeric Jacobian, one column per input element.
    let mut numeric: Vec<Vec<Vec<f64>>> = Vec::new(); // [input][element][output element]
    for i in 0..values.len() {
        let mut cols = Vec::new();
        for j in 0..values[i].len() {
            let mut v = values.to_vec();
            v[i][j] = values[i][j] + opts.eps;
            let plus = eval(&v);
            v[i][j] = values[i][j] - opts.eps;
            let minus = eval(&v);
            cols.push(plus.iter().zip(&minus).map(|(p, m)| (p - m) / (2.0 * opts.eps)).collect());
        }
        numeric.push(cols);
    }
    // Analytic Jacobian, one row per output element.
    let xs = leaves(&values, &shapes);
    let outs = f(&xs);
    let out_refs: Vec<&Tensor<f64>> = outs.iter().collect();
    let x_refs: Vec<&Tensor<f64>> = xs.iter().collect();
    let mut row = 0;
    for (o, out) in outs.iter().enumerate() {
        for e in 0..out.numel() {
            let seeds: Vec<Tensor<f64>> = outs
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    let mut d = vec![0.0; t.numel()];
                    if k == o {
                        d[e] = 1.0;
                    }
                    Tensor::from_vec(d, t.shape())
                })
                .collect();
            let seed_refs: Vec<&Tensor<f64>> = seeds.iter().collect();
            let grads = if out.requires_grad() {
                let differentiable: Vec<usize> = (0..outs.len()).filter(|&k| outs[k].requires_grad()).collect();
                let outs_d: Vec<&Tensor<f64>> = differentiable.iter().map(|&k| out_refs[k]).collect();
                let seeds_d: Vec<&Tensor<f64>> = differentiable.iter().map(|&k| seed_refs[k]).collect();
                let opts = GradOptions { retain_graph: true, create_graph: false, allow_unused: true };
                grad(&outs_d, &x_refs, Some(&seeds_d), opts).expect("gradcheck: backward failed")
            } else {
                vec![None; xs.len()]
            };
            for (i, g) in grads.iter().enumerate() {
                let analytic = g.as_ref().map_or_else(|| vec![0.0; values[i].len()], |g| g.to_vec());
                for j in 0..values[i].len() {
                    let (a, n) = (analytic[j], numeric[i][j][row]);
                    let error = (a - n).abs();
                    // NaN on either side fails too.
                    let ok = error <= opts.atol + opts.rtol * n.abs();
                    if !ok {
                        return Err(GradcheckFailure {
                            input: i,
                            index: unravel(j, &shapes[i]),
                            output: o,
                            output_index: unravel(e, out.shape()),
                            analytic: a,
                            numeric: n,
                            error,
                        });
                    }
                }
            }
            row += 1;
        }
    }
    Ok(())
}

/// Checks every element of the Jacobian of `f` at `inputs` against central
/// finite differences, with PyTorch's defaults (eps 1e-6, atol 1e-5, rtol 1e-3).
///
/// ```
/// use lamina_core::{gradcheck, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.3, -1.2, 2.0], &[3]);
/// gradcheck(|xs| xs[0].tanh().mul(&xs[0]), &[x]).unwrap();
/// ```
pub fn gradcheck(f: impl Fn(&[Tensor<f64>]) -> Tensor<f64>, inputs: &[Tensor<f64>]) -> Result<(), GradcheckFailure> {
    gradcheck_outputs(|xs| vec![f(xs)], inputs, GradcheckOptions::default())
}

/// [`gradcheck`] with explicit tolerances.
pub fn gradcheck_with(
    f: impl Fn(&[Tensor<f64>]) -> Tensor<f64>,
    inputs: &[Tensor<f64>],
    opts: GradcheckOptions,
) -> Result<(), GradcheckFailure> {
    gradcheck_outputs(|xs| vec![f(xs)], inputs, opts)
}

/// Checks second derivatives: the Jacobian of `(inputs, v) -> vᵀ J_f(inputs)`
/// (the gradient built with `create_graph`) against finite differences, for a
/// fixed random upstream `v`. Input `inputs.len()` of a failure is `v`.
///
/// ```
/// use lamina_core::{gradgradcheck, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.3, -1.2], &[2]);
/// gradgradcheck(|xs| xs[0].tanh(), &[x]).unwrap();
/// ```
pub fn gradgradcheck(
    f: impl Fn(&[Tensor<f64>]) -> Tensor<f64>,
    inputs: &[Tensor<f64>],
) -> Result<(), GradcheckFailure> {
    gradgradcheck_with(f, inputs, GradcheckOptions::default())
}

/// [`gradgradcheck`] with explicit tolerances.
pub fn gradgradcheck_with(
    f: impl Fn(&[Tensor<f64>]) -> Tensor<f64>,
    inputs: &[Tensor<f64>],
    opts: GradcheckOptions,
) -> Result<(), GradcheckFailure> {
    let n = inputs.len();
    let out_shape = no_grad(|| f(inputs)).shape().to_vec();
    let v = Tensor::<f64>::randn_with(&out_shape, &mut Generator::new(0x6772_6164));
    let mut all: Vec<Tensor<f64>> = inputs.to_vec();
    all.push(v);
    gradcheck_outputs(
        |xs| {
            let y = f(&xs[..n]);
            if !y.requires_grad() {
                return xs[..n].iter().map(|x| x.zeros_like()).collect();
            }
            let refs: Vec<&Tensor<f64>> = xs[..n].iter().collect();
            let grads =
                grad(&[&y], &refs, Some(&[&xs[n]]), GradOptions { allow_unused: true, ..GradOptions::create_graph() })
                    .expect("gradgradcheck: backward failed");
            grads.into_iter().zip(&xs[..n]).map(|(g, x)| g.unwrap_or_else(|| x.zeros_like())).collect()
        },
        &all,
        opts,
    )
}
