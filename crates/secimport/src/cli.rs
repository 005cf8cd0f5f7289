//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "secimport",
    version,
    about = "A per-module syscall sandbox for Python, enforced with eBPF",
    long_about = "secimport learns which syscalls each Python module of a program makes \
(`secimport trace`), turns that into a per-module policy (`secimport build`), and runs the \
program under it (`secimport run`).\n\nExit codes: 0 success; 1 `run` saw a violation, or `diff` found added rights; 2 usage or \
configuration error (nothing ran); otherwise the program's own exit status (128 + signal if it was \
killed)."
)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv libbpf trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Python program and record, for every module, the syscalls made while it was on the stack.
    Trace(TraceArgs),
    /// Trace an interactive interpreter session (`trace -- python3`).
    Shell(ShellArgs),
    /// Turn a trace into a policy (writes YAML and JSON).
    Build(BuildArgs),
    /// Run a program under a policy: report, kill or stop what it does not allow.
    Run(RunArgs),
    /// Trace, build and run in one go, asking before each step.
    Interactive(InteractiveArgs),
    /// Write a policy as a container runtime's seccomp profile (Docker, Kubernetes, runc).
    #[command(long_about = crate::commands::export::LONG_ABOUT)]
    Export(ExportArgs),
    /// Supervise a running Python process for the Python API (`secure_import`,
    /// `sandboxed`); driven over stdin/stdout, see the Python package.
    Guard(GuardArgs),
    /// Compare two policies or traces: what NEW allows that OLD did not
    /// (exit 1), for CI.
    #[command(long_about = DIFF_ABOUT)]
    Diff(DiffArgs),
}

/// What to run: an entry script, or a whole command after `--`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The Python script to run (its directory is an import root, it is named `__main__`).
    #[arg(short, long, value_name = "SCRIPT")]
    pub entrypoint: Option<PathBuf>,
    /// Interpreter to run the script with [default: python3 on PATH; shims are resolved].
    #[arg(long, value_name = "PATH")]
    pub python: Option<String>,
    /// Frames walked per syscall (the whole stack, up to this many); a deeper
    /// stack is judged as if an unknown module made the syscall.
    #[arg(long, default_value_t = secimport_engine::sandbox::DEFAULT_WALK_LIMIT, value_name = "FRAMES",
          value_parser = clap::value_parser!(u32).range(1..=secimport_engine::sandbox::MAX_WALK_LIMIT as i64))]
    pub walk_limit: u32,
    /// With --entrypoint: arguments for the script. Without: the whole command,
    /// e.g. `-- /usr/bin/python3.11 app.py --flag`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where to write the trace.
    #[arg(short, long, default_value = "trace.json", value_name = "FILE")]
    pub output: PathBuf,
    /// Add this run to the trace already at --output (same interpreter)
    /// instead of replacing it: one policy from several runs.
    #[arg(long)]
    pub append: bool,
    /// How the program is watched: `auto` is eBPF as root and seccomp otherwise
    /// (seccomp holds every syscall outside the harmless set for a user-space
    /// stack read: slower, no root needed).
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunMode {
    /// Report violations; the program continues.
    Log,
    /// SIGKILL the whole tree at the violating syscall's entry (an exec never starts
    /// the new program; other syscalls may still complete).
    Kill,
    /// SIGSTOP the violating process so it can be inspected, then resumed or killed.
    Stop,
    /// Fail the violating syscall with EPERM before it has any effect; the program
    /// continues (seccomp backend; no root needed).
    Deny,
}

