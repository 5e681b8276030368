//! Custom ops: a user-defined primitive is gradchecked to second order.

use lamina_core::testing::{shape, tensor};
use lamina_core::{gradcheck, gradgradcheck, Function, FunctionCtx, Tensor};
use proptest::prelude::*;

/// `x * sigmoid(y)` with a raw forward kernel; backward in tensor ops.
struct Gate;

impl Function<f64> for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }
    fn forward(&mut self, xs: &[Tensor<f64>]) -> Tensor<f64> {
        let (x, y) = (xs[0].to_vec(), xs[1].to_vec());
        let out = x.iter().zip(&y).map(|(a, b)| a / (1.0 + (-b).exp())).collect();
        Tensor::from_vec(out, xs[0].shape())
    }
    fn backward(&self, ctx: &FunctionCtx<'_, f64>, g: &Tensor<f64>) -> Vec<Option<Tensor<f64>>> {
        let (x, y) = (ctx.input(0), ctx.input(1));
        let s = (y.neg().exp() + 1.0).pow_scalar(-1.0);
        let ds = &s * &s.rsub_scalar(1.0);
        vec![ctx.needs(0).then(|| g * &s), ctx.needs(1).then(|| g * &(x * &ds))]
    }
}

#[test]
fn custom_op_records_its_name_and_values() {
    let x = Tensor::<f64>::from_vec(vec![2.0, -4.0], &[2]).requires_grad_(true);
    let y = Tensor::<f64>::zeros(&[2]);
    let out = Tensor::apply(Gate, &[&x, &y]);
    assert_eq!(out.grad_fn_name(), Some("gate"));
    assert_eq!(out.to_vec(), vec![1.0, -2.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn custom_op_gradients_to_second_order(
        (x, y) in shape(1, 3, 3).prop_flat_map(|s| (tensor(s.clone(), -2.0, 2.0), tensor(s, -2.0, 2.0)))
    ) {
        let f = |xs: &[Tensor<f64>]| Tensor::apply(Gate, &[&xs[0], &xs[1]]);
        prop_assert!(gradcheck(f, &[x.clone(), y.clone()]).is_ok());
        let r = gradgradcheck(f, &[x, y]);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
