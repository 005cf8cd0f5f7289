//! `secimport build` and `secimport run` end to end: a program is traced, a policy built from the trace,
//! and the program run under it. These tests load BPF programs, so they need root (CI runs them as
//! root); a missing interpreter fails the tests that need it, with instructions, rather than skipping
//! them.
//!
//! - prevention: the seed's two demos (a pickle whose `__reduce__` runs a shell command, a model whose
//!   `forward()` runs `ps`) are reported with the Python stack in log mode, and never get to run their
//!   command in kill mode;
//! - stop mode: the offending process is left stopped (state T) until someone kills or resumes it, and
//!   the supervisor waits for it;
//! - no false positives: programs run unchanged under the policy learned from one trace, ten times in a
//!   row, without a single violation; also a real package's own test suite (idna, from its sdist);
//! - configuration errors (bad policy, missing policy or trace) exit 2 before anything runs;
//! - `build` writes YAML and JSON that agree, byte for byte the same every time;
//! - a policy of 10,000 modules is accepted and judges a program correctly.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Case, Interp, Outcome};
use secimport_policy::policy::{Mode, ModulePattern, Policy, Syscall, SyscallSet, UnknownRule};
use secimport_policy::syscalls;
use secimport_policy::trace::Trace;
use serde::Deserialize;

on_every_version!(pickle_demo,);

on_both_interpreters!(model_demo, stop_mode,);

/// The syscalls by which a shell command starts, in the order a Python `os.system()` makes them; the
/// first violation of a command-running payload is one of these.
const EXEC_PATH: &[&str] = &[
    "rt_sigprocmask",
    "clone:process",
    "clone3:process",
    "vfork",
    "execve",
];

/// How long a marker file is watched for after a run, in case something left behind creates it late.
const AFTERMATH: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------------
// Helpers: running secimport, reading what it reports.
// ---------------------------------------------------------------------------------------------------

/// `examples/` at the workspace root, canonical.
fn examples_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("cannot find the examples at {}: {e}", dir.display()))
}

/// A file of `examples/` (e.g. `pickle/app.py`).
fn example(name: &str) -> PathBuf {
    let path = examples_dir().join(name);
    assert!(path.is_file(), "example {} does not exist", path.display());
    path
}

fn push_args(argv: &mut Vec<OsString>, args: &[impl AsRef<OsStr>]) {
    if !args.is_empty() {
        argv.push("--".into());
        argv.extend(args.iter().map(|a| a.as_ref().to_os_string()));
    }
}

/// `secimport trace --python PY -o DIR/trace.json --entrypoint SCRIPT [-- ARGS]`, which must exit 0 and
/// write the trace.
fn trace(case: &Case, script: &Path, args: &[impl AsRef<OsStr>]) -> Outcome {
    let mut argv: Vec<OsString> = vec!["trace".into(), "--python".into()];
    argv.push(case.python().into());
    argv.push("-o".into());
    argv.push(case.trace_path().into());
    argv.push("--entrypoint".into());
    argv.push(script.into());
    push_args(&mut argv, args);
    let out = case.secimport(&argv);
    if out.code() != 0 || !case.trace_path().is_file() {
        panic!(
            "[{}] tracing {} must succeed and write {} (the traced run is what the policy is built from)\n{}",
            case.interp().label(),
            script.display(),
            case.trace_path().display(),
            out.describe()
        );
    }
    out
}

/// `secimport build --trace DIR/trace.json -o DIR/policy.yaml FLAGS...`, which must exit 0.
fn build(case: &Case, flags: &[&str]) -> Outcome {
    let mut argv: Vec<OsString> = vec!["build".into(), "--trace".into()];
    argv.push(case.trace_path().into());
    argv.push("-o".into());
    argv.push(case.path("policy.yaml").into());
    argv.extend(flags.iter().map(OsString::from));
    let out = case.secimport(&argv);
    if out.code() != 0 || !case.path("policy.yaml").is_file() {
        panic!(
            "[{}] building a policy from the trace must succeed\n{}",
            case.interp().label(),
            out.describe()
        );
    }
    out
}

/// One violation as written to the JSON Lines log (fields added later are ignored).
#[derive(Debug, Deserialize)]
struct Record {
    time: String,
    pid: u32,
    tid: u32,
    ppid: u32,
    comm: String,
    syscall: String,
    nr: u32,
    action: String,
    denied_by: Vec<String>,
    stack: Vec<Frame>,
    depth: u32,
    truncated: bool,
}

/// One Python frame of a logged violation.
#[derive(Debug, Deserialize)]
struct Frame {
    module: String,
    file: String,
    line: Option<u32>,
    function: String,
}

