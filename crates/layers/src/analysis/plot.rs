//! Pictures as SVG text: line plots (loss curves, per-layer gradient norms)
//! and heat maps (CKA matrices). Hand-written: SVG is just text.

use std::fmt::Write;
use std::io;
use std::path::Path;

/// Line colours, in order (a colour-blind-safe palette, repeated).
const PALETTE: [&str; 8] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];

/// A named curve of `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A curve called `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points }
    }
}

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An SVG document's opening: the root element, a white background and
/// `title` centred on `title_x` (close it with `</svg>`).
fn svg_start(w: f64, h: f64, title: &str, title_x: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{title_x}" y="24" text-anchor="middle" font-size="15">{}</text>"#, esc(title));
    s
}

/// About five round tick values covering `lo..=hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| raw <= *s).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Ticks `(log10 v, label)` for a log axis spanning `lo..=hi` (in log10):
/// the powers of ten, and 2 and 5 times them when the span is short.
fn log_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let decades = lo.floor() as i64..=hi.ceil() as i64;
    let mantissas: &[f64] = if hi - lo < 2.0 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    decades
        .flat_map(|e| mantissas.iter().map(move |&m| ((m * 10f64.powi(e as i32)).log10(), format!("{m}e{e}"))))
        .filter(|(t, _)| (lo..=hi).contains(t))
        .collect()
}

/// A tick label: short, and without a trailing `.0`.
fn tick_label(v: f64) -> String {
    let s = super::table::short(v);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A line plot of one or more series, with axes, ticks and a legend.
///
/// ```
/// use lamina_layers::analysis::{LinePlot, Series};
/// let svg = LinePlot::new("loss")
///     .x_label("step")
///     .series(Series::new("train", vec![(0.0, 2.3), (1.0, 1.1), (2.0, 0.6)]))
///     .to_svg();
/// assert!(svg.starts_with("<svg") && svg.contains("train"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    log_y: bool,
    series: Vec<Series>,
}

impl LinePlot {
    /// An empty plot titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        LinePlot {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            log_y: false,
            series: Vec::new(),
        }
    }

    /// Labels the x axis.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Labels the y axis.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Plots `log10(y)` (points with `y <= 0` are left out); ticks are powers of ten.
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }

    /// Adds a curve.
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    /// Adds curves.
    pub fn all_series(mut self, s: impl IntoIterator<Item = Series>) -> Self {
        self.series.extend(s);
        self
    }

    /// The plot as an SVG document.
    pub fn to_svg(&self) -> String {
        let (w, h) = (720.0, 400.0);
        let (left, right, top, bottom) = (70.0, 200.0, 40.0, 50.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let fy = |y: f64| if self.log_y { (y > 0.0).then(|| y.log10()) } else { y.is_finite().then_some(y) };
        let curves: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| s.points.iter().filter(|p| p.0.is_finite()).filter_map(|&(x, y)| Some((x, fy(y)?))).collect())
            .collect();
        let all = curves.iter().flatten();
        let (mut x0, mut x1, mut y0, mut y1) = all
            .fold((f64::MAX, f64::MIN, f64::MAX, f64::MIN), |(a, b, c, d), &(x, y)| {
                (a.min(x), b.max(x), c.min(y), d.max(y))
            });
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 == x0 {
            x1 = x0 + 1.0;
        }
        if y1 == y0 {
            (y0, y1) = (y0 - 0.5, y1 + 0.5);
        }
        let pad = 0.05 * (y1 - y0);
        let (y0, y1) = (y0 - pad, y1 + pad);
        let px = |x: f64| left + (x - x0) / (x1 - x0) * pw;
        let py = |y: f64| top + (1.0 - (y - y0) / (y1 - y0)) * ph;

        let mut s = svg_start(w, h, &self.title, left + pw / 2.0);
        let _ = writeln!(s, r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##);
        for t in ticks(x0, x1) {
            let x = px(t);
            let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}" stroke="#ddd"/>"##, top + ph);
            let _ = writeln!(
                s,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                top + ph + 16.0,
                tick_label(t)
            );
        }
        let y_ticks = if self.log_y {
            log_ticks(y0, y1)
        } else {
            ticks(y0, y1).into_iter().map(|t| (t, tick_label(t))).collect()
        };
        for (t, label) in y_ticks {
            let y = py(t);
            let _ = writeln!(s, r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##, left + pw);
            let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{label}</text>"#, left - 6.0, y + 4.0);
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            left + pw / 2.0,
            h - 12.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>"#,
            top + ph / 2.0,
            esc(&self.y_label)
        );
        for (i, (series, pts)) in self.series.iter().zip(&curves).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let path: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"><title>{}</title></polyline>"#,
                path.join(" "),
                esc(&series.name)
            );
            let ly = top + 10.0 + 18.0 * i as f64;
            let lx = left + pw + 14.0;
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/>"#,
                lx + 20.0
            );
            let _ = writeln!(s, r#"<text x="{}" y="{}">{}</text>"#, lx + 26.0, ly + 4.0, esc(&series.name));
        }
        s.push_str("</svg>\n");
        s
    }

    /// Writes the SVG to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.to_svg())
    }
}

