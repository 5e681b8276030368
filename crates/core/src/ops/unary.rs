//! Element-wise unary ops and activations. Each derivative is stated in one
//! line where it is not obvious, and follows PyTorch's convention at kinks.
//!
//! Forward values are one pass of [`map`]. A backward is `g · f'(·)`: when it
//! is not itself being recorded (the usual `backward`), `Tensor::unary`
//! computes it in one fused kernel; under `create_graph` it is built from
//! differentiable ops instead, so gradients of gradients work. Both forms use
//! the same formula (PyTorch's), and the tests check that they agree.

use crate::kernels::{map, zip};
use crate::math;
use crate::tape::is_grad_enabled;
use crate::tensor::at;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, SQRT_2};
use std::panic::Location;
use std::sync::OnceLock;

/// SELU's `alpha` and `scale` (Klambauer et al., as in PyTorch).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
/// `sqrt(2/pi)` written as PyTorch's GELU kernels compute it.
const GELU_TANH_BETA: f64 = SQRT_2 * FRAC_2_SQRT_PI * 0.5;
const GELU_TANH_KAPPA: f64 = 0.044715;
/// `1/sqrt(2 pi)`, the standard normal density at 0, as PyTorch computes it.
const GELU_PDF_COEF: f64 = FRAC_2_SQRT_PI * FRAC_1_SQRT_2 * 0.5;

/// The error function in `f64` by a slow, accurate method (absolute error
/// about 1e-15), used to build [`erf_table`]. For `|x| < 2.5` it sums
/// `erf(x) = 2/sqrt(pi) e^(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1))`, whose
/// terms are all positive (no cancellation; at most 38 terms); above, it
/// evaluates the continued fraction
/// `erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`
/// at a fixed depth of 28 from the bottom up.
fn erf_reference(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 2.5 {
        let a2 = a * a;
        let (mut term, mut sum, mut odd) = (a, a, 1.0);
        while term > sum * 1e-17 {
            odd += 2.0;
            term *= 2.0 * a2 / odd;
            sum += term;
        }
        FRAC_2_SQRT_PI * (-a2).exp() * sum
    } else {
        let mut v = a;
        for k in (1..=28).rev() {
            v = a + 0.5 * f64::from(k) / v;
        }
        1.0 - 0.5 * FRAC_2_SQRT_PI * (-a * a).exp() / v
    };
    r.copysign(x)
}

/// Width of the panels of [`erf_table`].
const ERF_PANEL: f64 = 0.25;
/// Panels cover `[0, 6)`; from 6 on, erf is 1 to within half an ulp.
const ERF_PANELS: usize = 24;
/// Polynomial coefficients of erf per panel, lowest degree first.
type ErfTable = [[f64; 13]; ERF_PANELS];

/// Panel 0 holds the odd Maclaurin series `erf(x) = x sum_n a_n x^(2n)`
/// (10 terms; relatively accurate near 0). Panel `k >= 1` holds the Taylor
/// polynomial of degree 12 around its midpoint `m`: `c_0 = erf(m)` and
/// `c_j = 2/sqrt(pi) e^(-m^2) (-1)^(j-1) H_(j-1)(m) / j!`, with the Hermite
/// polynomials `H_n` by their recurrence (scaled by `1/n!`). With
/// `|x - m| <= 1/8` the truncation error is below 3e-16. Built once.
fn erf_table() -> &'static ErfTable {
    static TABLE: OnceLock<ErfTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [[0.0; 13]; ERF_PANELS];
        let mut factorial = 1.0;
        for n in 0..10 {
            if n > 0 {
                factorial *= n as f64;
            }
            let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
            t[0][n] = sign * FRAC_2_SQRT_PI / (factorial * (2 * n + 1) as f64);
        }
        for (k, row) in t.iter_mut().enumerate().skip(1) {
            let m = (k as f64 + 0.5) * ERF_PANEL;
            row[0] = erf_reference(m);
            let scale = FRAC_2_SQRT_PI * (-m * m).exp();
            // h_n = H_n(m) / n!: h_(n+1) = (2m h_n - 2 h_(n-1)) / (n + 1).
            let (mut prev, mut h) = (0.0, 1.0);
            for (j, c) in row.iter_mut().enumerate().skip(1) {
                let sign = if j % 2 == 1 { 1.0 } else { -1.0 };
                *c = scale * sign * h / j as f64;
                (prev, h) = (h, (2.0 * m * h - 2.0 * prev) / j as f64);
            }
        }
        t
    })
}

