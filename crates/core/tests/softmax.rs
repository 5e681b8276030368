//! softmax, log_softmax, cross_entropy and nll_loss: hand-computed values,
//! PyTorch conformance cases, and first and second derivatives checked
//! against finite differences.

use crate::nn_support;

use lamina_core::testing::{shape, tensor};
use lamina_core::{
    cross_entropy, gradcheck, gradgradcheck, nll_loss, CrossEntropyOptions, IndexTensor, NllLossOptions, Reduction,
    Tensor,
};
use nn_support::{assert_close, panics_with, t, Case};
use proptest::prelude::*;

fn ln(x: f64) -> f64 {
    x.ln()
}

// ------------------------------------------------------------------ values

#[test]
fn softmax_of_log_weights_gives_the_weights() {
    let x = t(&[ln(1.0), ln(2.0), ln(3.0), ln(4.0)], &[4]);
    assert_close(&x.softmax(0).to_vec(), &[0.1, 0.2, 0.3, 0.4], 1e-15);
    assert_close(&x.log_softmax(-1).to_vec(), &[ln(0.1), ln(0.2), ln(0.3), ln(0.4)], 1e-15);
}

#[test]
fn softmax_runs_along_the_chosen_dim() {
    // Columns of [[0, ln 3], [ln 3, 0]] along dim 0: [1/4, 3/4] and [3/4, 1/4].
    let x = t(&[0.0, ln(3.0), ln(3.0), 0.0], &[2, 2]);
    assert_close(&x.softmax(0).to_vec(), &[0.25, 0.75, 0.75, 0.25], 1e-15);
    // Rows along dim 1 give the same numbers transposed.
    assert_close(&x.softmax(1).to_vec(), &[0.25, 0.75, 0.75, 0.25], 1e-15);
    // A middle dim of a 3-d tensor: [1, 2, 2] along dim 1 is the dim-0 case above.
    assert_close(&x.reshape(&[1, 2, 2]).softmax(1).to_vec(), &[0.25, 0.75, 0.75, 0.25], 1e-15);
}

#[test]
fn huge_logits_stay_finite() {
    let x = t(&[1000.0, 1000.0 + ln(3.0), -1000.0, 0.0], &[2, 2]);
    let y = x.softmax(1).to_vec();
    assert_close(&y[..2], &[0.25, 0.75], 1e-12);
    assert_eq!(&y[2..], &[0.0, 1.0]);
    let l = x.log_softmax(1).to_vec();
    assert_close(&l, &[ln(0.25), ln(0.75), -1000.0, 0.0], 1e-12);
}

#[test]
fn softmax_of_a_scalar_is_one() {
    let x = Tensor::<f64>::scalar(5.0);
    assert_eq!(x.softmax(0).to_vec(), vec![1.0]);
    assert_eq!(x.log_softmax(-1).to_vec(), vec![0.0]);
    assert!(x.softmax(0).shape().is_empty());
}

#[test]
fn cross_entropy_of_uniform_logits_is_log_c() {
    let x = Tensor::<f64>::zeros(&[2, 3]);
    let y = IndexTensor::from_vec(vec![1, 2], &[2]);
    let loss = cross_entropy(&x, &y, &CrossEntropyOptions::default());
    assert!(loss.shape().is_empty());
    assert_close(&[loss.item()], &[ln(3.0)], 1e-15);
}

