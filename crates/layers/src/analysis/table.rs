//! [`Table`]: rows of named columns that print aligned in a terminal and save
//! as CSV. Every analysis report turns into one.

use std::fmt;
use std::io;
use std::path::Path;

/// One value in a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text, left-aligned.
    Text(String),
    /// A count or index.
    Int(i64),
    /// A measurement, printed with 4 significant digits (full precision in CSV).
    Float(f64),
    /// No value (printed `-`, empty in CSV).
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Empty, Into::into)
    }
}

impl Cell {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(v) => Some(*v as f64),
            Cell::Float(v) => Some(*v),
            _ => None,
        }
    }

    fn terminal(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) => short(*v),
            Cell::Empty => "-".to_owned(),
        }
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(s) if s.contains([',', '"', '\n']) => format!("\"{}\"", s.replace('"', "\"\"")),
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) => v.to_string(),
            Cell::Empty => String::new(),
        }
    }
}

/// `v` with 4 significant digits, in scientific notation when very large or small.
pub(crate) fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    // The exponent after rounding to 4 digits (0.99996 prints as 1.000).
    let sci = format!("{v:.3e}");
    let mag: i32 = sci.split_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0);
    if (-3..5).contains(&mag) {
        format!("{:.*}", (3 - mag).max(0) as usize, v)
    } else {
        sci
    }
}

/// A table: a header and rows of [`Cell`]s.
///
/// ```
/// use lamina_layers::analysis::Table;
/// let mut t = Table::new(["layer", "loss"]);
/// t.push(vec!["fc".into(), 0.25.into()]);
/// assert_eq!(t.to_csv(), "layer,loss\nfc,0.25\n");
/// assert_eq!(t.to_string(), "layer    loss\n-----  ------\nfc     0.2500\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Table { columns: columns.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Appends a row; panics unless it has one cell per column.
    #[track_caller]
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(
            row.len(),
            self.columns.len(),
            "Table::push: a row of {} cells for {} columns",
            row.len(),
            self.columns.len()
        );
        self.rows.push(row);
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The cell at `row` in column `name`.
    pub fn get(&self, row: usize, name: &str) -> Option<&Cell> {
        self.rows.get(row)?.get(self.column(name)?)
    }

    /// The table as CSV (a header line, then one line per row).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<Cell> = self.columns.iter().map(|c| Cell::Text(c.clone())).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            out.push_str(&row.iter().map(Cell::csv).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }

    /// Writes the CSV to `path`.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.to_csv())
    }
}

/// Aligned columns: text left, numbers right, a rule under the header.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<Vec<String>> = self.rows.iter().map(|r| r.iter().map(Cell::terminal).collect()).collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                cells.iter().map(|r| r[c].chars().count()).chain([self.columns[c].chars().count()]).max().unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|c| self.rows.iter().any(|r| matches!(r[c], Cell::Int(_) | Cell::Float(_))))
            .collect();
        let line =
            |f: &mut fmt::Formatter<'_>, row: &[String]| -> fmt::Result {
                let parts: Vec<String> =
                    row.iter()
                        .enumerate()
                        .map(|(c, s)| {
                            if numeric[c] {
                                format!("{s:>w$}", w = widths[c])
                            } else {
                                format!("{s:<w$}", w = widths[c])
                            }
                        })
                        .collect();
                writeln!(f, "{}", parts.join("  ").trim_end())
            };
        line(f, &self.columns)?;
        line(f, &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>())?;
        for r in &cells {
            line(f, r)?;
        }
        Ok(())
    }
}
