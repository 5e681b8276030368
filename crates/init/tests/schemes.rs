//! Each scheme: its sample moments against the distribution it promises
//! (tolerances from the sampling distribution), its bounds, its structure
//! (orthogonality, identities, sparsity), and its errors.

use crate::common;

use common::*;
use lamina_core::{Generator, Tensor};
use lamina_init::{FanMode, InitError, Nonlinearity, Scheme};

/// Fills a fresh f64 tensor of `shape` with `scheme` from a seeded generator.
fn draw(scheme: Scheme, shape: &[usize], seed: u64) -> Vec<f64> {
    let t = Tensor::<f64>::zeros(shape);
    scheme.apply_with(&t, &mut Generator::new(seed)).unwrap();
    t.to_vec()
}

fn uniform_cdf(a: f64, b: f64) -> impl Fn(f64) -> f64 {
    move |x| ((x - a) / (b - a)).clamp(0.0, 1.0)
}

#[test]
fn uniform_has_the_moments_and_range_of_u_a_b() {
    let (a, b) = (-0.3, 0.7);
    let v = draw(Scheme::Uniform { a, b }, &[256, 128], 1);
    assert_within("uniform", &v, a, b);
    // U(a, b): mean (a+b)/2, std (b-a)/√12.
    assert_moments("uniform", &v, 0.2, 1.0 / 12f64.sqrt(), UNIFORM_KURTOSIS);
    assert_ks("uniform", &v, uniform_cdf(a, b));
}

#[test]
fn normal_has_the_moments_and_shape_of_n_mean_std() {
    let v = draw(Scheme::Normal { mean: 0.5, std: 2.0 }, &[200, 100], 2);
    assert_moments("normal", &v, 0.5, 2.0, NORMAL_KURTOSIS);
    assert_ks("normal", &v, |x| phi((x - 0.5) / 2.0));
}

/// Mean, std and CDF of N(mean, std²) truncated to [a, b], from the textbook formulas.
fn truncated(mean: f64, std: f64, a: f64, b: f64) -> (f64, f64, impl Fn(f64) -> f64) {
    let (al, be) = ((a - mean) / std, (b - mean) / std);
    let z = phi(be) - phi(al);
    let d = (density(al) - density(be)) / z;
    let var = 1.0 + (al * density(al) - be * density(be)) / z - d * d;
    let cdf = move |x: f64| ((phi((x - mean) / std) - phi(al)) / z).clamp(0.0, 1.0);
    (mean + std * d, std * var.sqrt(), cdf)
}

#[test]
fn trunc_normal_matches_the_truncated_distribution() {
    let cases = [
        // (mean, std, a, b): ViT's ±2σ, PyTorch's defaults, a one-sided cut,
        // an interval far out in the upper tail, and one in the lower tail.
        (0.0, 0.02, -0.04, 0.04),
        (0.0, 1.0, -2.0, 2.0),
        (1.0, 0.5, 0.0, 5.0),
        (0.0, 1.0, 3.0, 4.0),
        (0.0, 1.0, -9.0, -6.0),
    ];
    for (i, &(mean, std, a, b)) in cases.iter().enumerate() {
        let v = draw(Scheme::TruncNormal { mean, std, a, b }, &[100, 100], 10 + i as u64);
        let (m, s, cdf) = truncated(mean, std, a, b);
        let what = format!("trunc_normal({mean}, {std}, {a}, {b})");
        assert_within(&what, &v, a, b);
        assert_moments(&what, &v, m, s, NORMAL_KURTOSIS);
        assert_ks(&what, &v, cdf);
    }
    // The conformance figure: std 0.02 cut at ±0.04 leaves std 0.01759.
    let (_, s, _) = truncated(0.0, 0.02, -0.04, 0.04);
    assert!((s - 0.017592513220684794).abs() < 1e-12);
}

