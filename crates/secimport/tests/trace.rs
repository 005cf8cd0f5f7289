//! `secimport trace` end to end: each program in `tests/programs` is traced under both local CPython
//! 3.11 builds (pyenv's shared-libpython 3.11.7 and Debian's static 3.11) and the trace is checked
//! module by module. These tests load BPF programs, so they need root (CI runs them as root); a missing
//! interpreter fails the tests that need it, with instructions, rather than skipping them.
//!
//! Each program proves one behaviour; its docstring says which. Syscall names are chosen to be
//! distinctive (`getppid`, `getpgrp`, `getsid`, `sched_getaffinity`, `connect`, `execve`) so the
//! assertions can be exact about which modules are charged.

#[macro_use]
mod common;

use std::ffi::OsStr;

use common::{Bucket, Case, Interp};

on_every_version!(
    connect_loopback,
    write_file,
    thread_split,
    fork_child,
    subprocess_exec,
    os_system,
    deep_recursion,
    exit_status,
);

on_both_interpreters!(deep_recursion_walk_limit_64, killed_by_signal,);

/// Must match `CALLS` in thread_split.py.
const THREAD_SPLIT_CALLS: u64 = 2000;
/// Must match `DEPTH` in deep_recursion.py.
const RECURSION_DEPTH: u32 = 400;

/// `connect` belongs to every module on the connecting thread's stack (helpers.netclient and its caller
/// __main__) and to no other: not helpers.idle, called just before, nor the listener thread's modules.
fn connect_loopback(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("connect_loopback.py", &[], &[]);
    t.assert_sane(0);
    t.assert_no_truncation();
    t.assert_file("__main__", "connect_loopback.py");
    t.assert_file("helpers.netclient", "helpers/netclient.py");
    // An IPv4 connect is the `connect:inet` right, with its address recorded.
    t.assert_charged("helpers.netclient", &["connect:inet"]);
    t.assert_charged("__main__", &["connect:inet"]);
    t.assert_charged("helpers.idle", &["sched_getaffinity"]);
    t.assert_not_charged("helpers.idle", &["connect:inet"]);
    t.assert_charged_exactly("connect:inet", &["__main__", "helpers.netclient"]);
    t.assert_not_in_bucket(Bucket::Frameless, "connect:inet");
    let connected = t
        .module("helpers.netclient")
        .and_then(|m| m.arguments.get("connect"))
        .is_some_and(|a| a.keys().any(|v| v.starts_with("inet:127.0.0.1:")));
    if !connected {
        t.fail(
            "the connect's address (inet:127.0.0.1:PORT) must be recorded for helpers.netclient",
        );
    }
}

/// `openat` and `write` of a new file belong to helpers.filewriter (and __main__); also covers the
/// command form `secimport trace -- PYTHON SCRIPT ARGS` and passing an argument through.
fn write_file(interp: Interp) {
    let case = Case::new(interp);
    let out = case.path("written.txt");
    let out_arg = out.to_str().expect("temporary paths are UTF-8");
    let t = case.trace_command("write_file.py", &[out_arg]);
    t.assert_sane(0);
    let content = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| t.fail(&format!("the program did not write {}: {e}", out.display())));
    if content != "written by helpers.filewriter\n" {
        t.fail(&format!("{} holds {content:?}", out.display()));
    }
    let command = &t.trace.command;
    let script = t.program.to_string_lossy();
    if command.len() != 3 || command[1] != script || command[2] != out_arg {
        t.fail(&format!(
            "trace.command is {command:?}, expected [python, {script:?}, {out_arg:?}]"
        ));
    }
    t.assert_file("helpers.filewriter", "helpers/filewriter.py");
    // Opening for writing is the `openat:write` right, with the path recorded.
    t.assert_charged("helpers.filewriter", &["openat:write", "write"]);
    t.assert_charged("__main__", &["openat:write", "write"]);
    let recorded = t
        .module("helpers.filewriter")
        .and_then(|m| m.arguments.get("write"))
        .is_some_and(|a| a.contains_key(out_arg));
    if !recorded {
        t.fail(&format!(
            "the written path {out_arg} must be recorded for helpers.filewriter"
        ));
    }
}

