//! Loading, batching and preparing data sets: the readers the tutorials use.
//!
//! - [`load_idx`] / [`read_idx`]: IDX files (the MNIST format), plain or
//!   gzip-compressed, and [`load_idx_classification`] for an images + labels pair;
//! - [`load_csv`] / [`read_csv`]: numeric CSV with a header, turned into a
//!   classification [`Dataset`] or regression tensors by a label column;
//! - [`load_text`] and [`Vocab`]: a character vocabulary and encoding for
//!   character-level language models, with [`random_windows`] for batches;
//! - [`Dataset::loader`]: a seeded, shuffling mini-batch iterator;
//! - [`Dataset::train_test_split`] and [`Normalize`]: splitting and normalising.
//!
//! Every reader returns a [`DataError`] naming the file and what is wrong with
//! it (bad magic, truncated at byte N, ragged row at line N, ...); none panics
//! on a malformed file. Gzip input is recognised by its magic bytes, whatever
//! the file is called.
//!
//! ```
//! use lamina::data::{read_csv, CsvOptions};
//! let csv = "x1,x2,label\n0.5,1.0,0\n1.5,-2.0,1\n2.5,0.0,1\n";
//! let table = read_csv(csv.as_bytes(), "toy.csv", &CsvOptions::default()).unwrap();
//! let data = table.classification::<f32>("label").unwrap();
//! assert_eq!(data.inputs.shape(), &[3, 2]);
//! assert_eq!(data.labels.to_vec(), vec![0, 1, 1]);
//! for batch in data.loader(2).shuffle(7).epoch(0) {
//!     assert!(batch.inputs.shape()[0] <= 2);
//! }
//! ```

mod batches;
mod csv;
mod error;
mod idx;
mod text;
mod transform;

pub use batches::{Batch, BatchSampler, Batches, Loader};
pub use csv::{load_csv, read_csv, CsvOptions, Table};
pub use error::{DataError, DataErrorKind, Result};
pub use idx::{load_idx, load_idx_classification, read_idx, IdxArray, IdxData};
pub use text::{load_text, random_windows, read_text, Vocab};
pub use transform::Normalize;

use lamina_core::{Element, IndexTensor, Tensor};
use std::io::Read;
use std::path::Path;

/// Inputs with one class label per sample: the first dimension of `inputs`
/// indexes the samples, and `labels` has one entry per sample.
///
/// ```
/// use lamina::core::{IndexTensor, Tensor};
/// use lamina::data::Dataset;
/// let d = Dataset::new(Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[3, 2]), IndexTensor::from_slice(&[2, 0, 1]));
/// let picked = d.select(&[2, 0]);
/// assert_eq!(picked.inputs.to_vec(), vec![4.0, 5.0, 0.0, 1.0]);
/// assert_eq!(picked.labels.to_vec(), vec![1, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Dataset<E: Element = f32> {
    /// The samples, `[n, ...]`.
    pub inputs: Tensor<E>,
    /// The class of each sample, `[n]`.
    pub labels: IndexTensor,
}

impl<E: Element> Dataset<E> {
    /// A data set of `inputs` (`[n, ...]`) and their `labels` (`[n]`).
    ///
    /// Panics if `inputs` has no dimensions or the counts differ.
    #[track_caller]
    pub fn new(inputs: Tensor<E>, labels: IndexTensor) -> Self {
        let at = std::panic::Location::caller();
        assert!(
            inputs.ndim() >= 1 && labels.ndim() == 1 && inputs.shape()[0] == labels.numel(),
            "Dataset::new: inputs {:?} and labels {:?} must have one label per sample at {}:{}",
            inputs.shape(),
            labels.shape(),
            at.file(),
            at.line()
        );
        Dataset { inputs, labels }
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.numel()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `indices`, in that order (copied).
    ///
    /// Panics if an index is out of range.
    #[track_caller]
    pub fn select(&self, indices: &[usize]) -> Dataset<E> {
        let idx = IndexTensor::from_vec(indices.iter().map(|&i| i as i64).collect(), &[indices.len()]);
        let labels = self.labels.as_slice();
        let picked = indices.iter().map(|&i| labels[i]).collect();
        Dataset { inputs: self.inputs.index_select(0, &idx), labels: IndexTensor::from_vec(picked, &[indices.len()]) }
    }

    /// The first `n` samples (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Dataset<E> {
        let n = n.min(self.len());
        self.select(&(0..n).collect::<Vec<_>>())
    }
}

/// `values` as class indices of `shape`, or an error naming the first value
/// that is not a non-negative integer.
fn class_indices(values: Vec<f64>, shape: &[usize], path: &Path) -> Result<IndexTensor> {
    let mut out = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        if !(value >= 0.0 && value.fract() == 0.0 && value <= i64::MAX as f64) {
            return Err(DataError::new(path, DataErrorKind::BadLabel { index, value }));
        }
        out.push(value as i64);
    }
    Ok(IndexTensor::from_vec(out, shape))
}

/// Reads all of `reader`, decompressing it if it starts with the gzip magic
/// bytes `1f 8b`.
fn read_bytes(mut reader: impl Read, path: &Path) -> Result<Vec<u8>> {
    let io = |e| DataError::new(path, DataErrorKind::Io(e));
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads the file at `path` (decompressing gzip).
fn load_bytes(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| DataError::new(path, DataErrorKind::Io(e)))?;
    read_bytes(std::io::BufReader::new(file), path)
}
