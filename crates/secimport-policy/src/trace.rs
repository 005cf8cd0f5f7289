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
/// Bumped on every incompatible change of the layout below (3: syscall
/// names may be argument classes, `openat:write`, and a plain `openat` is
/// only the reading form). A module's `arguments` (argument values) came
/// later without a bump: it is optional, and absent in older traces.
pub const TRACE_VERSION: u32 = 3;

/// Syscall name -> number of calls.
pub type SyscallCounts = BTreeMap<String, u64>;

/// Argument kind (`exec`, `write`, `connect`, `bind`) -> value -> number of
/// calls (see [`ModuleTrace::arguments`]).
pub type ArgumentCounts = BTreeMap<String, BTreeMap<String, u64>>;

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
    /// Programs of the tree that are not Python (by the path they were run
    /// with, symlinks resolved) -> what their processes did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub programs: BTreeMap<String, SyscallCounts>,
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
    /// The argument values of its value-carrying rights (see
    /// [`crate::arguments`]), by kind, with counts: `exec` and `write` map
    /// absolute paths (possibly with `.` or `..` components) or
    /// [`crate::arguments::UNRESOLVED`]; `connect` and `bind` map addresses
    /// as [`crate::arguments::AddrValue`] writes them (`inet:1.2.3.4:80`,
    /// `inet:[::1]:8080`, `unix:/path`, `unix:@name`, `other`). Absent in
    /// traces of versions that did not record them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: ArgumentCounts,
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
    /// Missing, unreadable, not a regular file, larger than
    /// [`crate::files::MAX_INPUT_BYTES`] or not UTF-8. The message includes
    /// `error`, so it is not also a `source()`.
    #[error("cannot read trace {path}: {error}")]
    Io {
        path: String,
        error: crate::files::ReadError,
    },
    #[error("{path}:{line}:{column}: not a valid trace file: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// `found`: the `format` field as written (a JSON string's contents, or
    /// the JSON text of another value), empty when there is none.
    #[error(
        "{path}: this is a \"{}\" file, not a secimport trace (format {TRACE_FORMAT:?})",
        crate::show::shown(found)
    )]
    WrongFormat { path: String, found: String },
    /// `found`: the `version` field exactly as written in the file (`3`,
    /// `"2"`, `-1`, `18446744073709551616`), or `missing`.
    #[error("{path}: trace version {found} is not supported (this secimport reads version {TRACE_VERSION}); re-run `secimport trace`")]
    WrongVersion { path: String, found: String },
}

/// Why traces cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no trace to merge")]
    Empty,
    /// Module names depend on the interpreter's version (its standard
    /// library); a policy is for one interpreter.
    #[error(
        "{path} traced CPython {found} but the first trace CPython {expected}: a policy is built \
         for one interpreter version; trace again with the same interpreter"
    )]
    Interpreter {
        path: String,
        expected: String,
        found: String,
    },
}

fn add_counts(into: &mut SyscallCounts, from: &SyscallCounts) {
    for (name, n) in from {
        let c = into.entry(name.clone()).or_insert(0);
        *c = c.saturating_add(*n);
    }
}

impl Trace {
    /// Several runs of one program as one trace: every module, bucket and
    /// process of each, counts added, import roots and files united. The
    /// command, interpreter and exit status are the first trace's; the
    /// interpreters must have the same version. `paths` name the traces in
    /// messages.
    pub fn merge(traces: Vec<(String, Trace)>) -> Result<Trace, MergeError> {
        let mut traces = traces.into_iter();
        let (_, mut merged) = traces.next().ok_or(MergeError::Empty)?;
        for (path, t) in traces {
            if t.interpreter.version != merged.interpreter.version {
                return Err(MergeError::Interpreter {
                    path,
                    expected: merged.interpreter.version.clone(),
                    found: t.interpreter.version.clone(),
                });
            }
            merged.absorb(t);
        }
        Ok(merged)
    }

