//! The allow rule in Rust (`Compiled::decide`), case by case: the cases
//! `crates/secimport-engine/src/bpf/lib/decide.h` decides in the kernel, and
//! that the seccomp supervisor decides in user space.

use secimport_policy::policy::{Compiled, Format, Judge, Policy, Query, Refusal, Unseen, Who};
use secimport_policy::rights;

const POLICY: &str = r#"
apiVersion: secimport.dev/v2
kind: SandboxPolicy
metadata: {name: decide}
spec:
  mode: kill
  unknown: base-only
  base: [newfstatat, openat]
  startup: [openat]
  frameless: [getcwd]
  children: [getpid]
  programs:
    /usr/bin/git: [getppid]
  modules:
    app: [getppid, "openat:write", execve]
    "app.plugins.*": [getpid]
  arguments:
    app:
      exec: [/bin/true]
      write: ["/srv/out/*"]
"#;

fn compiled(unknown: &str) -> Compiled {
    let text = POLICY.replace("unknown: base-only", &format!("unknown: {unknown}"));
    Policy::parse(&text, "policy.yaml", Format::Yaml)
        .unwrap()
        .compile()
}

fn right(name: &str) -> u32 {
    rights::number_of(name).unwrap_or_else(|| panic!("{name} is a right"))
}

fn python(c: &Compiled, name: &str, judges: &[Judge], values: &[&str]) -> (bool, Vec<Refusal>) {
    let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    let d = c.decide(&Query {
        right: right(name),
        right_name: name,
        who: Who::Python {
            judges,
            started: true,
        },
        values: &values,
    });
    (d.allowed, d.refusals.into_iter().map(|(_, r)| r).collect())
}

#[test]
fn modules_allow_their_list_and_base() {
    let c = compiled("base-only");
    let app = Judge::Module("app");
    let plugin = Judge::Module("app.plugins.x");
    assert!(python(&c, "getppid", &[app], &[]).0);
    assert!(python(&c, "newfstatat", &[app, plugin], &[]).0); // base
    let (ok, why) = python(&c, "getppid", &[app, plugin], &[]);
    assert!(!ok);
    assert_eq!(
        why,
        vec![Refusal::NotListed {
            key: "app.plugins.*".into()
        }]
    );
    // Harmless rights are never judged.
    assert!(python(&c, "getpid", &[Judge::Module("nobody.knows")], &[]).0);
}

#[test]
fn unknown_modules_and_what_was_not_seen() {
    for (unknown, base_ok, other_ok) in [
        ("base-only", true, false),
        ("allow", true, true),
        ("deny", false, false),
    ] {
        let c = compiled(unknown);
        for judge in [
            Judge::Module("requests"),
            Judge::Unseen(Unseen::Truncated),
            Judge::Unseen(Unseen::Unreadable),
            Judge::Unseen(Unseen::Overflow),
        ] {
            assert_eq!(
                python(&c, "newfstatat", &[judge], &[]).0,
                base_ok,
                "{unknown} {judge:?}"
            );
            assert_eq!(
                python(&c, "getppid", &[judge], &[]).0,
                other_ok,
                "{unknown} {judge:?}"
            );
        }
    }
}

#[test]
fn dangerous_rights_only_from_a_modules_own_list() {
    let c = compiled("base-only");
    // openat:write is dangerous: base (which has openat) does not give it.
    let (ok, why) = python(&c, "openat:write", &[Judge::Module("app.plugins.x")], &[]);
    assert!(!ok);
    assert!(matches!(why[0], Refusal::NotListed { .. }));
    // app lists it, restricted to /srv/out/*.
    assert!(python(&c, "openat:write", &[Judge::Module("app")], &["/srv/out/a"]).0);
    let (ok, why) = python(
        &c,
        "openat:write",
        &[Judge::Module("app")],
        &["/etc/passwd"],
    );
    assert!(!ok);
    assert_eq!(
        why,
        vec![Refusal::Value {
            key: "app".into(),
            value: "/etc/passwd".into()
        }]
    );
    // A value that could not be read matches nothing.
    assert!(!python(&c, "execve", &[Judge::Module("app")], &[]).0);
    assert!(python(&c, "execve", &[Judge::Module("app")], &["/bin/true"]).0);
}

#[test]
fn buckets_when_there_is_no_frame() {
    let c = compiled("base-only");
    let decide = |name: &str, started| {
        c.decide(&Query {
            right: right(name),
            right_name: name,
            who: Who::Python {
                judges: &[],
                started,
            },
            values: &[],
        })
    };
    assert!(decide("openat", false).allowed);
    assert!(!decide("openat", true).allowed); // frameless lacks it
    assert!(decide("getcwd", true).allowed);
    assert_eq!(
        decide("newfstatat", true).refusals,
        vec![(0, Refusal::Bucket { started: true })]
    );
    // Base does not reach a thread without frames.
    assert!(!decide("newfstatat", false).allowed);
}

#[test]
fn programs_and_children() {
    let c = compiled("base-only");
    let decide = |name: &str, program| {
        c.decide(&Query {
            right: right(name),
            right_name: name,
            who: Who::Program(program),
            values: &[],
        })
    };
    assert!(decide("getppid", Some("/usr/bin/git")).allowed);
    assert!(!decide("getppid", None).allowed);
    assert_eq!(
        decide("getppid", None).refusals,
        vec![(0, Refusal::Children)]
    );
    assert_eq!(
        decide("openat", Some("/usr/bin/git")).refusals,
        vec![(
            0,
            Refusal::Program {
                key: "/usr/bin/git".into()
            }
        )]
    );
}