#[test]
fn class_weights_divide_the_mean_by_the_weights_of_non_ignored_targets() {
    // Row 0: logits [0, 0], target 0: nll ln 2.  Row 1: [0, ln 3], target 1:
    // p = 3/4, nll ln(4/3).  Row 2 is ignored.  Weights [2, 1].
    let x = t(&[0.0, 0.0, 0.0, ln(3.0), 5.0, -5.0], &[3, 2]);
    let y = IndexTensor::from_vec(vec![0, 1, 7], &[3]);
    let w = t(&[2.0, 1.0], &[2]);
    let opts = CrossEntropyOptions { weight: Some(w.clone()), ignore_index: 7, ..Default::default() };
    let none = cross_entropy(&x, &y, &CrossEntropyOptions { reduction: Reduction::None, ..opts.clone() });
    assert_close(&none.to_vec(), &[2.0 * ln(2.0), ln(4.0 / 3.0), 0.0], 1e-15);
    let sum = cross_entropy(&x, &y, &CrossEntropyOptions { reduction: Reduction::Sum, ..opts.clone() });
    assert_close(&[sum.item()], &[2.0 * ln(2.0) + ln(4.0 / 3.0)], 1e-15);
    let mean = cross_entropy(&x, &y, &opts);
    assert_close(&[mean.item()], &[(2.0 * ln(2.0) + ln(4.0 / 3.0)) / 3.0], 1e-15);
    // nll_loss of the log-probabilities agrees.
    let nll =
        nll_loss(&x.log_softmax(1), &y, &NllLossOptions { weight: Some(w), ignore_index: 7, ..Default::default() });
    assert_close(&[nll.item()], &[mean.item()], 1e-15);
}

#[test]
fn label_smoothing_mixes_in_the_uniform_distribution() {
    // logits [0, ln 3]: log p = [ln 1/4, ln 3/4]; target 0; s = 0.2, C = 2:
    // 0.8 * ln 4 + 0.1 * (ln 4 + ln 4/3).
    let x = t(&[0.0, ln(3.0)], &[1, 2]);
    let y = IndexTensor::from_vec(vec![0], &[1]);
    let opts = CrossEntropyOptions { label_smoothing: 0.2, ..Default::default() };
    let want = 0.8 * ln(4.0) + 0.1 * (ln(4.0) + ln(4.0 / 3.0));
    assert_close(&[cross_entropy(&x, &y, &opts).item()], &[want], 1e-15);
    // The same as probability targets [0.9, 0.1] without smoothing.
    let p = t(&[0.9, 0.1], &[1, 2]);
    assert_close(&[cross_entropy(&x, &p, &CrossEntropyOptions::default()).item()], &[want], 1e-15);
    // With class weights, the smoothing term weights each class.
    let w = t(&[2.0, 0.5], &[2]);
    let opts = CrossEntropyOptions { weight: Some(w), label_smoothing: 0.2, ..Default::default() };
    let sum = 0.8 * 2.0 * ln(4.0) + 0.1 * (2.0 * ln(4.0) + 0.5 * ln(4.0 / 3.0));
    // Mean divides by w[target] = 2.
    assert_close(&[cross_entropy(&x, &y, &opts).item()], &[sum / 2.0], 1e-15);
}

#[test]
fn probability_targets_average_over_samples() {
    // Two samples, C = 2; mean divides by N = 2.
    let x = t(&[0.0, ln(3.0), 0.0, 0.0], &[2, 2]);
    let p = t(&[0.5, 0.5, 1.0, 0.0], &[2, 2]);
    let l0 = -(0.5 * ln(0.25) + 0.5 * ln(0.75));
    let l1 = ln(2.0);
    let loss = cross_entropy(&x, &p, &CrossEntropyOptions::default());
    assert_close(&[loss.item()], &[(l0 + l1) / 2.0], 1e-15);
    let none = cross_entropy(&x, &p, &CrossEntropyOptions { reduction: Reduction::None, ..Default::default() });
    assert_close(&none.to_vec(), &[l0, l1], 1e-15);
}

#[test]
fn unbatched_and_spatial_inputs() {
    let x = t(&[0.0, ln(3.0)], &[2]);
    let y = IndexTensor::from_vec(vec![1], &[]);
    let loss = cross_entropy(&x, &y, &CrossEntropyOptions { reduction: Reduction::None, ..Default::default() });
    assert!(loss.shape().is_empty());
    assert_close(&[loss.item()], &[ln(4.0 / 3.0)], 1e-15);
    // [N, C, d]: class dim 1; equals the [N*d, C] computation.
    let x = t(&[0.0, 1.0, 2.0, ln(3.0), -1.0, 0.5, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0], &[2, 2, 3]);
    let y = IndexTensor::from_vec(vec![0, 1, 1, 1, 0, 0], &[2, 3]);
    let flat = x.permute(&[0, 2, 1]).reshape(&[6, 2]);
    let yf = IndexTensor::from_vec(y.to_vec(), &[6]);
    let none = CrossEntropyOptions { reduction: Reduction::None, ..Default::default() };
    let a = cross_entropy(&x, &y, &none);
    assert_eq!(a.shape(), &[2, 3]);
    assert_close(&a.to_vec(), &cross_entropy(&flat, &yf, &none).to_vec(), 1e-15);
}

