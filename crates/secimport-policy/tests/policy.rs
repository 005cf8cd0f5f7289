//! Policies: the file format (YAML and JSON), its errors, `build` from a
//! trace, glob precedence, compilation and the committed JSON Schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secimport_policy::build::{build, dropped_from_shared, unusable_syscalls, BuildOptions};
use secimport_policy::classes::{self, DANGEROUS, DANGEROUS_BY_ARGUMENTS, HARMLESS};
use secimport_policy::policy::{
    bitmap_contains, json_schema, Format, Mode, ModulePattern, PatternError, Policy, PolicyError,
    Problem, Syscall, SyscallSet, UnknownRule,
};
use secimport_policy::syscalls;
use secimport_policy::trace::{
    Buckets, Counters, Interpreter, ModuleTrace, SyscallCounts, Trace, TRACE_FORMAT, TRACE_VERSION,
};

// ---------------------------------------------------------------- helpers

fn counts(names: &[&str]) -> SyscallCounts {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), i as u64 + 1))
        .collect()
}

fn set(names: &[&str]) -> SyscallSet {
    names
        .iter()
        .map(|n| Syscall::parse(n).unwrap_or_else(|| panic!("{n} is not a syscall")))
        .collect()
}

fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap()
}

fn trace_with(modules: &[(&str, &[&str])]) -> Trace {
    let lib = "/usr/lib/python3.11";
    Trace {
        format: TRACE_FORMAT.to_string(),
        version: TRACE_VERSION,
        command: vec![
            "/usr/bin/python3.11".to_string(),
            "/srv/app/train.py".to_string(),
            "--epochs".to_string(),
            "1".to_string(),
        ],
        interpreter: Interpreter {
            executable: "/usr/bin/python3.11".to_string(),
            version: "3.11.2".to_string(),
            build: "static".to_string(),
            runtime_elf: "/usr/bin/python3.11".to_string(),
            import_roots: vec![lib.to_string(), "/srv/app".to_string()],
        },
        modules: modules
            .iter()
            .map(|(name, syscalls)| {
                let file = match *name {
                    "__main__" => "/srv/app/train.py".to_string(),
                    n if n.starts_with('<') => n.to_string(),
                    n => format!("{lib}/{}.py", n.replace('.', "/")),
                };
                (
                    name.to_string(),
                    ModuleTrace {
                        files: vec![file],
                        syscalls: counts(syscalls),
                    },
                )
            })
            .collect(),
        buckets: Buckets {
            // Start-up: harmless (brk, close, exit_group, mmap, munmap, read),
            // dangerous (execve: the exec that started the interpreter) and
            // the rest (arch_prctl, newfstatat), which alone is kept.
            startup: counts(&[
                "arch_prctl",
                "brk",
                "close",
                "execve",
                "exit_group",
                "mmap",
                "munmap",
                "newfstatat",
                "read",
            ]),
            // After start-up: clone3 is only dangerous by its arguments (the
            // kernel judges those), so it is kept; socket is dropped.
            frameless: counts(&["clone3", "exit", "futex", "getcwd", "madvise", "socket"]),
            non_python: counts(&["execve", "exit_group", "write"]),
            truncated: counts(&["futex"]),
            unreadable: counts(&["getpid"]),
        },
        processes: vec![],
        counters: Counters::default(),
        exit_status: Some(0),
    }
}

/// A small program: a script, two stdlib packages, a model package whose
/// modules all behave alike, and the import machinery.
fn sample_trace() -> Trace {
    trace_with(&[
        ("__main__", &["getppid", "openat", "wait4", "clone"]),
        (
            "<frozen importlib._bootstrap>",
            &["newfstatat", "openat", "read"],
        ),
        ("<string>", &["getpid"]),
        ("json", &["read"]),
        ("json.decoder", &["read"]),
        ("json.scanner", &["read"]),
        ("subprocess", &["clone", "pipe2", "wait4"]),
        ("model", &["openat", "read"]),
        ("model.layers", &["mmap", "openat"]),
        ("model.layers.attention", &["mmap", "openat"]),
        ("model.layers.mlp", &["mmap", "openat"]),
        ("model.data", &["openat", "read"]),
    ])
}

fn grouped() -> BuildOptions {
    BuildOptions {
        group_packages: true,
        ..BuildOptions::default()
    }
}

fn parse_yaml(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, "policy.yaml", Format::Yaml)
}

fn parse_json(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, "policy.json", Format::Json)
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const EXAMPLE_YAML: &str = r#"# A policy written by hand, in the style of the docs.
apiVersion: secimport.dev/v1
kind: SandboxPolicy
metadata:
  name: app
  description: What app.py may do.
spec:
  mode: kill
  unknown: deny
  base: [mmap, brk, close, brk, statx, newfstatat]     # order and duplicates do not matter
  startup: [arch_prctl, newfstatat]
  frameless: [getcwd]
  children:
    - execve
    - exit_group
  modules:
    __main__: [getppid, openat]
    json.decoder: [read]
    "torch.*": [mmap, openat]
    "<frozen importlib._bootstrap>": [newfstatat, openat, read]
    /opt/tool/helper.py: []
"#;

const EXAMPLE_JSON: &str = r#"{
  "apiVersion": "secimport.dev/v1",
  "kind": "SandboxPolicy",
  "metadata": {"name": "app", "description": "What app.py may do."},
  "spec": {
    "mode": "kill",
    "unknown": "deny",
    "base": ["brk", "close", "mmap", "newfstatat", "statx"],
    "startup": ["newfstatat", "arch_prctl"],
    "frameless": ["getcwd", "getcwd"],
    "children": ["exit_group", "execve"],
    "modules": {
      "torch.*": ["openat", "mmap"],
      "__main__": ["getppid", "openat"],
      "json.decoder": ["read"],
      "<frozen importlib._bootstrap>": ["newfstatat", "openat", "read"],
      "/opt/tool/helper.py": []
    }
  }
}
"#;

// ---------------------------------------------------------------- reading

#[test]
fn parses_a_hand_written_yaml_policy() {
    let policy = parse_yaml(EXAMPLE_YAML).unwrap();
    assert_eq!(policy.metadata.name, "app");
    assert_eq!(
        policy.metadata.description.as_deref(),
        Some("What app.py may do.")
    );
    assert_eq!(policy.metadata.generated_from, None);
    assert_eq!(policy.spec.mode, Mode::Kill);
    assert_eq!(policy.spec.unknown, UnknownRule::Deny);
    assert_eq!(
        policy.spec.base,
        set(&["brk", "close", "mmap", "newfstatat", "statx"])
    );
    assert_eq!(policy.spec.startup, set(&["arch_prctl", "newfstatat"]));
    assert_eq!(policy.spec.frameless, set(&["getcwd"]));
    assert_eq!(policy.spec.children, set(&["execve", "exit_group"]));
    let keys: Vec<&str> = policy.spec.modules.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/opt/tool/helper.py",
            "<frozen importlib._bootstrap>",
            "__main__",
            "json.decoder",
            "torch.*"
        ]
    );
    assert_eq!(policy.spec.modules["torch.*"], set(&["mmap", "openat"]));
    assert!(policy.spec.modules["/opt/tool/helper.py"].is_empty());
}

#[test]
fn yaml_and_json_of_the_same_policy_are_equal() {
    let yaml = parse_yaml(EXAMPLE_YAML).unwrap();
    let json = parse_json(EXAMPLE_JSON).unwrap();
    assert_eq!(yaml, json);
}