/// The error function in `f64`, with absolute error below 1e-14 (about 1e-15
/// in practice) and relative accuracy near 0: one fixed-degree polynomial
/// from [`erf_table`], so it is fast and branch-light.
pub(crate) fn erf_f64(x: f64) -> f64 {
    let a = x.abs();
    if a.is_nan() {
        return x;
    }
    if a >= 6.0 {
        return 1f64.copysign(x);
    }
    let (row, v) = if a < ERF_PANEL {
        (0, a * a)
    } else {
        let k = (a * (1.0 / ERF_PANEL)) as usize;
        (k, a - (k as f64 + 0.5) * ERF_PANEL)
    };
    let p = erf_table()[row].iter().rev().fold(0.0, |acc, &c| acc * v + c);
    (if row == 0 { p * a } else { p }).copysign(x)
}

fn erf<E: Element>(x: E) -> E {
    E::of(erf_f64(x.f64()))
}

/// What an op's derivative reads: its input or its own (saved) output.
#[derive(Clone, Copy)]
enum Reads {
    Input,
    Output,
}

/// 1, -1 or 0 by the sign of `a` (0 for 0 and NaN).
fn sign_of<E: Element>(a: E) -> E {
    if a > E::zero() {
        E::one()
    } else if a < E::zero() {
        -E::one()
    } else {
        E::zero()
    }
}

/// `min(max(a, lo), hi)`, propagating NaN like `torch.clamp`.
fn clamp_value<E: Element>(a: E, lo: E, hi: E) -> E {
    if a.is_nan() {
        a
    } else {
        a.max(lo).min(hi)
    }
}

impl<E: Element> Tensor<E> {
    /// Records `map(self, f)` as op `name`. Its gradient is `fused(g, s)`
    /// element-wise, where `s` is what the derivative `reads`: one fused
    /// kernel when the backward is not recorded; under `create_graph`,
    /// `composite(g, s)`, the same formula in differentiable ops.
    #[track_caller]
    fn unary(
        &self,
        name: &'static str,
        f: impl Fn(E) -> E + Sync,
        reads: Reads,
        fused: impl Fn(E, E) -> E + Send + Sync + 'static,
        composite: impl Fn(&Tensor<E>, &Tensor<E>) -> Tensor<E> + Send + Sync + 'static,
    ) -> Tensor<E> {
        let out = map(self, f);
        let saved = match reads {
            Reads::Input => self.clone(),
            Reads::Output => out.detach(),
        };
        out.record(name, &[self], move |c, g| {
            let s = match reads {
                Reads::Input => saved.clone(),
                Reads::Output => c.output(&saved),
            };
            let d = if is_grad_enabled() && (g.requires_grad() || s.requires_grad()) {
                composite(g, &s)
            } else {
                zip("backward", g, &s, &fused)
            };
            smallvec![Some(d)]
        })
    }

    /// [`unary`](Self::unary) for a derivative `d(x)` that is piecewise
    /// constant, so it has no derivative of its own (only `g` carries
    /// second-order gradient).
    #[track_caller]
    fn unary_piecewise(
        &self,
        name: &'static str,
        f: impl Fn(E) -> E + Sync,
        d: impl Fn(E) -> E + Copy + Send + Sync + 'static,
    ) -> Tensor<E> {
        self.unary(name, f, Reads::Input, move |g, a| g * d(a), move |g, x| g.mul(&map(x, d)))
    }

