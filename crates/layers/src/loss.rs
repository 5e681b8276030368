//! Loss functions with PyTorch's definitions and `reduction` semantics.
//! Cross-entropy and NLL are fused primitives of lamina-core, re-exported here.
//!
//! Every input is differentiable, targets included (as in PyTorch).

pub use lamina_core::{cross_entropy, nll_loss, ClassTarget, CrossEntropyOptions, NllLossOptions, Reduction};
use lamina_core::{Element, Tensor};

/// Applies a reduction to per-element losses.
pub fn reduce<E: Element>(loss: Tensor<E>, reduction: Reduction) -> Tensor<E> {
    match reduction {
        Reduction::None => loss,
        Reduction::Mean => loss.mean(),
        Reduction::Sum => loss.sum(),
    }
}

/// Mean squared error `(input - target)²`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::loss::{mse_loss, Reduction};
/// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2]);
/// assert_eq!(mse_loss(&x, &Tensor::zeros(&[2]), Reduction::Mean).item(), 5.0);
/// ```
#[track_caller]
pub fn mse_loss<E: Element>(input: &Tensor<E>, target: &Tensor<E>, reduction: Reduction) -> Tensor<E> {
    reduce((input - target).square(), reduction)
}

/// Mean absolute error `|input - target|`.
#[track_caller]
pub fn l1_loss<E: Element>(input: &Tensor<E>, target: &Tensor<E>, reduction: Reduction) -> Tensor<E> {
    reduce((input - target).abs(), reduction)
}

/// Quadratic below `threshold`, linear above: `q · 0.5 z²` or `l · (z - 0.5 threshold)`
/// for `z = |input - target|`, the shared shape of smooth L1 and Huber.
fn quadratic_then_linear<E: Element>(
    input: &Tensor<E>,
    target: &Tensor<E>,
    threshold: f64,
    q: f64,
    l: f64,
) -> Tensor<E> {
    let z = (input - target).abs();
    let quadratic = z.square() * E::of(0.5 * q);
    let linear = z.sub_scalar(E::of(0.5 * threshold)) * E::of(l);
    Tensor::where_(&z.lt_scalar(E::of(threshold)), &quadratic, &linear)
}

/// Smooth L1: `0.5 z² / beta` for `z < beta`, else `z - 0.5 beta` (`z = |input - target|`);
/// plain L1 when `beta` is 0.
#[track_caller]
pub fn smooth_l1_loss<E: Element>(input: &Tensor<E>, target: &Tensor<E>, reduction: Reduction, beta: f64) -> Tensor<E> {
    if beta == 0.0 {
        return l1_loss(input, target, reduction);
    }
    reduce(quadratic_then_linear(input, target, beta, 1.0 / beta, 1.0), reduction)
}

/// Huber: `0.5 z²` for `z < delta`, else `delta (z - 0.5 delta)`.
#[track_caller]
pub fn huber_loss<E: Element>(input: &Tensor<E>, target: &Tensor<E>, reduction: Reduction, delta: f64) -> Tensor<E> {
    reduce(quadratic_then_linear(input, target, delta, 1.0, delta), reduction)
}

/// Binary cross-entropy of probabilities: `-w (y log x + (1 - y) log(1 - x))`,
/// each log clamped at -100 as PyTorch does.
#[track_caller]
pub fn binary_cross_entropy<E: Element>(
    input: &Tensor<E>,
    target: &Tensor<E>,
    weight: Option<&Tensor<E>>,
    reduction: Reduction,
) -> Tensor<E> {
    let floor = Some(E::of(-100.0));
    let log_x = input.log().clamp(floor, None);
    let log_1mx = input.rsub_scalar(E::one()).log().clamp(floor, None);
    let loss = -(target * &log_x + target.rsub_scalar(E::one()) * log_1mx);
    reduce(weighted(loss, weight), reduction)
}

/// Binary cross-entropy on logits, numerically stable:
/// `(1 - y) x + (1 + (p - 1) y) softplus(-x)` with `pos_weight` p (1 when absent),
/// times `weight`.
#[track_caller]
pub fn binary_cross_entropy_with_logits<E: Element>(
    input: &Tensor<E>,
    target: &Tensor<E>,
    weight: Option<&Tensor<E>>,
    pos_weight: Option<&Tensor<E>>,
    reduction: Reduction,
) -> Tensor<E> {
    // softplus(-x) = max(-x, 0) + log1p(e^-|x|), without overflow.
    let softplus_neg = input.neg().relu() + input.abs().neg().exp().log1p();
    let log_weight = match pos_weight {
        Some(p) => (target * &p.sub_scalar(E::one())).add_scalar(E::one()),
        None => target.ones_like(),
    };
    let loss = target.rsub_scalar(E::one()) * input + log_weight * softplus_neg;
    reduce(weighted(loss, weight), reduction)
}

fn weighted<E: Element>(loss: Tensor<E>, weight: Option<&Tensor<E>>) -> Tensor<E> {
    match weight {
        Some(w) => loss * w,
        None => loss,
    }
}

/// How [`kl_div`] reduces: PyTorch's reductions plus `batchmean` (sum / batch size),
/// the one that matches the mathematical definition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KlReduction {
    /// Per-element values.
    None,
    /// Mean over all elements (PyTorch's default, which is not the KL divergence).
    #[default]
    Mean,
    /// Sum.
    Sum,
    /// Sum divided by the first dimension.
    BatchMean,
}

/// Kullback–Leibler divergence `target · (log target - input)` with `input` given
/// as log-probabilities; `log_target` when the target is given as log-probabilities too.
/// `0 · log 0` is taken as 0.
#[track_caller]
pub fn kl_div<E: Element>(
    input: &Tensor<E>,
    target: &Tensor<E>,
    reduction: KlReduction,
    log_target: bool,
) -> Tensor<E> {
    let pointwise = if log_target {
        target.exp() * (target - input)
    } else {
        // xlogy(t, t): log of 1 where t = 0, so neither value nor gradient is NaN.
        let positive = target.gt_scalar(E::zero());
        let safe = Tensor::where_(&positive, target, &target.ones_like());
        target * &safe.log() - target * input
    };
    match reduction {
        KlReduction::None => pointwise,
        KlReduction::Mean => pointwise.mean(),
        KlReduction::Sum => pointwise.sum(),
        KlReduction::BatchMean => pointwise.sum().div_scalar(E::of(input.shape().first().copied().unwrap_or(1) as f64)),
    }
}
