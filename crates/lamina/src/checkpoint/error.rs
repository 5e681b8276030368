//! What can go wrong reading or writing a checkpoint: every variant says
//! what is wrong and, for a malformed file, at which byte.

use super::format::ElementType;
use lamina_layers::StateDictError;
use lamina_optim::OptimError;
use std::fmt;
use std::path::PathBuf;

/// Why a checkpoint (or a safetensors file) could not be saved or loaded.
///
/// Loading never panics on a bad file: every problem is one of these, and its
/// message names the byte offset where the file stops making sense.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file system refused (`action` is `"open"`, `"read"`, `"save"`, ...).
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file does not start with the lamina magic bytes.
    BadMagic {
        /// The first bytes of the file (at most 8).
        found: Vec<u8>,
    },
    /// The file ends before something it needs.
    Truncated {
        /// The offset where the file (or the missing field) ends.
        at: u64,
        /// What is missing.
        what: String,
    },
    /// The file is of a format version this build cannot read.
    UnknownVersion {
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The element-type byte (at offset 12) is not one lamina knows.
    UnknownElementType {
        /// The byte found.
        code: u8,
    },
    /// The file holds another element type than the one asked for.
    WrongElementType {
        /// The file's element type.
        file: ElementType,
        /// The element type asked for.
        wanted: ElementType,
    },
    /// The CRC-32 stored at the end disagrees with the bytes: the file is corrupt.
    ChecksumMismatch {
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A length prefix promises more bytes than the file has left.
    OversizeLength {
        /// The offset of the length prefix.
        at: u64,
        /// What the length is of.
        what: String,
        /// The length the prefix gives.
        len: u64,
        /// The bytes left in the file after the prefix.
        available: u64,
    },
    /// An entry's shape and its data length disagree.
    ShapeDataMismatch {
        /// The offset of the entry's data-length field.
        at: u64,
        /// The entry's name.
        name: String,
        /// The shape the table gives.
        shape: Vec<u64>,
        /// The data length the table gives.
        data_len: u64,
    },
    /// Anything else malformed (a name that is not UTF-8, a duplicate name,
    /// non-zero reserved bytes, undecodable training state, stray bytes).
    Malformed {
        /// The offset of the bad field.
        at: u64,
        /// What is wrong.
        what: String,
    },
    /// The file's entries do not fit the model: missing, unexpected or
    /// shape-mismatched keys.
    Keys(StateDictError),
    /// The saved optimizer or scheduler state does not fit.
    Optimizer(OptimError),
    /// A training checkpoint was needed, the file holds only weights.
    NoTrainingState,
    /// A safetensors file is malformed or holds what lamina cannot represent.
    Safetensors(String),
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CheckpointError::*;
        match self {
            Io { action, path, source } => write!(f, "cannot {action} {}: {source}", path.display()),
            BadMagic { found } => write!(
                f,
                "bad magic: the file starts with {found:02x?}, a lamina checkpoint with {:02x?} (not a lamina checkpoint)",
                super::format::MAGIC
            ),
            Truncated { at, what } => write!(f, "truncated at byte {at}: {what}"),
            UnknownVersion { found, supported } => write!(
                f,
                "unknown format version {found} at byte 8 (this build reads versions 1 to {supported}; a newer lamina wrote it?)"
            ),
            UnknownElementType { code } => write!(f, "unknown element type {code} at byte 12 (1 = float32, 2 = float64)"),
            WrongElementType { file, wanted } => {
                write!(f, "wrong element type: the file holds {file} tensors, {wanted} were asked for")
            }
            ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: the file says CRC-32 {stored:#010x}, its bytes give {computed:#010x} (the file is corrupt)"
            ),
            OversizeLength { at, what, len, available } => write!(
                f,
                "length prefix at byte {at} ({what}) says {len} bytes, larger than the {available} bytes left in the file"
            ),
            ShapeDataMismatch { at, name, shape, data_len } => write!(
                f,
                "entry `{name}`: shape {shape:?} and data length {data_len} bytes (at byte {at}) disagree"
            ),
            Malformed { at, what } => write!(f, "malformed file at byte {at}: {what}"),
            Keys(e) => write!(f, "{e}"),
            Optimizer(e) => write!(f, "cannot restore the training state: {e}"),
            NoTrainingState => write!(f, "the checkpoint holds only weights, no training state to resume from"),
            Safetensors(msg) => write!(f, "safetensors: {msg}"),
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CheckpointError::Io { source, .. } => Some(source),
            CheckpointError::Keys(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StateDictError> for CheckpointError {
    fn from(e: StateDictError) -> Self {
        CheckpointError::Keys(e)
    }
}

impl From<OptimError> for CheckpointError {
    fn from(e: OptimError) -> Self {
        CheckpointError::Optimizer(e)
    }
}