impl Record {
    /// What every record satisfies, or what is wrong with it.
    fn check(&self) -> Result<(), String> {
        // `syscall` is the right: the syscall's name, or `name:class` (`clone3:process`).
        let name = self.syscall.split(':').next().unwrap_or_default();
        let named = syscalls::number(name) == Some(self.nr)
            || self.syscall == format!("syscall_{}", self.nr);
        let checks = [
            (!self.time.is_empty(), "time is empty"),
            (
                self.pid > 0 && self.tid > 0 && self.ppid > 0,
                "pid, tid and ppid must be set",
            ),
            (!self.comm.is_empty(), "comm is empty"),
            (named, "syscall does not name nr"),
            (
                ["log", "kill", "stop"].contains(&self.action.as_str()),
                "action is not log, kill or stop",
            ),
            (!self.denied_by.is_empty(), "denied_by is empty"),
            (
                self.depth as usize >= self.stack.len(),
                "depth is less than the frames reported",
            ),
            (
                self.stack
                    .iter()
                    .all(|f| !f.module.is_empty() && !f.file.is_empty() && !f.function.is_empty()),
                "a frame lacks module, file or function",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            None => Ok(()),
            Some((_, what)) => Err(format!("{what}: {self:?}")),
        }
    }

    /// Whether the stack holds a frame of `module` running `function` in a file ending with `file`. A
    /// function matches by its name or qualified name (`forward` matches `Polynomial3.forward`).
    fn has_frame(&self, file: &str, function: &str, module: &str) -> bool {
        self.stack
            .iter()
            .any(|f| frame_matches(&f.file, &f.function, &f.module, file, function, module))
    }

    fn summary(&self) -> String {
        let frames: Vec<String> = self
            .stack
            .iter()
            .map(|f| {
                let line = f.line.map(|l| l.to_string()).unwrap_or_else(|| "?".into());
                format!("{}:{line} {} [{}]", f.file, f.function, f.module)
            })
            .collect();
        format!(
            "{} {} pid {} ({}) denied_by {:?} stack [{}]{}",
            self.action,
            self.syscall,
            self.pid,
            self.comm,
            self.denied_by,
            frames.join(" <- "),
            if self.truncated { " (truncated)" } else { "" }
        )
    }
}

fn frame_matches(
    file: &str,
    function: &str,
    module: &str,
    want_file: &str,
    want_function: &str,
    want_module: &str,
) -> bool {
    let function_ok = function == want_function || function.ends_with(&format!(".{want_function}"));
    file.ends_with(want_file) && function_ok && module == want_module
}

/// A run of `secimport run` and the violation log it wrote.
struct Ran {
    label: &'static str,
    out: Outcome,
    log_path: PathBuf,
    log: Vec<Record>,
}

/// `secimport run --python PY --policy POLICY --log-file DIR/LOG FLAGS... --entrypoint SCRIPT [-- ARGS]`.
fn run(
    case: &Case,
    policy: &Path,
    script: &Path,
    args: &[impl AsRef<OsStr>],
    flags: &[&str],
    log: &str,
) -> Ran {
    let log_path = case.path(log);
    let mut argv: Vec<OsString> = vec!["run".into(), "--python".into()];
    argv.push(case.python().into());
    argv.push("--policy".into());
    argv.push(policy.into());
    argv.push("--log-file".into());
    argv.push(log_path.clone().into());
    argv.extend(flags.iter().map(OsString::from));
    argv.push("--entrypoint".into());
    argv.push(script.into());
    push_args(&mut argv, args);
    let out = case.secimport(&argv);
    let label = case.interp().label();
    let log = read_log(&log_path).unwrap_or_else(|e| panic!("[{label}] {e}\n{}", out.describe()));
    Ran {
        label,
        out,
        log_path,
        log,
    }
}

/// The records of a JSON Lines violation log (none if there is no file), each checked.
fn read_log(path: &Path) -> Result<Vec<Record>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "cannot read the violation log {}: {e}",
                path.display()
            ))
        }
    };
    let mut records = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let record: Record = serde_json::from_str(line).map_err(|e| {
            format!(
                "{}:{}: not a violation record ({e}): {line}",
                path.display(),
                i + 1
            )
        })?;
        record
            .check()
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        records.push(record);
    }
    Ok(records)
}

impl Ran {
    /// Panics with `what`, the run and its log.
    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        let mut s = String::new();
        let _ = writeln!(s, "[{}] {what}", self.label);
        let _ = writeln!(
            s,
            "violation log {} ({} records):",
            self.log_path.display(),
            self.log.len()
        );
        for r in self.log.iter().take(30) {
            let _ = writeln!(s, "  {}", r.summary());
        }
        if self.log.len() > 30 {
            let _ = writeln!(s, "  ... {} more", self.log.len() - 30);
        }
        s.push_str(&self.out.describe());
        panic!("{s}");
    }

    #[track_caller]
    fn assert_code(&self, expected: i32) {
        let code = self.out.code();
        if code != expected {
            self.fail(&format!(
                "secimport exited with {code}, expected {expected}"
            ));
        }
    }

    /// The violation blocks on stderr, each a header line `secimport: VIOLATION (...)` and the indented
    /// lines after it.
    fn blocks(&self) -> Vec<Vec<&str>> {
        violation_blocks(&self.out.stderr)
    }

    /// Asserts that some block on stderr says `VIOLATION (ACTION)` and shows a Python stack with every
    /// one of `frames` (file suffix, function, module), as `file:line in function  [module]` lines.
    #[track_caller]
    fn assert_block(&self, action: &str, frames: &[(&str, &str, &str)]) {
        let header = format!("VIOLATION ({action})");
        let found = self.blocks().iter().any(|block| {
            block[0].contains(&header)
                && frames.iter().all(|(file, function, module)| {
                    block[1..].iter().filter_map(|l| parse_frame_line(l)).any(
                        |(f, _line, func, m)| frame_matches(f, func, m, file, function, module),
                    )
                })
        });
        if !found {
            self.fail(&format!(
                "no `{header}` block on stderr with the stack frames {frames:?} \
                 (as `file:line in function  [module]`)"
            ));
        }
    }

    /// Asserts that the log has a record of `syscall` (any of them) with every one of `frames`.
    #[track_caller]
    fn assert_logged(&self, syscalls: &[&str], frames: &[(&str, &str, &str)]) -> &Record {
        let found = self.log.iter().find(|r| {
            syscalls.contains(&r.syscall.as_str())
                && frames.iter().all(|(f, func, m)| r.has_frame(f, func, m))
        });
        match found {
            Some(r) => r,
            None => self.fail(&format!(
                "the violation log has no record of {syscalls:?} with the stack frames {frames:?}"
            )),
        }
    }

    /// Asserts that every record has `action`.
    #[track_caller]
    fn assert_all_actions(&self, action: &str) {
        if let Some(r) = self.log.iter().find(|r| r.action != action) {
            self.fail(&format!(
                "a record's action is not {action:?}: {}",
                r.summary()
            ));
        }
    }

    /// Asserts that nothing was reported: the program's exit status (0) passed through, no violation
    /// block on stderr, an empty violation log.
    #[track_caller]
    fn assert_clean(&self) {
        if self.out.code() != 0 || self.out.stderr.contains("VIOLATION") || !self.log.is_empty() {
            self.fail(
                "expected no violation: exit status 0, no VIOLATION on stderr, nothing in the log",
            );
        }
    }
}