    /// `-self`.
    #[track_caller]
    pub fn neg(&self) -> Tensor<E> {
        map(self, |a| -a).record("neg", &[self], |_, g| smallvec![Some(g.neg())])
    }

    /// `e^self`. d = e^self (the saved output).
    #[track_caller]
    pub fn exp(&self) -> Tensor<E> {
        self.unary("exp", math::exp, Reads::Output, |g, y| g * y, |g, y| g.mul(y))
    }

    /// `e^self - 1`, accurate near 0. d = output + 1.
    #[track_caller]
    pub fn expm1(&self) -> Tensor<E> {
        self.unary("expm1", E::exp_m1, Reads::Output, |g, y| g * (y + E::one()), |g, y| g.mul(&y.add_scalar(E::one())))
    }

    /// Natural logarithm. d = 1 / self.
    #[track_caller]
    pub fn log(&self) -> Tensor<E> {
        self.unary("log", E::ln, Reads::Input, |g, a| g / a, |g, x| g.div(x))
    }

    /// `ln(1 + self)`, accurate near 0. d = 1 / (1 + self).
    #[track_caller]
    pub fn log1p(&self) -> Tensor<E> {
        self.unary("log1p", E::ln_1p, Reads::Input, |g, a| g / (a + E::one()), |g, x| g.div(&x.add_scalar(E::one())))
    }

    /// Square root. d = 1 / (2 · output).
    #[track_caller]
    pub fn sqrt(&self) -> Tensor<E> {
        let two = E::of(2.0);
        self.unary("sqrt", E::sqrt, Reads::Output, move |g, y| g / (two * y), move |g, y| g.div(&y.mul_scalar(two)))
    }

    /// `1 / sqrt(self)`. d = -output³ / 2.
    #[track_caller]
    pub fn rsqrt(&self) -> Tensor<E> {
        let h = E::of(-0.5);
        self.unary(
            "rsqrt",
            |a| E::one() / a.sqrt(),
            Reads::Output,
            move |g, y| h * g * (y * y * y),
            move |g, y| g.mul(&y.pow_scalar(E::of(3.0))).mul_scalar(h),
        )
    }

    /// `1 / self`. d = -output².
    #[track_caller]
    pub fn reciprocal(&self) -> Tensor<E> {
        self.unary("reciprocal", E::recip, Reads::Output, |g, y| -g * (y * y), |g, y| g.mul(&y.square()).neg())
    }

    /// `self^p` for a scalar exponent. d = p · self^(p-1) (0 when p = 0).
    #[track_caller]
    pub fn pow_scalar(&self, p: E) -> Tensor<E> {
        let zero = p == E::zero();
        self.unary(
            "pow_scalar",
            move |a| a.powf(p),
            Reads::Input,
            move |g, a| if zero { E::zero() } else { g * (p * a.powf(p - E::one())) },
            move |g, x| if zero { g.zeros_like() } else { g.mul(&x.pow_scalar(p - E::one()).mul_scalar(p)) },
        )
    }

    /// `self²`. d = 2·self.
    #[track_caller]
    pub fn square(&self) -> Tensor<E> {
        let two = E::of(2.0);
        self.unary("square", |a| a * a, Reads::Input, move |g, a| g * (two * a), move |g, x| g.mul(x).mul_scalar(two))
    }

    /// `|self|`. d = sign(self), 0 at 0 (as PyTorch).
    #[track_caller]
    pub fn abs(&self) -> Tensor<E> {
        self.unary_piecewise("abs", E::abs, sign_of)
    }

    /// -1, 0 or 1 by the sign of each element (0 for NaN). Its gradient is zero.
    #[track_caller]
    pub fn sign(&self) -> Tensor<E> {
        map(self, sign_of).record("sign", &[self], |_, g| smallvec![Some(g.zeros_like())])
    }

