//! Layer analysis: statistics against hand-computed values, ablation, CKA's
//! invariances, saliency, PNG grids and SVG plots.

use lamina_core::{manual_seed, no_grad, Tensor};
use lamina_layers::analysis::{
    ablate, activation_maximisation, cka_matrix, collect_activations, image_grid, input_gradient, leaf_layers,
    linear_cka, saliency, write_png, Ablation, ActivationMaxConfig, ActivationStats, Cell, Colormap, Evaluation,
    GridOptions, Heatmap, LinePlot, ParamSnapshot, Series, StatsCollector, Table,
};
use lamina_layers::{Flatten, Forward, Linear, ModuleExt, ReLU, Sequential, Tanh};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

fn linear(weight: &[f64], out: usize, inp: usize) -> Linear<f64> {
    let l = Linear::new(inp, out, false);
    l.weight.assign(&Tensor::from_vec(weight.to_vec(), &[out, inp]));
    l
}

fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("should panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ------------------------------------------------------------------ statistics

/// x = [[1, 2], [-1, 1]], W = [[1, 0], [0, -1], [1, 1]]: pre-activations
/// [[1, -2, 3], [-1, -1, 0]], ReLU [[1, 0, 3], [0, 0, 0]]: unit 1 is dead.
/// Loss = sum of the ReLU output, one SGD step of rate 0.1.
#[test]
fn statistics_of_a_relu_network_match_hand_computed_values() {
    let model = Sequential::<f64>::new().append(linear(&[1.0, 0.0, 0.0, -1.0, 1.0, 1.0], 3, 2)).append(ReLU::new());
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, -1.0, 1.0], &[2, 2]);
    let mut stats = StatsCollector::new(&model, 2);
    assert_eq!(stats.layer_names(), ["0", "1"]);
    for step in 0..3 {
        assert_eq!(stats.begin_step(step), step % 2 == 0);
        let loss = model.forward(&x).sum();
        model.zero_grad();
        loss.backward();
        stats.after_backward();
        no_grad(|| {
            for p in model.parameters() {
                p.assign(&(&p - &(p.grad().unwrap() * 0.1)));
            }
        });
        stats.after_update();
    }
    let recs = stats.layer_records();
    assert_eq!(
        recs.iter().map(|r| (r.step, r.layer.as_str())).collect::<Vec<_>>(),
        [(0, "0"), (0, "1"), (2, "0"), (2, "1")]
    );

    let (lin, relu) = (&recs[0], &recs[1]);
    assert_eq!((lin.kind, relu.kind), ("Linear", "ReLU"));
    let a = lin.activation.unwrap();
    assert!(close(a.mean, 0.0));
    // Pre-activations 1, -2, 3, -1, -1, 0: sum of squares 16, over n - 1 = 5.
    assert!(close(a.std, (16.0f64 / 5.0).sqrt()));
    assert_eq!((a.dead_fraction, a.saturated_fraction), (None, None));
    let r = relu.activation.unwrap();
    assert!(close(r.mean, 4.0 / 6.0));
    assert!(close(r.std, (22.0f64 / 15.0).sqrt()));
    assert_eq!(r.dead_fraction, Some(1.0 / 3.0));
    // dL/d relu-output = ones (norm √6); through the ReLU only where pre > 0 (two entries).
    assert!(close(relu.output_grad_norm.unwrap(), 6f64.sqrt()));
    assert!(close(lin.output_grad_norm.unwrap(), 2f64.sqrt()));
    // dL/dW rows: unit 0 sees x0 = [1, 2], unit 1 nothing, unit 2 x0: norm √10.
    assert!(close(lin.grad_norm.unwrap(), 10f64.sqrt()));
    // The step moves W by 0.1 √10; ||W|| = 2.
    assert!(close(lin.update_ratio.unwrap(), 0.1 * 10f64.sqrt() / 2.0));
    assert_eq!((relu.grad_norm, relu.update_ratio), (None, None));

    let params = stats.param_records();
    assert_eq!(params.len(), 2); // one parameter, two recorded steps
    assert_eq!((params[0].name.as_str(), params[0].weight_norm), ("0.weight", 2.0));

    let table = stats.layer_table();
    assert_eq!(table.rows.len(), 4);
    assert_eq!(table.get(1, "dead_frac"), Some(&Cell::Float(1.0 / 3.0)));
    assert_eq!(table.get(1, "grad_norm"), Some(&Cell::Empty));
    assert_eq!(stats.param_table().get(0, "shape"), Some(&Cell::Text("[3, 2]".into())));
    let series = stats.layer_series(|r| r.grad_norm);
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].name, "0 (Linear)");
    assert_eq!(series[0].points[0], (0.0, lin.grad_norm.unwrap()));
}

