//! Layer analysis: train a small CNN on the bundled 8x8 digits and look
//! inside it — per-layer statistics while it trains, which layers it cannot do
//! without (ablation), which layers compute similar things (CKA), what in an
//! image a prediction rests on (saliency), and what its filters and units
//! respond to. The guide's "Layer analysis" chapter explains every output.
//!
//! Run with `cargo run --release --example layer_analysis -- [--out DIR] [--max-steps N] [--every N]`
//! (outputs go to `target/layer_analysis/` by default).

use lamina::core::{cross_entropy, manual_seed, no_grad, CrossEntropyOptions, Tensor};
use lamina::data::{load_idx_classification, Dataset};
use lamina::layers::analysis::{
    ablate, activation_maximisation, cka_matrix, collect_activations, image_grid, leaf_layers, saliency, write_png,
    Ablation, ActivationMaxConfig, Colormap, Evaluation, GridOptions, LayerRecord, LinePlot, Series, StatsCollector,
    Table,
};
use lamina::layers::{
    Conv2d, ConvConfig, Flatten, Forward, Linear, MaxPool2d, ModuleExt, Padding, ReLU, Sequential, Tanh,
};
use lamina::optim::{Adam, Optimizer};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Command-line options.
struct Args {
    out: PathBuf,
    max_steps: usize,
    every: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { out: PathBuf::from("target/layer_analysis"), max_steps: 400, every: 10 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => args.out = PathBuf::from(value()?),
            "--max-steps" => args.max_steps = value()?.parse().map_err(|e| format!("--max-steps: {e}"))?,
            "--every" => args.every = value()?.parse().map_err(|e| format!("--every: {e}"))?,
            _ => return Err(format!("unknown option {flag} (use --out DIR, --max-steps N, --every N)")),
        }
    }
    Ok(args)
}

/// conv(1→8) relu conv(8→8) relu maxpool flatten linear(128→32) tanh linear(32→10).
fn cnn() -> Sequential<f32> {
    let conv = |i, o| Conv2d::with_config(ConvConfig { padding: Padding::Same, ..ConvConfig::new(i, o, [3, 3]) });
    Sequential::new()
        .append(conv(1, 8))
        .append(ReLU::new())
        .append(conv(8, 8))
        .append(ReLU::new())
        .append(MaxPool2d::new([2, 2]))
        .append(Flatten::new(1, -1))
        .append(Linear::new(128, 32, true))
        .append(Tanh::new())
        .append(Linear::new(32, 10, true))
}

/// Loss and accuracy of `model` on all of `data`.
fn evaluate(model: &Sequential<f32>, data: &Dataset<f32>) -> Evaluation {
    no_grad(|| {
        let logits = model.forward(&data.inputs);
        let loss = cross_entropy(&logits, &data.labels, &CrossEntropyOptions::default()).item() as f64;
        let predicted = logits.argmax(Some(1), false);
        let right = predicted.as_slice().iter().zip(data.labels.as_slice()).filter(|(p, l)| p == l).count();
        Evaluation { loss, accuracy: Some(right as f64 / data.len() as f64) }
    })
}

