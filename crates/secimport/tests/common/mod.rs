//! Helpers for the root/BPF integration tests: finding the two local interpreters, running
//! `secimport` in a temporary directory with a timeout, and asserting on the trace with messages that
//! show the part of the trace that matters when they fail.
//!
//! Every run gets its own temporary directory (the working directory of `secimport`, its `TMPDIR`, and
//! where the trace, stdout and stderr are written), so tests can run in parallel threads. When a test
//! fails, its directory is kept and its path printed.

#![allow(dead_code)] // Not every test binary uses every helper.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use secimport_policy::trace::{ModuleTrace, Process, SyscallCounts, Trace};
use tempfile::TempDir;

/// What a test says when it is not run as root.
pub const NEEDS_ROOT: &str = "needs root and BPF; run as root (CI does)";

/// A traced program takes well under a second; this only catches a hung engine.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of stderr a failure message shows.
const STDERR_TAIL: usize = 40;

/// Panics unless the effective user is root: loading BPF programs needs it.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(euid == 0, "{NEEDS_ROOT} (effective uid is {euid})");
}

/// The `secimport` binary under test.
pub fn secimport_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_secimport"))
}

/// `tests/programs` at the workspace root, canonical.
pub fn programs_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs");
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("cannot find the test programs at {}: {e}", dir.display()))
}

/// The path of a test program, relative to `tests/programs` (e.g. `helpers/netclient.py`).
pub fn program(name: &str) -> PathBuf {
    let path = programs_dir().join(name);
    assert!(
        path.is_file(),
        "test program {} does not exist",
        path.display()
    );
    path
}

/// The local CPython builds programs are traced with. The full end-to-end suite runs on 3.11 (shared
/// and static), 3.12 and 3.13 ([`on_both_interpreters!`]); a core subset (attribution, kill, threads,
/// fork, exec, deep stacks) also runs on 3.8, 3.9, 3.10 and 3.14 ([`on_every_version!`]). All must be
/// present: a missing one fails its tests with instructions, it never skips them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interp {
    /// pyenv's 3.11.7, built with `--enable-shared`: `_PyRuntime` lives in libpython.
    PyenvShared,
    /// Debian's 3.11 (`/usr/bin/python3.11`), statically linked: `_PyRuntime` is in the executable.
    DebianStatic,
    /// pyenv's 3.12.1, shared libpython.
    Pyenv312,
    /// pyenv's 3.13.0, shared libpython (no `cframe`: the thread state holds the current frame).
    Pyenv313,
    /// pyenv's 3.8.18, shared libpython (heap `PyFrameObject`s, `co_lnotab`).
    Pyenv38,
    /// pyenv's 3.9.18, shared libpython.
    Pyenv39,
    /// pyenv's 3.10.13, shared libpython (PEP 626 line table).
    Pyenv310,
    /// Debian sid's 3.14 (static), in the chroot `scripts/chroot.sh sid` makes; secimport runs inside
    /// it through `scripts/in-chroot.sh`, which binds /tmp and the repository at their own paths.
    Sid314,
}

