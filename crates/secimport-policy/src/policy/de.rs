//! Reading policies: values are checked while they are deserialized, so every
//! error carries the position of the value at fault.
//!
//! serde_norway (the YAML reader: a maintained fork of serde_yaml 0.9) and
//! serde_json attach the position of the current token to an
//! error raised by a `Deserialize` impl, but keep only its text. The structured
//! [`Problem`] travels beside it in a thread-local and is joined with the
//! position when the parse fails.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::show::shown;
use crate::syscalls::SYSCALL_BITS;

use super::{
    ApiVersion, Format, Kind, ModulePattern, PatternError, Policy, PolicyError, Syscall,
    SyscallSet, API_VERSION, KIND,
};
use crate::arguments::{AddrPattern, ArgumentError, Arguments, PathPattern};

/// What is wrong with a well-formed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file has nothing in it.
    Empty,
    /// No `apiVersion`; `trace` when the file is a secimport trace instead.
    NotAPolicy { trace: bool },
    /// `apiVersion` is not [`API_VERSION`].
    WrongApiVersion { found: String },
    /// `kind` is not [`KIND`].
    WrongKind { found: String },
    /// A syscall name not in the table; `place` says where: `spec.base`,
    /// `spec.children`, or ``module `json.decoder` `` for a module's list.
    UnknownSyscall {
        name: String,
        place: String,
        suggestion: Option<String>,
    },
    /// A key of `spec.modules` is not a valid glob.
    BadModuleKey { key: String, error: PatternError },
    /// A key of `spec.modules` appears twice.
    DuplicateModuleKey { key: String },
    /// Any other key appears twice in one mapping; `place` names the mapping
    /// (`spec`, `metadata`, `the document` for the top level).
    DuplicateKey { key: String, place: String },
    /// A key of `spec.programs` that is not an absolute path.
    BadProgram { path: String },
    /// A dangerous syscall in a set that applies whatever the module
    /// (`spec.base`, `spec.startup`, `spec.frameless`).
    DangerousShared { name: String, place: String },
    /// A key of `spec.arguments` is not a valid glob.
    BadArgumentsKey { key: String, error: PatternError },
    /// A key of `spec.arguments` that is not a key of `spec.modules`.
    ArgumentsWithoutModule { key: String },
    /// A kind in a module's `spec.arguments` entry other than `exec`,
    /// `write`, `connect` and `bind`.
    UnknownArgumentKind { module: String, kind: String },
    /// A pattern of `spec.arguments` that is not valid for its kind (the
    /// error is boxed to keep [`PolicyError`] small).
    BadArgument {
        module: String,
        kind: crate::arguments::Kind,
        value: String,
        error: Box<ArgumentError>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => write!(
                f,
                "the policy file is empty; a policy starts with `apiVersion: {API_VERSION}` and \
                 `kind: {KIND}` (`secimport build` writes one from a trace)"
            ),
            Problem::NotAPolicy { trace: true } => f.write_str(
                "this is a secimport trace, not a policy; build a policy from it with \
                 `secimport build --trace FILE`",
            ),
            Problem::NotAPolicy { trace: false } => write!(
                f,
                "not a secimport policy: there is no `apiVersion: {API_VERSION}` at the top level"
            ),
            Problem::WrongApiVersion { found } => write!(
                f,
                "unsupported apiVersion `{}`: this secimport reads `apiVersion: {API_VERSION}` \
                 (and upgrades `{}` files as it reads them)",
                shown(found),
                super::API_VERSION_V1
            ),
            Problem::WrongKind { found } => write!(
                f,
                "kind `{}` is not a policy; expected `kind: {KIND}`",
                shown(found)
            ),
            Problem::UnknownSyscall {
                name,
                place,
                suggestion,
            } => {
                let syscall = name.split(':').next().unwrap_or(name);
                let classes: Vec<String> = crate::rights::classes_of(syscall)
                    .map(|c| format!("{}:{}", c.syscall, c.class))
                    .collect();
                if classes.is_empty()
                    && name.contains(':')
                    && crate::syscalls::number(syscall).is_some()
                {
                    let known: Vec<String> = crate::rights::classes()
                        .map(|c| format!("{}:{}", c.syscall, c.class))
                        .collect();
                    return write!(
                        f,
                        "`{}` in {place} is not a right: `{syscall}` has no argument classes (write \
                         it plain); the classes are {}",
                        shown(name),
                        known.join(", ")
                    );
                }
                if !classes.is_empty() {
                    let plain = crate::rights::ALWAYS_CLASSED.contains(&syscall);
                    return write!(
                        f,
                        "`{}` in {place} is not a right: `{syscall}` is named by its argument \
                         classes {}{}; list the ones needed",
                        shown(name),
                        classes.join(", "),
                        if plain {
                            ""
                        } else {
                            " (or plain, for the form no class describes)"
                        }
                    );
                }
                write!(f, "unknown syscall `{}` in {place}; ", shown(name))?;
                let number = name
                    .strip_prefix("syscall_")
                    .and_then(|n| n.parse::<u64>().ok());
                match suggestion {
                    Some(s) => write!(f, "did you mean `{s}`?"),
                    None if number.is_some_and(|n| n >= u64::from(SYSCALL_BITS)) => write!(
                        f,
                        "the sandbox can only rule syscall numbers below {SYSCALL_BITS}"
                    ),
                    None => write!(
                        f,
                        "use x86-64 Linux {} syscall names as strace prints them (`openat`, \
                         `newfstatat`)",
                        crate::syscalls::LINUX_VERSION
                    ),
                }
            }
            Problem::BadModuleKey { key, error } => write!(
                f,
                "invalid module key `{}` in spec.modules: {error}",
                shown(key)
            ),
            Problem::DangerousShared { name, place } => write!(
                f,
                "`{}` cannot be in {place}: it is a dangerous syscall (exec, process \
                 creation, networking, other processes, file-system changes), which is only ever \
                 allowed to the modules that need it; list it under those modules in spec.modules",
                shown(name)
            ),
            Problem::BadProgram { path } => write!(
                f,
                "program `{}` in spec.programs is not an absolute path; name programs by where \
                 they are (`/usr/bin/git`)",
                shown(path)
            ),
            Problem::DuplicateModuleKey { key } => write!(
                f,
                "module key `{}` appears twice in spec.modules; merge the two lists into one \
                 entry",
                shown(key)
            ),
            Problem::BadArgumentsKey { key, error } => write!(
                f,
                "invalid module key `{}` in spec.arguments: {error}",
                shown(key)
            ),
            Problem::ArgumentsWithoutModule { key } => write!(
                f,
                "`{0}` in spec.arguments is not a key of spec.modules; arguments narrow the \
                 rights of a module entry: add `{0}` to spec.modules (spelled the same) or remove \
                 its arguments",
                shown(key)
            ),
            Problem::UnknownArgumentKind { module, kind } => write!(
                f,
                "unknown argument kind `{}` for module `{}` in spec.arguments; the kinds are \
                 exec, write, connect and bind",
                shown(kind),
                shown(module)
            ),
            Problem::BadArgument {
                module,
                kind,
                value,
                error,
            } => write!(
                f,
                "invalid {kind} pattern `{}` for module `{}` in spec.arguments: {error}; {}",
                shown(value),
                shown(module),
                kind.syntax()
            ),
            Problem::DuplicateKey { key, place } => write!(
                f,
                "`{}` appears twice in {}; a key may appear only once (remove one of them)",
                shown(key),
                shown(place)
            ),
        }
    }
}

