//! Reading inputs and writing outputs safely, whatever the paths name.
//!
//! - Inputs (policies, traces) must be regular files (a symlink to one is
//!   fine) of at most [`MAX_INPUT_BYTES`]: a FIFO, a device (`/dev/zero`), a
//!   socket or a directory is refused before it is opened, so nothing blocks
//!   and nothing is read without bound. The file is opened non-blocking and
//!   checked again once open (it may have been swapped meanwhile), and never
//!   more than the limit is read even if it grows.
//! - [`check_output`] says, before a program runs, whether a file could be
//!   written there later (`secimport trace -o`).
//! - [`write_atomically`] writes several files all or nothing: each goes to a
//!   temporary file beside it, then all are renamed into place; if a rename
//!   fails, those already renamed are put back as they were.
//!
//! Outputs must be regular files or not exist yet: a rename over `/dev/null`
//! or a FIFO would replace it, and writing to one would block or vanish.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest policy or trace file secimport reads: 64 MiB. A policy of
/// 10,000 modules takes about 1 MiB, the trace of a large program a few.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Why an input file could not be read. The `Display` form completes
/// "cannot read policy PATH: ...".
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not there, no permission, an I/O error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A directory, FIFO, device or socket (or a symlink to one).
    #[error("it is {kind}, not a regular file; give the path of a file")]
    NotRegular { kind: &'static str },
    /// More than [`MAX_INPUT_BYTES`].
    #[error(
        "it is {} bytes long, more than the {} bytes (64 MiB) secimport reads",
        thousands(*size),
        thousands(MAX_INPUT_BYTES)
    )]
    TooLarge { size: u64 },
    /// Not UTF-8; the position of the first bad byte, both from 1.
    #[error("it is not UTF-8 text (an invalid byte at line {line}, column {column})")]
    NotUtf8 { line: usize, column: usize },
}

/// What a path names, for messages: "a directory", "a FIFO (named pipe)", ...
pub fn kind_of(metadata: &Metadata) -> &'static str {
    let t = metadata.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn regular(metadata: &Metadata) -> Result<(), ReadError> {
    if !metadata.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(metadata),
        });
    }
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(ReadError::TooLarge {
            size: metadata.len(),
        });
    }
    Ok(())
}

/// The text of the regular file at `path` (symlinks followed), at most
/// [`MAX_INPUT_BYTES`] long; anything else is refused without blocking.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    // Checked before opening: opening a FIFO blocks until a writer comes, and
    // opening some devices does things.
    regular(&std::fs::metadata(path)?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    // The path may name something else by now.
    regular(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
        ReadError::NotUtf8 { line, column }
    })
}

