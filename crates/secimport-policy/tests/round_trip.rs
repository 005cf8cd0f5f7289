//! Whatever a trace holds, what `build` makes of it reads back through
//! `Policy::parse` (YAML and JSON) as the same policy, compiling to the same
//! rules; what it cannot hold is named by `omissions`, never silently lost.
//!
//! Module names, syscall names, the command and `--name` are arbitrary
//! strings, with a bias towards what broke writers before: names past
//! YAML's 1,024-character key limit, U+007F, U+0085, U+FFFE, U+2028, the
//! byte-order mark, NUL, quotes, colons, leading dashes, `*`, newlines, and
//! words YAML reads as something else (`yes`, `null`, `1.5`, `~`); paths
//! with random temporary components (`/tmp/tmpk3j2h1x0/x.py`), which get no
//! entry. Syscall names include the argument classes (`openat:write`) and
//! the plain names that are not rights (`socket`).
//! `PROPTEST_CASES` sets the number of cases (default 256).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use secimport_policy::build::{build, omissions, quoted, BuildOptions, Omitted};
use secimport_policy::naming::has_random_temp_component;
use secimport_policy::policy::{Format, Mode, Policy, Syscall, UnknownRule};
use secimport_policy::rights;
use secimport_policy::syscalls;
use secimport_policy::trace::{
    Buckets, Counters, Interpreter, ModuleTrace, SyscallCounts, Trace, TRACE_FORMAT, TRACE_VERSION,
};

/// Characters that made trouble, and a few ordinary ones to glue them.
const AWKWARD: &[char] = &[
    '\u{7f}',
    '\u{85}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{feff}',
    '\u{2028}',
    '\u{2029}',
    '\u{9f}',
    '\u{1}',
    '\u{1b}',
    '\0',
    '\t',
    '\n',
    '\r',
    '"',
    '\'',
    '\\',
    ':',
    '-',
    '*',
    '.',
    '<',
    '>',
    '/',
    ' ',
    '#',
    '{',
    '}',
    '[',
    ']',
    ',',
    '&',
    '!',
    '%',
    '@',
    '`',
    '|',
    '?',
    '~',
    '=',
    'a',
    'Z',
    '_',
    '0',
    'é',
    'ß',
    '中',
    '😀',
    '\u{10ffff}',
    '\u{e000}',
    '\u{fffd}',
];

fn awkward_string(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(AWKWARD), 0..max)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Around YAML's 1,024-character limit for implicit keys, in characters and
/// in bytes once escaped.
fn long_string() -> impl Strategy<Value = String> {
    (
        1000usize..1100,
        proptest::sample::select(&['a', 'é', '"', '\u{85}', '中', '.'][..]),
        awkward_string(4),
    )
        .prop_map(|(n, c, tail)| {
            let mut s: String = std::iter::repeat_n(c, n).collect();
            s.push_str(&tail);
            s
        })
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        3 => awkward_string(24),
        2 => "[a-z_][a-z0-9_]{0,3}(\\.[a-z_][a-z0-9_]{0,3}){0,3}",
        1 => "(<[a-z *.]{0,12}>|/[a-z*/ .]{0,12}|[a-z]{1,3}\\*[a-z]{0,3})",
        1 => proptest::sample::select(
            &["yes", "no", "null", "~", "true", "1.5", "0x1f", "-", "---", "...", "<<", "", "__main__", "*", "a.*", "? x", "- x", "!!str"][..]
        ).prop_map(str::to_string),
        1 => long_string(),
        1 => "/tmp/(tmp[a-z_]{4}[0-9][a-z0-9_]{3}|pip-req-build-[a-z0-9]{8}|pytest-of-[a-z]{1,4})/[a-z]{1,6}\\.py",
    ]
}

fn syscall_name() -> impl Strategy<Value = String> {
    let named: Vec<&'static str> = syscalls::all().map(|(_, n)| n).collect();
    let classes: Vec<String> = rights::classes()
        .map(|c| format!("{}:{}", c.syscall, c.class))
        .collect();
    prop_oneof![
        6 => proptest::sample::select(named).prop_map(str::to_string),
        2 => proptest::sample::select(classes),
        1 => (0u32..600).prop_map(|n| format!("syscall_{n}")),
        1 => name(),
    ]
}

fn counts(max: usize) -> impl Strategy<Value = SyscallCounts> {
    proptest::collection::btree_map(syscall_name(), 1u64..100, 0..max)
}

fn trace() -> impl Strategy<Value = Trace> {
    let module =
        (proptest::collection::vec(name(), 0..2), counts(8)).prop_map(|(files, syscalls)| {
            ModuleTrace {
                files,
                syscalls,
                arguments: Default::default(),
            }
        });
    (
        proptest::collection::vec(name(), 0..4),
        (name(), name()),
        proptest::collection::btree_map(name(), module, 0..10),
        (counts(6), counts(6), counts(4), counts(2), counts(2)),
    )
        .prop_map(
            |(
                command,
                (executable, version),
                modules,
                (startup, frameless, non_python, truncated, unreadable),
            )| Trace {
                format: TRACE_FORMAT.to_string(),
                version: TRACE_VERSION,
                command,
                interpreter: Interpreter {
                    executable,
                    version,
                    build: "shared".to_string(),
                    runtime_elf: String::new(),
                    import_roots: Vec::new(),
                },
                modules,
                buckets: Buckets {
                    startup,
                    frameless,
                    non_python,
                    truncated,
                    unreadable,
                },
                programs: Default::default(),
                processes: Vec::new(),
                counters: Counters::default(),
                exit_status: None,
            },
        )
}