    /// Adds what `other` saw to this trace (see [`Trace::merge`]).
    pub fn absorb(&mut self, other: Trace) {
        let Trace {
            format: _,
            version: _,
            command: _,
            interpreter,
            modules,
            buckets,
            programs,
            processes,
            counters,
            exit_status: _,
        } = other;
        for (path, counts) in programs {
            add_counts(self.programs.entry(path).or_default(), &counts);
        }
        for root in interpreter.import_roots {
            if !self.interpreter.import_roots.contains(&root) {
                self.interpreter.import_roots.push(root);
            }
        }
        self.interpreter
            .import_roots
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        for (name, module) in modules {
            let ModuleTrace {
                files,
                syscalls,
                arguments,
            } = module;
            let mine = self.modules.entry(name).or_default();
            for f in files {
                if !mine.files.contains(&f) {
                    mine.files.push(f);
                }
            }
            add_counts(&mut mine.syscalls, &syscalls);
            for (kind, values) in arguments {
                add_counts(mine.arguments.entry(kind).or_default(), &values);
            }
        }
        let Buckets {
            startup,
            frameless,
            non_python,
            truncated,
            unreadable,
        } = buckets;
        add_counts(&mut self.buckets.startup, &startup);
        add_counts(&mut self.buckets.frameless, &frameless);
        add_counts(&mut self.buckets.non_python, &non_python);
        add_counts(&mut self.buckets.truncated, &truncated);
        add_counts(&mut self.buckets.unreadable, &unreadable);
        self.processes.extend(processes);
        let c = &mut self.counters;
        c.syscalls = c.syscalls.saturating_add(counters.syscalls);
        c.stacks_walked = c.stacks_walked.saturating_add(counters.stacks_walked);
        c.stacks_truncated = c.stacks_truncated.saturating_add(counters.stacks_truncated);
        c.events_lost = c.events_lost.saturating_add(counters.events_lost);
        c.read_errors = c.read_errors.saturating_add(counters.read_errors);
        c.threads_without_state = c
            .threads_without_state
            .saturating_add(counters.threads_without_state);
        c.modules_overflow = c.modules_overflow.saturating_add(counters.modules_overflow);
        c.walk_limit = c.walk_limit.min(counters.walk_limit);
    }

    /// Serializes as pretty JSON with a trailing newline (keys sorted by the maps).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a trace always serializes");
        s.push('\n');
        s
    }

    /// Parses a trace; `path` is only used in messages. A leading byte-order
    /// mark is ignored; a key that appears twice in one object is an error at
    /// its second occurrence.
    pub fn from_json(text: &str, path: &str) -> Result<Trace, TraceError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Some((line, column, problem)) =
            crate::policy::duplicate_key(text, crate::policy::Format::Json)
        {
            return Err(TraceError::Parse {
                path: path.to_string(),
                line,
                column,
                message: problem.to_string(),
            });
        }
        // Check the envelope first so a wrong file gets a useful message
        // rather than a complaint about its first unknown field.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let format = match v.get("format") {
                None => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            if format != TRACE_FORMAT {
                return Err(TraceError::WrongFormat {
                    path: path.to_string(),
                    found: format,
                });
            }
            let version = v.get("version").and_then(serde_json::Value::as_u64);
            if version != Some(u64::from(TRACE_VERSION)) {
                return Err(TraceError::WrongVersion {
                    path: path.to_string(),
                    found: version_as_written(text),
                });
            }
        }
        serde_json::from_str(text).map_err(|e| {
            let (line, column, message) = crate::policy::json_error(&e, text);
            TraceError::Parse {
                path: path.to_string(),
                line,
                column,
                message: crate::show::message(&message),
            }
        })
    }

    /// Reads a trace file: a regular file of at most
    /// [`crate::files::MAX_INPUT_BYTES`] (anything else is refused at once).
    pub fn load(path: &Path) -> Result<Trace, TraceError> {
        let display = path.display().to_string();
        let text = crate::files::read_text(path).map_err(|error| TraceError::Io {
            path: display.clone(),
            error,
        })?;
        Trace::from_json(&text, &display)
    }
}

/// The `version` of a trace object exactly as the file spells it (a huge
/// number is not rounded, a string keeps its quotes), or `missing`.
fn version_as_written(text: &str) -> String {
    use serde_json::value::RawValue;
    #[derive(Deserialize)]
    struct Version<'a> {
        // `null` too is a value as written, not a missing field.
        #[serde(borrow, default, deserialize_with = "present")]
        version: Option<&'a RawValue>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
        <&RawValue>::deserialize(d).map(Some)
    }
    match serde_json::from_str::<Version>(text) {
        // One line, cut when long, whatever the file holds.
        Ok(Version { version: Some(raw) }) => crate::show::shown(raw.get()),
        Ok(Version { version: None }) => "missing".to_string(),
        Err(_) => "unreadable".to_string(),
    }
}
