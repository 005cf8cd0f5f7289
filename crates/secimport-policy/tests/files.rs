//! Inputs that are not regular files or are too large are refused at once;
//! output paths are checked before a program runs; outputs are written all
//! or nothing.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secimport_policy::files::{
    check_output, read_text, write_atomically, write_atomically_with, Fault, ReadError, WriteError,
    MAX_INPUT_BYTES,
};
use secimport_policy::policy::{Policy, PolicyError};
use secimport_policy::trace::{Trace, TraceError};

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("files-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `f` on another thread and fails if it takes more than 5 s (a read
/// that blocks on a FIFO would hang the whole test otherwise).
fn quickly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    let start = Instant::now();
    let value = rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{what}: still blocked after 5 s"));
    assert!(start.elapsed() < Duration::from_secs(5));
    value
}

/// The paths no input may be: `(file name, what the message calls it)`.
fn not_regular(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo.yaml");
    mkfifo(&fifo);
    let zero = dir.join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let to_fifo = dir.join("to-fifo.json");
    std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
    let null = dir.join("null.yaml");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    let subdir = dir.join("dir.yaml");
    std::fs::create_dir(&subdir).unwrap();
    vec![
        (fifo, "a FIFO (named pipe)"),
        (zero, "a character device"),
        (to_fifo, "a FIFO (named pipe)"),
        (subdir, "a directory"),
        (null, "a character device"),
    ]
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once() {
    let dir = scratch("not-regular");
    for (path, kind) in not_regular(&dir) {
        let p = path.clone();
        let err = quickly("read_text", move || read_text(&p).unwrap_err());
        assert!(
            matches!(err, ReadError::NotRegular { kind: k } if k == kind),
            "{}: {err:?}",
            path.display()
        );
        // Policies and traces alike, with the file named.
        let p = path.clone();
        let err = quickly("Policy::load", move || Policy::load(&p).unwrap_err());
        assert!(matches!(err, PolicyError::Io { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read policy {}: it is {kind}, not a regular file; give the path of a file",
                path.display()
            )
        );
        let p = path.clone();
        let err = quickly("Trace::load", move || Trace::load(&p).unwrap_err());
        assert!(matches!(err, TraceError::Io { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot read trace {}: it is {kind}",
                path.display()
            )),
            "{err}"
        );
    }
    // A FIFO with a writer waiting is not read either.
    let fifo = dir.join("fifo.yaml");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = f.write_all(b"apiVersion: secimport.dev/v1\n");
            }
        })
    };
    let f = fifo.clone();
    let err = quickly("read_text with a writer", move || {
        read_text(&f).unwrap_err()
    });
    assert!(matches!(err, ReadError::NotRegular { .. }), "{err:?}");
    // Release the writer.
    let _ = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo);
    writer.join().unwrap();
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

#[test]
fn inputs_over_the_limit_are_refused_without_reading_them() {
    assert_eq!(MAX_INPUT_BYTES, 64 * 1024 * 1024);
    let dir = scratch("too-large");
    let big = dir.join("big.yaml");
    // Sparse: nothing is written to disk.
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MAX_INPUT_BYTES + 1).unwrap();
    drop(file);
    let start = Instant::now();
    let err = read_text(&big).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1), "it was read");
    assert!(
        matches!(err, ReadError::TooLarge { size } if size == MAX_INPUT_BYTES + 1),
        "{err:?}"
    );
    let err = Policy::load(&big).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read policy {}: it is 67,108,865 bytes long, more than the 67,108,864 bytes \
             (64 MiB) secimport reads",
            big.display()
        )
    );
    let big_trace = dir.join("trace.json");
    std::fs::rename(&big, &big_trace).unwrap();
    let err = Trace::load(&big_trace).unwrap_err();
    assert!(
        err.to_string().contains("more than the 67,108,864 bytes"),
        "{err}"
    );

    // Exactly the limit is read.
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MAX_INPUT_BYTES).unwrap();
    drop(file);
    assert_eq!(read_text(&big).unwrap().len() as u64, MAX_INPUT_BYTES);
    std::fs::remove_file(&big).unwrap();
}

#[test]
fn text_that_is_not_utf8_is_refused_with_its_position() {
    let dir = scratch("utf8");
    let path = dir.join("p.yaml");
    std::fs::write(&path, b"apiVersion: x\nkind: \xc3\xa9t\xe9\n").unwrap();
    let err = read_text(&path).unwrap_err();
    assert!(
        matches!(err, ReadError::NotUtf8 { line: 2, column: 9 }),
        "{err:?}"
    );
    assert!(Policy::load(&path)
        .unwrap_err()
        .to_string()
        .ends_with("it is not UTF-8 text (an invalid byte at line 2, column 9)"),);
}

#[test]
fn a_missing_input_is_an_io_error() {
    let dir = scratch("missing");
    let err = read_text(&dir.join("nothing.yaml")).unwrap_err();
    assert!(matches!(err, ReadError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound));
    // A symlink to a regular file is read through.
    let target = dir.join("real.json");
    std::fs::write(&target, "{}").unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(read_text(&link).unwrap(), "{}");
}

// ---------------------------------------------------------------- check_output

fn write_error(path: &Path) -> WriteError {
    check_output(path).unwrap_err().error
}