fn options() -> impl Strategy<Value = BuildOptions> {
    (
        any::<bool>(),
        proptest::sample::select(&[Mode::Log, Mode::Kill, Mode::Stop][..]),
        proptest::sample::select(
            &[UnknownRule::BaseOnly, UnknownRule::Allow, UnknownRule::Deny][..],
        ),
        proptest::option::of(name()),
        any::<bool>(),
    )
        .prop_map(
            |(group_packages, mode, unknown, name, exact)| BuildOptions {
                group_packages,
                mode,
                unknown,
                name,
                exact,
            },
        )
}

/// `policy` written in `format` parses back to itself and compiles alike.
fn round_trips(policy: &Policy, format: Format) -> Result<(), TestCaseError> {
    let text = policy.to_format(format);
    let back = Policy::parse(&text, "policy", format)
        .map_err(|e| TestCaseError::fail(format!("{format} refused: {e}\n{text}")))?;
    prop_assert_eq!(
        &back,
        policy,
        "{} reads back differently:\n{}",
        format,
        text
    );
    let (a, b) = (policy.compile(), back.compile());
    prop_assert_eq!(a.rules().collect::<Vec<_>>(), b.rules().collect::<Vec<_>>());
    prop_assert_eq!(
        (
            a.base,
            a.startup,
            a.frameless,
            a.children,
            a.mode,
            a.unknown
        ),
        (
            b.base,
            b.startup,
            b.frameless,
            b.children,
            b.mode,
            b.unknown
        )
    );
    // And the writer is stable: writing what was read gives the same text.
    prop_assert_eq!(back.to_format(format), text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn build_output_always_reads_back(trace in trace(), opts in options()) {
        let policy = build(&trace, &opts);
        round_trips(&policy, Format::Yaml)?;
        round_trips(&policy, Format::Json)?;

        // Nothing is lost silently: every traced module is covered with what
        // it did, or named as left out; every unknown syscall name is named.
        let omitted = omissions(&trace);
        let left_out: BTreeSet<&str> = omitted
            .iter()
            .filter_map(|o| match o {
                Omitted::Module { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let temporary: BTreeSet<&str> = omitted
            .iter()
            .filter_map(|o| match o {
                Omitted::TemporaryModule { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let compiled = policy.compile();
        for (name, module) in &trace.modules {
            let unknown: Vec<String> = module
                .syscalls
                .keys()
                .filter(|n| Syscall::parse(n).is_none())
                .cloned()
                .collect();
            if left_out.contains(name.as_str()) {
                prop_assert!(name.contains('*'), "{name:?} left out");
                continue;
            }
            if temporary.contains(name.as_str()) {
                prop_assert!(has_random_temp_component(name), "{name:?} left out");
                prop_assert!(
                    !policy.spec.modules.keys().any(|k| k.as_str() == name),
                    "{name:?} left out but has an entry"
                );
                continue;
            }
            prop_assert!(!has_random_temp_component(name), "{name:?} not left out");
            let Some((_, bitmap)) = compiled.rule_for(name) else {
                return Err(TestCaseError::fail(format!("{name:?}: no entry and no warning")));
            };
            for syscall in module.syscalls.keys().filter_map(|n| Syscall::parse(n)) {
                prop_assert!(
                    secimport_policy::policy::bitmap_contains(&bitmap, syscall.number()),
                    "{name:?}: {syscall} lost"
                );
            }
            if !unknown.is_empty() {
                let place = format!("module {}", quoted(name));
                prop_assert!(
                    omitted.iter().any(|o| matches!(
                        o,
                        Omitted::UnknownSyscalls { place: p, names } if *p == place && *names == unknown
                    )),
                    "{name:?}: unknown syscalls {unknown:?} not reported: {omitted:?}"
                );
            }
        }
        for o in &omitted {
            // Every warning is one line.
            let text = o.to_string();
            prop_assert!(!text.contains('\n'), "{text}");
        }
        if let Some(name) = &opts.name {
            prop_assert_eq!(&policy.metadata.name, name);
        }
    }

    /// Any string is a name, a description, a key and a command word.
    #[test]
    fn any_string_survives_the_yaml_writer(
        name in name(),
        description in proptest::option::of(name()),
        keys in proptest::collection::btree_set(name(), 0..6),
        command in proptest::collection::vec(name(), 0..4),
    ) {
        let mut policy = Policy::new(name);
        policy.metadata.description = description;
        policy.metadata.generated_from = Some(secimport_policy::policy::GeneratedFrom {
            command,
            interpreter: None,
            python_version: None,
        });
        let mut modules = BTreeMap::new();
        for key in keys {
            if let Ok(pattern) = secimport_policy::policy::ModulePattern::parse(&key) {
                modules.insert(pattern, Default::default());
            }
        }
        policy.spec.modules = modules;
        round_trips(&policy, Format::Yaml)?;
        round_trips(&policy, Format::Json)?;
    }
}
