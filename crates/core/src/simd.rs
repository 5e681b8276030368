//! Hot loops compiled for the CPU they run on. The workspace is built for
//! baseline x86-64 (SSE2, four `f32` lanes); a function declared with
//! [`vectorized!`] is compiled again with AVX-512 and with AVX2, and the
//! widest copy the CPU runs is taken, so the same source runs sixteen or
//! eight lanes wide.
//! The arithmetic is the same IEEE operations either way (no contraction
//! into FMA), so results do not depend on which copy ran.

/// Whether this CPU has AVX-512 F, BW, DQ and VL (checked once).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX512.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
    })
}

/// Whether this CPU has AVX2 and FMA (checked once).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX2.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// Declares a function generic over the element type (and over further type
/// parameters, such as the closure a loop applies) whose body runs compiled
/// for AVX-512 or AVX2 where the CPU has it (everything the body calls must be
/// `#[inline]`, or a closure, to be compiled with it), else as built.
macro_rules! vectorized {
    ($(#[$attr:meta])* fn $name:ident<E: Element $(, $g:ident: $bound:path)*>($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$attr])*
        fn $name<E: Element $(, $g: $bound)*>($($arg: $ty),*) {
            #[inline(always)]
            fn body<E: Element $(, $g: $bound)*>($($arg: $ty),*) $body
            /// The body, compiled with AVX-512.
            ///
            /// # Safety
            /// The CPU must have the features it is compiled for.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
            unsafe fn avx512<E: Element $(, $g: $bound)*>($($arg: $ty),*) {
                body($($arg),*)
            }
            /// The body, compiled with AVX2.
            ///
            /// # Safety
            /// The CPU must have the features it is compiled for.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<E: Element $(, $g: $bound)*>($($arg: $ty),*) {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::has_avx512() {
                // SAFETY: the CPU has the features the copy is compiled for.
                return unsafe { avx512($($arg),*) };
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::has_avx2() {
                // SAFETY: as above.
                return unsafe { avx2($($arg),*) };
            }
            body($($arg),*)
        }
    };
}
pub(crate) use vectorized;
