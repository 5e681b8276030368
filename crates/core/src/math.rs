//! Element functions for the hot loops. `f64` goes to libm, whose results
//! the conformance cases were checked against; `f32` uses branch-free
//! versions that the compiler turns into SIMD loops (libm's are scalar
//! calls, and `tanhf` goes through the slow `expm1f`), each within 2 ulp.

use crate::Element;

/// Whether `E` is `f32` (constant after monomorphisation).
fn is_f32<E: Element>() -> bool {
    size_of::<E>() == size_of::<f32>()
}

/// `e^x`.
#[inline]
pub(crate) fn exp<E: Element>(x: E) -> E {
    if !is_f32::<E>() {
        return x.exp();
    }
    E::of(exp_f32(x.to_f32().expect("f32")) as f64)
}

/// `e^x` in f32: `x = n ln 2 + r` with `|r| <= ln 2 / 2` (ln 2 split in two
/// so `r` is exact), Cephes' degree-6 polynomial for `e^r`, and `2^n` built in
/// two halves so results down to the subnormals come out right.
#[inline]
fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(-104.0, 89.0);
    // Round to nearest by adding and removing 1.5 * 2^23 (no libm call, so
    // the loop vectorises even without SSE4.1's `roundps`).
    const ROUND: f32 = 12_582_912.0;
    let shifted = clamped * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // The integer `n` from the bits of `1.5 * 2^23 + n` (an `as` cast would
    // check each lane for saturation, which keeps the loop from vectorising).
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let half = n / 2;
    let scale = |e: i32| f32::from_bits((e.wrapping_add(127) as u32) << 23);
    let y = er * scale(half) * scale(n - half);
    if x.is_nan() {
        x
    } else if x > 88.722_84 {
        f32::INFINITY
    } else {
        y
    }
}

/// The logistic sigmoid `1 / (1 + e^-x)`.
#[inline]
pub(crate) fn sigmoid<E: Element>(x: E) -> E {
    E::one() / (E::one() + exp(-x))
}

/// Hyperbolic tangent: below `|x| = 1/4`, where `1 - e^-2|x|` would cancel,
/// an odd Taylor polynomial; above, `(1 - t) / (1 + t)` for `t = e^-2|x|`.
#[inline]
pub(crate) fn tanh<E: Element>(x: E) -> E {
    if !is_f32::<E>() {
        return x.tanh();
    }
    let a = x.abs();
    let x2 = x * x;
    let p = E::of(62.0 / 2835.0) * x2 - E::of(17.0 / 315.0);
    let small = x * (E::one() + x2 * ((p * x2 + E::of(2.0 / 15.0)) * x2 - E::of(1.0 / 3.0)));
    let t = exp(-(a + a));
    let large = ((E::one() - t) / (E::one() + t)).copysign(x);
    if a < E::of(0.25) {
        small
    } else {
        large
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in ulp between two finite f32 of the same sign (or zero).
    fn ulps(a: f32, b: f32) -> i64 {
        (a.to_bits() as i64 - b.to_bits() as i64).abs()
    }

    fn sweep(f: impl Fn(f32) -> f32, reference: impl Fn(f64) -> f64, lo: f32, hi: f32) -> i64 {
        let mut worst = 0;
        let mut x = lo;
        while x < hi {
            for v in [x, x * 1e-3, x * 1e-6] {
                let want = reference(v as f64) as f32;
                if want.is_normal() || want == 0.0 {
                    worst = worst.max(ulps(f(v), want));
                }
            }
            x += (hi - lo) / 200_000.0;
        }
        worst
    }

    #[test]
    fn exp_is_within_two_ulp_and_right_at_the_edges() {
        assert!(sweep(exp, f64::exp, -103.0, 88.7) <= 2);
        // Subnormal results: within 2 ulp of the subnormal grid.
        for x in [-88.0f32, -95.5, -100.0, -103.2] {
            let want = (x as f64).exp() as f32;
            assert!((exp(x) - want).abs() <= 2.0 * f32::from_bits(1), "exp({x})");
        }
        assert_eq!(exp(0.0f32), 1.0);
        assert_eq!(exp(89.0f32), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(-200.0f32), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_and_sigmoid_are_within_two_ulp() {
        assert!(sweep(tanh, f64::tanh, -12.0, 12.0) <= 2);
        assert!(sweep(sigmoid, |x| 1.0 / (1.0 + (-x).exp()), -80.0, 20.0) <= 2);
        assert_eq!(tanh(-0.0f32).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
    }

    #[test]
    fn f64_is_libm() {
        for x in [-3.5f64, 0.1, 2.0] {
            assert_eq!(exp(x), x.exp());
            assert_eq!(tanh(x), x.tanh());
        }
    }
}