#[test]
fn statistics_hooks_go_with_the_collector() {
    let model = Sequential::<f64>::new().append(Tanh::new());
    {
        let mut stats = StatsCollector::new(&model, 1);
        stats.begin_step(0);
        model.forward(&Tensor::ones(&[2, 2]));
        stats.after_update();
        assert_eq!(stats.layer_records().len(), 1);
    }
    // Unrecorded steps and dropped collectors leave the output alone.
    assert_eq!(model.forward(&Tensor::zeros(&[1, 2])).to_vec(), vec![0.0, 0.0]);
}

#[test]
fn saturation_and_dead_units_by_hand() {
    let tanh = Tensor::<f64>::from_vec(vec![0.0, 0.98, -0.99, 0.5], &[2, 2]);
    assert_eq!(ActivationStats::of(&tanh, "Tanh").saturated_fraction, Some(0.5));
    // |2y - 1| = 0, 0.98, 0.98, 0.968: two of four beyond 0.97.
    let sigmoid = Tensor::<f64>::from_vec(vec![0.5, 0.99, 0.01, 0.984], &[4]);
    assert_eq!(ActivationStats::of(&sigmoid, "Sigmoid").saturated_fraction, Some(0.5));
    // [batch 2, channels 3, 1, 2]: channel 1 is zero everywhere, channel 2 only in sample 0.
    let maps = Tensor::<f64>::from_vec(vec![1., 0., 0., 0., 0., 0., 0., 2., 0., 0., 0., 5.], &[2, 3, 1, 2]);
    assert_eq!(ActivationStats::of(&maps, "ReLU").dead_fraction, Some(1.0 / 3.0));
    assert_eq!(ActivationStats::of(&maps, "Linear").dead_fraction, None);
}

