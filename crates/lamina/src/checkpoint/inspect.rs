//! What a checkpoint or safetensors file holds, without loading it into a
//! model: what `lamina-inspect` prints.

use super::error::CheckpointError;
use super::format::{self, ElementType, MAGIC};
use super::safetensors::{read, values, views};
use super::TrainingState;
use std::fmt;
use std::path::Path;

/// How many leading values [`EntryInfo::first`] keeps.
const FIRST: usize = 6;

/// The kind of file inspected.
#[derive(Clone, Debug, PartialEq)]
pub enum FileKind {
    /// A lamina checkpoint.
    Lamina {
        /// Its element type.
        elem: ElementType,
        /// Its training state, for a training checkpoint.
        training: Option<Box<TrainingState>>,
    },
    /// A safetensors file.
    Safetensors,
}

/// One entry of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryInfo {
    /// The state-dict name.
    pub name: String,
    /// The element type as PyTorch names it (`float32`, `int64`).
    pub dtype: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The size of the data in bytes.
    pub bytes: u64,
    /// The first few values (at most 6), as `f64`.
    pub first: Vec<f64>,
}

/// A file's kind and entries, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    /// The kind of file.
    pub kind: FileKind,
    /// Its entries.
    pub entries: Vec<EntryInfo>,
}

/// Lists the entries of a lamina checkpoint (recognised by its magic) or a
/// safetensors file, checking it as a load would.
///
/// ```
/// use lamina::checkpoint::{inspect_bytes, Checkpoint, FileKind};
/// use lamina::layers::Linear;
/// let bytes = Checkpoint::of_module(&Linear::<f32>::new(3, 2, true)).to_bytes();
/// let info = inspect_bytes(&bytes).unwrap();
/// assert!(matches!(info.kind, FileKind::Lamina { training: None, .. }));
/// assert_eq!(info.entries[0].name, "weight");
/// assert_eq!(info.entries[0].shape, [2, 3]);
/// assert_eq!(info.entries[0].bytes, 24);
/// ```
pub fn inspect_bytes(bytes: &[u8]) -> Result<Inspection, CheckpointError> {
    if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] == MAGIC {
        return inspect_lamina(bytes);
    }
    match inspect_safetensors(bytes) {
        Ok(info) => Ok(info),
        // Neither format: say why it is not a lamina checkpoint.
        Err(_) => inspect_lamina(bytes),
    }
}

/// [`inspect_bytes`] on a file; a file named `*.safetensors` is read as one.
pub fn inspect(path: impl AsRef<Path>) -> Result<Inspection, CheckpointError> {
    let path = path.as_ref();
    let bytes = read(path)?;
    if path.extension().is_some_and(|e| e == "safetensors") {
        inspect_safetensors(&bytes)
    } else {
        inspect_bytes(&bytes)
    }
}

fn inspect_lamina(bytes: &[u8]) -> Result<Inspection, CheckpointError> {
    let parsed = format::parse(bytes)?;
    let training = super::decode_training(parsed.state)?.map(Box::new);
    let elem = parsed.header.elem;
    let entries = parsed
        .entries
        .iter()
        .map(|e| EntryInfo {
            name: e.name.clone(),
            dtype: elem.name().to_owned(),
            shape: e.shape.clone(),
            bytes: e.data.len() as u64,
            first: elem.decode(&e.data[..e.data.len().min(FIRST * elem.size())]).collect(),
        })
        .collect();
    Ok(Inspection { kind: FileKind::Lamina { elem, training }, entries })
}

fn inspect_safetensors(bytes: &[u8]) -> Result<Inspection, CheckpointError> {
    let mut entries = Vec::new();
    for (name, view) in views(bytes)? {
        let mut first = values(&view).unwrap_or_default();
        first.truncate(FIRST);
        let dtype = format!("{:?}", view.dtype());
        entries.push(EntryInfo {
            dtype: torch_dtype(&dtype).unwrap_or(&dtype).to_owned(),
            name,
            shape: view.shape().to_vec(),
            bytes: view.data().len() as u64,
            first,
        });
    }
    Ok(Inspection { kind: FileKind::Safetensors, entries })
}

/// PyTorch's name for a safetensors dtype.
fn torch_dtype(st: &str) -> Option<&'static str> {
    Some(match st {
        "F64" => "float64",
        "F32" => "float32",
        "F16" => "float16",
        "BF16" => "bfloat16",
        "I64" => "int64",
        "I32" => "int32",
        "I16" => "int16",
        "I8" => "int8",
        "U8" => "uint8",
        "BOOL" => "bool",
        _ => return None,
    })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FileKind::Lamina { elem, training } => {
                write!(f, "lamina checkpoint, format version {}, {elem}", format::FORMAT_VERSION)?;
                match training {
                    None => writeln!(f, ", weights only")?,
                    Some(t) => writeln!(
                        f,
                        ", training state: step {}, epoch {}, optimizer {}, scheduler {}",
                        t.step,
                        t.epoch,
                        t.optimizer.optimizer,
                        t.scheduler.as_ref().map_or("none", |s| s.scheduler.as_str())
                    )?,
                }
            }
            FileKind::Safetensors => writeln!(f, "safetensors file")?,
        }
        let total: u64 = self.entries.iter().map(|e| e.bytes).sum();
        writeln!(f, "{} entries, {total} bytes of data", self.entries.len())?;
        let width = self.entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
        for e in &self.entries {
            let first: Vec<String> = e.first.iter().map(|v| format!("{v}")).collect();
            let more = if (e.bytes as usize) > e.first.len() * dtype_size(&e.dtype) { ", ..." } else { "" };
            writeln!(
                f,
                "{:width$}  {:8}  {:16}  {:>10} B  [{}{more}]",
                e.name,
                e.dtype,
                format!("{:?}", e.shape),
                e.bytes,
                first.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Bytes per element of a dtype name (1 for unknown ones: only used to
/// decide whether to print "...").
fn dtype_size(dtype: &str) -> usize {
    match dtype {
        "float64" | "int64" => 8,
        "float32" | "int32" => 4,
        "float16" | "bfloat16" | "int16" => 2,
        _ => 1,
    }
}