#[test]
fn nll_loss_picks_the_target_log_probability() {
    let lp = t(&[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0], &[2, 3]);
    let y = IndexTensor::from_vec(vec![2, 0], &[2]);
    let none = nll_loss(&lp, &y, &NllLossOptions { reduction: Reduction::None, ..Default::default() });
    assert_eq!(none.to_vec(), vec![3.0, 4.0]);
    assert_eq!(nll_loss(&lp, &y, &NllLossOptions::default()).item(), 3.5);
    // Every target ignored: the weighted mean is 0 / 0, as in PyTorch.
    let all = IndexTensor::from_vec(vec![-100, -100], &[2]);
    assert!(nll_loss(&lp, &all, &NllLossOptions::default()).item().is_nan());
}

#[test]
fn cross_entropy_gradient_is_softmax_minus_onehot() {
    let x = t(&[0.0, ln(3.0)], &[1, 2]).requires_grad_(true);
    let y = IndexTensor::from_vec(vec![0], &[1]);
    cross_entropy(&x, &y, &CrossEntropyOptions::default()).backward();
    assert_close(&x.grad().unwrap().to_vec(), &[0.25 - 1.0, 0.75], 1e-15);
}

// ------------------------------------------------------------------ conformance

#[test]
fn softmax_conformance() {
    for (file, log) in [
        ("function__softmax_dim0", false),
        ("function__softmax_dim_last", false),
        ("function__log_softmax_dim0", true),
        ("function__log_softmax_dim_last", true),
        ("module__Softmax_dim1", false),
        ("module__LogSoftmax_dim_last", true),
    ] {
        let c = Case::load(file);
        let dim = c.config()["dim"].as_i64().expect("dim") as isize;
        let x = c.input(0);
        let y = if log { x.log_softmax(dim) } else { x.softmax(dim) };
        c.check(&[y], &[(0, &x)], &[]);
    }
}

fn reduction(c: &Case) -> Reduction {
    match c.config()["reduction"].as_str().unwrap_or("mean") {
        "none" => Reduction::None,
        "sum" => Reduction::Sum,
        _ => Reduction::Mean,
    }
}

#[test]
fn cross_entropy_conformance() {
    for file in [
        "function__cross_entropy_mean",
        "function__cross_entropy_class_weight",
        "function__cross_entropy_ignore_index",
        "function__cross_entropy_label_smoothing",
    ] {
        let c = Case::load(file);
        let x = c.input(0);
        let opts = CrossEntropyOptions {
            weight: c.kwarg("weight"),
            ignore_index: c.config().get("ignore_index").and_then(|v| v.as_i64()).unwrap_or(-100),
            reduction: reduction(&c),
            label_smoothing: c.config().get("label_smoothing").and_then(|v| v.as_f64()).unwrap_or(0.0),
        };
        let loss = cross_entropy(&x, &c.index(1), &opts);
        c.check(&[loss], &[(0, &x)], &[]);
    }
    let c = Case::load("function__cross_entropy_probability_targets");
    let (x, p) = (c.input(0), c.input(1));
    let loss = cross_entropy(&x, &p, &CrossEntropyOptions::default());
    c.check(&[loss], &[(0, &x), (1, &p)], &[]);
}

#[test]
fn nll_loss_conformance() {
    let c = Case::load("function__nll_loss_mean");
    let x = c.input(0);
    let loss = nll_loss(&x, &c.index(1), &NllLossOptions::default());
    c.check(&[loss], &[(0, &x)], &[]);
}

