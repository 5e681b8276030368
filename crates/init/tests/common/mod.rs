//! Statistics for the scheme tests: sample moments checked against the
//! sampling distribution, and a Kolmogorov–Smirnov distance.
#![allow(dead_code)] // each test file uses part of these

/// Sample mean and standard deviation (correction 1, like `torch.std`).
pub fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Kurtosis (fourth standardised moment) of the distributions the tests use.
pub const NORMAL_KURTOSIS: f64 = 3.0;
/// A uniform distribution's kurtosis, 9/5.
pub const UNIFORM_KURTOSIS: f64 = 1.8;

/// Asserts that the sample mean and std of `v` agree with `mean` and `std`
/// within 6 standard errors: σ/√n for the mean and σ·√((κ-1)/(4n)) for the
/// std (the delta method on the sample variance, κ the kurtosis).
#[track_caller]
pub fn assert_moments(what: &str, v: &[f64], mean: f64, std: f64, kurtosis: f64) {
    let n = v.len() as f64;
    let (m, s) = moments(v);
    let mean_tol = 6.0 * std / n.sqrt();
    let std_tol = 6.0 * std * ((kurtosis - 1.0) / (4.0 * n)).sqrt();
    assert!((m - mean).abs() <= mean_tol, "{what}: mean {m}, want {mean} ± {mean_tol}");
    assert!((s - std).abs() <= std_tol, "{what}: std {s}, want {std} ± {std_tol}");
}

/// Asserts every value lies in [lo, hi].
#[track_caller]
pub fn assert_within(what: &str, v: &[f64], lo: f64, hi: f64) {
    for x in v {
        assert!(*x >= lo && *x <= hi, "{what}: {x} outside [{lo}, {hi}]");
    }
}

/// Asserts the Kolmogorov–Smirnov distance between the sample and `cdf` is
/// below the 0.1% critical value 1.95/√n.
#[track_caller]
pub fn assert_ks(what: &str, v: &[f64], cdf: impl Fn(f64) -> f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let d = s
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max);
    let crit = 1.95 / n.sqrt();
    assert!(d < crit, "{what}: KS distance {d} >= {crit}");
}

/// The standard normal CDF, from the crate's erfc.
pub fn phi(x: f64) -> f64 {
    lamina_init::special::norm_cdf(x)
}

/// The standard normal density.
pub fn density(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}
