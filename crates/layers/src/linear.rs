//! Dense layers: Linear, Bilinear, and the shape layers Identity, Flatten, Unflatten.

use crate::{Forward, Module, Part};
use lamina_core::{Element, Tensor};
use std::marker::PhantomData;

/// `y = x Wᵀ + b` over the last dimension of any-rank input, PyTorch's
/// `nn.Linear`: `weight` is `[out_features, in_features]`, `bias` `[out_features]`,
/// both initialised as PyTorch does (kaiming_uniform a=√5, U(±1/√in)).
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, Linear};
/// let l = Linear::<f32>::new(3, 2, true);
/// assert_eq!(l.forward(&Tensor::ones(&[5, 7, 3])).shape(), &[5, 7, 2]);
/// ```
pub struct Linear<E: Element = f32> {
    /// `[out_features, in_features]`.
    pub weight: Tensor<E>,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Tensor<E>>,
}

impl<E: Element> Linear<E> {
    /// A layer from `in_features` to `out_features`, with or without bias.
    pub fn new(in_features: usize, out_features: usize, bias: bool) -> Self {
        let weight = Tensor::zeros(&[out_features, in_features]).requires_grad_(true);
        let bias = bias.then(|| Tensor::zeros(&[out_features]).requires_grad_(true));
        lamina_init::default::linear(&weight, bias.as_ref()).expect("a 2-d weight has fans");
        Linear { weight, bias }
    }

    /// Number of input features.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Number of output features.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

crate::parts!(Linear<E> { weight, bias }, extra_repr = |l: &Linear<E>| format!(
    "in_features={}, out_features={}, bias={}",
    l.in_features(),
    l.out_features(),
    l.bias.is_some()
));

impl<E: Element> Forward<E> for Linear<E> {
    /// `[..., in_features]` to `[..., out_features]`.
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// `y = x1ᵀ A x2 + b`, PyTorch's `nn.Bilinear`: `weight` is
/// `[out_features, in1_features, in2_features]`, `bias` `[out_features]`.
pub struct Bilinear<E: Element = f32> {
    /// `[out_features, in1_features, in2_features]`.
    pub weight: Tensor<E>,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Tensor<E>>,
}

impl<E: Element> Bilinear<E> {
    /// A layer taking `in1_features` and `in2_features` to `out_features`.
    pub fn new(in1_features: usize, in2_features: usize, out_features: usize, bias: bool) -> Self {
        let weight = Tensor::zeros(&[out_features, in1_features, in2_features]).requires_grad_(true);
        let bias = bias.then(|| Tensor::zeros(&[out_features]).requires_grad_(true));
        lamina_init::default::bilinear(&weight, bias.as_ref()).expect("a 3-d weight has fans");
        Bilinear { weight, bias }
    }

    /// `x1: [..., in1]`, `x2: [..., in2]` to `[..., out]`.
    #[track_caller]
    pub fn forward2(&self, x1: &Tensor<E>, x2: &Tensor<E>) -> Tensor<E> {
        let (o, i, j) = (self.weight.shape()[0], self.weight.shape()[1], self.weight.shape()[2]);
        let lead = &x1.shape()[..x1.ndim() - 1];
        let n: usize = lead.iter().product();
        let a = x1.reshape(&[n, i]);
        let b = x2.reshape(&[n, j]);
        // x1 W, contracted over i: [n, o, j]; then contracted with x2 over j.
        let xw = a.matmul(&self.weight.permute(&[1, 0, 2]).reshape(&[i, o * j])).reshape(&[n, o, j]);
        let mut y = (xw * b.unsqueeze(1)).sum_dims(&[-1], false);
        if let Some(bias) = &self.bias {
            y = y + bias;
        }
        let mut out: Vec<usize> = lead.to_vec();
        out.push(o);
        y.reshape(&out)
    }
}

crate::parts!(Bilinear<E> { weight, bias }, extra_repr = |l: &Bilinear<E>| {
    let s = l.weight.shape();
    format!("in1_features={}, in2_features={}, out_features={}, bias={}", s[1], s[2], s[0], l.bias.is_some())
});

stateless!(
    /// Returns its input unchanged (a placeholder, as PyTorch's `nn.Identity`).
    Identity
);

impl<E: Element> Forward<E> for Identity<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        x.clone()
    }
}

/// Flattens dimensions `start_dim..=end_dim` into one (defaults 1 and -1, as PyTorch).
pub struct Flatten<E: Element = f32> {
    start_dim: isize,
    end_dim: isize,
    _e: PhantomData<fn() -> E>,
}

impl<E: Element> Default for Flatten<E> {
    fn default() -> Self {
        Self::new(1, -1)
    }
}

impl<E: Element> Flatten<E> {
    /// Flattens `start_dim..=end_dim`.
    pub fn new(start_dim: isize, end_dim: isize) -> Self {
        Flatten { start_dim, end_dim, _e: PhantomData }
    }
}

impl<E: Element> Module<E> for Flatten<E> {
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Part<'a, E>)) {}
    fn extra_repr(&self) -> String {
        format!("start_dim={}, end_dim={}", self.start_dim, self.end_dim)
    }
}

impl<E: Element> Forward<E> for Flatten<E> {
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        x.flatten(self.start_dim, self.end_dim)
    }
}

/// Splits dimension `dim` into `sizes` (PyTorch's `nn.Unflatten`).
pub struct Unflatten<E: Element = f32> {
    dim: isize,
    sizes: Vec<usize>,
    _e: PhantomData<fn() -> E>,
}

impl<E: Element> Unflatten<E> {
    /// Splits `dim` into `sizes`.
    pub fn new(dim: isize, sizes: &[usize]) -> Self {
        Unflatten { dim, sizes: sizes.to_vec(), _e: PhantomData }
    }
}

impl<E: Element> Module<E> for Unflatten<E> {
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Part<'a, E>)) {}
    fn extra_repr(&self) -> String {
        format!("dim={}, unflattened_size={:?}", self.dim, self.sizes)
    }
}

impl<E: Element> Forward<E> for Unflatten<E> {
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        x.unflatten(self.dim, &self.sizes)
    }
}
