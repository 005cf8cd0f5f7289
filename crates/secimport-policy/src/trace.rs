//! The trace file: what `secimport trace` learned about a run.
//!
//! A trace says, for every Python module, which syscalls were made while that
//! module was anywhere on the calling thread's stack, plus the buckets for
//! syscalls with no Python frame to charge. `secimport build` is a pure
//! function of this file, so everything a policy needs is here and nothing
//! depends on the machine that reads it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The `format` field of every trace file.
pub const TRACE_FORMAT: &str = "secimport-trace";
/// Bumped on every incompatible change of the layout below.
pub const TRACE_VERSION: u32 = 2;

/// Syscall name -> number of calls.
pub type SyscallCounts = BTreeMap<String, u64>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// Always [`TRACE_FORMAT`].
    pub format: String,
    /// Always [`TRACE_VERSION`] for files this version writes.
    pub version: u32,
    /// The command that was traced, argv[0] being the real interpreter.
    pub command: Vec<String>,
    pub interpreter: Interpreter,
    /// Dotted module name (or pseudo-name / path) -> what it did.
    pub modules: BTreeMap<String, ModuleTrace>,
    /// Syscalls with no module to charge.
    pub buckets: Buckets,
    /// Every process of the traced tree, in order of appearance.
    pub processes: Vec<Process>,
    pub counters: Counters,
    /// Exit status of the traced program: its exit code, or 128 + signal.
    pub exit_status: Option<i32>,
}

/// The interpreter the trace was taken with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interpreter {
    /// The interpreter executable actually run (shims resolved).
    pub executable: String,
    /// `sys.version_info` as `major.minor.micro`.
    pub version: String,
    /// `shared` (the runtime lives in libpython) or `static`.
    pub build: String,
    /// The ELF that defines `_PyRuntime`.
    pub runtime_elf: String,
    /// Directories module names were derived from, longest first.
    pub import_roots: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleTrace {
    /// Source files that were named this module (usually one).
    pub files: Vec<String>,
    /// Syscalls made while the module was on the stack, with counts.
    pub syscalls: SyscallCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    /// A Python process with no Python frame on the calling thread, before
    /// the interpreter ran its first frame (loader, interpreter start-up).
    /// Becomes the policy's `startup` set and its `base` set.
    pub startup: SyscallCounts,
    /// No Python frame on the calling thread after start-up: atexit C
    /// callbacks, finalizers, native threads. Becomes `frameless`.
    pub frameless: SyscallCounts,
    /// Processes of the tree that are not running the interpreter (a shell, `ps`).
    pub non_python: SyscallCounts,
    /// Syscalls whose stack was deeper than the walk limit (the outer frames
    /// were not seen; the inner ones are charged as usual). `run` judges such
    /// a syscall as if an unknown module made it.
    pub truncated: SyscallCounts,
    /// Frames, names or thread states that could not be read (judged as an
    /// unknown module by `run`).
    pub unreadable: SyscallCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// The program the process last exec'd (None: a fork that never exec'd).
    pub exe: Option<String>,
    pub comm: String,
    /// `python` or `other`.
    pub kind: String,
    /// Syscalls this process made while traced.
    pub syscalls: u64,
    /// Exit code, or 128 + signal; None if it outlived the trace.
    pub exit_status: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    pub syscalls: u64,
    pub stacks_walked: u64,
    pub stacks_truncated: u64,
    pub events_lost: u64,
    pub read_errors: u64,
    pub threads_without_state: u64,
    pub modules_overflow: u64,
    /// The walk limit in frames.
    pub walk_limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read trace {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not a valid trace file: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: this is a {found:?} file, not a secimport trace (format {TRACE_FORMAT:?})")]
    WrongFormat { path: String, found: String },
    #[error("{path}: trace version {found} is not supported (this secimport reads version {TRACE_VERSION}); re-run `secimport trace`")]
    WrongVersion { path: String, found: u32 },
}

impl Trace {
    /// Serializes as pretty JSON with a trailing newline (keys sorted by the maps).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a trace always serializes");
        s.push('\n');
        s
    }

    pub fn from_json(text: &str, path: &str) -> Result<Trace, TraceError> {
        // Check the envelope first so a wrong file gets a useful message
        // rather than a complaint about its first unknown field.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("");
            if format != TRACE_FORMAT {
                return Err(TraceError::WrongFormat {
                    path: path.to_string(),
                    found: format.to_string(),
                });
            }
            let version = v.get("version").and_then(|f| f.as_u64()).unwrap_or(0) as u32;
            if version != TRACE_VERSION {
                return Err(TraceError::WrongVersion {
                    path: path.to_string(),
                    found: version,
                });
            }
        }
        serde_json::from_str(text).map_err(|e| TraceError::Parse {
            path: path.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Trace, TraceError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
            path: display.clone(),
            source,
        })?;
        Trace::from_json(&text, &display)
    }
}