thread_local! {
    static PROBLEM: RefCell<Option<Problem>> = const { RefCell::new(None) };
    /// The document being read is `secimport.dev/v1`: the plain names of
    /// always-classed syscalls (`socket`) are read, for `upgrade_v1`.
    static READING_V1: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records `problem` for [`parse`] and returns the error that carries its text
/// (and, once the parser has added it, its position).
fn raise<E: de::Error>(problem: Problem) -> E {
    let message = problem.to_string();
    PROBLEM.with(|p| *p.borrow_mut() = Some(problem));
    E::custom(message)
}

fn take_problem() -> Option<Problem> {
    PROBLEM.with(|p| p.borrow_mut().take())
}

/// The top-level fields that decide whether this is a policy at all; checked
/// first so that a trace or some other file gets a message about that rather
/// than about its first unknown field.
#[derive(Deserialize)]
#[serde(expecting = "a secimport policy: a mapping with apiVersion, kind, metadata and spec")]
struct Envelope {
    #[serde(rename = "apiVersion")]
    api_version: Option<ApiVersion>,
    #[allow(dead_code)]
    kind: Option<Kind>,
    /// What traces have instead of `apiVersion`.
    format: Option<serde_norway::Value>,
}

pub(super) fn parse(text: &str, path: &str, format: Format) -> Result<Policy, PolicyError> {
    let invalid_at_start = |problem| PolicyError::Invalid {
        path: path.to_string(),
        line: 1,
        column: 1,
        problem,
    };
    // A byte-order mark is not part of the document (editors write one).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(invalid_at_start(Problem::Empty));
    }
    // serde reports a repeated field where its mapping starts; find it first.
    if let Some((line, column, problem)) = duplicate_key(text, format) {
        return Err(PolicyError::Invalid {
            path: path.to_string(),
            line,
            column,
            problem,
        });
    }
    let envelope: Envelope = deserialize(text, path, format)?;
    if envelope.api_version.is_none() {
        let trace = envelope
            .format
            .as_ref()
            .and_then(serde_norway::Value::as_str)
            .is_some_and(|f| f == crate::trace::TRACE_FORMAT);
        return Err(invalid_at_start(Problem::NotAPolicy { trace }));
    }
    READING_V1.with(|v| v.set(matches!(envelope.api_version, Some(ApiVersion::V1))));
    let policy = deserialize::<Policy>(text, path, format);
    READING_V1.with(|v| v.set(false));
    let policy = policy?;
    let spec = &policy.spec;
    if let Some(key) = spec
        .arguments
        .keys()
        .find(|key| !spec.modules.contains_key(key.as_str()))
    {
        let (line, column) =
            key_position(text, format, &["spec", "arguments"], key.as_str()).unwrap_or((1, 1));
        return Err(PolicyError::Invalid {
            path: path.to_string(),
            line,
            column,
            problem: Problem::ArgumentsWithoutModule {
                key: key.to_string(),
            },
        });
    }
    Ok(match policy.api_version {
        ApiVersion::V1 => super::upgrade_v1(policy),
        ApiVersion::V2 => policy,
    })
}