#[test]
fn update_ratio_of_a_snapshot() {
    let w = Tensor::<f64>::from_vec(vec![0.0, 3.0, 4.0], &[3]);
    let b = Tensor::<f64>::from_vec(vec![2.0], &[1]);
    let params = vec![("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
    let snap = ParamSnapshot::take(&params);
    w.assign(&Tensor::from_vec(vec![1.0, 3.0, 4.0], &[3]));
    assert_eq!(snap.update_ratios(&params), vec![("w".to_string(), 0.2), ("b".to_string(), 0.0)]);
}

#[test]
fn table_prints_aligned_and_quotes_csv() {
    let mut t = Table::new(["name", "n", "value"]);
    t.push(vec!["a,b".into(), 12usize.into(), 1234.5.into()]);
    t.push(vec!["c".into(), 3usize.into(), Cell::Empty]);
    assert_eq!(t.to_csv(), "name,n,value\n\"a,b\",12,1234.5\nc,3,\n");
    assert_eq!(t.to_string(), "name   n  value\n----  --  -----\na,b   12   1234\nc      3      -\n");
    let msg = panic_message(|| Table::new(["a"]).push(vec![]));
    assert!(msg.contains("Table::push") && msg.contains("0 cells for 1 columns"), "{msg}");
}

// ------------------------------------------------------------------ ablation

/// x = [1, -2]; layer 0 doubles the first feature: [2, -2]; ReLU: [2, 0];
/// layer 2 sums: 2. The "loss" is the output.
fn tiny_net() -> Sequential<f64> {
    Sequential::new().append(linear(&[2.0, 0.0, 0.0, 1.0], 2, 2)).append(ReLU::new()).append(linear(&[1.0, 1.0], 1, 2))
}

#[test]
fn ablation_replaces_each_layer_in_turn() {
    let model = tiny_net();
    let x = Tensor::<f64>::from_vec(vec![1.0, -2.0], &[1, 2]);
    let eval = || Evaluation { loss: model.forward(&x).item(), accuracy: Some(0.5) };
    let names = leaf_layers(&model);
    assert_eq!(names, ["0", "1", "2"]);

    let id = ablate(&model, &names, Ablation::Identity, eval);
    assert_eq!(id.baseline.loss, 2.0);
    // Without layer 0: relu([1, -2]) summed = 1; without the ReLU: 2 - 2 = 0.
    assert_eq!(id.rows[0].result.map(|e| e.loss), Some(1.0));
    assert_eq!(id.rows[1].result.map(|e| e.loss), Some(0.0));
    assert_eq!(id.rows[2].result, None, "a 2 -> 1 layer has no identity");
    assert!(id.rows[2].note.as_deref().unwrap().contains("shape"));
    let table = id.table();
    assert_eq!(table.rows.len(), 4);
    assert_eq!(table.get(1, "delta_loss"), Some(&Cell::Float(-1.0)));
    assert_eq!(table.get(1, "delta_acc"), Some(&Cell::Float(0.0)));

    let zero = ablate(&model, &names, Ablation::Zero, eval);
    assert!(zero.rows.iter().all(|r| r.result.map(|e| e.loss) == Some(0.0)));
    // The hooks are gone afterwards.
    assert_eq!(model.forward(&x).item(), 2.0);

    let idle = ablate(&model, &names[..1], Ablation::Zero, || Evaluation { loss: 0.0, accuracy: None });
    assert_eq!(idle.rows[0].note.as_deref(), Some("not run by the evaluation"));
}

#[test]
fn ablation_of_an_unknown_layer_names_the_layers() {
    let model = tiny_net();
    let msg = panic_message(|| {
        ablate(&model, &["7".into()], Ablation::Zero, || Evaluation { loss: 0.0, accuracy: None });
    });
    assert!(msg.contains("ablate: no layer named \"7\"") && msg.contains("[\"0\", \"1\", \"2\"]"), "{msg}");
    assert!(msg.contains("tests/"), "{msg}");
}

// ------------------------------------------------------------------ CKA

#[test]
fn cka_hand_computed() {
    // One feature: CKA is the squared correlation. Xc = [-1, 0, 1], Yc = [0, -1, 1]: (1)² / (2 · 2).
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3, 1]);
    let y = Tensor::<f64>::from_vec(vec![1.0, 0.0, 2.0], &[3, 1]);
    assert!(close(linear_cka(&x, &y), 0.25));
    // Centred X with XᵀX = 2I and Y with YᵀY = 4, YᵀX = [2, 2]: 8 / (2√2 · 4) = 1/√2.
    let x = Tensor::<f64>::from_vec(vec![1., 0., 0., 1., -1., 0., 0., -1.], &[4, 2]);
    let y = Tensor::<f64>::from_vec(vec![1., 1., -1., -1.], &[4, 1]);
    assert!(close(linear_cka(&x, &y), 0.5f64.sqrt()));
}

#[test]
fn cka_is_one_with_itself_and_invariant_to_rotation_and_scale() {
    manual_seed(7);
    for (n, p, q) in [(8, 3, 5), (12, 6, 2), (5, 4, 4)] {
        let x = Tensor::<f64>::randn(&[n, p]);
        let y = Tensor::<f64>::randn(&[n, q]);
        let rot = Tensor::<f64>::zeros(&[p, p]);
        lamina_init::orthogonal_(&rot, 1.0).unwrap();
        let base = linear_cka(&x, &y);
        assert!(close(linear_cka(&x, &x), 1.0));
        assert!(close(linear_cka(&x, &x.matmul(&rot)), 1.0));
        assert!(close(linear_cka(&x.matmul(&rot), &y), base));
        assert!(close(linear_cka(&(&x * 2.5), &y), base));
        assert!(close(linear_cka(&y, &x), base), "symmetric");
        assert!((0.0..=1.0).contains(&base));
        // Not invariant to stretching one feature: the measure is not trivial.
        if p > 1 {
            let stretch = Tensor::<f64>::from_vec((0..p).map(|i| if i == 0 { 10.0 } else { 1.0 }).collect(), &[p]);
            assert!((linear_cka(&(&x * &stretch), &y) - base).abs() > 1e-6);
        }
    }
    // Representations as [n, c, h, w] are flattened: the same as their [n, chw] reshape.
    let maps = Tensor::<f64>::randn(&[6, 2, 2, 2]);
    let z = Tensor::<f64>::randn(&[6, 3]);
    assert!(close(linear_cka(&maps, &z), linear_cka(&maps.reshape(&[6, 8]), &z)));
}