#[test]
fn xavier_scales_by_both_fans() {
    // [256, 512]: std = gain·√(2/768).
    let std = 2f64.sqrt() * (2.0 / 768.0f64).sqrt();
    let v = draw(Scheme::XavierUniform { gain: 2f64.sqrt() }, &[256, 512], 3);
    assert_within("xavier_uniform", &v, -0.125, 0.125); // √3·std = √(6·2/768) = 1/8
    assert_moments("xavier_uniform", &v, 0.0, std, UNIFORM_KURTOSIS);
    let v = draw(Scheme::XavierNormal { gain: 1.0 }, &[64, 32, 3], 4);
    // fans 32·3 = 96 and 64·3 = 192.
    assert_moments("xavier_normal", &v, 0.0, (2.0 / 288.0f64).sqrt(), NORMAL_KURTOSIS);
}

#[test]
fn kaiming_scales_by_the_chosen_fan_and_gain() {
    let relu = Nonlinearity::Relu;
    // [128, 64, 3, 3] fan_out = 1152, relu: std = √2/√1152 = 1/24.
    let v = draw(Scheme::KaimingNormal { a: 0.0, mode: FanMode::FanOut, nonlinearity: relu }, &[128, 64, 3, 3], 5);
    assert_moments("kaiming_normal fan_out", &v, 0.0, 1.0 / 24.0, NORMAL_KURTOSIS);
    assert_ks("kaiming_normal fan_out", &v, |x| phi(x * 24.0));
    // fan_in = 576: std = √2/24.
    let v = draw(Scheme::KaimingNormal { a: 0.0, mode: FanMode::FanIn, nonlinearity: relu }, &[128, 64, 3, 3], 6);
    assert_moments("kaiming_normal fan_in", &v, 0.0, 2f64.sqrt() / 24.0, NORMAL_KURTOSIS);
    // Linear's a = √5 on [16, 8, 3, 3]: bound = 1/√72.
    let sqrt5 = Scheme::KaimingUniform { a: 5f64.sqrt(), mode: FanMode::FanIn, nonlinearity: Nonlinearity::LeakyRelu };
    let v = draw(sqrt5, &[160, 8, 3, 3], 7);
    let bound = 1.0 / 72f64.sqrt();
    assert_within("kaiming_uniform a=√5", &v, -bound, bound);
    assert_moments("kaiming_uniform a=√5", &v, 0.0, bound / 3f64.sqrt(), UNIFORM_KURTOSIS);
    assert_ks("kaiming_uniform a=√5", &v, uniform_cdf(-bound, bound));
    // tanh gain 5/3, fan_in 100: bound = (5/3)·√(3/100).
    let tanh = Scheme::KaimingUniform { a: 0.3, mode: FanMode::FanIn, nonlinearity: Nonlinearity::Tanh };
    let v = draw(tanh, &[300, 100], 8);
    let bound = 5.0 / 3.0 * 0.03f64.sqrt();
    assert_within("kaiming_uniform tanh", &v, -bound, bound);
    assert_moments("kaiming_uniform tanh", &v, 0.0, bound / 3f64.sqrt(), UNIFORM_KURTOSIS);
}

#[test]
fn lecun_normal_is_unit_variance_over_fan_in() {
    let v = draw(Scheme::LecunNormal, &[100, 400], 9);
    assert_moments("lecun_normal", &v, 0.0, 0.05, NORMAL_KURTOSIS);
}

#[test]
fn constant_fills_every_element() {
    assert_eq!(draw(Scheme::Constant(-1.5), &[2, 3], 0), vec![-1.5; 6]);
    let t = Tensor::<f32>::ones(&[3]);
    lamina_init::zeros_(&t);
    assert_eq!(t.to_vec(), [0.0; 3]);
    lamina_init::ones_(&t);
    assert_eq!(t.to_vec(), [1.0; 3]);
    lamina_init::constant_(&t, 0.25);
    assert_eq!(t.to_vec(), [0.25; 3]);
}

/// `W Wᵀ` (rows ≤ cols) or `Wᵀ W` of a matrix computed with lamina's matmul.
fn gram(w: &Tensor<f64>) -> Tensor<f64> {
    let m = w.reshape(&[w.shape()[0], w.numel() / w.shape()[0]]);
    if m.shape()[0] <= m.shape()[1] {
        m.matmul(&m.t())
    } else {
        m.t().matmul(&m)
    }
}

