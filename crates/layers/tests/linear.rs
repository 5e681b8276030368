//! Dense and shape layers: Linear's value on a hand-computed case, printing
//! inside a Sequential, and gradient checks of Linear and Bilinear over their
//! inputs and parameters.

use lamina_core::testing::{shape, tensor};
use lamina_core::{gradcheck, Tensor};
use lamina_layers::{
    gradcheck_module, Bilinear, Flatten, Forward, Linear, Module, ModuleExt, Part, Sequential, Unflatten,
};
use proptest::prelude::*;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

#[test]
fn linear_computes_x_times_weight_transposed_plus_bias() {
    let l = Linear::<f64>::new(3, 2, true);
    l.weight.assign(&t(&[1.0, 2.0, 3.0, -1.0, 0.0, 1.0], &[2, 3]));
    l.bias.as_ref().unwrap().assign(&t(&[0.5, -0.5], &[2]));
    let x = t(&[1.0, 0.0, 2.0, -1.0, 1.0, 1.0], &[2, 3]);
    // Row 0: [1 + 6 + 0.5, -1 + 2 - 0.5]; row 1: [-1 + 2 + 3 + 0.5, 1 + 1 - 0.5].
    assert_eq!(l.forward(&x).to_vec(), vec![7.5, 0.5, 4.5, 1.5]);
    let no_bias = Linear::<f64>::new(3, 2, false);
    no_bias.weight.assign(&l.weight);
    assert_eq!(no_bias.forward(&x).to_vec(), vec![7.0, 1.0, 4.0, 2.0]);
    assert_eq!(no_bias.named_parameters().len(), 1);
}

#[test]
fn linear_initialises_within_pytorchs_bounds() {
    let l = Linear::<f64>::new(16, 8, true);
    // kaiming_uniform(a = sqrt 5) gives U(±1/sqrt(in)), and so does the bias.
    let bound = 1.0 / 16f64.sqrt();
    for p in l.parameters() {
        assert!(p.to_vec().iter().all(|v| v.abs() <= bound), "{:?}", p.to_vec());
    }
    assert_eq!((l.in_features(), l.out_features()), (16, 8));
}

#[test]
fn linear_prints_its_options_within_a_sequential_tree() {
    let net = Sequential::<f64>::new().append(Linear::new(3, 2, true)).append(Flatten::default());
    let s = net.to_string();
    assert!(s.contains("(0): Linear(in_features=3, out_features=2, bias=true)"), "{s}");
    assert!(s.contains("(1): Flatten(start_dim=1, end_dim=-1)"), "{s}");
    assert!(s.starts_with("Sequential(\n"), "{s}");
    assert!(s.ends_with("[8 parameters]"), "{s}");
}

#[test]
fn flatten_and_unflatten_are_inverse_reshapes() {
    let x = Tensor::<f64>::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]);
    let flat = Flatten::<f64>::default().forward(&x);
    assert_eq!(flat.shape(), &[2, 12]);
    let back = Unflatten::<f64>::new(1, &[3, 4]).forward(&flat);
    assert_eq!(back.shape(), &[2, 3, 4]);
    assert_eq!(back.to_vec(), x.to_vec());
}

/// Bilinear as a one-input module: the last dimension is split into x1 and x2.
struct Split {
    inner: Bilinear<f64>,
    in1: usize,
}

impl Module<f64> for Split {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, f64>)) {
        self.inner.visit(f)
    }
}

impl Forward<f64> for Split {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        let n = x.shape()[x.ndim() - 1];
        self.inner.forward2(&x.slice(-1, 0, self.in1, 1), &x.slice(-1, self.in1, n, 1))
    }
}

#[test]
fn bilinear_computes_x1_a_x2_plus_bias() {
    let b = Bilinear::<f64>::new(2, 2, 1, true);
    b.weight.assign(&t(&[1.0, 2.0, 3.0, 4.0], &[1, 2, 2]));
    b.bias.as_ref().unwrap().assign(&t(&[0.25], &[1]));
    // [1, 2] A [3, -1]ᵀ = [1, 2]·[1·3 - 2, 3·3 - 4] = 1 + 10 = 11.
    let y = b.forward2(&t(&[1.0, 2.0], &[1, 2]), &t(&[3.0, -1.0], &[1, 2]));
    assert_eq!(y.to_vec(), vec![11.25]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn linear_gradchecks_over_any_leading_dims(
        (x, out) in (shape(0, 3, 3), 1..=4usize, 1..=3usize)
            .prop_flat_map(|(mut s, i, o)| { s.push(i); (tensor(s, -2.0, 2.0), Just(o)) }),
        bias: bool,
    ) {
        let l = Linear::<f64>::new(x.shape()[x.ndim() - 1], out, bias);
        let r = gradcheck_module(&l, &x);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn bilinear_gradchecks_as_a_module(
        (x, in1) in (shape(1, 2, 3), 1..=3usize, 1..=3usize)
            .prop_flat_map(|(mut s, i1, i2)| { s.push(i1 + i2); (tensor(s, -2.0, 2.0), Just(i1)) }),
        out in 1..=3usize, bias: bool,
    ) {
        let in2 = x.shape()[x.ndim() - 1] - in1;
        let m = Split { inner: Bilinear::new(in1, in2, out, bias), in1 };
        let r = gradcheck_module(&m, &x);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn bilinear_forward2_gradchecks_with_parameters_as_inputs(
        (x1, x2, w) in (1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize)
            .prop_flat_map(|(n, i1, i2, o)| (tensor(vec![n, i1], -2.0, 2.0), tensor(vec![n, i2], -2.0, 2.0), tensor(vec![o, i1, i2], -1.0, 1.0))),
    ) {
        let bias = Tensor::<f64>::linspace(-1.0, 1.0, w.shape()[0]);
        let r = gradcheck(
            |xs| Bilinear { weight: xs[2].clone(), bias: Some(xs[3].clone()) }.forward2(&xs[0], &xs[1]),
            &[x1, x2, w, bias],
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