/// Each thread is judged by its own stack plus its creator's: the worker's `getppid` goes to
/// helpers.worker (and to `threading`, which runs it, and to __main__, which started the thread), the
/// main thread's `getpgrp` to helpers.sleeper and __main__, never to the worker's modules, although the
/// loops overlap and the main thread spends most of its time without the GIL.
fn thread_split(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("thread_split.py", &[], &[]);
    t.assert_sane(0);
    t.assert_no_truncation();
    t.assert_charged("helpers.worker", &["getppid"]);
    t.assert_not_charged("helpers.worker", &["getpgrp"]);
    t.assert_charged("helpers.sleeper", &["getpgrp"]);
    t.assert_not_charged("helpers.sleeper", &["getppid"]);
    t.assert_charged_exactly("getppid", &["__main__", "helpers.worker", "threading"]);
    t.assert_charged_exactly("getpgrp", &["__main__", "helpers.sleeper"]);
    for syscall in ["getppid", "getpgrp"] {
        t.assert_not_in_bucket(Bucket::Frameless, syscall);
        t.assert_not_in_bucket(Bucket::Unreadable, syscall);
    }
    let counted = t.count("helpers.worker", "getppid");
    if counted != THREAD_SPLIT_CALLS {
        t.fail_showing(
            &format!("helpers.worker made {THREAD_SPLIT_CALLS} getppid calls, the trace counts {counted}"),
            &["helpers.worker"],
        );
    }
}

/// A fork child is traced with its parent's Python state: its `getsid` goes to helpers.forker and
/// __main__, and the trace lists two Python processes, the child a never-exec'd fork of the parent.
fn fork_child(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("fork_child.py", &[], &[]);
    t.assert_sane(0);
    t.assert_charged_exactly("getsid", &["__main__", "helpers.forker"]);
    if t.count("helpers.forker", "getsid") != 1 {
        t.fail_showing(
            "the child made exactly one getsid call",
            &["helpers.forker"],
        );
    }
    let pythons = t.python_processes();
    if pythons.len() != 2 {
        t.fail(&format!(
            "expected 2 python processes, found {}",
            pythons.len()
        ));
    }
    let root = &t.trace.processes[0];
    let Some(child) = pythons.iter().find(|p| p.pid != root.pid) else {
        t.fail("no python process besides the root");
    };
    if child.ppid != root.pid {
        t.fail(&format!(
            "the fork child {}'s ppid should be the root {}",
            child.pid, root.pid
        ));
    }
    if child.exe.is_some() {
        t.fail(&format!(
            "the fork child never exec'd, so its exe should be None, not {:?}",
            child.exe
        ));
    }
    if child.exit_status != Some(0) {
        t.fail(&format!(
            "the fork child exited with 0, the trace says {:?}",
            child.exit_status
        ));
    }
}

/// `execve` of /bin/true via subprocess.run() is judged by the stack that asked for it
/// (helpers.spawner, `subprocess`, __main__); /bin/true itself is a non-Python process of the tree.
fn subprocess_exec(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("subprocess_exec.py", &[], &[]);
    t.assert_sane(0);
    t.assert_charged("helpers.spawner", &["execve"]);
    t.assert_charged("subprocess", &["execve"]);
    t.assert_charged_exactly("execve", &["__main__", "helpers.spawner", "subprocess"]);
    // /bin/true is a program of its own in the trace (resolved: coreutils' true), not the bucket.
    let true_program = t
        .trace
        .programs
        .iter()
        .find(|(path, _)| path.ends_with("/true"));
    match true_program {
        Some((_, counts)) if !counts.is_empty() => {}
        _ => t.fail("trace.programs has no syscalls of .../true, but /bin/true ran"),
    }
    if !t.bucket(Bucket::NonPython).is_empty() {
        t.fail("buckets.non_python holds syscalls, though every program ran is named");
    }
    let root_pid = t.trace.processes[0].pid;
    let true_proc = t.trace.processes.iter().find(|p| {
        p.exe.as_deref().is_some_and(|e| {
            std::path::Path::new(e)
                .file_name()
                .is_some_and(|n| n == "true")
        })
    });
    match true_proc {
        None => t.fail("no process with exe .../true"),
        Some(p) if p.kind != "other" || p.ppid != root_pid || p.exit_status != Some(0) => t.fail(&format!(
            "the /bin/true process should be kind \"other\", child of {root_pid}, exit status 0: {p:?}"
        )),
        Some(_) => {}
    }
}

/// `execve` of /bin/sh by libc's system() (no Python frame of its own) is charged to exactly the
/// modules above it, helpers.shell and __main__.
fn os_system(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("os_system.py", &[], &[]);
    t.assert_sane(0);
    t.assert_charged("helpers.shell", &["execve"]);
    t.assert_charged("__main__", &["execve"]);
    t.assert_charged_exactly("execve", &["__main__", "helpers.shell"]);
    // /bin/sh is a program of its own in the trace (symlinks resolved: dash on Debian).
    if t.trace.programs.values().all(|counts| counts.is_empty()) {
        t.fail("trace.programs is empty, but /bin/sh ran");
    }
    if !t.trace.processes.iter().any(|p| p.kind == "other") {
        t.fail("no non-Python process, but /bin/sh ran");
    }
}

