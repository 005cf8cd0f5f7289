//! The sandbox policy: what each Python module may do, as users read and edit it.
//!
//! One model, serialized as YAML or JSON (chosen by the file extension) in a
//! versioned envelope:
//!
//! ```yaml
//! apiVersion: secimport.dev/v1
//! kind: SandboxPolicy
//! metadata:
//!   name: app
//! spec:
//!   mode: log
//!   unknown: base-only
//!   base: [brk, close, mmap]
//!   children: [execve]
//!   modules:
//!     __main__: [getppid, openat]
//!     "torch.*": [mmap, openat]
//! ```
//!
//! Decision rule: a syscall is allowed when it is in the fixed harmless set
//! ([`crate::classes::HARMLESS`]), or when every module that could have asked
//! for it allows it: every module on every Python stack of the calling thread
//! and the modules its creator had on its stack; with no Python frame, the
//! `startup` or `frameless` set decides. A covered module allows its own list
//! plus `base`; modules the policy does not cover fall under `unknown`.
//! Non-Python programs of the tree are judged by `children`. [`Policy::compile`] turns the names into
//! the bitmaps the kernel side needs.
//!
//! `spec.arguments` narrows a module's value-carrying rights to the
//! programs it may execute, the paths it may write and the addresses it may
//! connect to or bind (see [`crate::arguments`]):
//!
//! ```yaml
//! spec:
//!   modules:
//!     app.vcs: [execve, clone:process, wait4]
//!   arguments:
//!     app.vcs:
//!       exec: [/usr/bin/git]
//! ```
//!
//! Parsing is strict: unknown fields, unknown syscall names, bad globs, bad
//! argument patterns, `spec.arguments` keys that are not keys of
//! `spec.modules`,
//! duplicate keys (at any level, reported where the second one is) and a
//! wrong `apiVersion` or `kind` are errors that name `file:line:column` and
//! say how to fix them. A leading UTF-8 byte-order mark is ignored. Files are
//! read only if they are regular files of at most 64 MiB
//! ([`crate::files::MAX_INPUT_BYTES`]).

mod compile;
mod de;
mod decide;
mod pattern;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::arguments::{AddrPattern, Arguments, PathPattern};
pub use compile::{bitmap_contains, bitmap_of, Bitmap, Compiled};
pub use de::Problem;
pub(crate) use de::{duplicate_key, json_error};
pub use decide::{Decision, Judge, Query, Refusal, Unseen, Who};
pub use pattern::{ModulePattern, PatternError};

/// The `apiVersion` of every policy this version writes.
pub const API_VERSION: &str = "secimport.dev/v2";
/// The previous `apiVersion`, read and upgraded (see [`upgrade_v1`]).
pub const API_VERSION_V1: &str = "secimport.dev/v1";
/// The `kind` of every policy.
pub const KIND: &str = "SandboxPolicy";

/// A set of syscalls, sorted by name.
pub type SyscallSet = BTreeSet<Syscall>;

/// A secimport sandbox policy: which syscalls each Python module may make.
///
/// A syscall is allowed when it is in the fixed harmless set, or when every
/// module on the calling thread's Python stacks (and those its creator had)
/// allows it: its own list or `spec.base`. Modules the policy does not cover
/// fall under `spec.unknown`; a thread with no Python frame is judged by
/// `spec.startup` / `spec.frameless`; programs of the process tree that are
/// not Python are judged by `spec.children`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "secimport SandboxPolicy")]
pub struct Policy {
    /// The version of this file format: `secimport.dev/v2` (files with
    /// `secimport.dev/v1` are read and upgraded).
    pub api_version: ApiVersion,
    /// The kind of document: always `SandboxPolicy`.
    pub kind: Kind,
    /// Name and provenance of the policy; informational.
    pub metadata: Metadata,
    /// The rules.
    pub spec: Spec,
}

/// Name and provenance of a policy. Nothing here changes what is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// A short name for the policy, by default the entry script's name without
    /// `.py` (shown in violation reports).
    pub name: String,
    /// Free text describing the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The trace the policy was built from, as `secimport build` saw it.
    /// Informational only: it is never used to decide anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_from: Option<GeneratedFrom>,
}

/// The traced run a policy was built from (informational).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratedFrom {
    /// The traced command, its first word being the real interpreter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The interpreter executable that was traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// The interpreter's version, `major.minor.micro`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
}