/// See [`Ran::blocks`].
fn violation_blocks(stderr: &str) -> Vec<Vec<&str>> {
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in stderr.lines() {
        if line.starts_with("secimport: VIOLATION") {
            blocks.extend(current.take());
            current = Some(vec![line]);
        } else if line.starts_with(' ') {
            if let Some(block) = current.as_mut() {
                block.push(line);
            }
        } else {
            blocks.extend(current.take());
        }
    }
    blocks.extend(current);
    blocks
}

/// `(file, line, function, module)` of a stack line `    FILE:LINE in FUNCTION  [MODULE]`.
fn parse_frame_line(line: &str) -> Option<(&str, &str, &str, &str)> {
    let line = line.trim();
    let (rest, module) = line.strip_suffix(']')?.rsplit_once("  [")?;
    let (file_line, function) = rest.rsplit_once(" in ")?;
    let (file, lineno) = file_line.rsplit_once(':')?;
    let lineno_ok =
        lineno == "?" || (!lineno.is_empty() && lineno.bytes().all(|b| b.is_ascii_digit()));
    lineno_ok.then_some((file, lineno, function, module))
}

/// Runs `python examples/pickle/make_pickles.py --dir DIR [--marker MARKER]` (outside secimport).
fn make_pickles(case: &Case, marker: Option<&Path>) {
    let mut cmd = case.interp().command(case.python());
    cmd.arg("-I")
        .arg(example("pickle/make_pickles.py"))
        .arg("--dir")
        .arg(case.dir());
    if let Some(marker) = marker {
        cmd.arg("--marker").arg(marker);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", case.python().display()));
    assert!(
        out.status.success(),
        "make_pickles.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that `marker` does not exist now, nor a moment later.
#[track_caller]
fn assert_never_created(marker: &Path, ran: &Ran, why: &str) {
    if marker.exists() {
        ran.fail(&format!("{} exists: {why}", marker.display()));
    }
    std::thread::sleep(AFTERMATH);
    if marker.exists() {
        ran.fail(&format!(
            "{} appeared after secimport exited: {why}",
            marker.display()
        ));
    }
}

// ---------------------------------------------------------------------------------------------------
// 1. Prevention: the seed's demos.
// ---------------------------------------------------------------------------------------------------

/// A pickle whose `__reduce__` runs `touch MARKER` through `eval` and `os.system`, loaded by a program
/// whose policy was learned from a benign pickle. Log mode: the command runs, and the violation is
/// reported with the stack through checkpoint.py and the `<string>` of `eval`, on stderr and in the
/// log (the `execve` among the records). Kill mode: the command never runs.
fn pickle_demo(interp: Interp) {
    let case = Case::new(interp);
    let marker = case.path("pwned");
    make_pickles(&case, Some(&marker));
    let app = example("pickle/app.py");
    let benign = case.path("benign.pkl");
    let touch = case.path("touch.pkl");
    trace(&case, &app, &[&benign]);
    build(&case, &[]);
    let policy = case.path("policy.yaml");
    let stack = [
        ("<string>", "<module>", "<string>"),
        ("examples/pickle/checkpoint.py", "load", "checkpoint"),
        ("examples/pickle/app.py", "<module>", "__main__"),
    ];

    // Log mode: reported, not prevented.
    let ran = run(
        &case,
        &policy,
        &app,
        &[&touch],
        &["--mode", "log"],
        "log.jsonl",
    );
    ran.assert_code(1);
    if !marker.exists() {
        ran.fail("log mode must let the payload run, but the marker was not created");
    }
    if !ran.out.stdout.contains("loaded ") {
        ran.fail("log mode must let the program go on after the payload (`loaded ...` on stdout)");
    }
    ran.assert_block("LOGGED", &stack);
    ran.assert_all_actions("log");
    ran.assert_logged(EXEC_PATH, &stack);
    let exec = ran.assert_logged(&["execve"], &stack);
    if !exec.denied_by.iter().any(|m| m == "checkpoint") {
        ran.fail(&format!(
            "checkpoint never made execve in the trace, so it must deny it: {}",
            exec.summary()
        ));
    }

    // Kill mode: the payload's command never runs.
    std::fs::remove_file(&marker).expect("remove the marker");
    let ran = run(
        &case,
        &policy,
        &app,
        &[&touch],
        &["--kill-on-violation"],
        "kill.jsonl",
    );
    ran.assert_code(1);
    assert_never_created(&marker, &ran, "kill mode must stop `touch` before it runs");
    if ran.out.stdout.contains("loaded ") {
        ran.fail("the program was killed in pickle.load, yet it printed `loaded ...`");
    }
    ran.assert_block("KILLED", &stack);
    ran.assert_all_actions("kill");
    match ran.log.first() {
        Some(first) if EXEC_PATH.contains(&first.syscall.as_str()) => {}
        _ => ran.fail(&format!(
            "the first record must be the payload's first syscall, one of {EXEC_PATH:?}"
        )),
    }
    ran.assert_logged(EXEC_PATH, &stack);
    if let Some(r) = ran.log.iter().find(|r| r.stack.is_empty()) {
        ran.fail(&format!(
            "in kill mode no program may be started, yet a record has no Python stack: {}",
            r.summary()
        ));
    }
}

/// The training script with the seed's `import os; os.system('ps')` in `forward()`, under the policy
/// learned from a clean training run. Log mode: `ps` runs (its output is on stdout) and the violation is
/// reported with `forward` in train.py on the stack. Kill mode: `ps` never runs and training stops.
fn model_demo(interp: Interp) {
    let case = Case::new(interp);
    let train = example("model/train.py");
    trace(&case, &train, &["--steps", "50"]);
    build(&case, &[]);
    let policy = case.path("policy.yaml");
    let forward = [("examples/model/train.py", "forward", "__main__")];
    const PS_HEADER: &str = "PID TTY";

    let ran = run(
        &case,
        &policy,
        &train,
        &["--evil"],
        &["--mode", "log"],
        "log.jsonl",
    );
    ran.assert_code(1);
    if !ran.out.stdout.contains(PS_HEADER) {
        ran.fail("log mode must let `ps` run, but its header is not on stdout");
    }
    if !ran.out.stdout.contains("Result:") {
        ran.fail("log mode must let training finish (`Result:` on stdout)");
    }
    ran.assert_block("LOGGED", &forward);
    ran.assert_all_actions("log");
    ran.assert_logged(&["execve"], &forward);

    let ran = run(
        &case,
        &policy,
        &train,
        &["--evil"],
        &["--kill-on-violation"],
        "kill.jsonl",
    );
    ran.assert_code(1);
    if ran.out.stdout.contains(PS_HEADER) {
        ran.fail("kill mode must stop `ps` before it runs, but its output is on stdout");
    }
    if ran.out.stdout.contains("Result:") {
        ran.fail("the program was killed in forward(), yet training finished");
    }
    ran.assert_block("KILLED", &forward);
    ran.assert_all_actions("kill");
    ran.assert_logged(EXEC_PATH, &forward);
}

// ---------------------------------------------------------------------------------------------------
// 2. Stop mode.
// ---------------------------------------------------------------------------------------------------

/// A `secimport` started in the background; killed (with whatever it stopped) if the test fails.
struct Background {
    child: Child,
    argv: Vec<String>,
    stdout: PathBuf,
    stderr: PathBuf,
    /// A process the test learned is stopped, killed on drop.
    stopped: Option<i32>,
}

impl Background {
    /// Starts `secimport ARGS...` in the run directory with the environment [`Case::secimport`] uses.
    fn spawn(case: &Case, args: &[OsString], name: &str) -> Background {
        let bin = common::secimport_bin();
        let stdout = case.path(&format!("{name}.stdout"));
        let stderr = case.path(&format!("{name}.stderr"));
        let mut cmd = Command::new(&bin);
        cmd.args(args)
            .current_dir(case.dir())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create stdout file"))
            .stderr(File::create(&stderr).expect("create stderr file"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PYTHON") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .env("TMPDIR", case.dir());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let argv = std::iter::once(bin.display().to_string())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect();
        Background {
            child,
            argv,
            stdout,
            stderr,
            stopped: None,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read(&self.stderr)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn describe(&self) -> String {
        let stdout = std::fs::read(&self.stdout)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        format!(
            "command: {}\nstdout:\n{stdout}\nstderr:\n{}",
            self.argv.join(" "),
            self.stderr()
        )
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.describe())
    }

    /// Waits until stderr has a `VIOLATION (STOPPED) ... by pid N` line; returns N.
    fn wait_for_stopped_report(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            let stderr = self.stderr();
            let pid = stderr
                .lines()
                .find(|l| l.starts_with("secimport: VIOLATION (STOPPED)"))
                .and_then(|l| l.split(" by pid ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|pid| pid.parse::<i32>().ok());
            if let Some(pid) = pid {
                self.stopped = Some(pid);
                return pid;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!(
                    "secimport exited ({status}) without reporting a STOPPED violation"
                ));
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "no `VIOLATION (STOPPED) ... by pid N` on stderr within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for secimport to exit.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for secimport") {
                return status;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("secimport did not exit within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(pid) = self.stopped {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The state letter of `/proc/PID/stat` (`R`, `S`, `T`, `Z`...), if the process exists.
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// `--stop-on-violation`: the pickle payload's process is stopped (state T) before `touch` runs, the
/// report says how to resume or kill it, and secimport waits for it; once the test kills it, secimport
/// exits 1 and `touch` never ran.
fn stop_mode(interp: Interp) {
    let case = Case::new(interp);
    let marker = case.path("pwned");
    make_pickles(&case, Some(&marker));
    let app = example("pickle/app.py");
    trace(&case, &app, &[case.path("benign.pkl")]);
    build(&case, &[]);

    let mut argv: Vec<OsString> = vec!["run".into(), "--python".into()];
    argv.push(case.python().into());
    argv.push("--policy".into());
    argv.push(case.path("policy.yaml").into());
    argv.push("--log-file".into());
    argv.push(case.path("stop.jsonl").into());
    argv.push("--stop-on-violation".into());
    argv.push("--entrypoint".into());
    argv.push(app.clone().into());
    argv.push("--".into());
    argv.push(case.path("touch.pkl").into());
    let mut bg = Background::spawn(&case, &argv, "stop");
    let label = interp.label();

    let pid = bg.wait_for_stopped_report(Duration::from_secs(60));
    // SIGSTOP takes effect on the way back to user space: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut state = process_state(pid);
    while state != Some('T') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        state = process_state(pid);
    }
    if state != Some('T') {
        bg.fail(&format!(
            "[{label}] the reported process {pid} should be stopped (state T), its state is {state:?}"
        ));
    }
    if marker.exists() {
        bg.fail(&format!(
            "[{label}] {} exists although the payload's process was stopped before `touch` ran",
            marker.display()
        ));
    }
    let stderr = bg.stderr();
    for hint in [format!("kill -CONT {pid}"), format!("kill -KILL {pid}")] {
        if !stderr.contains(&hint) {
            bg.fail(&format!(
                "[{label}] the report should say how to go on: `{hint}`"
            ));
        }
    }
    // The supervisor waits for the stopped process, which stays stopped.
    std::thread::sleep(AFTERMATH);
    if let Ok(Some(status)) = bg.child.try_wait() {
        bg.fail(&format!(
            "[{label}] secimport exited ({status}) while process {pid} was stopped; it must wait"
        ));
    }
    if process_state(pid) != Some('T') || marker.exists() {
        bg.fail(&format!(
            "[{label}] process {pid} must stay stopped, and `touch` must not run, until someone acts"
        ));
    }

    // SAFETY: kill has no memory-safety preconditions.
    let killed = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(
        killed,
        0,
        "kill -KILL {pid}: {}",
        std::io::Error::last_os_error()
    );
    let status = bg.wait(Duration::from_secs(30));
    if status.code() != Some(1) {
        bg.fail(&format!(
            "[{label}] secimport exited with {status} after the stopped process was killed; expected 1"
        ));
    }
    std::thread::sleep(AFTERMATH);
    if marker.exists() {
        bg.fail(&format!(
            "[{label}] {} was created: the stopped payload ran `touch`",
            marker.display()
        ));
    }
    let log = read_log(&case.path("stop.jsonl")).unwrap_or_else(|e| bg.fail(&e));
    match log.first() {
        Some(r) if r.action == "stop" && r.pid as i32 == pid => {}
        _ => bg.fail(&format!(
            "[{label}] the log's first record should be the stop of pid {pid}: {:?}",
            log.first().map(Record::summary)
        )),
    }
}

// ---------------------------------------------------------------------------------------------------
// 3. No false positives.
// ---------------------------------------------------------------------------------------------------

/// Each program is traced once, a policy built, and the program run unchanged under it: 10 times in a
/// row with pyenv's interpreter, once with Debian's. Every run must be clean: exit status 0, no
/// violation on stderr, an empty log.
mod no_false_positives {
    use std::path::{Path, PathBuf};

    use crate::common::{self, Case, Interp};

    macro_rules! repeated {
        ($($name:ident),+ $(,)?) => {$(
            mod $name {
                #[test]
                fn pyenv_shared_10_runs() {
                    super::$name(crate::common::Interp::PyenvShared, 10)
                }

                #[test]
                fn debian_static_1_run() {
                    super::$name(crate::common::Interp::DebianStatic, 1)
                }
            }
        )+};
    }

    repeated!(
        thread_split,
        subprocess_exec,
        os_system,
        connect_loopback,
        fork_child,
        write_file,
        pickle_benign,
        model_training,
    );

    /// Traces `script` with `args(0)`, builds, then runs it `runs` times with `args(1)`, `args(2)`...
    /// and asserts every run clean, listing every failed run if some are not.
    pub fn trace_then_run(
        case: &Case,
        script: &Path,
        args: impl Fn(usize) -> Vec<String>,
        runs: usize,
    ) {
        super::trace(case, script, &args(0));
        super::build(case, &[]);
        let policy = case.path("policy.yaml");
        let mut failed = Vec::new();
        let mut first_failure = None;
        for i in 1..=runs {
            let log = format!("run-{i}.jsonl");
            let ran = super::run(case, &policy, script, &args(i), &[], &log);
            if ran.out.code() != 0 || ran.out.stderr.contains("VIOLATION") || !ran.log.is_empty() {
                let syscalls: Vec<String> = ran.log.iter().map(|r| r.summary()).collect();
                failed.push(format!(
                    "run {i}/{runs}: exit {}, {} logged violation(s): {syscalls:#?}",
                    ran.out.code(),
                    ran.log.len()
                ));
                first_failure.get_or_insert(ran);
            }
        }
        if let Some(ran) = first_failure {
            // The failure message ends with the last 40 lines of stderr; show the start of a longer one.
            let lines: Vec<&str> = ran.out.stderr.lines().collect();
            let head = if lines.len() > 40 {
                format!(
                    "stderr of the first failed run, from its start:\n{}\n  ...\n",
                    lines[..lines.len().min(300)].join("\n")
                )
            } else {
                String::new()
            };
            ran.fail(&format!(
                "{} of {runs} runs of {} under the policy learned from its own trace were not clean \
                 (false positives):\n{}\n{head}",
                failed.len(),
                script.display(),
                failed.join("\n")
            ));
        }
    }

    fn program(interp: Interp, name: &str, runs: usize) {
        let case = Case::new(interp);
        trace_then_run(&case, &common::program(name), |_| Vec::new(), runs);
    }

    fn thread_split(interp: Interp, runs: usize) {
        program(interp, "thread_split.py", runs);
    }

    fn subprocess_exec(interp: Interp, runs: usize) {
        program(interp, "subprocess_exec.py", runs);
    }

    fn os_system(interp: Interp, runs: usize) {
        program(interp, "os_system.py", runs);
    }

    fn connect_loopback(interp: Interp, runs: usize) {
        program(interp, "connect_loopback.py", runs);
    }

    fn fork_child(interp: Interp, runs: usize) {
        program(interp, "fork_child.py", runs);
    }

    /// write_file.py must create a new file every time.
    fn write_file(interp: Interp, runs: usize) {
        let case = Case::new(interp);
        let dir: PathBuf = case.dir().to_path_buf();
        let script = common::program("write_file.py");
        trace_then_run(
            &case,
            &script,
            |i| vec![dir.join(format!("written-{i}.txt")).display().to_string()],
            runs,
        );
    }

    /// The pickle demo loading its benign pickle.
    fn pickle_benign(interp: Interp, runs: usize) {
        let case = Case::new(interp);
        super::make_pickles(&case, None);
        let benign = case.path("benign.pkl").display().to_string();
        trace_then_run(
            &case,
            &super::example("pickle/app.py"),
            |_| vec![benign.clone()],
            runs,
        );
    }

    /// The model demo's clean training run.
    fn model_training(interp: Interp, runs: usize) {
        let case = Case::new(interp);
        trace_then_run(
            &case,
            &super::example("model/train.py"),
            |_| vec!["--steps".into(), "50".into()],
            runs,
        );
    }
}

/// A real workload nobody wrote for secimport: the own test suite of a small pure-Python package,
/// from its sdist (downloaded once into target/, reused after), run with plain unittest.
mod third_party {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use crate::common::{self, Case, Interp};

    /// A pinned source distribution on PyPI.
    struct Sdist {
        name: &'static str,
        version: &'static str,
        /// sha256 of the `.tar.gz`, as PyPI lists it.
        sha256: &'static str,
    }

    /// idna's suite: 6,000+ tests, plain unittest, reads a data file, no dependencies.
    const IDNA: Sdist = Sdist {
        name: "idna",
        version: "3.7",
        sha256: "028ff3aadf0609c1fd278d8ea3089299412a7a8b9bd005dd08b9f8285bcb5cfc",
    };

    fn sha256(python: &Path, file: &Path) -> String {
        let out = Command::new(python)
            .args([
                "-I",
                "-c",
                "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
            ])
            .arg(file)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(out.status.success(), "hashing {} failed", file.display());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The sdist's `.tar.gz`, from the cache under target/ or downloaded with pip. Panics (the test
    /// fails, it never passes without the workload) if it cannot be had or its hash is wrong.
    fn fetch(sdist: &Sdist) -> PathBuf {
        let python = Interp::PyenvShared.path();
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdists");
        let file_name = format!("{}-{}.tar.gz", sdist.name, sdist.version);
        let cached = cache.join(&file_name);
        if cached.is_file() && sha256(&python, &cached) == sdist.sha256 {
            return cached;
        }
        std::fs::create_dir_all(&cache)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", cache.display()));
        let staging = tempfile::Builder::new()
            .prefix("download-")
            .tempdir_in(&cache)
            .expect("create a download directory");
        let requirement = format!("{}=={}", sdist.name, sdist.version);
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "pip", "download", "--no-deps", "--no-binary", ":all:"])
            .arg(&requirement)
            .arg("-d")
            .arg(staging.path())
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
        let shown = format!(
            "{} -m pip download --no-deps --no-binary :all: {requirement} -d {}",
            python.display(),
            staging.path().display()
        );
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{shown}`: {e}"));
        let downloaded = staging.path().join(&file_name);
        if !out.status.success() || !downloaded.is_file() {
            panic!(
                "could not download the {requirement} sdist from PyPI, which this test runs as its \
                 workload (it fails rather than passing without it).\ncommand: {shown}\nstatus: {}\n\
                 stdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let got = sha256(&python, &downloaded);
        assert!(
            got == sdist.sha256,
            "{file_name} from PyPI has sha256 {got}, expected the pinned {}",
            sdist.sha256
        );
        std::fs::rename(&downloaded, &cached)
            .unwrap_or_else(|e| panic!("cannot move {file_name} into {}: {e}", cache.display()));
        cached
    }

    /// Unpacks the sdist into the run directory and puts tests/programs/unittest_suite.py at its root;
    /// returns that script.
    fn unpack(case: &Case, sdist: &Sdist) -> PathBuf {
        let archive = fetch(sdist);
        let out = Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(case.dir())
            .output()
            .expect("run tar");
        assert!(
            out.status.success(),
            "unpacking {} failed: {}",
            archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let root = case.path(&format!("{}-{}", sdist.name, sdist.version));
        assert!(
            root.join("tests").is_dir(),
            "{} has no tests/ directory",
            root.display()
        );
        let script = root.join("unittest_suite.py");
        std::fs::copy(common::program("unittest_suite.py"), &script).expect("copy the runner");
        script
    }

    fn idna_suite(interp: Interp, runs: usize) {
        let case = Case::new(interp);
        let script = unpack(&case, &IDNA);
        super::no_false_positives::trace_then_run(&case, &script, |_| Vec::new(), runs);
    }

    #[test]
    fn idna_own_test_suite_pyenv_shared_10_runs() {
        idna_suite(Interp::PyenvShared, 10);
    }

    #[test]
    fn idna_own_test_suite_debian_static_1_run() {
        idna_suite(Interp::DebianStatic, 1);
    }
}

// ---------------------------------------------------------------------------------------------------
// 4. Configuration errors.
// ---------------------------------------------------------------------------------------------------

/// `(line, column)`, both from 1, of the first `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, line)| line.find(needle).map(|col| (i + 1, col + 1)))
        .unwrap_or_else(|| panic!("{needle:?} is not in the text"))
}

/// A policy naming the syscall `exceve` (for `execve`), in YAML or JSON.
fn misspelled_policy(json: bool) -> String {
    if json {
        r#"{
  "apiVersion": "secimport.dev/v1",
  "kind": "SandboxPolicy",
  "metadata": {"name": "write_file"},
  "spec": {
    "base": ["brk", "close", "mmap", "openat", "read"],
    "modules": {
      "__main__": ["openat", "write"],
      "helpers.filewriter": ["openat", "exceve", "write"]
    }
  }
}
"#
        .to_string()
    } else {
        "apiVersion: secimport.dev/v1\n\
         kind: SandboxPolicy\n\
         metadata:\n  name: write_file\n\
         spec:\n  base: [brk, close, mmap, openat, read]\n  modules:\n    \
         __main__: [openat, write]\n    helpers.filewriter: [openat, exceve, write]\n"
            .to_string()
    }
}

/// Runs write_file.py (which would create `written.txt`) under a policy with an unknown syscall:
/// exit 2 with `FILE:LINE:COLUMN` and a suggestion, and the program never started.
fn check_malformed_policy(file_name: &str, json: bool) {
    let case = Case::new(Interp::PyenvShared);
    let text = misspelled_policy(json);
    let policy = case.path(file_name);
    std::fs::write(&policy, &text).unwrap();
    // The position of the value: in JSON, its opening quote.
    let token = if json { "\"exceve\"" } else { "exceve" };
    let (line, column) = position_of(&text, token);
    let marker = case.path("written.txt");
    let ran = run(
        &case,
        &policy,
        &common::program("write_file.py"),
        &[&marker],
        &[],
        "log.jsonl",
    );
    ran.assert_code(2);
    let position = format!("{file_name}:{line}:{column}");
    for needle in [position.as_str(), "did you mean `execve`"] {
        if !ran.out.stderr.contains(needle) {
            ran.fail(&format!("stderr should say {needle:?}"));
        }
    }
    if marker.exists() || ran.out.stdout.contains("written") {
        ran.fail("the program ran although its policy could not be loaded");
    }
}

#[test]
fn misspelled_syscall_in_a_yaml_policy_is_a_configuration_error() {
    check_malformed_policy("policy.yaml", false);
}

#[test]
fn misspelled_syscall_in_a_json_policy_is_a_configuration_error() {
    check_malformed_policy("policy.json", true);
}

/// `run` with no policy.yaml in the working directory: exit 2, a hint to trace and build, and the
/// program never started.
#[test]
fn run_without_a_policy_is_a_configuration_error() {
    let case = Case::new(Interp::PyenvShared);
    let marker = case.path("written.txt");
    let mut argv: Vec<OsString> = vec!["run".into(), "--python".into()];
    argv.push(case.python().into());
    argv.push("--entrypoint".into());
    argv.push(common::program("write_file.py").into());
    argv.push("--".into());
    argv.push(marker.clone().into());
    let out = case.secimport(&argv);
    out.assert_code(2);
    for needle in ["policy.yaml", "secimport trace", "secimport build"] {
        out.assert_stderr_mentions(needle);
    }
    assert!(
        !marker.exists(),
        "the program ran although there was no policy\n{}",
        out.describe()
    );

    // The same with an explicit --policy that does not exist.
    let missing = case.path("missing.yaml");
    let mut argv: Vec<OsString> = vec!["run".into(), "--policy".into()];
    argv.push(missing.into());
    argv.push("--python".into());
    argv.push(case.python().into());
    argv.push("--entrypoint".into());
    argv.push(common::program("write_file.py").into());
    argv.push("--".into());
    argv.push(marker.clone().into());
    let out = case.secimport(&argv);
    out.assert_code(2);
    out.assert_stderr_mentions("missing.yaml");
    assert!(!marker.exists(), "the program ran\n{}", out.describe());
}

/// `run` with a valid policy and an entry script that does not exist: exit 2, naming the script.
#[test]
fn run_with_a_missing_entrypoint_is_a_configuration_error() {
    let case = Case::new(Interp::PyenvShared);
    let text = misspelled_policy(false).replace("exceve, ", "");
    std::fs::write(case.path("policy.yaml"), text).unwrap();
    let mut argv: Vec<OsString> = vec!["run".into(), "--python".into()];
    argv.push(case.python().into());
    argv.push("--entrypoint".into());
    argv.push(case.path("does_not_exist.py").into());
    let out = case.secimport(&argv);
    out.assert_code(2);
    out.assert_stderr_mentions("does_not_exist.py");
}

/// `build` without a trace: exit 2, a hint to trace first, and no policy written.
#[test]
fn build_without_a_trace_is_a_configuration_error() {
    let case = Case::without_interpreter();
    let out = case.secimport(&["build"]);
    out.assert_code(2);
    out.assert_stderr_mentions("trace.json");
    out.assert_stderr_mentions("secimport trace");
    let out = case.secimport(&["build", "--trace", "nothing-here.json"]);
    out.assert_code(2);
    out.assert_stderr_mentions("nothing-here.json");
    for name in ["policy.yaml", "policy.json"] {
        assert!(
            !case.path(name).exists(),
            "build wrote {name} without a trace"
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// 5. Build output.
// ---------------------------------------------------------------------------------------------------

fn load_policy(path: &Path) -> Policy {
    Policy::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap_or_else(|| panic!("{name} is not a syscall"))
}

/// `build` with its defaults writes policy.yaml and policy.json beside each other; both load to the
/// same policy; building again (also to another name, also JSON first) gives the same bytes; the
/// policy allows what the trace saw; `--no-group --mode --unknown` are honoured.
#[test]
fn build_writes_yaml_and_json_that_agree_and_never_change() {
    let case = Case::new(Interp::PyenvShared);
    let written = case.path("written.txt");
    let t = case.trace("write_file.py", &[written.to_str().unwrap()], &[]);
    t.assert_sane(0);

    let out = case.secimport(&["build"]);
    out.assert_code(0);
    let (yaml, json) = (case.path("policy.yaml"), case.path("policy.json"));
    assert!(
        yaml.is_file() && json.is_file(),
        "build must write policy.yaml and policy.json\n{}",
        out.describe()
    );
    let policy = load_policy(&yaml);
    assert_eq!(
        policy,
        load_policy(&json),
        "policy.yaml and policy.json must hold the same policy"
    );
    let (yaml_bytes, json_bytes) = (read_bytes(&yaml), read_bytes(&json));

    // Deterministic: again in place, to another name, and with the JSON named first.
    case.secimport(&["build"]).assert_code(0);
    assert!(
        read_bytes(&yaml) == yaml_bytes && read_bytes(&json) == json_bytes,
        "building twice from the same trace must give byte-identical files"
    );
    case.secimport(&["build", "-o", "again.json"])
        .assert_code(0);
    assert!(
        read_bytes(&case.path("again.yaml")) == yaml_bytes
            && read_bytes(&case.path("again.json")) == json_bytes,
        "`build -o again.json` must write again.json and again.yaml, identical to policy.json and \
         policy.yaml"
    );

    // What the trace saw is allowed.
    assert_eq!(policy.metadata.name, "write_file");
    assert_eq!(policy.spec.mode, Mode::Log);
    assert_eq!(policy.spec.unknown, UnknownRule::BaseOnly);
    assert!(!policy.spec.base.is_empty(), "the base set is empty");
    let main = ModulePattern::parse("__main__").unwrap();
    assert!(
        policy.spec.modules.contains_key(&main),
        "__main__ has no entry: {:?}",
        policy.spec.modules.keys().collect::<Vec<_>>()
    );
    let compiled = policy.compile();
    assert!(
        compiled.rule_for("helpers.filewriter").is_some(),
        "no entry covers helpers.filewriter"
    );
    for syscall in ["openat", "write"] {
        assert!(
            compiled.allows(&["helpers.filewriter", "__main__"], nr(syscall), true),
            "the policy must allow {syscall} to helpers.filewriter called by __main__"
        );
    }
    assert!(
        !compiled.allows(&["helpers.filewriter", "__main__"], nr("execve"), true),
        "nothing in write_file.py runs a program, yet the policy allows execve"
    );

    // Flags.
    let out = case.secimport(&[
        "build",
        "--no-group",
        "--mode",
        "kill",
        "--unknown",
        "deny",
        "-o",
        "strict.yaml",
    ]);
    out.assert_code(0);
    let strict = load_policy(&case.path("strict.yaml"));
    assert_eq!(strict, load_policy(&case.path("strict.json")));
    assert_eq!(strict.spec.mode, Mode::Kill);
    assert_eq!(strict.spec.unknown, UnknownRule::Deny);
    let trace = Trace::load(&case.trace_path()).unwrap();
    let keys: BTreeSet<&str> = strict.spec.modules.keys().map(|k| k.as_str()).collect();
    let traced: BTreeSet<&str> = trace.modules.keys().map(String::as_str).collect();
    assert_eq!(
        keys, traced,
        "with --no-group every traced module has its own entry, and nothing else"
    );
    assert_eq!(strict.spec.base, policy.spec.base);
}

// ---------------------------------------------------------------------------------------------------
// 6. A policy of 10,000 modules.
// ---------------------------------------------------------------------------------------------------

/// 10,000 generated module entries beside the real ones: the policy loads, and the program it was
/// traced from runs under it without a violation. Times are printed, not asserted.
#[test]
fn policy_of_10000_modules_runs_a_program_without_violations() {
    const GENERATED: usize = 10_000;
    let case = Case::new(Interp::PyenvShared);
    let script = common::program("trivial.py");
    trace(&case, &script, &[] as &[&str]);
    build(&case, &[]);
    let mut policy = load_policy(&case.path("policy.yaml"));
    let real = policy.spec.modules.len();
    let allowed: SyscallSet = ["openat", "read", "close", "getpid"]
        .iter()
        .map(|s| Syscall::parse(s).unwrap())
        .collect();
    for i in 1..=GENERATED {
        let key = ModulePattern::parse(&format!("gen.m{i:05}")).unwrap();
        policy.spec.modules.insert(key, allowed.clone());
    }
    let big = case.path("big.yaml");
    std::fs::write(&big, policy.to_yaml()).unwrap();

    let started = Instant::now();
    let loaded = load_policy(&big);
    let load_time = started.elapsed();
    assert_eq!(loaded.spec.modules.len(), real + GENERATED);
    assert_eq!(
        loaded, policy,
        "the generated policy does not load back as written"
    );

    let started = Instant::now();
    let ran = run(&case, &big, &script, &[] as &[&str], &[], "log.jsonl");
    let run_time = started.elapsed();
    eprintln!(
        "policy of {} modules ({} bytes): Policy::load {load_time:?}, `secimport run` {run_time:?}",
        real + GENERATED,
        std::fs::metadata(&big).unwrap().len()
    );
    ran.assert_clean();
    if !ran.out.stdout.contains("trivial: done") {
        ran.fail("the program did not run to its end");
    }
}

/// `interactive --yes` goes through trace, build and run; without `--yes`
/// an answer of "no" (here: end of input) stops after the trace.
#[test]
fn interactive_asks_between_steps() {
    let case = Case::new(Interp::PyenvShared);
    let script = common::program("trivial.py");
    let python = case.python().display().to_string();
    let yes = case.secimport(&[
        "interactive",
        "--yes",
        "--python",
        &python,
        "--entrypoint",
        script.to_str().unwrap(),
    ]);
    yes.assert_code(0);
    yes.assert_stderr_mentions("step 3/3");
    yes.assert_stderr_mentions(" 0 violations");
    for f in ["trace.json", "policy.yaml", "policy.json"] {
        assert!(case.path(f).is_file(), "{f} missing:\n{}", yes.describe());
    }

    let other = Case::new(Interp::PyenvShared);
    let no = other.secimport(&[
        "interactive",
        "--python",
        &python,
        "--entrypoint",
        script.to_str().unwrap(),
    ]);
    no.assert_code(0);
    assert!(other.path("trace.json").is_file(), "{}", no.describe());
    assert!(
        !other.path("policy.yaml").exists(),
        "answering no must stop before build:\n{}",
        no.describe()
    );
}
