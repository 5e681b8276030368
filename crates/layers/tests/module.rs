//! The Module system: names, state dicts, modes, freezing, hooks, printing,
//! and a user-defined layer written as a struct, a forward and one line.

use lamina_core::testing::tensor;
use lamina_core::{Element, Tensor};
use lamina_layers::{
    gradcheck_module, parts, register_forward_hook, Buffer, Forward, Module, ModuleExt, Part, Residual, Sequential,
    StateDict, TrainingFlag,
};
use proptest::prelude::*;
use std::sync::{Arc, Mutex};

/// A user-defined affine layer: the struct, its forward, one line of parts.
struct Affine<E: Element = f32> {
    weight: Tensor<E>,
    bias: Option<Tensor<E>>,
    scale: Buffer<E>,
}
parts!(Affine<E> { weight, bias, scale });

impl<E: Element> Affine<E> {
    fn new(i: usize, o: usize, bias: bool) -> Self {
        let w: Vec<f64> = (0..i * o).map(|k| ((k * 7 % 5) as f64 - 2.0) / 4.0).collect();
        Affine {
            weight: Tensor::from_f64(&w, &[i, o]).requires_grad_(true),
            bias: bias.then(|| Tensor::<E>::from_f64(&vec![0.1; o], &[o]).requires_grad_(true)),
            scale: Buffer(Tensor::ones(&[1])),
        }
    }
}

impl<E: Element> Forward<E> for Affine<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let y = x.matmul(&self.weight) * &self.scale.0;
        match &self.bias {
            Some(b) => y + b,
            None => y,
        }
    }
}

/// A block with children, a list of children and a train/eval switch.
struct Block<E: Element = f32> {
    first: Affine<E>,
    rest: Vec<Affine<E>>,
    training: TrainingFlag,
}

impl<E: Element> Module<E> for Block<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        f("first", Part::Module(&self.first));
        f("rest", Part::Module(&self.rest));
    }
    fn set_training(&self, on: bool) {
        self.training.set(on);
    }
}

impl<E: Element> Forward<E> for Block<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        self.rest.iter().fold(self.first.call(x), |h, l| l.call(&h).tanh())
    }
}

fn block() -> Block<f64> {
    Block {
        first: Affine::new(3, 4, true),
        rest: vec![Affine::new(4, 4, false), Affine::new(4, 2, true)],
        training: Default::default(),
    }
}

#[test]
fn parameters_and_buffers_get_pytorch_dotted_names() {
    let b = block();
    let names: Vec<String> = b.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["first.weight", "first.bias", "rest.0.weight", "rest.1.weight", "rest.1.bias"]);
    let buffers: Vec<String> = b.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(buffers, ["first.scale", "rest.0.scale", "rest.1.scale"]);
    assert_eq!(b.num_parameters(), 12 + 4 + 16 + 8 + 2);
    let sd = b.state_dict();
    assert_eq!(sd.len(), 8);
    assert_eq!(sd.keys().next(), Some("first.weight"));
}

#[test]
fn load_state_dict_copies_values_and_rejects_mismatches_listing_all() {
    let (a, b) = (block(), block());
    for (_, t) in b.state_dict().iter() {
        t.assign(&t.full_like(0.5));
    }
    a.load_state_dict(&b.state_dict()).unwrap();
    assert!(a.parameters().iter().all(|p| p.to_vec().iter().all(|&v| v == 0.5)));

    let mut bad: StateDict<f64> =
        b.state_dict().iter().filter(|(n, _)| *n != "first.bias").map(|(n, t)| (n.to_owned(), t.clone())).collect();
    bad.insert("extra.weight", Tensor::zeros(&[1]));
    bad.insert("rest.0.weight", Tensor::zeros(&[2, 2]));
    let before = a.state_dict().get("first.weight").unwrap().to_vec();
    let err = a.load_state_dict(&bad).unwrap_err();
    assert_eq!(err.missing, ["first.bias"]);
    assert_eq!(err.unexpected, ["extra.weight"]);
    assert_eq!(err.mismatched, [("rest.0.weight".to_owned(), vec![4, 4], vec![2, 2])]);
    let msg = err.to_string();
    assert!(msg.contains("first.bias") && msg.contains("extra.weight") && msg.contains("[4, 4]"), "{msg}");
    assert_eq!(a.state_dict().get("first.weight").unwrap().to_vec(), before, "nothing copied on error");
}