/// The rules of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// What `secimport run` does on a violation unless told otherwise on the
    /// command line. Default: `log`.
    #[serde(default)]
    pub mode: Mode,
    /// How modules that no key of `modules` covers are judged. Default:
    /// `base-only`.
    #[serde(default)]
    pub unknown: UnknownRule,
    /// Syscalls every Python module may make besides its own list (the
    /// interpreter's own vocabulary: reading files, stat, ...); modules the
    /// policy does not cover may make them under `unknown: base-only`. They
    /// are judged by the stack like any other: `base` is never allowed with
    /// no Python frame (see `startup` and `frameless`), and it cannot hold a
    /// dangerous syscall (exec, process creation, sockets, ...; see
    /// `secimport_policy::classes`), nor grant the dangerous forms of
    /// `openat`, `clone` or `kill`. The fixed harmless set (memory, futexes,
    /// clocks, signal returns, I/O on open descriptors) is allowed whatever
    /// the stack and need not be listed.
    /// Names are x86-64 Linux syscall names as strace prints them (`openat`,
    /// `newfstatat`); `syscall_N` names a number the table has no name for.
    /// Order does not matter and duplicates are ignored; `secimport build`
    /// writes them sorted.
    #[serde(deserialize_with = "de::base")]
    pub base: SyscallSet,
    /// Syscalls allowed with no Python frame on the calling thread before the
    /// interpreter ran its first Python frame (dynamic loader, interpreter
    /// start-up). Dangerous syscalls are refused here.
    #[serde(default, deserialize_with = "de::startup")]
    pub startup: SyscallSet,
    /// Syscalls allowed with no Python frame on the calling thread after
    /// start-up (atexit C callbacks, finalizers, native threads). A thread
    /// with no frame of its own is also judged by the modules its creator had
    /// on its stack. Dangerous syscalls are refused here.
    #[serde(default, deserialize_with = "de::frameless")]
    pub frameless: SyscallSet,
    /// Syscalls allowed to processes of the tree that are not running Python
    /// (a shell, `ps`, `ldconfig`). The base set does not apply to them.
    #[serde(default, deserialize_with = "de::children")]
    pub children: SyscallSet,
    /// Program -> what a process running it may do, for programs of the tree
    /// that are not Python (`/usr/bin/git`, `/bin/sh`): what `git` may do is
    /// not what `sh` may do. A key is an absolute path; the program is
    /// recognized by its identity (device and inode, symlinks resolved when
    /// `run` starts), whatever path executed it. Its list alone decides (no
    /// `base`); a program no key names is judged by `children`. `build`
    /// writes one entry per program the trace saw.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::programs"
    )]
    pub programs: BTreeMap<String, SyscallSet>,
    /// Module -> the syscalls it may make (besides `base`). A syscall is
    /// allowed when every module on the stack that some key covers allows it.
    ///
    /// A key without `*` is an exact module name: a dotted name
    /// (`json.decoder`), `__main__` for the entry script, a pseudo-name in
    /// angle brackets (`<frozen importlib._bootstrap>`, `<string>`), or a
    /// path for files outside every import root. Keys in angle brackets or
    /// containing `/` are always exact names, even with a `*`.
    ///
    /// Any other key with a `*` is a glob over dotted names: `*` matches any
    /// run of characters within one dotted component (`pkg.test_*` matches
    /// `pkg.test_io`, not `pkg.test_io.x`; `*.tests` matches `a.tests`, not
    /// `a.b.tests`), and a final `.*` covers a package as a whole: `pkg.*`
    /// matches `pkg` itself and every module under it at any depth. A bare
    /// `*` matches every dotted name. Globs never match pseudo-names or paths.
    ///
    /// Precedence: an exact key beats every glob; among globs, the longest
    /// literal prefix (text before the first `*`) wins, then more literal
    /// characters, then a fixed-depth glob over a package-wide one, then the
    /// smaller key. A key may appear only once.
    #[serde(default, deserialize_with = "de::modules")]
    pub modules: BTreeMap<ModulePattern, SyscallSet>,
    /// Module -> the argument values its value-carrying rights may use:
    /// `exec` (programs executed by `execve`/`execveat`), `write` (paths
    /// created, opened for writing, truncated, renamed, unlinked, linked,
    /// made, `chmod`ed or `chown`ed), `connect` (addresses of `connect`,
    /// `sendto`, `sendmsg`) and `bind` (addresses bound).
    ///
    /// Every key must also be a key of `modules`, spelled the same: the
    /// entry narrows the rights that key grants. A kind that is absent is not
    /// restricted (any value); a kind that is present, even as `[]`, allows
    /// only the values its patterns match.
    ///
    /// Path patterns (`exec`, `write`, `unix:` addresses) are absolute and
    /// lexically normal: `/a/b` (exactly), `/a/b/*` (the entries directly in
    /// /a/b), `/a/b/**` (anything below /a/b), `/**` (any path). Address
    /// patterns (`connect`, `bind`) are `IPv4[/len]:PORT`,
    /// `[IPv6][/len]:PORT` (PORT a number or `*`), `unix:PATH-PATTERN` and
    /// `unix:@NAME` (an abstract socket).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::arguments"
    )]
    pub arguments: BTreeMap<ModulePattern, Arguments>,
}