impl Interp {
    /// Names the interpreter in messages.
    pub fn label(self) -> &'static str {
        match self {
            Interp::PyenvShared => "pyenv CPython 3.11.7 (shared libpython)",
            Interp::DebianStatic => "Debian CPython 3.11 (static, /usr/bin/python3.11)",
            Interp::Pyenv312 => "pyenv CPython 3.12.1 (shared libpython)",
            Interp::Pyenv313 => "pyenv CPython 3.13.0 (shared libpython)",
            Interp::Pyenv38 => "pyenv CPython 3.8.18 (shared libpython)",
            Interp::Pyenv39 => "pyenv CPython 3.9.18 (shared libpython)",
            Interp::Pyenv310 => "pyenv CPython 3.10.13 (shared libpython)",
            Interp::Sid314 => "Debian sid CPython 3.14 (static, in a chroot)",
        }
    }

    /// The trace's `interpreter.build` for this interpreter.
    pub fn expected_build(self) -> &'static str {
        match self {
            Interp::DebianStatic | Interp::Sid314 => "static",
            _ => "shared",
        }
    }

    /// (major, minor).
    pub fn version(self) -> (u32, u32) {
        match self {
            Interp::PyenvShared | Interp::DebianStatic => (3, 11),
            Interp::Pyenv312 => (3, 12),
            Interp::Pyenv313 => (3, 13),
            Interp::Pyenv38 => (3, 8),
            Interp::Pyenv39 => (3, 9),
            Interp::Pyenv310 => (3, 10),
            Interp::Sid314 => (3, 14),
        }
    }

    /// The chroot suite the interpreter lives in (commands run inside it), if any.
    pub fn chroot(self) -> Option<&'static str> {
        (self == Interp::Sid314).then_some("sid")
    }

    /// Environment variable that points the tests at another build of the same kind.
    fn override_var(self) -> &'static str {
        match self {
            Interp::PyenvShared => "SECIMPORT_TEST_PYTHON_SHARED",
            Interp::DebianStatic => "SECIMPORT_TEST_PYTHON_STATIC",
            Interp::Pyenv312 => "SECIMPORT_TEST_PYTHON_312",
            Interp::Pyenv313 => "SECIMPORT_TEST_PYTHON_313",
            Interp::Pyenv38 => "SECIMPORT_TEST_PYTHON_38",
            Interp::Pyenv39 => "SECIMPORT_TEST_PYTHON_39",
            Interp::Pyenv310 => "SECIMPORT_TEST_PYTHON_310",
            Interp::Sid314 => "SECIMPORT_TEST_PYTHON_314",
        }
    }

    /// pyenv's version directory of a pyenv interpreter.
    fn pyenv_version(self) -> Option<&'static str> {
        Some(match self {
            Interp::PyenvShared => "3.11.7",
            Interp::Pyenv312 => "3.12.1",
            Interp::Pyenv313 => "3.13.0",
            Interp::Pyenv38 => "3.8.18",
            Interp::Pyenv39 => "3.9.18",
            Interp::Pyenv310 => "3.10.13",
            Interp::DebianStatic | Interp::Sid314 => return None,
        })
    }

    /// Where the chroot of [`Interp::chroot`] is (`scripts/chroot.sh --path`).
    fn chroot_root(suite: &str) -> PathBuf {
        PathBuf::from(
            std::env::var("SECIMPORT_CHROOTS")
                .unwrap_or_else(|_| "/var/lib/secimport-chroots".into()),
        )
        .join(suite)
    }

    fn candidates(self) -> Vec<PathBuf> {
        if let Some(path) = std::env::var_os(self.override_var()) {
            return vec![PathBuf::from(path)];
        }
        if let Some(version) = self.pyenv_version() {
            let (major, minor) = self.version();
            let tail = format!("versions/{version}/bin/python{major}.{minor}");
            let mut roots = Vec::new();
            if let Some(root) = std::env::var_os("PYENV_ROOT") {
                roots.push(PathBuf::from(root));
            }
            if let Some(home) = std::env::var_os("HOME") {
                roots.push(PathBuf::from(home).join(".pyenv"));
            }
            roots.push(PathBuf::from("/root/.pyenv"));
            let mut paths: Vec<PathBuf> = roots.into_iter().map(|r| r.join(&tail)).collect();
            paths.dedup();
            return paths;
        }
        match self {
            Interp::Sid314 => vec![PathBuf::from("/usr/bin/python3.14")],
            _ => vec![PathBuf::from("/usr/bin/python3.11")],
        }
    }

    fn how_to_get(self) -> String {
        let how = match (self, self.pyenv_version()) {
            (Interp::DebianStatic, _) => "install it with `apt-get install python3.11`".to_string(),
            (Interp::Sid314, _) => "make its chroot with `sudo scripts/chroot.sh sid`".to_string(),
            (_, Some(v)) => {
                format!("install it with `PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {v}`")
            }
            (_, None) => unreachable!("every other interpreter is pyenv's"),
        };
        format!(
            "{how}, or set {} to another CPython of that version built the same way",
            self.override_var()
        )
    }

    /// The real interpreter executable (not a pyenv shim), as the programs see it (inside the chroot
    /// for a chroot's interpreter). Panics, saying which interpreter is missing and how to get it, if
    /// it is not there.
    pub fn path(self) -> PathBuf {
        let candidates = self.candidates();
        let on_host = |p: &PathBuf| match self.chroot() {
            Some(suite) => Self::chroot_root(suite)
                .join(p.strip_prefix("/").unwrap_or(p))
                .is_file(),
            None => p.is_file(),
        };
        if let Some(found) = candidates.iter().find(|p| on_host(p)) {
            return found.clone();
        }
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        panic!(
            "interpreter missing: {} (looked for {}). These tests trace every program with each \
             local interpreter and never skip one: {}.",
            self.label(),
            looked.join(", "),
            self.how_to_get()
        );
    }

    /// A command running `program` as this interpreter's programs run: inside its chroot
    /// (`scripts/in-chroot.sh`, /tmp and the repository at their own paths), or directly.
    pub fn command(self, program: impl AsRef<OsStr>) -> Command {
        match self.chroot() {
            Some(suite) => {
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/in-chroot.sh");
                let mut cmd = Command::new(script);
                // Where tests keep files outside the temporary roots (tests/values.rs).
                let shared = Path::new("/var/lib/secimport-tests");
                std::fs::create_dir_all(shared).expect("create /var/lib/secimport-tests");
                cmd.arg("--bind").arg(shared).arg(suite).arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }
}

/// `major.minor.micro` of an interpreter, asked from the interpreter itself.
pub fn python_version(python: &Path) -> String {
    python_version_of(python, None)
}

/// [`python_version`] of a case's interpreter (inside its chroot if it has one).
pub fn python_version_of(python: &Path, interp: Option<Interp>) -> String {
    let out = interp
        .map(|i| i.command(python))
        .unwrap_or_else(|| Command::new(python))
        .args([
            "-I",
            "-c",
            "import platform; print(platform.python_version())",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} -c ... failed: {}",
        python.display(),
        out.status
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Canonical form of a path for comparisons; the path itself if it cannot be resolved.
pub fn canonical(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// One test's run directory, and the interpreter it traces with.
pub struct Case {
    dir: TempDir,
    interp: Option<(Interp, PathBuf)>,
}

impl Case {
    /// Checks for root, finds the interpreter (failing if it is missing) and makes a temporary directory.
    pub fn new(interp: Interp) -> Case {
        require_root();
        let python = interp.path();
        Case {
            dir: make_tempdir(),
            interp: Some((interp, python)),
        }
    }

    /// Like [`Case::new`] for tests that pass their own (bad) interpreter.
    pub fn without_interpreter() -> Case {
        require_root();
        Case {
            dir: make_tempdir(),
            interp: None,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the run directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn interp(&self) -> Interp {
        self.interp
            .as_ref()
            .expect("this case has no interpreter")
            .0
    }

    pub fn python(&self) -> &Path {
        &self
            .interp
            .as_ref()
            .expect("this case has no interpreter")
            .1
    }

    /// Where [`Case::trace`] and [`Case::trace_command`] ask for the trace.
    pub fn trace_path(&self) -> PathBuf {
        self.path("trace.json")
    }

    /// `secimport trace --python PY -o DIR/trace.json FLAGS... --entrypoint PROGRAM [-- ARGS...]`, which
    /// must write a trace.
    pub fn trace(&self, program_name: &str, args: &[&str], flags: &[&str]) -> Traced {
        let mut argv: Vec<OsString> = vec!["trace".into(), "--python".into()];
        argv.push(self.python().into());
        argv.push("-o".into());
        argv.push(self.trace_path().into());
        argv.extend(flags.iter().map(OsString::from));
        argv.push("--entrypoint".into());
        argv.push(program(program_name).into());
        if !args.is_empty() {
            argv.push("--".into());
            argv.extend(args.iter().map(OsString::from));
        }
        let outcome = self.secimport(&argv);
        self.traced(outcome, program_name)
    }

    /// `secimport trace -o DIR/trace.json -- PY PROGRAM ARGS...` (the command form), which must write a
    /// trace.
    pub fn trace_command(&self, program_name: &str, args: &[&str]) -> Traced {
        let mut argv: Vec<OsString> = vec!["trace".into(), "-o".into()];
        argv.push(self.trace_path().into());
        argv.push("--".into());
        argv.push(self.python().into());
        argv.push(program(program_name).into());
        argv.extend(args.iter().map(OsString::from));
        let outcome = self.secimport(&argv);
        self.traced(outcome, program_name)
    }

    /// Loads the trace a run wrote at [`Case::trace_path`].
    pub fn traced(&self, outcome: Outcome, program_name: &str) -> Traced {
        self.traced_at(outcome, program_name, &self.trace_path())
    }

    /// Loads the trace a run wrote at `path`.
    pub fn traced_at(&self, outcome: Outcome, program_name: &str, path: &Path) -> Traced {
        if !path.is_file() {
            panic!(
                "[{}] secimport wrote no trace at {}\n{}",
                self.interp().label(),
                path.display(),
                outcome.describe()
            );
        }
        let trace = Trace::load(path).unwrap_or_else(|e| {
            panic!("[{}] {e:#}\n{}", self.interp().label(), outcome.describe())
        });
        Traced {
            interp: self.interp(),
            python: self.python().to_path_buf(),
            program: program(program_name),
            path: path.to_path_buf(),
            outcome,
            trace,
        }
    }

    /// Runs `secimport ARGS...` in the run directory, with a clean Python environment, and waits for it
    /// (at most [`RUN_TIMEOUT`]).
    pub fn secimport<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        let bin = secimport_bin();
        let argv: Vec<String> = std::iter::once(bin.display().to_string())
            .chain(
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy().into_owned()),
            )
            .collect();
        let stdout_path = self.path("secimport.stdout");
        let stderr_path = self.path("secimport.stderr");
        let mut cmd = match &self.interp {
            Some((interp, _)) => interp.command(&bin),
            None => Command::new(&bin),
        };
        cmd.args(args)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("create stdout file"))
            .stderr(File::create(&stderr_path).expect("create stderr file"));
        // The traced programs must see neither the caller's Python settings nor write bytecode caches
        // into the source tree.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PYTHON") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .env("TMPDIR", self.dir());

        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "secimport did not finish within {RUN_TIMEOUT:?}; killed it\ncommand: {}\nstderr:\n{}",
                        argv.join(" "),
                        tail(&read_lossy(&stderr_path), STDERR_TAIL)
                    );
                }
                Err(e) => panic!("waiting for secimport: {e}"),
            }
        };
        Outcome {
            argv,
            status,
            stdout: read_lossy(&stdout_path),
            stderr: read_lossy(&stderr_path),
        }
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "kept the run directory for inspection: {}",
                self.dir.path().display()
            );
        }
    }
}

