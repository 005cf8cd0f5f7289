//! The root hybrid (#9): `run` in kill mode as root with `--backend auto`
//! judges every syscall in the kernel with the eBPF walk and also holds the
//! dangerous rights (programs, processes, writes, sockets) in a seccomp
//! filter, so that a violation among them is killed before it has any
//! effect: no connection reaches the peer, no file is created or truncated,
//! no shell starts.
//!
//! The program is `tests/programs/deny_app.py` (see `unprivileged.rs`); the
//! policy is learned as root, with the eBPF tracer: glibc starts threads
//! with `clone3` there, and with `clone` under the filter (which fails
//! `clone3` so that the flags are in registers): one capability, granted
//! together.

#[macro_use]
mod common;

use std::path::PathBuf;

use common::{Case, Interp};

struct Learned {
    case: Case,
    policy: PathBuf,
}

fn learned(interp: Interp) -> Learned {
    common::require_root();
    let case = Case::new(interp);
    std::fs::write(case.path("input.txt"), "hello\n").unwrap();
    let app = common::program("deny_app.py");
    let python = case.python().display().to_string();
    let d = case.dir().display().to_string();
    let out = case.secimport(&[
        "trace",
        "-o",
        "trace.json",
        "--",
        &python,
        app.to_str().unwrap(),
        "benign",
        &d,
    ]);
    out.assert_code(0);
    case.secimport(&["build", "trace.json", "-o", "policy.yaml"])
        .assert_code(0);
    Learned {
        policy: case.path("policy.yaml"),
        case,
    }
}

impl Learned {
    fn run(&self, backend: &str, action: &str, extra: &[&str]) -> common::Outcome {
        let app = common::program("deny_app.py");
        let python = self.case.python().display().to_string();
        let d = self.case.dir().display().to_string();
        let policy = self.policy.display().to_string();
        let mut args = vec![
            "run",
            "--policy",
            &policy,
            "--mode",
            "kill",
            "--backend",
            backend,
            "--log-file",
            "v.jsonl",
            "--",
            &python,
            app.to_str().unwrap(),
            action,
            &d,
        ];
        args.extend(extra);
        self.case.secimport(&args)
    }
}

/// The benign run is clean under the hybrid, and both halves saw it: the
/// eBPF side checked its syscalls, the seccomp side held its dangerous ones
/// (the exec, the thread and the fork of the plugin).
fn benign_run_is_clean(interp: Interp) {
    let l = learned(interp);
    let out = l.run("auto", "benign", &[]);
    out.assert_code(0);
    assert!(out.stdout.contains("done"), "{}", out.describe());
    assert!(!out.stderr.contains("VIOLATION"), "{}", out.describe());
    assert!(
        out.stderr
            .contains("dangerous ones held for judgement before they ran")
            && out.stderr.contains(" 0 violations ("),
        "{}",
        out.describe()
    );
    let checked: u64 = out
        .stderr
        .lines()
        .find_map(|l| l[..l.find(" syscalls checked")?].rsplit(' ').next())
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap_or_else(|| panic!("no eBPF count\n{}", out.describe()));
    assert!(
        checked > 100,
        "the eBPF side followed the program from its exec\n{}",
        out.describe()
    );
}

/// Each dangerous action is killed before it has any effect, with the
/// plugin's stack; `--backend bpf` alone keeps the kill at syscall entry.
fn dangerous_actions_have_no_effect(interp: Interp) {
    let l = learned(interp);
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    for (action, extra) in [
        ("shell", vec![]),
        ("spawn", vec![]),
        ("connect", vec![port.as_str()]),
        ("create", vec![]),
        ("truncate", vec![]),
        ("thread_shell", vec![]),
        ("fork_shell", vec![]),
    ] {
        let out = l.run("auto", action, &extra);
        let what = format!("[{action}]\n{}", out.describe());
        out.assert_code(1);
        assert!(out.stderr.contains("VIOLATION (KILLED)"), "{what}");
        assert!(out.stderr.contains("helpers.actor"), "{what}");
        // Killed by the seccomp half before the syscall ran, or by the
        // eBPF half at an earlier syscall the policy lacks (the pipe2 of
        // subprocess): either way before the action.
        assert!(
            out.stderr.contains("program exited with status 137"),
            "{what}"
        );
        if matches!(action, "connect" | "create" | "truncate" | "shell") {
            // Their first violation is a dangerous right: held, never run.
            assert!(
                out.stderr
                    .contains("(the tree was killed before the violating syscall ran)"),
                "{what}"
            );
        }
        assert!(!out.stdout.contains("done"), "{what}");
        assert!(
            !l.case.path("shell-ran").exists() && !l.case.path("spawn-ran").exists(),
            "nothing ran {what}"
        );
        assert!(
            !l.case.path("created.txt").exists(),
            "nothing created {what}"
        );
        assert_eq!(
            std::fs::read_to_string(l.case.path("input.txt")).unwrap(),
            "hello\n",
            "nothing truncated {what}"
        );
        assert!(server.accept().is_err(), "no connection {what}");
    }
}

on_both_interpreters!(benign_run_is_clean, dangerous_actions_have_no_effect);

/// A policy learned without root (seccomp: threads start with `clone`)
/// holds under the eBPF backend (glibc starts them with `clone3`), and the
/// other way round: the two are one right in a policy.
#[test]
fn clone_and_clone3_are_one_capability() {
    use secimport_policy::policy::{bitmap_contains, bitmap_of, Syscall, SyscallSet};
    use secimport_policy::rights::number_of;
    for (given, implied) in [
        ("clone", "clone3"),
        ("clone3", "clone"),
        ("clone:process", "clone3:process"),
        ("clone3:process", "clone:process"),
    ] {
        let set: SyscallSet = [Syscall::parse(given).unwrap()].into();
        let bitmap = bitmap_of(&set);
        assert!(
            bitmap_contains(&bitmap, number_of(implied).unwrap()),
            "{given} grants {implied}"
        );
    }
    // Threads and processes stay apart.
    let set: SyscallSet = [Syscall::parse("clone3").unwrap()].into();
    assert!(!bitmap_contains(
        &bitmap_of(&set),
        number_of("clone:process").unwrap()
    ));
}