/// Checks a trace of deep_recursion.py: truncated at the walk limit, still charged to the inner frames.
fn check_deep_recursion(t: &common::Traced) {
    t.assert_sane(0);
    let limit = t.trace.counters.walk_limit;
    if limit == 0 || limit >= RECURSION_DEPTH {
        t.fail(&format!(
            "counters.walk_limit is {limit}; this test needs a limit below deep_recursion.py's depth \
             {RECURSION_DEPTH}"
        ));
    }
    if t.trace.counters.stacks_truncated == 0 {
        t.fail("counters.stacks_truncated is 0 after a 400-frame stack");
    }
    t.assert_in_bucket(Bucket::Truncated, "getppid");
    // The innermost frames are seen and charged as usual...
    t.assert_charged("helpers.recurse", &["getppid"]);
    // ...the outermost (__main__) lies beyond the limit.
    t.assert_not_charged("__main__", &["getppid"]);
}

/// The whole stack is walked by default: 400 frames deep, the outermost module (__main__) is charged
/// too and nothing is truncated.
fn deep_recursion(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("deep_recursion.py", &[], &[]);
    t.assert_sane(0);
    t.assert_no_truncation();
    t.assert_charged("helpers.recurse", &["getppid"]);
    t.assert_charged("__main__", &["getppid"]);
}

/// `--walk-limit 64` is honoured and reported in the counters.
fn deep_recursion_walk_limit_64(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("deep_recursion.py", &[], &["--walk-limit", "64"]);
    if t.trace.counters.walk_limit != 64 {
        t.fail(&format!(
            "counters.walk_limit is {}, expected 64",
            t.trace.counters.walk_limit
        ));
    }
    check_deep_recursion(&t);
}

/// The program's exit code is secimport's exit code and the trace's exit_status.
fn exit_status(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("exit_status.py", &[], &[]);
    t.assert_sane(7);
}

/// A program killed by SIGTERM gives 128 + 15.
fn killed_by_signal(interp: Interp) {
    let case = Case::new(interp);
    let t = case.trace("killed_by_signal.py", &[], &[]);
    t.assert_sane(128 + libc::SIGTERM);
}

/// Without `-o`, the trace goes to ./trace.json.
#[test]
fn default_output_is_trace_json_in_the_working_directory() {
    let case = Case::new(Interp::DebianStatic);
    let python = case.python().to_path_buf();
    let program = common::program("exit_status.py");
    let args = [
        OsStr::new("trace"),
        OsStr::new("--python"),
        python.as_os_str(),
        OsStr::new("--entrypoint"),
        program.as_os_str(),
    ];
    let outcome = case.secimport(&args);
    let t = case.traced_at(outcome, "exit_status.py", &case.dir().join("trace.json"));
    t.assert_sane(7);
}

/// An ELF that is not CPython is refused before anything runs.
#[test]
fn unsupported_interpreter_is_a_configuration_error() {
    let case = Case::without_interpreter();
    let program = common::program("exit_status.py");
    let out = case.secimport(&[
        OsStr::new("trace"),
        OsStr::new("--python"),
        OsStr::new("/bin/true"),
        OsStr::new("-o"),
        case.trace_path().as_os_str(),
        OsStr::new("--entrypoint"),
        program.as_os_str(),
    ]);
    out.assert_code(2);
    // "/usr/bin/true" (resolved) also contains it.
    out.assert_stderr_mentions("/bin/true");
}

/// A shell script posing as python3.11 is refused, and the program is never started with it.
#[test]
fn fake_interpreter_script_is_a_configuration_error() {
    use std::os::unix::fs::PermissionsExt;

    let case = Case::without_interpreter();
    let marker = case.path("target-started");
    let fake_dir = case.path("fakepython");
    std::fs::create_dir(&fake_dir).unwrap();
    let fake = fake_dir.join("python3.11");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n# Answers like CPython but is a shell script.\n\
             for arg in \"$@\"; do\n  case \"$arg\" in *exit_status.py) : > '{}';; esac\ndone\n\
             echo 'Python 3.11.7'\nexit 0\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = common::program("exit_status.py");
    let out = case.secimport(&[
        OsStr::new("trace"),
        OsStr::new("--python"),
        fake.as_os_str(),
        OsStr::new("-o"),
        case.trace_path().as_os_str(),
        OsStr::new("--entrypoint"),
        program.as_os_str(),
    ]);
    out.assert_code(2);
    out.assert_stderr_mentions("fakepython");
    assert!(
        !marker.exists(),
        "the fake interpreter was run with the program although it was refused (fail closed)\n{}",
        out.describe()
    );
}

/// An interpreter path that does not exist, in the command form.
#[test]
fn missing_interpreter_is_a_configuration_error() {
    let case = Case::without_interpreter();
    let missing = case.path("no-such-python3.11");
    let program = common::program("exit_status.py");
    let out = case.secimport(&[
        OsStr::new("trace"),
        OsStr::new("-o"),
        case.trace_path().as_os_str(),
        OsStr::new("--"),
        missing.as_os_str(),
        program.as_os_str(),
    ]);
    out.assert_code(2);
    out.assert_stderr_mentions("no-such-python3.11");
}