fn make_tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("secimport-trace-test-")
        .tempdir()
        .expect("create a temporary directory")
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = String::new();
    if start > 0 {
        let _ = writeln!(out, "  ... ({start} earlier lines)");
    }
    for line in &all[start..] {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// How one `secimport` run ended.
pub struct Outcome {
    /// The command line, for messages.
    pub argv: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The exit code; panics (with the run described) if secimport itself was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "secimport itself did not exit normally ({})\n{}",
                self.status,
                self.describe()
            )
        })
    }

    pub fn assert_code(&self, expected: i32) {
        let code = self.code();
        assert!(
            code == expected,
            "secimport exited with {code}, expected {expected}\n{}",
            self.describe()
        );
    }

    /// Asserts that stderr mentions `needle`.
    pub fn assert_stderr_mentions(&self, needle: &str) {
        assert!(
            self.stderr.contains(needle),
            "stderr does not mention {needle:?}\n{}",
            self.describe()
        );
    }

    /// The command, its status and the end of its stderr.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "command: {}", self.argv.join(" "));
        let _ = writeln!(s, "status: {}", self.status);
        if !self.stdout.is_empty() {
            let _ = write!(s, "stdout:\n{}", tail(&self.stdout, 10));
        }
        let _ = write!(s, "stderr:\n{}", tail(&self.stderr, STDERR_TAIL));
        s
    }
}

