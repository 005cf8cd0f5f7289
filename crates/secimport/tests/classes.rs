//! Issue #7, argument classes: a policy says which *form* of a dangerous syscall a module may make.
//! `tests/programs/classes_app.py` writes a file, opens a local socket and forks; its plugin
//! (`helpers.classes_plugin`) only reads files, opens a local socket and starts a thread. Traced
//! benign, the policy gives the application `openat:write`, `socket:unix`, `clone:process` and the
//! plugin `openat`, `socket:unix` and the plain (thread) `clone`/`clone3`. Then the plugin doing the
//! application's dangerous form itself (`openat:write`, `socket:inet`, `clone:process`) is a
//! violation named by its class, while the benign run stays clean. These tests load BPF programs, so
//! they need root (CI runs them as root): without it they fail, they never skip.

#[macro_use]
mod common;

use common::{Case, Interp};

on_every_version!(cold_cache_after_a_warm_trace, fork_by_a_threading_module,);

on_both_interpreters!(
    a_module_in_a_random_directory,
    a_program_never_seen,
    write_by_a_reading_module,
    inet_by_a_unix_module,
);

/// Traces the benign run, checks what the trace says about classes, builds the policy, checks the
/// benign run is clean under it in kill mode, then runs `attack` in log mode and returns the
/// logged records.
fn attack(interp: Interp, attack: &str, right: &str) {
    let case = Case::new(interp);
    let label = interp.label();
    let dir = case.dir().display().to_string();
    let traced = case.trace("classes_app.py", &["benign", &dir], &[]);
    if traced.outcome.status.code() != Some(0) {
        traced.fail("the benign run must exit 0 under `secimport trace`");
    }
    traced.assert_charged(
        "__main__",
        &["openat:write", "socket:unix", "clone:process"],
    );
    traced.assert_charged("helpers.classes_plugin", &["openat", "socket:unix"]);
    traced.assert_not_charged(
        "helpers.classes_plugin",
        &[
            "openat:write",
            "socket:inet",
            "clone:process",
            "clone3:process",
            "socket",
        ],
    );
    let policy = case.build_policy(&[]);
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(
        text.contains("apiVersion: secimport.dev/v2") && text.contains("openat:write"),
        "[{label}] the policy names the classes:\n{text}"
    );

    let benign = case.run_policy(
        &policy,
        "classes_app.py",
        &["benign", &dir],
        &["--kill-on-violation"],
        "benign.jsonl",
    );
    assert!(
        benign.is_clean(),
        "[{label}] the benign run must be clean under its own policy\n{}",
        benign.describe()
    );

    let ran = case.run_policy(
        &policy,
        "classes_app.py",
        &[attack, &dir],
        &["--mode", "log"],
        "attack.jsonl",
    );
    let hit = ran.log.iter().any(|r| {
        r["syscall"] == right
            && r["denied_by"]
                .as_array()
                .is_some_and(|d| d.iter().any(|m| m == "helpers.classes_plugin"))
    });
    assert!(
        hit && ran.reported_violation(),
        "[{label}] the plugin's {right} must be reported as denied by helpers.classes_plugin\n{}",
        ran.describe()
    );
    // What follows the dangerous form (the `write` to the file, the `wait4` for the child) is new
    // for the plugin too; the first violation must be the class itself.
    assert!(
        ran.log.first().is_some_and(|r| r["syscall"] == right),
        "[{label}] the first violation is the plugin's {right}\n{}",
        ran.describe()
    );
}

fn write_by_a_reading_module(interp: Interp) {
    attack(interp, "write", "openat:write");
}

fn inet_by_a_unix_module(interp: Interp) {
    attack(interp, "inet", "socket:inet");
}

fn fork_by_a_threading_module(interp: Interp) {
    attack(interp, "fork", "clone:process");
}