fn deserialize<T: de::DeserializeOwned>(
    text: &str,
    path: &str,
    format: Format,
) -> Result<T, PolicyError> {
    take_problem();
    let result = match format {
        Format::Yaml => serde_norway::from_str(text).map_err(|e| yaml_error(&e, text)),
        Format::Json => serde_json::from_str(text).map_err(|e| json_error(&e, text)),
    };
    let problem = take_problem();
    result.map_err(|(line, column, message)| match problem {
        Some(problem) => PolicyError::Invalid {
            path: path.to_string(),
            line,
            column,
            problem,
        },
        None => PolicyError::Syntax {
            path: path.to_string(),
            line,
            column,
            message: crate::show::message(&message),
        },
    })
}

/// `(line, column, message without its position)`.
fn yaml_error(e: &serde_norway::Error, text: &str) -> (usize, usize, String) {
    let mut message = e.to_string();
    // Errors of the reader (a control character, say) give a byte offset,
    // and a location of 1:1.
    let reader_error = message.rfind(" at position ").and_then(|at| {
        let digits = &message[at + " at position ".len()..];
        digits.parse::<usize>().ok().map(|offset| (at, offset))
    });
    if let Some((start, offset)) = reader_error {
        message.truncate(start);
        let (line, column) = line_column(text, offset);
        return (line, column, message);
    }
    let Some(location) = e.location() else {
        return (1, 1, message);
    };
    let (line, column) = (location.line(), location.column());
    let suffix = format!(" at line {line} column {column}");
    if let Some(at) = message.find(&suffix) {
        message.replace_range(at..at + suffix.len(), "");
    }
    (line, column, message)
}

/// `(line, column, message without its position)`, the column counted in
/// characters and, when the error came right after a string (a key or a
/// value), pointing at that string's opening quote rather than past its end.
pub(crate) fn json_error(e: &serde_json::Error, text: &str) -> (usize, usize, String) {
    let mut message = e.to_string();
    let (line, column) = (e.line(), e.column());
    if line == 0 {
        return (1, 1, message);
    }
    let suffix = format!(" at line {line} column {column}");
    if let Some(at) = message.strip_suffix(&suffix).map(str::len) {
        message.truncate(at);
    }
    let line_start = line_offset(text, line);
    let line_text = text[line_start..].split('\n').next().unwrap_or("");
    // serde_json's column counts bytes; for errors raised after a string it
    // points just past the closing quote, for syntax errors at the culprit.
    let at = (column.max(1) - 1).min(line_text.len());
    let at = match string_start(line_text.as_bytes(), at) {
        Some(quote) if e.classify() == serde_json::error::Category::Data => quote,
        _ => at,
    };
    let at = floor_char_boundary(line_text, at);
    (line, line_text[..at].chars().count() + 1, message)
}