/// The rows of `table` whose `step` is `first` or `last`.
fn steps(table: &Table, first: f64, last: f64) -> Table {
    let col = table.column("step").expect("a step column");
    let mut out = Table::new(table.columns.clone());
    for row in &table.rows {
        if row[col].as_f64().is_some_and(|s| s == first || s == last) {
            out.push(row.clone());
        }
    }
    out
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let start = Instant::now();
    std::fs::create_dir_all(&args.out)?;
    let out = |name: &str| args.out.join(name);
    manual_seed(0);

    // The 1797 8x8 digits (values 0..16), as [n, 1, 8, 8] in 0..1; 20% held out.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits");
    let raw = load_idx_classification::<f32>(
        dir.join("digits-images-idx3-ubyte.gz"),
        dir.join("digits-labels-idx1-ubyte.gz"),
    )?;
    let n = raw.len();
    let data = Dataset::new(raw.inputs.reshape(&[n, 1, 8, 8]) / 16.0, raw.labels);
    let (train, test) = data.train_test_split(0.2, Some(0));
    println!("digits: {} training and {} test images", train.len(), test.len());

    let model = cnn();
    let untrained = cnn(); // a second, independently initialised model, for CKA across models
    let mut opt = Optimizer::new(model.named_parameters(), Adam { lr: 3e-3, ..Adam::default() });

    // ---------------------------------------------------------------- training, with statistics
    let mut stats = StatsCollector::new(&model, args.every);
    let loader = train.loader(64).shuffle(0);
    let (mut train_curve, mut test_curve) = (Vec::new(), Vec::new());
    let mut step = 0;
    'training: for epoch in 0.. {
        for batch in loader.epoch(epoch) {
            if step >= args.max_steps {
                break 'training;
            }
            stats.begin_step(step);
            let logits = model.forward(&batch.inputs);
            let loss = cross_entropy(&logits, &batch.labels, &CrossEntropyOptions::default());
            opt.zero_grad();
            loss.backward();
            stats.after_backward();
            opt.step();
            stats.after_update();
            train_curve.push((step as f64, loss.item() as f64));
            if step % 50 == 0 || step + 1 == args.max_steps {
                let e = evaluate(&model, &test);
                test_curve.push((step as f64, e.loss));
                println!(
                    "step {step:4}  train loss {:.4}  test loss {:.4}  test accuracy {:.3}",
                    loss.item(),
                    e.loss,
                    e.accuracy.unwrap_or(0.0)
                );
            }
            step += 1;
        }
    }
    let layer_table = stats.layer_table();
    layer_table.write_csv(out("layer_stats.csv"))?;
    stats.param_table().write_csv(out("param_stats.csv"))?;
    let last = stats.layer_records().last().map_or(0.0, |r| r.step as f64);
    println!(
        "\nPer-layer statistics, first and last recorded steps (all in layer_stats.csv):\n{}",
        steps(&layer_table, 0.0, last)
    );
    LinePlot::new("Loss")
        .x_label("step")
        .y_label("cross-entropy")
        .log_y(true)
        .series(Series::new("train (batch)", train_curve))
        .series(Series::new("test", test_curve))
        .save(out("loss.svg"))?;
    let curves: [(&str, &str, fn(&LayerRecord) -> Option<f64>, &str); 2] = [
        ("Gradient norm per layer", "||dL/dW|| of the layer's parameters", |r| r.grad_norm, "grad_norms.svg"),
        ("Update-to-weight ratio per layer", "||ΔW|| / ||W|| per step", |r| r.update_ratio, "update_ratios.svg"),
    ];
    for (title, y_label, value, file) in curves {
        let plot = LinePlot::new(title).x_label("step").y_label(y_label).log_y(true);
        plot.all_series(stats.layer_series(value)).save(out(file))?;
    }
    drop(stats);

    // ---------------------------------------------------------------- ablation
    let layers = leaf_layers(&model);
    for (mode, file) in [(Ablation::Identity, "ablation_identity.csv"), (Ablation::Zero, "ablation_zero.csv")] {
        let report = ablate(&model, &layers, mode, || evaluate(&model, &test));
        report.table().write_csv(out(file))?;
        println!("\nAblation: each layer replaced by {mode:?}, on the test set:\n{}", report.table());
    }

    // ---------------------------------------------------------------- CKA
    let probe = test.take(256).inputs;
    let acts = collect_activations(&model, &layers, || {
        model.forward(&probe);
    });
    let cka = cka_matrix(&acts, &acts);
    cka.table().write_csv(out("cka.csv"))?;
    cka.heatmap("Linear CKA between layers (trained model)").save(out("cka.svg"))?;
    println!("\nLinear CKA between layers on 256 test images:\n{}", cka.table());
    let fresh = collect_activations(&untrained, &layers, || {
        untrained.forward(&probe);
    });
    cka_matrix(&acts, &fresh)
        .heatmap("Linear CKA: trained (rows) vs untrained (columns)")
        .save(out("cka_trained_vs_untrained.svg"))?;

    // ---------------------------------------------------------------- saliency, filters, feature maps
    let few = test.take(8);
    let targets: Vec<usize> = few.labels.as_slice().iter().map(|&l| l as usize).collect();
    let maps = saliency(&model, &few.inputs, &targets);
    let images_and_maps = Tensor::cat(&[&few.inputs.reshape(&[8, 8, 8]), &maps], 0);
    write_png(
        out("saliency.png"),
        &image_grid(&images_and_maps, &GridOptions { columns: Some(8), scale: 6, ..Default::default() }),
    )?;

    let params = model.named_parameters();
    let weight = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, t)| t.detach()).expect("a conv weight");
    let signed = GridOptions { scale: 12, colormap: Colormap::Diverging, ..Default::default() };
    write_png(out("filters_conv1.png"), &image_grid(&weight("0.weight"), &GridOptions { columns: Some(8), ..signed }))?;
    write_png(
        out("filters_conv2.png"),
        &image_grid(&weight("2.weight"), &GridOptions { columns: Some(8), scale: 6, ..signed }),
    )?;

    let one = test.take(1).inputs;
    let fmaps = collect_activations(&model, &["1".into(), "3".into()], || {
        model.forward(&one);
    });
    let stacked = Tensor::cat(&[&fmaps[0].1.reshape(&[8, 8, 8]), &fmaps[1].1.reshape(&[8, 8, 8])], 0);
    write_png(
        out("feature_maps.png"),
        &image_grid(&stacked, &GridOptions { columns: Some(8), scale: 6, ..Default::default() }),
    )?;

    let cfg = ActivationMaxConfig::default();
    let preferred: Vec<Tensor<f32>> =
        (0..8).map(|unit| activation_maximisation(&model, "3", unit, &[1, 1, 8, 8], cfg)).collect();
    let preferred: Vec<&Tensor<f32>> = preferred.iter().collect();
    write_png(
        out("activation_max.png"),
        &image_grid(&Tensor::cat(&preferred, 0), &GridOptions { columns: Some(8), scale: 6, ..Default::default() }),
    )?;

    println!(
        "\nWrote tables (CSV), plots (SVG) and images (PNG) to {} in {:.1} s",
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
