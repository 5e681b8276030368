//! Numeric CSV: a header row, comma-separated numbers, a label column.

use super::{class_indices, load_bytes, read_bytes, DataError, DataErrorKind, Dataset, Result};
use lamina_core::{Element, Tensor};
use std::io::Read;
use std::path::{Path, PathBuf};

/// How to read a CSV file.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// Whether the first line names the columns. Default `true`; without a
    /// header the columns are named `"0"`, `"1"`, ...
    pub header: bool,
    /// The field separator. Default `b','`.
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { header: true, delimiter: b',' }
    }
}

/// A numeric table: column names and row-major `f64` values.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The column names (from the header, or `"0"`, `"1"`, ...).
    pub columns: Vec<String>,
    /// The values, row-major, `rows * columns.len()` of them.
    pub data: Vec<f64>,
    /// The number of data rows.
    pub rows: usize,
    /// The file (or source name) it was read from, for error messages.
    pub path: PathBuf,
}

/// Reads a numeric CSV table from `reader` (gzip-compressed or not); `name`
/// names the source in errors.
///
/// Lines may end in `\n` or `\r\n`; blank lines are skipped; fields are
/// trimmed and may be wrapped in double quotes. Every data field must parse
/// as a number, and every row must have as many fields as the first.
///
/// ```
/// use lamina::data::{read_csv, CsvOptions, DataErrorKind};
/// let t = read_csv("a,b\n1,2\n3,4.5\n".as_bytes(), "t.csv", &CsvOptions::default()).unwrap();
/// assert_eq!(t.columns, vec!["a", "b"]);
/// assert_eq!(t.data, vec![1.0, 2.0, 3.0, 4.5]);
/// let err = read_csv("a,b\n1,2\n3,x\n".as_bytes(), "t.csv", &CsvOptions::default()).unwrap_err();
/// assert!(matches!(err.kind, DataErrorKind::NonNumeric { line: 3, column: 2, .. }));
/// ```
pub fn read_csv(reader: impl Read, name: impl AsRef<Path>, options: &CsvOptions) -> Result<Table> {
    let path = name.as_ref();
    parse(&read_bytes(reader, path)?, path, options)
}

/// Reads the numeric CSV file at `path` (gzip-compressed or not); see [`read_csv`].
pub fn load_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Table> {
    let path = path.as_ref();
    parse(&load_bytes(path)?, path, options)
}

impl Table {
    /// The number of columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The position of the column called `name`.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            DataError::new(
                &self.path,
                DataErrorKind::MissingColumn { name: name.to_string(), available: self.columns.clone() },
            )
        })
    }

    /// The values of the column called `name`.
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let j = self.column_index(name)?;
        Ok(self.data.iter().skip(j).step_by(self.width()).copied().collect())
    }

    /// Every column except `target` as `[rows, width - 1]` inputs, and
    /// `target` as `[rows]`: a regression problem.
    pub fn regression<E: Element>(&self, target: &str) -> Result<(Tensor<E>, Tensor<E>)> {
        let (inputs, y) = self.split_column(target)?;
        let n = y.len();
        Ok((inputs, Tensor::from_vec(y.into_iter().map(E::of).collect(), &[n])))
    }

    /// Every column except `label` as `[rows, width - 1]` inputs, and `label`
    /// as class indices: a classification problem. Errors if a label is not
    /// a non-negative integer.
    ///
    /// ```
    /// use lamina::data::{read_csv, CsvOptions};
    /// let t = read_csv("x,y,class\n1,2,0\n3,4,2\n".as_bytes(), "t.csv", &CsvOptions::default()).unwrap();
    /// let d = t.classification::<f64>("class").unwrap();
    /// assert_eq!(d.inputs.to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
    /// assert_eq!(d.labels.to_vec(), vec![0, 2]);
    /// assert!(t.classification::<f64>("x").is_ok());
    /// assert!(t.classification::<f64>("nope").is_err());
    /// ```
    pub fn classification<E: Element>(&self, label: &str) -> Result<Dataset<E>> {
        let (inputs, y) = self.split_column(label)?;
        let n = y.len();
        Ok(Dataset { inputs, labels: class_indices(y, &[n], &self.path)? })
    }

    /// The table without column `name` as a tensor, and that column's values.
    fn split_column<E: Element>(&self, name: &str) -> Result<(Tensor<E>, Vec<f64>)> {
        let j = self.column_index(name)?;
        let w = self.width();
        let inputs = self.data.iter().enumerate().filter(|(k, _)| k % w != j).map(|(_, &v)| E::of(v)).collect();
        Ok((Tensor::from_vec(inputs, &[self.rows, w - 1]), self.column(name)?))
    }
}

/// Parses decompressed CSV bytes.
fn parse(bytes: &[u8], path: &Path, options: &CsvOptions) -> Result<Table> {
    let err = |kind| DataError::new(path, kind);
    let text = std::str::from_utf8(bytes).map_err(|e| err(DataErrorKind::InvalidUtf8 { at_byte: e.valid_up_to() }))?;
    let delimiter = options.delimiter as char;
    let mut lines = text.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let mut lines = lines.by_ref().filter(|(_, l)| !l.trim().is_empty());
    let field = |s: &str| {
        let s = s.trim();
        s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s).to_string()
    };
    let mut columns = Vec::new();
    if options.header {
        let (_, first) = lines.next().ok_or_else(|| err(DataErrorKind::Empty))?;
        columns = first.split(delimiter).map(field).collect();
    }
    let mut data = Vec::new();
    let mut rows = 0;
    for (line, text) in lines {
        let start = data.len();
        for (k, f) in text.split(delimiter).enumerate() {
            let f = field(f);
            let v = f.parse::<f64>().map_err(|_| err(DataErrorKind::NonNumeric { line, column: k + 1, field: f }))?;
            data.push(v);
        }
        let found = data.len() - start;
        if columns.is_empty() {
            columns = (0..found).map(|k| k.to_string()).collect();
        }
        if found != columns.len() {
            return Err(err(DataErrorKind::RaggedRow { line, expected: columns.len(), found }));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(err(DataErrorKind::Empty));
    }
    Ok(Table { columns, data, rows, path: path.to_path_buf() })
}
