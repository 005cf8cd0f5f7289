//! `secimport diff`'s rule: what NEW allows that OLD did not, compared by
//! what is allowed (globs, classes, values, `unknown`, base), for policies
//! and traces; and the committed JSON Schema of its report.

use std::collections::BTreeMap;
use std::path::Path;

use secimport_policy::build::{build, BuildOptions};
use secimport_policy::diff::{
    attach, diff, json_schema, Change, Diff, Entry, Frame, Row, Source, Violation, OTHER_MODULES,
    OTHER_PROGRAMS,
};
use secimport_policy::policy::{upgrade_v1, Format, Policy};
use secimport_policy::trace::{
    Buckets, Counters, Interpreter, ModuleTrace, Trace, TRACE_FORMAT, TRACE_VERSION,
};

// ---------------------------------------------------------------- helpers

/// A v2 policy from the lines of its `spec` (indented by two spaces).
fn policy(spec: &str) -> Policy {
    let text = format!(
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {{name: t}}\nspec:\n{spec}"
    );
    Policy::parse(&text, "test.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn compare(old: &Policy, new: &Policy) -> Diff {
    diff(old, new, Source::default(), Source::default())
}

fn row<'a>(d: &'a Diff, name: &str) -> &'a Row {
    d.modules
        .iter()
        .chain(&d.programs)
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name:?} in {d:#?}"))
}

