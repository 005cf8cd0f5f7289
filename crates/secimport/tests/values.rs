//! Issue #7, argument values: a policy says which programs a module may run, which paths it may
//! write and which addresses it may connect to. `tests/programs/values_app.py` has one module
//! (`helpers.values_worker`) that runs `/bin/true`, writes files in its output directory (by
//! absolute and relative path, after a `chdir`) and connects to a local server. Traced benign, the
//! policy gives it `execve` with `exec: [/bin/true]`, `openat:write` with its output directory
//! and `connect:inet` to the loopback. The same module running `/bin/sh`, writing next to its
//! output directory or connecting to another host is then a violation that names the value; the
//! benign run stays clean in kill mode. The working directory is outside every temporary root (a
//! file written under /tmp would be generalized to `/tmp/**`). These tests load BPF programs, so
//! they need root (CI runs them as root): without it they fail, they never skip.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};

use common::{Case, Interp};

on_every_version!(another_program,);

on_both_interpreters!(another_directory, another_address, learn_then_merge,);

const WORKER: &str = "helpers.values_worker";

/// A working directory outside the temporary roots (`build` generalizes a path under /tmp, /var/tmp,
/// /dev/shm or $TMPDIR to that root's tree, and a clone of the repository may itself be under
/// /tmp), unique to the test; removed when the test's [`Workdir`] is dropped.
fn workdir(case: &Case) -> Workdir {
    let name = case
        .dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let dir = PathBuf::from("/var/lib/secimport-tests").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    Workdir(dir)
}

struct Workdir(PathBuf);

impl Drop for Workdir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl std::ops::Deref for Workdir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

/// Traces the benign run, builds the policy, checks it names the worker's values and that the
/// benign run is clean under it in kill mode. Returns the policy and the working directory.
fn learned(case: &Case) -> (PathBuf, Workdir) {
    let label = case.interp().label();
    let dir = workdir(case);
    let d = dir.display().to_string();
    let traced = case.trace("values_app.py", &["benign", &d], &[]);
    if traced.outcome.status.code() != Some(0) {
        traced.fail("the benign run must exit 0 under `secimport trace`");
    }
    traced.assert_charged(WORKER, &["execve", "openat:write", "connect:inet"]);
    let args = &traced
        .module(WORKER)
        .unwrap_or_else(|| traced.fail("the worker must be in the trace"))
        .arguments;
    let out = format!("{d}/out/result.txt");
    let relative = format!("{d}/out/relative.txt");
    for (kind, value) in [("exec", "/bin/true"), ("write", &out), ("write", &relative)] {
        assert!(
            args.get(kind).is_some_and(|v| v.contains_key(value)),
            "[{label}] the trace records the worker's {kind} {value}: {args:?}"
        );
    }
    assert!(
        args.get("connect")
            .is_some_and(|v| v.keys().any(|a| a.starts_with("inet:127.0.0.1:"))),
        "[{label}] the trace records the worker's connection to the loopback: {args:?}"
    );
    let policy = case.build_policy(&[]);
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(
        text.contains("/bin/true") && text.contains(&format!("{d}/out/*")),
        "[{label}] the policy names the worker's program and output directory:\n{text}"
    );
    let benign = case.run_policy(
        &policy,
        "values_app.py",
        &["benign", &d],
        &["--kill-on-violation"],
        "benign.jsonl",
    );
    assert!(
        benign.is_clean(),
        "[{label}] the benign run must be clean under its own policy\n{}",
        benign.describe()
    );
    (policy, dir)
}

/// Runs `attack` under the policy in `flags` mode; checks the first violation is `right` by the
/// worker with `value`, and returns the run.
fn attack(
    case: &Case,
    policy: &Path,
    dir: &Path,
    attack: &str,
    flags: &[&str],
    right: &str,
    value: &str,
) -> common::PolicyRun {
    let label = case.interp().label();
    let d = dir.display().to_string();
    let ran = case.run_policy(
        policy,
        "values_app.py",
        &[attack, &d],
        flags,
        "attack.jsonl",
    );
    let first = ran.log.first();
    let ok = first.is_some_and(|r| {
        r["syscall"] == right
            && r["denied_by"]
                .as_array()
                .is_some_and(|d| d.iter().any(|m| m == WORKER))
            && r["reasons"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|x| x == "value"))
            && r["arguments"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["value"].as_str().is_some_and(|v| v.contains(value)))
            })
    });
    assert!(
        ok && ran.reported_violation(),
        "[{label}] the worker's {right} of {value} must be the first violation, for its value\n{}",
        ran.describe()
    );
    ran
}

fn another_program(interp: Interp) {
    let case = Case::new(interp);
    let (policy, dir) = learned(&case);
    attack(
        &case,
        &policy,
        &dir,
        "exec",
        &["--kill-on-violation"],
        "execve",
        "/bin/sh",
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !dir.join("pwned").exists(),
        "[{}] the shell ran: an exec is killed before the new program runs",
        interp.label()
    );
}

fn another_directory(interp: Interp) {
    let case = Case::new(interp);
    let (policy, dir) = learned(&case);
    attack(
        &case,
        &policy,
        &dir,
        "write",
        &["--mode", "log"],
        "openat:write",
        "/elsewhere/x",
    );
}

fn another_address(interp: Interp) {
    let case = Case::new(interp);
    let (policy, dir) = learned(&case);
    attack(
        &case,
        &policy,
        &dir,
        "connect",
        &["--mode", "log"],
        "connect:inet",
        "inet:192.0.2.1:9",
    );
}

/// `run --learn` writes what the policy lacked as a trace; built together with the first trace,
/// the policy allows the new behaviour.
fn learn_then_merge(interp: Interp) {
    let case = Case::new(interp);
    let label = interp.label();
    let (policy, dir) = learned(&case);
    let d = dir.display().to_string();
    let learned_trace = case.path("learned.json");
    let learn_flag = learned_trace.display().to_string();
    let ran = attack(
        &case,
        &policy,
        &dir,
        "write",
        &["--mode", "log", "--learn", &learn_flag],
        "openat:write",
        "/elsewhere/x",
    );
    assert!(
        learned_trace.is_file(),
        "[{label}] --learn writes its trace\n{}",
        ran.describe()
    );
    let merged = case.path("merged.yaml");
    let out = case.secimport(&[
        "build".to_string(),
        case.trace_path().display().to_string(),
        learn_flag,
        "-o".to_string(),
        merged.display().to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "[{label}] build of both traces\n{}",
        out.describe()
    );
    let again = case.run_policy(
        &merged,
        "values_app.py",
        &["write", &d],
        &["--kill-on-violation"],
        "again.jsonl",
    );
    assert!(
        again.is_clean(),
        "[{label}] what was learned is allowed after the merge\n{}",
        again.describe()
    );
}