/// The trace buckets, for [`Traced::assert_in_bucket`].
#[derive(Debug, Clone, Copy)]
pub enum Bucket {
    Frameless,
    NonPython,
    Truncated,
    Unreadable,
}

/// A run of `secimport trace` and the trace it wrote.
pub struct Traced {
    pub interp: Interp,
    pub python: PathBuf,
    /// The traced program, canonical.
    pub program: PathBuf,
    /// Where the trace was read from.
    pub path: PathBuf,
    pub outcome: Outcome,
    pub trace: Trace,
}

impl Traced {
    pub fn module(&self, name: &str) -> Option<&ModuleTrace> {
        self.trace.modules.get(name)
    }

    /// The modules charged with `syscall`.
    pub fn modules_with(&self, syscall: &str) -> BTreeSet<String> {
        self.trace
            .modules
            .iter()
            .filter(|(_, m)| m.syscalls.contains_key(syscall))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// How many `syscall`s were charged to `module` (0 if none or no such module).
    pub fn count(&self, module: &str, syscall: &str) -> u64 {
        self.module(module)
            .and_then(|m| m.syscalls.get(syscall).copied())
            .unwrap_or(0)
    }

    pub fn bucket(&self, bucket: Bucket) -> &SyscallCounts {
        let b = &self.trace.buckets;
        match bucket {
            Bucket::Frameless => &b.frameless,
            Bucket::NonPython => &b.non_python,
            Bucket::Truncated => &b.truncated,
            Bucket::Unreadable => &b.unreadable,
        }
    }

    /// Python processes of the traced tree.
    pub fn python_processes(&self) -> Vec<&Process> {
        self.trace
            .processes
            .iter()
            .filter(|p| p.kind == "python")
            .collect()
    }

    /// Panics with `what` and everything needed to see why.
    #[track_caller]
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "[{}] {}: {what}\n{}",
            self.interp.label(),
            self.program_name(),
            self.context(&[])
        )
    }

    /// Like [`Traced::fail`], showing the full syscall tables of `modules`.
    #[track_caller]
    pub fn fail_showing(&self, what: &str, modules: &[&str]) -> ! {
        panic!(
            "[{}] {}: {what}\n{}",
            self.interp.label(),
            self.program_name(),
            self.context(modules)
        )
    }

    fn program_name(&self) -> String {
        self.program
            .strip_prefix(programs_dir())
            .unwrap_or(&self.program)
            .display()
            .to_string()
    }

    /// Every module with the names of its syscalls, the buckets, processes, counters, the full syscall
    /// tables of `focus`, and the end of stderr.
    pub fn context(&self, focus: &[&str]) -> String {
        let t = &self.trace;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "trace: {} (interpreter {:?}, build {})",
            self.path.display(),
            t.interpreter.executable,
            t.interpreter.build
        );
        for name in focus {
            match t.modules.get(*name) {
                Some(m) => {
                    let _ = writeln!(s, "module {name}: files {:?}", m.files);
                    let _ = writeln!(s, "  syscalls {}", counts(&m.syscalls));
                }
                None => {
                    let _ = writeln!(s, "module {name}: not in the trace");
                }
            }
        }
        let _ = writeln!(s, "modules ({}):", t.modules.len());
        for (name, m) in &t.modules {
            let names: Vec<&str> = m.syscalls.keys().map(String::as_str).collect();
            let _ = writeln!(s, "  {name}: {}", names.join(" "));
        }
        let _ = writeln!(s, "buckets.frameless: {}", counts(&t.buckets.frameless));
        let _ = writeln!(s, "buckets.non_python: {}", counts(&t.buckets.non_python));
        let _ = writeln!(s, "buckets.truncated: {}", counts(&t.buckets.truncated));
        let _ = writeln!(s, "buckets.unreadable: {}", counts(&t.buckets.unreadable));
        let _ = writeln!(s, "processes:");
        for p in &t.processes {
            let _ = writeln!(
                s,
                "  pid {} ppid {} {} exe {:?} comm {:?} syscalls {} exit {:?}",
                p.pid, p.ppid, p.kind, p.exe, p.comm, p.syscalls, p.exit_status
            );
        }
        let _ = writeln!(s, "counters: {:?}", t.counters);
        let _ = writeln!(s, "exit_status: {:?}", t.exit_status);
        s.push_str(&self.outcome.describe());
        s
    }

    /// What every successful trace satisfies: the exit status passed through (by secimport, in the trace
    /// and for the root process), the interpreter identified with the right build, the script directory
    /// among the import roots, and some syscalls seen and stacks walked with no event lost.
    #[track_caller]
    pub fn assert_sane(&self, expected_exit: i32) {
        let code = self.outcome.code();
        if code != expected_exit {
            self.fail(&format!(
                "secimport exited with {code}, expected the program's {expected_exit}"
            ));
        }
        let t = &self.trace;
        if t.exit_status != Some(expected_exit) {
            self.fail(&format!(
                "trace.exit_status is {:?}, expected Some({expected_exit})",
                t.exit_status
            ));
        }
        let python = canonical(&self.python);
        match t.command.first() {
            Some(argv0) if canonical(argv0) == python => {}
            _ => self.fail(&format!(
                "trace.command is {:?}; argv[0] should be {}",
                t.command,
                python.display()
            )),
        }
        if canonical(&t.interpreter.executable) != python {
            self.fail(&format!(
                "interpreter.executable should be {}",
                python.display()
            ));
        }
        let version = python_version_of(&self.python, Some(self.interp));
        if t.interpreter.version != version {
            self.fail(&format!(
                "interpreter.version is {:?}, the interpreter says {version:?}",
                t.interpreter.version
            ));
        }
        if t.interpreter.build != self.interp.expected_build() {
            self.fail(&format!(
                "interpreter.build is {:?}, expected {:?}",
                t.interpreter.build,
                self.interp.expected_build()
            ));
        }
        let runtime_elf = Path::new(&t.interpreter.runtime_elf);
        let runtime_ok = match self.interp.expected_build() {
            "static" => canonical(runtime_elf) == python,
            _ => {
                let (major, minor) = self.interp.version();
                runtime_elf.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .starts_with(&format!("libpython{major}.{minor}."))
                })
            }
        };
        if !runtime_ok {
            self.fail(&format!(
                "interpreter.runtime_elf {:?} is not where {} keeps _PyRuntime",
                t.interpreter.runtime_elf,
                self.interp.label()
            ));
        }
        let programs = programs_dir();
        if !t
            .interpreter
            .import_roots
            .iter()
            .any(|r| canonical(r) == programs)
        {
            self.fail(&format!(
                "interpreter.import_roots {:?} lack the script directory {}",
                t.interpreter.import_roots,
                programs.display()
            ));
        }
        if t.counters.syscalls == 0 || t.counters.stacks_walked == 0 {
            self.fail("counters.syscalls and counters.stacks_walked must be non-zero");
        }
        if t.counters.events_lost != 0 {
            self.fail("counters.events_lost must be 0 for these small programs");
        }
        match t.processes.first() {
            Some(root) if root.kind == "python" && root.exit_status == Some(expected_exit) => {}
            _ => self.fail(&format!(
                "processes[0] should be the Python root process with exit status {expected_exit}"
            )),
        }
    }

    /// Asserts that `module` is in the trace with `file` (relative to tests/programs) among its files.
    #[track_caller]
    pub fn assert_file(&self, module: &str, file: &str) {
        let expected = program(file);
        let Some(m) = self.module(module) else {
            self.fail_showing(&format!("module {module} is not in the trace"), &[module]);
        };
        if !m.files.iter().any(|f| canonical(f) == expected) {
            self.fail_showing(
                &format!("module {module} should have file {}", expected.display()),
                &[module],
            );
        }
    }

    /// Asserts that every one of `syscalls` is charged to `module`.
    #[track_caller]
    pub fn assert_charged(&self, module: &str, syscalls: &[&str]) {
        let missing: Vec<&str> = syscalls
            .iter()
            .copied()
            .filter(|s| self.count(module, s) == 0)
            .collect();
        if !missing.is_empty() {
            let holders: BTreeMap<&str, BTreeSet<String>> =
                missing.iter().map(|s| (*s, self.modules_with(s))).collect();
            self.fail_showing(
                &format!("expected {missing:?} charged to {module}; modules charged with them: {holders:?}"),
                &[module],
            );
        }
    }

    /// Asserts that none of `syscalls` is charged to `module` (absent modules pass).
    #[track_caller]
    pub fn assert_not_charged(&self, module: &str, syscalls: &[&str]) {
        let wrong: Vec<&str> = syscalls
            .iter()
            .copied()
            .filter(|s| self.count(module, s) != 0)
            .collect();
        if !wrong.is_empty() {
            self.fail_showing(
                &format!("{wrong:?} must not be charged to {module}"),
                &[module],
            );
        }
    }

    /// Asserts that `syscall` is charged to exactly `modules`: those on the stack when it was made.
    #[track_caller]
    pub fn assert_charged_exactly(&self, syscall: &str, modules: &[&str]) {
        let expected: BTreeSet<String> = modules.iter().map(|m| m.to_string()).collect();
        let actual = self.modules_with(syscall);
        if actual != expected {
            let focus: Vec<&str> = expected.union(&actual).map(String::as_str).collect();
            self.fail_showing(
                &format!("{syscall} is charged to {actual:?}, expected exactly {expected:?}"),
                &focus,
            );
        }
    }

    #[track_caller]
    pub fn assert_in_bucket(&self, bucket: Bucket, syscall: &str) {
        if !self.bucket(bucket).contains_key(syscall) {
            self.fail(&format!("{syscall} should be in the {bucket:?} bucket"));
        }
    }

    #[track_caller]
    pub fn assert_not_in_bucket(&self, bucket: Bucket, syscall: &str) {
        if self.bucket(bucket).contains_key(syscall) {
            self.fail(&format!("{syscall} must not be in the {bucket:?} bucket"));
        }
    }

    /// Asserts that no stack was deeper than the walk limit.
    #[track_caller]
    pub fn assert_no_truncation(&self) {
        if self.trace.counters.stacks_truncated != 0 || !self.trace.buckets.truncated.is_empty() {
            self.fail(
                "no stack of this program is deeper than the walk limit, yet some were truncated",
            );
        }
    }
}