    /// Sine. d = cos.
    #[track_caller]
    pub fn sin(&self) -> Tensor<E> {
        self.unary("sin", E::sin, Reads::Input, |g, a| g * a.cos(), |g, x| g.mul(&x.cos()))
    }

    /// Cosine. d = -sin.
    #[track_caller]
    pub fn cos(&self) -> Tensor<E> {
        self.unary("cos", E::cos, Reads::Input, |g, a| g * -a.sin(), |g, x| g.mul(&x.sin()).neg())
    }

    /// Hyperbolic tangent. d = 1 - output².
    #[track_caller]
    pub fn tanh(&self) -> Tensor<E> {
        self.unary(
            "tanh",
            math::tanh,
            Reads::Output,
            |g, y| g * (E::one() - y * y),
            |g, y| g.mul(&y.square().rsub_scalar(E::one())),
        )
    }

    /// Logistic sigmoid `1 / (1 + e^-self)`. d = output · (1 - output).
    #[track_caller]
    pub fn sigmoid(&self) -> Tensor<E> {
        self.unary(
            "sigmoid",
            math::sigmoid,
            Reads::Output,
            |g, y| g * (E::one() - y) * y,
            |g, y| g.mul(&y.rsub_scalar(E::one()).mul(y)),
        )
    }

    /// The error function. d = 2/sqrt(pi) · e^(-self²).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![0.0, 1.0, -2.0], &[3]).erf().to_vec();
    /// assert!((y[1] - 0.842_700_792_949_714_9).abs() < 1e-15);
    /// assert!((y[2] + 0.995_322_265_018_952_7).abs() < 1e-15);
    /// ```
    #[track_caller]
    pub fn erf(&self) -> Tensor<E> {
        let k = E::of(FRAC_2_SQRT_PI);
        self.unary(
            "erf",
            erf,
            Reads::Input,
            move |g, a| k * (-(a * a)).exp() * g,
            move |g, x| g.mul(&x.square().neg().exp()).mul_scalar(k),
        )
    }

    /// `max(self, 0)`. d = 1 where self > 0, else 0 (also at 0, as PyTorch).
    #[track_caller]
    pub fn relu(&self) -> Tensor<E> {
        let step = |a: E| if a > E::zero() { E::one() } else { E::zero() };
        self.unary_piecewise("relu", |a| if a > E::zero() { a } else { E::zero() }, step)
    }

    /// `self` where positive, else `negative_slope · self`. d = 1 where
    /// self > 0, else `negative_slope` (also at 0, as PyTorch).
    #[track_caller]
    pub fn leaky_relu(&self, negative_slope: E) -> Tensor<E> {
        let s = negative_slope;
        let d = move |a: E| if a > E::zero() { E::one() } else { s };
        self.unary_piecewise("leaky_relu", move |a| a * d(a), d)
    }

    /// `scale · (x > 0 ? x : alpha · (e^x - 1))`, the shared form of ELU and SELU.
    #[track_caller]
    fn elu_scaled(&self, name: &'static str, alpha: E, scale: E) -> Tensor<E> {
        let neg = alpha * scale;
        self.unary(
            name,
            move |a| if a <= E::zero() { (a.exp() - E::one()) * neg } else { a * scale },
            Reads::Input,
            move |g, a| if a <= E::zero() { g * neg * a.exp() } else { g * scale },
            move |g, x| {
                g.mul(&Tensor::where_(&x.le_scalar(E::zero()), &x.exp().mul_scalar(neg), &Tensor::scalar(scale)))
            },
        )
    }

    /// ELU: `self` where positive, else `alpha · (e^self - 1)`. d = 1 where
    /// self > 0, else `alpha · e^self` (PyTorch takes the exponential side at 0).
    #[track_caller]
    pub fn elu(&self, alpha: E) -> Tensor<E> {
        self.elu_scaled("elu", alpha, E::one())
    }

