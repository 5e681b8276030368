//! The tiled kernel's vector instructions with AVX-512: 16 lanes, masked
//! loads and stores.

use super::tiled::{self, Isa};
use std::arch::x86_64::*;

/// AVX-512F, sixteen `f32` lanes.
pub(super) struct Zmm;

/// Lane mask of the first `n` of 16 lanes (`n` may exceed 16).
fn mask_of(n: usize) -> __mmask16 {
    if n >= 16 {
        u16::MAX
    } else {
        (1u16 << n) - 1
    }
}

impl Isa for Zmm {
    type V = __m512;
    const LANES: usize = 16;

    /// A 12 x 256 tile of `a` is 12 KiB, a 32-column panel of `b` 32 KiB of
    /// a 48 KiB L1: on a Sapphire Rapids core (2 MiB of L2), keeping the tile
    /// and streaming the panels measured faster (median of 5, 1 thread:
    /// 1024x64x1024 148 -> 162 GFLOP/s, 1024x256x768 164 -> 170, 256x32x1024
    /// 135 -> 147, the rest within noise). On a Zen 4 core (32 KiB of L1,
    /// 1 MiB of L2) the other order was no faster (median of 9 paired runs,
    /// 1 thread: lstm 25.8 -> 25.6 ms, mlp 5.39 -> 5.39, transformer 120 ->
    /// 128).
    const A_TILE_STAYS: bool = true;

    tiled::entries!("avx512f");

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the caller vouches for the 16 values.
        unsafe { _mm512_loadu_ps(p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_first(p: *const f32, n: usize) -> __m512 {
        // SAFETY: the mask keeps the load to the `n` values vouched for.
        unsafe { _mm512_maskz_loadu_ps(mask_of(n), p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_first(p: *mut f32, n: usize, v: __m512) {
        // SAFETY: the mask keeps the store to the `n` values vouched for.
        unsafe { _mm512_mask_storeu_ps(p, mask_of(n), v) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn gather_first(p: *const f32, stride: i32, n: usize) -> __m512 {
        let index = _mm512_mullo_epi32(
            _mm512_set1_epi32(stride),
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        );
        // SAFETY: the mask keeps the gather to the `n` values vouched for.
        unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask_of(n), index, p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose_block(
        src: *const f32,
        lane: usize,
        [lanes, steps]: [usize; 2],
        dst: *mut f32,
        row: usize,
        [width, spill]: [usize; 2],
    ) {
        let rows: [__m512; 16] = std::array::from_fn(|i| match i < lanes {
            // SAFETY: steps `0..steps` of lane `i` are vouched for; the mask
            // keeps the load to them.
            true => unsafe { _mm512_maskz_loadu_ps(mask_of(steps), src.add(i * lane)) },
            false => _mm512_setzero_ps(),
        });
        for (s, v) in transpose16(rows).into_iter().take(steps).enumerate() {
            // SAFETY: the first `width` lanes of step `s` are vouched for,
            // all 16 for the first `spill` steps.
            unsafe { _mm512_mask_storeu_ps(dst.add(s * row), mask_of(if s < spill { 16 } else { width }), v) };
        }
    }
}

/// The transpose of the 16 x 16 block whose row `i` is `r[i]`: row `j` of the
/// result holds element `j` of every row.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // Rows 2i and 2i + 1 interleaved, then 4-row groups: in every 128-bit
    // lane `q` of `u[4g + j]`, column `4q + j` of rows `4g..4g + 4`.
    let t: [__m512; 16] = std::array::from_fn(|i| match i % 2 {
        0 => _mm512_unpacklo_ps(r[i], r[i + 1]),
        _ => _mm512_unpackhi_ps(r[i - 1], r[i]),
    });
    let u: [__m512; 16] = std::array::from_fn(|i| {
        let (g, j) = (i / 4, i % 4);
        let (x, y) = (t[4 * g + j / 2], t[4 * g + 2 + j / 2]);
        match j % 2 {
            0 => _mm512_shuffle_ps::<0x44>(x, y),
            _ => _mm512_shuffle_ps::<0xEE>(x, y),
        }
    });
    // Then the four groups' lanes `q`, gathered for each column `4q + j`.
    let mut out = [_mm512_setzero_ps(); 16];
    for j in 0..4 {
        let (p0, p1) = (_mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]), _mm512_shuffle_f32x4::<0xDD>(u[j], u[4 + j]));
        let (p2, p3) =
            (_mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]), _mm512_shuffle_f32x4::<0xDD>(u[8 + j], u[12 + j]));
        out[j] = _mm512_shuffle_f32x4::<0x88>(p0, p2);
        out[4 + j] = _mm512_shuffle_f32x4::<0x88>(p1, p3);
        out[8 + j] = _mm512_shuffle_f32x4::<0xDD>(p0, p2);
        out[12 + j] = _mm512_shuffle_f32x4::<0xDD>(p1, p3);
    }
    out
}