#[test]
fn cka_matrix_of_a_model_has_a_unit_diagonal() {
    manual_seed(3);
    let model =
        Sequential::<f64>::new().append(Linear::new(4, 6, true)).append(Tanh::new()).append(Linear::new(6, 3, true));
    let x = Tensor::<f64>::randn(&[16, 4]);
    let names = leaf_layers(&model);
    let acts = collect_activations(&model, &names, || {
        model.forward(&x);
    });
    assert!(acts.iter().all(|(_, t)| !t.requires_grad()));
    let m = cka_matrix(&acts, &acts);
    for i in 0..3 {
        assert!(close(m.values[i][i], 1.0));
        for j in 0..3 {
            assert!(close(m.values[i][j], m.values[j][i]));
        }
    }
    assert!(close(m.values[0][2], linear_cka(&acts[0].1, &acts[2].1)));
    assert_eq!(m.table().columns, ["layer", "0", "1", "2"]);
    assert!(m.heatmap("CKA").to_svg().contains(">1.00<"));
}

#[test]
fn cka_of_different_batches_panics() {
    let msg = panic_message(|| {
        linear_cka(&Tensor::<f64>::zeros(&[4, 2]), &Tensor::<f64>::zeros(&[5, 2]));
    });
    assert!(msg.contains("linear_cka") && msg.contains("[4, 2]") && msg.contains("[5, 2]"), "{msg}");
}

// ------------------------------------------------------------------ saliency

#[test]
fn saliency_of_a_linear_model_is_its_weight_row() {
    let w = [0.5, -1.0, 2.0, 3.0, 0.0, -0.25];
    let model = linear(&w, 2, 3);
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]);
    let g = input_gradient(&x, |x| model.forward(x).narrow(1, 1, 1).sum());
    assert_eq!(g.to_vec(), w[3..].to_vec());
    assert!(model.weight.grad().is_none(), "parameters' grads are untouched");
    assert_eq!(saliency(&model, &x, &[0]).to_vec(), vec![0.5, 1.0, 2.0]);

    // Images [n, c, h, w]: the largest |gradient| over channels.
    let image_model =
        Sequential::<f64>::new().append(Flatten::new(1, -1)).append(linear(&[1.0, -4.0, -2.0, 3.0], 1, 4));
    let img = Tensor::<f64>::zeros(&[1, 2, 1, 2]);
    let s = saliency(&image_model, &img, &[0]);
    assert_eq!(s.shape(), &[1, 1, 2]);
    assert_eq!(s.to_vec(), vec![2.0, 4.0]);
}

#[test]
fn activation_maximisation_climbs_along_the_weight_row() {
    let model = Sequential::<f64>::new().append(linear(&[3.0, 0.0, 4.0, 1.0, 1.0, 1.0], 2, 3));
    let cfg = ActivationMaxConfig { steps: 5, lr: 0.1, weight_decay: 0.0, init_std: 0.0, seed: 0 };
    // Each step adds 0.1 · w₀ / ||w₀|| = 0.1 · [0.6, 0, 0.8].
    let x = activation_maximisation(&model, "0", 0, &[1, 3], cfg);
    for (a, b) in x.to_vec().iter().zip([0.3, 0.0, 0.4]) {
        assert!(close(*a, b), "{a} vs {b}");
    }
    let msg = panic_message(|| {
        activation_maximisation(&model, "0", 5, &[1, 3], cfg);
    });
    assert!(msg.contains("activation_maximisation: no unit 5") && msg.contains("tests/"), "{msg}");
}