    /// SELU: `scale · elu(self, alpha)` with PyTorch's constants
    /// (alpha ≈ 1.6733, scale ≈ 1.0507).
    #[track_caller]
    pub fn selu(&self) -> Tensor<E> {
        self.elu_scaled("selu", E::of(SELU_ALPHA), E::of(SELU_SCALE))
    }

    /// GELU, exact form: `self · Φ(self) = self/2 · (1 + erf(self/√2))`.
    /// d = Φ(self) + self · φ(self), with φ the standard normal density.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![0.0, 1.0], &[2]).gelu().to_vec();
    /// assert_eq!(y[0], 0.0);
    /// assert!((y[1] - 0.841_344_746_068_542_9).abs() < 1e-15);
    /// ```
    #[track_caller]
    pub fn gelu(&self) -> Tensor<E> {
        let (half, r2, pdf_coef) = (E::of(0.5), E::of(FRAC_1_SQRT_2), E::of(GELU_PDF_COEF));
        self.unary(
            "gelu",
            move |a| a * half * (E::one() + erf(a * r2)),
            Reads::Input,
            move |g, a| {
                let cdf = half * (E::one() + erf(a * r2));
                let pdf = pdf_coef * (a * a * E::of(-0.5)).exp();
                g * (cdf + a * pdf)
            },
            move |g, x| {
                let cdf = x.mul_scalar(r2).erf().add_scalar(E::one()).mul_scalar(half);
                let pdf = x.square().mul_scalar(E::of(-0.5)).exp().mul_scalar(pdf_coef);
                g.mul(&cdf.add(&x.mul(&pdf)))
            },
        )
    }

    /// GELU, tanh approximation (PyTorch's `approximate='tanh'`):
    /// `self/2 · (1 + tanh(√(2/π) · (self + 0.044715 · self³)))`.
    /// d = (1 + t)/2 + self/2 · (1 - t²) · √(2/π) · (1 + 3 · 0.044715 · self²), t the tanh.
    #[track_caller]
    pub fn gelu_tanh(&self) -> Tensor<E> {
        let (beta, kappa, half) = (E::of(GELU_TANH_BETA), E::of(GELU_TANH_KAPPA), E::of(0.5));
        let three_kappa = E::of(3.0) * kappa;
        self.unary(
            "gelu_tanh",
            move |a| half * a * (E::one() + (beta * (a + kappa * (a * a * a))).tanh()),
            Reads::Input,
            move |g, a| {
                let a2 = a * a;
                let t = (beta * (a + kappa * (a2 * a))).tanh();
                let left_d = half * (E::one() + t);
                let right_d = half * a * (E::one() - t * t) * (beta * (E::one() + three_kappa * a2));
                g * (left_d + right_d)
            },
            move |g, x| {
                let x2 = x.square();
                let t = x.add(&x2.mul(x).mul_scalar(kappa)).mul_scalar(beta).tanh();
                let left_d = t.add_scalar(E::one()).mul_scalar(half);
                let inner_d = x2.mul_scalar(three_kappa).add_scalar(E::one()).mul_scalar(beta);
                let right_d = x.mul_scalar(half).mul(&t.square().rsub_scalar(E::one())).mul(&inner_d);
                g.mul(&left_d.add(&right_d))
            },
        )
    }

    /// SiLU (swish): `self · sigmoid(self)`. d = s · (1 + self · (1 - s)), s = sigmoid(self).
    #[track_caller]
    pub fn silu(&self) -> Tensor<E> {
        self.unary(
            "silu",
            |a| a / (E::one() + (-a).exp()),
            Reads::Input,
            |g, a| {
                let s = E::one() / (E::one() + (-a).exp());
                g * s * (E::one() + a * (E::one() - s))
            },
            |g, x| {
                let s = x.sigmoid();
                g.mul(&s.mul(&x.mul(&s.rsub_scalar(E::one())).add_scalar(E::one())))
            },
        )
    }