/// Which mechanism enforces the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// As root: eBPF (every syscall judged in the kernel); for `run` in kill mode, eBPF plus a
    /// seccomp filter holding the dangerous syscalls so they die before they run; seccomp for
    /// deny mode. Without root: seccomp.
    Auto,
    /// eBPF in the kernel (root): log, kill and stop modes.
    Bpf,
    /// seccomp user notification (no root): log, deny and kill modes; a denied or
    /// killed syscall never runs.
    Seccomp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownArg {
    /// Modules the policy does not name may only make base syscalls.
    BaseOnly,
    /// Modules the policy does not name are not restricted.
    Allow,
    /// Any syscall made while an unnamed module is on the stack is a violation.
    Deny,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The policy to export (.yaml, .yml or .json, as `build` writes it).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// The output format (the only one: an OCI runtime-spec `linux.seccomp` object).
    #[arg(long, value_enum, default_value_t = ExportFormat::OciSeccomp)]
    pub format: ExportFormat,
    /// Write the profile to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// What the profile does with a syscall the policy does not allow:
    /// fail it with EPERM, kill the process (SIGSYS), or run it and log it
    /// to the kernel's audit log.
    #[arg(long, value_enum, default_value_t = ExportDefault::Errno)]
    pub default_action: ExportDefault,
    /// Also allow the import system's writes of compiled modules (the
    /// `:pycache` classes). Seccomp cannot see paths: this allows every
    /// writing open, mkdir, rename and unlink the policy gives no module.
    /// Without it CPython simply does not write `.pyc` files.
    #[arg(long)]
    pub pycache: bool,
    /// The container runtime that loads the profile: what it does between
    /// loading the profile and running the program is allowed too.
    #[arg(long, value_enum, default_value_t = ExportRuntime::Runc)]
    pub runtime: ExportRuntime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportRuntime {
    /// runc (Docker's and containerd's default): execve, plus its exec-FIFO
    /// open (openat with exactly O_WRONLY|O_CLOEXEC), write, close, fstatfs.
    Runc,
    /// A runtime that loads the profile right before execve: execve only.
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// An OCI runtime seccomp profile (JSON): `docker run --security-opt
    /// seccomp=FILE`, Kubernetes `seccompProfile: Localhost`, `linux.seccomp`
    /// of a runc/crun config.json.
    OciSeccomp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportDefault {
    /// SCMP_ACT_ERRNO with defaultErrnoRet 1 (EPERM).
    Errno,
    /// SCMP_ACT_KILL_PROCESS.
    Kill,
    /// SCMP_ACT_LOG: allowed, written to the audit log.
    Log,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A trace written by `secimport trace` (repeat it, or list traces after
    /// the options, to build one policy from several runs; default trace.json).
    #[arg(long = "trace", value_name = "FILE")]
    pub traces: Vec<PathBuf>,
    /// More traces, as with --trace.
    #[arg(value_name = "TRACE")]
    pub more_traces: Vec<PathBuf>,
    /// Where to write the policy (.yaml or .json); the other format is written beside it.
    #[arg(short, long, default_value = "policy.yaml", value_name = "FILE")]
    pub output: PathBuf,
    /// Default mode recorded in the policy for `secimport run`.
    #[arg(long, value_enum, default_value_t = RunMode::Log)]
    pub mode: RunMode,
    /// How `run` judges modules the trace never saw.
    #[arg(long, value_enum, default_value_t = UnknownArg::BaseOnly)]
    pub unknown: UnknownArg,
    /// Keep one entry per module instead of one `pkg.*` entry for a package
    /// whose modules all made the same syscalls.
    #[arg(long)]
    pub no_group: bool,
    /// Keep the syscall names exactly as traced: do not widen them by their
    /// harmless groups (a module seen using `stat` may otherwise `statx`).
    #[arg(long)]
    pub exact: bool,
    /// Policy name (default: the entry script's name).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The policy to enforce.
    #[arg(long, default_value = "policy.yaml", value_name = "FILE")]
    pub policy: PathBuf,
    /// Overrides the policy's mode.
    #[arg(long, value_enum, conflicts_with_all = ["kill_on_violation", "stop_on_violation"])]
    pub mode: Option<RunMode>,
    /// Same as --mode kill (the original secimport's flag).
    #[arg(long, conflicts_with = "stop_on_violation")]
    pub kill_on_violation: bool,
    /// How the policy is enforced: `auto` is eBPF as root (in kill mode with a seccomp
    /// filter that holds the dangerous syscalls, so they are killed before they run; seccomp
    /// for deny mode) and seccomp otherwise; `bpf` is eBPF alone (kill at syscall entry).
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Same as --mode stop.
    #[arg(long)]
    pub stop_on_violation: bool,
    /// Attach to this running Python process instead of starting one: it and
    /// the children it starts from now on are judged (children it already has
    /// are not). secimport then stays until it exits; if secimport is killed,
    /// so is the process (fail closed).
    #[arg(long, value_name = "PID", conflicts_with_all = ["entrypoint", "args", "python"])]
    pub pid: Option<u32>,
    /// Log mode only: also write what the policy lacked (every violation's
    /// modules, syscall and arguments) to FILE as a trace, to merge with
    /// `secimport build TRACE FILE`: learn in staging, then enforce.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kill_on_violation", "stop_on_violation"])]
    pub learn: Option<PathBuf>,
    /// JSON Lines log of violations [default: /tmp/.secimport/violations-<pid>.jsonl].
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

impl RunArgs {
    pub fn mode(&self) -> Option<RunMode> {
        if self.kill_on_violation {
            Some(RunMode::Kill)
        } else if self.stop_on_violation {
            Some(RunMode::Stop)
        } else {
            self.mode
        }
    }
}

#[derive(Debug, Args)]
pub struct InteractiveArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Answer yes to every question (for scripts and tests).
    #[arg(short, long)]
    pub yes: bool,
    /// Trace file to write.
    #[arg(long, default_value = "trace.json", value_name = "FILE")]
    pub trace: PathBuf,
    /// Policy file to write and enforce.
    #[arg(long, default_value = "policy.yaml", value_name = "FILE")]
    pub policy: PathBuf,
    /// Mode for the final run.
    #[arg(long, value_enum, default_value_t = RunMode::Log)]
    pub mode: RunMode,
}

#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The Python process to guard (usually the caller itself).
    #[arg(long)]
    pub pid: u32,
    /// What a violation does.
    #[arg(long, value_enum, default_value_t = RunMode::Kill)]
    pub mode: RunMode,
    /// eBPF (root), or seccomp (no root: the process installs the filter this
    /// command prints, `filter HEX`, and answers `listener FD`); `auto`: eBPF
    /// as root, seccomp otherwise and for deny mode.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Frames walked per syscall (the whole stack, up to this many).
    #[arg(long, default_value_t = secimport_engine::sandbox::DEFAULT_WALK_LIMIT, value_name = "FRAMES",
          value_parser = clap::value_parser!(u32).range(1..=secimport_engine::sandbox::MAX_WALK_LIMIT as i64))]
    pub walk_limit: u32,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Interpreter to start [default: python3 on PATH; shims are resolved].
    #[arg(long, value_name = "PATH")]
    pub python: Option<String>,
    /// Where to write the trace.
    #[arg(short, long, default_value = "trace.json", value_name = "FILE")]
    pub output: PathBuf,
    /// Frames walked per syscall (the whole stack, up to this many).
    #[arg(long, default_value_t = secimport_engine::sandbox::DEFAULT_WALK_LIMIT, value_name = "FRAMES",
          value_parser = clap::value_parser!(u32).range(1..=secimport_engine::sandbox::MAX_WALK_LIMIT as i64))]
    pub walk_limit: u32,
}

