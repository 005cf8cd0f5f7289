//! Policies: the file format (YAML and JSON), its errors, `build` from a
//! trace, glob precedence, compilation and the committed JSON Schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secimport_policy::build::{
    build, dropped_from_shared, omissions, unusable_syscalls, BuildOptions, Omitted,
    IMPORT_MACHINERY, IMPORT_WRITES,
};
use secimport_policy::classes::{self, DANGEROUS, HARMLESS};
use secimport_policy::groups::{self, generalize_syscalls};
use secimport_policy::naming;
use secimport_policy::policy::{
    bitmap_contains, json_schema, upgrade_v1, ApiVersion, Format, Mode, ModulePattern,
    PatternError, Policy, PolicyError, Problem, Syscall, SyscallSet, UnknownRule,
};
use secimport_policy::rights::{self, ClassKind};
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

/// The number of a right: a syscall or an argument class (`openat:write`).
fn right(name: &str) -> u32 {
    Syscall::parse(name)
        .unwrap_or_else(|| panic!("{name} is not a right"))
        .number()
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
                        arguments: Default::default(),
                    },
                )
            })
            .collect(),
        buckets: Buckets {
            // Start-up: harmless (brk, close, exit_group, mmap, munmap, read),
            // dangerous (execve: the exec that started the interpreter) and
            // the rest: arch_prctl, newfstatat and the loader mapping
            // libraries executable (mmap:exec, a watched class: kept, like a
            // harmless right).
            startup: counts(&[
                "arch_prctl",
                "brk",
                "close",
                "execve",
                "exit_group",
                "mmap",
                "mmap:exec",
                "munmap",
                "newfstatat",
                "read",
            ]),
            // After start-up: a plain clone3 starts a thread, so it is kept;
            // socket:inet is dangerous and dropped.
            frameless: counts(&[
                "clone3",
                "exit",
                "futex",
                "getcwd",
                "madvise",
                "socket:inet",
            ]),
            non_python: counts(&["execve", "exit_group", "write"]),
            truncated: counts(&["futex"]),
            unreadable: counts(&["getpid"]),
        },
        programs: Default::default(),
        processes: vec![],
        counters: Counters::default(),
        exit_status: Some(0),
    }
}

/// A small program: a script, two stdlib packages, a model package whose
/// modules all behave alike (loading native code: `mmap:exec`), and the
/// import machinery (which also wrote a `__pycache__` file: `openat:write`).
fn sample_trace() -> Trace {
    trace_with(&[
        ("__main__", &["getppid", "openat", "wait4", "clone"]),
        (
            "<frozen importlib._bootstrap>",
            &["newfstatat", "openat", "read"],
        ),
        (
            "<frozen importlib._bootstrap_external>",
            &["getdents64", "mmap:exec", "openat", "openat:write", "read"],
        ),
        ("<string>", &["getpid"]),
        ("json", &["read"]),
        ("json.decoder", &["read"]),
        ("json.scanner", &["read"]),
        ("subprocess", &["clone:process", "pipe2", "wait4"]),
        ("model", &["openat", "read"]),
        ("model.layers", &["mmap", "mmap:exec", "openat"]),
        ("model.layers.attention", &["mmap", "mmap:exec", "openat"]),
        ("model.layers.mlp", &["mmap", "mmap:exec", "openat"]),
        ("model.data", &["openat", "read"]),
    ])
}

fn grouped() -> BuildOptions {
    BuildOptions {
        group_packages: true,
        ..BuildOptions::default()
    }
}

/// The import system's own argument classes (kind `import`): writing a
/// compiled module to a `__pycache__` directory.
const PYCACHE_CLASSES: [&str; 10] = [
    "open:pycache",
    "openat:pycache",
    "openat2:pycache",
    "mkdir:pycache",
    "mkdirat:pycache",
    "rename:pycache",
    "renameat:pycache",
    "renameat2:pycache",
    "unlink:pycache",
    "unlinkat:pycache",
];

/// `write` and the rest of its group, what `build` widens it to unless
/// `exact`.
const WRITE_GROUP: [&str; 5] = ["write", "writev", "pwrite64", "pwritev", "pwritev2"];

/// `names`, the import system's classes and `write`: what `build` always
/// adds to `base` (so that a cold `__pycache__` is never a violation), as
/// `exact` writes it.
fn with_imports(names: &[&str]) -> SyscallSet {
    let mut s = set(names);
    s.extend(set(&PYCACHE_CLASSES));
    s.extend(set(&["write"]));
    s
}

/// [`with_imports`] generalized: `write` brings its whole group.
fn with_imports_grouped(names: &[&str]) -> SyscallSet {
    let mut s = with_imports(names);
    s.extend(set(&WRITE_GROUP));
    s
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
apiVersion: secimport.dev/v2
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
  "apiVersion": "secimport.dev/v2",
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
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: x}\nspec: {base: []}\n",
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
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: x}\nspec:\n  base: [syscall_400, read]\n",
    )
    .unwrap();
    let numbers: Vec<u32> = policy.spec.base.iter().map(Syscall::number).collect();
    assert_eq!(numbers, [0, 400]);
    assert_eq!(Syscall::from_number(400).unwrap().name(), "syscall_400");
    assert_eq!(Syscall::from_number(59).unwrap().name(), "execve");
    // Above the syscalls, the numbers are argument classes; a number that
    // names none is not a right.
    assert_eq!(Syscall::from_number(512).unwrap().name(), "open:write");
    assert_eq!(Syscall::from_number(513).unwrap().name(), "openat:write");
    assert_eq!(Syscall::from_number(1023), None);
    assert_eq!(Syscall::from_number(rights::RIGHT_BITS), None);
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

// ---------------------------------------------------------------- versions

/// The classes `upgrade_v1` grants wherever v1 allowed memory mapping.
const EXEC_CLASSES: [&str; 3] = ["mmap:exec", "mprotect:exec", "pkey_mprotect:exec"];

/// `names` and the executable-memory classes.
fn with_exec(names: &[&str]) -> SyscallSet {
    let mut s = set(names);
    s.extend(set(&EXEC_CLASSES));
    s
}

