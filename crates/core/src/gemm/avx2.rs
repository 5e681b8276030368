//! The tiled kernel's vector instructions with AVX2 and FMA: 8 lanes, with
//! plain loads and stores where a vector is whole and masked ones for the
//! edges of a tile.

use super::tiled::{self, Isa};
use std::arch::x86_64::*;

/// AVX2 with FMA, eight `f32` lanes.
pub(super) struct Ymm;

/// Lane mask of the first `n` of 8 lanes (`n` may exceed 8): all bits set in
/// the lanes in, none in the others.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn mask_of(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

impl Isa for Ymm {
    type V = __m256;
    const LANES: usize = 8;

    /// A Zen 3 core's 512 KiB of L2 holds the 192-row block of `a`, not a
    /// 2048-column block of `b`: its panels stay.
    const A_TILE_STAYS: bool = false;

    tiled::entries!("avx2,fma");

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn zero() -> __m256 {
        _mm256_setzero_ps()
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: the caller vouches for the 8 values.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_first(p: *const f32, n: usize) -> __m256 {
        // SAFETY: a whole vector when `n >= 8`, else the mask keeps the load
        // to the `n` values vouched for.
        unsafe {
            match n >= 8 {
                true => _mm256_loadu_ps(p),
                false => _mm256_maskload_ps(p, mask_of(n)),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_first(p: *mut f32, n: usize, v: __m256) {
        // SAFETY: as for `load_first`.
        unsafe {
            match n >= 8 {
                true => _mm256_storeu_ps(p, v),
                false => _mm256_maskstore_ps(p, mask_of(n), v),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gather_first(p: *const f32, stride: i32, n: usize) -> __m256 {
        let index = _mm256_mullo_epi32(_mm256_set1_epi32(stride), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        let mask = _mm256_castsi256_ps(mask_of(n));
        // SAFETY: the mask keeps the gather to the `n` values vouched for.
        unsafe { _mm256_mask_i32gather_ps::<4>(_mm256_setzero_ps(), p, index, mask) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn transpose_block(
        src: *const f32,
        lane: usize,
        [lanes, steps]: [usize; 2],
        dst: *mut f32,
        row: usize,
        [width, spill]: [usize; 2],
    ) {
        let rows: [__m256; 8] = std::array::from_fn(|i| match i < lanes {
            // SAFETY: steps `0..steps` of lane `i` are vouched for.
            true => unsafe { Self::load_first(src.add(i * lane), steps) },
            false => _mm256_setzero_ps(),
        });
        for (s, v) in transpose8(rows).into_iter().take(steps).enumerate() {
            // SAFETY: the first `width` lanes of step `s` are vouched for,
            // all 8 for the first `spill` steps.
            unsafe { Self::store_first(dst.add(s * row), if s < spill { 8 } else { width }, v) };
        }
    }
}

/// The transpose of the 8 x 8 block whose row `i` is `r[i]`: row `j` of the
/// result holds element `j` of every row.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // Rows 2i and 2i + 1 interleaved, then 4-row groups: in each 128-bit half
    // `h` of `u[4g + j]`, column `4h + j` of rows `4g..4g + 4`.
    let t: [__m256; 8] = std::array::from_fn(|i| match i % 2 {
        0 => _mm256_unpacklo_ps(r[i], r[i + 1]),
        _ => _mm256_unpackhi_ps(r[i - 1], r[i]),
    });
    let u: [__m256; 8] = std::array::from_fn(|i| {
        let (g, j) = (i / 4, i % 4);
        let (x, y) = (t[4 * g + j / 2], t[4 * g + 2 + j / 2]);
        match j % 2 {
            0 => _mm256_shuffle_ps::<0x44>(x, y),
            _ => _mm256_shuffle_ps::<0xEE>(x, y),
        }
    });
    // Then the two groups' halves, joined for each column `4h + j`.
    std::array::from_fn(|i| match i / 4 {
        0 => _mm256_permute2f128_ps::<0x20>(u[i], u[4 + i]),
        _ => _mm256_permute2f128_ps::<0x31>(u[i - 4], u[i]),
    })
}