#[test]
fn f32_matches_f64() {
    let x = Tensor::<f64>::from_vec((0..24).map(|i| ((i * 7) % 11) as f64 * 0.7 - 3.0).collect(), &[2, 3, 4]);
    let y = IndexTensor::from_vec(vec![0, 2, 1, 1, 2, 0, 0, 1], &[2, 4]);
    let opts = CrossEntropyOptions { label_smoothing: 0.1, reduction: Reduction::None, ..Default::default() };
    let want = cross_entropy(&x, &y, &opts).to_vec();
    let got = cross_entropy(
        &x.cast::<f32>(),
        &y,
        &CrossEntropyOptions { label_smoothing: 0.1, reduction: Reduction::None, ..Default::default() },
    );
    assert_close(&got.cast::<f64>().to_vec(), &want, 1e-5);
    assert_close(&x.cast::<f32>().softmax(1).cast::<f64>().to_vec(), &x.softmax(1).to_vec(), 1e-6);
}

// ------------------------------------------------------------------ errors

#[test]
fn errors_name_the_op_shapes_and_caller() {
    panics_with(|| drop(Tensor::<f64>::zeros(&[2, 3]).softmax(2)), &["softmax", "[2, 3]", "tests/softmax.rs"]);
    let x = Tensor::<f64>::zeros(&[2, 3]);
    let bad = IndexTensor::from_vec(vec![0, 3], &[2]);
    panics_with(
        || drop(cross_entropy(&x, &bad, &CrossEntropyOptions::default())),
        &["cross_entropy", "target 3", "[2, 3]", "tests/softmax.rs"],
    );
    let short = IndexTensor::from_vec(vec![0], &[1]);
    panics_with(
        || drop(nll_loss(&x, &short, &NllLossOptions::default())),
        &["nll_loss", "[2, 3]", "[1]", "tests/softmax.rs"],
    );
    let w = Tensor::<f64>::ones(&[2]);
    let y = IndexTensor::from_vec(vec![0, 1], &[2]);
    panics_with(
        || drop(cross_entropy(&x, &y, &CrossEntropyOptions { weight: Some(w), ..Default::default() })),
        &["cross_entropy", "weight", "[2]", "tests/softmax.rs"],
    );
}

// ------------------------------------------------------------------ derivatives

/// A shape of 1-3 dims with a dim index into it.
fn shape_and_dim() -> impl Strategy<Value = (Vec<usize>, isize)> {
    shape(1, 3, 4).prop_flat_map(|s| {
        let n = s.len() as isize;
        (Just(s), -n..n)
    })
}

/// Logits `[N, C, (d)]`, targets (some equal to `ignore`) and options.
#[derive(Debug, Clone)]
struct CeCase {
    x: Tensor<f64>,
    target: Vec<i64>,
    target_shape: Vec<usize>,
    weight: Option<Vec<f64>>,
    smoothing: f64,
    reduction: Reduction,
}

fn ce_case() -> impl Strategy<Value = CeCase> {
    (1usize..=3, 2usize..=4, prop_oneof![Just(None), (1usize..=3).prop_map(Some)])
        .prop_flat_map(|(n, c, d)| {
            let xs: Vec<usize> = match d {
                Some(d) => vec![n, c, d],
                None => vec![n, c],
            };
            let ts: Vec<usize> = xs.iter().enumerate().filter(|&(i, _)| i != 1).map(|(_, &s)| s).collect();
            let count: usize = ts.iter().product();
            (
                tensor(xs, -3.0, 3.0),
                proptest::collection::vec(-1i64..c as i64, count),
                Just(ts),
                prop_oneof![Just(None), proptest::collection::vec(0.2f64..2.0, c).prop_map(Some)],
                prop_oneof![Just(0.0), Just(0.1), Just(0.35)],
                prop_oneof![Just(Reduction::None), Just(Reduction::Mean), Just(Reduction::Sum)],
            )
        })
        .prop_map(|(x, mut target, target_shape, weight, smoothing, reduction)| {
            // One kept target at least: a mean over no targets is 0 / 0.
            target[0] = target[0].max(0);
            CeCase { x, target, target_shape, weight, smoothing, reduction }
        })
}

