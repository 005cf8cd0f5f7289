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
program under it (`secimport run`).\n\nExit codes: 0 success; 2 usage or configuration error; \
otherwise the traced program's own exit status (128 + signal if it was killed)."
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
    /// Frames walked per syscall; deeper stacks are counted as truncated.
    #[arg(long, default_value_t = 128, value_name = "FRAMES")]
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
}
