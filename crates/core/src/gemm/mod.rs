//! The one GEMM interface every matrix product goes through. Three kernels
//! sit behind it, chosen by element type, CPU and shape alone (so results
//! never depend on the thread count): our own tiled kernel for `f32` where
//! the CPU has AVX-512 or AVX2 with FMA, else matrixmultiply for large products and the `gemm`
//! crate for the small and skinny ones (batch-128 layers, RNN steps,
//! attention heads), where it is about twice as fast.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod tiled;

use crate::profile::{scope, Family};
use crate::Element;
use std::any::TypeId;

/// Below this many multiply-adds a product runs on one thread.
pub(crate) const PAR_FLOPS: usize = 1 << 18;

/// The kernel behind a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// matrixmultiply: fastest once the output is large in both dimensions.
    MatrixMultiply,
    /// The `gemm` crate: fastest on small and skinny products.
    Small,
    /// Our tiled kernel (AVX-512 or AVX2), for `f32`: fastest on every shape
    /// at least 32 columns wide.
    #[cfg(target_arch = "x86_64")]
    Tiled,
}

impl Kernel {
    /// The kernel for a product of `m x k` by `k x n` in `E`. Measured
    /// single-threaded on an AVX-512 Xeon (GFLOP/s, ours vs matrixmultiply vs
    /// gemm): 1024^3 83 vs 71 vs 62, 512x128x784 96 vs 83 vs 64, 1024x256x1024
    /// 88 vs 73 vs 64, 12544x288x64 69 vs 40 vs 57, 32x256x1024 32 vs 27 vs 43
    /// (B transposed), but 128x512x10 26 vs 10 vs 37. With AVX2 on a Zen 3
    /// core (`lamina-bench --gemm`, ours, then matrixmultiply or gemm as
    /// chosen before): 1024^3 64 vs 49, 1024x256x1024 65 vs 54, 32x256x1024
    /// 47 vs 36, 64x288x196 52 vs 49. Without either (matrixmultiply vs
    /// gemm): 1024x256x768 80 vs 66, 128x512x784 76 vs 64; but 32x256x1024 28
    /// vs 44, 64x64x64 29 vs 50, 12544x288x64 40 vs 60.
    pub(crate) fn for_shape<E: Element>(m: usize, k: usize, n: usize) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if TypeId::of::<E>() == TypeId::of::<f32>() && n >= 32 && tiled::available() {
            return Kernel::Tiled;
        }
        if m >= 128 && n >= 256 && k >= 64 {
            Kernel::MatrixMultiply
        } else {
            Kernel::Small
        }
    }

    /// Columns per GEMM call when a product of `m` rows and `n` columns is
    /// shared by `parts` threads and is split by columns: with our kernel,
    /// where each part still has twice as many columns as rows (a weight
    /// times a batch), so that each thread reads only its share of the weight
    /// rather than all of it. Whole panels of the widest tile (32 columns) a
    /// call.
    /// `None`: split by rows.
    pub(crate) fn columns_per_call(self, m: usize, n: usize, parts: usize) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Tiled && parts > 1 && n.div_ceil(parts) >= 2 * m {
            return Some(n.div_ceil(parts).next_multiple_of(32));
        }
        let _ = (m, n, parts);
        None
    }

    /// Rows per GEMM call when an `m`-row product may be shared by `parts`
    /// threads. Our kernel sums every element in the same order whatever rows
    /// a call covers, so it makes one call per part. The others are split by
    /// shape alone, never by the thread count, so that every product makes
    /// the same calls on any pool: whole when small, else about a quarter (a
    /// multiple of 16, 64 to 256 rows).
    pub(crate) fn rows_per_call(self, m: usize, parts: usize) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Tiled {
            return m.div_ceil(parts.max(1)).max(1);
        }
        if m <= 64 {
            m.max(1)
        } else {
            (m.div_ceil(4).next_multiple_of(16)).clamp(64, 256)
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
    gemm_with(Kernel::for_shape::<E>(m, k, n), [m, k, n], a, ab, b, bb, Start::scaled(beta), c, rsc)
}

/// What a product is added to in `c`.
#[derive(Clone, Copy)]
pub(crate) enum Start<'a, E> {
    /// Nothing: `c` is overwritten.
    Zero,
    /// `c`'s old values.
    Old,
    /// In every row, these values, one a column (a layer's bias): our kernel
    /// adds them as it stores each tile, the others fill `c` with them first.
    Rows(&'a [E]),
}

