//! The `.lamina` byte layout (version 1), all integers little-endian:
//!
//! ```text
//! offset  size  field
//!      0     8  magic  89 'L' 'A' 'M' 'I' 'N' 'A' 0a
//!      8     4  format version (u32) = 1
//!     12     1  element type: 1 = float32, 2 = float64
//!     13     3  reserved, zero
//!     16     8  file length in bytes, checksum included (u64)
//!     24     4  entry count (u32)
//!     28     4  reserved, zero
//!     32        entry table, per entry:
//!                 u32 name length, the name (UTF-8),
//!                 u8 number of dimensions, one u64 per dimension,
//!                 u64 data length in bytes (= elements x element size)
//!               u64 training-state length, the training state (bincode)
//!               each entry's data, in table order, row-major
//!    len-4   4  CRC-32 (IEEE) of every byte before it
//! ```
//!
//! The header says everything needed to reject a file (magic, version,
//! element type, length) before the rest is read; every length is checked
//! against the bytes that remain before anything is allocated for it.

use super::error::CheckpointError;
use lamina_core::{Element, Tensor};
use std::collections::HashSet;
use std::fmt;

/// The first eight bytes of every lamina checkpoint. The high-bit first byte
/// and the newline catch files mangled by 7-bit or text-mode transfers.
pub const MAGIC: [u8; 8] = *b"\x89LAMINA\n";
/// The newest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The size of the fixed header.
pub const HEADER_LEN: usize = 32;
/// The size of the trailing checksum.
const CHECKSUM_LEN: usize = 4;

/// The element type of a checkpoint's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementType {
    /// `f32` (code 1).
    F32,
    /// `f64` (code 2).
    F64,
}

impl ElementType {
    /// The element type of `E`.
    pub fn of<E: Element>() -> Self {
        if E::DTYPE == "float64" {
            ElementType::F64
        } else {
            ElementType::F32
        }
    }

    fn code(self) -> u8 {
        match self {
            ElementType::F32 => 1,
            ElementType::F64 => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ElementType::F32),
            2 => Some(ElementType::F64),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElementType::F32 => 4,
            ElementType::F64 => 8,
        }
    }

    /// PyTorch's name for it (`"float32"`).
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "float32",
            ElementType::F64 => "float64",
        }
    }

    /// Decodes little-endian bytes (a whole number of elements) as `f64`.
    pub(crate) fn decode(self, bytes: &[u8]) -> impl Iterator<Item = f64> + '_ {
        bytes.chunks_exact(self.size()).map(move |c| match self {
            ElementType::F32 => f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64,
            ElementType::F64 => f64::from_le_bytes(c.try_into().expect("8 bytes")),
        })
    }

    /// Appends `v` (exactly representable in this type) little-endian.
    fn encode(self, v: f64, out: &mut Vec<u8>) {
        match self {
            ElementType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            ElementType::F64 => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fixed header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub elem: ElementType,
    pub file_len: u64,
    pub entries: u32,
}

/// One entry of a parsed file, its data still raw bytes.
pub(crate) struct RawEntry<'a> {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

/// A file checked and split into its parts.
pub(crate) struct Parsed<'a> {
    pub header: Header,
    pub entries: Vec<RawEntry<'a>>,
    /// The training state's bytes and their offset.
    pub state: (u64, &'a [u8]),
}

/// Reads and checks the fixed header from the first bytes of a file.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header, CheckpointError> {
    let head = &bytes[..bytes.len().min(MAGIC.len())];
    if head != &MAGIC[..head.len()] {
        return Err(CheckpointError::BadMagic { found: head.to_vec() });
    }
    let mut r = Reader::new(bytes);
    r.fixed::<8>(|| "the magic".into())?;
    let what = || format!("the {HEADER_LEN}-byte header");
    let version = u32::from_le_bytes(r.fixed(what)?);
    if version == 0 || version > FORMAT_VERSION {
        return Err(CheckpointError::UnknownVersion { found: version, supported: FORMAT_VERSION });
    }
    let [code] = r.fixed(what)?;
    let elem = ElementType::from_code(code).ok_or(CheckpointError::UnknownElementType { code })?;
    r.reserved::<3>(what)?;
    let file_len = u64::from_le_bytes(r.fixed(what)?);
    let entries = u32::from_le_bytes(r.fixed(what)?);
    r.reserved::<4>(what)?;
    let min_len = (HEADER_LEN + 8 + CHECKSUM_LEN) as u64;
    if file_len < min_len {
        return Err(CheckpointError::Malformed {
            at: 16,
            what: format!("the header gives a file length of {file_len} bytes, less than the minimum {min_len}"),
        });
    }
    Ok(Header { elem, file_len, entries })
}

/// Checks the whole file (header, length, checksum, table) and splits it.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>, CheckpointError> {
    let header = parse_header(bytes)?;
    check_length(&header, bytes.len() as u64)?;
    let body = bytes.len() - CHECKSUM_LEN;
    let stored = u32::from_le_bytes(bytes[body..].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&bytes[..body]);
    if stored != computed {
        return Err(CheckpointError::ChecksumMismatch { stored, computed });
    }
    parse_body(header, &bytes[..body])
}

/// Compares the header's file length with the file's actual size.
pub(crate) fn check_length(header: &Header, actual: u64) -> Result<(), CheckpointError> {
    if actual < header.file_len {
        return Err(CheckpointError::Truncated {
            at: actual,
            what: format!("the header says the file has {} bytes, it ends after {actual}", header.file_len),
        });
    }
    if actual > header.file_len {
        return Err(CheckpointError::Malformed {
            at: header.file_len,
            what: format!(
                "{} bytes follow the end the header gives ({} bytes)",
                actual - header.file_len,
                header.file_len
            ),
        });
    }
    Ok(())
}

