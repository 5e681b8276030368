//! erf, erfc and their inverses against CPython's `math.erf`/`math.erfc`
//! (the platform libm) and `statistics.NormalDist().inv_cdf` (AS241).

use lamina_init::special::{erf, erfc, erfcinv, erfinv, ndtri, norm_cdf};
use proptest::prelude::*;

/// (x, erf(x), erfc(x)).
const ERF: &[(f64, f64, f64)] = &[
    (-3.7, -0.9999998328489421, 1.9999998328489421),
    (-1.5, -0.9661051464753108, 1.9661051464753108),
    (-1.2, -0.9103139782296353, 1.9103139782296354),
    (-0.3, -0.3286267594591274, 1.3286267594591274),
    (0.0, 0.0, 1.0),
    (1e-300, 1.1283791670955126e-300, 1.0),
    (1e-08, 1.1283791670955126e-08, 0.9999999887162083),
    (0.05, 0.05637197779701663, 0.9436280222029834),
    (0.3, 0.3286267594591274, 0.6713732405408726),
    (0.7, 0.6778011938374184, 0.32219880616258156),
    (1.1, 0.8802050695740817, 0.11979493042591827),
    (1.45, 0.9596950256374592, 0.040304974362540776),
    (1.5, 0.9661051464753108, 0.033894853524689274),
    (1.55, 0.9716227332620125, 0.028377266737987458),
    (1.9, 0.9927904292352575, 0.0072095707647425325),
    (2.5, 0.999593047982555, 0.0004069520174449589),
    (3.3, 0.9999969422902035, 3.0577097964381654e-06),
    (4.4, 0.999999999510829, 4.891710270605872e-10),
    (6.0, 1.0, 2.1519736712498916e-17),
    (9.0, 1.0, 4.13703174651381e-37),
    (15.0, 1.0, 7.212994172451206e-100),
    (25.0, 1.0, 8.300172571196522e-274),
];

/// (p, Φ⁻¹(p)).
const NDTRI: &[(f64, f64)] = &[
    (1e-300, -37.0470962993612),
    (1e-100, -21.27345356096532),
    (1e-20, -9.262340089798405),
    (1e-12, -7.034483825301132),
    (1e-05, -4.2648907939228256),
    (0.001, -3.090232306167813),
    (0.025, -1.9599639845400538),
    (0.1, -1.2815515655446008),
    (0.3, -0.5244005127080407),
    (0.5, 0.0),
    (0.7, 0.5244005127080407),
    (0.9, 1.2815515655446008),
    (0.975, 1.9599639845400536),
    (0.999999, 4.753424308817089),
];

fn rel(got: f64, want: f64) -> f64 {
    if got == want {
        0.0
    } else {
        (got - want).abs() / want.abs().max(f64::MIN_POSITIVE)
    }
}

#[test]
fn erf_and_erfc_match_libm_to_a_few_ulps() {
    for &(x, e, c) in ERF {
        assert!(rel(erf(x), e) < 1e-14, "erf({x}) = {:e}, want {e:e}", erf(x));
        assert!(rel(erfc(x), c) < 1e-13, "erfc({x}) = {:e}, want {c:e}", erfc(x));
    }
}

#[test]
fn erf_special_values() {
    assert!(erf(f64::NAN).is_nan() && erfc(f64::NAN).is_nan());
    assert_eq!(erf(f64::INFINITY), 1.0);
    assert_eq!(erf(f64::NEG_INFINITY), -1.0);
    assert_eq!(erfc(f64::INFINITY), 0.0);
    assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
}

#[test]
fn ndtri_matches_as241_deep_into_the_tails() {
    for &(p, want) in NDTRI {
        let got = ndtri(p);
        assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "ndtri({p}) = {got}, want {want}");
    }
    assert_eq!(ndtri(0.0), f64::NEG_INFINITY);
    assert_eq!(ndtri(1.0), f64::INFINITY);
}

#[test]
fn erfinv_known_values_and_edges() {
    // erfinv(0.5) = 0.476936276204469873...; erfinv(y) ≈ (√π/2) y for tiny y.
    assert!((erfinv(0.5) - 0.4769362762044699).abs() < 1e-16);
    assert!(rel(erfinv(1e-10), std::f64::consts::PI.sqrt() / 2.0 * 1e-10) < 1e-15);
    assert_eq!(erfinv(-0.5), -erfinv(0.5));
    assert_eq!(erfinv(1.0), f64::INFINITY);
    assert_eq!(erfinv(-1.0), f64::NEG_INFINITY);
    assert_eq!(erfinv(0.0), 0.0);
    assert!(erfinv(1.5).is_nan() && erfinv(f64::NAN).is_nan());
    assert_eq!(erfcinv(0.0), f64::INFINITY);
    assert_eq!(erfcinv(2.0), f64::NEG_INFINITY);
    assert!(erfcinv(-0.1).is_nan() && erfcinv(2.5).is_nan());
}

#[test]
fn norm_cdf_is_half_erfc() {
    // Φ(1.96) = 0.9750021048517795; Φ(-1.96) by symmetry.
    assert!((norm_cdf(1.96) - 0.9750021048517795).abs() < 1e-15);
    assert!(rel(norm_cdf(-1.96), 1.0 - 0.9750021048517795) < 1e-13);
    assert_eq!(norm_cdf(0.0), 0.5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn erfinv_inverts_erf(y in -0.999_999_9f64..0.999_999_9) {
        let x = erfinv(y);
        prop_assert!((erf(x) - y).abs() <= 4e-16 + 2e-16 * y.abs(), "erf(erfinv({})) = {}", y, erf(x));
    }

    #[test]
    fn erfcinv_inverts_erfc_deep_into_the_tail(x in -1.0f64..26.0) {
        // This direction is well conditioned: relative precision of erfc(x)
        // costs x only 1/(2x²) of it, so the tail keeps full precision.
        let back = erfcinv(erfc(x));
        prop_assert!((back - x).abs() <= 1e-15 + 2e-15 * x.abs(), "erfcinv(erfc({})) = {}", x, back);
    }

    #[test]
    fn ndtri_inverts_norm_cdf(p in 1e-12f64..1.0) {
        let x = ndtri(p);
        // Φ has slope φ(x): the round trip is exact to rounding of p and Φ.
        prop_assert!((norm_cdf(x) - p).abs() <= 4e-16 + 1e-14 * p.min(1.0 - p), "{} {}", p, norm_cdf(x));
    }
}