/// What happens on a violation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Report the violation and let the syscall run (detection only).
    #[default]
    Log,
    /// Report it and kill the process with SIGKILL at syscall entry. An exec
    /// never starts the new program; other syscalls may still complete.
    Kill,
    /// Report it and stop the process with SIGSTOP at syscall entry, so it can
    /// be inspected (a debugger, `/proc`) and then killed or continued.
    Stop,
    /// Report it and fail the syscall with EPERM before it has any effect;
    /// the program goes on (the seccomp backend: `secimport run --backend
    /// seccomp`, or `auto` without root).
    Deny,
}

/// How modules that the policy does not cover are judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownRule {
    /// They may make base syscalls only (and the fixed harmless set).
    #[default]
    BaseOnly,
    /// They do not restrict anything: the other modules on the stack decide.
    Allow,
    /// Any syscall, even a base one, made while one of them is on the stack is
    /// a violation.
    Deny,
}

impl Mode {
    /// The name a policy file uses: `log`, `kill`, `stop` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Log => "log",
            Mode::Kill => "kill",
            Mode::Stop => "stop",
            Mode::Deny => "deny",
        }
    }
}

impl UnknownRule {
    /// The name a policy file uses: `base-only`, `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownRule::BaseOnly => "base-only",
            UnknownRule::Allow => "allow",
            UnknownRule::Deny => "deny",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for UnknownRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `apiVersion` field. A policy in memory is always [`ApiVersion::V2`]:
/// a v1 file is upgraded as it is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    V1,
    #[default]
    V2,
}

/// The `kind` field; it only ever holds [`KIND`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Kind;

/// One right, known by the name policies use for it: a syscall by its x86-64
/// table name (`openat`), `syscall_N` for a number below 512 that the table
/// does not name, or an argument class `syscall:class` (`openat:write`; see
/// [`crate::rights`]). Sets of them sort by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Syscall {
    name: String,
    nr: u32,
}

impl Syscall {
    /// The right a policy calls `name`, if any. The plain name of a syscall
    /// that is always classed (`socket`) is not a right.
    pub fn parse(name: &str) -> Option<Syscall> {
        if let Some(class) = crate::rights::class_named(name) {
            return Some(Syscall {
                name: name.to_string(),
                nr: class.right,
            });
        }
        if crate::rights::ALWAYS_CLASSED.contains(&name) {
            return None;
        }
        if let Some(nr) = crate::syscalls::number(name) {
            return Some(Syscall {
                name: name.to_string(),
                nr,
            });
        }
        let nr = unnamed_number(name)?;
        (nr < crate::syscalls::SYSCALL_BITS && crate::syscalls::name(nr).is_none()).then(|| {
            Syscall {
                name: name.to_string(),
                nr,
            }
        })
    }

    /// Right `nr` (a syscall number or a class number) under the name
    /// policies use, if the bitmap can hold it.
    pub fn from_number(nr: u32) -> Option<Syscall> {
        if nr >= crate::syscalls::SYSCALL_BITS {
            let class = crate::rights::class(nr)?;
            return Some(Syscall {
                name: format!("{}:{}", class.syscall, class.class),
                nr,
            });
        }
        let name = match crate::syscalls::name(nr) {
            Some(name) => name.to_string(),
            None => format!("syscall_{nr}"),
        };
        Some(Syscall { name, nr })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The right's number: the syscall number, or the class number.
    pub fn number(&self) -> u32 {
        self.nr
    }

    /// The syscall this right is a form of (`openat` for `openat:write`).
    pub fn syscall_name(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }

    /// The argument class, if this is one.
    pub fn class(&self) -> Option<crate::rights::ArgClass> {
        crate::rights::class(self.nr)
    }
}

/// `N` of a `syscall_N` name (digits only, no sign or leading zeros).
fn unnamed_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("syscall_")?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The two file formats of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// By extension: `.yaml` / `.yml` or `.json` (any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        })
    }
}

