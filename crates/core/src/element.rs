//! The floating-point element types a [`Tensor`](crate::Tensor) can hold.

use num_traits::{Float, FromPrimitive, ToPrimitive};
use std::fmt::{Debug, Display};
use std::iter::Sum;

pub(crate) mod sealed {
    use crate::buffers::Free;
    use std::cell::RefCell;
    use std::thread::LocalKey;

    pub trait Sealed: Sized + 'static {
        /// This thread's free buffers of the type, for [`crate::buffers`].
        fn free() -> &'static LocalKey<RefCell<Free<Self>>>;
    }

    macro_rules! sealed {
        ($($t:ty),*) => {$(
            impl Sealed for $t {
                fn free() -> &'static LocalKey<RefCell<Free<Self>>> {
                    thread_local!(static FREE: RefCell<Free<$t>> = RefCell::new(Free::default()));
                    &FREE
                }
            }
        )*};
    }
    sealed!(f32, f64);
}

/// An element type of a tensor: `f32` (the default, for speed) or `f64` (for
/// gradient checking and conformance). Sealed: every op is implemented for both.
pub trait Element:
    Float + FromPrimitive + ToPrimitive + Default + Debug + Display + Sum + Send + Sync + 'static + sealed::Sealed
{
    /// The type's name as PyTorch spells its dtype (`"float32"`, `"float64"`).
    const DTYPE: &'static str;

    /// Converts from `f64`, rounding to nearest.
    fn of(v: f64) -> Self;

    /// Converts to `f64` exactly.
    fn f64(self) -> f64;

    /// `C = alpha * A B + beta * C` for row/column strides given in elements.
    ///
    /// # Safety
    /// The pointers and strides must describe valid `m x k`, `k x n` and `m x n`
    /// matrices; `c` must not alias `a` or `b`.
    #[allow(clippy::missing_safety_doc)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Element for f32 {
    const DTYPE: &'static str = "float32";
    fn of(v: f64) -> Self {
        v as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

impl Element for f64 {
    const DTYPE: &'static str = "float64";
    fn of(v: f64) -> Self {
        v
    }
    fn f64(self) -> f64 {
        self
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}
