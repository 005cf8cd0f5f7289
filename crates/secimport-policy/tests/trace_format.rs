//! The on-disk trace format: a snapshot of what `to_json` writes, the round
//! trip, and the errors a wrong file gets.

use std::collections::BTreeMap;
use std::path::Path;

use secimport_policy::trace::{
    Buckets, Counters, Interpreter, MergeError, ModuleTrace, Process, SyscallCounts, Trace,
    TraceError, TRACE_FORMAT, TRACE_VERSION,
};

fn counts(pairs: &[(&str, u64)]) -> SyscallCounts {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

fn module(files: &[&str], syscalls: &[(&str, u64)]) -> ModuleTrace {
    ModuleTrace {
        files: files.iter().map(|f| f.to_string()).collect(),
        syscalls: counts(syscalls),
        arguments: Default::default(),
    }
}

fn sample() -> Trace {
    let lib = "/root/.pyenv/versions/3.11.7/lib/python3.11";
    let mut modules = BTreeMap::new();
    modules.insert(
        "__main__".to_string(),
        module(
            &["/work/app/main.py"],
            &[
                ("clone:process", 1),
                ("execve", 1),
                ("read", 12),
                ("wait4", 1),
            ],
        ),
    );
    modules.insert(
        "subprocess".to_string(),
        module(
            &[&format!("{lib}/subprocess.py")],
            &[("clone:process", 1), ("pipe2", 1), ("wait4", 1)],
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
            &[
                ("newfstatat", 40),
                ("openat", 9),
                ("openat:write", 2),
                ("read", 18),
            ],
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
            startup: counts(&[
                ("arch_prctl", 1),
                ("execve", 1),
                ("mmap", 30),
                ("mmap:exec", 4),
            ]),
            frameless: counts(&[("exit", 1), ("madvise", 2), ("write", 1)]),
            non_python: counts(&[("execve", 1), ("exit_group", 1), ("write", 1)]),
            truncated: SyscallCounts::new(),
            unreadable: counts(&[("futex", 2)]),
        },
        programs: Default::default(),
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
        programs: Default::default(),
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
    assert_eq!(TRACE_VERSION, 3);
    let text = with(|v| v["version"] = (TRACE_VERSION + 1).into());
    let err = Trace::from_json(&text, "t.json").unwrap_err();
    match &err {
        TraceError::WrongVersion { path, found } => {
            assert_eq!(path, "t.json");
            assert_eq!(found, "4");
        }
        other => panic!("expected WrongVersion, got {other:?}"),
    }
    let message = err.to_string();
    assert_eq!(
        message,
        "t.json: trace version 4 is not supported (this secimport reads version 3); re-run \
         `secimport trace`"
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
        "old.json: trace version 1 is not supported (this secimport reads version 3); \
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

/// A version 2 trace has the layout of version 3, but its plain `openat`
/// counted every open (writes too), `clone` every clone, and it has no
/// argument classes: a policy built from it would read it wrongly, so it is
/// refused like any other version.
#[test]
fn version_2_traces_are_refused_with_the_re_run_message() {
    let text = with(|v| v["version"] = 2.into());
    let err = Trace::from_json(&text, "v2.json").unwrap_err();
    assert!(
        matches!(&err, TraceError::WrongVersion { found, path } if path == "v2.json" && found == "2"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "v2.json: trace version 2 is not supported (this secimport reads version 3); \
         re-run `secimport trace`"
    );
}

/// Argument classes (`openat:write`) are syscall names like any other in a
/// trace, and survive the file.
#[test]
fn argument_classes_are_syscall_names() {
    let back = Trace::from_json(&sample().to_json(), "t.json").unwrap();
    assert_eq!(back.modules["subprocess"].syscalls["clone:process"], 1);
    assert_eq!(
        back.modules["<frozen importlib._bootstrap>"].syscalls["openat:write"],
        2
    );
    assert_eq!(back.buckets.startup["mmap:exec"], 4);
    assert!(!back.modules["subprocess"].syscalls.contains_key("clone"));
}

/// Since version 2 the `startup` bucket is required: a file that claims the
/// current version with the old bucket layout is a parse error naming the
/// field.
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

// ---------------------------------------------------------------- merge

/// Another run of the same program, with the same interpreter version: a
/// second script, a new module, new import root, other buckets.
fn another_run() -> Trace {
    let mut t = sample();
    t.command = vec![
        "/root/.pyenv/versions/3.11.7/bin/python3.11".to_string(),
        "/work/app/main.py".to_string(),
        "--fetch".to_string(),
    ];
    t.interpreter.import_roots = vec![
        "/work/app/vendor".to_string(),
        "/work/app".to_string(),
        "/root/.pyenv/versions/3.11.7/lib/python3.11".to_string(),
    ];
    t.modules = BTreeMap::from([
        (
            "__main__".to_string(),
            module(
                &["/work/app/main.py", "/work/app/fetch.py"],
                &[("getppid", 1), ("read", 3)],
            ),
        ),
        (
            "requests".to_string(),
            module(
                &["/work/app/vendor/requests/__init__.py"],
                &[("connect:inet", 1), ("openat", 2), ("socket:inet", 1)],
            ),
        ),
    ]);
    t.buckets = Buckets {
        startup: counts(&[("arch_prctl", 1), ("execve", 1)]),
        frameless: counts(&[("getcwd", 1), ("write", 2)]),
        non_python: SyscallCounts::new(),
        truncated: counts(&[("futex", 1)]),
        unreadable: counts(&[("futex", 3)]),
    };
    t.processes = vec![Process {
        pid: 5000,
        ppid: 4999,
        exe: Some("/root/.pyenv/versions/3.11.7/bin/python3.11".to_string()),
        comm: "python3.11".to_string(),
        kind: "python".to_string(),
        syscalls: 10,
        exit_status: Some(1),
    }];
    t.counters = Counters {
        syscalls: 10,
        stacks_walked: 7,
        stacks_truncated: 1,
        events_lost: 2,
        read_errors: 3,
        threads_without_state: 0,
        modules_overflow: 4,
        walk_limit: 32,
    };
    t.exit_status = Some(1);
    t
}

#[test]
fn merge_adds_counts_and_unites_modules() {
    let (a, b) = (sample(), another_run());
    let merged = Trace::merge(vec![
        ("a.json".to_string(), a.clone()),
        ("b.json".to_string(), b.clone()),
    ])
    .unwrap();
    // The first trace's command, interpreter and exit status.
    assert_eq!(merged.format, TRACE_FORMAT);
    assert_eq!(merged.version, TRACE_VERSION);
    assert_eq!(merged.command, a.command);
    assert_eq!(merged.interpreter.executable, a.interpreter.executable);
    assert_eq!(merged.interpreter.version, "3.11.7");
    assert_eq!(merged.exit_status, Some(0));
    // Import roots united, longest first.
    let lib = "/root/.pyenv/versions/3.11.7/lib/python3.11";
    assert_eq!(
        merged.interpreter.import_roots,
        [
            format!("{lib}/site-packages"),
            format!("{lib}/lib-dynload"),
            "/root/.pyenv/versions/3.11.7/lib/python311.zip".to_string(),
            lib.to_string(),
            "/work/app/vendor".to_string(),
            "/work/app".to_string(),
        ]
    );
    // Modules united; a module in both has its files united (in order, once
    // each) and its counts added.
    let names: Vec<&str> = merged.modules.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "<frozen importlib._bootstrap>",
            "__main__",
            "json.decoder",
            "requests",
            "subprocess"
        ]
    );
    assert_eq!(
        merged.modules["__main__"],
        module(
            &["/work/app/main.py", "/work/app/fetch.py"],
            &[
                ("clone:process", 1),
                ("execve", 1),
                ("getppid", 1),
                ("read", 15),
                ("wait4", 1)
            ],
        )
    );
    assert_eq!(merged.modules["requests"], b.modules["requests"]);
    assert_eq!(merged.modules["subprocess"], a.modules["subprocess"]);
    // Buckets: counts added.
    assert_eq!(
        merged.buckets.startup,
        counts(&[
            ("arch_prctl", 2),
            ("execve", 2),
            ("mmap", 30),
            ("mmap:exec", 4)
        ])
    );
    assert_eq!(
        merged.buckets.frameless,
        counts(&[("exit", 1), ("getcwd", 1), ("madvise", 2), ("write", 3)])
    );
    assert_eq!(merged.buckets.non_python, a.buckets.non_python);
    assert_eq!(merged.buckets.truncated, counts(&[("futex", 1)]));
    assert_eq!(merged.buckets.unreadable, counts(&[("futex", 5)]));
    // Processes one after the other; counters added, the walk limit the
    // smallest (what every stack was walked with at least).
    let pids: Vec<u32> = merged.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [4242, 4243, 4244, 5000]);
    assert_eq!(
        merged.counters,
        Counters {
            syscalls: 144,
            stacks_walked: 103,
            stacks_truncated: 1,
            events_lost: 2,
            read_errors: 5,
            threads_without_state: 1,
            modules_overflow: 4,
            walk_limit: 32,
        }
    );
    // The merged trace is a trace like any other.
    let back = Trace::from_json(&merged.to_json(), "merged.json").unwrap();
    assert_eq!(back, merged);
    // One trace merges to itself; merging is `absorb`.
    let one = Trace::merge(vec![("a.json".to_string(), a.clone())]).unwrap();
    assert_eq!(one, a);
    let mut absorbed = a.clone();
    absorbed.absorb(b);
    assert_eq!(absorbed, merged);
}

#[test]
fn merge_saturates_counts() {
    let mut a = sample();
    a.modules
        .get_mut("__main__")
        .unwrap()
        .syscalls
        .insert("read".into(), u64::MAX - 1);
    a.counters.syscalls = u64::MAX;
    let merged = Trace::merge(vec![
        ("a.json".to_string(), a),
        ("b.json".to_string(), sample()),
    ])
    .unwrap();
    assert_eq!(merged.modules["__main__"].syscalls["read"], u64::MAX);
    assert_eq!(merged.counters.syscalls, u64::MAX);
    assert_eq!(merged.buckets.startup["mmap"], 60);
}

#[test]
fn merge_refuses_other_interpreter_versions_and_nothing() {
    let mut other = another_run();
    other.interpreter.version = "3.12.1".to_string();
    let err = Trace::merge(vec![
        ("a.json".to_string(), sample()),
        ("b.json".to_string(), another_run()),
        ("c.json".to_string(), other),
    ])
    .unwrap_err();
    match &err {
        MergeError::Interpreter {
            path,
            expected,
            found,
        } => {
            assert_eq!(
                (path.as_str(), expected.as_str(), found.as_str()),
                ("c.json", "3.11.7", "3.12.1")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "c.json traced CPython 3.12.1 but the first trace CPython 3.11.7: a policy is built for \
         one interpreter version; trace again with the same interpreter"
    );
    let err = Trace::merge(Vec::new()).unwrap_err();
    assert!(matches!(err, MergeError::Empty), "{err:?}");
    assert_eq!(err.to_string(), "no trace to merge");
}