/// An entry script that does not exist.
#[test]
fn missing_entrypoint_is_a_configuration_error() {
    let case = Case::new(Interp::DebianStatic);
    let missing = case.path("does_not_exist.py");
    let out = case.secimport(&[
        OsStr::new("trace"),
        OsStr::new("--python"),
        case.python().as_os_str(),
        OsStr::new("-o"),
        case.trace_path().as_os_str(),
        OsStr::new("--entrypoint"),
        missing.as_os_str(),
    ]);
    out.assert_code(2);
    out.assert_stderr_mentions("does_not_exist.py");
}

/// `secimport trace` with neither `--entrypoint` nor a command.
#[test]
fn trace_without_a_program_is_a_usage_error() {
    let case = Case::without_interpreter();
    let out = case.secimport(&["trace"]);
    out.assert_code(2);
    if out.stderr.trim().is_empty() {
        panic!(
            "a usage error must say what is wrong on stderr\n{}",
            out.describe()
        );
    }
}

/// `secimport shell` traces an interpreter session; here its input is piped.
#[test]
fn shell_traces_an_interactive_interpreter() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let case = Case::new(Interp::PyenvShared);
    let out = case.path("shell.json");
    let mut child = Command::new(common::secimport_bin())
        .current_dir(case.dir())
        .args(["shell", "-o"])
        .arg(&out)
        .arg("--python")
        .arg(case.python())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("secimport runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"import os\nos.getppid()\nprint('from the shell')\n")
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains("from the shell"));
    let trace = secimport_policy::trace::Trace::load(&out).unwrap();
    let charged: Vec<&String> = trace
        .modules
        .iter()
        .filter(|(_, m)| m.syscalls.contains_key("getppid"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        charged,
        ["<stdin>"],
        "getppid should be charged to the session's <stdin> code"
    );
}

/// Source files whose paths are not ASCII (CPython keeps those names as
/// latin-1, UCS-2 or UCS-4 code units) are attributed like any other, and a
/// policy naming them is enforced.
#[test]
fn non_ascii_paths_are_attributed_and_enforced() {
    let case = Case::new(Interp::PyenvShared);
    // latin-1 directory, UCS-2 module name.
    let dir = case.path("d\u{ef}r");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("\u{444}\u{430}\u{439}\u{43b}.py"),
        "import os\n\ndef work():\n    os.getppid()\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.py"),
        "import sys, os\nimport \u{444}\u{430}\u{439}\u{43b}\n\u{444}\u{430}\u{439}\u{43b}.work()\nif len(sys.argv) > 1:\n    os.times()\n",
    )
    .unwrap();
    let main = dir.join("main.py");
    let trace_path = case.path("t.json");
    let python = case.python().display().to_string();
    let out = case.secimport(&[
        "trace",
        "--python",
        &python,
        "-o",
        trace_path.to_str().unwrap(),
        "--entrypoint",
        main.to_str().unwrap(),
    ]);
    out.assert_code(0);
    let trace = secimport_policy::trace::Trace::load(&trace_path).unwrap();
    let module = "\u{444}\u{430}\u{439}\u{43b}";
    let charged: Vec<&String> = trace
        .modules
        .iter()
        .filter(|(_, m)| m.syscalls.contains_key("getppid"))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        charged,
        ["__main__", module],
        "{:?}",
        trace.modules.keys().collect::<Vec<_>>()
    );
    assert_eq!(trace.counters.read_errors, 0);

    // Under the policy, the module's new syscall (only when asked) is reported.
    let policy = case.path("p.yaml");
    case.secimport(&[
        "build",
        "--trace",
        trace_path.to_str().unwrap(),
        "-o",
        policy.to_str().unwrap(),
    ])
    .assert_code(0);
    let run = case.secimport(&[
        "run",
        "--python",
        &python,
        "--policy",
        policy.to_str().unwrap(),
        "--log-file",
        case.path("v.jsonl").to_str().unwrap(),
        "--entrypoint",
        main.to_str().unwrap(),
        "--",
        "x",
    ]);
    run.assert_code(1);
    run.assert_stderr_mentions("times");
    run.assert_stderr_mentions("d\u{ef}r/main.py");
    // Both files were recognised as the policy's: __main__ by its own entry
    // (not as an unknown module), and the module's getppid was allowed.
    run.assert_stderr_mentions("not allowed for __main__: its policy entry does not list it");
    let log = std::fs::read_to_string(case.path("v.jsonl")).unwrap();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["syscall"], "times", "{line}");
        assert_eq!(v["denied_by"], serde_json::json!(["__main__"]), "{line}");
    }
}