fn counts(c: &SyscallCounts) -> String {
    if c.is_empty() {
        return "{}".to_string();
    }
    let parts: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

#[allow(unused_macros)] // not every test binary runs on both interpreters
/// Makes `mod NAME { fn pyenv_shared(); fn debian_static(); fn pyenv_312(); fn pyenv_313(); }` tests
/// calling `NAME(interp)`: the full suite's interpreters.
macro_rules! on_both_interpreters {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn pyenv_shared() {
                super::$name(crate::common::Interp::PyenvShared)
            }

            #[test]
            fn debian_static() {
                super::$name(crate::common::Interp::DebianStatic)
            }

            #[test]
            fn pyenv_312() {
                super::$name(crate::common::Interp::Pyenv312)
            }

            #[test]
            fn pyenv_313() {
                super::$name(crate::common::Interp::Pyenv313)
            }
        }
    )+};
}

#[allow(unused_macros)]
/// Like [`on_both_interpreters!`], plus 3.8, 3.9, 3.10 and 3.14 (in its chroot): the core subset
/// that runs on every supported version.
macro_rules! on_every_version {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn pyenv_shared() {
                super::$name(crate::common::Interp::PyenvShared)
            }

            #[test]
            fn debian_static() {
                super::$name(crate::common::Interp::DebianStatic)
            }

            #[test]
            fn pyenv_312() {
                super::$name(crate::common::Interp::Pyenv312)
            }

            #[test]
            fn pyenv_313() {
                super::$name(crate::common::Interp::Pyenv313)
            }

            #[test]
            fn pyenv_38() {
                super::$name(crate::common::Interp::Pyenv38)
            }

            #[test]
            fn pyenv_39() {
                super::$name(crate::common::Interp::Pyenv39)
            }

            #[test]
            fn pyenv_310() {
                super::$name(crate::common::Interp::Pyenv310)
            }

            #[test]
            fn sid_314() {
                super::$name(crate::common::Interp::Sid314)
            }
        }
    )+};
}

