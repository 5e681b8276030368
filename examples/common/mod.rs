//! Helpers the tutorials share: the `--max-steps N` option, a progress bar,
//! the bundled data and an accuracy count. Each example uses some of them.
#![allow(dead_code)]

use indicatif::{ProgressBar, ProgressStyle};
use lamina::core::{cross_entropy, CrossEntropyOptions};
use lamina::data::{load_idx_classification, Dataset, Normalize};
use lamina::layers::{Forward, ModuleExt};
use lamina::optim::{LrScheduler, Optimizer, Rule};
use lamina::prelude::*;

/// The repository's bundled `data/` directory (see `data/README.md`).
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// `--max-steps N` (or `--max-steps=N`) on the command line: stop training
/// after N optimizer steps. CI uses it to run a tutorial for a few seconds.
pub fn max_steps() -> Option<usize> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = args.iter().enumerate().find_map(|(i, a)| match a.strip_prefix("--max-steps") {
        Some("") => Some(args.get(i + 1).cloned().unwrap_or_default()),
        Some(rest) => rest.strip_prefix('=').map(str::to_string),
        None => None,
    })?;
    match value.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("--max-steps needs a number of steps, got {value:?}");
            std::process::exit(2)
        }
    }
}

/// `planned` steps, cut to `--max-steps` when given.
pub fn steps_to_run(planned: usize) -> usize {
    max_steps().map_or(planned, |m| m.min(planned))
}

/// The optimizer steps [`fit`] takes: `epochs` passes over `train` in batches
/// of `batch_size`, cut to `--max-steps` (what a schedule's length should be).
pub fn fit_steps(train: &Dataset, epochs: usize, batch_size: usize) -> usize {
    steps_to_run(epochs * train.len().div_ceil(batch_size))
}

/// A progress bar over `steps` training steps, showing the message set with
/// `set_message` (the running loss).
pub fn progress(steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} steps  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Fashion-MNIST from `data/fashion-mnist`: 10,000 training and 10,000 test
/// images `[n, 28, 28]`, scaled to `[0, 1]` and then normalised with the
/// training set's mean and standard deviation.
pub fn fashion_mnist() -> (Dataset, Dataset) {
    let load = |images: &str, labels: &str| {
        let dir = format!("{DATA}/fashion-mnist");
        load_idx_classification::<f32>(format!("{dir}/{images}"), format!("{dir}/{labels}"))
            .unwrap_or_else(|e| panic!("cannot load Fashion-MNIST: {e}"))
    };
    let mut train = load("train10k-images-idx3-ubyte.gz", "train10k-labels-idx1-ubyte.gz");
    let mut test = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
    train.inputs = &train.inputs / 255.0;
    test.inputs = &test.inputs / 255.0;
    let norm = Normalize::fit_global(&train.inputs);
    train.inputs = norm.apply(&train.inputs);
    test.inputs = norm.apply(&test.inputs);
    (train, test)
}

/// The UCI digits from `data/digits` (1,797 images `[n, 8, 8]`, values
/// 0..=16), split 80/20 into training and test sets with a seeded shuffle.
pub fn digits() -> (Dataset, Dataset) {
    let dir = format!("{DATA}/digits");
    let digits = load_idx_classification::<f32>(
        format!("{dir}/digits-images-idx3-ubyte.gz"),
        format!("{dir}/digits-labels-idx1-ubyte.gz"),
    )
    .unwrap_or_else(|e| panic!("cannot load the digits: {e}"));
    digits.train_test_split(0.2, Some(0))
}

/// The fraction of `data` whose highest-scoring class under `model` is its
/// label, computed in batches without recording gradients.
pub fn accuracy(data: &Dataset, model: impl Fn(&Tensor) -> Tensor) -> f64 {
    let correct: usize = no_grad(|| {
        data.loader(1000)
            .epoch(0)
            .map(|b| {
                let predicted = model(&b.inputs).argmax(Some(1), false);
                predicted.as_slice().iter().zip(b.labels.as_slice()).filter(|(p, y)| p == y).count()
            })
            .sum()
    });
    correct as f64 / data.len() as f64
}

/// Trains `model` (in training mode) for `epochs` shuffled passes over
/// `train` with cross-entropy, stepping `opt` and then `schedule` after every
/// batch; stops early at `--max-steps`. Shows a progress bar and prints each
/// epoch's mean loss. Returns the number of steps taken.
pub fn fit<R: Rule>(
    model: &impl Forward,
    opt: &mut Optimizer<R>,
    schedule: &mut dyn LrScheduler,
    train: &Dataset,
    epochs: usize,
    batch_size: usize,
) -> usize {
    model.train();
    let loader = train.loader(batch_size).shuffle(0);
    let steps = fit_steps(train, epochs, batch_size);
    let bar = progress(steps);
    'training: for epoch in 0..epochs as u64 {
        let (mut total, mut count) = (0.0, 0);
        for batch in loader.epoch(epoch) {
            if bar.position() as usize == steps {
                break 'training;
            }
            let loss = cross_entropy(&model.forward(&batch.inputs), &batch.labels, &CrossEntropyOptions::default());
            opt.zero_grad();
            loss.backward();
            opt.step();
            schedule.step(opt);
            total += loss.item();
            count += 1;
            bar.set_message(format!("epoch {}  loss {:.4}", epoch + 1, loss.item()));
            bar.inc(1);
        }
        bar.suspend(|| println!("epoch {:2}  mean training loss {:.4}", epoch + 1, total / count as f32));
    }
    bar.finish();
    model.eval();
    steps
}
