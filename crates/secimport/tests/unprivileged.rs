//! The seccomp backend (#9): deny mode and no root. Most tests run secimport
//! as the unprivileged user `nobody` (uid 65534, through `setpriv`) with
//! Debian's /usr/bin/python3.11 (pyenv's interpreters live under /root,
//! which `nobody` cannot read); one runs the backend as root on every
//! supported CPython.
//!
//! The program is `tests/programs/deny_app.py`: its plugin does harmless
//! work when benign (reads a file, on a thread and in a forked child too)
//! and, given an action, one thing the policy learned from the benign run
//! does not allow; it prints what happened to it and goes on.

#[macro_use]
mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Case, Interp};

const PYTHON: &str = "/usr/bin/python3.11";
const NOBODY: u32 = 65534;

/// `secimport ARGS` as `nobody` in `dir`; (exit code, stdout, stderr).
fn as_nobody(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = nobody_command(dir, args)
        .output()
        .expect("run setpriv secimport");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn nobody_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ])
    .arg(common::secimport_bin())
    .args(args)
    .current_dir(dir)
    .env_remove("PYTHONPATH")
    .env("PYTHONDONTWRITEBYTECODE", "1")
    .env("HOME", dir)
    .env("TMPDIR", dir)
    .stdin(Stdio::null());
    cmd
}

/// A case directory `nobody` can use, with the plugin's input, and the
/// policy learned (as `nobody`, with `trace` on the seccomp backend) from
/// the benign run.
struct Learned {
    case: Case,
    policy: PathBuf,
}

fn learned() -> Learned {
    let case = Case::new(Interp::DebianStatic);
    let dir = case.dir();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let input = dir.join("input.txt");
    std::fs::write(&input, "hello\n").unwrap();
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o666)).unwrap();
    let app = common::program("deny_app.py");
    let app = app.to_str().unwrap();
    let d = dir.to_str().unwrap();
    let (code, stdout, stderr) = as_nobody(
        dir,
        &["trace", "-o", "trace.json", "--", PYTHON, app, "benign", d],
    );
    assert_eq!(code, 0, "trace as nobody:\n{stdout}\n{stderr}");
    assert!(stderr.contains("seccomp backend"), "{stderr}");
    let (code, _, stderr) = as_nobody(dir, &["build", "trace.json", "-o", "policy.yaml"]);
    assert_eq!(code, 0, "build:\n{stderr}");
    Learned {
        policy: dir.join("policy.yaml"),
        case,
    }
}

impl Learned {
    fn dir(&self) -> &Path {
        self.case.dir()
    }

    /// `run --mode MODE -- python deny_app.py ACTION DIR [EXTRA]` as nobody.
    fn run(&self, mode: &str, action: &str, extra: &[&str]) -> (i32, String, String) {
        let app = common::program("deny_app.py");
        let d = self.dir().to_str().unwrap().to_string();
        let policy = self.policy.to_str().unwrap().to_string();
        let mut args = vec![
            "run",
            "--policy",
            &policy,
            "--mode",
            mode,
            "--log-file",
            "v.jsonl",
            "--",
            PYTHON,
        ];
        let app = app.to_str().unwrap().to_string();
        args.push(&app);
        args.push(action);
        args.push(&d);
        args.extend(extra);
        as_nobody(self.dir(), &args)
    }

    fn exists(&self, name: &str) -> bool {
        self.dir().join(name).exists()
    }
}

/// Learning and the benign run need no root: the benign run is clean.
#[test]
fn trace_build_and_run_without_root() {
    let l = learned();
    let (code, stdout, stderr) = l.run("deny", "benign", &[]);
    assert_eq!(
        code, 0,
        "a clean run exits with the program's status\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("benign: hello") && stdout.contains("done"),
        "{stdout}"
    );
    assert!(!stderr.contains("VIOLATION"), "{stderr}");
    assert!(stderr.contains("deny mode, seccomp backend"), "{stderr}");
}

