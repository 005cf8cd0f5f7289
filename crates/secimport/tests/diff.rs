//! `secimport diff` end to end. The pure cases (bad input, exit codes, JSON) need nothing; the
//! dependency-update scenario traces a small app and its dependency `dep.client`, builds the
//! policy, then traces an "updated" dependency that connects out and runs a shell: `diff` must exit
//! 1 naming the module, the rights and, with the `run --mode log` violation log, the Python stack
//! that first asked; a dependency that does less must exit 0 listing what it dropped. The scenario
//! loads BPF programs, so it needs root (CI runs it as root): without it, it fails, it never skips.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Case, Interp};

on_both_interpreters!(a_dependency_update_that_connects_and_runs_a_shell_fails_the_diff,);

fn secimport(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(common::secimport_bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run secimport");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const HEAD: &str = "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: app}\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

// ---------------------------------------------------------------- without root

#[test]
fn exit_codes_equal_drops_and_adds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "old.yaml",
        &format!("{HEAD}spec:\n  base: [openat]\n  modules:\n    app: [getppid, sysinfo]\n"),
    );
    write(
        d,
        "less.json",
        r#"{"apiVersion": "secimport.dev/v2", "kind": "SandboxPolicy", "metadata": {"name": "app"},
            "spec": {"base": ["openat"], "modules": {"app": ["getppid"]}}}"#,
    );
    write(
        d,
        "more.yaml",
        &format!(
            "{HEAD}spec:\n  base: [openat]\n  modules:\n    app: [getppid, sysinfo, execve]\n  arguments:\n    app:\n      exec: [/bin/sh]\n"
        ),
    );
    let (code, out, err) = secimport(&["diff", "old.yaml", "old.yaml"], d);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no change in what is allowed"), "{out}");

    let (code, out, err) = secimport(&["diff", "old.yaml", "less.json"], d);
    assert_eq!(code, 0, "only drops: {out}{err}");
    assert!(out.contains("- sysinfo"), "{out}");
    assert!(out.contains("NEW only drops rights"), "{out}");

    let (code, out, err) = secimport(&["diff", "old.yaml", "more.yaml"], d);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("  + app\n      + execve\n      + exec: /bin/sh\n"),
        "{out}"
    );
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal: {out:?}"
    );

    // A log with no record for the added right says so; --violations repeats.
    write(d, "empty.jsonl", "");
    write(d, "summary.jsonl", "{\"event\": \"summary\"}\n");
    let (code, out, err) = secimport(
        &[
            "diff",
            "old.yaml",
            "more.yaml",
            "--violations",
            "empty.jsonl",
            "--violations",
            "summary.jsonl",
        ],
        d,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("(no violation in the --violations logs asked for it)"),
        "{out}"
    );

    let (code, out, _) = secimport(&["diff", "--json", "old.yaml", "more.yaml"], d);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(json["adds"], true);
    assert_eq!(json["old"]["kind"], "policy");
    let app = json["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "app")
        .expect("a row for app");
    assert_eq!(app["added"], serde_json::json!(["execve"]));
    assert_eq!(
        app["arguments"]["exec"]["added"],
        serde_json::json!(["/bin/sh"])
    );
    assert_eq!(app["entry"], "kept");
}

#[test]
fn bad_input_is_exit_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ok.yaml", &format!("{HEAD}spec:\n  base: [openat]\n"));
    write(
        d,
        "bad.yaml",
        &format!("{HEAD}spec:\n  base: [openat]\n  modules:\n    app: [exceve]\n"),
    );
    write(
        d,
        "old-trace.json",
        r#"{"format": "secimport-trace", "version": 2}"#,
    );
    write(d, "notes.txt", "hello\n");
    write(
        d,
        "v.jsonl",
        "{\"event\": \"violation\", \"syscall\": \"execve\"}\n",
    );
    write(d, "garbage.jsonl", "\n{not json\n");
    for (args, needles) in [
        (
            vec!["diff", "ok.yaml", "bad.yaml"],
            vec!["bad.yaml:7:", "execve"],
        ),
        (
            vec!["diff", "old-trace.json", "ok.yaml"],
            vec!["old-trace.json", "trace version 2"],
        ),
        (
            vec!["diff", "ok.yaml", "missing.yaml"],
            vec!["missing.yaml"],
        ),
        (
            vec!["diff", "ok.yaml", "notes.txt"],
            vec!["notes.txt", "neither a policy nor a trace"],
        ),
        (
            vec!["diff", "ok.yaml", "ok.yaml", "--violations", "v.jsonl"],
            vec!["v.jsonl:1:", "not a violation record"],
        ),
        (
            vec![
                "diff",
                "ok.yaml",
                "ok.yaml",
                "--violations",
                "garbage.jsonl",
            ],
            vec!["garbage.jsonl:2:", "not a JSON line"],
        ),
    ] {
        let (code, out, err) = secimport(&args, d);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        for needle in needles {
            assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        }
    }
}

#[test]
fn help_explains_what_adds_means() {
    let (code, out, _) = secimport(&["diff", "--help"], Path::new("/"));
    assert_eq!(code, 0);
    for needle in [
        "allowed by NEW and not by OLD",
        "tinynn.*",
        "--violations",
        "Exit codes",
    ] {
        assert!(out.contains(needle), "{needle:?} not in --help:\n{out}");
    }
}

// ---------------------------------------------------------------- the scenario (root)

const APP: &str = "import dep.client\ndep.client.work()\n";

const DEP_V1: &str = "\
import os

def work():
    with open(__file__) as f:
        f.read()
    os.getppid()