/// Why a policy file could not be used. The `Display` form is the whole
/// message for the user: file, position, what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Missing, unreadable, not a regular file, larger than
    /// [`crate::files::MAX_INPUT_BYTES`] or not UTF-8. The message already
    /// includes `error`, so it is not also a `source()` (printing the chain
    /// with `{:#}` would say it twice).
    #[error("cannot read policy {path}: {error}")]
    Io {
        path: String,
        error: crate::files::ReadError,
    },
    #[error(
        "{path}: cannot tell the format of a policy from its name; policy files end in .yaml, \
         .yml or .json"
    )]
    UnknownFormat { path: String },
    /// Not valid YAML/JSON, or not the shape of a policy (unknown or missing
    /// field, wrong type); `message` is the parser's.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed, but a value is not acceptable.
    #[error("{path}:{line}:{column}: {problem}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        problem: Problem,
    },
}

impl PolicyError {
    /// `(line, column)` of the error in the file, both from 1, if it has one.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            PolicyError::Syntax { line, column, .. }
            | PolicyError::Invalid { line, column, .. } => Some((*line, *column)),
            PolicyError::Io { .. } | PolicyError::UnknownFormat { .. } => None,
        }
    }
}

impl Policy {
    /// An empty policy called `name`: nothing but what `Spec::default()` allows.
    pub fn new(name: impl Into<String>) -> Policy {
        Policy {
            api_version: ApiVersion::V2,
            kind: Kind,
            metadata: Metadata {
                name: name.into(),
                ..Metadata::default()
            },
            spec: Spec::default(),
        }
    }

    /// Reads a policy file, YAML or JSON by its extension. It must be a
    /// regular file (or a symlink to one) of at most
    /// [`crate::files::MAX_INPUT_BYTES`]: a FIFO, a device, a directory or a
    /// larger file is refused before anything is read.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let display = path.display().to_string();
        let format = Format::from_path(path).ok_or_else(|| PolicyError::UnknownFormat {
            path: display.clone(),
        })?;
        let text = crate::files::read_text(path).map_err(|error| PolicyError::Io {
            path: display.clone(),
            error,
        })?;
        Policy::parse(&text, &display, format)
    }

    /// Parses the text of a policy; `path` is only used in messages. A
    /// leading byte-order mark is ignored.
    pub fn parse(text: &str, path: &str, format: Format) -> Result<Policy, PolicyError> {
        de::parse(text, path, format)
    }

    /// The policy as YAML: fields in a fixed order, keys and syscall lists
    /// sorted, lists in flow style wrapped at 100 columns, trailing newline.
    pub fn to_yaml(&self) -> String {
        yaml::to_yaml(self)
    }

    /// The policy as pretty JSON (the same data as [`Policy::to_yaml`]), with a
    /// trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a policy always serializes");
        s.push('\n');
        s
    }

    /// The policy in `format`.
    pub fn to_format(&self, format: Format) -> String {
        match format {
            Format::Yaml => self.to_yaml(),
            Format::Json => self.to_json(),
        }
    }

    /// The bitmaps and lookup structures the kernel side needs.
    pub fn compile(&self) -> Compiled {
        Compiled::new(self)
    }
}

