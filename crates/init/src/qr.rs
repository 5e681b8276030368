//! A small Householder QR in `f64`, for the orthogonal initialiser.

/// The thin QR of the `m x n` row-major matrix `a` (`m >= n`), normalised so
/// that `diag(R) >= 0`: returns `(Q, R)` with `Q` `m x n` and `R` `n x n`,
/// both row-major. With that sign convention the factorisation is unique, so
/// Q is what PyTorch's `orthogonal_` gets from `linalg.qr` and `Q *= sign(diag(R))`.
pub(crate) fn qr(a: &[f64], m: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(m >= n && a.len() == m * n, "qr: needs m >= n and m*n values");
    let mut r = a.to_vec();
    // Householder vectors v_k (length m - k) with their squared norms; None
    // where the column below the diagonal is already zero (H_k = I).
    let mut reflectors: Vec<Option<(Vec<f64>, f64)>> = Vec::with_capacity(n);
    for k in 0..n {
        let norm = (k..m).map(|i| r[i * n + k] * r[i * n + k]).sum::<f64>().sqrt();
        let x0 = r[k * n + k];
        let alpha = if x0 >= 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| r[i * n + k]).collect();
        v[0] = x0 - alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if vv == 0.0 {
            reflectors.push(None);
            continue;
        }
        reflect(&mut r, n, k, k, &v, vv);
        reflectors.push(Some((v, vv)));
    }
    // Q = H_0 H_1 ... H_{n-1} [I_n; 0], built right to left.
    let mut q = vec![0.0; m * n];
    for i in 0..n {
        q[i * n + i] = 1.0;
    }
    for (k, h) in reflectors.iter().enumerate().rev() {
        if let Some((v, vv)) = h {
            reflect(&mut q, n, k, 0, v, *vv);
        }
    }
    // Flip signs so that diag(R) >= 0: column j of Q and row j of R by sign(R_jj)
    // (a zero diagonal, of probability zero for random input, keeps its sign).
    let mut rr = vec![0.0; n * n];
    for i in 0..n {
        let s = if r[i * n + i] < 0.0 { -1.0 } else { 1.0 };
        for j in i..n {
            rr[i * n + j] = s * r[i * n + j];
        }
        for row in 0..m {
            q[row * n + i] *= s;
        }
    }
    (q, rr)
}

/// Applies `I - 2 v vᵀ / (vᵀv)` to rows `k..` and columns `col0..` of the
/// row-major matrix `a` with `n` columns.
fn reflect(a: &mut [f64], n: usize, k: usize, col0: usize, v: &[f64], vv: f64) {
    for j in col0..n {
        let s: f64 = v.iter().enumerate().map(|(i, vi)| vi * a[(k + i) * n + j]).sum();
        let f = 2.0 * s / vv;
        for (i, vi) in v.iter().enumerate() {
            a[(k + i) * n + j] -= f * vi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::qr;

    fn check(a: &[f64], m: usize, n: usize) {
        let (q, r) = qr(a, m, n);
        for i in 0..m {
            for j in 0..n {
                let qr_ij: f64 = (0..n).map(|k| q[i * n + k] * r[k * n + j]).sum();
                assert!((qr_ij - a[i * n + j]).abs() < 1e-12, "QR != A at ({i}, {j})");
            }
        }
        for i in 0..n {
            assert!(r[i * n + i] >= 0.0, "diag(R) must be non-negative");
            for j in 0..i {
                assert_eq!(r[i * n + j], 0.0, "R must be upper triangular");
            }
            for j in 0..n {
                let qtq: f64 = (0..m).map(|k| q[k * n + i] * q[k * n + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((qtq - want).abs() < 1e-12, "QᵀQ != I at ({i}, {j}): {qtq}");
            }
        }
    }

    #[test]
    fn reconstructs_and_is_orthonormal() {
        check(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0], 4, 3);
        check(&[-2.0, 0.5, 1.0, -7.0], 2, 2);
        check(&[1.0, -1.0, 2.0], 3, 1);
    }

    #[test]
    fn known_factorisation() {
        // A = [[3, 0], [4, 5]]: first column has norm 5, so Q's first column is
        // [3, 4]/5, R = [[5, 4], [0, 3]] (R_01 = q0·a1 = 4, R_11 = 5·3/5 = 3).
        let (q, r) = qr(&[3.0, 0.0, 4.0, 5.0], 2, 2);
        let want_q = [0.6, -0.8, 0.8, 0.6];
        let want_r = [5.0, 4.0, 0.0, 3.0];
        for (g, w) in q.iter().zip(want_q).chain(r.iter().zip(want_r)) {
            assert!((g - w).abs() < 1e-14, "{q:?} {r:?}");
        }
    }

    #[test]
    fn zero_column_is_handled() {
        check(&[0.0, 1.0, 0.0, 2.0, 0.0, 3.0], 3, 2);
    }
}