#[test]
fn orthogonal_rows_or_columns_are_orthonormal_times_gain() {
    for (i, (shape, gain)) in
        [(&[6, 10][..], 2.0), (&[10, 6][..], 1.0), (&[5, 5][..], 0.5), (&[4, 2, 3][..], 3.0), (&[1, 7][..], 1.0)]
            .into_iter()
            .enumerate()
    {
        let w = Tensor::<f64>::zeros(shape);
        Scheme::Orthogonal { gain }.apply_with(&w, &mut Generator::new(20 + i as u64)).unwrap();
        let g = gram(&w);
        let n = g.shape()[0];
        for (k, v) in g.to_vec().into_iter().enumerate() {
            let want = if k / n == k % n { gain * gain } else { 0.0 };
            assert!((v - want).abs() < 1e-12, "{shape:?}: gram[{k}] = {v}, want {want}");
        }
    }
}

#[test]
fn orthogonal_is_uniform_over_the_group() {
    // The sign correction Q *= sign(diag R) is what makes Q Haar-distributed;
    // without it every Householder Q would have a negative first entry. Under
    // Haar measure each diagonal entry of a 4x4 Q has mean 0 and variance 1/4.
    let mut g = Generator::new(30);
    let mut diag = Vec::new();
    for _ in 0..500 {
        let w = Tensor::<f64>::zeros(&[4, 4]);
        Scheme::Orthogonal { gain: 1.0 }.apply_with(&w, &mut g).unwrap();
        let v = w.to_vec();
        diag.extend((0..4).map(|i| v[i * 4 + i]));
    }
    let (m, _) = moments(&diag);
    let tol = 6.0 * 0.5 / (diag.len() as f64).sqrt();
    assert!(m.abs() < tol, "mean of diag(Q) = {m}, want 0 ± {tol}");
}

#[test]
fn eye_is_the_identity_and_a_linear_map_that_passes_its_input() {
    let w = Tensor::<f64>::zeros(&[3, 5]);
    lamina_init::eye_(&w).unwrap();
    #[rustfmt::skip]
    let want = [1., 0., 0., 0., 0.,
                0., 1., 0., 0., 0.,
                0., 0., 1., 0., 0.];
    assert_eq!(w.to_vec(), want);
    assert_eq!(draw(Scheme::Eye, &[3, 2], 0), [1., 0., 0., 1., 0., 0.]);
    let sq = Tensor::<f64>::zeros(&[4, 4]);
    lamina_init::eye_(&sq).unwrap();
    let x = Tensor::<f64>::from_vec((0..8).map(|v| v as f64 - 3.5).collect(), &[2, 4]);
    assert_eq!(x.matmul(&sq.t()).to_vec(), x.to_vec());
}