/// `(line, column)` of byte `offset` in `text`, both from 1, the column in
/// characters.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let at = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Byte offset of the start of 1-based `line`.
fn line_offset(text: &str, line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 2)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// If a JSON string ends at or just before byte `at` of `line`, the offset of
/// its opening quote.
fn string_start(line: &[u8], at: usize) -> Option<usize> {
    let close = (at.saturating_sub(1)..=at.min(line.len().saturating_sub(1)))
        .rev()
        .find(|&i| line.get(i) == Some(&b'"') && !escaped(line, i))?;
    // Inside a JSON string every `"` is escaped, so the first unescaped one
    // before the closing quote opens it.
    (0..close)
        .rev()
        .find(|&i| line[i] == b'"' && !escaped(line, i))
}

/// True if the byte at `i` is preceded by an odd number of backslashes.
fn escaped(line: &[u8], i: usize) -> bool {
    line[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

// Duplicate keys.

/// The first key that appears twice in one mapping, anywhere in `text`, at
/// the position of its second occurrence. Other errors are left to the real
/// parse (which meets them at the same place).
pub(crate) fn duplicate_key(text: &str, format: Format) -> Option<(usize, usize, Problem)> {
    take_problem();
    let seed = Unique { path: None };
    let result = match format {
        Format::Yaml => serde_norway::Deserializer::from_str(text)
            .next()
            .map_or(Ok(None), |d| seed.deserialize(d))
            .map_err(|e| yaml_error(&e, text)),
        Format::Json => {
            let mut d = serde_json::Deserializer::from_str(text);
            seed.deserialize(&mut d).map_err(|e| json_error(&e, text))
        }
    };
    let problem = take_problem();
    match (result, problem) {
        (
            Err((line, column, _)),
            Some(problem @ (Problem::DuplicateKey { .. } | Problem::DuplicateModuleKey { .. })),
        ) => Some((line, column, problem)),
        _ => None,
    }
}

/// Walks any value, refusing a key seen before in the same mapping; the
/// value is the text of a scalar (to compare keys), `None` for the rest.
/// `path` is the dotted path of the value (`None` at the top level).
#[derive(Clone, Copy)]
struct Unique<'a> {
    path: Option<&'a str>,
}

/// A scalar as a key: its kind (so that `1` and `"1"` differ) and its text.
type KeyText = Option<(char, String)>;

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = KeyText;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KeyText, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = KeyText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
        Ok(Some(('b', v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
        Ok(Some(('n', v.to_string())))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<KeyText, E> {
        Ok(Some(('n', v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
        Ok(Some(('n', v.to_string())))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<KeyText, E> {
        Ok(Some(('n', v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
        Ok(Some(('f', v.to_string())))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
        Ok(Some(('s', v.to_string())))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<KeyText, E> {
        Ok(Some(('s', String::from_utf8_lossy(v).into_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
        Ok(Some(('u', "null".to_string())))
    }

    fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<KeyText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<KeyText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyText, A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyText, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key_seed(UniqueKey {
            value: self,
            seen: &mut seen,
        })? {
            let child = match (self.path, key) {
                (None, Some((_, key))) => key,
                (Some(path), Some((_, key))) => format!("{path}.{key}"),
                (path, None) => format!("{}.?", path.unwrap_or("")),
            };
            map.next_value_seed(Unique { path: Some(&child) })?;
        }
        Ok(None)
    }

    /// A YAML value with a tag (`!tag value`).
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<KeyText, A::Error> {
        use de::VariantAccess;
        let (_, variant) = data.variant_seed(std::marker::PhantomData::<de::IgnoredAny>)?;
        variant.newtype_variant_seed(self).map(|_| None)
    }
}

/// A key of a mapping: refused, while its position is known, if `seen`
/// already holds it.
struct UniqueKey<'a, 's> {
    value: Unique<'a>,
    seen: &'s mut std::collections::HashSet<(char, String)>,
}

impl UniqueKey<'_, '_> {
    fn check<E: de::Error>(self, key: KeyText) -> Result<KeyText, E> {
        let Some(key) = key else { return Ok(None) };
        if self.seen.insert(key.clone()) {
            return Ok(Some(key));
        }
        Err(raise(match self.value.path {
            Some("spec.modules") => Problem::DuplicateModuleKey { key: key.1 },
            Some(place) => Problem::DuplicateKey {
                key: key.1,
                place: place.to_string(),
            },
            None => Problem::DuplicateKey {
                key: key.1,
                place: "the document".to_string(),
            },
        }))
    }
}

impl<'de> DeserializeSeed<'de> for UniqueKey<'_, '_> {
    type Value = KeyText;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KeyText, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKey<'_, '_> {
    type Value = KeyText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
        let key = self.value.visit_bool(v)?;
        self.check(key)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
        let key = self.value.visit_i64(v)?;
        self.check(key)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<KeyText, E> {
        let key = self.value.visit_i128(v)?;
        self.check(key)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
        let key = self.value.visit_u64(v)?;
        self.check(key)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<KeyText, E> {
        let key = self.value.visit_u128(v)?;
        self.check(key)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
        let key = self.value.visit_f64(v)?;
        self.check(key)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
        let key = self.value.visit_str(v)?;
        self.check(key)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<KeyText, E> {
        let key = self.value.visit_bytes(v)?;
        self.check(key)
    }

    fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
        let key = self.value.visit_unit()?;
        self.check(key)
    }

    fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<KeyText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<KeyText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<KeyText, A::Error> {
        self.value.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KeyText, A::Error> {
        self.value.visit_map(map)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<KeyText, A::Error> {
        self.value.visit_enum(data)
    }
}

// The checking deserializers.

/// Checks a constant field (`apiVersion`, `kind`) inside the visitor, where
/// the parsers still know the position of the value.
struct Constant<T> {
    expected: &'static str,
    value: T,
    problem: fn(String) -> Problem,
}

impl<T> Visitor<'_> for Constant<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "`{}`", self.expected)
    }

    fn visit_str<E: de::Error>(self, found: &str) -> Result<T, E> {
        if found == self.expected {
            Ok(self.value)
        } else {
            Err(raise((self.problem)(found.to_string())))
        }
    }
}

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Versions;
        impl Visitor<'_> for Versions {
            type Value = ApiVersion;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "`{API_VERSION}`")
            }
            fn visit_str<E: de::Error>(self, found: &str) -> Result<ApiVersion, E> {
                match found {
                    API_VERSION => Ok(ApiVersion::V2),
                    super::API_VERSION_V1 => Ok(ApiVersion::V1),
                    _ => Err(raise(Problem::WrongApiVersion {
                        found: found.to_string(),
                    })),
                }
            }
        }
        d.deserialize_str(Versions)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Constant {
            expected: KIND,
            value: Kind,
            problem: |found| Problem::WrongKind { found },
        })
    }
}

/// Reads one syscall name; `place` is for the message. `shared`: the set
/// applies whatever the module, so dangerous syscalls are refused.
struct SyscallSeed<'a> {
    place: &'a str,
    shared: bool,
}

impl<'de> DeserializeSeed<'de> for SyscallSeed<'_> {
    type Value = Syscall;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Syscall, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for SyscallSeed<'_> {
    type Value = Syscall;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a syscall name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Syscall, E> {
        if self.shared && crate::classes::is_dangerous(name) {
            return Err(raise(Problem::DangerousShared {
                name: name.to_string(),
                place: self.place.to_string(),
            }));
        }
        if crate::rights::ALWAYS_CLASSED.contains(&name) && READING_V1.with(|v| v.get()) {
            // upgrade_v1 replaces it by its classes.
            if let Some(plain) = crate::syscalls::number(name).and_then(Syscall::from_number) {
                return Ok(plain);
            }
        }
        Syscall::parse(name).ok_or_else(|| {
            raise(Problem::UnknownSyscall {
                name: name.to_string(),
                place: self.place.to_string(),
                suggestion: suggestion(name),
            })
        })
    }
}

/// "Did you mean": the closest name, or the name of a `syscall_N` that has one;
/// for `syscall:class`, the closest argument class.
fn suggestion(name: &str) -> Option<String> {
    if name.contains(':') {
        let classes: Vec<String> = crate::rights::classes()
            .map(|c| format!("{}:{}", c.syscall, c.class))
            .collect();
        let wanted = name.trim().to_ascii_lowercase();
        return crate::syscalls::closest(&wanted, classes.iter().map(String::as_str))
            .filter(|s| *s != name)
            .map(str::to_string);
    }
    let by_number = name
        .strip_prefix("syscall_")
        .and_then(|n| n.parse::<u32>().ok())
        .and_then(crate::syscalls::name);
    by_number
        .or_else(|| crate::syscalls::suggest(name))
        .filter(|s| *s != name)
        .map(str::to_string)
}

impl<'de> Deserialize<'de> for Syscall {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SyscallSeed {
            place: "a syscall list",
            shared: false,
        }
        .deserialize(d)
    }
}

/// Reads a list of syscall names; duplicates are ignored.
struct SyscallListSeed<'a> {
    place: &'a str,
    shared: bool,
}

impl<'de> DeserializeSeed<'de> for SyscallListSeed<'_> {
    type Value = SyscallSet;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SyscallSet, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SyscallListSeed<'_> {
    type Value = SyscallSet;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of syscall names, like [openat, read] ([] for none)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SyscallSet, A::Error> {
        let mut set = BTreeSet::new();
        while let Some(syscall) = seq.next_element_seed(SyscallSeed {
            place: self.place,
            shared: self.shared,
        })? {
            set.insert(syscall);
        }
        Ok(set)
    }
}

pub(super) fn base<'de, D: Deserializer<'de>>(d: D) -> Result<SyscallSet, D::Error> {
    SyscallListSeed {
        place: "spec.base",
        shared: true,
    }
    .deserialize(d)
}

pub(super) fn startup<'de, D: Deserializer<'de>>(d: D) -> Result<SyscallSet, D::Error> {
    SyscallListSeed {
        place: "spec.startup",
        shared: true,
    }
    .deserialize(d)
}

pub(super) fn frameless<'de, D: Deserializer<'de>>(d: D) -> Result<SyscallSet, D::Error> {
    SyscallListSeed {
        place: "spec.frameless",
        shared: true,
    }
    .deserialize(d)
}

pub(super) fn children<'de, D: Deserializer<'de>>(d: D) -> Result<SyscallSet, D::Error> {
    SyscallListSeed {
        place: "spec.children",
        shared: false,
    }
    .deserialize(d)
}

pub(super) fn programs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, SyscallSet>, D::Error> {
    d.deserialize_map(ProgramsVisitor)
}

struct ProgramsVisitor;

impl<'de> Visitor<'de> for ProgramsVisitor {
    type Value = BTreeMap<String, SyscallSet>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of program path -> list of syscall names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut programs = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if !key.starts_with('/') || key.contains('\0') || key.len() > 4095 {
                return Err(raise(Problem::BadProgram { path: key }));
            }
            if programs.contains_key(&key) {
                return Err(raise(Problem::DuplicateKey {
                    key,
                    place: "spec.programs".to_string(),
                }));
            }
            let place = format!("program `{}`", shown(&key));
            let syscalls = map.next_value_seed(SyscallListSeed {
                place: &place,
                shared: false,
            })?;
            programs.insert(key, syscalls);
        }
        Ok(programs)
    }
}

pub(super) fn modules<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<ModulePattern, SyscallSet>, D::Error> {
    d.deserialize_map(ModulesVisitor)
}

struct ModulesVisitor;

impl<'de> Visitor<'de> for ModulesVisitor {
    type Value = BTreeMap<ModulePattern, SyscallSet>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of module name or glob -> list of syscall names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut modules = BTreeMap::new();
        while let Some(key) = map.next_key_seed(ModuleKeySeed {
            seen: &|key| modules.contains_key(key),
            arguments: false,
        })? {
            let place = format!("module `{key}`");
            let syscalls = map.next_value_seed(SyscallListSeed {
                place: &place,
                shared: false,
            })?;
            modules.insert(key, syscalls);
        }
        Ok(modules)
    }
}

/// Reads a key of `spec.modules`, refusing bad globs and keys already `seen`
/// (serde_json would silently keep the last of two, serde_norway would too
/// through a hand-written map visitor like this one).
struct ModuleKeySeed<'a> {
    seen: &'a dyn Fn(&str) -> bool,
    /// A key of `spec.arguments` rather than `spec.modules`.
    arguments: bool,
}

