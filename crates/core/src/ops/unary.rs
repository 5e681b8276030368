//! Element-wise unary ops. Each derivative is stated in one line where it is
//! not obvious, and written with differentiable ops.

use crate::kernels::map;
use crate::{Element, Tensor};
use smallvec::smallvec;

impl<E: Element> Tensor<E> {
    /// `-self`.
    #[track_caller]
    pub fn neg(&self) -> Tensor<E> {
        map(self, |a| -a).record("neg", &[self], |_, g| smallvec![Some(g.neg())])
    }

    /// `e^self`. d = e^self (the saved output).
    #[track_caller]
    pub fn exp(&self) -> Tensor<E> {
        let out = map(self, E::exp);
        let y = out.detach();
        out.record("exp", &[self], move |c, g| smallvec![Some(g.mul(&c.output(&y)))])
    }

    /// Natural logarithm. d = 1 / self.
    #[track_caller]
    pub fn log(&self) -> Tensor<E> {
        let x = self.clone();
        map(self, E::ln).record("log", &[self], move |_, g| smallvec![Some(g.div(&x))])
    }

    /// Hyperbolic tangent. d = 1 - tanh².
    #[track_caller]
    pub fn tanh(&self) -> Tensor<E> {
        let out = map(self, E::tanh);
        let y = out.detach();
        out.record("tanh", &[self], move |c, g| {
            let y = c.output(&y);
            smallvec![Some(g.mul(&y.mul(&y).rsub_scalar(E::one())))]
        })
    }

    /// `max(self, 0)`. d = 1 where self > 0.
    #[track_caller]
    pub fn relu(&self) -> Tensor<E> {
        let x = self.clone();
        map(self, |a| if a > E::zero() { a } else { E::zero() }).record("relu", &[self], move |_, g| {
            smallvec![Some(g.mul(&map(&x, |a| if a > E::zero() { E::one() } else { E::zero() })))]
        })
    }

    /// `self^p` for a scalar exponent. d = p · self^(p-1).
    #[track_caller]
    pub fn pow_scalar(&self, p: E) -> Tensor<E> {
        let x = self.clone();
        map(self, |a| a.powf(p)).record("pow_scalar", &[self], move |_, g| {
            let d = if p == E::zero() { x.zeros_like() } else { x.pow_scalar(p - E::one()).mul_scalar(p) };
            smallvec![Some(g.mul(&d))]
        })
    }

    /// `self²`. d = 2·self.
    #[track_caller]
    pub fn square(&self) -> Tensor<E> {
        let x = self.clone();
        map(self, |a| a * a).record("square", &[self], move |_, g| smallvec![Some(g.mul(&x).mul_scalar(E::of(2.0)))])
    }

    /// Sine. d = cos.
    #[track_caller]
    pub fn sin(&self) -> Tensor<E> {
        let x = self.clone();
        map(self, E::sin).record("sin", &[self], move |_, g| smallvec![Some(g.mul(&x.cos()))])
    }

    /// Cosine. d = -sin.
    #[track_caller]
    pub fn cos(&self) -> Tensor<E> {
        let x = self.clone();
        map(self, E::cos).record("cos", &[self], move |_, g| smallvec![Some(g.mul(&x.sin()).neg())])
    }
}
