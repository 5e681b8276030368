//! Binary element-wise ops with NumPy broadcasting. Gradients are summed back
//! to each input's shape with [`Tensor::sum_to`].

use crate::kernels::zip;
use crate::layout::Shape;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::ops::{Add, Div, Mul, Neg, Sub};

impl<E: Element> Tensor<E> {
    /// `self + rhs`, broadcasting.
    #[track_caller]
    pub fn add(&self, rhs: &Tensor<E>) -> Tensor<E> {
        let (sa, sb): (Shape, Shape) = (self.shape().into(), rhs.shape().into());
        zip("add", self, rhs, |a, b| a + b).record("add", &[self, rhs], move |c, g| {
            smallvec![c.needs(0).then(|| g.sum_to(&sa)), c.needs(1).then(|| g.sum_to(&sb))]
        })
    }

    /// `self - rhs`, broadcasting.
    #[track_caller]
    pub fn sub(&self, rhs: &Tensor<E>) -> Tensor<E> {
        let (sa, sb): (Shape, Shape) = (self.shape().into(), rhs.shape().into());
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

    /// `self ^ exponent` element-wise, broadcasting, like `torch.pow`.
    /// d/dself = exponent · self^(exponent-1) (0 where exponent = 0);
    /// d/dexponent = output · ln(self) (0 where self = 0 and exponent >= 0), as PyTorch.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let b = Tensor::<f64>::from_vec(vec![2.0, 3.0], &[2]);
    /// let e = Tensor::<f64>::from_vec(vec![3.0, 0.5], &[2, 1]);
    /// assert_eq!(b.pow(&e).to_vec(), vec![8.0, 27.0, 2f64.sqrt(), 3f64.sqrt()]);
    /// ```
    #[track_caller]
    pub fn pow(&self, exponent: &Tensor<E>) -> Tensor<E> {
        let (a, b) = (self.clone(), exponent.clone());
        let out = zip("pow", self, exponent, E::powf);
        let y = out.detach();
        out.record("pow", &[self, exponent], move |c, g| {
            let (a, b) = (&a, &b);
            smallvec![
                c.needs(0).then(|| {
                    let d = b.mul(&a.pow(&b.sub_scalar(E::one())));
                    g.mul(&d).masked_fill(&b.eq_scalar(E::zero()), E::zero()).sum_to(a.shape())
                }),
                c.needs(1).then(|| {
                    let base_zero = a.eq_scalar(E::zero()).logical_and(&b.ge_scalar(E::zero()));
                    g.mul(&c.output(&y).mul(&a.log())).masked_fill(&base_zero, E::zero()).sum_to(b.shape())
                })
            ]
        })
    }

    /// Element-wise maximum, broadcasting, propagating NaN. Ties send half
    /// the gradient to each side, as PyTorch.
    #[track_caller]
    pub fn maximum(&self, rhs: &Tensor<E>) -> Tensor<E> {
        self.extremum("maximum", rhs, |x, y| x > y)
    }

    /// Element-wise minimum, broadcasting, propagating NaN. Ties send half
    /// the gradient to each side, as PyTorch.
    #[track_caller]
    pub fn minimum(&self, rhs: &Tensor<E>) -> Tensor<E> {
        self.extremum("minimum", rhs, |x, y| x < y)
    }

    /// The element of the pair that `wins` (the other where it loses, NaN
    /// when either is NaN). The gradient goes to the winner, half to each
    /// side on a tie: a share that is constant in the inputs.
    #[track_caller]
    fn extremum(&self, op: &'static str, rhs: &Tensor<E>, wins: fn(E, E) -> bool) -> Tensor<E> {
        let (a, b) = (self.clone(), rhs.clone());
        let pick = move |x: E, y: E| {
            if x.is_nan() || wins(x, y) {
                x
            } else if y.is_nan() || wins(y, x) {
                y
            } else {
                x
            }
        };
        // PyTorch: where(a == b, g/2, g), zeroed where the other side wins.
        let share = move |x: E, y: E| {
            if x == y {
                E::of(0.5)
            } else if wins(y, x) {
                E::zero()
            } else {
                E::one()
            }
        };
        zip(op, self, rhs, pick).record(op, &[self, rhs], move |c, g| {
            smallvec![
                c.needs(0).then(|| g.mul(&zip(op, &a, &b, share)).sum_to(a.shape())),
                c.needs(1).then(|| g.mul(&zip(op, &b, &a, share)).sum_to(b.shape()))
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