";

/// The update: phones home and runs a shell.
const DEP_V2: &str = "\
import os
import socket

def _phone_home():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect(('127.0.0.1', 9))
    except OSError:
        pass
    finally:
        s.close()
    os.system('true')

def work():
    with open(__file__) as f:
        f.read()
    os.getppid()
    _phone_home()
";

/// A version that does less: no more getppid.
const DEP_V3: &str = "\
def work():
    with open(__file__) as f:
        f.read()
";

fn version(case: &Case, name: &str, dep: &str) -> PathBuf {
    let root = case.path(name);
    write(&root, "app.py", APP);
    write(&root, "dep/__init__.py", "");
    write(&root, "dep/client.py", dep);
    root.join("app.py")
}

/// The lines of the row whose header (`  + NAME`) starts with `header`, up to the next row.
fn row_block(text: &str, header: &str) -> String {
    let is_header = |l: &str| {
        l.len() > 3
            && l.starts_with("  ")
            && !l.starts_with("   ")
            && l[2..].starts_with(['+', '-', '='])
    };
    let mut lines = text
        .lines()
        .skip_while(|l| !(is_header(l) && l[2..].starts_with(header)));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no row {header:?} in:\n{text}"));
    let rest: Vec<&str> = lines.take_while(|l| l.starts_with("    ")).collect();
    format!("{first}\n{}", rest.join("\n"))
}

fn must(case: &Case, args: &[&str], code: i32) -> common::Outcome {
    let out = case.secimport(args);
    out.assert_code(code);
    out
}

fn a_dependency_update_that_connects_and_runs_a_shell_fails_the_diff(interp: Interp) {
    let case = Case::new(interp);
    let python = case.python().display().to_string();
    let p = |name: &str| case.path(name).display().to_string();
    let v1 = version(&case, "v1", DEP_V1).display().to_string();
    let v2 = version(&case, "v2", DEP_V2).display().to_string();
    let v3 = version(&case, "v3", DEP_V3).display().to_string();
    let (old, policy, new, less, log) = (
        p("old.json"),
        p("policy.yaml"),
        p("new.json"),
        p("less.json"),
        p("v.jsonl"),
    );
    let trace = |script: &str, out: &str| {
        must(
            &case,
            &[
                "trace",
                "--python",
                &python,
                "-o",
                out,
                "--entrypoint",
                script,
            ],
            0,
        );
    };
    trace(&v1, &old);
    must(&case, &["build", &old, "-o", &policy], 0);
    // Accepted: the policy against its own trace and a re-trace of v1.
    must(&case, &["diff", &policy, &old], 0);

    trace(&v2, &new);
    // The stacks: v2 under the accepted policy, log mode.
    let run = case.secimport(&[
        "run",
        "--python",
        &python,
        "--policy",
        &policy,
        "--mode",
        "log",
        "--log-file",
        &log,
        "--entrypoint",
        &v2,
    ]);
    run.assert_code(1);
    let out = must(&case, &["diff", &policy, &new, "--violations", &log], 1);
    let text = &out.stdout;
    let block = row_block(text, "+ dep.client");
    for needle in [
        "connect:inet",
        "socket:inet",
        "execve",
        "+ exec: /bin/sh",
        "+ connect: 127.0.0.1:*",
        "first asked for connect:inet inet:127.0.0.1:9",
        "dep/client.py:7 in _phone_home  [dep.client]",
        "dep/client.py:12 in _phone_home  [dep.client]",
        "dep/client.py:18 in work  [dep.client]",
        "app.py:2 in <module>  [__main__]",
    ] {
        assert!(
            block.contains(needle),
            "{needle:?} not in the dep.client row:\n{text}"
        );
    }
    assert!(text.contains("NEW adds rights"), "{text}");
    // The exec and the rights os.system asked for before it share one stack listing.
    let shared = block
        .lines()
        .find(|l| l.contains("first asked for") && l.contains("execve /bin/sh"))
        .unwrap_or_else(|| panic!("no stack for execve:\n{text}"));
    assert!(shared.contains("; "), "{shared}");

    // The same as JSON.
    let out = must(
        &case,
        &["diff", "--json", &policy, &new, "--violations", &log],
        1,
    );
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json["adds"], true);
    assert_eq!(json["new"]["kind"], "trace");
    let dep = json["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dep.client")
        .unwrap_or_else(|| panic!("no dep.client row: {}", out.stdout));
    let added: Vec<&str> = dep["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for right in ["connect:inet", "execve", "socket:inet"] {
        assert!(added.contains(&right), "{right} not added: {added:?}");
    }
    let asked = dep["first_asked"].as_array().expect("first_asked");
    let exec = asked
        .iter()
        .find(|a| a["right"] == "execve")
        .unwrap_or_else(|| panic!("no stack for execve: {dep}"));
    assert!(exec["stack"][0]["function"]
        .as_str()
        .is_some_and(|f| f.ends_with("_phone_home")));
    assert!(exec["log"].as_str().unwrap().starts_with(&log));

    // A version that does less: exit 0, the drop listed.
    trace(&v3, &less);
    let out = must(&case, &["diff", &policy, &less], 0);
    assert!(out.stdout.contains("- dep.client"), "{}", out.stdout);
    assert!(
        out.stdout.contains("NEW only drops rights"),
        "{}",
        out.stdout
    );
    // Accepting the update: rebuild from its trace, and the diff is clean.
    let accepted = p("accepted.yaml");
    must(&case, &["build", &new, "-o", &accepted], 0);
    must(&case, &["diff", &accepted, &new], 0);
}