/// In v1 a name allowed every form of its syscall wherever it was listed
/// (the kernel kept the dangerous forms out of the shared sets), and mmap
/// and mprotect whatever the protection: reading a v1 file gives the v2
/// policy that means the same.
#[test]
fn v1_policies_are_upgraded() {
    let v1 = "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: old}\n\
              spec:\n  base: [openat, statx]\n  startup: [clone3, openat]\n  frameless: [kill]\n  \
              children: [openat, clone]\n  modules:\n    \
              m: [openat, clone, getppid]\n    \
              net: [sendto, kill, mmap]\n";
    let policy = parse_yaml(v1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.api_version, ApiVersion::V2);
    // Module lists and children gain every class of what they list,
    // dangerous ones (openat:write) and the import system's
    // (openat:pycache) included.
    assert_eq!(
        policy.spec.modules["m"],
        with_exec(&[
            "openat",
            "openat:write",
            "openat:pycache",
            "clone",
            "clone:process",
            "getppid"
        ])
    );
    assert_eq!(
        policy.spec.modules["net"],
        with_exec(&[
            "sendto",
            "sendto:inet",
            "sendto:other",
            "sendto:unix",
            "kill",
            "kill:other",
            "mmap",
        ])
    );
    assert_eq!(
        policy.spec.children,
        with_exec(&[
            "openat",
            "openat:write",
            "openat:pycache",
            "clone",
            "clone:process"
        ])
    );
    // The shared sets gain no dangerous form (v1 never allowed one there):
    // only the classes that are not dangerous, the import system's
    // openat:pycache and the executable-memory classes.
    assert_eq!(
        policy.spec.base,
        with_exec(&["openat", "openat:pycache", "statx"])
    );
    assert_eq!(
        policy.spec.startup,
        with_exec(&["clone3", "openat", "openat:pycache"])
    );
    assert_eq!(policy.spec.frameless, with_exec(&["kill"]));
    for shared in [&policy.spec.base, &policy.spec.startup] {
        assert!(!shared.contains(&Syscall::parse("openat:write").unwrap()));
    }
    assert!(!classes::is_dangerous("openat:pycache"));
    // Empty sets too: v1 allowed mapping memory executable everywhere.
    let empty = parse_yaml(
        "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: e}\n\
         spec:\n  base: []\n  modules: {m: []}\n",
    )
    .unwrap();
    for s in [
        &empty.spec.base,
        &empty.spec.startup,
        &empty.spec.frameless,
        &empty.spec.children,
        &empty.spec.modules["m"],
    ] {
        assert_eq!(*s, with_exec(&[]));
    }

    // The JSON reader upgrades alike, and so does `upgrade_v1` on the
    // policy as v1 wrote it; upgrading twice changes nothing.
    let json = String::from(
        "{\"apiVersion\": \"secimport.dev/v1\", \"kind\": \"SandboxPolicy\", \
         \"metadata\": {\"name\": \"old\"}, \"spec\": {\"base\": [\"openat\", \"statx\"], \
         \"startup\": [\"clone3\", \"openat\"], \"frameless\": [\"kill\"], \
         \"children\": [\"openat\", \"clone\"], \"modules\": {\"m\": [\"openat\", \"clone\", \
         \"getppid\"], \"net\": [\"sendto\", \"kill\", \"mmap\"]}}}",
    );
    assert_eq!(parse_json(&json).unwrap(), policy);
    let mut as_written = Policy::new("old");
    as_written.api_version = ApiVersion::V1;
    as_written.spec.base = set(&["openat", "statx"]);
    as_written.spec.startup = set(&["clone3", "openat"]);
    as_written.spec.frameless = set(&["kill"]);
    as_written.spec.children = set(&["openat", "clone"]);
    as_written.spec.modules.insert(
        ModulePattern::parse("m").unwrap(),
        set(&["openat", "clone", "getppid"]),
    );
    as_written.spec.modules.insert(
        ModulePattern::parse("net").unwrap(),
        set(&["sendto", "kill", "mmap"]),
    );
    assert_eq!(upgrade_v1(as_written), policy);
    assert_eq!(upgrade_v1(policy.clone()), policy);

    // Written back, it is a v2 file, read as it is (not upgraded again).
    let yaml = policy.to_yaml();
    assert!(yaml.starts_with("apiVersion: secimport.dev/v2\n"), "{yaml}");
    assert_eq!(parse_yaml(&yaml).unwrap(), policy);
    assert!(policy
        .to_json()
        .contains("\"apiVersion\": \"secimport.dev/v2\""));
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
    // A v2 file is never widened.
    let v2 = v1.replace("secimport.dev/v1", "secimport.dev/v2");
    let read = parse_yaml(&v2).unwrap();
    assert_eq!(read.spec.modules["m"], set(&["openat", "clone", "getppid"]));
    assert_eq!(read.spec.base, set(&["openat", "statx"]));
}

/// In v1 `socket`, `connect` and `bind` were plain names like any other; a
/// v1 file that lists them is read, and `upgrade_v1` replaces each by its
/// classes as for any v1 name: all of them (they are all dangerous) in module
/// lists and `children`, none in the shared sets, where the name just
/// vanishes. No plain name is left (v2 cannot hold one).
#[test]
fn v1_socket_names_are_upgraded_to_their_classes() {
    let classes_of = |syscall: &str| -> SyscallSet {
        let classes: SyscallSet = rights::classes_of(syscall)
            .map(|c| Syscall::from_number(c.right).unwrap())
            .collect();
        assert!(classes.len() >= 2, "{syscall}");
        for class in &classes {
            assert!(classes::is_dangerous(class.name()), "{class}");
        }
        classes
    };
    let mut m = with_exec(&[
        "openat",
        "openat:write",
        "openat:pycache",
        "clone",
        "clone:process",
    ]);
    for syscall in rights::ALWAYS_CLASSED {
        m.extend(classes_of(syscall));
    }
    let mut n = with_exec(&[]);
    n.extend(classes_of("bind"));
    let mut children = with_exec(&["write"]);
    children.extend(classes_of("connect"));
    let expect = |policy: &Policy| {
        assert_eq!(policy.api_version, ApiVersion::V2);
        assert_eq!(policy.spec.modules["m"], m);
        assert_eq!(policy.spec.modules["n"], n);
        assert_eq!(policy.spec.children, children);
        assert_eq!(policy.spec.base, with_exec(&["openat", "openat:pycache"]));
        assert_eq!(policy.spec.startup, with_exec(&[]));
        assert_eq!(policy.spec.frameless, with_exec(&["statx"]));
        // No plain name is left that a v2 file could not hold.
        let sets = [
            &policy.spec.base,
            &policy.spec.startup,
            &policy.spec.frameless,
            &policy.spec.children,
        ];
        for s in sets.into_iter().chain(policy.spec.modules.values()) {
            for name in rights::ALWAYS_CLASSED {
                assert!(s.iter().all(|r| r.name() != *name), "{name} left in {s:?}");
            }
        }
        assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), *policy);
        assert_eq!(parse_json(&policy.to_json()).unwrap(), *policy);
    };

    // `upgrade_v1` on the policy as v1 wrote it (the plain names by number).
    let plain = |names: &[&str]| -> SyscallSet {
        names
            .iter()
            .map(|n| match rights::ALWAYS_CLASSED.contains(n) {
                true => Syscall::from_number(nr(n)).unwrap(),
                false => Syscall::parse(n).unwrap(),
            })
            .collect()
    };
    let mut as_written = Policy::new("old");
    as_written.api_version = ApiVersion::V1;
    as_written.spec.base = plain(&["openat", "socket"]);
    as_written.spec.startup = plain(&["bind"]);
    as_written.spec.frameless = plain(&["connect", "statx"]);
    as_written.spec.children = plain(&["connect", "write"]);
    as_written.spec.modules.insert(
        ModulePattern::parse("m").unwrap(),
        plain(&["openat", "clone", "socket", "connect", "bind"]),
    );
    as_written
        .spec
        .modules
        .insert(ModulePattern::parse("n").unwrap(), plain(&["bind"]));
    let upgraded = upgrade_v1(as_written);
    expect(&upgraded);
    assert_eq!(upgrade_v1(upgraded.clone()), upgraded);

    // Reading the v1 file, YAML and JSON, gives the same policy.
    let v1 = "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: old}\n\
              spec:\n  base: [openat, socket]\n  startup: [bind]\n  \
              frameless: [connect, statx]\n  children: [connect, write]\n  modules:\n    \
              m: [openat, clone, socket, connect, bind]\n    n: [bind]\n";
    let policy = parse_yaml(v1).unwrap_or_else(|e| panic!("{e}"));
    expect(&policy);
    assert_eq!(policy, upgraded);
    let json = "{\"apiVersion\": \"secimport.dev/v1\", \"kind\": \"SandboxPolicy\", \
                \"metadata\": {\"name\": \"old\"}, \"spec\": {\"base\": [\"openat\", \"socket\"], \
                \"startup\": [\"bind\"], \"frameless\": [\"connect\", \"statx\"], \
                \"children\": [\"connect\", \"write\"], \"modules\": {\"m\": [\"openat\", \
                \"clone\", \"socket\", \"connect\", \"bind\"], \"n\": [\"bind\"]}}}";
    assert_eq!(parse_json(json).unwrap_or_else(|e| panic!("{e}")), upgraded);
    // A v2 file still refuses the plain names (see
    // argument_classes_parse_and_round_trip).
    assert!(parse_yaml(&v1.replace("secimport.dev/v1", "secimport.dev/v2")).is_err());
}

// ---------------------------------------------------------------- classes

