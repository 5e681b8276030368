//! The one GEMM interface every matrix product goes through. Two kernels sit
//! behind it, chosen by shape alone (so results never depend on the thread
//! count): matrixmultiply for large products, the `gemm` crate for the small
//! and skinny ones (batch-128 layers, RNN steps, attention heads), where it
//! is about twice as fast on this project's benchmark CPU.

use crate::profile::{scope, Family};
use crate::Element;

/// The kernel behind a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// matrixmultiply: fastest once the output is large in both dimensions.
    MatrixMultiply,
    /// The `gemm` crate: fastest on small and skinny products.
    Small,
}

impl Kernel {
    /// The kernel for a product of `m x k` by `k x n`. Measured single-threaded
    /// on the benchmark CPU (GFLOP/s, matrixmultiply vs gemm): 1024x256x768
    /// 80 vs 66, 512x128x784 89 vs 64, 128x512x784 76 vs 64; but 32x256x1024
    /// 28 vs 44, 64x64x64 29 vs 50, 12544x288x64 40 vs 60, 128x512x10 10 vs 38.
    pub(crate) fn for_shape(m: usize, k: usize, n: usize) -> Kernel {
        if m >= 128 && n >= 256 && k >= 64 {
            Kernel::MatrixMultiply
        } else {
            Kernel::Small
        }
    }
}

/// `c = a b + beta c` for an `m x k` matrix `a` and a `k x n` matrix `b` given
/// by (row, column) strides in elements, into `c` with row stride `rsc`.
/// `beta` is 0 (overwrite) or 1 (accumulate). The kernel is chosen by shape.
pub(crate) fn gemm<E: Element>(
    [m, k, n]: [usize; 3],
    a: &[E],
    ab: [usize; 2],
    b: &[E],
    bb: [usize; 2],
    beta: E,
    c: &mut [E],
    rsc: usize,
) {
    gemm_with(Kernel::for_shape(m, k, n), [m, k, n], a, ab, b, bb, beta, c, rsc)
}

/// [`gemm`] with the kernel given: a product split into row blocks uses the
/// kernel chosen for the whole product.
pub(crate) fn gemm_with<E: Element>(
    kernel: Kernel,
    [m, k, n]: [usize; 3],
    a: &[E],
    [rsa, csa]: [usize; 2],
    b: &[E],
    [rsb, csb]: [usize; 2],
    beta: E,
    c: &mut [E],
    rsc: usize,
) {
    let _profile = scope(Family::Gemm);
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * rsc + n <= c.len(), "gemm: output out of bounds");
    if k == 0 {
        if beta == E::zero() {
            c.chunks_mut(rsc).take(m).for_each(|r| r[..n].fill(E::zero()));
        }
        return;
    }
    assert!((m - 1) * rsa + (k - 1) * csa < a.len(), "gemm: left operand out of bounds");
    assert!((k - 1) * rsb + (n - 1) * csb < b.len(), "gemm: right operand out of bounds");
    // SAFETY: the asserts above keep every element the strides address
    // inside `a`, `b` and `c`; `c` is a unique borrow, so it aliases neither.
    unsafe {
        if kernel == Kernel::Small {
            let accumulate = beta != E::zero();
            ::gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                rsc as isize,
                accumulate,
                a.as_ptr(),
                csa as isize,
                rsa as isize,
                b.as_ptr(),
                csb as isize,
                rsb as isize,
                E::one(),
                E::one(),
                false,
                false,
                false,
                ::gemm::Parallelism::None,
            );
            return;
        }
        E::gemm(
            m,
            k,
            n,
            E::one(),
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        )
    }
}