// ---------------------------------------------------------------------------------------------------
// Running a program under a policy, and without secimport (added for tests/escapes.rs).
// ---------------------------------------------------------------------------------------------------

/// A run of `secimport run` and the violation log it wrote (JSON Lines; each record kept as JSON so
/// that fields added later do not break these helpers).
pub struct PolicyRun {
    pub out: Outcome,
    pub log_path: PathBuf,
    pub log: Vec<serde_json::Value>,
}

impl PolicyRun {
    /// Whether stderr reports a violation.
    pub fn reported_violation(&self) -> bool {
        self.out.stderr.contains("VIOLATION")
    }

    /// Exit status 0, no violation on stderr, nothing in the log.
    pub fn is_clean(&self) -> bool {
        self.out.status.code() == Some(0) && !self.reported_violation() && self.log.is_empty()
    }

    /// One line per logged violation: action, syscall, pid/tid, the modules that denied it and the
    /// stack, innermost first.
    pub fn records(&self) -> Vec<String> {
        self.log.iter().map(record_summary).collect()
    }

    /// The logged violations (at most 20) and the run.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "violation log {} ({} records):",
            self.log_path.display(),
            self.log.len()
        );
        for r in self.records().iter().take(20) {
            let _ = writeln!(s, "  {r}");
        }
        if self.log.len() > 20 {
            let _ = writeln!(s, "  ... {} more", self.log.len() - 20);
        }
        s.push_str(&self.out.describe());
        s
    }
}

