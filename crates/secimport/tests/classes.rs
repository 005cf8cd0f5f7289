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

on_both_interpreters!(
    write_by_a_reading_module,
    inet_by_a_unix_module,
    fork_by_a_threading_module
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