/// Reads the entry table, the training state and the data (checksum excluded).
fn parse_body(header: Header, body: &[u8]) -> Result<Parsed<'_>, CheckpointError> {
    let mut r = Reader::new(body);
    r.pos = HEADER_LEN;
    let mut table = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..header.entries {
        let name_at = r.pos;
        let name_len = u32::from_le_bytes(r.fixed(|| format!("the name length of entry {i}"))?);
        let name = r.take(name_len as u64, name_at, || format!("the name of entry {i}"))?;
        let name = std::str::from_utf8(name)
            .map_err(|e| CheckpointError::Malformed {
                at: (name_at + 4) as u64,
                what: format!("the name of entry {i} is not UTF-8 ({e})"),
            })?
            .to_owned();
        if !seen.insert(name.clone()) {
            return Err(CheckpointError::Malformed {
                at: name_at as u64,
                what: format!("entry {i} repeats the name `{name}`"),
            });
        }
        let [ndim] = r.fixed(|| format!("the rank of `{name}`"))?;
        let mut shape = Vec::with_capacity(ndim as usize);
        for _ in 0..ndim {
            shape.push(u64::from_le_bytes(r.fixed(|| format!("the shape of `{name}`"))?));
        }
        let len_at = r.pos as u64;
        let data_len = u64::from_le_bytes(r.fixed(|| format!("the data length of `{name}`"))?);
        let expected = shape
            .iter()
            .try_fold(header.elem.size() as u64, |n, &d| n.checked_mul(d))
            .filter(|&n| n == data_len && usize::try_from(n).is_ok());
        if expected.is_none() {
            return Err(CheckpointError::ShapeDataMismatch { at: len_at, name, shape, data_len });
        }
        table.push((name, shape, data_len, len_at));
    }
    let state_at = r.pos;
    let state_len = u64::from_le_bytes(r.fixed(|| "the training-state length".into())?);
    let state = r.take(state_len, state_at, || "the training state".into())?;
    let state = ((state_at + 8) as u64, state);
    let mut entries = Vec::with_capacity(table.len());
    for (name, shape, data_len, len_at) in table {
        let data = r.take(data_len, len_at as usize, || format!("the data of `{name}`"))?;
        let shape = shape.into_iter().map(|d| d as usize).collect();
        entries.push(RawEntry { name, shape, data });
    }
    if r.pos != body.len() {
        return Err(CheckpointError::Malformed {
            at: r.pos as u64,
            what: format!("{} unexplained bytes between the last entry's data and the checksum", body.len() - r.pos),
        });
    }
    Ok(Parsed { header, entries, state })
}

/// Lays out a file: header, table, training state, data, checksum.
pub(crate) fn encode<E: Element>(entries: &[(&str, &Tensor<E>)], state: &[u8]) -> Vec<u8> {
    let elem = ElementType::of::<E>();
    let count = u32::try_from(entries.len()).expect("checkpoint: more than 2^32 entries");
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[elem.code(), 0, 0, 0]);
    out.extend_from_slice(&0u64.to_le_bytes()); // file length, patched below
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for &(name, t) in entries {
        let name_len = u32::try_from(name.len()).expect("checkpoint: entry name longer than 4 GiB");
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let ndim = u8::try_from(t.ndim()).expect("checkpoint: tensor of more than 255 dimensions");
        out.push(ndim);
        for &d in t.shape() {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        out.extend_from_slice(&((t.numel() * elem.size()) as u64).to_le_bytes());
    }
    out.extend_from_slice(&(state.len() as u64).to_le_bytes());
    out.extend_from_slice(state);
    for (_, t) in entries {
        for v in t.to_vec() {
            elem.encode(v.f64(), &mut out);
        }
    }
    let file_len = (out.len() + CHECKSUM_LEN) as u64;
    out[16..24].copy_from_slice(&file_len.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A cursor that reports the offset of whatever it cannot read.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `N` bytes; `what` names the field they belong to.
    fn fixed<const N: usize>(&mut self, what: impl FnOnce() -> String) -> Result<[u8; N], CheckpointError> {
        if self.remaining() < N {
            return Err(CheckpointError::Truncated {
                at: self.bytes.len() as u64,
                what: format!("{} needs {N} bytes from byte {}, {} remain", what(), self.pos, self.remaining()),
            });
        }
        let out = self.bytes[self.pos..self.pos + N].try_into().expect("N bytes");
        self.pos += N;
        Ok(out)
    }

    /// `N` reserved bytes, which must be zero.
    fn reserved<const N: usize>(&mut self, what: impl FnOnce() -> String) -> Result<(), CheckpointError> {
        let at = self.pos as u64;
        if self.fixed::<N>(what)? != [0; N] {
            return Err(CheckpointError::Malformed { at, what: format!("the {N} reserved bytes must be zero") });
        }
        Ok(())
    }

    /// The next `len` bytes, whose length prefix sits at `prefix_at`.
    fn take(&mut self, len: u64, prefix_at: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], CheckpointError> {
        if len > self.remaining() as u64 {
            return Err(CheckpointError::OversizeLength {
                at: prefix_at as u64,
                what: what(),
                len,
                available: self.remaining() as u64,
            });
        }
        let out = &self.bytes[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(out)
    }
}