/// The message for a plain name of a syscall that is always classed.
fn always_classed_message(name: &str, place: &str) -> String {
    let classes: Vec<String> = rights::classes_of(name)
        .map(|c| format!("{}:{}", c.syscall, c.class))
        .collect();
    format!(
        "`{name}` in {place} is not a right: `{name}` is named by its argument classes {}; list \
         the ones needed",
        classes.join(", ")
    )
}

#[test]
fn argument_classes_parse_and_round_trip() {
    let text = spec_yaml(
        "  base: [openat, \"mmap:exec\"]\n  startup: [\"mmap:exec\", 'mprotect:exec']\n  \
         frameless: [\"pkey_mprotect:exec\"]\n  children: [\"clone:process\", execve]\n  \
         modules:\n    shutil: [openat, \"openat:write\", \"socket:unix\"]\n    \
         subprocess:\n      - clone:process\n      - \"kill:other\"\n",
    );
    let policy = parse_yaml(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.spec.base, set(&["mmap:exec", "openat"]));
    assert_eq!(policy.spec.startup, set(&["mmap:exec", "mprotect:exec"]));
    assert_eq!(policy.spec.frameless, set(&["pkey_mprotect:exec"]));
    assert_eq!(policy.spec.children, set(&["clone:process", "execve"]));
    assert_eq!(
        policy.spec.modules["shutil"],
        set(&["openat", "openat:write", "socket:unix"])
    );
    assert_eq!(
        policy.spec.modules["subprocess"],
        set(&["clone:process", "kill:other"])
    );
    // A class is a right of its own, numbered above the syscalls, and the
    // plain name is another right.
    let write = Syscall::parse("openat:write").unwrap();
    let plain = Syscall::parse("openat").unwrap();
    assert_eq!(write.name(), "openat:write");
    assert_eq!(write.syscall_name(), "openat");
    assert_eq!(plain.syscall_name(), "openat");
    assert!(write.number() >= syscalls::SYSCALL_BITS && write.number() < rights::RIGHT_BITS);
    assert_eq!(write.class().map(|c| c.class), Some("write"));
    assert_eq!(write.class().map(|c| c.kind), Some(ClassKind::Dangerous));
    assert_eq!(plain.class(), None);
    assert_eq!(Syscall::from_number(write.number()), Some(write.clone()));
    assert_eq!(rights::name(write.number()), "openat:write");
    assert_eq!(
        Syscall::parse("mmap:exec").unwrap().class().map(|c| c.kind),
        Some(ClassKind::Watched)
    );
    assert!(classes::is_dangerous("openat:write") && !classes::is_dangerous("openat"));
    assert!(classes::is_watched("mmap:exec") && !classes::is_dangerous("mmap:exec"));
    assert!(!classes::is_watched("mmap"));
    // The import system's classes are neither dangerous nor watched: a
    // shared set may hold them.
    for name in PYCACHE_CLASSES {
        let class = Syscall::parse(name).unwrap().class().unwrap();
        assert_eq!(class.kind, ClassKind::Import, "{name}");
        assert!(
            !classes::is_dangerous(name) && !classes::is_watched(name),
            "{name}"
        );
    }
    let import: Vec<String> = rights::classes()
        .filter(|c| c.kind == ClassKind::Import)
        .map(|c| format!("{}:{}", c.syscall, c.class))
        .collect();
    assert_eq!(import, PYCACHE_CLASSES);
    let shared = parse_yaml(&spec_yaml(
        "  base: [\"openat:pycache\", \"mkdir:pycache\"]\n  startup: [\"rename:pycache\"]\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shared.spec.base, set(&["openat:pycache", "mkdir:pycache"]));
    assert_eq!(shared.spec.startup, set(&["rename:pycache"]));
    // Every class parses by its name, to its number.
    for class in rights::classes() {
        let name = format!("{}:{}", class.syscall, class.class);
        let syscall = Syscall::parse(&name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(syscall.number(), class.right, "{name}");
        assert_eq!(Syscall::from_number(class.right).unwrap().name(), name);
    }
    // Unquoted, in flow or block lists, a class is the same one name.
    let unquoted = parse_yaml(&spec_yaml(
        "  base: [openat, mmap:exec]\n  startup: [mmap:exec, mprotect:exec]\n  \
         frameless: [pkey_mprotect:exec]\n  children: [clone:process, execve]\n  \
         modules:\n    shutil: [openat, openat:write, socket:unix]\n    \
         subprocess: [clone:process, kill:other]\n",
    ))
    .unwrap();
    assert_eq!(unquoted, policy);
    // Written back (the writer quotes the `:`) and read again, both formats.
    let yaml = policy.to_yaml();
    assert!(yaml.contains("\"openat:write\""), "{yaml}");
    assert_eq!(parse_yaml(&yaml).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
    assert!(policy.to_json().contains("\"openat:write\""));

    // A dangerous class is refused in a shared set, like a dangerous syscall.
    let err = parse_yaml(&spec_yaml("  base: [openat, \"openat:write\"]\n")).unwrap_err();
    assert!(
        matches!(
            &err,
            PolicyError::Invalid {
                problem: Problem::DangerousShared { name, place },
                ..
            } if name == "openat:write" && place == "spec.base"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with(&dangerous_message("openat:write", "spec.base")),
        "{err}"
    );

    // `socket`, `connect` and `bind` have no plain form, wherever they are
    // listed; the message names their classes.
    for name in rights::ALWAYS_CLASSED {
        for (place, spec) in [
            ("spec.base", format!("  base: [{name}]\n")),
            (
                "spec.children",
                format!("  base: []\n  children: [{name}]\n"),
            ),
            (
                "module `m`",
                format!("  base: []\n  modules:\n    m: [{name}]\n"),
            ),
        ] {
            let err = parse_yaml(&spec_yaml(&spec)).unwrap_err();
            match &err {
                PolicyError::Invalid {
                    problem:
                        Problem::UnknownSyscall {
                            name: n, place: p, ..
                        },
                    ..
                } => assert_eq!((n.as_str(), p.as_str()), (*name, place)),
                other => panic!("{name} in {place}: {other:?}"),
            }
            assert!(
                err.to_string()
                    .ends_with(&always_classed_message(name, place)),
                "{err}"
            );
        }
        assert_eq!(Syscall::parse(name), None, "{name}");
    }
    assert!(always_classed_message("socket", "spec.base").contains("socket:inet, "));

    // A class that does not exist is refused, naming the ones that do.
    let err = parse_yaml(&spec_yaml(
        "  base: []\n  modules:\n    m: [\"openat:wrte\"]\n",
    ))
    .unwrap_err();
    assert!(
        matches!(
            &err,
            PolicyError::Invalid {
                problem: Problem::UnknownSyscall { name, .. },
                ..
            } if name == "openat:wrte"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().ends_with(
            "`openat:wrte` in module `m` is not a right: `openat` is named by its argument \
             classes openat:write, openat:pycache (or plain, for the form no class describes); \
             list the ones needed"
        ),
        "{err}"
    );
    // A class of a syscall that has none: the message says so and names
    // every class there is.
    let err = parse_yaml(&spec_yaml("  base: []\n  children: [\"execve:sh\"]\n")).unwrap_err();
    assert!(
        matches!(
            &err,
            PolicyError::Invalid {
                problem: Problem::UnknownSyscall { name, place, .. },
                ..
            } if name == "execve:sh" && place == "spec.children"
        ),
        "{err:?}"
    );
    let text = err.to_string();
    let all: Vec<String> = rights::classes()
        .map(|c| format!("{}:{}", c.syscall, c.class))
        .collect();
    assert!(
        text.ends_with(&format!(
            "`execve:sh` in spec.children is not a right: `execve` has no argument classes \
             (write it plain); the classes are {}",
            all.join(", ")
        )),
        "{text}"
    );
    assert!(text.contains("openat:write, ") && text.contains("openat:pycache"));
    for bad in [
        "openat:wrte",
        "openat:",
        ":write",
        "openat:write:x",
        "openat::write",
        "OPENAT:WRITE",
        "openat:Write",
        "openat: write",
        " openat:write",
        "execve:sh",
        "syscall_257:write",
        "socket:",
    ] {
        assert_eq!(Syscall::parse(bad), None, "{bad:?}");
        let err = parse_json(&format!(
            "{{\"apiVersion\": \"secimport.dev/v2\", \"kind\": \"SandboxPolicy\", \
             \"metadata\": {{\"name\": \"x\"}}, \"spec\": {{\"base\": [], \"children\": [{}]}}}}",
            serde_json::to_string(bad).unwrap()
        ))
        .unwrap_err();
        assert!(
            matches!(
                &err,
                PolicyError::Invalid {
                    problem: Problem::UnknownSyscall { .. },
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn argument_classes_are_judged_like_syscalls() {
    let policy = parse_yaml(&spec_yaml(
        "  base: [openat, \"mmap:exec\"]\n  startup: [openat]\n  modules:\n    \
         shutil: [\"openat:write\"]\n    json: []\n",
    ))
    .unwrap();
    let c = policy.compile();
    let (openat, write, mmap, exec) = (
        nr("openat"),
        right("openat:write"),
        nr("mmap"),
        right("mmap:exec"),
    );
    for started in [false, true] {
        // The plain form is in base; the class is the module's own.
        assert!(c.allows(&["json"], openat, started));
        assert!(c.allows(&["shutil"], openat, started));
        assert!(!c.allows(&["json"], write, started));
        assert!(c.allows(&["shutil"], write, started));
        assert!(!c.allows(&["shutil", "json"], write, started));
        assert!(!c.allows(&["unknown.module"], write, started));
        // A watched class in base is allowed like any base right; `mmap`
        // itself is harmless, its executable form is not.
        assert!(c.allows(&["json"], exec, started));
        assert!(c.allows(&["unknown.module"], exec, started));
        assert!(c.allows(&[], mmap, started));
        assert!(!c.allows(&[], exec, started));
    }
    // With no frame: `startup` has the plain openat only.
    assert!(c.allows(&[], openat, false));
    assert!(!c.allows(&[], write, false));
    // An empty policy that denies unknown modules allows no class at all.
    let mut nothing = Policy::new("nothing");
    nothing.spec.unknown = UnknownRule::Deny;
    let c = nothing.compile();
    for class in rights::classes() {
        for started in [false, true] {
            assert!(!c.allows(&[], class.right, started), "{}", class.right);
            assert!(!c.allows(&["m"], class.right, started), "{}", class.right);
        }
        assert!(!c.allows_child(class.right));
    }
}

// ---------------------------------------------------------------- errors

/// `(name, format, text)` of every kind of mistake; the snapshot shows what
/// users read for each.
fn bad_policies() -> Vec<(&'static str, Format, String)> {
    let yaml = |spec: &str| {
        format!(
            "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata:\n  name: app\nspec:\n{spec}"
        )
    };
    let json = |spec: &str| {
        format!(
            "{{\n  \"apiVersion\": \"secimport.dev/v2\",\n  \"kind\": \"SandboxPolicy\",\n  \"metadata\": {{\"name\": \"app\"}},\n  \"spec\": {{\n{spec}\n  }}\n}}\n"
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
            "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata:\n  name: app\n  labels: {}\nspec:\n  base: []\n".to_string(),
        ),
        (
            "bad mode",
            Format::Yaml,
            yaml("  mode: refuse\n  base: [brk]\n"),
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
            "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: a, description: x, name: b}\nspec: {base: []}\n".to_string(),
        ),
        (
            "duplicate apiVersion",
            Format::Yaml,
            "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\napiVersion: secimport.dev/v2\nmetadata: {name: a}\nspec: {base: []}\n".to_string(),
        ),
        (
            "JSON: duplicate field",
            Format::Json,
            json("    \"mode\": \"log\",\n    \"base\": [],\n    \"mode\": \"kill\""),
        ),
        (
            "wrong apiVersion",
            Format::Yaml,
            "apiVersion: secimport.dev/v3\nkind: SandboxPolicy\nmetadata: {name: app}\nspec: {base: []}\n".to_string(),
        ),
        (
            "wrong kind",
            Format::Yaml,
            "apiVersion: secimport.dev/v2\nkind: TracingPolicy\nmetadata: {name: app}\nspec: {base: []}\n".to_string(),
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
            yaml("  base: []\n  startup:\n    - arch_prctl\n    - socket:inet\n"),
        ),
        (
            "dangerous syscall in frameless",
            Format::Yaml,
            yaml("  base: []\n  frameless: [getcwd, sendmsg]\n  modules:\n    x: [sendmsg]\n"),
        ),
        (
            "JSON: dangerous syscall in base",
            Format::Json,
            json("    \"base\": [\"read\", \"connect:inet\"]"),
        ),
        (
            "dangerous argument class in base",
            Format::Yaml,
            yaml("  base: [openat, \"openat:write\"]\n"),
        ),
        (
            "a syscall that is always classed",
            Format::Yaml,
            yaml("  base: []\n  modules:\n    http.client: [\"socket\", \"connect:inet\"]\n"),
        ),
        (
            "a misspelled argument class",
            Format::Yaml,
            yaml("  base: []\n  modules:\n    shutil: [\"openat:wrte\"]\n"),
        ),
        (
            "an argument class of a syscall that has none",
            Format::Yaml,
            yaml("  base: []\n  children: [\"execve:sh\"]\n"),
        ),
        (
            "JSON: a syscall that is always classed",
            Format::Json,
            json("    \"base\": [],\n    \"children\": [\"bind\"]"),
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
    let text = "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata:\n  name: a\n  generatedFrom:\n    interpreter: /usr/bin/python3\n    command: [python3]\n    interpreter: /bin/sh\nspec: {base: []}\n";
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
    let err = parse_yaml("\u{feff}apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: a}\nspec: {base: [bogus]}\n").unwrap_err();
    assert_eq!(err.position(), Some((4, 15)), "{err}");
    // Only at the start, and only one.
    assert!(parse_yaml("\u{feff}\u{feff}apiVersion: secimport.dev/v2\n").is_err());
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
            "socket:inet",
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
            "connect:inet",
            "spec.base",
        ),
        (
            "dangerous argument class in base",
            "policy.yaml",
            (6, 18),
            "openat:write",
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
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {{name: x}}\nspec:\n{spec}"
    )
}

/// Every name that no shared set may hold: the dangerous syscalls and the
/// dangerous argument classes.
fn dangerous_names() -> Vec<String> {
    let classes = rights::classes()
        .filter(|c| c.kind == ClassKind::Dangerous)
        .map(|c| format!("{}:{}", c.syscall, c.class));
    DANGEROUS
        .iter()
        .map(|n| n.to_string())
        .chain(classes)
        .collect()
}

#[test]
fn every_dangerous_name_is_refused_in_every_shared_set() {
    for name in &dangerous_names() {
        let name = name.as_str();
        // Classes quoted, as the writer does (the error points at the quote).
        let shown = if name.contains(':') {
            format!("\"{name}\"")
        } else {
            name.to_string()
        };
        for (field, text) in [
            (
                "spec.base",
                spec_yaml(&format!("  base: [read, {shown}]\n")),
            ),
            (
                "spec.startup",
                spec_yaml(&format!("  base: []\n  startup: [read, {shown}]\n")),
            ),
            (
                "spec.frameless",
                spec_yaml(&format!("  base: []\n  frameless: [read, {shown}]\n")),
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
            // After `read, `: the column of the name (of its quote).
            let column = text
                .lines()
                .nth(err.position().unwrap().0 - 1)
                .unwrap()
                .find(&shown);
            assert_eq!(err.position().unwrap().1, column.unwrap() + 1, "{err}");
            // The JSON reader refuses it too.
            let json = format!(
                "{{\"apiVersion\": \"secimport.dev/v2\", \"kind\": \"SandboxPolicy\", \"metadata\": {{\"name\": \"x\"}}, \"spec\": {{\"base\": [], \"{}\": [\"{name}\"]}}}}",
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
    let names = dangerous_names();
    let dangerous = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = spec_yaml(&format!(
        "  base: [openat, clone, clone3, kill, tgkill, tkill, open, openat2]\n  \
         startup: [openat, clone, clone3]\n  frameless: [clone3, kill, openat]\n  \
         children: [{dangerous}]\n  modules:\n    subprocess: [{dangerous}]\n    \
         \"pkg.*\": [execve, \"socket:inet\", \"openat:write\"]\n"
    ));
    let policy = parse_yaml(&text).unwrap_or_else(|e| panic!("{e}"));
    let all: SyscallSet = names.iter().map(|n| Syscall::parse(n).unwrap()).collect();
    assert_eq!(all.len(), names.len());
    assert_eq!(policy.spec.children, all);
    assert_eq!(policy.spec.modules["subprocess"], all);
    assert_eq!(
        policy.spec.modules["pkg.*"],
        set(&["execve", "openat:write", "socket:inet"])
    );
    // Dangerous only in some forms (argument classes): their plain form may
    // be shared.
    let by_arguments = [
        "openat", "clone", "clone3", "kill", "tgkill", "tkill", "open", "openat2",
    ];
    assert_eq!(policy.spec.base, set(&by_arguments));
    assert_eq!(policy.spec.startup, set(&["clone", "clone3", "openat"]));
    assert_eq!(policy.spec.frameless, set(&["clone3", "kill", "openat"]));
    for name in by_arguments {
        assert!(!classes::is_dangerous(name), "{name}");
        assert!(
            rights::classes_of(name).any(|c| c.kind == ClassKind::Dangerous),
            "{name}"
        );
    }
    // Every plain form that is not dangerous by number is accepted in the
    // shared sets; those that are (sendto, sendmsg) are refused.
    for class in rights::classes() {
        let plain = class.syscall;
        if rights::ALWAYS_CLASSED.contains(&plain) {
            continue;
        }
        let result = parse_yaml(&spec_yaml(&format!("  base: [{plain}]\n")));
        assert_eq!(
            result.is_ok(),
            !DANGEROUS.contains(&plain),
            "{plain}: {result:?}"
        );
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
            assert_eq!(found, "secimport.dev/v3");
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
    let yaml = "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: modèle}\nspec:\n  base: []\n  modules: {\"modèle\": [réad]}\n";
    let err = parse_yaml(yaml).unwrap_err();
    assert_eq!(err.position(), Some((6, 24)), "{err}");
    let json = "{\"apiVersion\": \"secimport.dev/v2\", \"kind\": \"SandboxPolicy\", \"metadata\": {\"name\": \"é\"},\n\"spec\": {\"base\": [], \"modules\": {\"é\": [\"réad\"]}}}";
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
    // A long list, wrapped: 120 syscalls and every argument class (whose `:`
    // the writer must quote).
    policy.spec.children = syscalls::all()
        .filter_map(|(_, n)| Syscall::parse(n))
        .take(120)
        .chain(rights::classes().filter_map(|c| Syscall::from_number(c.right)))
        .collect();
    assert_eq!(policy.spec.children.len(), 120 + rights::classes().count());
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
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata:\n  name: empty\nspec:\n  mode: log\n  unknown: base-only\n  base: []\n  startup: []\n  frameless: []\n  children: []\n  modules: {}\n"
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
    // The start-up bucket gives `startup`; with what the import machinery
    // did and the import system's own writes (the `*:pycache` classes and
    // `write`, always), it gives `base`; the frameless bucket gives
    // `frameless`. Harmless names (allowed anyway) and dangerous ones (never
    // allowed there: execve, socket:inet, the import machinery's
    // openat:write) are left out of all three; the watched mmap:exec is
    // kept. Each set is widened by the syscall groups: newfstatat brings in
    // stat, lstat and statx; getdents64 getdents; getcwd readlink and
    // readlinkat; write writev, pwrite64, pwritev and pwritev2.
    assert_eq!(
        policy.spec.base,
        with_imports_grouped(&[
            "arch_prctl",
            "getdents",
            "getdents64",
            "lstat",
            "mmap:exec",
            "newfstatat",
            "openat",
            "stat",
            "statx"
        ])
    );
    assert_eq!(
        policy.spec.startup,
        set(&[
            "arch_prctl",
            "lstat",
            "mmap:exec",
            "newfstatat",
            "stat",
            "statx"
        ])
    );
    assert_eq!(
        policy.spec.frameless,
        set(&["clone3", "getcwd", "readlink", "readlinkat"])
    );
    // `children` is what the non-Python processes did, as seen.
    assert_eq!(
        policy.spec.children,
        set(&["execve", "exit_group", "write"])
    );
    // Every module gets what it did (dangerous and watched rights included),
    // widened by the groups.
    assert_eq!(policy.spec.modules.len(), trace.modules.len());
    for (name, module) in &trace.modules {
        let names: Vec<&str> = module.syscalls.keys().map(String::as_str).collect();
        assert_eq!(
            policy.spec.modules[name.as_str()],
            generalize_syscalls(&set(&names)),
            "{name}"
        );
    }
    assert_eq!(
        policy.spec.modules["subprocess"],
        set(&["clone:process", "pipe", "pipe2", "wait4", "waitid"])
    );
    assert_eq!(
        policy.spec.modules["<frozen importlib._bootstrap_external>"],
        set(&[
            "getdents",
            "getdents64",
            "mmap:exec",
            "openat",
            "openat:write",
            "read"
        ])
    );
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
        exact: true,
    };
    let policy = build(&sample_trace(), &opts);
    assert_eq!(policy.metadata.name, "custom");
    assert_eq!(policy.spec.mode, Mode::Stop);
    assert_eq!(policy.spec.unknown, UnknownRule::Allow);
}

#[test]
fn build_exact_keeps_the_names_as_traced() {
    let seen = [
        "getdents64",
        "newfstatat",
        "openat",
        "openat:write",
        "wait4",
    ];
    let trace = trace_with(&[("app", &seen), ("json", &["read"])]);
    let exact = build(
        &trace,
        &BuildOptions {
            exact: true,
            ..BuildOptions::default()
        },
    );
    let general = build(&trace, &BuildOptions::default());
    // Exact: what was seen, nothing more.
    assert_eq!(exact.spec.modules["app"], set(&seen));
    assert_eq!(exact.spec.modules["json"], set(&["read"]));
    // (base: the start-up bucket and the import system's writes, `write`
    // alone.)
    assert_eq!(
        exact.spec.base,
        with_imports(&["arch_prctl", "mmap:exec", "newfstatat"])
    );
    assert_eq!(
        exact.spec.startup,
        set(&["arch_prctl", "mmap:exec", "newfstatat"])
    );
    assert_eq!(exact.spec.frameless, set(&["clone3", "getcwd"]));
    // Generalized: whole groups of what was seen; dangerous and watched
    // rights, the open forms and names in no group stay as they are.
    assert_eq!(
        general.spec.modules["app"],
        set(&[
            "getdents",
            "getdents64",
            "lstat",
            "newfstatat",
            "openat",
            "openat:write",
            "stat",
            "statx",
            "wait4",
            "waitid"
        ])
    );
    assert_eq!(general.spec.modules["json"], set(&["read"]));
    let start_up = [
        "arch_prctl",
        "lstat",
        "mmap:exec",
        "newfstatat",
        "stat",
        "statx",
    ];
    assert_eq!(general.spec.base, with_imports_grouped(&start_up));
    assert_eq!(general.spec.startup, set(&start_up));
    assert_eq!(
        general.spec.frameless,
        set(&["clone3", "getcwd", "readlink", "readlinkat"])
    );
    // Every generalized set is the exact one closed over the groups, and
    // what it adds is never dangerous nor watched.
    let pairs = [
        (&exact.spec.base, &general.spec.base),
        (&exact.spec.startup, &general.spec.startup),
        (&exact.spec.frameless, &general.spec.frameless),
        (&exact.spec.modules["app"], &general.spec.modules["app"]),
        (&exact.spec.modules["json"], &general.spec.modules["json"]),
    ];
    for (exact, general) in pairs {
        assert_eq!(*general, generalize_syscalls(exact));
        for added in general.difference(exact) {
            assert!(!classes::is_dangerous(added.name()), "{added}");
            assert!(!classes::is_watched(added.name()), "{added}");
            assert!(added.class().is_none(), "{added}");
            assert!(groups::group_of(added.name()).is_some(), "{added}");
        }
    }
    // The decisions differ only by what the groups add.
    let (e, g) = (exact.compile(), general.compile());
    assert!(!e.allows(&["app"], nr("waitid"), true));
    assert!(g.allows(&["app"], nr("waitid"), true));
    assert!(!e.allows(&["json"], nr("statx"), true));
    assert!(g.allows(&["json"], nr("statx"), true)); // base: newfstatat's group
    assert!(!e.allows(&["json"], nr("pwrite64"), true));
    assert!(g.allows(&["json"], nr("pwrite64"), true)); // base: write's group
    for name in ["openat:write", "wait4", "getdents64"] {
        assert!(e.allows(&["app"], right(name), true), "{name}");
        assert!(g.allows(&["app"], right(name), true), "{name}");
    }
    assert!(!g.allows(&["json"], right("openat:write"), true));
    // Both read back.
    for policy in [&exact, &general] {
        assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), *policy);
        assert_eq!(parse_json(&policy.to_json()).unwrap(), *policy);
    }
}

#[test]
fn base_is_the_start_up_bucket_and_the_import_machinery() {
    let trace = trace_with(&[
        (
            "<frozen importlib._bootstrap>",
            &["newfstatat", "openat", "read"],
        ),
        (
            "<frozen importlib._bootstrap_external>",
            &[
                "getcwd",
                "getdents64",
                "mkdir",
                "mmap:exec",
                "mprotect:exec",
                "openat",
                "openat:write",
                "read",
                "rename",
            ],
        ),
        ("<frozen zipimport>", &["readlink"]),
        ("importlib._bootstrap", &["ioctl"]),
        ("importlib._bootstrap_external", &["fstatfs", "execve"]),
        ("zipimport", &["sysinfo"]),
        // Not the import machinery: its names stay its own.
        ("importlib", &["uname"]),
        ("importlib.util", &["getppid"]),
        ("json", &["sched_getaffinity", "socket:inet"]),
    ]);
    let exact = build(
        &trace,
        &BuildOptions {
            exact: true,
            ..BuildOptions::default()
        },
    );
    // The start-up bucket (arch_prctl, mmap:exec, newfstatat), the
    // rights of every import machinery module that are neither dangerous
    // nor harmless, watched classes (loading native code) included, and the
    // import system's writes (`*:pycache`, `write`), which this trace did
    // not even make.
    assert_eq!(
        exact.spec.base,
        with_imports(&[
            "arch_prctl",
            "fstatfs",
            "getcwd",
            "getdents64",
            "ioctl",
            "mmap:exec",
            "mprotect:exec",
            "newfstatat",
            "openat",
            "readlink",
            "sysinfo"
        ])
    );
    for name in [
        "execve",
        "mkdir",
        "rename",
        "openat:write",
        "read",
        "uname",
        "getppid",
        "sched_getaffinity",
        "socket:inet",
    ] {
        assert!(
            !exact.spec.base.contains(&Syscall::parse(name).unwrap()),
            "{name} in base"
        );
    }
    // The machinery's modules keep all they did in their own entries.
    assert_eq!(
        exact.spec.modules["<frozen importlib._bootstrap_external>"],
        set(&[
            "getcwd",
            "getdents64",
            "mkdir",
            "mmap:exec",
            "mprotect:exec",
            "openat",
            "openat:write",
            "read",
            "rename"
        ])
    );
    assert_eq!(
        exact.spec.modules["importlib._bootstrap_external"],
        set(&["execve", "fstatfs"])
    );
    assert_eq!(exact.spec.modules["importlib"], set(&["uname"]));
    // The start-up set is the bucket alone.
    assert_eq!(
        exact.spec.startup,
        set(&["arch_prctl", "mmap:exec", "newfstatat"])
    );
    // Generalized, base is widened like any set (still without the
    // dangerous).
    let general = build(&trace, &BuildOptions::default());
    assert_eq!(general.spec.base, generalize_syscalls(&exact.spec.base));
    for name in ["stat", "statx", "getdents", "readlinkat", "statfs", "uname"] {
        assert!(
            general.spec.base.contains(&Syscall::parse(name).unwrap()),
            "{name} not in base"
        );
    }
    for syscall in &general.spec.base {
        assert!(!classes::is_dangerous(syscall.name()), "{syscall}");
    }
    // So every module, even one the trace never saw, may do what imports do
    // (load native code too), and no more.
    let c = general.compile();
    assert!(c.allows(&["importlib.util"], nr("getdents64"), true));
    assert!(c.allows(&["never.seen"], nr("openat"), true));
    assert!(c.allows(&["never.seen"], right("mmap:exec"), true));
    assert!(!c.allows(&["never.seen"], right("openat:write"), true));
    assert!(!c.allows(&["never.seen"], nr("mkdir"), true));
    // Writing a compiled module is what imports do: only in __pycache__.
    assert!(c.allows(&["never.seen"], right("mkdir:pycache"), true));
    assert!(c.allows(&["never.seen"], right("openat:pycache"), true));
    assert!(c.allows(&["never.seen"], nr("write"), true));
    assert!(!c.allows(&["never.seen"], nr("rename"), true));
    assert!(!c.allows(&["never.seen"], nr("getppid"), true));
    assert!(c.allows(&["importlib.util"], nr("getppid"), true));
    // Each machinery module counts, and only those.
    for name in IMPORT_MACHINERY {
        let trace = trace_with(&[(name, &["getpriority"])]);
        let policy = build(&trace, &BuildOptions::default());
        assert!(
            policy
                .spec
                .base
                .contains(&Syscall::parse("getpriority").unwrap()),
            "{name}"
        );
    }
    for name in [
        "importlib",
        "importlib.util",
        "<frozen importlib.util>",
        "__main__",
    ] {
        let trace = trace_with(&[(name, &["getpriority"])]);
        let policy = build(&trace, &BuildOptions::default());
        assert!(
            !policy
                .spec
                .base
                .contains(&Syscall::parse("getpriority").unwrap()),
            "{name}"
        );
    }
    for policy in [&exact, &general] {
        assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), *policy);
    }
}

/// `base` always holds the import system's writes, every `*:pycache` class
/// and `write`, even when the trace made none of them (the traced run found
/// the cache warm): a later run with a cold `__pycache__` is no violation.
/// Generalized, `write` brings its group; `exact` keeps `write` alone.
#[test]
fn built_base_always_allows_writing_compiled_modules() {
    // A trace with no such syscall anywhere.
    let mut trace = trace_with(&[("__main__", &["read", "pipe2"]), ("json", &["read"])]);
    trace.buckets = Buckets::default();
    let traced: Vec<&String> = trace
        .modules
        .values()
        .flat_map(|m| m.syscalls.keys())
        .collect();
    assert!(
        traced
            .iter()
            .all(|n| !n.ends_with(":pycache") && !WRITE_GROUP.contains(&n.as_str())),
        "{traced:?}"
    );
    assert_eq!(IMPORT_WRITES, ["write"]);
    let import: SyscallSet = rights::classes()
        .filter(|c| c.kind == ClassKind::Import)
        .map(|c| Syscall::from_number(c.right).unwrap())
        .collect();
    assert_eq!(import, set(&PYCACHE_CLASSES));

    let exact = build(
        &trace,
        &BuildOptions {
            exact: true,
            ..BuildOptions::default()
        },
    );
    let general = build(&trace, &BuildOptions::default());
    assert_eq!(exact.spec.base, with_imports(&[]));
    assert_eq!(general.spec.base, with_imports_grouped(&[]));
    assert_eq!(general.spec.base, generalize_syscalls(&exact.spec.base));
    assert_eq!(build(&trace, &grouped()).spec.base, general.spec.base);
    for name in &WRITE_GROUP[1..] {
        let s = Syscall::parse(name).unwrap();
        assert!(!exact.spec.base.contains(&s), "exact: {name} in base");
        assert!(general.spec.base.contains(&s), "{name} not in base");
    }
    for policy in [&exact, &general] {
        // Only `base`: the other shared sets stay as traced (empty), and
        // modules keep their own rights.
        assert!(policy.spec.startup.is_empty());
        assert!(policy.spec.frameless.is_empty());
        assert!(policy.spec.children.is_empty());
        assert_eq!(policy.spec.modules["json"], set(&["read"]));
        let main = set(&["read", "pipe2"]);
        assert_eq!(
            policy.spec.modules["__main__"],
            match policy == &exact {
                true => main,
                false => generalize_syscalls(&main),
            }
        );
        for s in &policy.spec.base {
            assert!(!classes::is_dangerous(s.name()), "{s}");
        }
        // It loads: a dangerous name in base would not.
        assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), *policy);
        assert_eq!(parse_json(&policy.to_json()).unwrap(), *policy);
    }

    // Any module, traced or not, may write a compiled module, and nothing
    // else of the kind: not open a file for writing, nor make a directory or
    // rename outside __pycache__.
    let (e, g) = (exact.compile(), general.compile());
    for c in [&e, &g] {
        for module in ["json", "__main__", "never.seen"] {
            for name in PYCACHE_CLASSES.iter().chain(IMPORT_WRITES) {
                assert!(c.allows(&[module], right(name), true), "{module}: {name}");
            }
            for name in ["openat:write", "open:write", "mkdir", "rename", "unlink"] {
                assert!(!c.allows(&[module], right(name), true), "{module}: {name}");
            }
        }
    }
    assert!(!e.allows(&["json"], nr("pwrite64"), true));
    assert!(g.allows(&["json"], nr("pwrite64"), true));

    // A trace that did write compiled modules gives the same base; the
    // module that did keeps them in its own entry too.
    let mut busy = trace.clone();
    busy.modules
        .get_mut("json")
        .unwrap()
        .syscalls
        .extend(counts(&[
            "mkdir:pycache",
            "openat:pycache",
            "write",
            "rename:pycache",
        ]));
    let busy_exact = build(
        &busy,
        &BuildOptions {
            exact: true,
            ..BuildOptions::default()
        },
    );
    assert_eq!(busy_exact.spec.base, exact.spec.base);
    assert_eq!(
        busy_exact.spec.modules["json"],
        set(&[
            "read",
            "mkdir:pycache",
            "openat:pycache",
            "write",
            "rename:pycache"
        ])
    );
    assert_eq!(
        build(&busy, &BuildOptions::default()).spec.base,
        general.spec.base
    );
}

#[test]
fn modules_with_random_temporary_components_get_no_entry() {
    let random = [
        "/tmp/tmpk3j2h1x0/x.py",
        "/tmp/pip-req-build-tamqk3us/setup.py",
    ];
    for name in random {
        assert!(naming::has_random_temp_component(name), "{name}");
    }
    // Kept: a name whose random part is already a placeholder, a stable
    // directory under /tmp, and ordinary modules.
    let kept = ["/tmp/tmp*/y.py", "/tmp/notes/helper.py", "__main__", "json"];
    for name in kept {
        assert!(!naming::has_random_temp_component(name), "{name}");
    }
    let modules: Vec<(&str, &[&str])> = random
        .iter()
        .chain(&kept)
        .map(|n| (*n, &["getppid"][..]))
        .collect();
    let trace = trace_with(&modules);
    for opts in [BuildOptions::default(), grouped()] {
        let policy = build(&trace, &opts);
        assert_eq!(
            keys(&policy),
            ["/tmp/notes/helper.py", "/tmp/tmp*/y.py", "__main__", "json"]
        );
    }
    let omitted: Vec<_> = omissions(&trace)
        .into_iter()
        .filter(|o| !matches!(o, Omitted::Unattributed { .. }))
        .collect();
    assert_eq!(
        omitted,
        [
            Omitted::TemporaryModule {
                name: random[1].to_string()
            },
            Omitted::TemporaryModule {
                name: random[0].to_string()
            },
        ]
    );
    assert!(
        omitted[1].to_string().starts_with(
            "left out module \"/tmp/tmpk3j2h1x0/x.py\": its path has a random temporary component"
        ),
        "{}",
        omitted[1]
    );
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
    // `connect` has no plain form: it is always one of its classes.
    trace
        .modules
        .get_mut("subprocess")
        .unwrap()
        .syscalls
        .insert("connect".to_string(), 1);
    let policy = build(&trace, &BuildOptions::default());
    assert_eq!(
        policy.spec.base,
        with_imports_grouped(&[
            "arch_prctl",
            "getdents",
            "getdents64",
            "lstat",
            "mmap:exec",
            "newfstatat",
            "openat",
            "stat",
            "statx",
            "syscall_400"
        ])
    );
    assert_eq!(
        policy.spec.startup,
        set(&[
            "arch_prctl",
            "lstat",
            "mmap:exec",
            "newfstatat",
            "stat",
            "statx",
            "syscall_400"
        ])
    );
    assert_eq!(
        policy.spec.frameless,
        set(&["clone3", "getcwd", "readlink", "readlinkat", "syscall_401"])
    );
    assert_eq!(policy.spec.modules["json"], set(&["read"]));
    assert_eq!(
        policy.spec.modules["subprocess"],
        set(&["clone:process", "pipe", "pipe2", "wait4", "waitid"])
    );
    let unusable: Vec<String> = unusable_syscalls(&trace).into_iter().collect();
    assert_eq!(
        unusable,
        ["bogus", "connect", "not_a_syscall", "syscall_1073741824"]
    );
    assert!(unusable_syscalls(&sample_trace()).is_empty());
    // And what is left loads.
    assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
}

#[test]
fn build_leaves_harmless_and_dangerous_names_out_of_the_shared_sets() {
    // Every harmless and every dangerous name (syscalls and argument
    // classes), seen with no frame before and after start-up and in a
    // module: only the module keeps them.
    let dangerous = dangerous_names();
    let everything: Vec<&str> = HARMLESS
        .iter()
        .copied()
        .chain(dangerous.iter().map(String::as_str))
        .collect();
    let mut trace = trace_with(&[("tool", everything.as_slice())]);
    trace.buckets.startup = counts(&everything);
    trace.buckets.startup.insert("statx".to_string(), 1);
    trace.buckets.frameless = counts(&everything);
    trace.buckets.frameless.insert("clone".to_string(), 1);
    trace.buckets.frameless.insert("openat".to_string(), 1);
    trace.buckets.non_python = counts(&everything);
    let stat_group = ["lstat", "newfstatat", "stat", "statx"];
    for (exact, base, startup) in [
        (true, with_imports(&["statx"]), set(&["statx"])),
        (false, with_imports_grouped(&stat_group), set(&stat_group)),
    ] {
        let opts = BuildOptions {
            exact,
            ..BuildOptions::default()
        };
        let policy = build(&trace, &opts);
        // (base: with the import system's writes, which are neither.)
        assert_eq!(policy.spec.base, base, "exact: {exact}");
        assert_eq!(policy.spec.startup, startup, "exact: {exact}");
        assert_eq!(
            policy.spec.frameless,
            set(&["clone", "openat"]),
            "exact: {exact}"
        );
        // No group holds a harmless or dangerous name: the module's list is
        // the same either way.
        assert_eq!(policy.spec.modules["tool"], set(&everything));
        assert_eq!(policy.spec.children, set(&everything));
        // The frameless bucket never reaches `base` or `startup`, the
        // start-up bucket never reaches `frameless`.
        assert!(!policy.spec.base.contains(&Syscall::parse("clone").unwrap()));
        assert!(!policy
            .spec
            .frameless
            .contains(&Syscall::parse("statx").unwrap()));
        // And it loads: a dangerous name in a shared set would not.
        assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
        assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
    }
}

#[test]
fn dropped_from_shared_names_the_dangerous_syscalls_by_bucket() {
    let trace = sample_trace();
    assert_eq!(
        dropped_from_shared(&trace),
        [
            ("startup", vec!["execve".to_string()]),
            ("frameless", vec!["socket:inet".to_string()]),
        ]
    );
    // A plain clone3 (a thread) is kept in `frameless`, so it is not
    // reported; nor is the watched mmap:exec, kept in `startup`; neither are
    // harmless names, which are left out because they are allowed anyway.
    let policy = build(&trace, &BuildOptions::default());
    assert!(policy
        .spec
        .frameless
        .contains(&Syscall::parse("clone3").unwrap()));
    assert!(policy
        .spec
        .startup
        .contains(&Syscall::parse("mmap:exec").unwrap()));
    for (_, names) in dropped_from_shared(&trace) {
        assert!(!names
            .iter()
            .any(|n| n == "clone3" || n == "futex" || n == "mmap:exec"));
    }

    // Sorted within a bucket; a bucket with nothing dropped is not listed;
    // names the table does not know are not dangerous.
    // (a plain `socket`, which is not a right, is not dangerous either: it
    // is an unusable name, see `unusable_syscalls`).
    let mut trace = sample_trace();
    trace.buckets.startup = counts(&["read", "openat", "clone", "bogus", "socket"]);
    trace.buckets.frameless = counts(&[
        "unlink",
        "connect:inet",
        "bind:unix",
        "read",
        "openat:write",
    ]);
    assert_eq!(
        dropped_from_shared(&trace),
        [(
            "frameless",
            vec![
                "bind:unix".to_string(),
                "connect:inet".to_string(),
                "openat:write".to_string(),
                "unlink".to_string()
            ]
        )]
    );
    // Modules, children and the unused buckets are not shared sets.
    let mut trace = trace_with(&[("__main__", &["execve", "socket:inet"])]);
    trace.buckets.startup = counts(&["read"]);
    trace.buckets.frameless = counts(&["read"]);
    trace.buckets.truncated = counts(&["execve"]);
    trace.buckets.unreadable = counts(&["socket:inet"]);
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
            "<frozen importlib._bootstrap_external>",
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
        set(&["mmap", "mmap:exec", "openat"])
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
    let a = "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  base: []\n  modules:\n    \"a.*.*\": [read]\n    \"a.*x\": [write]\n";
    let b = "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  base: []\n  modules:\n    \"a.*x\": [write]\n    \"a.*.*\": [read]\n";
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
        // Children: their set, and the harmless set (never judged, as in
        // the kernel, whatever the process runs).
        assert!(c.allows_child(execve));
        assert!(c.allows_child(read));
        assert!(!c.allows_child(getcwd));
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
    let dangerous = set(&["execve", "socket:inet", "unlink", "openat:write"]);
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
    let (socket_inet, openat_write) = (right("socket:inet"), right("openat:write"));
    assert!(bitmap_contains(&c.startup, socket_inet));
    assert!(bitmap_contains(&c.frameless, nr("unlink")));
    assert!(bitmap_contains(&c.base, openat_write));
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
    assert!(!c.allows(&["subprocess"], socket_inet, true));
    // The rest of the shared sets still works: not dangerous by number.
    assert!(c.allows(&["json"], nr("statx"), true));
    // `clone` and `clone3` are one capability (the seccomp backend fails
    // clone3 and the C library falls back to clone): granting one grants
    // both, wherever it is granted.
    assert!(c.allows(&[], nr("clone3"), false));
    assert!(c.allows(&[], nr("clone3"), true));
    assert!(c.allows(&[], nr("clone"), true));
    assert!(c.allows(&[], nr("clone"), false));
    // What is dangerous by number, the bitmap says; and so for the classes,
    // by their kind (watched classes are not dangerous).
    let bitmap = classes::dangerous_bitmap();
    for (number, name) in syscalls::all() {
        assert_eq!(
            bitmap_contains(&bitmap, number),
            DANGEROUS.contains(&name),
            "{name}"
        );
    }
    for class in rights::classes() {
        assert_eq!(
            bitmap_contains(&bitmap, class.right),
            class.kind == ClassKind::Dangerous,
            "{}:{}",
            class.syscall,
            class.class
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
    assert_eq!(empty.startup, [0; 16]);
    assert_eq!(empty.frameless, [0; 16]);
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
    assert_eq!(c.base[8..], [0; 8]);
    // Argument classes are bits above the syscalls, up to RIGHT_BITS.
    assert_eq!(rights::RIGHT_BITS as usize, c.base.len() * 64);
    p.spec.children = set(&["open:write", "openat:write", "mmap:exec"]);
    let c = p.compile();
    assert_eq!(c.children[..8], [0; 8]);
    let word8 = ["open:write", "openat:write", "mmap:exec"]
        .iter()
        .map(|n| 1u64 << (right(n) - 512))
        .fold(0, |a, b| a | b);
    assert_eq!(c.children[8], word8);
    assert_eq!(word8.count_ones(), 3);
    assert_eq!(c.children[9..], [0; 7]);
    assert!(bitmap_contains(&c.children, right("mmap:exec")));
    assert!(!bitmap_contains(&c.children, nr("mmap")));
    assert!(!bitmap_contains(&c.children, nr("openat")));
    assert!(!bitmap_contains(&c.children, rights::RIGHT_BITS));
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
        "arguments",
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
    // Every right by name: the syscalls but the always-classed ones, and
    // every argument class.
    let syscall = &schema["definitions"]["Syscall"];
    let names = syscall["anyOf"][0]["enum"].as_array().unwrap();
    assert!(names.iter().any(|n| n == "execve"));
    assert!(names.iter().any(|n| n == "openat:pycache"));
    assert_eq!(
        names.len(),
        syscalls::all().count() - rights::ALWAYS_CLASSED.len() + rights::classes().count()
    );
}

/// The schema's `Syscall` says which names a v2 policy may hold: every right
/// (the argument classes included) and nothing the parser refuses (no plain
/// `socket`, `connect` or `bind`); its `apiVersion` accepts v2 and v1.
#[test]
fn schema_names_every_right_and_only_rights() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let syscall = &schema["definitions"]["Syscall"];
    let names: Vec<&str> = syscall["anyOf"][0]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for class in rights::classes() {
        let name = format!("{}:{}", class.syscall, class.class);
        assert!(
            names.contains(&name.as_str()),
            "{name} is not in the schema"
        );
    }
    for name in &names {
        assert!(Syscall::parse(name).is_some(), "{name} is in the schema");
    }
    for (_, name) in syscalls::all() {
        assert_eq!(
            names.contains(&name),
            !rights::ALWAYS_CLASSED.contains(&name),
            "{name}"
        );
    }
    for name in rights::ALWAYS_CLASSED {
        assert!(!names.contains(name), "{name} is in the schema");
    }
    let sorted = {
        let mut n = names.clone();
        n.sort_unstable();
        n.dedup();
        n
    };
    assert_eq!(names, sorted, "sorted, each once");
    let versions = &schema["definitions"]["ApiVersion"]["enum"];
    assert_eq!(
        *versions,
        serde_json::json!(["secimport.dev/v2", "secimport.dev/v1"])
    );
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "apiVersion"));
}

#[test]
fn example_policies_validate_against_their_own_model() {
    // The docs' example, written by build's writer, parses to the same model.
    let policy = parse_yaml(EXAMPLE_YAML).unwrap();
    assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
}