// ------------------------------------------------------------------ pictures

#[test]
fn image_grid_lays_out_tiles_and_encodes_png() {
    // Two 1x2 tiles: [0, 1] and [5, 3]; per tile, the low value is black and the high white.
    let t = Tensor::<f32>::from_vec(vec![0.0, 1.0, 5.0, 3.0], &[2, 1, 2]);
    let img = image_grid(&t, &GridOptions { columns: Some(2), scale: 2, padding: 1, ..Default::default() });
    assert_eq!((img.width, img.height), (2 * 4 + 3, 2 + 2));
    assert_eq!(img.pixel(0, 0), [96, 96, 96], "padding");
    assert_eq!((img.pixel(1, 1), img.pixel(3, 2)), ([0; 3], [255; 3]));
    assert_eq!((img.pixel(6, 1), img.pixel(8, 1)), ([255; 3], [0; 3]));
    let signed = Tensor::<f32>::from_vec(vec![-2.0, 1.0], &[1, 2]);
    let div =
        image_grid(&signed, &GridOptions { scale: 1, padding: 0, colormap: Colormap::Diverging, ..Default::default() });
    assert_eq!((div.pixel(0, 0), div.pixel(1, 0)), ([0, 0, 255], [255, 128, 128]));

    let dir = std::env::temp_dir().join(format!("lamina-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("grid.png");
    write_png(&path, &img).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 11);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 4);
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(&buf[..info.buffer_size()], &img.pixels[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whether every tag of `svg` is closed in order, and the root is `<svg>`.
fn well_formed(svg: &str) -> bool {
    let mut stack = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').map(|c| open + c).unwrap_or(rest.len());
        let tag = &rest[open + 1..close.min(rest.len())];
        if close == rest.len() {
            return false;
        }
        let name = tag.trim_start_matches('/').split_whitespace().next().unwrap_or("").trim_end_matches('/');
        if tag.starts_with('/') {
            if stack.pop() != Some(name.to_owned()) {
                return false;
            }
        } else if !tag.ends_with('/') {
            stack.push(name.to_owned());
        }
        rest = &rest[close + 1..];
    }
    stack.is_empty() && svg.trim_start().starts_with("<svg")
}

#[test]
fn line_plot_and_heatmap_are_well_formed_svg() {
    let plot = LinePlot::new("loss <train>")
        .x_label("step")
        .y_label("loss")
        .log_y(true)
        .series(Series::new("train", vec![(0.0, 2.0), (10.0, 0.5), (20.0, 0.1)]))
        .series(Series::new("test", vec![(0.0, 2.2), (20.0, 0.3)]));
    let svg = plot.to_svg();
    assert!(well_formed(&svg), "{svg}");
    assert!(svg.contains("loss &lt;train&gt;"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains(">train<") && svg.contains(">test<"));
    // A span under two decades gets ticks at 1, 2 and 5 times each power of ten.
    assert!(svg.contains(">1e0<") && svg.contains(">2e-1<") && svg.contains(">5e-1<"), "log ticks");
    // Points: x from 0 to 20 across the plot, so the train curve has three of them.
    let train = svg.lines().find(|l| l.contains("<polyline") && l.contains("<title>train")).unwrap();
    assert_eq!(train.split("points=\"").nth(1).unwrap().split('"').next().unwrap().split(' ').count(), 3);

    let heat = Heatmap::new("cka", vec!["a".into(), "b".into()], vec!["x".into()], vec![vec![0.25], vec![f64::NAN]])
        .range(0.0, 1.0);
    let svg = heat.to_svg();
    assert!(well_formed(&svg), "{svg}");
    assert!(svg.contains(">0.25<") && svg.contains(">NaN<") && svg.contains(">a<") && svg.contains(">x<"));
    assert_eq!(svg.matches("<rect").count(), 3, "background and two cells");
}