/// `ACTION SYSCALL pid P tid T denied_by [...] stack [file:line function [module] <- ...]` of one
/// record of a violation log.
pub fn record_summary(record: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "?".to_string(),
        other => other.to_string(),
    };
    let frames: Vec<String> = record["stack"]
        .as_array()
        .map(|frames| {
            frames
                .iter()
                .map(|f| {
                    format!(
                        "{}:{} {} [{}]",
                        text(&f["file"]),
                        text(&f["line"]),
                        text(&f["function"]),
                        text(&f["module"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{} {} pid {} tid {} denied_by {} stack [{}]{}",
        text(&record["action"]),
        text(&record["syscall"]),
        text(&record["pid"]),
        text(&record["tid"]),
        record["denied_by"],
        frames.join(" <- "),
        if record["truncated"].as_bool() == Some(true) {
            " (truncated)"
        } else {
            ""
        }
    )
}

/// The records of a JSON Lines violation log; none if the file does not exist. Panics on a line
/// that is not JSON.
pub fn read_violation_log(path: &Path) -> Vec<serde_json::Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("cannot read the violation log {}: {e}", path.display()),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{}:{}: not a JSON violation record ({e}): {line}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

impl Case {
    /// `secimport build --trace DIR/trace.json -o DIR/policy.yaml FLAGS...`, which must exit 0;
    /// returns the policy's path.
    pub fn build_policy(&self, flags: &[&str]) -> PathBuf {
        let policy = self.path("policy.yaml");
        let mut argv: Vec<OsString> = vec!["build".into(), "--trace".into()];
        argv.push(self.trace_path().into());
        argv.push("-o".into());
        argv.push(policy.clone().into());
        argv.extend(flags.iter().map(OsString::from));
        let out = self.secimport(&argv);
        if out.status.code() != Some(0) || !policy.is_file() {
            panic!(
                "[{}] building a policy from {} must succeed\n{}",
                self.interp().label(),
                self.trace_path().display(),
                out.describe()
            );
        }
        policy
    }

    /// `secimport run --python PY --policy POLICY --log-file DIR/LOG FLAGS... --entrypoint PROGRAM
    /// [-- ARGS...]` (PROGRAM relative to tests/programs), and the violation log it wrote.
    pub fn run_policy(
        &self,
        policy: &Path,
        program_name: &str,
        args: &[&str],
        flags: &[&str],
        log: &str,
    ) -> PolicyRun {
        let log_path = self.path(log);
        let mut argv: Vec<OsString> = vec!["run".into(), "--python".into()];
        argv.push(self.python().into());
        argv.push("--policy".into());
        argv.push(policy.into());
        argv.push("--log-file".into());
        argv.push(log_path.clone().into());
        argv.extend(flags.iter().map(OsString::from));
        argv.push("--entrypoint".into());
        argv.push(program(program_name).into());
        if !args.is_empty() {
            argv.push("--".into());
            argv.extend(args.iter().map(OsString::from));
        }
        let out = self.secimport(&argv);
        let log = read_violation_log(&log_path);
        PolicyRun { out, log_path, log }
    }

    /// Runs `PY -E -B PROGRAM ARGS...` (PROGRAM relative to tests/programs) directly, without
    /// secimport, in the run directory with `TMPDIR` pointing at it, and waits for it (at most
    /// [`RUN_TIMEOUT`]).
    pub fn run_without_secimport(&self, program_name: &str, args: &[&str]) -> Outcome {
        let python = self.python().to_path_buf();
        let script = program(program_name);
        let argv: Vec<String> = [python.display().to_string(), "-E".into(), "-B".into()]
            .into_iter()
            .chain(std::iter::once(script.display().to_string()))
            .chain(args.iter().map(|a| a.to_string()))
            .collect();
        let stdout_path = self.path("direct.stdout");
        let stderr_path = self.path("direct.stderr");
        let mut child = self
            .interp()
            .command(&python)
            .args(&argv[1..])
            .current_dir(self.dir())
            .env("TMPDIR", self.dir())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("create stdout file"))
            .stderr(File::create(&stderr_path).expect("create stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{} did not finish within {RUN_TIMEOUT:?}; killed it",
                        argv.join(" ")
                    );
                }
                Err(e) => panic!("waiting for {}: {e}", python.display()),
            }
        };
        Outcome {
            argv,
            status,
            stdout: read_lossy(&stdout_path),
            stderr: read_lossy(&stderr_path),
        }
    }
}
