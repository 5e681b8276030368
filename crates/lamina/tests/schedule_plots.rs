//! Draws the learning-rate schedules plotted in the guide's optimisation
//! chapter (docs/src/images/schedule-*.svg), by running each scheduler on an
//! SGD optimizer and recording the rate used at every step.
//!
//! Not a check: run it after changing a scheduler to redraw the figures,
//! `cargo test -p lamina --test lamina schedule_plots -- --ignored`.

use lamina::core::Tensor;
use lamina::optim::{
    with_linear_warmup, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, CyclicLRConfig, CyclicMode,
    ExponentialLR, LrScheduler, MultiStepLR, OneCycleLR, OneCycleLRConfig, Optimizer, PolynomialLR, Sgd, StepLR,
};
use std::fmt::Write;

type Sched = Box<dyn LrScheduler>;

/// The rate of each of `steps` steps under the scheduler `make` builds on a
/// fresh SGD optimizer with base rate 0.1.
fn trace(steps: usize, make: impl FnOnce(&mut Optimizer<Sgd, f32>) -> Sched) -> Vec<f64> {
    let sgd = Sgd { lr: 0.1, momentum: 0.9, ..Sgd::default() };
    let mut opt = Optimizer::new([("w", Tensor::<f32>::zeros(&[1]))], sgd);
    let mut sched = make(&mut opt);
    let mut lrs = Vec::with_capacity(steps);
    for i in 0..steps {
        lrs.push(opt.param_groups()[0].lr());
        if i + 1 < steps {
            opt.step();
            sched.step(&mut opt);
        }
    }
    lrs
}

const COLORS: [&str; 5] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];

/// A line chart of `series` (name, values per step) as an SVG document.
fn chart(title: &str, series: &[(&str, Vec<f64>)]) -> String {
    let (w, h) = (680.0, 300.0);
    let (left, right, top, bottom) = (60.0, 200.0, 30.0, 40.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let steps = series.iter().map(|(_, v)| v.len()).max().unwrap_or(1).max(2) - 1;
    let y_max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0, f64::max) * 1.05;
    let x_of = |i: usize| left + pw * i as f64 / steps as f64;
    let y_of = |v: f64| top + ph * (1.0 - v / y_max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="#fff"/>"##);
    let _ = writeln!(s, r##"<text x="{}" y="18" text-anchor="middle" font-size="14">{title}</text>"##, left + pw / 2.0);
    // Axes, ticks and grid.
    for k in 0..=4 {
        let v = y_max / 1.05 * k as f64 / 4.0;
        let y = y_of(v);
        let _ = writeln!(s, r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##, left + pw);
        let _ =
            writeln!(s, r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##, left - 6.0, y + 4.0, label(v));
        // Step ticks at multiples of a quarter of the run (0, 25, 50, 75 for 100 steps).
        let i = (steps + 1) / 4 * k;
        if i > steps {
            continue;
        }
        let x = x_of(i);
        let _ = writeln!(s, r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{i}</text>"##, top + ph + 16.0);
    }
    let _ = writeln!(s, r##"<path d="M{left},{top} V{:.1} H{:.1}" stroke="#333" fill="none"/>"##, top + ph, left + pw);
    let _ = writeln!(s, r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">step</text>"##, left + pw / 2.0, h - 6.0);
    let _ = writeln!(
        s,
        r##"<text x="14" y="{:.1}" text-anchor="middle" transform="rotate(-90 14 {:.1})">learning rate</text>"##,
        top + ph / 2.0,
        top + ph / 2.0
    );
    // The series and the legend.
    for (k, (name, values)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let points: Vec<String> =
            values.iter().enumerate().map(|(i, &v)| format!("{:.1},{:.1}", x_of(i), y_of(v))).collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"/>"##,
            points.join(" ")
        );
        let ly = top + 12.0 + 20.0 * k as f64;
        let lx = left + pw + 16.0;
        let _ = writeln!(
            s,
            r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2.5"/>"##,
            lx + 22.0
        );
        let _ = writeln!(s, r##"<text x="{}" y="{}">{name}</text>"##, lx + 28.0, ly + 4.0);
    }
    s.push_str("</svg>\n");
    s
}

/// A tick label without trailing zeros: 0.1, 0.025, 0.
fn label(v: f64) -> String {
    let t = format!("{v:.4}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() {
        "0".into()
    } else {
        t.into()
    }
}

fn save(name: &str, svg: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/images");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), svg).unwrap();
}

#[test]
#[ignore = "writes the guide's figures; run with --ignored"]
fn draw_schedules() {
    let n = 100;
    let decays = [
        ("StepLR(30, 0.5)", trace(n, |o| Box::new(StepLR::new(o, 30, 0.5)) as Sched)),
        ("MultiStepLR([50, 80], 0.1)", trace(n, |o| Box::new(MultiStepLR::new(o, &[50, 80], 0.1)))),
        ("ExponentialLR(0.97)", trace(n, |o| Box::new(ExponentialLR::new(o, 0.97)))),
        ("PolynomialLR(100, 2)", trace(n, |o| Box::new(PolynomialLR::new(o, 100, 2.0)))),
    ];
    save("schedule-decays.svg", &chart("Decay schedules (base rate 0.1)", &decays));

    let cosine = [
        ("CosineAnnealingLR(100)", trace(n, |o| Box::new(CosineAnnealingLR::new(o, 100, 0.0)) as Sched)),
        ("WarmRestarts(20, 2)", trace(n, |o| Box::new(CosineAnnealingWarmRestarts::new(o, 20, 2, 0.0)))),
        (
            "warm-up 10 + cosine",
            trace(n, |o| Box::new(with_linear_warmup(o, 10, 0.01, |o| Box::new(CosineAnnealingLR::new(o, 90, 0.0))))),
        ),
    ];
    save("schedule-cosine.svg", &chart("Cosine schedules (base rate 0.1)", &cosine));

    let cyclic = |mode| {
        move |o: &mut Optimizer<Sgd, f32>| {
            let config = CyclicLRConfig { step_size_up: 10, mode, gamma: 0.97, ..CyclicLRConfig::new(0.01, 0.1) };
            Box::new(CyclicLR::new(o, config)) as Sched
        }
    };
    let cycles = [
        ("OneCycleLR(0.1, 100)", trace(n, |o| Box::new(OneCycleLR::new(o, OneCycleLRConfig::new(0.1, n))) as Sched)),
        ("CyclicLR triangular", trace(n, cyclic(CyclicMode::Triangular))),
        ("CyclicLR triangular2", trace(n, cyclic(CyclicMode::Triangular2))),
        ("CyclicLR exp_range", trace(n, cyclic(CyclicMode::ExpRange))),
    ];
    save("schedule-cyclic.svg", &chart("Cyclical schedules", &cycles));
}