/// Traced with a warm `__pycache__`, run with a cold one in kill mode: the import system's writes of
/// the compiled module (`mkdir:pycache`, `openat:pycache`, `rename:pycache`) are in every policy's
/// base, whatever the trace saw, so the run is clean and the cache is written again.
fn cold_cache_after_a_warm_trace(interp: Interp) {
    let case = Case::new(interp);
    let label = interp.label();
    let name = case
        .dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("coldmod.py"), "def answer():\n    return 42\n").unwrap();
    let d = dir.display().to_string();
    let warm = case.run_without_secimport("cold_cache.py", &[&d]);
    let cache = dir.join("__pycache__");
    assert!(
        warm.status.code() == Some(0) && cache.is_dir(),
        "[{label}] the plain run writes the cache\n{}",
        warm.describe()
    );
    let traced = case.trace("cold_cache.py", &[&d], &[]);
    if traced.outcome.status.code() != Some(0) {
        traced.fail("the run must exit 0 under `secimport trace`");
    }
    traced.assert_not_charged("__main__", &["openat:pycache", "openat:write", "mkdir"]);
    let policy = case.build_policy(&[]);
    std::fs::remove_dir_all(&cache).unwrap();
    let ran = case.run_policy(
        &policy,
        "cold_cache.py",
        &[&d],
        &["--kill-on-violation"],
        "cold.jsonl",
    );
    assert!(
        ran.is_clean(),
        "[{label}] a cold cache must not be a violation\n{}",
        ran.describe()
    );
    let written = std::fs::read_dir(&cache)
        .map(|r| {
            r.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".pyc"))
        })
        .unwrap_or(false);
    assert!(
        written,
        "[{label}] the cold run wrote the compiled module again"
    );
}

/// Programs that are not Python are judged one by one (`spec.programs`): the shell the app runs
/// started `ls` while traced; under the policy, the same shell starting `cat` is allowed to exec, but
/// `cat` itself is a program the policy does not name, reported at its first syscall.
fn a_program_never_seen(interp: Interp) {
    let case = Case::new(interp);
    let label = interp.label();
    let dir = case.dir().display().to_string();
    let traced = case.trace("children_app.py", &["benign", &dir], &[]);
    if traced.outcome.status.code() != Some(0) {
        traced.fail("the benign run must exit 0 under `secimport trace`");
    }
    let programs: Vec<&String> = traced.trace.programs.keys().collect();
    assert!(
        programs.iter().any(|p| p.ends_with("/ls")) && programs.len() >= 2,
        "[{label}] the trace names the shell and ls: {programs:?}"
    );
    let policy = case.build_policy(&[]);
    let benign = case.run_policy(
        &policy,
        "children_app.py",
        &["benign", &dir],
        &["--kill-on-violation"],
        "benign.jsonl",
    );
    assert!(
        benign.is_clean(),
        "[{label}] the benign run must be clean under its own policy\n{}",
        benign.describe()
    );
    let ran = case.run_policy(
        &policy,
        "children_app.py",
        &["attack", &dir],
        &["--mode", "log"],
        "attack.jsonl",
    );
    let by_cat = ran.log.iter().any(|r| {
        r["comm"] == "cat"
            && r["denied_by"]
                .as_array()
                .is_some_and(|d| d.iter().any(|m| m == "<non-python>"))
    });
    assert!(
        by_cat && ran.reported_violation(),
        "[{label}] cat, a program the policy does not name, must be reported\n{}",
        ran.describe()
    );
    assert!(
        ran.log.iter().all(|r| r["comm"] == "cat"),
        "[{label}] only cat is new\n{}",
        ran.describe()
    );
}

/// A module run from a fresh `tempfile.mkdtemp()` directory every run is named with the random part
/// as `*` (`$TMPDIR/tmp*/setup.py`), and `run` installs that entry's rule when the kernel first meets
/// the file: its `times` (in no other set) is allowed run after run.
fn a_module_in_a_random_directory(interp: Interp) {
    let case = Case::new(interp);
    let label = interp.label();
    let traced = case.trace("temp_module.py", &[], &[]);
    if traced.outcome.status.code() != Some(0) {
        traced.fail("the run must exit 0 under `secimport trace`");
    }
    let name = format!("{}/tmp*/setup.py", case.dir().display());
    traced.assert_charged(&name, &["times"]);
    let policy = case.build_policy(&[]);
    for run in 0..3 {
        let ran = case.run_policy(
            &policy,
            "temp_module.py",
            &[],
            &["--kill-on-violation"],
            &format!("run{run}.jsonl"),
        );
        assert!(
            ran.is_clean(),
            "[{label}] run {run}: the module's entry must apply to its new directory\n{}",
            ran.describe()
        );
    }
}
