//! The corpus of hostile inputs in `tests/hostile/`: every policy in
//! `policy/` and every trace in `trace/` is refused with a clean error (one
//! line, of bounded length, naming the file), quickly, never with a panic.
//! The snapshot shows what users read for each. Inputs the fuzzers found are
//! added here once fixed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secimport_policy::fuzzing;
use secimport_policy::policy::Policy;
use secimport_policy::trace::Trace;

fn corpus(kind: &str) -> (PathBuf, Vec<PathBuf>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "{}: only {} files",
        dir.display(),
        files.len()
    );
    (dir, files)
}

/// Checks `message` is clean and returns it with the directory left out.
fn clean(message: String, dir: &Path, file: &Path) -> String {
    assert!(
        !message.contains('\n') && !message.contains('\r'),
        "{}: a message of several lines: {message:?}",
        file.display()
    );
    assert!(
        message.len() <= 1000,
        "{}: a message of {} bytes",
        file.display(),
        message.len()
    );
    assert!(
        message.contains(&file.display().to_string()),
        "{}: the message does not name the file: {message}",
        file.display()
    );
    assert!(
        !message.chars().any(|c| c.is_control()),
        "{}: control characters in {message:?}",
        file.display()
    );
    message.replace(&format!("{}/", dir.display()), "")
}

fn timed<T>(file: &Path, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{}: took {:?}",
        file.display(),
        start.elapsed()
    );
    value
}

#[test]
fn hostile_policies_are_refused_cleanly() {
    let (dir, files) = corpus("policy");
    let mut report = String::new();
    for file in &files {
        let err = match timed(file, || Policy::load(file)) {
            Ok(policy) => panic!("{}: accepted as {policy:?}", file.display()),
            Err(err) => err,
        };
        let message = clean(err.to_string(), &dir, file);
        report.push_str(&format!("{message}\n"));
        // And the fuzzing promises hold for it, whatever its extension.
        let bytes = std::fs::read(file).unwrap();
        timed(file, || fuzzing::policy(&bytes));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn hostile_traces_are_refused_cleanly() {
    let (dir, files) = corpus("trace");
    let mut report = String::new();
    for file in &files {
        let err = match timed(file, || Trace::load(file)) {
            Ok(trace) => panic!("{}: accepted as {trace:?}", file.display()),
            Err(err) => err,
        };
        let message = clean(err.to_string(), &dir, file);
        report.push_str(&format!("{message}\n"));
        let bytes = std::fs::read(file).unwrap();
        timed(file, || fuzzing::trace(&bytes));
    }
    insta::assert_snapshot!(report);
}