impl<E: Element> Start<'_, E> {
    /// `beta c` for `beta` 0 or 1.
    pub(crate) fn scaled(beta: E) -> Self {
        if beta == E::zero() {
            Start::Zero
        } else {
            Start::Old
        }
    }
}

/// [`gemm`] with the kernel given: a product split into row blocks uses the
/// kernel chosen for the whole product; `c = start + a b`.
pub(crate) fn gemm_with<E: Element>(
    kernel: Kernel,
    shape: [usize; 3],
    a: &[E],
    ab: [usize; 2],
    b: &[E],
    bb: [usize; 2],
    start: Start<'_, E>,
    c: &mut [E],
    rsc: usize,
) {
    // SAFETY: `c` is a unique borrow of its `c.len()` values.
    unsafe { gemm_into(kernel, shape, a, ab, b, bb, start, (c.as_mut_ptr(), c.len()), rsc) }
}

/// [`gemm_with`] into the `len` values at `c`, which other threads may be
/// writing other columns of (a product split by columns).
///
/// # Safety
/// `c` must be valid for `len` values, and no other thread may read or write
/// the `m x n` elements (row stride `rsc`) this call writes.
pub(crate) unsafe fn gemm_into<E: Element>(
    kernel: Kernel,
    [m, k, n]: [usize; 3],
    a: &[E],
    [rsa, csa]: [usize; 2],
    b: &[E],
    [rsb, csb]: [usize; 2],
    start: Start<'_, E>,
    (c, len): (*mut E, usize),
    rsc: usize,
) {
    let _profile = scope(Family::Gemm);
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * rsc + n <= len, "gemm: output out of bounds");
    if let Start::Rows(values) = start {
        assert_eq!(values.len(), n, "gemm: a start row of {} values for {n} columns", values.len());
    }
    // SAFETY: row `i`'s `n` values are inside the checked `len`.
    let row = |i: usize| unsafe { std::slice::from_raw_parts_mut(c.add(i * rsc), n) };
    let fill_rows = |values: &[E]| (0..m).for_each(|i| row(i).copy_from_slice(values));
    if k == 0 {
        match start {
            Start::Zero => (0..m).for_each(|i| row(i).fill(E::zero())),
            Start::Old => {}
            Start::Rows(values) => fill_rows(values),
        }
        return;
    }
    assert!((m - 1) * rsa + (k - 1) * csa < a.len(), "gemm: left operand out of bounds");
    assert!((k - 1) * rsb + (n - 1) * csb < b.len(), "gemm: right operand out of bounds");
    // SAFETY: the asserts above keep every element the strides address
    // inside `a`, `b` and `c`; the caller vouches that no one else touches
    // the elements of `c` written here, so it aliases neither input.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Tiled {
            assert_eq!(TypeId::of::<E>(), TypeId::of::<f32>(), "gemm: the tiled kernel is for f32");
            // The assert makes `E` f32, so the casts only rename the type;
            // `for_shape` chose this kernel only where the CPU runs it.
            let (a, b, c) = (a.as_ptr() as *const f32, b.as_ptr() as *const f32, c as *mut f32);
            let start = match start {
                Start::Zero => Start::Zero,
                Start::Old => Start::Old,
                Start::Rows(values) => Start::Rows(std::slice::from_raw_parts(values.as_ptr() as *const f32, n)),
            };
            tiled::sgemm([m, k, n], a, [rsa, csa], b, [rsb, csb], start, c, rsc);
            return;
        }
        let accumulate = match start {
            Start::Zero => false,
            Start::Old => true,
            Start::Rows(values) => {
                fill_rows(values);
                true
            }
        };
        if kernel == Kernel::Small {
            ::gemm::gemm(
                m,
                n,
                k,
                c,
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
            if accumulate { E::one() } else { E::zero() },
            c,
            rsc as isize,
            1,
        )
    }
}

/// A right operand `b: [k, n]` made ready once for many products `a b`: an
/// RNN's recurrent weight, multiplied by a batch at every step. For `f32` on
/// AVX-512 or AVX2 it is packed once into the panels of a tile suited to few rows,
/// where a product of its own would repack it every time.
pub(crate) struct PackedRhs<'a, E: Element> {
    b: &'a [E],
    strides: [usize; 2],
    k: usize,
    n: usize,
    #[cfg(target_arch = "x86_64")]
    packed: Option<tiled::Packed>,
}

