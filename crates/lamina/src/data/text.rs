//! Text for character-level language models: loading, a character
//! vocabulary, encoding and random training windows.

use super::{load_bytes, read_bytes, DataError, DataErrorKind, Result};
use lamina_core::{Generator, IndexTensor};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Reads UTF-8 text from `reader` (gzip-compressed or not); `name` names the
/// source in errors.
///
/// ```
/// use lamina::data::{read_text, DataErrorKind};
/// assert_eq!(read_text("to be".as_bytes(), "t.txt").unwrap(), "to be");
/// let err = read_text(&b"ok\xff"[..], "t.txt").unwrap_err();
/// assert!(matches!(err.kind, DataErrorKind::InvalidUtf8 { at_byte: 2 }));
/// ```
pub fn read_text(reader: impl Read, name: impl AsRef<Path>) -> Result<String> {
    let path = name.as_ref();
    utf8(read_bytes(reader, path)?, path)
}

/// Reads the UTF-8 text file at `path` (gzip-compressed or not).
pub fn load_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    utf8(load_bytes(path)?, path)
}

fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|e| DataError::new(path, DataErrorKind::InvalidUtf8 { at_byte: e.utf8_error().valid_up_to() }))
}

/// A character vocabulary: the distinct characters of a text, sorted, each
/// with an id `0..len()`.
///
/// ```
/// use lamina::data::Vocab;
/// let vocab = Vocab::from_text("hello");
/// assert_eq!(vocab.chars(), &['e', 'h', 'l', 'o']);
/// let ids = vocab.encode("hole").unwrap();
/// assert_eq!(ids.to_vec(), vec![1, 3, 2, 0]);
/// assert_eq!(vocab.decode(ids.as_slice()).unwrap(), "hole");
/// assert!(vocab.encode("help").is_err()); // 'p' is not in the vocabulary
/// ```
#[derive(Clone, Debug)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, usize>,
}

impl Vocab {
    /// The vocabulary of the distinct characters of `text`, in sorted order.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        let ids = chars.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        Vocab { chars, ids }
    }

    /// The number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, by id.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `ch`, if it is in the vocabulary.
    pub fn id(&self, ch: char) -> Option<usize> {
        self.ids.get(&ch).copied()
    }

    /// `text` as a 1-d tensor of ids, or an error naming the first character
    /// outside the vocabulary (and its character offset).
    pub fn encode(&self, text: &str) -> Result<IndexTensor> {
        let mut out = Vec::with_capacity(text.len());
        for (at, ch) in text.chars().enumerate() {
            let id = self.id(ch).ok_or_else(|| DataError::new("<text>", DataErrorKind::UnknownChar { ch, at }))?;
            out.push(id as i64);
        }
        let n = out.len();
        Ok(IndexTensor::from_vec(out, &[n]))
    }

    /// The text of `ids`, or an error naming the first id outside the vocabulary.
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        ids.iter()
            .map(|&id| {
                usize::try_from(id)
                    .ok()
                    .and_then(|i| self.chars.get(i).copied())
                    .ok_or_else(|| DataError::new("<ids>", DataErrorKind::UnknownToken { id, vocab_size: self.len() }))
            })
            .collect()
    }
}

/// A batch of `batch` random windows of `seq_len + 1` consecutive tokens of
/// `tokens`, as inputs (the first `seq_len`) and next-token targets (the last
/// `seq_len`), both `[batch, seq_len]`: the usual language-model batch.
///
/// Panics if `tokens` has fewer than `seq_len + 1` elements.
///
/// ```
/// use lamina::core::{Generator, IndexTensor};
/// use lamina::data::random_windows;
/// let tokens = IndexTensor::arange(10);
/// let (x, y) = random_windows(&tokens, 3, 4, &mut Generator::new(0));
/// assert_eq!(x.shape(), &[3, 4]);
/// for (a, b) in x.to_vec().iter().zip(y.to_vec()) {
///     assert_eq!(a + 1, b); // targets are the inputs shifted by one
/// }
/// ```
#[track_caller]
pub fn random_windows(
    tokens: &IndexTensor,
    batch: usize,
    seq_len: usize,
    generator: &mut Generator,
) -> (IndexTensor, IndexTensor) {
    let t = tokens.as_slice();
    let at = std::panic::Location::caller();
    assert!(
        t.len() > seq_len,
        "random_windows: {} tokens are too few for windows of {} at {}:{}",
        t.len(),
        seq_len + 1,
        at.file(),
        at.line()
    );
    let (mut x, mut y) = (Vec::with_capacity(batch * seq_len), Vec::with_capacity(batch * seq_len));
    for _ in 0..batch {
        let start = generator.below((t.len() - seq_len) as u64) as usize;
        x.extend_from_slice(&t[start..start + seq_len]);
        y.extend_from_slice(&t[start + 1..start + seq_len + 1]);
    }
    (IndexTensor::from_vec(x, &[batch, seq_len]), IndexTensor::from_vec(y, &[batch, seq_len]))
}