/// Why an output path cannot be written. The `Display` form completes
/// "cannot write PATH: ...".
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the path is empty")]
    Empty,
    #[error("it is {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("it is a symbolic link to {target}, which does not exist")]
    Dangling { target: String },
    #[error("its directory {dir} does not exist")]
    NoDirectory { dir: String },
    #[error("{dir} is {kind}, not a directory")]
    ParentNotADirectory { dir: String, kind: &'static str },
    #[error("cannot create a file in {dir}: {error}")]
    DirectoryNotWritable { dir: String, error: io::Error },
    #[error("it is the same file as another output (a link to it)")]
    SameFile,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A write that failed: the path and why.
#[derive(Debug)]
pub struct OutputError {
    pub path: PathBuf,
    pub error: WriteError,
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for OutputError {}

fn output_error(path: &Path, error: impl Into<WriteError>) -> OutputError {
    OutputError {
        path: path.to_path_buf(),
        error: error.into(),
    }
}

/// The directory a file at `path` is created in (`.` for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Where a write to `path` really goes: `path` itself if nothing is there or
/// a regular file is, the file a symlink leads to if it is one. Anything else
/// is refused.
fn destination(path: &Path) -> Result<(PathBuf, Option<Metadata>), WriteError> {
    if path.as_os_str().is_empty() {
        return Err(WriteError::Empty);
    }
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((path.to_path_buf(), None)),
        Err(e) => return Err(e.into()),
    };
    if !link.file_type().is_symlink() {
        return match link.is_file() {
            true => Ok((path.to_path_buf(), Some(link))),
            false => Err(WriteError::NotRegular {
                kind: kind_of(&link),
            }),
        };
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok((std::fs::canonicalize(path)?, Some(m))),
        Ok(m) => Err(WriteError::NotRegular { kind: kind_of(&m) }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(WriteError::Dangling {
            target: std::fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_default(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The directory `dir` exists and is one.
fn check_dir(dir: &Path) -> Result<(), WriteError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => Err(WriteError::ParentNotADirectory {
            dir: dir.display().to_string(),
            kind: kind_of(&m),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(WriteError::NoDirectory {
            dir: dir.display().to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// A new, empty, uniquely named file in `dir` (`.NAME.secimport-XXXX`).
fn temp_file(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut last = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.secimport-{}-{n}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string())
}

/// Whether a file could be written at `path` now, as `std::fs::write` would:
/// an existing regular file (or a symlink to one) that opens for writing (it
/// is not changed), or a new file in an existing, writable directory (a file
/// is created there and removed to be sure). Directories, FIFOs, devices and
/// sockets are refused.
pub fn check_output(path: &Path) -> Result<(), OutputError> {
    let err = |e| output_error(path, e);
    let (target, existing) = destination(path).map_err(err)?;
    if existing.is_some() {
        // No truncation, no creation: the file is left as it is.
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&target)
            .map_err(|e| err(e.into()))?;
        return Ok(());
    }
    let dir = parent_dir(&target);
    check_dir(&dir).map_err(err)?;
    let (probe, file) = temp_file(&dir, &file_name(&target)).map_err(|e| {
        err(WriteError::DirectoryNotWritable {
            dir: dir.display().to_string(),
            error: e,
        })
    })?;
    drop(file);
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A point where [`write_atomically`] can be made to fail, for tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writing the temporary file of output `i`.
    Write(usize),
    /// Renaming output `i` into place.
    Rename(usize),
}

/// Writes every `(path, contents)` or none of them: when it returns an error,
/// every path holds what it held before (or still does not exist), and no
/// temporary file is left. Each path must be a regular file or not exist
/// (a symlink to a regular file is followed; the file it leads to is
/// replaced); its directory must exist. A replaced file keeps its permission
/// bits.
pub fn write_atomically(outputs: &[(&Path, &[u8])]) -> Result<(), OutputError> {
    write_atomically_with(outputs, None)
}

#[doc(hidden)]
pub fn write_atomically_with(
    outputs: &[(&Path, &[u8])],
    fault: Option<Fault>,
) -> Result<(), OutputError> {
    struct Pending {
        target: PathBuf,
        temp: PathBuf,
        /// A hard link to the file `target` held, to put it back.
        backup: Option<PathBuf>,
        renamed: bool,
    }
    let injected = |what: &str| io::Error::other(format!("injected fault: {what}"));

    // Check every path before touching anything.
    let mut targets = Vec::with_capacity(outputs.len());
    for &(path, _) in outputs {
        let (target, existing) = destination(path).map_err(|e| output_error(path, e))?;
        check_dir(&parent_dir(&target)).map_err(|e| output_error(path, e))?;
        // Two names for one file (a symlink to the other): the second write
        // would replace the first.
        if let Some(ino) = existing.as_ref().map(|m| (m.dev(), m.ino())) {
            let same = targets.iter().any(|(_, m): &(PathBuf, Option<Metadata>)| {
                m.as_ref().is_some_and(|m| (m.dev(), m.ino()) == ino)
            });
            if same {
                return Err(output_error(path, WriteError::SameFile));
            }
        }
        targets.push((target, existing));
    }

    let mut pending: Vec<Pending> = Vec::with_capacity(outputs.len());
    let cleanup = |pending: &[Pending]| {
        // Undo in reverse: put back what was replaced, remove what is new.
        for p in pending.iter().rev() {
            if p.renamed {
                match &p.backup {
                    Some(backup) => {
                        let _ = std::fs::rename(backup, &p.target);
                    }
                    None => {
                        let _ = std::fs::remove_file(&p.target);
                    }
                }
            } else {
                let _ = std::fs::remove_file(&p.temp);
                if let Some(backup) = &p.backup {
                    let _ = std::fs::remove_file(backup);
                }
            }
        }
    };

    // 1. Every output into a temporary file beside it, synced.
    for (i, (&(path, contents), (target, existing))) in outputs.iter().zip(&targets).enumerate() {
        let dir = parent_dir(target);
        let result = temp_file(&dir, &file_name(target)).and_then(|(temp, mut file)| {
            pending.push(Pending {
                target: target.clone(),
                temp,
                backup: None,
                renamed: false,
            });
            if fault == Some(Fault::Write(i)) {
                return Err(injected("write"));
            }
            file.write_all(contents)?;
            if let Some(existing) = existing {
                file.set_permissions(existing.permissions())?;
            }
            file.sync_all()
        });
        if let Err(e) = result {
            cleanup(&pending);
            return Err(output_error(path, e));
        }
    }

    // 2. Keep what the targets held, so that a failed rename can undo the
    //    ones before it.
    for (i, (target, existing)) in targets.iter().enumerate() {
        if existing.is_none() {
            continue;
        }
        let result = temp_file(&parent_dir(target), &file_name(target)).and_then(|(backup, _)| {
            std::fs::remove_file(&backup)?;
            pending[i].backup = Some(backup.clone());
            std::fs::hard_link(target, &backup).or_else(|_| {
                // A file system without hard links: a copy will do.
                std::fs::copy(target, &backup).map(drop)
            })
        });
        if let Err(e) = result {
            if let Some(backup) = pending[i].backup.take() {
                let _ = std::fs::remove_file(backup);
            }
            cleanup(&pending);
            return Err(output_error(outputs[i].0, e));
        }
    }

    // 3. Rename them into place; on failure undo the renames already done.
    for i in 0..pending.len() {
        let result = if fault == Some(Fault::Rename(i)) {
            Err(injected("rename"))
        } else {
            std::fs::rename(&pending[i].temp, &pending[i].target)
        };
        match result {
            Ok(()) => pending[i].renamed = true,
            Err(e) => {
                cleanup(&pending);
                return Err(output_error(outputs[i].0, e));
            }
        }
    }
    for p in &pending {
        if let Some(backup) = &p.backup {
            let _ = std::fs::remove_file(backup);
        }
    }
    // The renames themselves are durable once the directories are synced.
    for (target, _) in &targets {
        if let Ok(dir) = File::open(parent_dir(target)) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// `1234567` -> `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = digits[..first].to_string();
    for group in digits.as_bytes()[first..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).expect("digits are ASCII"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(67_108_864), "67,108,864");
    }
}