impl<'a, E: Element> PackedRhs<'a, E> {
    /// Prepares the `k x n` matrix `b` with (row, column) strides `bb`.
    pub(crate) fn new(k: usize, n: usize, b: &'a [E], bb: [usize; 2]) -> Self {
        let _profile = scope(Family::Gemm);
        if k > 0 && n > 0 {
            assert!((k - 1) * bb[0] + (n - 1) * bb[1] < b.len(), "gemm: right operand out of bounds");
        }
        #[cfg(target_arch = "x86_64")]
        let packed = (TypeId::of::<E>() == TypeId::of::<f32>() && tiled::available() && k > 0 && n > 0).then(|| {
            // SAFETY: `E` is f32 (checked above) and the assert keeps every
            // addressed element inside `b`.
            unsafe { tiled::Packed::new(k, n, b.as_ptr() as *const f32, bb) }
        });
        PackedRhs {
            b,
            strides: bb,
            k,
            n,
            #[cfg(target_arch = "x86_64")]
            packed,
        }
    }

    /// `c = a b + beta c` for an `m x k` matrix `a` with (row, column) strides
    /// `ab`, into `c` with row stride `rsc`: the values of [`gemm`], bit for bit.
    pub(crate) fn product(&self, m: usize, a: &[E], ab: [usize; 2], beta: E, c: &mut [E], rsc: usize) {
        let (k, n) = (self.k, self.n);
        #[cfg(target_arch = "x86_64")]
        if let Some(packed) = &self.packed {
            let _profile = scope(Family::Gemm);
            if m == 0 {
                return;
            }
            assert!((m - 1) * rsc + n <= c.len(), "gemm: output out of bounds");
            assert!((m - 1) * ab[0] + (k - 1) * ab[1] < a.len(), "gemm: left operand out of bounds");
            let (a, c) = (a.as_ptr() as *const f32, c.as_mut_ptr() as *mut f32);
            // SAFETY: `E` is f32 (a packed operand exists only then); the
            // asserts keep `a` and `c` in bounds, and `c`, a unique borrow,
            // aliases neither input.
            unsafe { tiled::sgemm_packed(m, a, ab, packed, beta != E::zero(), c, rsc) };
            return;
        }
        gemm([m, k, n], a, ab, self.b, self.strides, beta, c, rsc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A `rows x cols` matrix of `values`, stored row-major or transposed,
    /// inside a buffer with a gap at the end of each stored line.
    fn stored(values: &[f32], [rows, cols]: [usize; 2], transposed: bool, gap: usize) -> (Vec<f32>, [usize; 2]) {
        let (lines, len) = if transposed { (cols, rows) } else { (rows, cols) };
        let mut buf = vec![f32::NAN; lines * (len + gap)];
        for i in 0..rows {
            for j in 0..cols {
                let at = if transposed { j * (len + gap) + i } else { i * (len + gap) + j };
                buf[at] = values[i * cols + j];
            }
        }
        let strides = if transposed { [1, len + gap] } else { [len + gap, 1] };
        (buf, strides)
    }

    /// What a test product is added to: nothing, `c`, or a bias row.
    #[derive(Clone, Copy, Debug)]
    enum Added {
        Nothing,
        Old,
        Bias,
    }

    /// The product by `kernel`, or by a [`PackedRhs`] when `kernel` is `None`
    /// (which takes no bias).
    fn product(
        kernel: Option<Kernel>,
        m: usize,
        k: usize,
        n: usize,
        layout: [bool; 2],
        gap: usize,
        added: Added,
        seed: u64,
    ) {
        let value = |i: usize| ((i as u64 * 2654435761 + seed) % 17) as f32 / 4.0 - 2.0;
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b: Vec<f32> = (0..k * n).map(|i| value(i + 7)).collect();
        let c0: Vec<f32> = (0..m * n).map(|i| value(i + 3)).collect();
        let bias: Vec<f32> = (0..n).map(|j| value(j + 11)).collect();
        let (sa, ab) = stored(&a, [m, k], layout[0], gap);
        let (sb, bb) = stored(&b, [k, n], layout[1], gap);
        let rsc = n + gap;
        let mut c = vec![f32::NAN; m * rsc];
        for i in 0..m {
            c[i * rsc..i * rsc + n].copy_from_slice(&c0[i * n..(i + 1) * n]);
        }
        let start = match added {
            Added::Nothing => Start::Zero,
            Added::Old => Start::Old,
            Added::Bias => Start::Rows(&bias),
        };
        match (kernel, added) {
            (Some(kernel), _) => gemm_with(kernel, [m, k, n], &sa, ab, &sb, bb, start, &mut c, rsc),
            (None, Added::Bias) => return,
            (None, _) => {
                let beta = if matches!(added, Added::Old) { 1.0 } else { 0.0 };
                PackedRhs::new(k, n, &sb, bb).product(m, &sa, ab, beta, &mut c, rsc)
            }
        }
        for i in 0..m {
            for j in 0..n {
                let before = match added {
                    Added::Nothing => 0.0,
                    Added::Old => c0[i * n + j],
                    Added::Bias => bias[j],
                };
                // Small integers over 4: every partial sum is exact in f32.
                let want = before + (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>();
                assert_eq!(c[i * rsc + j], want, "{kernel:?} {m}x{k}x{n} {layout:?} {added:?} at ({i}, {j})");
            }
            assert!(c[i * rsc + n..(i + 1) * rsc].iter().all(|v| v.is_nan()), "{kernel:?} wrote past row {i}");
        }
    }

    /// Every kernel this CPU runs, and the prepacked product (`None`).
    fn kernels() -> Vec<Option<Kernel>> {
        let mut all = vec![Some(Kernel::MatrixMultiply), Some(Kernel::Small), None];
        #[cfg(target_arch = "x86_64")]
        if tiled::available() {
            all.push(Some(Kernel::Tiled));
        }
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Every kernel, and the prepacked product, computes the exact
        /// product, for any layout of the operands, added to nothing, to
        /// the old output or to a bias row, and writes nothing past the
        /// output's rows.
        #[test]
        fn kernels_compute_the_product(
            m in 1usize..90, k in 0usize..300, n in 1usize..150,
            layout in any::<[bool; 2]>(), gap in 0usize..3, added in 0usize..3, seed: u64,
        ) {
            let added = [Added::Nothing, Added::Old, Added::Bias][added];
            for kernel in kernels() {
                product(kernel, m, k, n, layout, gap, added, seed);
            }
        }
    }

    /// Broadcast operands (stride 0 along the rows of `a`, the columns of
    /// `b`, the sum, or everything, as a sum's expanded gradient is) are
    /// multiplied as their copies would be.
    #[test]
    fn broadcast_operands() {
        let (m, k, n) = (70, 300, 90);
        let src: Vec<f32> = (0..k).map(|i| (i % 17) as f32 / 4.0 - 2.0).collect();
        let at = |[r, c]: [usize; 2], [i, j]: [usize; 2]| src[i * r + j * c];
        for ab in [[0, 1], [1, 0], [0, 0]] {
            for bb in [[1, 0], [0, 1], [0, 0]] {
                for kernel in kernels() {
                    let mut c = vec![f32::NAN; m * n];
                    match kernel {
                        Some(kernel) => gemm_with(kernel, [m, k, n], &src, ab, &src, bb, Start::Zero, &mut c, n),
                        None => PackedRhs::new(k, n, &src, bb).product(m, &src, ab, 0.0, &mut c, n),
                    }
                    for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
                        // Multiples of 1/16 under 2^11 in all: every partial sum is exact.
                        let want: f32 = (0..k).map(|p| at(ab, [i, p]) * at(bb, [p, j])).sum();
                        assert_eq!(c[i * n + j], want, "{kernel:?} a {ab:?} b {bb:?} at ({i}, {j})");
                    }
                }
            }
        }
    }

    /// The blocked paths of the tiled kernel: several `k` blocks (even and
    /// uneven), row blocks and column blocks, the transposed product for a
    /// weight, a transposed `a` read in place, the prepacked operand's
    /// panels across blocks, and a batch whose last rows read in place are
    /// two packed tiles (32 rows with AVX2).
    #[test]
    fn large_products_in_every_layout() {
        for layout in [[false, false], [true, false], [false, true], [true, true]] {
            for &(m, k, n) in &[(300, 600, 70), (40, 520, 2100), (130, 260, 600), (32, 300, 1030), (200, 1100, 40)] {
                for (kernel, added) in kernels().into_iter().flat_map(|k| [(k, Added::Old), (k, Added::Bias)]) {
                    product(kernel, m, k, n, layout, 1, added, 5);
                }
            }
        }
    }
}