impl<'de> DeserializeSeed<'de> for ModuleKeySeed<'_> {
    type Value = ModulePattern;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ModulePattern, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ModuleKeySeed<'_> {
    type Value = ModulePattern;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a module name or glob")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<ModulePattern, E> {
        let pattern = ModulePattern::parse(key).map_err(|error| {
            let key = key.to_string();
            raise(match self.arguments {
                false => Problem::BadModuleKey { key, error },
                true => Problem::BadArgumentsKey { key, error },
            })
        })?;
        if (self.seen)(key) {
            let key = key.to_string();
            return Err(raise(match self.arguments {
                false => Problem::DuplicateModuleKey { key },
                true => Problem::DuplicateKey {
                    key,
                    place: "spec.arguments".to_string(),
                },
            }));
        }
        Ok(pattern)
    }
}

// spec.arguments.

pub(super) fn arguments<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<ModulePattern, Arguments>, D::Error> {
    d.deserialize_map(ArgumentsVisitor)
}

struct ArgumentsVisitor;

impl<'de> Visitor<'de> for ArgumentsVisitor {
    type Value = BTreeMap<ModulePattern, Arguments>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a mapping of module name or glob (a key of spec.modules) -> its argument patterns \
             by kind (exec, write, connect, bind)",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key_seed(ModuleKeySeed {
            seen: &|key| out.contains_key(key),
            arguments: true,
        })? {
            let arguments = map.next_value_seed(ModuleArgumentsSeed {
                module: key.as_str(),
            })?;
            out.insert(key, arguments);
        }
        Ok(out)
    }
}

