//! What the parsers promise, as functions of arbitrary bytes, for fuzzers:
//! `tests/fuzz.rs` (a time-bounded mutation fuzzer run by the test suite) and
//! the cargo-fuzz targets in `fuzz/` call them. Each returns normally or
//! panics; a panic is a bug, in a parser or in what it promises:
//!
//! - no input makes a parser panic, hang or allocate without bound;
//! - an error is one line of bounded length, naming the file, with a
//!   position inside the text;
//! - a policy that parses writes back (YAML and JSON) to text that parses as
//!   the same policy, and compiles;
//! - a trace that parses builds a policy (grouped or not) that round-trips
//!   the same way, and reads back as the same trace once written.
//!
//! Not a stable API.

use crate::build::{build, omissions, BuildOptions};
use crate::policy::{Format, Policy, PolicyError};
use crate::trace::{Trace, TraceError};

/// Error messages longer than this are a bug (they are cut before).
const MAX_MESSAGE: usize = 4096;

/// Parses `data` as a policy in both formats and checks the promises.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // Files that are not UTF-8 are refused before parsing.
        return;
    };
    for (format, path) in [(Format::Yaml, "fuzz.yaml"), (Format::Json, "fuzz.json")] {
        match Policy::parse(text, path, format) {
            Ok(policy) => policy_round_trips(&policy),
            Err(e) => check_policy_error(&e, text, path),
        }
    }
}

/// Parses `data` as a trace and checks the promises.
pub fn trace(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Trace::from_json(text, "fuzz.json") {
        Ok(trace) => {
            let again = Trace::from_json(&trace.to_json(), "again.json")
                .unwrap_or_else(|e| panic!("a trace written back does not read: {e}"));
            assert_eq!(again, trace, "a trace written back reads differently");
            for group_packages in [false, true] {
                let opts = BuildOptions {
                    group_packages,
                    ..BuildOptions::default()
                };
                policy_round_trips(&build(&trace, &opts));
            }
            for omitted in omissions(&trace) {
                check_line(&omitted.to_string(), 1 << 20);
            }
        }
        Err(e) => check_trace_error(&e, text),
    }
}

/// `policy` writes to YAML and JSON that read back as itself, and compiles.
pub fn policy_round_trips(policy: &Policy) {
    for format in [Format::Yaml, Format::Json] {
        let text = policy.to_format(format);
        let back = Policy::parse(&text, "written", format)
            .unwrap_or_else(|e| panic!("the {format} written does not read back: {e}\n{text}"));
        assert_eq!(
            &back, policy,
            "the {format} written reads back differently:\n{text}"
        );
    }
    let compiled = policy.compile();
    for key in policy.spec.modules.keys() {
        let name = key.as_str();
        assert!(compiled.rule_for(name).is_some() || key.is_glob());
        compiled.allows(&[name, "__main__", "<string>"], 59, true);
    }
}

fn check_line(message: &str, max: usize) {
    assert!(
        !message.contains('\n'),
        "a message of several lines: {message:?}"
    );
    assert!(
        !message.contains('\r'),
        "a message with a carriage return: {message:?}"
    );
    assert!(
        message.len() <= max,
        "a message of {} bytes: {}...",
        message.len(),
        &message[..message.floor_char_boundary_compat(200)]
    );
}

/// Lines as a YAML reader may count them (it also breaks at CR, NEL, LS, PS).
fn max_lines(text: &str) -> usize {
    text.chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count()
        + 2
}

fn check_policy_error(e: &PolicyError, text: &str, path: &str) {
    let message = e.to_string();
    check_line(&message, MAX_MESSAGE);
    assert!(message.contains(path), "the file is not named: {message}");
    if let Some((line, column)) = e.position() {
        assert!(
            line >= 1 && column >= 1,
            "position {line}:{column}: {message}"
        );
        assert!(
            line <= max_lines(text),
            "line {line} past the end of the text: {message}"
        );
    }
}

fn check_trace_error(e: &TraceError, text: &str) {
    let message = e.to_string();
    check_line(&message, MAX_MESSAGE);
    assert!(
        message.contains("fuzz.json"),
        "the file is not named: {message}"
    );
    if let TraceError::Parse { line, .. } = e {
        assert!(
            *line <= max_lines(text),
            "line {line} past the end: {message}"
        );
    }
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, at: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut at: usize) -> usize {
        at = at.min(self.len());
        while !self.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}