/// `secimport diff --help`: the rule, in full.
const DIFF_ABOUT: &str = "Compare what two policies allow, module by module: a behavioural \
lockfile for CI. Each side is a policy (.yaml, .yml or .json, v1 or v2) or a trace written by \
`secimport trace` (compared as the policy `secimport build` makes of it, with --exact, \
--no-group and --unknown as for build).\n\n\
NEW *adds* when some (module, right) or (module, right, value) is allowed by NEW and not by OLD. \
Modules are compared at every key of either policy (a glob such as `tinynn.*` at a name only its \
`*` matches: the modules it covers that no other key names) and at `(other modules)`, a name no \
key names; each is judged by the policy's own rule on each side: its entry plus `base`, or \
`unknown` (allow: every right; base-only: base; deny: nothing). So a wider glob, a right moved to \
`base`, or `unknown: allow` all count as added; the text of the files does not matter. Rights \
gained by `base` are listed once, under base. Also compared: `startup`, `frameless`, each \
program of `spec.programs` and `(other programs)` (`children`). Argument values (`exec`, \
`write`, `connect`, `bind` patterns) are compared for modules whose rights carry them: a \
pattern of NEW is added unless one pattern of OLD contains it; an unrestricted kind adds `*`. \
The harmless set is never compared; a `mode` change is shown but adds no right.\n\n\
With --violations LOG (the JSON Lines log of `secimport run --policy OLD --mode log \
--log-file LOG`), each added right is shown with the first violation that asked for it and its \
Python stack.\n\n\
Exit codes: 0 NEW allows nothing OLD did not (equal, or only drops); 1 NEW adds rights; 2 bad \
input (a file that is missing or is neither a policy nor a trace, with its line).";

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The policy or trace you accepted (e.g. the committed policy.yaml).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The policy or trace to check (e.g. a trace of the updated code).
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Print the report as JSON (schemas/diff.schema.json) on stdout.
    #[arg(long)]
    pub json: bool,
    /// A violation log of `secimport run --mode log --log-file FILE` under
    /// OLD: show, for each added right, the first violation that asked for
    /// it and its Python stack (repeat for several logs).
    #[arg(long, value_name = "FILE")]
    pub violations: Vec<PathBuf>,
    /// For a trace side: keep syscall names as traced (as `build --exact`).
    #[arg(long)]
    pub exact: bool,
    /// For a trace side: one entry per module (as `build --no-group`).
    #[arg(long)]
    pub no_group: bool,
    /// For a trace side: how modules the trace never saw are judged (as
    /// `build --unknown`).
    #[arg(long, value_enum, default_value_t = UnknownArg::BaseOnly)]
    pub unknown: UnknownArg,
}
