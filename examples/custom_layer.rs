//! Your own layer: a gated linear unit, `GLU(x) = (x A + a) * sigmoid(x B + b)`
//! (Dauphin et al. 2017), written from two `Linear`s and core ops, its
//! gradients checked against finite differences with `gradcheck_module` over
//! property-test-generated inputs, then trained on the wine data set (a CSV
//! file: 13 chemical measurements, 3 cultivars).
//!
//! Run with `cargo run --release --example custom_layer` (add
//! `-- --max-steps N` to stop after N steps).

mod common;

use lamina::core::{cross_entropy, CrossEntropyOptions, Element};
use lamina::data::{load_csv, CsvOptions, Normalize};
use lamina::layers::{gradcheck_module, parts, Forward, Linear, ModuleExt, Sequential, Tanh};
use lamina::optim::{Adam, Optimizer};
use lamina::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A gated linear unit from `inputs` to `outputs` features.
struct Glu<E: Element = f32> {
    value: Linear<E>,
    gate: Linear<E>,
}

// Name the parts: parameters become `value.weight`, `gate.bias`, ... as in PyTorch.
parts!(Glu<E> { value, gate });

impl<E: Element> Glu<E> {
    fn new(inputs: usize, outputs: usize) -> Self {
        Glu { value: Linear::new(inputs, outputs, true), gate: Linear::new(inputs, outputs, true) }
    }
}

impl<E: Element> Forward<E> for Glu<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        // `call` (not `forward`) on children runs their forward hooks too.
        self.value.call(x) * self.gate.call(x).sigmoid()
    }
}

/// Property test: for random sizes, parameters and inputs, the layer's
/// gradients (for its input and every parameter) match central differences
/// to PyTorch's gradcheck tolerances. Float64, as gradcheck needs.
fn check_gradients() {
    let cases = (1usize..4, 1usize..5, 1usize..4, any::<u64>());
    let mut runner = TestRunner::new(Config { cases: 16, ..Config::default() });
    runner
        .run(&cases, |(batch, inputs, outputs, seed)| {
            manual_seed(seed);
            let layer = Glu::<f64>::new(inputs, outputs);
            let x = Tensor::<f64>::randn(&[batch, inputs]);
            gradcheck_module(&layer, &x).map_err(|e| TestCaseError::fail(e.to_string()))?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("gradient check failed: {e}"));
    println!("gradcheck: 16 random cases passed");
}

fn main() {
    check_gradients();

    manual_seed(0);
    let table = load_csv(format!("{}/tabular/wine.csv", common::DATA), &CsvOptions::default())
        .unwrap_or_else(|e| panic!("cannot load wine.csv: {e}"));
    let data = table.classification::<f32>("target").unwrap_or_else(|e| panic!("{e}"));
    let (mut train, mut test) = data.train_test_split(0.25, Some(0));
    // Per-feature standardisation fitted on the training rows.
    let norm = Normalize::fit(&train.inputs);
    train.inputs = norm.apply(&train.inputs);
    test.inputs = norm.apply(&test.inputs);
    println!("wine: {} training rows, {} test rows, {} features", train.len(), test.len(), table.width() - 1);

    let model = Sequential::new().append(Glu::new(13, 32)).append(Tanh::new()).append(Linear::new(32, 3, true));
    println!("{:?}", model.named_parameters().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>());
    let mut opt = Optimizer::new(model.named_parameters(), Adam { lr: 1e-2, ..Adam::default() });

    // The whole training set is one batch: 200 full-batch steps.
    let steps = common::steps_to_run(200);
    let bar = common::progress(steps);
    for step in 0..steps {
        let loss = cross_entropy(&model.forward(&train.inputs), &train.labels, &CrossEntropyOptions::default());
        opt.zero_grad();
        loss.backward();
        opt.step();
        bar.set_message(format!("loss {:.4}", loss.item()));
        bar.inc(1);
        if step % 50 == 0 {
            bar.suspend(|| println!("step {step:3}  training loss {:.4}", loss.item()));
        }
    }
    bar.finish();
    let acc = common::accuracy(&test, |x| model.forward(x));
    println!("test accuracy after {steps} steps: {:.2}%", 100.0 * acc);
}
