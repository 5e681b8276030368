//! [`DataError`]: what went wrong reading a data file, and in which file.

use std::fmt;
use std::path::{Path, PathBuf};

/// The result type of every fallible function in [`crate::data`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// A data file that could not be read or did not hold what it should.
///
/// Its `Display` names the file (or the in-memory source's name) and what is
/// wrong, e.g. `data/t10k-labels-idx1-ubyte.gz: truncated at byte 8 of 10008`.
/// Match on [`kind`](Self::kind) to handle a particular failure.
///
/// ```
/// use lamina::data::{read_idx, DataErrorKind};
/// let err = read_idx(&b"\x00\x00\x08"[..], "tiny.idx").unwrap_err();
/// assert!(matches!(err.kind, DataErrorKind::Truncated { at_byte: 3, .. }));
/// assert_eq!(err.to_string(), "tiny.idx: truncated at byte 3: the header needs 4 bytes");
/// ```
#[derive(Debug)]
pub struct DataError {
    /// The file (or in-memory source name) being read.
    pub path: PathBuf,
    /// What is wrong with it.
    pub kind: DataErrorKind,
}

/// What is wrong with a data file; see [`DataError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// The file could not be opened or read (including a corrupt gzip stream).
    Io(std::io::Error),
    /// The file does not start with an IDX magic number (two zero bytes, a
    /// known type code, a dimension count).
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// The IDX type code is not one of 0x08 (u8), 0x09 (i8), 0x0B (i16),
    /// 0x0C (i32), 0x0D (f32) or 0x0E (f64).
    UnknownType {
        /// The type code found (third byte).
        code: u8,
    },
    /// The file ended before the data its header announces.
    Truncated {
        /// The byte offset (in the decompressed stream) where the data ran out.
        at_byte: u64,
        /// What was being read there.
        needed: String,
    },
    /// Bytes are left after the data the header announces.
    TrailingBytes {
        /// The byte offset where the extra bytes start.
        at_byte: u64,
    },
    /// The array has the wrong number of dimensions for its use.
    WrongDimensions {
        /// The dimension count wanted.
        expected: usize,
        /// The shape found.
        found: Vec<usize>,
    },
    /// Two files that must describe the same samples disagree in length.
    CountMismatch {
        /// What was compared, e.g. `"images and labels"`.
        what: &'static str,
        /// The first count.
        left: usize,
        /// The second count.
        right: usize,
    },
    /// A label is not a class index (a non-negative integer).
    BadLabel {
        /// The sample's 0-based index.
        index: usize,
        /// The value found.
        value: f64,
    },
    /// A CSV row has a different number of fields than the header (or first row).
    RaggedRow {
        /// 1-based line number.
        line: usize,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A CSV field does not parse as a number.
    NonNumeric {
        /// 1-based line number.
        line: usize,
        /// 1-based column (field) number.
        column: usize,
        /// The field's text.
        field: String,
    },
    /// A named column is not in the header.
    MissingColumn {
        /// The name asked for.
        name: String,
        /// The header's names.
        available: Vec<String>,
    },
    /// The file holds no data rows / no samples.
    Empty,
    /// A text file is not valid UTF-8.
    InvalidUtf8 {
        /// The offset of the first invalid byte.
        at_byte: usize,
    },
    /// Text holds a character outside the vocabulary.
    UnknownChar {
        /// The character.
        ch: char,
        /// Its character offset in the encoded text.
        at: usize,
    },
    /// A token id is outside the vocabulary.
    UnknownToken {
        /// The id.
        id: i64,
        /// The vocabulary size.
        vocab_size: usize,
    },
}

impl DataError {
    /// An error of `kind` in the file at `path`.
    pub fn new(path: impl AsRef<Path>, kind: DataErrorKind) -> Self {
        DataError { path: path.as_ref().to_path_buf(), kind }
    }
}

impl fmt::Display for DataErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataErrorKind::*;
        match self {
            Io(e) => write!(f, "{e}"),
            BadMagic { found } => write!(
                f,
                "bad magic number {:02x} {:02x} {:02x} {:02x}: not an IDX file (expected 00 00 TYPE NDIM)",
                found[0], found[1], found[2], found[3]
            ),
            UnknownType { code } => write!(f, "unknown IDX type code 0x{code:02x}"),
            Truncated { at_byte, needed } => write!(f, "truncated at byte {at_byte}: {needed}"),
            TrailingBytes { at_byte } => write!(f, "unexpected bytes after the data, from byte {at_byte}"),
            WrongDimensions { expected, found } => {
                write!(
                    f,
                    "wrong dimension count: expected {expected} dimensions, found {} (shape {found:?})",
                    found.len()
                )
            }
            CountMismatch { what, left, right } => write!(f, "{what} disagree in length: {left} and {right}"),
            BadLabel { index, value } => write!(f, "label {value} of sample {index} is not a class index"),
            RaggedRow { line, expected, found } => {
                write!(f, "ragged row at line {line}: {found} fields, expected {expected}")
            }
            NonNumeric { line, column, field } => {
                write!(f, "non-numeric field {field:?} at line {line}, column {column}")
            }
            MissingColumn { name, available } => write!(f, "no column {name:?} (columns: {})", available.join(", ")),
            Empty => write!(f, "no data"),
            InvalidUtf8 { at_byte } => write!(f, "invalid UTF-8 at byte {at_byte}"),
            UnknownChar { ch, at } => write!(f, "character {ch:?} at offset {at} is not in the vocabulary"),
            UnknownToken { id, vocab_size } => write!(f, "token id {id} is outside the vocabulary of {vocab_size}"),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            DataErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
