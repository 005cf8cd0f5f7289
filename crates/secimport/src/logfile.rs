//! Log files written as root in places other users may reach (`/tmp/.secimport`).
//!
//! secimport runs as root, and its default log directory is under `/tmp`, where
//! anyone may have created it first. So a log is only ever appended to when:
//! - its directory is owned by us (or root) and writable by nobody else, and
//! - the file itself is not a symlink (`O_NOFOLLOW`) and, once open, is a
//!   regular file owned by us (or root).
//!
//! Otherwise the error says which check failed and how to fix it, instead of
//! appending a report to whatever a symlink points at.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

fn trusted_owner(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    uid == me || uid == 0
}

fn refuse(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

/// Creates `dir` (mode 0700 for what is created) and checks that nobody
/// else can replace what is in it.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    if !dir.as_os_str().is_empty() && !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(refuse(format!(
            "log directory {} is a symlink; pass a log path in a directory you own",
            dir.display()
        )));
    }
    if !meta.is_dir() {
        return Err(refuse(format!("{} is not a directory", dir.display())));
    }
    let others_write = meta.mode() & 0o022 != 0;
    let sticky = meta.mode() & 0o1000 != 0;
    if !trusted_owner(meta.uid()) || (others_write && !sticky) {
        return Err(refuse(format!(
            "refusing to write logs in {}: it is owned by uid {} with mode {:o}, so another user \
             could redirect them; remove it (secimport recreates it, mode 0700) or pass a log path \
             in a directory only you can write",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Opens `path` for appending (creating it 0600), never through a symlink,
/// and only if it is a regular file or a character device (`/dev/null`,
/// `/dev/full`) owned by us or root.
pub fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        prepare_dir(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                refuse(format!(
                    "log file {} is a symlink; refusing to follow it",
                    path.display()
                ))
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    use std::os::unix::fs::FileTypeExt;
    let kind_ok = meta.is_file() || meta.file_type().is_char_device();
    if !kind_ok || !trusted_owner(meta.uid()) {
        return Err(refuse(format!(
            "log file {} is not a regular file owned by us (uid {}); remove it or pass another \
             log path",
            path.display(),
            meta.uid()
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_a_fresh_file_and_refuses_symlinks() {
        let dir = std::env::temp_dir().join(format!("secimport-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = dir.join("sub/a.log");
        use std::io::Write;
        open_append(&log).unwrap().write_all(b"x\n").unwrap();
        open_append(&log).unwrap().write_all(b"y\n").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "x\ny\n");
        let target = dir.join("target");
        std::fs::write(&target, "secret\n").unwrap();
        let link = dir.join("sub/link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_append(&link).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_directory_others_can_write() {
        let dir = std::env::temp_dir().join(format!("secimport-logdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let err = open_append(&dir.join("a.log")).unwrap_err();
        assert!(err.to_string().contains("refusing to write logs"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
