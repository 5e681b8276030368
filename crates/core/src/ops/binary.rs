//! Binary element-wise ops with NumPy broadcasting. Gradients are summed back
//! to each input's shape with [`Tensor::sum_to`].

use crate::kernels::zip;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::ops::{Add, Div, Mul, Neg, Sub};

impl<E: Element> Tensor<E> {
    /// `self + rhs`, broadcasting.
    #[track_caller]
    pub fn add(&self, rhs: &Tensor<E>) -> Tensor<E> {
        let (sa, sb): (Vec<usize>, Vec<usize>) = (self.shape().into(), rhs.shape().into());
        zip("add", self, rhs, |a, b| a + b).record("add", &[self, rhs], move |c, g| {
            smallvec![c.needs(0).then(|| g.sum_to(&sa)), c.needs(1).then(|| g.sum_to(&sb))]
        })
    }

    /// `self - rhs`, broadcasting.
    #[track_caller]
    pub fn sub(&self, rhs: &Tensor<E>) -> Tensor<E> {
        let (sa, sb): (Vec<usize>, Vec<usize>) = (self.shape().into(), rhs.shape().into());
        zip("sub", self, rhs, |a, b| a - b).record("sub", &[self, rhs], move |c, g| {
            smallvec![c.needs(0).then(|| g.sum_to(&sa)), c.needs(1).then(|| g.neg().sum_to(&sb))]
        })
    }

    /// `self * rhs`, broadcasting.
    #[track_caller]
    pub fn mul(&self, rhs: &Tensor<E>) -> Tensor<E> {
        let (a, b) = (self.clone(), rhs.clone());
        zip("mul", self, rhs, |a, b| a * b).record("mul", &[self, rhs], move |c, g| {
            smallvec![c.needs(0).then(|| g.mul(&b).sum_to(a.shape())), c.needs(1).then(|| g.mul(&a).sum_to(b.shape()))]
        })
    }

    /// `self / rhs`, broadcasting. d/drhs = -self / rhs².
    #[track_caller]
    pub fn div(&self, rhs: &Tensor<E>) -> Tensor<E> {
        let (a, b) = (self.clone(), rhs.clone());
        zip("div", self, rhs, |a, b| a / b).record("div", &[self, rhs], move |c, g| {
            smallvec![
                c.needs(0).then(|| g.div(&b).sum_to(a.shape())),
                c.needs(1).then(|| g.mul(&a).div(&(&b * &b)).neg().sum_to(b.shape()))
            ]
        })
    }

    /// `self + s`.
    #[track_caller]
    pub fn add_scalar(&self, s: E) -> Tensor<E> {
        crate::kernels::map(self, |a| a + s).record("add_scalar", &[self], |_, g| smallvec![Some(g.clone())])
    }

    /// `self * s`.
    #[track_caller]
    pub fn mul_scalar(&self, s: E) -> Tensor<E> {
        crate::kernels::map(self, |a| a * s).record("mul_scalar", &[self], move |_, g| smallvec![Some(g.mul_scalar(s))])
    }

    /// `self - s`.
    #[track_caller]
    pub fn sub_scalar(&self, s: E) -> Tensor<E> {
        self.add_scalar(-s)
    }

    /// `self / s`.
    #[track_caller]
    pub fn div_scalar(&self, s: E) -> Tensor<E> {
        crate::kernels::map(self, |a| a / s).record("div_scalar", &[self], move |_, g| smallvec![Some(g.div_scalar(s))])
    }

    /// `s - self`.
    #[track_caller]
    pub fn rsub_scalar(&self, s: E) -> Tensor<E> {
        crate::kernels::map(self, |a| s - a).record("rsub_scalar", &[self], |_, g| smallvec![Some(g.neg())])
    }

    /// `s / self`. d/dself = -s / self².
    #[track_caller]
    pub fn rdiv_scalar(&self, s: E) -> Tensor<E> {
        let a = self.clone();
        crate::kernels::map(self, |x| s / x)
            .record("rdiv_scalar", &[self], move |_, g| smallvec![Some(g.mul_scalar(-s).div(&(&a * &a)))])
    }
}

/// Implements `op` for every owned/borrowed combination of tensors and for a
/// scalar on either side.
macro_rules! binary_operator {
    ($Trait:ident, $method:ident, $tensor_fn:ident, $scalar_fn:ident, $rscalar_fn:ident) => {
        impl<E: Element> $Trait<&Tensor<E>> for &Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<E>) -> Tensor<E> {
                Tensor::$tensor_fn(self, rhs)
            }
        }
        impl<E: Element> $Trait<Tensor<E>> for &Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: Tensor<E>) -> Tensor<E> {
                Tensor::$tensor_fn(self, &rhs)
            }
        }
        impl<E: Element> $Trait<&Tensor<E>> for Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<E>) -> Tensor<E> {
                Tensor::$tensor_fn(&self, rhs)
            }
        }
        impl<E: Element> $Trait<Tensor<E>> for Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: Tensor<E>) -> Tensor<E> {
                Tensor::$tensor_fn(&self, &rhs)
            }
        }
        impl<E: Element> $Trait<E> for &Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: E) -> Tensor<E> {
                Tensor::$scalar_fn(self, rhs)
            }
        }
        impl<E: Element> $Trait<E> for Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: E) -> Tensor<E> {
                Tensor::$scalar_fn(&self, rhs)
            }
        }
        binary_operator!(@scalar_lhs f32, $Trait, $method, $rscalar_fn);
        binary_operator!(@scalar_lhs f64, $Trait, $method, $rscalar_fn);
    };
    (@scalar_lhs $E:ty, $Trait:ident, $method:ident, $rscalar_fn:ident) => {
        impl $Trait<&Tensor<$E>> for $E {
            type Output = Tensor<$E>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<$E>) -> Tensor<$E> {
                Tensor::$rscalar_fn(rhs, self)
            }
        }
        impl $Trait<Tensor<$E>> for $E {
            type Output = Tensor<$E>;
            #[track_caller]
            fn $method(self, rhs: Tensor<$E>) -> Tensor<$E> {
                Tensor::$rscalar_fn(&rhs, self)
            }
        }
    };
}

binary_operator!(Add, add, add, add_scalar, add_scalar);
binary_operator!(Sub, sub, sub, sub_scalar, rsub_scalar);
binary_operator!(Mul, mul, mul, mul_scalar, mul_scalar);
binary_operator!(Div, div, div, div_scalar, rdiv_scalar);

impl<E: Element> Neg for &Tensor<E> {
    type Output = Tensor<E>;
    #[track_caller]
    fn neg(self) -> Tensor<E> {
        Tensor::neg(self)
    }
}

impl<E: Element> Neg for Tensor<E> {
    type Output = Tensor<E>;
    #[track_caller]
    fn neg(self) -> Tensor<E> {
        Tensor::neg(&self)
    }
}