/// One module's entry of `spec.arguments`: kind -> patterns.
struct ModuleArgumentsSeed<'a> {
    module: &'a str,
}

impl<'de> DeserializeSeed<'de> for ModuleArgumentsSeed<'_> {
    type Value = Arguments;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Arguments, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ModuleArgumentsSeed<'_> {
    type Value = Arguments;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a mapping of argument kind (exec, write, connect, bind) -> list of patterns, like \
             {exec: [/usr/bin/git]} ({} for no restriction)",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Arguments, A::Error> {
        use crate::arguments::Kind as ArgKind;
        let mut out = Arguments::default();
        while let Some(kind) = map.next_key_seed(ArgumentKindSeed {
            module: self.module,
            seen: &out,
        })? {
            match kind {
                ArgKind::Exec | ArgKind::Write => {
                    let set = map.next_value_seed(PatternListSeed::<PathPattern> {
                        module: self.module,
                        kind,
                        pattern: std::marker::PhantomData,
                    })?;
                    match kind {
                        ArgKind::Exec => out.exec = Some(set),
                        _ => out.write = Some(set),
                    }
                }
                ArgKind::Connect | ArgKind::Bind => {
                    let set = map.next_value_seed(PatternListSeed::<AddrPattern> {
                        module: self.module,
                        kind,
                        pattern: std::marker::PhantomData,
                    })?;
                    match kind {
                        ArgKind::Connect => out.connect = Some(set),
                        _ => out.bind = Some(set),
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A kind of a module's `spec.arguments` entry.
struct ArgumentKindSeed<'a> {
    module: &'a str,
    seen: &'a Arguments,
}

impl<'de> DeserializeSeed<'de> for ArgumentKindSeed<'_> {
    type Value = crate::arguments::Kind;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ArgumentKindSeed<'_> {
    type Value = crate::arguments::Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an argument kind: exec, write, connect or bind")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        let Some(kind) = crate::arguments::Kind::from_name(name) else {
            return Err(raise(Problem::UnknownArgumentKind {
                module: self.module.to_string(),
                kind: name.to_string(),
            }));
        };
        if self.seen.restricts(kind) {
            return Err(raise(Problem::DuplicateKey {
                key: name.to_string(),
                place: format!("spec.arguments.{}", self.module),
            }));
        }
        Ok(kind)
    }
}