/// What a `secimport.dev/v1` policy meant, in v2 terms. In v1 a syscall name
/// allowed every form of the syscall wherever it was listed (the kernel only
/// kept the dangerous forms out of the shared sets), and `mmap`/`mprotect`
/// were allowed whatever their protection. So every listed name gains its
/// argument classes (the dangerous ones only in module lists and `children`,
/// where v1 allowed them too), and the executable-memory classes are
/// granted wherever v1 allowed memory mapping: everywhere. Returns the
/// policy as v2.
pub fn upgrade_v1(mut policy: Policy) -> Policy {
    fn widen(set: &mut SyscallSet, shared: bool) {
        let mut added = SyscallSet::new();
        for syscall in set.iter() {
            for class in crate::rights::classes_of(syscall.name()) {
                if shared && class.kind == crate::rights::ClassKind::Dangerous {
                    continue;
                }
                added.extend(Syscall::from_number(class.right));
            }
        }
        for always in ["mmap", "mprotect", "pkey_mprotect"] {
            added.extend(
                crate::rights::classes_of(always).filter_map(|c| Syscall::from_number(c.right)),
            );
        }
        set.extend(added);
    }
    let spec = &mut policy.spec;
    let always_classed = |set: &mut SyscallSet| {
        set.retain(|s| !crate::rights::ALWAYS_CLASSED.contains(&s.name()));
    };
    widen(&mut spec.base, true);
    widen(&mut spec.startup, true);
    widen(&mut spec.frameless, true);
    widen(&mut spec.children, false);
    for set in spec.modules.values_mut() {
        widen(set, false);
    }
    for set in [
        &mut spec.base,
        &mut spec.startup,
        &mut spec.frameless,
        &mut spec.children,
    ] {
        always_classed(set);
    }
    for set in spec.modules.values_mut() {
        always_classed(set);
    }
    policy.api_version = ApiVersion::V2;
    policy
}

/// The JSON Schema of policy files, generated from these types (committed as
/// `schemas/policy.schema.json`), with a trailing newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Policy);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    s.push('\n');
    s
}

// Serialization and schemas of the small value types.

impl Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            ApiVersion::V1 => API_VERSION_V1,
            ApiVersion::V2 => API_VERSION,
        })
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(KIND)
    }
}

impl Serialize for Syscall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl Serialize for ModulePattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn const_string_schema(value: &str, description: &str) -> schemars::schema::Schema {
    use schemars::schema::{InstanceType, Metadata as SchemaMetadata, SchemaObject};
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        const_value: Some(value.into()),
        metadata: Some(Box::new(SchemaMetadata {
            description: Some(description.to_string()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .into()
}

impl JsonSchema for ApiVersion {
    fn schema_name() -> String {
        "ApiVersion".to_string()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        use schemars::schema::{InstanceType, Metadata as SchemaMetadata, SchemaObject};
        SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            enum_values: Some(vec![API_VERSION.into(), API_VERSION_V1.into()]),
            metadata: Some(Box::new(SchemaMetadata {
                description: Some(format!(
                    "The version of the policy format: `{API_VERSION}`; `{API_VERSION_V1}` files \
                     are read and upgraded (a syscall listed in v1 allowed all its argument \
                     classes)."
                )),
                ..Default::default()
            })),
            ..Default::default()
        }
        .into()
    }
}

impl JsonSchema for Kind {
    fn schema_name() -> String {
        "Kind".to_string()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        const_string_schema(KIND, "The kind of document.")
    }
}

impl JsonSchema for Syscall {
    fn schema_name() -> String {
        "Syscall".to_string()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        use schemars::schema::{
            InstanceType, Metadata as SchemaMetadata, SchemaObject, StringValidation,
            SubschemaValidation,
        };
        let mut names: Vec<String> = crate::syscalls::all()
            .map(|(_, n)| n)
            .filter(|n| !crate::rights::ALWAYS_CLASSED.contains(n))
            .map(str::to_string)
            .chain(crate::rights::classes().map(|c| format!("{}:{}", c.syscall, c.class)))
            .collect();
        names.sort_unstable();
        let named = SchemaObject {
            enum_values: Some(names.into_iter().map(Into::into).collect()),
            ..Default::default()
        };
        let numbered = SchemaObject {
            string: Some(Box::new(StringValidation {
                pattern: Some("^syscall_(0|[1-9][0-9]*)$".to_string()),
                ..Default::default()
            })),
            ..Default::default()
        };
        SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            metadata: Some(Box::new(SchemaMetadata {
                description: Some(format!(
                    "A right: an x86-64 Linux syscall by its kernel table name (Linux {}), as \
                     strace prints it (`openat`, `newfstatat`, `clone3`), or one of its argument \
                     classes `syscall:class` (`openat:write`: open for writing, creating, \
                     truncating or appending; `clone:process`; `socket:inet`; `mmap:exec`; the \
                     plain name is the form no class describes). `socket`, `connect` and `bind` \
                     are always named by a class. `syscall_N` names a number below 512 that the \
                     table has no name for.",
                    crate::syscalls::LINUX_VERSION
                )),
                ..Default::default()
            })),
            subschemas: Some(Box::new(SubschemaValidation {
                any_of: Some(vec![named.into(), numbered.into()]),
                ..Default::default()
            })),
            ..Default::default()
        }
        .into()
    }
}
