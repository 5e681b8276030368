//! IDX files: the format of MNIST and Fashion-MNIST.
//!
//! An IDX file is a 4-byte magic number (two zero bytes, a type code, the
//! dimension count), one big-endian `u32` per dimension, then the elements,
//! big-endian, row-major.

use super::{class_indices, load_bytes, read_bytes, DataError, DataErrorKind, Dataset, Result};
use lamina_core::{Element, IndexTensor, Tensor};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The elements of an IDX file, in their stored type.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// Type code 0x08.
    U8(Vec<u8>),
    /// Type code 0x09.
    I8(Vec<i8>),
    /// Type code 0x0B.
    I16(Vec<i16>),
    /// Type code 0x0C.
    I32(Vec<i32>),
    /// Type code 0x0D.
    F32(Vec<f32>),
    /// Type code 0x0E.
    F64(Vec<f64>),
}

/// An IDX array: its shape, its elements and the file it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// The dimensions from the header.
    pub shape: Vec<usize>,
    /// The elements, row-major.
    pub data: IdxData,
    /// The file (or source name) it was read from, for error messages.
    pub path: PathBuf,
}

impl IdxArray {
    /// The elements as `f64`, row-major.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            IdxData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::I16(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::F64(v) => v.clone(),
        }
    }

    /// The array as a tensor of the same shape, values unchanged (so u8
    /// images hold 0..=255).
    pub fn to_tensor<E: Element>(&self) -> Tensor<E> {
        let data = match &self.data {
            IdxData::U8(v) => v.iter().map(|&x| E::of(x as f64)).collect(),
            _ => self.to_f64_vec().into_iter().map(E::of).collect(),
        };
        Tensor::from_vec(data, &self.shape)
    }

    /// The array as class labels, or an error naming the first element that
    /// is not a non-negative integer.
    pub fn to_labels(&self) -> Result<IndexTensor> {
        class_indices(self.to_f64_vec(), &self.shape, &self.path)
    }

    /// `self` if it has `ndim` dimensions, else a
    /// [`WrongDimensions`](DataErrorKind::WrongDimensions) error.
    pub fn expect_ndim(self, ndim: usize) -> Result<Self> {
        if self.shape.len() == ndim {
            Ok(self)
        } else {
            Err(DataError::new(
                &self.path,
                DataErrorKind::WrongDimensions { expected: ndim, found: self.shape.clone() },
            ))
        }
    }
}

/// Reads an IDX array from `reader` (gzip-compressed or not); `name` names the
/// source in errors.
///
/// ```
/// use lamina::data::{read_idx, IdxData};
/// // A 2 x 3 u8 array: magic 00 00 08 02, dims 2 and 3, six bytes.
/// let bytes = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
/// let a = read_idx(&bytes[..], "small.idx").unwrap();
/// assert_eq!(a.shape, vec![2, 3]);
/// assert_eq!(a.data, IdxData::U8(vec![1, 2, 3, 4, 5, 6]));
/// assert_eq!(a.to_tensor::<f32>().to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// ```
pub fn read_idx(reader: impl Read, name: impl AsRef<Path>) -> Result<IdxArray> {
    let path = name.as_ref();
    parse(&read_bytes(reader, path)?, path)
}

/// Reads the IDX file at `path` (gzip-compressed or not).
pub fn load_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    parse(&load_bytes(path)?, path)
}

/// Reads an image file (`[n, rows, cols]`) and a label file (`[n]`) into a
/// [`Dataset`] whose inputs are `[n, rows, cols]` with the stored values
/// (0..=255 for MNIST-style images: divide or [`Normalize`](super::Normalize)).
///
/// Errors if either file is malformed, has the wrong dimension count, holds a
/// label that is not a class index, or if the counts differ.
pub fn load_idx_classification<E: Element>(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset<E>> {
    let images = load_idx(images)?.expect_ndim(3)?;
    let labels = load_idx(labels)?.expect_ndim(1)?;
    if images.shape[0] != labels.shape[0] {
        return Err(DataError::new(
            &labels.path,
            DataErrorKind::CountMismatch { what: "images and labels", left: images.shape[0], right: labels.shape[0] },
        ));
    }
    Ok(Dataset { inputs: images.to_tensor(), labels: labels.to_labels()? })
}

/// Parses a decompressed IDX byte buffer.
fn parse(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let err = |kind| DataError::new(path, kind);
    let truncated = |at: usize, needed: String| err(DataErrorKind::Truncated { at_byte: at as u64, needed });
    if bytes.len() < 4 {
        return Err(truncated(bytes.len(), "the header needs 4 bytes".into()));
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic[0] != 0 || magic[1] != 0 {
        return Err(err(DataErrorKind::BadMagic { found: magic }));
    }
    let size = match magic[2] {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        code => return Err(err(DataErrorKind::UnknownType { code })),
    };
    let ndim = magic[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(truncated(bytes.len(), format!("the header of {ndim} dimensions needs {header} bytes")));
    }
    let shape: Vec<usize> =
        bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let end = count.and_then(|c| c.checked_mul(size)).and_then(|b| b.checked_add(header));
    let end = match end {
        Some(end) if end <= bytes.len() => end,
        _ => {
            let need = end.map_or_else(|| "more than usize::MAX".to_string(), |e| e.to_string());
            return Err(truncated(bytes.len(), format!("shape {shape:?} needs {need} bytes")));
        }
    };
    if end < bytes.len() {
        return Err(err(DataErrorKind::TrailingBytes { at_byte: end as u64 }));
    }
    let body = &bytes[header..end];
    let data = match magic[2] {
        0x08 => IdxData::U8(body.to_vec()),
        0x09 => IdxData::I8(body.iter().map(|&b| b as i8).collect()),
        0x0B => IdxData::I16(body.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect()),
        0x0C => IdxData::I32(body.chunks_exact(4).map(|c| i32::from_be_bytes(c.try_into().unwrap())).collect()),
        0x0D => IdxData::F32(body.chunks_exact(4).map(|c| f32::from_be_bytes(c.try_into().unwrap())).collect()),
        _ => IdxData::F64(body.chunks_exact(8).map(|c| f64::from_be_bytes(c.try_into().unwrap())).collect()),
    };
    Ok(IdxArray { shape, data, path: path.to_path_buf() })
}