/// The list of patterns of one kind; duplicates are ignored.
struct PatternListSeed<'a, T> {
    module: &'a str,
    kind: crate::arguments::Kind,
    pattern: std::marker::PhantomData<T>,
}

impl<'de, T> DeserializeSeed<'de> for PatternListSeed<'_, T>
where
    T: std::str::FromStr<Err = ArgumentError> + Ord,
{
    type Value = BTreeSet<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<BTreeSet<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T> Visitor<'de> for PatternListSeed<'_, T>
where
    T: std::str::FromStr<Err = ArgumentError> + Ord,
{
    type Value = BTreeSet<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.kind.takes_paths() {
            true => write!(
                f,
                "a list of {} path patterns, like [/usr/bin/git, /srv/out/*] ([] for none)",
                self.kind
            ),
            false => write!(
                f,
                "a list of {} address patterns, like [\"127.0.0.1:8080\", \"unix:/run/app.sock\"] \
                 ([] for none)",
                self.kind
            ),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BTreeSet<T>, A::Error> {
        let mut set = BTreeSet::new();
        while let Some(pattern) = seq.next_element_seed(PatternSeed::<T> {
            module: self.module,
            kind: self.kind,
            pattern: std::marker::PhantomData,
        })? {
            set.insert(pattern);
        }
        Ok(set)
    }
}

/// One pattern of `spec.arguments`.
struct PatternSeed<'a, T> {
    module: &'a str,
    kind: crate::arguments::Kind,
    pattern: std::marker::PhantomData<T>,
}

impl<'de, T> DeserializeSeed<'de> for PatternSeed<'_, T>
where
    T: std::str::FromStr<Err = ArgumentError>,
{
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<T> Visitor<'_> for PatternSeed<'_, T>
where
    T: std::str::FromStr<Err = ArgumentError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.kind.takes_paths() {
            true => f.write_str("a path pattern"),
            false => f.write_str("an address pattern"),
        }
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value.parse().map_err(|error| {
            raise(Problem::BadArgument {
                module: self.module.to_string(),
                kind: self.kind,
                value: value.to_string(),
                error: Box::new(error),
            })
        })
    }
}

