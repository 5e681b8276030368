//! The error function, its complement and their inverses in `f64`, accurate to
//! a few ulps: what the truncated normal's inverse-CDF sampling needs.
//!
//! `erf` sums its Taylor series (all terms positive) below 1.5 and `erfc`
//! evaluates a continued fraction above, as CPython's `math` module long did;
//! the inverses start from Giles' approximation ("Approximating the erfinv
//! function", 2010) or, deep in the tail, from the asymptotic expansion, then
//! polish with Halley steps. Tail values are solved through `erfc`, so
//! `erfcinv(1e-300)` and `ndtri(1e-20)` keep full relative precision.

use std::f64::consts::{PI, SQRT_2};

const SERIES_CUTOFF: f64 = 1.5;
const SERIES_TERMS: usize = 25;
const CONTFRAC_TERMS: usize = 50;
/// Beyond this `erfc(x)` underflows to 0.
const CONTFRAC_CUTOFF: f64 = 30.0;

fn sqrt_pi() -> f64 {
    PI.sqrt()
}

/// erf(x) for |x| < 1.5: 2/√π e^{-x²} Σ 2ⁿ x^{2n+1} / (1·3···(2n+1)), in Horner form.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut acc = 0.0;
    let mut fk = SERIES_TERMS as f64 + 0.5;
    for _ in 0..SERIES_TERMS {
        acc = 2.0 + x2 * acc / fk;
        fk -= 1.0;
    }
    acc * x * (-x2).exp() / sqrt_pi()
}

/// erfc(x) for x ≥ 1.5, by the even contraction of Laplace's continued fraction.
fn erfc_contfrac(x: f64) -> f64 {
    if x >= CONTFRAC_CUTOFF {
        return 0.0;
    }
    let x2 = x * x;
    let (mut a, mut da) = (0.0, 0.5);
    let (mut p, mut p_last) = (1.0, 0.0);
    let (mut q, mut q_last) = (da + x2, 1.0);
    for _ in 0..CONTFRAC_TERMS {
        a += da;
        da += 2.0;
        let b = da + x2;
        (p, p_last) = (b * p - a * p_last, p);
        (q, q_last) = (b * q - a * q_last, q);
    }
    p / q * x * (-x2).exp() / sqrt_pi()
}

/// The error function, erf(x) = 2/√π ∫₀ˣ e^{-t²} dt.
///
/// ```
/// let e = lamina_init::special::erf(1.0);
/// assert!((e - 0.8427007929497149).abs() < 1e-15);
/// ```
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() < SERIES_CUTOFF {
        erf_series(x)
    } else {
        let c = erfc_contfrac(x.abs());
        if x > 0.0 {
            1.0 - c
        } else {
            c - 1.0
        }
    }
}

/// The complementary error function, 1 - erf(x), without cancellation for large x.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() < SERIES_CUTOFF {
        1.0 - erf_series(x)
    } else if x > 0.0 {
        erfc_contfrac(x)
    } else {
        2.0 - erfc_contfrac(-x)
    }
}

/// The standard normal CDF, Φ(x) = erfc(-x/√2)/2 (relative precision in the lower tail).
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// Giles' single-precision erfinv(y) with `w = -ln(1 - y²)` given (so the
/// caller can form it without cancellation).
fn giles(y: f64, w: f64) -> f64 {
    let p = if w < 5.0 {
        let w = w - 2.5;
        [
            3.43273939e-07,
            -3.5233877e-06,
            -4.39150654e-06,
            0.00021858087,
            -0.00125372503,
            -0.00417768164,
            0.246640727,
            1.50140941,
        ]
        .iter()
        .fold(2.81022636e-08, |p, c| c + p * w)
    } else {
        let w = w.sqrt() - 3.0;
        [
            0.000100950558,
            0.00134934322,
            -0.00367342844,
            0.00573950773,
            -0.0076224613,
            0.00943887047,
            1.00167406,
            2.83297682,
        ]
        .iter()
        .fold(-0.000200214257, |p, c| c + p * w)
    };
    p * y
}

/// Halley steps on `f(x) = 0` where f' = ±(2/√π) e^{-x²} and so f''/f' = -2x:
/// `x -= u / (1 + x u)` with `u = f/f'`.
fn halley(mut x: f64, f: impl Fn(f64) -> f64, sign: f64) -> f64 {
    for _ in 0..4 {
        let d = sign * 2.0 / sqrt_pi() * (-x * x).exp();
        if d == 0.0 {
            break;
        }
        let u = f(x) / d;
        let step = u / (1.0 + x * u);
        x -= step;
        if step.abs() <= 1e-17 * x.abs() {
            break;
        }
    }
    x
}

/// erfcinv(z) for 0 < z < 0.5: solved on erfc, so tiny z keep their precision.
fn erfcinv_tail(z: f64) -> f64 {
    let x0 = if z > 1e-12 {
        giles(1.0 - z, -(z * (2.0 - z)).ln())
    } else {
        // erfc(x) ≈ e^{-x²} / (x √π): iterate x = √(-ln(z x √π)).
        let mut x = (-z.ln()).sqrt();
        for _ in 0..4 {
            x = (-(z * x * sqrt_pi()).ln()).sqrt();
        }
        x
    };
    halley(x0, |x| erfc(x) - z, -1.0)
}

/// The inverse error function on [-1, 1] (±∞ at ±1, NaN outside).
///
/// ```
/// use lamina_init::special::{erf, erfinv};
/// let x = erfinv(0.5);
/// assert!((x - 0.4769362762044699).abs() < 1e-15);
/// assert!((erf(x) - 0.5).abs() < 1e-16);
/// ```
pub fn erfinv(y: f64) -> f64 {
    let a = y.abs();
    if a.is_nan() || a > 1.0 {
        return f64::NAN;
    }
    if a == 1.0 {
        return f64::INFINITY.copysign(y);
    }
    if a == 0.0 {
        return y;
    }
    let x = if a <= 0.5 { halley(giles(a, -(-a * a).ln_1p()), |x| erf(x) - a, 1.0) } else { erfcinv_tail(1.0 - a) };
    x.copysign(y)
}

/// The inverse complementary error function on [0, 2]: erfc(erfcinv(z)) = z.
pub fn erfcinv(z: f64) -> f64 {
    if z.is_nan() || !(0.0..=2.0).contains(&z) {
        return f64::NAN;
    }
    if z == 0.0 {
        f64::INFINITY
    } else if z < 0.5 {
        erfcinv_tail(z)
    } else if z <= 1.0 {
        erfinv(1.0 - z)
    } else {
        -erfcinv(2.0 - z)
    }
}

/// The standard normal quantile Φ⁻¹(p) on [0, 1] (−∞ at 0, +∞ at 1).
///
/// ```
/// let q = lamina_init::special::ndtri(0.975);
/// assert!((q - 1.959963984540054).abs() < 1e-14);
/// ```
pub fn ndtri(p: f64) -> f64 {
    -SQRT_2 * erfcinv(2.0 * p)
}