/// A direct 2-d cross-correlation with zero padding `k/2` per side (stride 1),
/// input [c_in, h, w], weight [c_out, c_in/groups, kh, kw]: conv's definition.
fn conv2d_same(x: &[f64], (c_in, h, w): (usize, usize, usize), wt: &[f64], shape: &[usize], groups: usize) -> Vec<f64> {
    let (c_out, cpg, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    let opg = c_out / groups;
    assert_eq!(cpg * groups, c_in);
    let mut y = vec![0.0; c_out * h * w];
    for o in 0..c_out {
        let gi = o / opg;
        for i in 0..h {
            for j in 0..w {
                let mut s = 0.0;
                for c in 0..cpg {
                    for a in 0..kh {
                        for b in 0..kw {
                            let (ii, jj) = (
                                i as isize + a as isize - (kh / 2) as isize,
                                j as isize + b as isize - (kw / 2) as isize,
                            );
                            if ii >= 0 && jj >= 0 && (ii as usize) < h && (jj as usize) < w {
                                let xin = x[((gi * cpg + c) * h + ii as usize) * w + jj as usize];
                                s += wt[((o * cpg + c) * kh + a) * kw + b] * xin;
                            }
                        }
                    }
                }
                y[(o * h + i) * w + j] = s;
            }
        }
    }
    y
}

#[test]
fn dirac_makes_a_convolution_the_identity() {
    let x: Vec<f64> = (0..4 * 5 * 6).map(|v| (v as f64 * 0.37).sin()).collect();
    for (shape, groups) in [([4, 4, 3, 3], 1), ([4, 2, 3, 5], 2), ([4, 1, 1, 1], 4)] {
        let w = Tensor::<f64>::zeros(&shape);
        lamina_init::dirac_(&w, groups).unwrap();
        let y = conv2d_same(&x, (4, 5, 6), &w.to_vec(), &shape, groups);
        assert_eq!(y, x, "dirac {shape:?} groups {groups}");
    }
    // More outputs than inputs per group: the extra channels are zero.
    let w = Tensor::<f64>::zeros(&[3, 2, 3]);
    lamina_init::dirac_(&w, 1).unwrap();
    assert_eq!(w.to_vec(), [0., 1., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0., 0., 0., 0., 0., 0., 0.]);
    // 3-d kernels put the one at the centre (k/2 in each dim, lower middle for even k).
    let w = Tensor::<f64>::zeros(&[1, 1, 2, 3, 4]);
    lamina_init::dirac_(&w, 1).unwrap();
    let ones: Vec<usize> = w.to_vec().iter().enumerate().filter(|(_, v)| **v == 1.0).map(|(i, _)| i).collect();
    assert_eq!(ones, [(3 + 1) * 4 + 2]);
}

#[test]
fn sparse_zeroes_the_same_count_in_every_column_at_random_rows() {
    let (rows, cols) = (100, 60);
    let v = draw(Scheme::Sparse { sparsity: 0.25, std: 0.01 }, &[rows, cols], 40);
    let zero_rows: Vec<Vec<usize>> =
        (0..cols).map(|c| (0..rows).filter(|&r| v[r * cols + c] == 0.0).collect()).collect();
    assert!(zero_rows.iter().all(|z| z.len() == 25), "ceil(0.25·100) zeros per column");
    assert!(zero_rows.windows(2).any(|p| p[0] != p[1]), "columns choose their zeros independently");
    // Every row is zeroed in about a quarter of the columns.
    let hits = (0..rows).filter(|r| zero_rows.iter().any(|z| z.contains(r))).count();
    assert_eq!(hits, rows);
    let nonzero: Vec<f64> = v.iter().copied().filter(|x| *x != 0.0).collect();
    assert_moments("sparse nonzeros", &nonzero, 0.0, 0.01, NORMAL_KURTOSIS);
    // ceil rounds up: sparsity 0.1 of 15 rows is 2 zeros.
    let v = draw(Scheme::Sparse { sparsity: 0.1, std: 1.0 }, &[15, 4], 41);
    assert_eq!(v.iter().filter(|x| **x == 0.0).count(), 8);
}

#[test]
fn schemes_fill_f32_tensors_and_strided_views() {
    let t = Tensor::<f32>::zeros(&[64, 64]);
    Scheme::XavierUniform { gain: 1.0 }.apply_with(&t, &mut Generator::new(50)).unwrap();
    let b = (6.0f32 / 128.0).sqrt();
    assert!(t.to_vec().iter().all(|v| v.abs() <= b) && t.to_vec().iter().any(|v| *v != 0.0));
    // A transposed view is filled through its own layout: eye of the [6, 4]
    // view is eye of the [4, 6] base.
    let base = Tensor::<f64>::zeros(&[4, 6]);
    let view = base.t();
    assert!(!view.is_contiguous());
    lamina_init::eye_(&view).unwrap();
    assert_eq!(base.to_vec(), draw(Scheme::Eye, &[4, 6], 0));
    // A row slice is filled alone.
    let base = Tensor::<f64>::zeros(&[3, 2]);
    lamina_init::constant_(&base.narrow(0, 1, 1), 7.0);
    assert_eq!(base.to_vec(), [0., 0., 7., 7., 0., 0.]);
}

#[test]
fn the_same_generator_state_gives_the_same_weights() {
    for scheme in [
        Scheme::Normal { mean: 0.0, std: 1.0 },
        Scheme::TruncNormal { mean: 0.0, std: 1.0, a: -2.0, b: 2.0 },
        Scheme::Orthogonal { gain: 1.0 },
        Scheme::Sparse { sparsity: 0.5, std: 1.0 },
    ] {
        assert_eq!(draw(scheme, &[5, 7], 60), draw(scheme, &[5, 7], 60), "{scheme:?}");
        assert_ne!(draw(scheme, &[5, 7], 60), draw(scheme, &[5, 7], 61), "{scheme:?}");
    }
}

#[test]
fn empty_tensors_are_left_alone() {
    let kaiming = Scheme::KaimingUniform { a: 0.0, mode: FanMode::FanIn, nonlinearity: Nonlinearity::Relu };
    // PyTorch returns before computing fans for an empty tensor.
    kaiming.apply_with(&Tensor::<f64>::zeros(&[0]), &mut Generator::new(0)).unwrap();
    for scheme in [kaiming, Scheme::XavierNormal { gain: 1.0 }, Scheme::Orthogonal { gain: 1.0 }, Scheme::LecunNormal] {
        scheme.apply_with(&Tensor::<f64>::zeros(&[0, 3]), &mut Generator::new(0)).unwrap();
    }
}

#[track_caller]
fn shape_error(scheme: Scheme, shape: &[usize], need: &str) {
    let err = scheme.apply_with(&Tensor::<f64>::zeros(shape), &mut Generator::new(0)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, InitError::Shape { .. }), "{scheme:?}: {err:?}");
    assert!(msg.contains(scheme.name()) && msg.contains(need) && msg.contains(&format!("{shape:?}")), "{msg}");
}