// Positions found after the parse.

/// `(line, column)` of key `key` of the mapping at `route` (`["spec",
/// "arguments"]`), found by walking the document again and stopping there.
fn key_position(text: &str, format: Format, route: &[&str], key: &str) -> Option<(usize, usize)> {
    take_problem();
    let seed = Route { route, key };
    let result = match format {
        Format::Yaml => serde_norway::Deserializer::from_str(text)
            .next()
            .map_or(Ok(()), |d| seed.deserialize(d))
            .map_err(|e| yaml_error(&e, text)),
        Format::Json => {
            let mut d = serde_json::Deserializer::from_str(text);
            seed.deserialize(&mut d).map_err(|e| json_error(&e, text))
        }
    };
    let found = take_problem().is_some();
    match result {
        Err((line, column, _)) if found => Some((line, column)),
        _ => None,
    }
}

/// Walks the mappings along `route`, then stops with an error at `key`.
#[derive(Clone, Copy)]
struct Route<'a> {
    route: &'a [&'a str],
    key: &'a str,
}

impl<'de> DeserializeSeed<'de> for Route<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Route<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.route.split_first() else {
            while map.next_key_seed(TargetKey { key: self.key })?.is_some() {
                map.next_value::<de::IgnoredAny>()?;
            }
            return Ok(());
        };
        while let Some(key) = map.next_key_seed(Unique { path: None })? {
            if key
                .as_ref()
                .is_some_and(|(kind, k)| *kind == 's' && k == first)
            {
                map.next_value_seed(Route {
                    route: rest,
                    key: self.key,
                })?;
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A key that is refused, at its position, when it is `key`.
struct TargetKey<'a> {
    key: &'a str,
}

impl<'de> DeserializeSeed<'de> for TargetKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for TargetKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if key == self.key {
            return Err(raise(Problem::ArgumentsWithoutModule {
                key: key.to_string(),
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_offsets() {
        let text = "a\nbc\n\nd";
        assert_eq!(line_offset(text, 1), 0);
        assert_eq!(line_offset(text, 2), 2);
        assert_eq!(line_offset(text, 3), 5);
        assert_eq!(line_offset(text, 4), 6);
        assert_eq!(line_offset(text, 9), text.len());
    }

    #[test]
    fn line_columns() {
        let text = "ab\ncé\u{7f}\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 6), (2, 3));
        assert_eq!(line_column(text, 5), (2, 2));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    /// A character the YAML reader refuses is reported where it is, not at
    /// 1:1 with a byte offset.
    #[test]
    fn reader_errors_have_a_position() {
        let text =
            "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nspec:\n  base: [re\u{7}ad]\n";
        let err = parse(text, "p.yaml", Format::Yaml).unwrap_err();
        assert_eq!(err.position(), Some((4, 12)), "{err}");
        assert_eq!(
            err.to_string(),
            "p.yaml:4:12: control characters are not allowed"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggestion("exceve").as_deref(), Some("execve"));
        assert_eq!(suggestion("syscall_59").as_deref(), Some("execve"));
        assert_eq!(suggestion("syscall_400"), None);
        assert_eq!(suggestion("openat:wirte").as_deref(), Some("openat:write"));
        assert_eq!(suggestion("opnat:write").as_deref(), Some("openat:write"));
        assert_eq!(suggestion("Socket:inet").as_deref(), Some("socket:inet"));
        assert_eq!(suggestion("openat:nonsense"), None);
        assert_eq!(suggestion("import_module"), None);
        let text = "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: x}\n\
                    spec:\n  base: [opnat:write]\n";
        let err = parse(text, "p.yaml", Format::Yaml).unwrap_err();
        assert!(
            err.to_string().starts_with("p.yaml:5:")
                && err.to_string().ends_with("did you mean `openat:write`?"),
            "{err}"
        );
    }

    #[test]
    fn string_starts() {
        let line = br#"  "base": ["re\"ad", "x"],"#;
        // Just past the closing quote of "re\"ad" (byte 19) and on it (18).
        assert_eq!(string_start(line, 19), Some(11));
        assert_eq!(string_start(line, 18), Some(11));
        assert_eq!(string_start(line, 8), Some(2));
        assert_eq!(string_start(line, 10), None);
        assert_eq!(string_start(b"[1, 2]", 3), None);
        assert!(!escaped(br#"\\""#, 2));
        assert!(escaped(br#"\""#, 1));
    }
}