#[test]
fn defaults_of_optional_fields() {
    let policy = parse_yaml(
        "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: x}\nspec: {base: []}\n",
    )
    .unwrap();
    assert_eq!(policy.spec.mode, Mode::Log);
    assert_eq!(policy.spec.unknown, UnknownRule::BaseOnly);
    assert!(policy.spec.startup.is_empty());
    assert!(policy.spec.frameless.is_empty());
    assert!(policy.spec.children.is_empty());
    assert!(policy.spec.modules.is_empty());
    assert_eq!(policy, Policy::new("x"));
}

#[test]
fn unnamed_syscall_numbers_are_accepted() {
    // The trace names numbers the table lacks `syscall_N`; policies read them.
    let policy = parse_yaml(
        "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: x}\nspec:\n  base: [syscall_400, read]\n",
    )
    .unwrap();
    let numbers: Vec<u32> = policy.spec.base.iter().map(Syscall::number).collect();
    assert_eq!(numbers, [0, 400]);
    assert_eq!(Syscall::from_number(400).unwrap().name(), "syscall_400");
    assert_eq!(Syscall::from_number(59).unwrap().name(), "execve");
    assert_eq!(Syscall::from_number(512), None);
    for bad in [
        "syscall_59",
        "syscall_512",
        "syscall_0400",
        "syscall_",
        "syscall_-1",
    ] {
        assert_eq!(Syscall::parse(bad), None, "{bad}");
    }
}