#[test]
fn schemes_that_need_fans_or_matrices_reject_other_shapes() {
    let fans = "at least 2 dims";
    let kaiming = Scheme::KaimingNormal { a: 0.0, mode: FanMode::FanIn, nonlinearity: Nonlinearity::Relu };
    for scheme in
        [Scheme::XavierUniform { gain: 1.0 }, Scheme::XavierNormal { gain: 1.0 }, kaiming, Scheme::LecunNormal]
    {
        shape_error(scheme, &[5], fans);
        shape_error(scheme, &[], fans);
    }
    shape_error(Scheme::Orthogonal { gain: 1.0 }, &[5], fans);
    shape_error(Scheme::Eye, &[5], "exactly 2 dims");
    shape_error(Scheme::Eye, &[2, 2, 2], "exactly 2 dims");
    shape_error(Scheme::Sparse { sparsity: 0.1, std: 0.01 }, &[4], "exactly 2 dims");
    shape_error(Scheme::Dirac { groups: 1 }, &[4, 4], "at least 3 dims");
    // The PyTorch-named function reports the same error.
    let err = lamina_init::xavier_uniform_(&Tensor::<f32>::zeros(&[3]), 1.0).unwrap_err();
    assert_eq!(err.to_string(), "xavier_uniform_: needs a tensor with at least 2 dims (shape [3])");
}

#[track_caller]
fn argument_error(scheme: Scheme, shape: &[usize], says: &str) {
    let t = Tensor::<f64>::full(shape, 3.0);
    let err = scheme.apply_with(&t, &mut Generator::new(0)).unwrap_err();
    assert!(matches!(err, InitError::Argument { .. }), "{scheme:?}: {err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(scheme.name()) && msg.contains(says), "{msg}");
    assert_eq!(t.to_vec(), vec![3.0; t.numel()], "a refused init leaves the tensor as it was");
}

#[test]
fn out_of_domain_arguments_are_errors() {
    argument_error(Scheme::Uniform { a: 1.0, b: 0.0 }, &[3], "a = 1, b = 0");
    argument_error(Scheme::Uniform { a: f64::NEG_INFINITY, b: 0.0 }, &[3], "finite");
    argument_error(Scheme::Normal { mean: 0.0, std: -1.0 }, &[3], "std = -1");
    argument_error(Scheme::TruncNormal { mean: 0.0, std: 0.0, a: -1.0, b: 1.0 }, &[3], "std > 0");
    argument_error(Scheme::TruncNormal { mean: 0.0, std: 1.0, a: 1.0, b: -1.0 }, &[3], "a <= b");
    argument_error(Scheme::Dirac { groups: 3 }, &[4, 2, 3], "divisible by groups (3)");
    argument_error(Scheme::Dirac { groups: 0 }, &[4, 2, 3], "groups (0)");
    argument_error(Scheme::Sparse { sparsity: 1.5, std: 0.01 }, &[4, 4], "sparsity = 1.5");
}
