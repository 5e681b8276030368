//! Saving without ever destroying the last good file: write a temporary file
//! beside the target, sync it to disk, then rename it over the target.

use super::error::CheckpointError;
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `path` atomically: `write` fills a temporary file in the same
/// directory, which is synced and then renamed over `path`. If `write` (or
/// the disk) fails half-way, the temporary file is removed and `path` keeps
/// its previous contents; a crash leaves at worst a stray `.*.tmp` file.
///
/// ```
/// # fn main() -> Result<(), lamina::checkpoint::CheckpointError> {
/// use std::io::Write;
/// let dir = std::env::temp_dir().join(format!("lamina-doc-atomic-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("notes.txt");
/// lamina::checkpoint::write_atomic(&path, |w| w.write_all(b"good"))?;
/// // A write that fails half-way leaves the previous file as it was.
/// let failed = lamina::checkpoint::write_atomic(&path, |w| {
///     w.write_all(b"ha")?;
///     Err(std::io::Error::other("disk full"))
/// });
/// assert!(failed.is_err());
/// assert_eq!(std::fs::read(&path).unwrap(), b"good");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn write_atomic(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let err = |source| CheckpointError::Io { action: "save", path: path.to_owned(), source };
    let tmp = temp_path(path).map_err(err)?;
    let result = (|| {
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        // Best effort: the temporary file may not exist if opening it failed.
        let _ = fs::remove_file(&tmp);
        return Err(err(e));
    }
    sync_dir(path);
    Ok(())
}

/// A fresh name beside `path`: `.NAME.PID.N.tmp`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{}.{}.{n}.tmp", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp))
}

/// Syncs the directory holding `path`, so that the rename itself survives a
/// power cut. Best effort: the new file is in place either way, and some
/// platforms cannot open a directory.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