    /// Softplus `ln(1 + e^(beta·self)) / beta`, linear (`self`) where
    /// `beta · self > threshold`, as PyTorch (defaults there: 1 and 20).
    /// d = sigmoid(beta · self), or 1 in the linear region.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![0.0, 30.0], &[2]).softplus(1.0, 20.0).to_vec();
    /// assert!((y[0] - 2f64.ln()).abs() < 1e-15);
    /// assert_eq!(y[1], 30.0);
    /// ```
    #[track_caller]
    pub fn softplus(&self, beta: E, threshold: E) -> Tensor<E> {
        self.unary(
            "softplus",
            move |a| if a * beta > threshold { a } else { (a * beta).exp().ln_1p() / beta },
            Reads::Input,
            move |g, a| {
                let z = (a * beta).exp();
                if a * beta > threshold {
                    g
                } else {
                    g * z / (z + E::one())
                }
            },
            move |g, x| {
                let linear = x.mask_where(|a| a * beta > threshold);
                g.mul(&Tensor::where_(&linear, &Tensor::scalar(E::one()), &x.mul_scalar(beta).sigmoid()))
            },
        )
    }

    /// Mish: `self · tanh(ln(1 + e^self))`.
    /// d = t + self · sigmoid(self) · (1 - t²), t = tanh(softplus(self)).
    #[track_caller]
    pub fn mish(&self) -> Tensor<E> {
        self.unary(
            "mish",
            |a| a * a.exp().ln_1p().tanh(),
            Reads::Input,
            |g, a| {
                let s = E::one() / (E::one() + (-a).exp());
                let t = a.exp().ln_1p().tanh();
                g * (t + a * s * (E::one() - t * t))
            },
            |g, x| {
                // softplus(1, 20) equals ln(1 + e^x) wherever tanh of it is below 1.
                let t = x.softplus(E::one(), E::of(20.0)).tanh();
                let s = x.sigmoid();
                g.mul(&t.add(&x.mul(&s).mul(&t.square().rsub_scalar(E::one()))))
            },
        )
    }

    /// `self` clamped to `[min_val, max_val]`. d = 1 strictly inside
    /// (`min_val < self < max_val`), 0 elsewhere, as PyTorch's `hardtanh_backward`.
    #[track_caller]
    pub fn hardtanh(&self, min_val: E, max_val: E) -> Tensor<E> {
        if min_val > max_val {
            panic!(
                "hardtanh: min_val {min_val} is greater than max_val {max_val} (shape {:?}) at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        let inside = move |a: E| if a > min_val && a < max_val { E::one() } else { E::zero() };
        self.unary_piecewise("hardtanh", move |a| clamp_value(a, min_val, max_val), inside)
    }

    /// Clamps to `[min, max]` (either bound optional), like `torch.clamp`; when
    /// `min > max` every element becomes `max`. NaN stays NaN. d = 1 where
    /// `min <= self <= max` (bounds included, as PyTorch), else 0.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-2.0, 0.5, 3.0], &[3]);
    /// assert_eq!(x.clamp(Some(-1.0), Some(1.0)).to_vec(), vec![-1.0, 0.5, 1.0]);
    /// assert_eq!(x.clamp(None, Some(0.0)).to_vec(), vec![-2.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn clamp(&self, min: Option<E>, max: Option<E>) -> Tensor<E> {
        if min.is_none() && max.is_none() {
            panic!(
                "clamp: at least one of min and max must be given (shape {:?}) at {}",
                self.shape(),
                at(Location::caller())
            );
        }
        let lo = min.unwrap_or(E::neg_infinity());
        let hi = max.unwrap_or(E::infinity());
        let inside = move |a: E| if a >= lo && a <= hi { E::one() } else { E::zero() };
        self.unary_piecewise("clamp", move |a| clamp_value(a, lo, hi), inside)
    }
}