#[test]
fn load_picks_the_format_by_extension() {
    let dir = scratch_dir("load_by_extension");
    for (file, text) in [
        ("p.yaml", EXAMPLE_YAML),
        ("p.yml", EXAMPLE_YAML),
        ("p.json", EXAMPLE_JSON),
        ("P.JSON", EXAMPLE_JSON),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let policy = Policy::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(policy.metadata.name, "app", "{file}");
    }
    let path = dir.join("p.txt");
    std::fs::write(&path, EXAMPLE_YAML).unwrap();
    let err = Policy::load(&path).unwrap_err();
    assert!(matches!(err, PolicyError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().ends_with(
        "p.txt: cannot tell the format of a policy from its name; policy files end in .yaml, .yml or .json"
    ));
    let err = Policy::load(&dir.join("missing.yaml")).unwrap_err();
    assert!(matches!(err, PolicyError::Io { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot read policy "), "{err}");
}

// ---------------------------------------------------------------- errors

/// `(name, format, text)` of every kind of mistake; the snapshot shows what
/// users read for each.
fn bad_policies() -> Vec<(&'static str, Format, String)> {
    let yaml = |spec: &str| {
        format!(
            "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata:\n  name: app\nspec:\n{spec}"
        )
    };
    let json = |spec: &str| {
        format!(
            "{{\n  \"apiVersion\": \"secimport.dev/v1\",\n  \"kind\": \"SandboxPolicy\",\n  \"metadata\": {{\"name\": \"app\"}},\n  \"spec\": {{\n{spec}\n  }}\n}}\n"
        )
    };
    vec![
        (
            "unknown syscall, with a suggestion",
            Format::Yaml,
            yaml("  base: [brk, close]\n  modules:\n    __main__: [getppid, exceve]\n"),
        ),
        (
            "unknown syscall in base, no close name",
            Format::Yaml,
            yaml("  base: [brk, import_module]\n"),
        ),
        (
            "a named syscall spelled by number",
            Format::Yaml,
            yaml("  base: [brk]\n  children:\n    - syscall_59\n"),
        ),
        (
            "a syscall number beyond the bitmap",
            Format::Yaml,
            yaml("  base: [syscall_512]\n"),
        ),
        (
            "unknown field",
            Format::Yaml,
            yaml("  mode: log\n  modes: kill\n  base: [brk]\n"),
        ),
        (
            "unknown field in metadata",
            Format::Yaml,
            "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata:\n  name: app\n  labels: {}\nspec:\n  base: []\n".to_string(),
        ),
        (
            "bad mode",
            Format::Yaml,
            yaml("  mode: deny\n  base: [brk]\n"),
        ),
        (
            "missing base",
            Format::Yaml,
            yaml("  mode: log\n  children: []\n"),
        ),
        (
            "a string where a list belongs",
            Format::Yaml,
            yaml("  base: brk\n"),
        ),
        (
            "double star",
            Format::Yaml,
            yaml("  base: []\n  modules:\n    \"torch.**\": [read]\n"),
        ),
        (
            "bad character in a glob",
            Format::Yaml,
            yaml("  base: []\n  modules:\n    \"my-pkg.*\": [read]\n"),
        ),
        (
            "duplicate module key",
            Format::Yaml,
            yaml("  base: []\n  modules:\n    json: [read]\n    json.decoder: [read]\n    json: [write]\n"),
        ),
        (
            "duplicate field",
            Format::Yaml,
            yaml("  base: []\n  base: [read]\n"),
        ),
        (
            "duplicate mode after other keys",
            Format::Yaml,
            yaml("  mode: log\n  base: []\n  unknown: allow\n  mode: kill\n"),
        ),
        (
            "duplicate spec",
            Format::Yaml,
            yaml("  base: []\nspec:\n  base: [read]\n"),
        ),
        (
            "duplicate field in metadata, flow style",
            Format::Yaml,
            "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: a, description: x, name: b}\nspec: {base: []}\n".to_string(),
        ),
        (
            "duplicate apiVersion",
            Format::Yaml,
            "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\napiVersion: secimport.dev/v1\nmetadata: {name: a}\nspec: {base: []}\n".to_string(),
        ),
        (
            "JSON: duplicate field",
            Format::Json,
            json("    \"mode\": \"log\",\n    \"base\": [],\n    \"mode\": \"kill\""),
        ),
        (
            "wrong apiVersion",
            Format::Yaml,
            "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: app}\nspec: {base: []}\n".to_string(),
        ),
        (
            "wrong kind",
            Format::Yaml,
            "apiVersion: secimport.dev/v1\nkind: TracingPolicy\nmetadata: {name: app}\nspec: {base: []}\n".to_string(),
        ),
        (
            "no apiVersion",
            Format::Yaml,
            "kind: SandboxPolicy\nmetadata: {name: app}\nspec: {base: []}\n".to_string(),
        ),
        (
            "a trace instead of a policy",
            Format::Json,
            sample_trace().to_json(),
        ),
        ("an empty file", Format::Yaml, "\n  \n".to_string()),
        (
            "not a mapping",
            Format::Yaml,
            "- read\n- write\n".to_string(),
        ),
        (
            "YAML syntax",
            Format::Yaml,
            yaml("  base: [brk, close\n  children: []\n"),
        ),
        (
            "JSON: unknown syscall",
            Format::Json,
            json("    \"base\": [\"brk\", \"clsoe\"]"),
        ),
        (
            "JSON: duplicate module key",
            Format::Json,
            json("    \"base\": [],\n    \"modules\": {\n      \"torch.*\": [\"read\"],\n      \"torch.*\": [\"mmap\"]\n    }"),
        ),
        (
            "JSON: unknown field",
            Format::Json,
            json("    \"base\": [],\n    \"unknwon\": \"allow\""),
        ),
        (
            "JSON: bad unknown rule",
            Format::Json,
            json("    \"base\": [],\n    \"unknown\": \"base_only\""),
        ),
        (
            "JSON: syntax",
            Format::Json,
            json("    \"base\": [\"brk\",]"),
        ),
        (
            "JSON: wrong apiVersion",
            Format::Json,
            "{\"kind\": \"SandboxPolicy\", \"apiVersion\": \"v1\"}".to_string(),
        ),
        (
            "dangerous syscall in base",
            Format::Yaml,
            yaml("  base: [openat, execve]\n"),
        ),
        (
            "dangerous syscall in startup",
            Format::Yaml,
            yaml("  base: []\n  startup:\n    - arch_prctl\n    - socket\n"),
        ),
        (
            "dangerous syscall in frameless",
            Format::Yaml,
            yaml("  base: []\n  frameless: [getcwd, sendmsg]\n  modules:\n    x: [sendmsg]\n"),
        ),
        (
            "JSON: dangerous syscall in base",
            Format::Json,
            json("    \"base\": [\"read\", \"connect\"]"),
        ),
    ]
}

fn parse_as(format: Format, text: &str) -> Result<Policy, PolicyError> {
    match format {
        Format::Yaml => parse_yaml(text),
        Format::Json => parse_json(text),
    }
}

#[test]
fn error_messages() {
    let mut report = String::new();
    for (name, format, text) in bad_policies() {
        let err = match parse_as(format, &text) {
            Ok(_) => panic!("{name}: parsed"),
            Err(err) => err,
        };
        // Show the line the error points at, with a caret under the column.
        let (line, column) = err
            .position()
            .unwrap_or_else(|| panic!("{name}: no position in {err}"));
        let source = text.lines().nth(line - 1).unwrap_or("");
        report.push_str(&format!(
            "## {name}\n{source}\n{caret:>column$}\n{err}\n\n",
            caret = "^"
        ));
    }
    insta::assert_snapshot!(report);
}

fn error(format: Format, text: &str) -> PolicyError {
    parse_as(format, text).expect_err("should not parse")
}

fn case(name: &str) -> (Format, String) {
    let (_, format, text) = bad_policies()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .unwrap();
    (format, text)
}

#[test]
fn unknown_syscall_points_at_the_name() {
    let (format, text) = case("unknown syscall, with a suggestion");
    match error(format, &text) {
        PolicyError::Invalid {
            path,
            line,
            column,
            problem:
                Problem::UnknownSyscall {
                    name,
                    place,
                    suggestion,
                },
        } => {
            assert_eq!(path, "policy.yaml");
            assert_eq!((line, column), (8, 25));
            assert_eq!(name, "exceve");
            assert_eq!(place, "module `__main__`");
            assert_eq!(suggestion.as_deref(), Some("execve"));
        }
        other => panic!("{other:?}"),
    }
    let (format, text) = case("JSON: unknown syscall");
    let err = error(format, &text);
    assert_eq!(err.position(), Some((6, 21)), "{err}");
    assert_eq!(&text.lines().nth(5).unwrap()[20..], "\"clsoe\"]");
    assert!(
        err.to_string().starts_with(
            "policy.json:6:21: unknown syscall `clsoe` in spec.base; did you mean `close`?"
        ),
        "{err}"
    );
}

#[test]
fn duplicate_module_keys_are_refused_in_both_formats() {
    for (name, position) in [
        ("duplicate module key", (10, 5)),
        ("JSON: duplicate module key", (9, 7)),
    ] {
        let (format, text) = case(name);
        let err = error(format, &text);
        assert_eq!(err.position(), Some(position), "{name}: {err}");
        assert!(
            matches!(
                &err,
                PolicyError::Invalid {
                    problem: Problem::DuplicateModuleKey { .. },
                    ..
                }
            ),
            "{name}: {err:?}"
        );
    }
}

/// A repeated key is reported where it appears the second time, at any
/// level, in both formats (serde would say where its mapping starts).
#[test]
fn duplicate_keys_are_reported_where_they_repeat() {
    for (name, position, key, place) in [
        ("duplicate field", (7, 3), "base", "spec"),
        ("duplicate mode after other keys", (9, 3), "mode", "spec"),
        ("duplicate spec", (7, 1), "spec", "the document"),
        (
            "duplicate field in metadata, flow style",
            (3, 37),
            "name",
            "metadata",
        ),
        ("duplicate apiVersion", (3, 1), "apiVersion", "the document"),
        ("JSON: duplicate field", (8, 5), "mode", "spec"),
    ] {
        let (format, text) = case(name);
        let err = error(format, &text);
        assert_eq!(err.position(), Some(position), "{name}: {err}");
        match &err {
            PolicyError::Invalid {
                problem: Problem::DuplicateKey { key: k, place: p },
                ..
            } => assert_eq!((k.as_str(), p.as_str()), (key, place), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // Nested deeper, and in generatedFrom.
    let text = "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata:\n  name: a\n  generatedFrom:\n    interpreter: /usr/bin/python3\n    command: [python3]\n    interpreter: /bin/sh\nspec: {base: []}\n";
    let err = parse_yaml(text).unwrap_err();
    assert_eq!(err.position(), Some((8, 5)), "{err}");
    assert!(
        err.to_string()
            .contains("`interpreter` appears twice in metadata.generatedFrom"),
        "{err}"
    );
}

/// A UTF-8 byte-order mark at the start is not part of the document.
#[test]
fn a_byte_order_mark_is_accepted() {
    let yaml = format!("\u{feff}{EXAMPLE_YAML}");
    assert_eq!(
        parse_yaml(&yaml).unwrap(),
        parse_yaml(EXAMPLE_YAML).unwrap()
    );
    let json = format!("\u{feff}{EXAMPLE_JSON}");
    assert_eq!(
        parse_json(&json).unwrap(),
        parse_json(EXAMPLE_JSON).unwrap()
    );
    // Positions are those the user's editor shows (it hides the mark).
    let err = parse_yaml("\u{feff}apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: a}\nspec: {base: [bogus]}\n").unwrap_err();
    assert_eq!(err.position(), Some((4, 15)), "{err}");
    // Only at the start, and only one.
    assert!(parse_yaml("\u{feff}\u{feff}apiVersion: secimport.dev/v1\n").is_err());
    let dir = scratch_dir("bom");
    let path = dir.join("p.yaml");
    std::fs::write(&path, &yaml).unwrap();
    Policy::load(&path).unwrap();
    assert!(matches!(
        parse_yaml("\u{feff}").unwrap_err(),
        PolicyError::Invalid {
            problem: Problem::Empty,
            ..
        }
    ));
}

#[test]
fn bad_globs_are_named() {
    let (format, text) = case("double star");
    match error(format, &text) {
        PolicyError::Invalid {
            line,
            column,
            problem: Problem::BadModuleKey { key, error },
            ..
        } => {
            assert_eq!((line, column), (8, 5));
            assert_eq!(key, "torch.**");
            assert_eq!(error, PatternError::DoubleStar);
        }
        other => panic!("{other:?}"),
    }
}

/// The message users read when a dangerous syscall is in a shared set.
fn dangerous_message(name: &str, place: &str) -> String {
    format!(
        "`{name}` cannot be in {place}: it is a dangerous syscall (exec, process creation, \
         networking, other processes, file-system changes), which is only ever allowed to the \
         modules that need it; list it under those modules in spec.modules"
    )
}

#[test]
fn dangerous_syscalls_are_refused_in_shared_sets() {
    for (name, path, position, syscall, place) in [
        (
            "dangerous syscall in base",
            "policy.yaml",
            (6, 18),
            "execve",
            "spec.base",
        ),
        (
            "dangerous syscall in startup",
            "policy.yaml",
            (9, 7),
            "socket",
            "spec.startup",
        ),
        (
            "dangerous syscall in frameless",
            "policy.yaml",
            (7, 23),
            "sendmsg",
            "spec.frameless",
        ),
        (
            "JSON: dangerous syscall in base",
            "policy.json",
            (6, 22),
            "connect",
            "spec.base",
        ),
    ] {
        let (format, text) = case(name);
        let err = error(format, &text);
        match &err {
            PolicyError::Invalid {
                path: p,
                line,
                column,
                problem: Problem::DangerousShared { name: n, place: pl },
            } => {
                assert_eq!(p, path, "{name}");
                assert_eq!((*line, *column), position, "{name}: {err}");
                assert_eq!(n, syscall, "{name}");
                assert_eq!(pl, place, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        // The column is the name's (the quote's, in JSON).
        let source = text.lines().nth(position.0 - 1).unwrap();
        let at: String = source.chars().skip(position.1 - 1).collect();
        assert!(
            at.trim_start_matches('"').starts_with(syscall),
            "{name}: {at}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{path}:{}:{}: {}",
                position.0,
                position.1,
                dangerous_message(syscall, place)
            ),
            "{name}"
        );
    }
}

fn spec_yaml(spec: &str) -> String {
    format!(
        "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {{name: x}}\nspec:\n{spec}"
    )
}

#[test]
fn every_dangerous_name_is_refused_in_every_shared_set() {
    for name in DANGEROUS {
        for (field, text) in [
            ("spec.base", spec_yaml(&format!("  base: [read, {name}]\n"))),
            (
                "spec.startup",
                spec_yaml(&format!("  base: []\n  startup: [read, {name}]\n")),
            ),
            (
                "spec.frameless",
                spec_yaml(&format!("  base: []\n  frameless: [read, {name}]\n")),
            ),
        ] {
            let err = parse_yaml(&text).expect_err(&format!("{name} in {field}"));
            assert!(
                matches!(
                    &err,
                    PolicyError::Invalid {
                        problem: Problem::DangerousShared { name: n, place },
                        ..
                    } if n == name && place == field
                ),
                "{name} in {field}: {err:?}"
            );
            // After `read, `: the column of the name.
            let column = text
                .lines()
                .nth(err.position().unwrap().0 - 1)
                .unwrap()
                .find(name);
            assert_eq!(err.position().unwrap().1, column.unwrap() + 1, "{err}");
            // The JSON reader refuses it too.
            let json = format!(
                "{{\"apiVersion\": \"secimport.dev/v1\", \"kind\": \"SandboxPolicy\", \"metadata\": {{\"name\": \"x\"}}, \"spec\": {{\"base\": [], \"{}\": [\"{name}\"]}}}}",
                field.trim_start_matches("spec.")
            );
            let json = json.replacen("\"base\": [], \"base\"", "\"base\"", 1);
            let err = parse_json(&json).expect_err(&json);
            assert!(
                matches!(
                    &err,
                    PolicyError::Invalid {
                        problem: Problem::DangerousShared { .. },
                        ..
                    }
                ),
                "{json}: {err:?}"
            );
        }
    }
}

#[test]
fn dangerous_syscalls_are_accepted_in_module_lists_and_children() {
    let dangerous = DANGEROUS.join(", ");
    let text = spec_yaml(&format!(
        "  base: [openat, clone, clone3, kill, tgkill, tkill, open, openat2]\n  \
         startup: [openat, clone, clone3]\n  frameless: [clone3, kill, openat]\n  \
         children: [{dangerous}]\n  modules:\n    subprocess: [{dangerous}]\n    \
         \"pkg.*\": [execve, socket]\n"
    ));
    let policy = parse_yaml(&text).unwrap_or_else(|e| panic!("{e}"));
    let all = set(DANGEROUS);
    assert_eq!(policy.spec.children, all);
    assert_eq!(policy.spec.modules["subprocess"], all);
    assert_eq!(policy.spec.modules["pkg.*"], set(&["execve", "socket"]));
    // Dangerous only by their arguments: the kernel judges those, the
    // shared sets may list them.
    let by_arguments: Vec<&str> = DANGEROUS_BY_ARGUMENTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(policy.spec.base, set(&by_arguments));
    assert_eq!(policy.spec.startup, set(&["clone", "clone3", "openat"]));
    assert_eq!(policy.spec.frameless, set(&["clone3", "kill", "openat"]));
    for name in by_arguments {
        assert!(!classes::is_dangerous(name), "{name}");
    }
    // And what was read is written back and read again.
    assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
}

#[test]
fn a_dangerous_name_spelled_by_number_is_an_unknown_syscall() {
    // `syscall_59` is not a way around the check: named numbers are refused.
    let err = parse_yaml(&spec_yaml("  base: [syscall_59]\n")).unwrap_err();
    assert!(
        matches!(
            &err,
            PolicyError::Invalid {
                problem: Problem::UnknownSyscall { suggestion: Some(s), .. },
                ..
            } if s == "execve"
        ),
        "{err:?}"
    );
}

#[test]
fn envelope_errors_come_first() {
    // A trace has a `format` field that a policy does not know; the message is
    // about the file being a trace, not about that field.
    let (format, text) = case("a trace instead of a policy");
    let err = error(format, &text);
    assert!(
        matches!(
            &err,
            PolicyError::Invalid {
                problem: Problem::NotAPolicy { trace: true },
                ..
            }
        ),
        "{err:?}"
    );
    let (format, text) = case("wrong apiVersion");
    match error(format, &text) {
        PolicyError::Invalid {
            line,
            column,
            problem: Problem::WrongApiVersion { found },
            ..
        } => {
            assert_eq!((line, column), (1, 13));
            assert_eq!(found, "secimport.dev/v2");
        }
        other => panic!("{other:?}"),
    }
    let (format, text) = case("wrong kind");
    let err = error(format, &text);
    assert_eq!(err.position(), Some((2, 7)));
    assert!(
        matches!(
            &err,
            PolicyError::Invalid {
                problem: Problem::WrongKind { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unknown_fields_point_at_the_key() {
    let (format, text) = case("unknown field");
    let err = error(format, &text);
    assert!(matches!(err, PolicyError::Syntax { .. }), "{err:?}");
    assert_eq!(err.position(), Some((7, 3)), "{err}");
    let (format, text) = case("JSON: unknown field");
    let err = error(format, &text);
    assert_eq!(err.position(), Some((7, 5)), "{err}");
    assert!(err.to_string().contains("unknown field `unknwon`"), "{err}");
}

#[test]
fn columns_count_characters() {
    let yaml = "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: modèle}\nspec:\n  base: []\n  modules: {\"modèle\": [réad]}\n";
    let err = parse_yaml(yaml).unwrap_err();
    assert_eq!(err.position(), Some((6, 24)), "{err}");
    let json = "{\"apiVersion\": \"secimport.dev/v1\", \"kind\": \"SandboxPolicy\", \"metadata\": {\"name\": \"é\"},\n\"spec\": {\"base\": [], \"modules\": {\"é\": [\"réad\"]}}}";
    let err = parse_json(json).unwrap_err();
    assert_eq!(err.position(), Some((2, 40)), "{err}");
}

// ---------------------------------------------------------------- writing

#[test]
fn built_policy_yaml() {
    let policy = build(&sample_trace(), &BuildOptions::default());
    insta::assert_snapshot!(policy.to_yaml());
}

#[test]
fn built_policy_yaml_grouped() {
    let policy = build(&sample_trace(), &grouped());
    insta::assert_snapshot!(policy.to_yaml());
}

#[test]
fn built_policy_json() {
    let policy = build(&sample_trace(), &grouped());
    let json = policy.to_json();
    assert!(json.ends_with("}\n"));
    insta::assert_snapshot!(json);
}

#[test]
fn round_trips_through_yaml_and_json_files() {
    let dir = scratch_dir("round_trip");
    for opts in [BuildOptions::default(), grouped()] {
        let policy = build(&sample_trace(), &opts);
        let yaml_path = dir.join("policy.yaml");
        let json_path = dir.join("policy.json");
        std::fs::write(&yaml_path, policy.to_yaml()).unwrap();
        std::fs::write(&json_path, policy.to_json()).unwrap();
        let from_yaml = Policy::load(&yaml_path).unwrap();
        let from_json = Policy::load(&json_path).unwrap();
        assert_eq!(from_yaml, policy);
        assert_eq!(from_json, policy);
        assert_eq!(from_yaml.to_yaml(), policy.to_yaml());
        assert_eq!(from_json.to_json(), policy.to_json());
        // Each format reads the other's output too (JSON is YAML).
        assert_eq!(parse_yaml(&policy.to_json()).unwrap(), policy);
    }
}

#[test]
fn awkward_names_survive_the_round_trip() {
    let mut policy = Policy::new("naïve: \"quoted\" # not a comment");
    policy.metadata.description = Some("line one\nline two\ttab, [flow] {chars} & *alias".into());
    policy.metadata.generated_from = Some(Default::default());
    policy.spec.base = set(&["read", "syscall_400"]);
    for key in [
        "<frozen importlib._bootstrap>",
        "<string>",
        "/opt/my tool/x.py",
        "C:\\odd\\path.py",
        "yes",
        "null",
        "~",
        "123",
        "1.5",
        "-dash",
        "key: with colon",
        "#hash",
        "'single'",
        "\"double\"",
        "modèle",
        "trailing ",
        "",
        "a,b",
        "[x]",
        "{y}",
        "!tag",
        "&anchor",
        "*alias/x",
        "%percent",
        "@at",
        "`tick`",
        "<< ",
        "pkg.*",
        "*",
    ] {
        policy
            .spec
            .modules
            .insert(ModulePattern::parse(key).unwrap(), set(&["openat"]));
    }
    let long: Vec<&str> = syscalls::all().map(|(_, n)| n).take(120).collect();
    policy.spec.children = set(&long);
    let yaml = policy.to_yaml();
    assert_eq!(parse_yaml(&yaml).unwrap(), policy, "{yaml}");
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
    assert!(yaml.lines().all(|l| l.chars().count() <= 100), "{yaml}");
}

#[test]
fn empty_policy_round_trips() {
    let policy = Policy::new("empty");
    let yaml = policy.to_yaml();
    assert_eq!(
        yaml,
        "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata:\n  name: empty\nspec:\n  mode: log\n  unknown: base-only\n  base: []\n  startup: []\n  frameless: []\n  children: []\n  modules: {}\n"
    );
    assert_eq!(parse_yaml(&yaml).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
}

// ---------------------------------------------------------------- build

#[test]
fn build_is_a_function_of_the_trace() {
    let trace = sample_trace();
    let policy = build(&trace, &BuildOptions::default());
    assert_eq!(policy.metadata.name, "train");
    let from = policy.metadata.generated_from.as_ref().unwrap();
    assert_eq!(from.command, trace.command);
    assert_eq!(from.python_version.as_deref(), Some("3.11.2"));
    // The start-up bucket gives both `startup` and `base`, the frameless
    // bucket `frameless`; harmless names (allowed anyway) and dangerous ones
    // (never allowed there) are left out of all three.
    assert_eq!(policy.spec.base, set(&["arch_prctl", "newfstatat"]));
    assert_eq!(policy.spec.startup, set(&["arch_prctl", "newfstatat"]));
    assert_eq!(policy.spec.frameless, set(&["clone3", "getcwd"]));
    assert_eq!(
        policy.spec.children,
        set(&["execve", "exit_group", "write"])
    );
    assert_eq!(policy.spec.modules.len(), trace.modules.len());
    for (name, module) in &trace.modules {
        let names: Vec<&str> = module.syscalls.keys().map(String::as_str).collect();
        assert_eq!(policy.spec.modules[name.as_str()], set(&names), "{name}");
    }
    assert_eq!(policy.spec.mode, Mode::Log);
    assert_eq!(policy.spec.unknown, UnknownRule::BaseOnly);

    // Same trace, same bytes; also after the trace went through its file.
    let again = Trace::from_json(&trace.to_json(), "t.json").unwrap();
    for opts in [BuildOptions::default(), grouped()] {
        let a = build(&trace, &opts);
        let b = build(&again, &opts);
        assert_eq!(a.to_yaml(), b.to_yaml());
        assert_eq!(a.to_json(), b.to_json());
    }
}

#[test]
fn build_options() {
    let opts = BuildOptions {
        group_packages: false,
        mode: Mode::Stop,
        unknown: UnknownRule::Allow,
        name: Some("custom".to_string()),
    };
    let policy = build(&sample_trace(), &opts);
    assert_eq!(policy.metadata.name, "custom");
    assert_eq!(policy.spec.mode, Mode::Stop);
    assert_eq!(policy.spec.unknown, UnknownRule::Allow);
}

#[test]
fn default_names() {
    let mut trace = sample_trace();
    trace.modules.remove("__main__");
    assert_eq!(
        build(&trace, &BuildOptions::default()).metadata.name,
        "train"
    );
    trace.command = vec!["python3".into(), "-m".into(), "http.server".into()];
    assert_eq!(
        build(&trace, &BuildOptions::default()).metadata.name,
        "http.server"
    );
    trace.command = vec!["python3".into(), "-c".into(), "pass".into()];
    assert_eq!(
        build(&trace, &BuildOptions::default()).metadata.name,
        "policy"
    );
}

#[test]
fn unusable_syscall_names_are_left_out_and_reported() {
    let mut trace = sample_trace();
    trace
        .buckets
        .startup
        .insert("syscall_1073741824".to_string(), 1);
    trace.buckets.startup.insert("syscall_400".to_string(), 1);
    trace.buckets.frameless.insert("bogus".to_string(), 1);
    trace.buckets.frameless.insert("syscall_401".to_string(), 1);
    trace
        .modules
        .get_mut("json")
        .unwrap()
        .syscalls
        .insert("not_a_syscall".to_string(), 1);
    let policy = build(&trace, &BuildOptions::default());
    let s400 = Syscall::parse("syscall_400").unwrap();
    let s401 = Syscall::parse("syscall_401").unwrap();
    assert_eq!(
        policy.spec.base,
        set(&["arch_prctl", "newfstatat", "syscall_400"])
    );
    assert_eq!(policy.spec.startup, policy.spec.base);
    assert!(policy.spec.frameless.contains(&s401));
    assert!(!policy.spec.frameless.contains(&s400));
    assert_eq!(policy.spec.frameless.len(), 3);
    assert_eq!(policy.spec.modules["json"], set(&["read"]));
    let unusable: Vec<String> = unusable_syscalls(&trace).into_iter().collect();
    assert_eq!(unusable, ["bogus", "not_a_syscall", "syscall_1073741824"]);
    assert!(unusable_syscalls(&sample_trace()).is_empty());
    // And what is left loads.
    assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
}

#[test]
fn build_leaves_harmless_and_dangerous_names_out_of_the_shared_sets() {
    // Every harmless and every dangerous name, seen with no frame before and
    // after start-up and in a module: only the module keeps them.
    let everything: Vec<&str> = HARMLESS.iter().chain(DANGEROUS).copied().collect();
    let mut trace = trace_with(&[("tool", everything.as_slice())]);
    trace.buckets.startup = counts(&everything);
    trace.buckets.startup.insert("statx".to_string(), 1);
    trace.buckets.frameless = counts(&everything);
    trace.buckets.frameless.insert("clone".to_string(), 1);
    trace.buckets.frameless.insert("openat".to_string(), 1);
    trace.buckets.non_python = counts(&everything);
    let policy = build(&trace, &BuildOptions::default());
    assert_eq!(policy.spec.base, set(&["statx"]));
    assert_eq!(policy.spec.startup, set(&["statx"]));
    assert_eq!(policy.spec.frameless, set(&["clone", "openat"]));
    assert_eq!(policy.spec.modules["tool"], set(&everything));
    assert_eq!(policy.spec.children, set(&everything));
    // The frameless bucket never reaches `base` or `startup`, the start-up
    // bucket never reaches `frameless`.
    assert!(!policy.spec.base.contains(&Syscall::parse("clone").unwrap()));
    assert!(!policy
        .spec
        .frameless
        .contains(&Syscall::parse("statx").unwrap()));
    // And it loads: a dangerous name in a shared set would not.
    assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
}

#[test]
fn dropped_from_shared_names_the_dangerous_syscalls_by_bucket() {
    let trace = sample_trace();
    assert_eq!(
        dropped_from_shared(&trace),
        [
            ("startup", vec!["execve".to_string()]),
            ("frameless", vec!["socket".to_string()]),
        ]
    );
    // clone3 is kept in `frameless` (its dangerous form is the kernel's to
    // judge), so it is not reported; neither are harmless names, which are
    // left out because they are allowed anyway.
    let policy = build(&trace, &BuildOptions::default());
    assert!(policy
        .spec
        .frameless
        .contains(&Syscall::parse("clone3").unwrap()));
    for (_, names) in dropped_from_shared(&trace) {
        assert!(!names.iter().any(|n| n == "clone3" || n == "futex"));
    }

    // Sorted within a bucket; a bucket with nothing dropped is not listed;
    // names the table does not know are not dangerous.
    let mut trace = sample_trace();
    trace.buckets.startup = counts(&["read", "openat", "clone", "bogus"]);
    trace.buckets.frameless = counts(&["unlink", "connect", "bind", "read"]);
    assert_eq!(
        dropped_from_shared(&trace),
        [(
            "frameless",
            vec![
                "bind".to_string(),
                "connect".to_string(),
                "unlink".to_string()
            ]
        )]
    );
    // Modules, children and the unused buckets are not shared sets.
    let mut trace = trace_with(&[("__main__", &["execve", "socket"])]);
    trace.buckets.startup = counts(&["read"]);
    trace.buckets.frameless = counts(&["read"]);
    trace.buckets.truncated = counts(&["execve"]);
    trace.buckets.unreadable = counts(&["socket"]);
    assert!(dropped_from_shared(&trace).is_empty());
}

fn keys(policy: &Policy) -> Vec<&str> {
    policy.spec.modules.keys().map(|k| k.as_str()).collect()
}

#[test]
fn grouping_merges_uniform_packages() {
    let policy = build(&sample_trace(), &grouped());
    // json, json.decoder, json.scanner all read -> json.*; model differs from
    // model.layers.*, so the outermost uniform package is model.layers.
    assert_eq!(
        keys(&policy),
        [
            "<frozen importlib._bootstrap>",
            "<string>",
            "__main__",
            "json.*",
            "model",
            "model.data",
            "model.layers.*",
            "subprocess",
        ]
    );
    assert_eq!(policy.spec.modules["json.*"], set(&["read"]));
    assert_eq!(
        policy.spec.modules["model.layers.*"],
        set(&["mmap", "openat"])
    );
    // Every traced module gets the same rule as without grouping.
    let plain = build(&sample_trace(), &BuildOptions::default()).compile();
    let compiled = policy.compile();
    for name in sample_trace().modules.keys() {
        assert_eq!(
            compiled.rule_for(name).map(|r| r.1),
            plain.rule_for(name).map(|r| r.1),
            "{name}"
        );
    }
    // And the package's other modules are covered too.
    assert_eq!(compiled.rule_for("json.encoder").unwrap().0, "json.*");
    assert_eq!(
        compiled.rule_for("model.layers.conv").unwrap().0,
        "model.layers.*"
    );
    assert_eq!(compiled.rule_for("model.other"), None);
}

#[test]
fn grouping_needs_two_modules_and_skips_main_and_pseudo_names() {
    let trace = trace_with(&[
        ("__main__", &["read"]),
        ("<frozen zipimport>", &["read"]),
        ("<frozen importlib._bootstrap>", &["read"]),
        ("lonely", &["read"]),
        ("deep.a.b.c", &["read"]),
        ("/opt/x.py", &["read"]),
        ("/opt/y.py", &["read"]),
    ]);
    let policy = build(&trace, &grouped());
    assert_eq!(
        keys(&policy),
        [
            "/opt/x.py",
            "/opt/y.py",
            "<frozen importlib._bootstrap>",
            "<frozen zipimport>",
            "__main__",
            "deep.a.b.c",
            "lonely",
        ]
    );
}

#[test]
fn grouping_picks_the_outermost_uniform_package() {
    let trace = trace_with(&[
        ("a.b.c", &["read"]),
        ("a.b.d", &["read"]),
        ("a.b", &["read"]),
        ("a.x.y", &["read"]),
        ("a.x.z", &["read"]),
        ("q.r", &["read"]),
        ("q.s", &["write"]),
        ("q.s.t", &["write"]),
    ]);
    let policy = build(&trace, &grouped());
    assert_eq!(keys(&policy), ["a.*", "q.r", "q.s.*"]);
}

// ---------------------------------------------------------------- compile

fn policy_with(keys: &[&str]) -> Policy {
    let mut policy = Policy::new("t");
    // Each key allows a distinct syscall so the tests can see which one won.
    let names: Vec<&str> = syscalls::all().map(|(_, n)| n).collect();
    for (i, key) in keys.iter().enumerate() {
        policy
            .spec
            .modules
            .insert(ModulePattern::parse(key).unwrap(), set(&[names[i + 100]]));
    }
    policy
}

#[test]
fn glob_precedence() {
    let policy = policy_with(&[
        "*",
        "*.tests",
        "torch",
        "torch.*",
        "torch.nn.*",
        "torch.nn.functional",
        "torch.n*",
        "torch.*_ops",
        "a.*x",
        "a.*.*",
        "<string>",
        "/opt/x.py",
    ]);
    let compiled = policy.compile();
    let rule = |name: &str| compiled.rule_for(name).map(|(key, _)| key.to_string());
    for (name, key) in [
        // Exact beats globs.
        ("torch", "torch"),
        ("torch.nn.functional", "torch.nn.functional"),
        // Longest literal prefix.
        ("torch.nn", "torch.nn.*"),
        ("torch.nn.modules.module", "torch.nn.*"),
        ("torch.nx", "torch.n*"),
        ("torch.cuda", "torch.*"),
        ("torch.cuda.amp", "torch.*"),
        ("torch.linalg_ops", "torch.*_ops"),
        ("torch.a.b", "torch.*"),
        ("pkg.tests", "*.tests"),
        ("pkg.sub.tests", "*"),
        ("anything", "*"),
        ("__main__", "*"),
        // Same literal prefix and count: fixed depth beats package-wide.
        ("a.bx", "a.*x"),
        ("a.by", "a.*.*"),
        // Globs never match pseudo-names or paths.
        ("<string>", "<string>"),
        ("/opt/x.py", "/opt/x.py"),
    ] {
        assert_eq!(rule(name).as_deref(), Some(key), "{name}");
    }
    for none in ["<frozen os>", "/opt/y.py", "dir/x.py", ""] {
        assert_eq!(rule(none), None, "{none:?}");
    }
    // The bitmap is the key's.
    let (key, bitmap) = compiled.rule_for("torch.nn").unwrap();
    let expected = &policy.spec.modules[key];
    for (nr, _) in syscalls::all() {
        assert_eq!(
            bitmap_contains(&bitmap, nr),
            expected.iter().any(|s| s.number() == nr)
        );
    }
}

#[test]
fn precedence_does_not_depend_on_file_order() {
    let a = "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  base: []\n  modules:\n    \"a.*.*\": [read]\n    \"a.*x\": [write]\n";
    let b = "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  base: []\n  modules:\n    \"a.*x\": [write]\n    \"a.*.*\": [read]\n";
    let (a, b) = (
        parse_yaml(a).unwrap().compile(),
        parse_yaml(b).unwrap().compile(),
    );
    assert_eq!(a.rule_for("a.bx").unwrap().0, "a.*x");
    assert_eq!(b.rule_for("a.bx").unwrap().0, "a.*x");
}

#[test]
fn decisions() {
    let mut policy = parse_yaml(EXAMPLE_YAML).unwrap();
    let (read, openat, mmap, brk, execve, write, getppid) = (
        nr("read"),
        nr("openat"),
        nr("mmap"),
        nr("brk"),
        nr("execve"),
        nr("write"),
        nr("getppid"),
    );
    // Not harmless: `statx` is in base only, `newfstatat` in base and startup,
    // `arch_prctl` in startup only, `getcwd` in frameless only.
    let (statx, newfstatat, arch_prctl, getcwd) = (
        nr("statx"),
        nr("newfstatat"),
        nr("arch_prctl"),
        nr("getcwd"),
    );
    for unknown in [UnknownRule::BaseOnly, UnknownRule::Allow, UnknownRule::Deny] {
        policy.spec.unknown = unknown;
        let c = policy.compile();
        assert_eq!(c.unknown, unknown);
        assert_eq!(c.mode, Mode::Kill);
        // Harmless: whatever the stack.
        for started in [false, true] {
            assert!(c.allows(&[], brk, started));
            assert!(c.allows(&[], read, started));
            assert!(c.allows(&["json.decoder"], read, started));
            assert!(c.allows(&["requests"], mmap, started));
        }
        // No Python frame before start-up: `startup` only, not `base`.
        assert!(c.allows(&[], arch_prctl, false));
        assert!(c.allows(&[], newfstatat, false));
        assert!(!c.allows(&[], statx, false));
        assert!(!c.allows(&[], getcwd, false));
        assert!(!c.allows(&[], getppid, false));
        // No Python frame after start-up: `frameless` only.
        assert!(c.allows(&[], getcwd, true));
        assert!(!c.allows(&[], arch_prctl, true));
        assert!(!c.allows(&[], newfstatat, true));
        assert!(!c.allows(&[], statx, true));
        assert!(!c.allows(&[], write, true));
        // Covered modules: base, or allowed by every one of them; `started`
        // only matters with no module at all.
        for started in [false, true] {
            assert!(c.allows(&["__main__"], getppid, started));
            assert!(c.allows(&["__main__", "json.decoder"], statx, started));
            assert!(c.allows(&["__main__", "json.decoder"], newfstatat, started));
            assert!(!c.allows(&["__main__", "json.decoder"], openat, started));
            assert!(c.allows(&["__main__", "torch.nn"], openat, started));
            assert!(c.allows(&["json.decoder", "torch.nn"], statx, started)); // base
            assert!(!c.allows(&["json.decoder"], write, started));
            // `startup` and `frameless` are not granted to modules.
            assert!(!c.allows(&["json.decoder"], arch_prctl, started));
            assert!(!c.allows(&["json.decoder"], getcwd, started));
            // Dangerous: only from a module's own list.
            assert!(!c.allows(&["json.decoder"], execve, started));
        }
        // Children.
        assert!(c.allows_child(execve));
        assert!(!c.allows_child(read));
        // Unknown modules.
        let with_unknown = ["__main__", "requests"];
        match unknown {
            UnknownRule::BaseOnly => {
                assert!(c.allows(&with_unknown, statx, true));
                assert!(!c.allows(&with_unknown, openat, true));
                assert!(!c.allows(&["requests"], openat, true));
                assert!(!c.allows(&["requests"], getcwd, true));
            }
            UnknownRule::Allow => {
                assert!(c.allows(&with_unknown, openat, true));
                assert!(!c.allows(&with_unknown, write, true));
                assert!(c.allows(&["requests"], write, true));
            }
            UnknownRule::Deny => {
                assert!(!c.allows(&with_unknown, statx, true));
                assert!(!c.allows(&["requests"], statx, true));
                assert!(c.allows(&["__main__"], statx, true));
                // Harmless stays allowed even there.
                assert!(c.allows(&["requests"], brk, true));
            }
        }
    }
}

#[test]
fn harmless_syscalls_are_always_allowed() {
    // An empty policy that denies unknown modules allows nothing else.
    let mut policy = Policy::new("nothing");
    policy.spec.unknown = UnknownRule::Deny;
    let c = policy.compile();
    let harmless = classes::harmless_bitmap();
    for (number, name) in syscalls::all() {
        let expected = HARMLESS.contains(&name);
        assert_eq!(bitmap_contains(&harmless, number), expected, "{name}");
        for stack in [&[][..], &["anything"][..], &["a", "b.c"][..]] {
            for started in [false, true] {
                assert_eq!(
                    c.allows(stack, number, started),
                    expected,
                    "{name} {stack:?} {started}"
                );
            }
        }
    }
}

#[test]
fn dangerous_syscalls_in_shared_sets_are_ignored() {
    // The parser refuses them; a policy made in code that has them anyway
    // still does not allow them there.
    let mut policy = Policy::new("t");
    let dangerous = set(&["execve", "socket", "unlink"]);
    policy.spec.base = dangerous.clone();
    policy.spec.startup = dangerous.clone();
    policy.spec.frameless = dangerous.clone();
    policy.spec.base.insert(Syscall::parse("statx").unwrap());
    policy
        .spec
        .startup
        .insert(Syscall::parse("clone3").unwrap());
    policy
        .spec
        .frameless
        .insert(Syscall::parse("clone").unwrap());
    policy.spec.modules.insert(
        ModulePattern::parse("subprocess").unwrap(),
        set(&["execve"]),
    );
    policy
        .spec
        .modules
        .insert(ModulePattern::parse("json").unwrap(), SyscallSet::new());
    let c = policy.compile();
    // The bitmaps hold what the spec said; the decision ignores it.
    assert!(bitmap_contains(&c.base, nr("execve")));
    assert!(bitmap_contains(&c.startup, nr("socket")));
    assert!(bitmap_contains(&c.frameless, nr("unlink")));
    for syscall in &dangerous {
        let n = syscall.number();
        for started in [false, true] {
            assert!(!c.allows(&[], n, started), "{syscall:?}");
            assert!(!c.allows(&["json"], n, started), "{syscall:?}");
            assert!(!c.allows(&["unknown.module"], n, started), "{syscall:?}");
        }
    }
    // A module's own list does allow them, but only if every module does.
    assert!(c.allows(&["subprocess"], nr("execve"), true));
    assert!(!c.allows(&["subprocess", "json"], nr("execve"), true));
    assert!(!c.allows(&["subprocess"], nr("socket"), true));
    // The rest of the shared sets still works: not dangerous by number.
    assert!(c.allows(&["json"], nr("statx"), true));
    assert!(c.allows(&[], nr("clone3"), false));
    assert!(!c.allows(&[], nr("clone3"), true));
    assert!(c.allows(&[], nr("clone"), true));
    assert!(!c.allows(&[], nr("clone"), false));
    // What is dangerous by number, the bitmap says.
    let bitmap = classes::dangerous_bitmap();
    for (number, name) in syscalls::all() {
        assert_eq!(
            bitmap_contains(&bitmap, number),
            DANGEROUS.contains(&name),
            "{name}"
        );
    }
}

#[test]
fn bitmaps() {
    let policy = parse_yaml(EXAMPLE_YAML).unwrap();
    let c = policy.compile();
    let base: Vec<u32> = (0..512).filter(|&n| bitmap_contains(&c.base, n)).collect();
    assert_eq!(
        base,
        [
            nr("close"),
            nr("mmap"),
            nr("brk"),
            nr("newfstatat"),
            nr("statx")
        ]
    );
    let startup: Vec<u32> = (0..512)
        .filter(|&n| bitmap_contains(&c.startup, n))
        .collect();
    assert_eq!(startup, [nr("arch_prctl"), nr("newfstatat")]);
    let frameless: Vec<u32> = (0..512)
        .filter(|&n| bitmap_contains(&c.frameless, n))
        .collect();
    assert_eq!(frameless, [nr("getcwd")]);
    let empty = Policy::new("e").compile();
    assert_eq!(empty.startup, [0; 8]);
    assert_eq!(empty.frameless, [0; 8]);
    assert!(!bitmap_contains(&c.base, 512));
    assert!(!bitmap_contains(&c.base, u32::MAX));
    let highest = syscalls::MAX_SYSCALL - 1;
    let mut p = Policy::new("x");
    p.spec.base = [
        Syscall::from_number(highest).unwrap(),
        Syscall::from_number(511).unwrap(),
    ]
    .into_iter()
    .collect();
    let c = p.compile();
    assert_eq!(c.base[7], (1 << 63) | (1 << (highest - 448)));
    assert!(bitmap_contains(&c.base, highest));
    let compiled = policy.compile();
    let rules: Vec<&str> = compiled.rules().map(|(k, _)| k).collect();
    assert_eq!(rules.len(), 5);
    assert_eq!(rules[4], "torch.*");
}

#[test]
fn ten_thousand_modules_compile_and_look_up_fast() {
    // Not a timing test: it makes sure nothing is quadratic in the number of
    // entries (10,000 entries x 10,000 lookups would take minutes if it were).
    let mut policy = Policy::new("big");
    let some = set(&["openat", "read"]);
    let mut names = Vec::new();
    for i in 0..10_000 {
        let key = match i % 4 {
            0 => format!("pkg{i}.*"),
            1 => format!("pkg{}.sub{i}.*", i - 1),
            2 => format!("pkg{}.mod{i}", i - 2),
            _ => format!("pkg{}.test_*", i - 3),
        };
        policy
            .spec
            .modules
            .insert(ModulePattern::parse(&key).unwrap(), some.clone());
        names.push(match i % 4 {
            0 => format!("pkg{i}.x.y"),
            1 => format!("pkg{}.sub{i}.deep.er", i - 1),
            2 => format!("pkg{}.mod{i}", i - 2),
            _ => format!("pkg{}.test_io", i - 3),
        });
    }
    assert_eq!(policy.spec.modules.len(), 10_000);
    let yaml = policy.to_yaml();
    let policy = parse_yaml(&yaml).unwrap();
    let compiled = policy.compile();
    let mut found = BTreeMap::new();
    for name in &names {
        let (key, _) = compiled.rule_for(name).unwrap_or_else(|| panic!("{name}"));
        *found.entry(key.ends_with(".*")).or_insert(0) += 1;
    }
    assert_eq!(found[&true], 5_000);
    assert_eq!(found[&false], 5_000);
    assert_eq!(compiled.rule_for("pkg4.sub5.z").unwrap().0, "pkg4.sub5.*");
    assert_eq!(compiled.rule_for("pkg4.test_x").unwrap().0, "pkg4.test_*");
    assert_eq!(compiled.rule_for("nothing.here"), None);
}

// ---------------------------------------------------------------- schema

#[test]
fn schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/policy.schema.json");
    let schema = json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &schema).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema,
        "schemas/policy.schema.json is stale (the policy types changed); regenerate it with\n\n    \
         UPDATE_SCHEMA=1 cargo test -p secimport-policy schema\n\nand commit the result"
    );
}

#[test]
fn schema_describes_the_format() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    assert_eq!(schema["title"], "secimport SandboxPolicy");
    assert_eq!(schema["additionalProperties"], false);
    let required = schema["required"].as_array().unwrap();
    for field in ["apiVersion", "kind", "metadata", "spec"] {
        assert!(required.iter().any(|r| r == field), "{field}");
    }
    let spec = &schema["definitions"]["Spec"];
    assert_eq!(spec["additionalProperties"], false);
    for field in [
        "mode",
        "unknown",
        "base",
        "startup",
        "frameless",
        "children",
        "modules",
    ] {
        let description = spec["properties"][field]["description"].as_str();
        assert!(
            description.is_some_and(|d| d.len() > 20),
            "spec.{field} is not documented"
        );
    }
    // Only base is required: startup and frameless default to empty.
    let spec_required: Vec<&str> = spec["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(spec_required, ["base"]);
    let base = spec["properties"]["base"]["description"].as_str().unwrap();
    assert!(base.contains("dangerous"), "{base}");
    for field in ["startup", "frameless"] {
        let description = spec["properties"][field]["description"].as_str().unwrap();
        assert!(
            description.contains("no Python frame"),
            "{field}: {description}"
        );
        assert!(
            description.contains("Dangerous syscalls are refused"),
            "{field}"
        );
    }
    let syscall = &schema["definitions"]["Syscall"];
    let names = syscall["anyOf"][0]["enum"].as_array().unwrap();
    assert!(names.iter().any(|n| n == "execve"));
    assert_eq!(names.len(), syscalls::all().count());
}

#[test]
fn example_policies_validate_against_their_own_model() {
    // The docs' example, written by build's writer, parses to the same model.
    let policy = parse_yaml(EXAMPLE_YAML).unwrap();
    assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
}