/// Deny mode: each forbidden action fails with EPERM before it has any
/// effect, is reported with the module and the stack, and the program goes
/// on to print `done`.
#[test]
fn deny_mode_fails_each_action_and_the_program_goes_on() {
    let l = learned();
    // A listener the plugin tries to reach.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    // What is reported first depends on what the benign run taught (it
    // forks: a shell's process may be allowed, its exec not): any of these.
    for (action, extra, outcome, right) in [
        (
            "shell",
            vec![],
            "shell: os.system returned 32512",
            "clone:process|execve",
        ),
        (
            "spawn",
            vec![],
            "spawn: subprocess raised PermissionError",
            "pipe2|clone:process|execve",
        ),
        (
            "connect",
            vec![port.as_str()],
            "connect: socket raised PermissionError",
            "socket:inet",
        ),
        (
            "create",
            vec![],
            "create: create raised PermissionError",
            "openat:write",
        ),
        (
            "truncate",
            vec![],
            "truncate: truncate raised PermissionError",
            "openat:write",
        ),
        (
            "thread_shell",
            vec![],
            "thread_shell: thread: os.system returned 32512",
            "clone:process|execve",
        ),
        (
            "fork_shell",
            vec![],
            "child: os.system returned 32512",
            "clone:process|execve",
        ),
    ] {
        let (code, stdout, stderr) = l.run("deny", action, &extra);
        let what = format!("[{action}]\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert_eq!(code, 1, "violations make `run` exit 1 {what}");
        assert!(stdout.contains(outcome), "{what}");
        assert!(stdout.contains("done"), "the program goes on {what}");
        assert!(
            right
                .split('|')
                .any(|r| stderr.contains(&format!("VIOLATION (DENIED) {r} "))),
            "reported as {right} {what}"
        );
        assert!(
            stderr.contains("helpers.actor"),
            "the plugin is named {what}"
        );
        assert!(
            !l.exists("shell-ran") && !l.exists("spawn-ran"),
            "nothing ran {what}"
        );
        assert!(!l.exists("created.txt"), "nothing was created {what}");
        assert_eq!(
            std::fs::read_to_string(l.dir().join("input.txt")).unwrap(),
            "hello\n",
            "nothing was truncated {what}"
        );
        assert!(
            server.accept().is_err(),
            "no connection reached the listener {what}"
        );
    }
}

/// Kill mode on this backend: the tree dies while the syscall is held, so
/// not even a connect or a create takes effect.
#[test]
fn kill_mode_kills_before_any_effect() {
    let l = learned();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    for (action, extra) in [
        ("shell", vec![]),
        ("connect", vec![port.as_str()]),
        ("create", vec![]),
    ] {
        let (code, stdout, stderr) = l.run("kill", action, &extra);
        let what = format!("[{action}]\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert_eq!(code, 1, "{what}");
        assert!(stderr.contains("VIOLATION (KILLED)"), "{what}");
        assert!(stderr.contains("program exited with status 137"), "{what}");
        assert!(!stdout.contains("done"), "{what}");
        assert!(!l.exists("shell-ran") && !l.exists("created.txt"), "{what}");
        assert!(server.accept().is_err(), "{what}");
    }
}

/// The supervisor killed with SIGKILL takes the whole tree with it (the
/// program, a child and a grandchild), rather than leaving it to run with
/// notified syscalls failing.
#[test]
fn supervisor_death_kills_the_tree() {
    let l = learned();
    let tag = format!("secimport-orphan-{}", std::process::id());
    let code = format!(
        "import os, subprocess, time; subprocess.Popen(['/bin/sleep', '60', '{tag}']); time.sleep(60)"
    );
    let policy = l.policy.to_str().unwrap().to_string();
    // Log mode: the program may start its child.
    let mut sup = nobody_command(
        l.dir(),
        &[
            "run", "--policy", &policy, "--mode", "log", "--", PYTHON, "-c", &code,
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tree_of(&tag).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the program and its child never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // setpriv execs secimport: the child is the supervisor itself.
    unsafe { libc::kill(sup.id() as i32, libc::SIGKILL) };
    let _ = sup.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !tree_of(&tag).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the tree outlived its supervisor: {:?}",
            tree_of(&tag)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes whose command line names `tag`.
fn tree_of(tag: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let mut cmdline = Vec::new();
        if std::fs::File::open(format!("/proc/{pid}/cmdline"))
            .and_then(|mut f| f.read_to_end(&mut cmdline))
            .is_ok()
            && String::from_utf8_lossy(&cmdline).contains(tag)
            && !String::from_utf8_lossy(&cmdline).contains("setpriv")
        {
            found.push(pid);
        }
    }
    found
}

/// A thread hammering the main thread with signals while its syscalls are
/// held: no held syscall fails with EINTR (the filter is installed with
/// WAIT_KILLABLE_RECV where the kernel has it), and the program ends well.
#[test]
fn signals_during_held_syscalls() {
    let l = learned();
    let code = r#"
import ctypes, os, signal, threading, time
libc = ctypes.CDLL(None, use_errno=True)
signal.signal(signal.SIGUSR1, lambda *a: None)
main = threading.get_ident()
stop = False
def hammer():
    while not stop:
        signal.pthread_kill(main, signal.SIGUSR1)
        time.sleep(0.0005)
t = threading.Thread(target=hammer)
t.start()
errors = 0
for i in range(2000):
    # getppid is held (only the plugin's list has it): a raw syscall shows any EINTR.
    if libc.syscall(110) < 0:
        errors += 1
stop = True
t.join()
print("eintr", errors, flush=True)
"#;
    let policy = l.policy.to_str().unwrap().to_string();
    let (status, stdout, stderr) = as_nobody(
        l.dir(),
        &[
            "run", "--policy", &policy, "--mode", "log", "--", PYTHON, "-c", code,
        ],
    );
    assert!(
        stdout.contains("eintr 0"),
        "status {status}\n{stdout}\n{stderr}"
    );
}

/// As root, `--backend seccomp` on every supported CPython: the shell of a
/// plugin is denied and the program goes on.
fn deny_on_every_version(interp: Interp) {
    let case = Case::new(interp);
    let label = interp.label();
    let dir = case.dir().to_str().unwrap().to_string();
    std::fs::write(case.path("input.txt"), "hello\n").unwrap();
    let python = case.python().to_str().unwrap().to_string();
    let app = common::program("deny_app.py").to_str().unwrap().to_string();
    let out = case.secimport(&[
        "trace",
        "--backend",
        "seccomp",
        "-o",
        "trace.json",
        "--",
        &python,
        &app,
        "benign",
        &dir,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "[{label}] trace\n{}",
        out.describe()
    );
    let policy = case.build_policy(&[]);
    let policy = policy.to_str().unwrap();
    let out = case.secimport(&[
        "run",
        "--backend",
        "seccomp",
        "--policy",
        policy,
        "--mode",
        "deny",
        "--",
        &python,
        &app,
        "shell",
        &dir,
    ]);
    assert_eq!(out.status.code(), Some(1), "[{label}]\n{}", out.describe());
    assert!(out.stdout.contains("done"), "[{label}]\n{}", out.describe());
    assert!(
        ["clone:process", "execve"]
            .iter()
            .any(|r| out.stderr.contains(&format!("VIOLATION (DENIED) {r} "))),
        "[{label}] the shell is reported\n{}",
        out.describe()
    );
    assert!(!case.path("shell-ran").exists(), "[{label}] the shell ran");
}

on_every_version!(deny_on_every_version);
