//! PyTorch weights in and out through the safetensors format
//! (`safetensors.torch.save_file(model.state_dict(), path)` in Python).
//!
//! Import converts every floating-point and integer dtype to the model's
//! element type (integers only when exactly representable, as
//! `num_batches_tracked` always is); export writes the model's element type,
//! and `int64` for entries named `num_batches_tracked`, as PyTorch does.

use super::atomic::write_atomic;
use super::error::CheckpointError;
use lamina_core::{Element, Tensor};
use lamina_layers::StateDict;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// Reads a safetensors file into a state dict (entries in file order).
///
/// ```
/// # fn main() -> Result<(), lamina::checkpoint::CheckpointError> {
/// use lamina::checkpoint::{safetensors_from_bytes, safetensors_to_bytes};
/// use lamina::layers::{BatchNorm1d, ModuleExt};
/// let bn = BatchNorm1d::<f32>::new(3);
/// let bytes = safetensors_to_bytes(&bn.state_dict())?;
/// let sd = safetensors_from_bytes::<f32>(&bytes)?;
/// assert_eq!(sd.get("running_var").unwrap().to_vec(), [1.0, 1.0, 1.0]);
/// bn.load_state_dict(&sd)?;
/// # Ok(())
/// # }
/// ```
pub fn safetensors_from_bytes<E: Element>(bytes: &[u8]) -> Result<StateDict<E>, CheckpointError> {
    let mut sd = StateDict::new();
    for (name, view) in views(bytes)? {
        let values = values(&view).map_err(|e| CheckpointError::Safetensors(format!("`{name}`: {e}")))?;
        let mut data = Vec::with_capacity(values.len());
        for v in values {
            let x = E::of(v);
            if is_integer(view.dtype()) && x.f64() != v {
                return Err(CheckpointError::Safetensors(format!(
                    "`{name}`: the {:?} value {v} is not exactly representable as {}",
                    view.dtype(),
                    E::DTYPE
                )));
            }
            data.push(x);
        }
        sd.insert(&name, Tensor::from_vec(data, view.shape()));
    }
    Ok(sd)
}

/// Reads the safetensors file at `path` (see [`safetensors_from_bytes`]).
pub fn load_safetensors<E: Element>(path: impl AsRef<Path>) -> Result<StateDict<E>, CheckpointError> {
    safetensors_from_bytes(&read(path.as_ref())?)
}

/// The safetensors bytes of a state dict, under its own names; entries named
/// `num_batches_tracked` are written as `int64`, the rest in `E`'s dtype, and
/// the header carries PyTorch's `{"format": "pt"}` metadata.
pub fn safetensors_to_bytes<E: Element>(sd: &StateDict<E>) -> Result<Vec<u8>, CheckpointError> {
    let mut owned = Vec::with_capacity(sd.len());
    for (name, t) in sd.iter() {
        let values = t.to_vec();
        let (dtype, bytes) = if name.rsplit('.').next() == Some("num_batches_tracked") {
            (Dtype::I64, values.iter().flat_map(|v| (v.f64() as i64).to_le_bytes()).collect::<Vec<u8>>())
        } else if E::DTYPE == "float64" {
            (Dtype::F64, values.iter().flat_map(|v| v.f64().to_le_bytes()).collect())
        } else {
            (Dtype::F32, values.iter().flat_map(|v| (v.f64() as f32).to_le_bytes()).collect())
        };
        owned.push((name.to_owned(), dtype, t.shape().to_vec(), bytes));
    }
    let views = owned
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.as_str(), v)).map_err(st_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // PyTorch's `save_file` marks its files so; loaders such as transformers check it.
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::tensor::serialize(views, Some(metadata)).map_err(st_error)
}

/// Writes a state dict as a safetensors file, atomically (see [`write_atomic`]).
pub fn save_safetensors<E: Element>(sd: &StateDict<E>, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    let bytes = safetensors_to_bytes(sd)?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// A safetensors file's tensors in the order of their data.
pub(crate) fn views(bytes: &[u8]) -> Result<Vec<(String, TensorView<'_>)>, CheckpointError> {
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(st_error)?;
    let st = SafeTensors::deserialize(bytes).map_err(st_error)?;
    metadata
        .offset_keys()
        .into_iter()
        .map(|name| {
            let view = st.tensor(&name).map_err(st_error)?;
            Ok((name, view))
        })
        .collect()
}

/// The values of a tensor as `f64`, for the dtypes lamina can import.
pub(crate) fn values(view: &TensorView<'_>) -> Result<Vec<f64>, String> {
    fn le<const N: usize, T>(data: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        data.chunks_exact(N).map(|c| f(c.try_into().expect("N bytes"))).collect()
    }
    let d = view.data();
    Ok(match view.dtype() {
        Dtype::F64 => le(d, f64::from_le_bytes),
        Dtype::F32 => le(d, |b| f32::from_le_bytes(b) as f64),
        Dtype::F16 => le(d, |b| f16_to_f64(u16::from_le_bytes(b))),
        Dtype::BF16 => le(d, |b| f32::from_bits((u16::from_le_bytes(b) as u32) << 16) as f64),
        Dtype::I64 => le(d, |b| i64::from_le_bytes(b) as f64),
        Dtype::I32 => le(d, |b| i32::from_le_bytes(b) as f64),
        Dtype::I16 => le(d, |b| i16::from_le_bytes(b) as f64),
        Dtype::I8 => le(d, |b: [u8; 1]| b[0] as i8 as f64),
        Dtype::U8 => le(d, |b: [u8; 1]| b[0] as f64),
        Dtype::BOOL => le(d, |b: [u8; 1]| (b[0] != 0) as u8 as f64),
        other => return Err(format!("dtype {other:?} is not supported")),
    })
}

fn is_integer(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::I64 | Dtype::I32)
}

/// IEEE half precision to `f64` (exact).
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let man = (h & 0x3ff) as f64;
    sign * match exp {
        0 => man * 2f64.powi(-24),
        31 if man == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1024.0 + man) * 2f64.powi(exp - 25),
    }
}

fn st_error(e: safetensors::SafeTensorError) -> CheckpointError {
    CheckpointError::Safetensors(e.to_string())
}

/// Reads a whole file (the allocation is the file's own size).
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Io { action: "read", path: path.to_owned(), source })
}