/// A matrix drawn as coloured cells with their values, labelled by row and column.
///
/// ```
/// use lamina_layers::analysis::Heatmap;
/// let svg = Heatmap::new("CKA", vec!["a".into(), "b".into()], vec!["a".into(), "b".into()], vec![vec![1.0, 0.3], vec![0.3, 1.0]]).to_svg();
/// assert!(svg.contains(">0.30<"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    title: String,
    rows: Vec<String>,
    columns: Vec<String>,
    values: Vec<Vec<f64>>,
    range: Option<(f64, f64)>,
}

impl Heatmap {
    /// A heat map of `values[row][column]`.
    #[track_caller]
    pub fn new(title: impl Into<String>, rows: Vec<String>, columns: Vec<String>, values: Vec<Vec<f64>>) -> Self {
        assert!(
            values.len() == rows.len() && values.iter().all(|r| r.len() == columns.len()),
            "Heatmap::new: values must be {} rows of {} columns",
            rows.len(),
            columns.len()
        );
        Heatmap { title: title.into(), rows, columns, values, range: None }
    }

    /// Fixes the colour scale to `lo..=hi` (default: the values' range).
    pub fn range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }

    /// The heat map as an SVG document.
    pub fn to_svg(&self) -> String {
        let cell = 44.0;
        let label_w =
            8.0 * self.rows.iter().chain(&self.columns).map(|l| l.chars().count()).max().unwrap_or(1) as f64 + 12.0;
        let (left, top) = (label_w, 40.0);
        let (nr, nc) = (self.rows.len() as f64, self.columns.len() as f64);
        let (w, h) = (left + nc * cell + 20.0, top + nr * cell + label_w);
        let finite = self.values.iter().flatten().filter(|v| v.is_finite());
        let (lo, hi) =
            self.range.unwrap_or_else(|| finite.fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v))));
        let mut s = svg_start(w, h, &self.title, w / 2.0);
        for (i, (name, row)) in self.rows.iter().zip(&self.values).enumerate() {
            let y = top + i as f64 * cell;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                left - 6.0,
                y + cell / 2.0 + 4.0,
                esc(name)
            );
            for (j, &v) in row.iter().enumerate() {
                let x = left + j as f64 * cell;
                let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                let (fill, ink) = if v.is_finite() {
                    (ramp(f), if f > 0.6 { "black" } else { "white" })
                } else {
                    ("#999999".to_owned(), "black")
                };
                let _ = writeln!(s, r#"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}"/>"#);
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="middle" fill="{ink}">{v:.2}</text>"#,
                    x + cell / 2.0,
                    y + cell / 2.0 + 4.0
                );
            }
        }
        for (j, name) in self.columns.iter().enumerate() {
            let (x, y) = (left + (j as f64 + 0.5) * cell + 4.0, top + nr * cell + 6.0);
            let _ = writeln!(
                s,
                r#"<text x="{x}" y="{y}" text-anchor="end" transform="rotate(-90 {x} {y})">{}</text>"#,
                esc(name)
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// Writes the SVG to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.to_svg())
    }
}

/// A dark-blue to yellow colour ramp (viridis-like) at `f` in `0..=1`.
fn ramp(f: f64) -> String {
    const STOPS: [[f64; 3]; 5] =
        [[68.0, 1.0, 84.0], [59.0, 82.0, 139.0], [33.0, 145.0, 140.0], [94.0, 201.0, 98.0], [253.0, 231.0, 37.0]];
    let t = f.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let u = t - i as f64;
    let c: Vec<u8> = (0..3).map(|k| (STOPS[i][k] + u * (STOPS[i + 1][k] - STOPS[i][k])).round() as u8).collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}