fn has_row(d: &Diff, name: &str) -> bool {
    d.modules.iter().chain(&d.programs).any(|r| r.name == name)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const BASE: &str = "  base: [openat, newfstatat]\n";

// ---------------------------------------------------------------- rights

#[test]
fn equal_policies_differ_in_nothing() {
    let p = policy(&format!(
        "{BASE}  modules:\n    app: [getppid, execve]\n    \"pkg.*\": [sysinfo]\n  arguments:\n    app:\n      exec: [/usr/bin/git]\n"
    ));
    let d = compare(&p, &p);
    assert!(!d.adds && !d.drops, "{d:#?}");
    assert!(d.modules.is_empty() && d.programs.is_empty(), "{d:#?}");
    assert_eq!(d.mode, None);
    assert_eq!(d.unknown, None);
}

#[test]
fn a_module_that_gains_a_right_adds_and_one_that_loses_drops() {
    let old = policy(&format!("{BASE}  modules:\n    app: [getppid]\n"));
    let new = policy(&format!(
        "{BASE}  modules:\n    app: [getppid, \"clone:process\", execve]\n"
    ));
    let d = compare(&old, &new);
    assert!(d.adds && !d.drops, "{d:#?}");
    let r = row(&d, "app");
    assert_eq!(r.entry, Entry::Kept);
    assert_eq!(r.change.added, strs(&["clone:process", "execve"]));
    assert!(r.change.dropped.is_empty());
    // execve carries values: unrestricted in NEW, no right in OLD.
    assert!(r.change.arguments["exec"].added_any, "{r:#?}");

    let back = compare(&new, &old);
    assert!(!back.adds && back.drops, "{back:#?}");
    assert_eq!(
        row(&back, "app").change.dropped,
        strs(&["clone:process", "execve"])
    );
}

#[test]
fn an_argument_class_is_a_right_of_its_own() {
    let old = policy(&format!("{BASE}  modules:\n    app: [openat]\n"));
    let new = policy(&format!(
        "{BASE}  modules:\n    app: [openat, \"openat:write\", \"connect:inet\", \"socket:inet\"]\n"
    ));
    let d = compare(&old, &new);
    assert!(d.adds);
    assert_eq!(
        row(&d, "app").change.added,
        strs(&["connect:inet", "openat:write", "socket:inet"])
    );
}

#[test]
fn a_wider_glob_adds_to_the_modules_it_now_covers() {
    let old = policy(&format!("{BASE}  modules:\n    tinynn.module: [write]\n"));
    let new = policy(&format!("{BASE}  modules:\n    \"tinynn.*\": [write]\n"));
    let d = compare(&old, &new);
    assert!(d.adds, "{d:#?}");
    // The other modules of tinynn were unknown (base only): they gain write.
    let glob = row(&d, "tinynn.*");
    assert_eq!(glob.entry, Entry::Added);
    assert_eq!(glob.old_rule, None);
    assert_eq!(glob.new_rule.as_deref(), Some("tinynn.*"));
    assert_eq!(glob.change.added, strs(&["write"]));
    // tinynn.module itself allows the same, through the glob now.
    let module = row(&d, "tinynn.module");
    assert_eq!(module.entry, Entry::Removed);
    assert_eq!(module.new_rule.as_deref(), Some("tinynn.*"));
    assert!(
        !module.change.adds() && !module.change.drops(),
        "{module:#?}"
    );

    // The same glob in both, text reordered: nothing.
    let same = policy(&format!("{BASE}  modules:\n    \"tinynn.*\": [write]\n"));
    assert!(!compare(&new, &same).adds);
}

#[test]
fn an_exact_key_under_a_glob_is_compared_by_precedence() {
    let old = policy(&format!("{BASE}  modules:\n    \"pkg.*\": [sysinfo]\n"));
    let new = policy(&format!(
        "{BASE}  modules:\n    \"pkg.*\": [sysinfo]\n    pkg.a: [sysinfo, getppid]\n    \"pkg.s*\": [sysinfo]\n"
    ));
    let d = compare(&old, &new);
    assert!(d.adds);
    assert_eq!(row(&d, "pkg.a").change.added, strs(&["getppid"]));
    assert_eq!(row(&d, "pkg.a").entry, Entry::Added);
    // pkg.s* allows what pkg.* allowed: shown as a new entry, no change.
    let s = row(&d, "pkg.s*");
    assert_eq!(s.entry, Entry::Added);
    assert!(!s.change.adds() && !s.change.drops());
    // pkg.* itself is unchanged and not shown.
    assert!(!has_row(&d, "pkg.*"), "{d:#?}");
}

#[test]
fn a_narrower_glob_only_drops() {
    let old = policy(&format!("{BASE}  modules:\n    \"*\": [sysinfo]\n"));
    let new = policy(&format!("{BASE}  modules:\n    \"pkg.*\": [sysinfo]\n"));
    let d = compare(&old, &new);
    assert!(!d.adds && d.drops, "{d:#?}");
    assert_eq!(row(&d, OTHER_MODULES).change.dropped, strs(&["sysinfo"]));
}

// ---------------------------------------------------------------- unknown, base, mode

#[test]
fn unknown_allow_adds_every_right_to_modules_no_key_names() {
    let old = policy(&format!(
        "  unknown: base-only\n{BASE}  modules:\n    app: [sysinfo]\n"
    ));
    let new = policy(&format!(
        "  unknown: allow\n{BASE}  modules:\n    app: [sysinfo]\n"
    ));
    let d = compare(&old, &new);
    assert!(d.adds);
    assert_eq!(d.unknown.as_ref().unwrap().new, "allow");
    let other = row(&d, OTHER_MODULES);
    assert!(other.change.added_any, "{other:#?}");
    // Back: only drops.
    let back = compare(&new, &old);
    assert!(!back.adds && back.drops);
    assert!(row(&back, OTHER_MODULES).change.dropped_any);
}

#[test]
fn unknown_deny_to_base_only_adds_base_to_unknown_modules() {
    let old = policy(&format!(
        "  unknown: deny\n{BASE}  modules:\n    app: [sysinfo]\n"
    ));
    let new = policy(&format!(
        "  unknown: base-only\n{BASE}  modules:\n    app: [sysinfo]\n"
    ));
    let d = compare(&old, &new);
    assert!(d.adds);
    assert_eq!(
        row(&d, OTHER_MODULES).change.added,
        strs(&["newfstatat", "openat"])
    );
    assert!(!compare(&new, &old).adds);
}

#[test]
fn a_right_moved_to_base_adds_to_everyone_else_and_is_shown_once() {
    let old = policy(&format!(
        "{BASE}  modules:\n    app: [sysinfo]\n    lib: [uname]\n"
    ));
    let new = policy(
        "  base: [openat, newfstatat, sysinfo]\n  modules:\n    app: [sysinfo]\n    lib: [uname]\n",
    );
    let d = compare(&old, &new);
    assert!(d.adds, "{d:#?}");
    assert_eq!(d.base.added, strs(&["sysinfo"]));
    // Listed under base only, not under lib nor (other modules).
    assert!(!has_row(&d, "lib") && !has_row(&d, OTHER_MODULES), "{d:#?}");
}

/// A module that had no base before (unknown: deny) lists every right it
/// gains, base's new ones too: they are not only base's change.
#[test]
fn a_module_that_gains_base_itself_lists_base_s_new_rights_too() {
    let old = policy("  unknown: deny\n  base: [openat]\n");
    let new = policy("  unknown: base-only\n  base: [openat, sysinfo]\n");
    let d = compare(&old, &new);
    assert!(d.adds);
    assert_eq!(d.base.added, strs(&["sysinfo"]));
    assert_eq!(
        row(&d, OTHER_MODULES).change.added,
        strs(&["openat", "sysinfo"])
    );
}

#[test]
fn a_base_gain_that_reaches_no_module_adds_nothing() {
    let old = policy("  unknown: deny\n  base: [openat]\n");
    let new = policy("  unknown: deny\n  base: [openat, sysinfo]\n");
    let d = compare(&old, &new);
    assert_eq!(d.base.added, strs(&["sysinfo"]));
    assert!(!d.adds, "no module can use base: {d:#?}");
}

#[test]
fn a_mode_change_is_shown_but_adds_no_right() {
    let old = policy(&format!("  mode: kill\n{BASE}"));
    let new = policy(&format!("  mode: log\n{BASE}"));
    let d = compare(&old, &new);
    assert!(!d.adds && !d.drops);
    let mode = d.mode.unwrap();
    assert_eq!((mode.old.as_str(), mode.new.as_str()), ("kill", "log"));
}

#[test]
fn the_harmless_set_is_never_compared() {
    let old = policy(&format!("{BASE}  modules:\n    app: [sysinfo]\n"));
    let new = policy(&format!(
        "{BASE}  modules:\n    app: [sysinfo, brk, futex]\n"
    ));
    let d = compare(&old, &new);
    assert!(!d.adds && !d.drops, "{d:#?}");
}

#[test]
fn shared_sets_and_programs() {
    let old = policy(
        "  base: [openat]\n  startup: [openat]\n  frameless: [openat]\n  children: [openat]\n  programs:\n    /usr/bin/git: [openat, sysinfo]\n",
    );
    let new = policy(
        "  base: [openat]\n  startup: [openat, sysinfo]\n  frameless: []\n  children: [openat, \"openat:write\"]\n  programs:\n    /usr/bin/git: [openat]\n    /usr/bin/dash: [openat, execve]\n",
    );
    let d = compare(&old, &new);
    assert!(d.adds);
    assert_eq!(d.startup.added, strs(&["sysinfo"]));
    assert_eq!(d.frameless.dropped, strs(&["openat"]));
    assert_eq!(row(&d, "/usr/bin/git").change.dropped, strs(&["sysinfo"]));
    let dash = row(&d, "/usr/bin/dash");
    assert_eq!(dash.entry, Entry::Added);
    assert_eq!(dash.old_rule, None, "OLD judged it by children");
    assert_eq!(dash.change.added, strs(&["execve"]));
    assert_eq!(
        row(&d, OTHER_PROGRAMS).change.added,
        strs(&["openat:write"])
    );
}

// ---------------------------------------------------------------- values

fn with_args(rights: &str, args: &str) -> Policy {
    policy(&format!(
        "{BASE}  modules:\n    app: [{rights}]\n  arguments:\n    app:\n{args}"
    ))
}

#[test]
fn a_path_pattern_within_an_old_one_adds_nothing() {
    let old = with_args("\"openat:write\"", "      write: [/srv/out/*, /tmp/**]\n");
    for narrower in [
        "[/srv/out/a.txt]",
        "[/tmp/x/y]",
        "[/tmp/cache/*]",
        "[/tmp/cache/**]",
        "[]",
    ] {
        let new = with_args("\"openat:write\"", &format!("      write: {narrower}\n"));
        let d = compare(&old, &new);
        assert!(!d.adds, "{narrower}: {d:#?}");
    }
    for (wider, added) in [
        ("[/srv/**]", "/srv/**"),
        ("[/srv/out/sub/a]", "/srv/out/sub/a"),
        ("[/srv/other/*]", "/srv/other/*"),
        ("[/etc/passwd]", "/etc/passwd"),
    ] {
        let new = with_args("\"openat:write\"", &format!("      write: {wider}\n"));
        let d = compare(&old, &new);
        assert!(d.adds, "{wider}");
        assert_eq!(
            row(&d, "app").change.arguments["write"].added,
            strs(&[added])
        );
    }
    // Unrestricted where it was restricted: any value.
    let any = policy(&format!("{BASE}  modules:\n    app: [\"openat:write\"]\n"));
    let d = compare(&old, &any);
    assert!(d.adds && row(&d, "app").change.arguments["write"].added_any);
    let back = compare(&any, &old);
    assert!(!back.adds && row(&back, "app").change.arguments["write"].dropped_any);
}

#[test]
fn an_address_pattern_within_an_old_one_adds_nothing() {
    let rights = "\"connect:inet\", \"connect:unix\"";
    let old = with_args(
        rights,
        "      connect: [\"10.0.0.0/8:*\", \"127.0.0.1:5432\", \"unix:/run/app/*\"]\n",
    );
    for narrower in [
        "[\"10.1.2.3:443\"]",
        "[\"10.1.0.0/16:*\"]",
        "[\"127.0.0.1:5432\"]",
        "[\"unix:/run/app/db.sock\"]",
    ] {
        let new = with_args(rights, &format!("      connect: {narrower}\n"));
        assert!(!compare(&old, &new).adds, "{narrower}");
    }
    for wider in [
        "[\"10.0.0.0/7:*\"]",
        "[\"127.0.0.1:*\"]",
        "[\"127.0.0.1:5433\"]",
        "[\"11.0.0.1:80\"]",
        "[\"[::1]:5432\"]",
        "[\"unix:/run/**\"]",
        "[\"unix:@abstract\"]",
    ] {
        let new = with_args(rights, &format!("      connect: {wider}\n"));
        assert!(compare(&old, &new).adds, "{wider}");
    }
}

#[test]
fn a_new_program_to_execute_adds() {
    let old = with_args("execve", "      exec: [/usr/bin/git]\n");
    let new = with_args("execve", "      exec: [/usr/bin/git, /bin/sh]\n");
    let d = compare(&old, &new);
    assert!(d.adds);
    let r = row(&d, "app");
    assert!(r.change.added.is_empty(), "execve itself was allowed");
    assert_eq!(r.change.arguments["exec"].added, strs(&["/bin/sh"]));
}

// ---------------------------------------------------------------- traces and versions

fn trace(modules: &[(&str, &[&str])], connect: Option<&str>) -> Trace {
    Trace {
        format: TRACE_FORMAT.to_string(),
        version: TRACE_VERSION,
        command: strs(&["/usr/bin/python3", "/srv/app.py"]),
        interpreter: Interpreter {
            executable: "/usr/bin/python3".into(),
            version: "3.11.2".into(),
            build: "static".into(),
            runtime_elf: "/usr/bin/python3".into(),
            import_roots: strs(&["/srv"]),
        },
        modules: modules
            .iter()
            .map(|(name, syscalls)| {
                let mut arguments = BTreeMap::new();
                if let Some(addr) = connect.filter(|_| syscalls.contains(&"connect:inet")) {
                    arguments.insert(
                        "connect".to_string(),
                        [(addr.to_string(), 1)].into_iter().collect(),
                    );
                }
                let module = ModuleTrace {
                    files: vec![format!("/srv/{name}.py")],
                    syscalls: syscalls.iter().map(|s| (s.to_string(), 1)).collect(),
                    arguments,
                };
                (name.to_string(), module)
            })
            .collect(),
        buckets: Buckets {
            startup: [("openat".to_string(), 1)].into_iter().collect(),
            ..Default::default()
        },
        programs: Default::default(),
        processes: Vec::new(),
        counters: Counters::default(),
        exit_status: Some(0),
    }
}

#[test]
fn a_trace_compares_as_the_policy_build_makes_of_it() {
    // Exact names, to compare lists exactly (the groups are `build`'s).
    let opts = BuildOptions {
        group_packages: true,
        exact: true,
        ..Default::default()
    };
    let before = trace(&[("__main__", &["getppid"]), ("dep", &["getppid"])], None);
    let policy_before = build(&before, &opts);
    // The policy built from it against the trace: nothing.
    let d = compare(&policy_before, &build(&before, &opts));
    assert!(!d.adds && !d.drops, "{d:#?}");
    // The dependency now connects to a new host: its module and __main__
    // gain the rights and the address.
    let after = trace(
        &[
            ("__main__", &["getppid", "socket:inet", "connect:inet"]),
            ("dep", &["getppid", "socket:inet", "connect:inet"]),
        ],
        Some("inet:203.0.113.7:443"),
    );
    let d = compare(&policy_before, &build(&after, &opts));
    assert!(d.adds);
    let dep = row(&d, "dep");
    assert_eq!(dep.change.added, strs(&["connect:inet", "socket:inet"]));
    assert_eq!(
        dep.change.arguments["connect"].added,
        strs(&["203.0.113.7:443"])
    );
    // Doing less: drops only.
    let less = trace(&[("__main__", &[]), ("dep", &[])], None);
    let d = compare(&policy_before, &build(&less, &opts));
    assert!(!d.adds && d.drops, "{d:#?}");
    assert_eq!(row(&d, "dep").change.dropped, strs(&["getppid"]));
}

#[test]
fn a_v1_policy_compares_as_its_upgrade() {
    let v1 = Policy::parse(
        "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  base: [openat]\n  modules:\n    app: [openat, clone]\n",
        "v1.yaml",
        Format::Yaml,
    )
    .unwrap();
    // v1's `openat` in a module allowed writing, and its `clone` processes.
    let v2 = policy("  base: [openat]\n  modules:\n    app: [openat]\n");
    let d = compare(&v2, &v1);
    assert!(d.adds);
    let added = &row(&d, "app").change.added;
    for right in ["clone", "clone:process", "openat:write"] {
        assert!(added.contains(&right.to_string()), "{right}: {added:?}");
    }
    assert!(!compare(&v1, &upgrade_v1(v1.clone())).adds);
}

// ---------------------------------------------------------------- stacks

fn violation(line: usize, right: &str, denied_by: &[&str], args: &[(&str, &str)]) -> Violation {
    Violation {
        log: format!("v.jsonl:{line}"),
        right: right.to_string(),
        denied_by: strs(denied_by),
        arguments: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        pid: 42,
        time: "2026-12-01T00:00:00.000Z".into(),
        stack: vec![Frame {
            module: denied_by[0].to_string(),
            file: format!("/srv/{line}.py"),
            line: Some(line as u32),
            function: "f".into(),
        }],
    }
}

#[test]
fn each_added_right_gets_the_first_violation_that_asked_for_it() {
    let old = with_args("execve", "      exec: [/usr/bin/git]\n");
    let new = policy(&format!(
        "{BASE}  modules:\n    app: [execve, \"connect:inet\"]\n    \"plugins.*\": [getppid]\n  arguments:\n    app:\n      exec: [/usr/bin/git, /bin/sh]\n"
    ));
    let mut d = compare(&old, &new);
    let log = [
        violation(1, "uname", &["app"], &[]),
        violation(2, "connect:inet", &["other"], &[]),
        violation(
            3,
            "connect:inet",
            &["app"],
            &[("connect", "inet:1.2.3.4:80")],
        ),
        violation(4, "execve", &["app"], &[("exec", "/bin/sh")]),
        violation(5, "connect:inet", &["app"], &[]),
        violation(6, "getppid", &["plugins.x.y"], &[]),
    ];
    attach(&mut d, &old, &new, &log);
    let app: &Change = &row(&d, "app").change;
    let logs: Vec<(&str, &str)> = app
        .first_asked
        .iter()
        .map(|a| (a.right.as_str(), a.log.as_str()))
        .collect();
    assert_eq!(
        logs,
        [("connect:inet", "v.jsonl:3"), ("execve", "v.jsonl:4")],
        "{app:#?}"
    );
    assert_eq!(app.first_asked[1].value.as_deref(), Some("/bin/sh"));
    let plugins = &row(&d, "plugins.*").change;
    assert_eq!(plugins.first_asked.len(), 1);
    assert_eq!(plugins.first_asked[0].module, "plugins.x.y");
}

// ---------------------------------------------------------------- docs

/// The CI examples of docs/ci.md are valid YAML, and their jobs call `secimport diff`.
#[test]
fn the_ci_examples_parse() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples");
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let path = examples.join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value: serde_norway::Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
        assert!(value.is_mapping(), "{name}");
        assert!(text.contains("secimport diff"), "{name} runs no diff");
        assert!(text.contains("--violations"), "{name} shows no stack");
    }
}

// ---------------------------------------------------------------- schema

#[test]
fn diff_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/diff.schema.json");
    let schema = json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &schema).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema,
        "schemas/diff.schema.json is stale (the diff report types changed); regenerate it with\n\n    \
         UPDATE_SCHEMA=1 cargo test -p secimport-policy --test diff schema\n\nand commit the result"
    );
}

#[test]
fn a_report_reads_back_through_its_types() {
    let old = with_args("execve", "      exec: [/usr/bin/git]\n");
    let new = with_args("execve", "      exec: [/bin/sh]\n");
    let d = compare(&old, &new);
    let json = serde_json::to_string(&d).unwrap();
    let back: Diff = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}