#[test]
fn output_paths_are_checked_without_leaving_anything() {
    let dir = scratch("check-output");
    // New file in a writable directory, and an existing file: fine, and
    // nothing is created or changed.
    check_output(&dir.join("trace.json")).unwrap();
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
    let existing = dir.join("old.json");
    std::fs::write(&existing, "old").unwrap();
    check_output(&existing).unwrap();
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "old");
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&existing, &link).unwrap();
    check_output(&link).unwrap();

    // A directory, a FIFO (which stays one), /dev/null.
    assert!(matches!(
        write_error(&dir),
        WriteError::NotRegular {
            kind: "a directory"
        }
    ));
    let fifo = dir.join("fifo.json");
    mkfifo(&fifo);
    let f = fifo.clone();
    let err = quickly("check_output on a FIFO", move || write_error(&f));
    assert!(
        matches!(
            err,
            WriteError::NotRegular {
                kind: "a FIFO (named pipe)"
            }
        ),
        "{err:?}"
    );
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(matches!(
        write_error(Path::new("/dev/null")),
        WriteError::NotRegular {
            kind: "a character device"
        }
    ));
    let to_fifo = dir.join("to-fifo.json");
    std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
    assert!(matches!(
        write_error(&to_fifo),
        WriteError::NotRegular { .. }
    ));

    // No directory, a file as the directory, a dangling symlink, nothing.
    assert!(matches!(
        write_error(&dir.join("missing/trace.json")),
        WriteError::NoDirectory { .. }
    ));
    assert!(matches!(
        write_error(&existing.join("trace.json")),
        WriteError::ParentNotADirectory { .. } | WriteError::Io(_)
    ));
    let dangling = dir.join("dangling.json");
    std::os::unix::fs::symlink(dir.join("nowhere/x.json"), &dangling).unwrap();
    assert!(matches!(
        write_error(&dangling),
        WriteError::Dangling { .. }
    ));
    assert!(matches!(write_error(Path::new("")), WriteError::Empty));

    // The message names the path.
    let err = check_output(&dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot write {}: it is a directory, not a regular file",
            dir.display()
        )
    );
    let mut left = names(&dir);
    left.retain(|n| n.starts_with('.'));
    assert!(left.is_empty(), "probe files left: {left:?}");
}

/// A directory the caller cannot write to (only meaningful without root:
/// root writes anywhere that is not read-only).
#[test]
fn an_unwritable_directory_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return;
    }
    let dir = scratch("unwritable");
    let ro = dir.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let err = write_error(&ro.join("trace.json"));
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        matches!(err, WriteError::DirectoryNotWritable { .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- write_atomically

#[test]
fn writes_every_file() {
    let dir = scratch("atomic-ok");
    let (a, b) = (dir.join("p.yaml"), dir.join("p.json"));
    write_atomically(&[(&a, b"yaml\n"), (&b, b"json\n")]).unwrap();
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "yaml\n");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "json\n");
    // Replacing keeps the permission bits; a symlink stays and its file is
    // replaced.
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o600)).unwrap();
    let real = dir.join("real.json");
    std::fs::write(&real, "old").unwrap();
    std::fs::remove_file(&b).unwrap();
    std::os::unix::fs::symlink(&real, &b).unwrap();
    write_atomically(&[(&a, b"yaml 2\n"), (&b, b"json 2\n")]).unwrap();
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "yaml 2\n");
    let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::symlink_metadata(&b)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "json 2\n");
    assert_eq!(names(&dir), ["p.json", "p.yaml", "real.json"]);
}

/// A failure at any step leaves every path as it was, and no temporary file.
#[test]
fn all_or_nothing() {
    for fault in [
        Fault::Write(0),
        Fault::Write(1),
        Fault::Rename(0),
        Fault::Rename(1),
    ] {
        for existed in [false, true] {
            let dir = scratch("atomic-fault");
            let (a, b) = (dir.join("p.yaml"), dir.join("p.json"));
            if existed {
                std::fs::write(&a, "old yaml").unwrap();
                std::fs::write(&b, "old json").unwrap();
            }
            let before = names(&dir);
            let err = write_atomically_with(&[(&a, b"new yaml"), (&b, b"new json")], Some(fault))
                .unwrap_err();
            assert!(err.to_string().contains("injected fault"), "{err}");
            assert_eq!(names(&dir), before, "{fault:?}, existed: {existed}");
            if existed {
                assert_eq!(
                    std::fs::read_to_string(&a).unwrap(),
                    "old yaml",
                    "{fault:?}"
                );
                assert_eq!(
                    std::fs::read_to_string(&b).unwrap(),
                    "old json",
                    "{fault:?}"
                );
            }
        }
    }
}

/// A path that cannot be written stops everything before anything is
/// touched; the error names that path.
#[test]
fn a_bad_second_path_writes_nothing() {
    let dir = scratch("atomic-bad-path");
    let a = dir.join("p.yaml");
    std::fs::write(&a, "old").unwrap();
    let fifo = dir.join("p.json");
    mkfifo(&fifo);
    let err = write_atomically(&[(&a, b"new"), (&fifo, b"new")]).unwrap_err();
    assert_eq!(err.path, fifo);
    assert!(matches!(err.error, WriteError::NotRegular { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "old");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(names(&dir), ["p.json", "p.yaml"]);
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let err = write_atomically(&[(&a, b"new"), (&sub, b"new")]).unwrap_err();
    assert!(matches!(
        err.error,
        WriteError::NotRegular {
            kind: "a directory"
        }
    ));
    // Two names for one file.
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let err = write_atomically(&[(&a, b"new"), (&link, b"new")]).unwrap_err();
    assert!(matches!(err.error, WriteError::SameFile), "{err}");
    std::fs::remove_file(&link).unwrap();
    let err = write_atomically(&[(&a, b"new"), (&dir.join("none/p.json"), b"new")]).unwrap_err();
    assert!(matches!(err.error, WriteError::NoDirectory { .. }));
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "old");
}
