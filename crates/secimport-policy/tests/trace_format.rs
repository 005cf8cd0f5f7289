//! The on-disk trace format: a snapshot of what `to_json` writes, the round
//! trip, and the errors a wrong file gets.

use std::collections::BTreeMap;
use std::path::Path;

use secimport_policy::trace::{
    Buckets, Counters, Interpreter, ModuleTrace, Process, SyscallCounts, Trace, TraceError,
    TRACE_FORMAT, TRACE_VERSION,
};

fn counts(pairs: &[(&str, u64)]) -> SyscallCounts {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

fn module(files: &[&str], syscalls: &[(&str, u64)]) -> ModuleTrace {
    ModuleTrace {
        files: files.iter().map(|f| f.to_string()).collect(),
        syscalls: counts(syscalls),
    }
}

fn sample() -> Trace {
    let lib = "/root/.pyenv/versions/3.11.7/lib/python3.11";
    let mut modules = BTreeMap::new();
    modules.insert(
        "__main__".to_string(),
        module(
            &["/work/app/main.py"],
            &[("clone", 1), ("execve", 1), ("read", 12), ("wait4", 1)],
        ),
    );
    modules.insert(
        "subprocess".to_string(),
        module(
            &[&format!("{lib}/subprocess.py")],
            &[("clone", 1), ("pipe2", 1), ("wait4", 1)],
        ),
    );
    modules.insert(
        "json.decoder".to_string(),
        module(&[&format!("{lib}/json/decoder.py")], &[("brk", 2)]),
    );
    modules.insert(
        "<frozen importlib._bootstrap>".to_string(),
        module(
            &["<frozen importlib._bootstrap>"],
            &[("newfstatat", 40), ("openat", 9), ("read", 18)],
        ),
    );
    Trace {
        format: TRACE_FORMAT.to_string(),
        version: TRACE_VERSION,
        command: vec![
            "/root/.pyenv/versions/3.11.7/bin/python3.11".to_string(),
            "/work/app/main.py".to_string(),
        ],
        interpreter: Interpreter {
            executable: "/root/.pyenv/versions/3.11.7/bin/python3.11".to_string(),
            version: "3.11.7".to_string(),
            build: "static".to_string(),
            runtime_elf: "/root/.pyenv/versions/3.11.7/bin/python3.11".to_string(),
            import_roots: vec![
                format!("{lib}/site-packages"),
                format!("{lib}/lib-dynload"),
                "/root/.pyenv/versions/3.11.7/lib/python311.zip".to_string(),
                lib.to_string(),
                "/work/app".to_string(),
            ],
        },
        modules,
        buckets: Buckets {
            startup: counts(&[("arch_prctl", 1), ("execve", 1), ("mmap", 30)]),
            frameless: counts(&[("exit", 1), ("madvise", 2), ("write", 1)]),
            non_python: counts(&[("execve", 1), ("exit_group", 1), ("write", 1)]),
            truncated: SyscallCounts::new(),
            unreadable: counts(&[("futex", 2)]),
        },
        processes: vec![
            Process {
                pid: 4242,
                ppid: 4241,
                exe: Some("/root/.pyenv/versions/3.11.7/bin/python3.11".to_string()),
                comm: "python3.11".to_string(),
                kind: "python".to_string(),
                syscalls: 130,
                exit_status: Some(0),
            },
            Process {
                pid: 4243,
                ppid: 4242,
                exe: Some("/usr/bin/echo".to_string()),
                comm: "echo".to_string(),
                kind: "other".to_string(),
                syscalls: 3,
                exit_status: Some(0),
            },
            Process {
                pid: 4244,
                ppid: 4242,
                exe: None,
                comm: "python3.11".to_string(),
                kind: "python".to_string(),
                syscalls: 1,
                exit_status: Some(128 + 9),
            },
        ],
        counters: Counters {
            syscalls: 134,
            stacks_walked: 96,
            stacks_truncated: 0,
            events_lost: 0,
            read_errors: 2,
            threads_without_state: 1,
            modules_overflow: 0,
            walk_limit: 64,
        },
        exit_status: Some(0),
    }
}

#[test]
fn json_snapshot() {
    let json = sample().to_json();
    assert!(json.ends_with("}\n"));
    insta::assert_snapshot!(json);
}

#[test]
fn round_trip() {
    let trace = sample();
    let back = Trace::from_json(&trace.to_json(), "trace.json").unwrap();
    assert_eq!(back, trace);
    assert_eq!(back.to_json(), trace.to_json());
}

#[test]
fn round_trip_of_an_empty_trace() {
    let trace = Trace {
        format: TRACE_FORMAT.to_string(),
        version: TRACE_VERSION,
        command: vec![],
        interpreter: Interpreter {
            executable: String::new(),
            version: String::new(),
            build: String::new(),
            runtime_elf: String::new(),
            import_roots: vec![],
        },
        modules: BTreeMap::new(),
        buckets: Buckets::default(),
        processes: vec![],
        counters: Counters::default(),
        exit_status: None,
    };
    let back = Trace::from_json(&trace.to_json(), "empty.json").unwrap();
    assert_eq!(back, trace);
}

fn with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    edit(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn wrong_format_is_named() {
    let text = with(|v| v["format"] = "secimport-policy".into());
    let err = Trace::from_json(&text, "p.json").unwrap_err();
    match &err {
        TraceError::WrongFormat { path, found } => {
            assert_eq!(path, "p.json");
            assert_eq!(found, "secimport-policy");
        }
        other => panic!("expected WrongFormat, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "p.json: this is a \"secimport-policy\" file, not a secimport trace (format \"secimport-trace\")"
    );
}

#[test]
fn missing_format_is_a_wrong_format() {
    let text = with(|v| {
        v.as_object_mut().unwrap().remove("format");
    });
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    assert!(
        matches!(&err, TraceError::WrongFormat { found, .. } if found.is_empty()),
        "{err:?}"
    );
    // Valid JSON of another shape entirely.
    let err = Trace::from_json("[1, 2, 3]", "t.json").unwrap_err();
    assert!(matches!(err, TraceError::WrongFormat { .. }), "{err:?}");
}

#[test]
fn wrong_version_is_named() {
    assert_eq!(TRACE_VERSION, 2);
    let text = with(|v| v["version"] = (TRACE_VERSION + 1).into());
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    match &err {
        TraceError::WrongVersion { path, found } => {
            assert_eq!(path, "t.json");
            assert_eq!(found, "3");
        }
        other => panic!("expected WrongVersion, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with("t.json: trace version 3 is not supported"),
        "{message}"
    );
    assert!(message.contains("re-run `secimport trace`"), "{message}");

    // Whatever the value, the message shows it as the file spells it.
    for (raw, shown) in [
        (r#""1""#, r#""1""#),
        (r#""2""#, r#""2""#),
        ("-1", "-1"),
        ("2.0", "2.0"),
        ("18446744073709551616", "18446744073709551616"),
        ("4294967298", "4294967298"),
        ("null", "null"),
        ("[2]", "[2]"),
        (r#"{"v": 2}"#, r#"{"v": 2}"#),
    ] {
        let text = with(|v| v["version"] = serde_json::Value::Null)
            .replace("\"version\": null", &format!("\"version\": {raw}"));
        assert!(text.contains(raw), "{text}");
        let err = Trace::from_json(&text, "t.json").unwrap_err();
        match &err {
            TraceError::WrongVersion { found, .. } => assert_eq!(found, shown, "{raw}"),
            other => panic!("{raw}: expected WrongVersion, got {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("t.json: trace version {shown} is not supported")),
            "{err}"
        );
    }
    let text = with(|v| {
        v.as_object_mut().unwrap().remove("version");
    });
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("t.json: trace version missing is not supported"),
        "{err}"
    );
    // A very long value is cut.
    let long = format!("\"{}\"", "9".repeat(10_000));
    let text = with(|v| v["version"] = serde_json::Value::Null)
        .replace("\"version\": null", &format!("\"version\": {long}"));
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    assert!(err.to_string().len() < 300, "{err}");
    assert!(err.to_string().contains("... (10002 characters)"), "{err}");
}

/// A version 1 trace (one `frameless` bucket for start-up and later, no
/// `startup` bucket) cannot be read: its frameless bucket mixed two sets that
/// are judged apart now. The user is told to trace again.
#[test]
fn version_1_traces_are_refused_with_the_re_run_message() {
    let text = with(|v| {
        v["version"] = 1.into();
        v["buckets"].as_object_mut().unwrap().remove("startup");
    });
    let err = Trace::from_json(&text, "old.json").unwrap_err();
    assert!(
        matches!(&err, TraceError::WrongVersion { found, path } if path == "old.json" && found == "1"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "old.json: trace version 1 is not supported (this secimport reads version 2); \
         re-run `secimport trace`"
    );
    // The same through a file.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace_v1");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    std::fs::write(&path, &text).unwrap();
    let err = Trace::load(&path).unwrap_err();
    assert!(
        matches!(&err, TraceError::WrongVersion { found, .. } if found == "1"),
        "{err:?}"
    );
    assert!(
        err.to_string().ends_with("re-run `secimport trace`"),
        "{err}"
    );
}

/// Version 2 requires the `startup` bucket: a file that claims version 2 with
/// the old bucket layout is a parse error naming the field.
#[test]
fn the_startup_bucket_is_required() {
    let text = with(|v| {
        v["buckets"].as_object_mut().unwrap().remove("startup");
    });
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    match &err {
        TraceError::Parse { message, line, .. } => {
            assert!(message.contains("missing field `startup`"), "{message}");
            assert!(*line > 1, "{err}");
        }
        other => panic!("expected Parse, got {other:?}"),
    }
    // And the two buckets are kept apart on the way through the file.
    let back = Trace::from_json(&sample().to_json(), "t.json").unwrap();
    assert_eq!(back.buckets.startup["execve"], 1);
    assert!(!back.buckets.frameless.contains_key("execve"));
    assert_eq!(back.buckets.frameless["madvise"], 2);
}

#[test]
fn malformed_json_reports_line_and_column() {
    // Line 3 lacks the comma after its value; serde_json notices at the
    // start of the next key, line 4 column 3.
    let text = "{\n  \"format\": \"secimport-trace\",\n  \"version\": 1\n  \"command\": []\n}\n";
    let err = Trace::from_json(text, "bad.json").unwrap_err();
    match &err {
        TraceError::Parse {
            path, line, column, ..
        } => {
            assert_eq!(path, "bad.json");
            assert_eq!((*line, *column), (4, 3));
        }
        other => panic!("expected Parse, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("bad.json:4:3: not a valid trace file: "),
        "{err}"
    );

    // Truncated file: the error points at its end.
    let full = sample().to_json();
    let cut = &full[..full.len() / 2];
    let err = Trace::from_json(cut, "cut.json").unwrap_err();
    let expected_line = cut.lines().count();
    match err {
        TraceError::Parse { line, .. } => assert_eq!(line, expected_line),
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[test]
fn unknown_and_missing_fields_are_parse_errors_with_a_position() {
    let text = with(|v| v["surprise"] = true.into());
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    match &err {
        TraceError::Parse {
            line,
            column,
            message,
            ..
        } => {
            assert!(*line > 1 && *column > 0, "{err}");
            assert!(message.contains("surprise"), "{message}");
        }
        other => panic!("expected Parse, got {other:?}"),
    }

    let text = with(|v| {
        v["counters"].as_object_mut().unwrap().remove("walk_limit");
    });
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    match &err {
        TraceError::Parse { message, .. } => assert!(message.contains("walk_limit"), "{message}"),
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[test]
fn load_reports_a_missing_file() {
    let err = Trace::load(Path::new("/nonexistent/secimport/trace.json")).unwrap_err();
    assert!(matches!(err, TraceError::Io { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot read trace /nonexistent/secimport/trace.json: "),
        "{err}"
    );
}

/// A byte-order mark is ignored; a key repeated in one object is an error
/// where it repeats (serde_json would keep the last one silently).
#[test]
fn bom_accepted_and_duplicate_keys_refused() {
    let text = sample().to_json();
    assert_eq!(
        Trace::from_json(&format!("\u{feff}{text}"), "t.json").unwrap(),
        sample()
    );
    let doubled = text.replacen(
        "\"modules\": {",
        "\"modules\": {\n    \"__main__\": {\"files\": [], \"syscalls\": {}},",
        1,
    );
    let err = Trace::from_json(&doubled, "t.json").unwrap_err();
    let TraceError::Parse {
        line,
        column,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        message,
        "`__main__` appears twice in modules; a key may appear only once (remove one of them)"
    );
    let second = doubled
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("\"__main__\": {"))
        .nth(1)
        .map(|(i, l)| (i + 1, l.find('"').unwrap() + 1))
        .unwrap();
    assert_eq!((*line, *column), second, "{err}");
}