impl CeCase {
    fn opts(&self) -> CrossEntropyOptions<f64> {
        CrossEntropyOptions {
            weight: self.weight.as_ref().map(|w| t(w, &[w.len()])),
            ignore_index: -1,
            reduction: self.reduction,
            label_smoothing: self.smoothing,
        }
    }
    fn target(&self) -> IndexTensor {
        IndexTensor::from_vec(self.target.clone(), &self.target_shape)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn softmax_derivatives((s, dim) in shape_and_dim(), seed in 0u64..1000) {
        let x = Tensor::<f64>::randn_with(&s, &mut lamina_core::Generator::new(seed));
        // Applied to a transposed (non-contiguous) view.
        let f = |xs: &[Tensor<f64>]| xs[0].transpose(0, -1).softmax(dim);
        let g = |xs: &[Tensor<f64>]| xs[0].transpose(0, -1).log_softmax(dim);
        gradcheck(f, std::slice::from_ref(&x)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        gradgradcheck(f, std::slice::from_ref(&x)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        gradcheck(g, std::slice::from_ref(&x)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        gradgradcheck(g, &[x]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn softmax_rows_sum_to_one_and_match_log_softmax((s, dim) in shape_and_dim(), seed in 0u64..1000) {
        let x = Tensor::<f64>::randn_with(&s, &mut lamina_core::Generator::new(seed)).mul_scalar(5.0);
        let y = x.softmax(dim);
        let sums = y.sum_dims(&[dim], false).to_vec();
        prop_assert!(sums.iter().all(|v| (v - 1.0).abs() < 1e-12), "{sums:?}");
        let ly = x.log_softmax(dim).exp().to_vec();
        for (a, b) in ly.iter().zip(y.to_vec()) {
            prop_assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn cross_entropy_derivatives(case in ce_case()) {
        let (y, opts) = (case.target(), case.opts());
        let f = |xs: &[Tensor<f64>]| cross_entropy(&xs[0], &y, &opts);
        gradcheck(f, std::slice::from_ref(&case.x)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        gradgradcheck(f, std::slice::from_ref(&case.x)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let nopts = NllLossOptions { weight: opts.weight.clone(), ignore_index: -1, reduction: case.reduction };
        let g = |xs: &[Tensor<f64>]| nll_loss(&xs[0].log_softmax(1), &y, &nopts);
        gradgradcheck(g, std::slice::from_ref(&case.x)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn fused_cross_entropy_matches_its_definition(case in ce_case()) {
        // PyTorch's definition, composed from log_softmax and nll_loss.
        let (y, opts) = (case.target(), case.opts());
        let none = CrossEntropyOptions { reduction: Reduction::None, ..opts.clone() };
        let fused = cross_entropy(&case.x, &y, &none).to_vec();
        let lp = case.x.log_softmax(1).to_vec();
        let (c, s) = (case.x.shape()[1], case.smoothing);
        let inner: usize = case.x.shape()[2..].iter().product();
        let w = case.weight.clone().unwrap_or(vec![1.0; c]);
        for (pos, &tg) in case.target.iter().enumerate() {
            let (ni, j) = (pos / inner, pos % inner);
            let at = |k: usize| lp[(ni * c + k) * inner + j];
            let want = if tg < 0 { 0.0 } else {
                let smooth: f64 = (0..c).map(|k| -w[k] * at(k)).sum();
                (1.0 - s) * -w[tg as usize] * at(tg as usize) + s / c as f64 * smooth
            };
            prop_assert!((fused[pos] - want).abs() < 1e-12, "{pos}: {} vs {want}", fused[pos]);
        }
    }

    #[test]
    fn probability_target_derivatives(
        (x, p) in shape(2, 3, 3).prop_flat_map(|s| (tensor(s.clone(), -2.0, 2.0), tensor(s, 0.0, 1.0))),
        smoothing in prop_oneof![Just(0.0), Just(0.2)],
        weighted in any::<bool>(),
    ) {
        let c = x.shape()[1];
        let opts = CrossEntropyOptions {
            weight: weighted.then(|| Tensor::from_vec((0..c).map(|k| 0.5 + k as f64).collect(), &[c])),
            label_smoothing: smoothing,
            ..Default::default()
        };
        let f = |xs: &[Tensor<f64>]| cross_entropy(&xs[0], &xs[1], &opts);
        gradcheck(f, &[x.clone(), p.clone()]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        gradgradcheck(f, &[x, p]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