#[test]
fn train_and_eval_reach_every_submodule() {
    let outer = Sequential::<f64>::new().append(block()).append(Affine::new(2, 2, true));
    outer.eval();
    let mut flags = vec![];
    outer.visit(&mut |_, p| {
        if let Part::Module(m) = p {
            flags.push(m.type_name());
        }
    });
    assert_eq!(flags, ["Block", "Affine"]);
    let b = block();
    b.eval();
    assert!(!b.training.get());
    b.train();
    assert!(b.training.get());
}

#[test]
fn freezing_and_zero_grad_reach_every_parameter() {
    let b = block();
    let x = Tensor::<f64>::ones(&[2, 3]);
    b.forward(&x).sum().backward();
    assert!(b.parameters().iter().all(|p| p.grad().is_some()));
    b.zero_grad();
    assert!(b.parameters().iter().all(|p| p.grad().is_none()));
    b.rest.freeze(true);
    b.forward(&x).sum().backward();
    let with_grad: Vec<String> =
        b.named_parameters().into_iter().filter(|(_, p)| p.grad().is_some()).map(|(n, _)| n).collect();
    assert_eq!(with_grad, ["first.weight", "first.bias"]);
}

#[test]
fn forward_hooks_see_inputs_and_outputs_and_can_replace_them() {
    let b = block();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let h1 = register_forward_hook(&b.rest[0], move |x: &Tensor<f64>, y: &Tensor<f64>| {
        log.lock().unwrap().push((x.shape().to_vec(), y.shape().to_vec()));
        None
    });
    let h2 = register_forward_hook(&b.rest[1], |_: &Tensor<f64>, y: &Tensor<f64>| Some(y.zeros_like()));
    let out = b.call(&Tensor::ones(&[5, 3]));
    assert_eq!(*seen.lock().unwrap(), [(vec![5, 4], vec![5, 4])]);
    assert_eq!(out.to_vec(), vec![0.0; 10], "the replaced output flows on");
    h1.remove();
    drop(h2);
    assert_ne!(b.call(&Tensor::ones(&[5, 3])).to_vec(), vec![0.0; 10]);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn residual_adds_the_skip_connection() {
    let r = Residual::new(Affine::<f64>::new(2, 2, false));
    let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
    let want = (x.matmul(&Affine::<f64>::new(2, 2, false).weight) + &x).to_vec();
    assert_eq!(r.forward(&x).to_vec(), want);
    assert_eq!(r.named_parameters()[0].0, "body.weight");
    let p = Residual::with_projection(Affine::<f64>::new(2, 3, false), Affine::<f64>::new(2, 3, true));
    assert_eq!(p.forward(&x).shape(), &[1, 3]);
    assert_eq!(p.named_parameters().last().unwrap().0, "projection.bias");
}

#[test]
fn models_print_as_a_tree_with_parameter_counts() {
    let s = Sequential::<f64>::new().append(block()).append(Affine::new(2, 2, true)).to_string();
    assert!(s.starts_with("Sequential(\n  (0): Block(\n    (first): Affine()\n    (rest): ModuleList(\n"), "{s}");
    assert!(s.ends_with("  (1): Affine()\n)\n[48 parameters]"), "{s}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn a_user_layer_gradchecks_over_inputs_and_parameters(
        x in (1..4usize).prop_flat_map(|n| tensor(vec![n, 3], -1.0, 1.0))
    ) {
        let r = gradcheck_module(&block(), &x);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

#[test]
fn gradcheck_module_catches_a_wrong_parameter_gradient() {
    let layer = Affine::<f64>::new(2, 2, true);
    // A hook that doubles the bias gradient makes backward lie about the bias.
    layer.bias.as_ref().unwrap().register_hook(|g| Some(g * 2.0));
    let err = gradcheck_module(&layer, &Tensor::ones(&[1, 2])).unwrap_err();
    assert_eq!(err.tensor, "bias");
    assert!((err.analytic - 2.0 * err.numeric).abs() < 1e-6, "{err}");
}
