//! `secimport export --format oci-seccomp`: the whole-process union of a policy as an OCI seccomp
//! profile, argument classes as register rules (`secimport_policy::oci`). The profile is checked
//! by its own reading of the rules (`Profile::decide`, libseccomp's first-match semantics); the
//! end-to-end test (`crates/secimport/tests/export.rs`) loads it with libseccomp and runs programs.

use secimport_policy::oci::{export, DefaultAction, Export, Options, Profile, Runtime};
use secimport_policy::policy::{Format, Policy};

fn policy(spec: &str) -> Policy {
    let text = format!(
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {{name: t}}\nspec:\n{spec}"
    );
    Policy::parse(&text, "p.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn exported(spec: &str) -> Export {
    export(&policy(spec), Options::default()).unwrap_or_else(|e| panic!("{e}"))
}

const ALLOW: (&str, Option<u32>) = ("SCMP_ACT_ALLOW", None);
const EPERM: (&str, Option<u32>) = ("SCMP_ACT_ERRNO", Some(libc::EPERM as u32));

fn args(a0: u64, a1: u64, a2: u64) -> [u64; 6] {
    [a0, a1, a2, 0, 0, 0]
}

/// What a plain Python program's policy looks like: reads in base, a few
/// module rights, the import system's pycache writes in base.
const SPEC: &str = "  base: [openat, \"openat:pycache\", \"mkdir:pycache\", newfstatat, ioctl, fcntl, prctl, getdents64]
  startup: [openat, newfstatat, ioctl, fcntl, \"mmap:exec\"]
  frameless: [openat]
  modules:
    app: [write, \"socket:unix\", clone, \"kill:other\", \"connect:unix\", \"sendto:inet\"]
";

#[test]
fn header_names_the_default_action_and_one_architecture() {
    let p = exported(SPEC).profile;
    assert_eq!(
        (p.default_action, p.default_errno_ret),
        ("SCMP_ACT_ERRNO", Some(1))
    );
    assert_eq!(p.architectures, ["SCMP_ARCH_X86_64"]);
    for (action, want) in [
        (DefaultAction::Kill, "SCMP_ACT_KILL_PROCESS"),
        (DefaultAction::Log, "SCMP_ACT_LOG"),
    ] {
        let options = Options {
            default_action: action,
            ..Options::default()
        };
        let p = export(&policy(SPEC), options).unwrap().profile;
        assert_eq!((p.default_action, p.default_errno_ret), (want, None));
        let json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert!(json.get("defaultErrnoRet").is_none());
    }
    let json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(json["defaultErrnoRet"], 1);
    assert_eq!(json["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
}

#[test]
fn every_bucket_and_module_is_in_the_union() {
    let spec = format!(
        "{SPEC}  children: [uname]\n  programs:\n    /usr/bin/git: [getcwd]\n    /usr/bin/dash: [\"openat:write\"]\n"
    );
    let p = exported(&spec).profile;
    for name in [
        "read",
        "futex",
        "newfstatat",
        "getdents64",
        "write",
        "uname",
        "getcwd",
        "openat",
    ] {
        assert_eq!(p.decide(name, &[0; 6]), ALLOW, "{name}");
    }
    // A program's writing open is the container's: allowed for everyone.
    assert_eq!(p.decide("openat", &args(0, 0, 0o101)), ALLOW);
    for name in ["mount", "ptrace", "execveat", "unshare", "bpf", "listen"] {
        assert_eq!(p.decide(name, &[0; 6]), EPERM, "{name}");
    }
}

#[test]
fn reading_opens_only_when_no_module_writes() {
    let exec_only = Options {
        runtime: Runtime::Exec,
        ..Options::default()
    };
    let p = export(&policy(SPEC), exec_only).unwrap().profile;
    let rules = p.rules_for("openat");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        serde_json::to_value(&rules[0].args).unwrap(),
        serde_json::json!([{"index": 2, "value": 0o3103, "op": "SCMP_CMP_MASKED_EQ"}])
    );
    assert_eq!(p.decide("openat", &args(0, 0, 0)), ALLOW);
    assert_eq!(
        p.decide("openat", &args(0, 0, libc::O_CLOEXEC as u64)),
        ALLOW
    );
    for flag in [
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_CREAT,
        libc::O_TRUNC,
        libc::O_APPEND,
    ] {
        assert_eq!(
            p.decide("openat", &args(0, 0, flag as u64)),
            EPERM,
            "{flag:o}"
        );
    }
    assert_eq!(
        p.decide(
            "openat",
            &args(0, 0, (libc::O_WRONLY | libc::O_CLOEXEC) as u64)
        ),
        EPERM
    );
    // For runc: its exec FIFO's open, exactly O_WRONLY|O_CLOEXEC, and nothing more.
    let e = exported(SPEC);
    let fifo = (libc::O_WRONLY | libc::O_CLOEXEC) as u64;
    assert_eq!(e.profile.decide("openat", &args(0, 0, fifo)), ALLOW);
    assert_eq!(e.profile.decide("openat", &args(0, 0, 0)), ALLOW);
    for flags in [
        libc::O_WRONLY,
        libc::O_WRONLY | libc::O_CLOEXEC | libc::O_CREAT,
        libc::O_WRONLY | libc::O_CLOEXEC | libc::O_TRUNC,
        libc::O_RDWR | libc::O_CLOEXEC,
    ] {
        assert_eq!(e.profile.decide("openat", &args(0, 0, flags as u64)), EPERM);
    }
    assert!(
        e.notes.iter().any(|n| n.contains("exec FIFO")),
        "{:?}",
        e.notes
    );
    assert_eq!(e.profile.decide("fstatfs", &[0; 6]), ALLOW);
    // With a module that writes, every openat.
    let p = exported(&SPEC.replace("app: [", "app: [\"openat:write\", ")).profile;
    assert_eq!(p.decide("openat", &args(0, 0, 0o101)), ALLOW);
    assert!(p.rules_for("openat").iter().all(|r| r.args.is_empty()));
}

#[test]
fn exec_mappings_and_plain_open() {
    // mprotect is harmless, mprotect:exec nobody's; mmap:exec is startup's.
    let p = exported(&SPEC.replace("base: [openat,", "base: [open, openat,")).profile;
    let exec = libc::PROT_READ | libc::PROT_EXEC;
    assert_eq!(
        p.decide("mprotect", &args(0, 4096, libc::PROT_READ as u64)),
        ALLOW
    );
    assert_eq!(p.decide("mprotect", &args(0, 4096, exec as u64)), EPERM);
    assert_eq!(
        p.decide("pkey_mprotect", &args(0, 4096, exec as u64)),
        EPERM
    );
    assert_eq!(p.decide("mmap", &args(0, 4096, exec as u64)), ALLOW);
    // open: flags are its second argument.
    assert_eq!(p.decide("open", &args(0, 0, 0)), ALLOW);
    assert_eq!(p.decide("open", &args(0, libc::O_RDWR as u64, 0)), EPERM);
    assert_eq!(p.decide("open", &args(0, libc::O_APPEND as u64, 0)), EPERM);
}

#[test]
fn pycache_writes_are_left_out_unless_asked() {
    let e = exported(SPEC);
    assert!(
        e.notes.iter().any(|n| n.contains(":pycache classes")),
        "{:?}",
        e.notes
    );
    assert_eq!(e.profile.decide("mkdir", &[0; 6]), EPERM);
    let with = export(
        &policy(SPEC),
        Options {
            pycache: true,
            ..Options::default()
        },
    )
    .unwrap();
    // Told apart by path: every writing open and mkdir, said in a note and the comment.
    assert_eq!(with.profile.decide("openat", &args(0, 0, 0o101)), ALLOW);
    assert_eq!(with.profile.decide("mkdir", &[0; 6]), ALLOW);
    let rule = with.profile.rules_for("openat")[0];
    assert!(
        rule.comment.as_deref().unwrap().contains("openat:pycache"),
        "{rule:?}"
    );
    assert!(with.notes.iter().any(|n| n.starts_with("openat: ")));
}

#[test]
fn threads_but_not_processes() {
    let p = exported(SPEC).profile;
    let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
    let fork = libc::SIGCHLD as u64;
    assert_eq!(p.decide("clone", &args(thread, 0, 0)), ALLOW);
    assert_eq!(p.decide("clone", &args(fork, 0, 0)), EPERM);
    assert_eq!(p.decide("fork", &[0; 6]), EPERM);
    assert_eq!(p.decide("vfork", &[0; 6]), EPERM);
    // clone3 reads its flags from memory: ENOSYS, the C library falls back to clone.
    assert_eq!(
        p.decide("clone3", &[0; 6]),
        ("SCMP_ACT_ERRNO", Some(libc::ENOSYS as u32))
    );
    // clone:process (or clone3:process, given to clone) allows both forms.
    for right in ["clone:process", "clone3:process"] {
        let p = exported(&SPEC.replace("app: [", &format!("app: [\"{right}\", "))).profile;
        assert_eq!(p.decide("clone", &args(fork, 0, 0)), ALLOW, "{right}");
    }
    let p = exported(&SPEC.replace("app: [", "app: [clone3, \"clone3:process\", ")).profile;
    assert_eq!(p.decide("clone3", &[0; 6]), ALLOW);
}

#[test]
fn socket_families_compare_the_low_32_bits() {
    let p = exported(SPEC).profile;
    assert_eq!(p.decide("socket", &args(1, 1, 0)), ALLOW);
    // The kernel reads an int: 1 << 32 | AF_UNIX is AF_UNIX, 1 << 32 | AF_INET is AF_INET.
    assert_eq!(p.decide("socket", &args(1 << 32 | 1, 1, 0)), ALLOW);
    for family in [2, 10, 16, 17, 3, 1 << 32 | 2] {
        assert_eq!(p.decide("socket", &args(family, 1, 0)), EPERM, "{family}");
    }
    // Two families: one rule each (OCI ANDs the args of one rule).
    let p = exported(&SPEC.replace("\"socket:unix\"", "\"socket:unix\", \"socket:inet\"")).profile;
    assert_eq!(p.rules_for("socket").len(), 3);
    for (family, want) in [
        (1, ALLOW),
        (2, ALLOW),
        (10, ALLOW),
        (16, EPERM),
        (17, EPERM),
    ] {
        assert_eq!(p.decide("socket", &args(family, 1, 0)), want, "{family}");
    }
    // Every family but netlink: the other rule is "none of the refused values".
    let p = exported(&SPEC.replace(
        "\"socket:unix\"",
        "\"socket:unix\", \"socket:inet\", \"socket:packet\", \"socket:other\"",
    ))
    .profile;
    for family in 0..64u64 {
        let want = if family == 16 { EPERM } else { ALLOW };
        assert_eq!(p.decide("socket", &args(family, 1, 0)), want, "{family}");
        assert_eq!(
            p.decide("socket", &args(family | 7 << 32, 1, 0)),
            want,
            "{family}"
        );
    }
}

/// ioctl, fcntl and prctl allowed but not their dangerous operations: every operation but
/// those, compared on the low 32 bits (the kernel reads an unsigned int).
#[test]
fn all_but_some_operations() {
    let p = exported(SPEC).profile;
    let refused_ioctl = [0x5412u64, 0x541c];
    let refused_fcntl = [8u64, 10, 15];
    let refused_prctl = [4u64, 0x5961_6d61];
    let probe = |name: &str, arg: usize, refused: &[u64]| {
        let mut values: Vec<u64> = (0..0x20).collect();
        values.extend(0x5400..0x5440);
        values.extend([0x5961_6d60, 0x5961_6d61, 0x5961_6d62, u32::MAX as u64]);
        for v in values {
            for high in [0u64, 1 << 32, 0xffff_ffff << 32] {
                let mut a = [0u64; 6];
                a[arg] = v | high;
                let want = if refused.contains(&v) { EPERM } else { ALLOW };
                assert_eq!(p.decide(name, &a), want, "{name} {:#x}", v | high);
            }
        }
        // At most 32 patterns per refused value.
        assert!(p.rules_for(name).len() <= 32 * refused.len());
    };
    probe("ioctl", 1, &refused_ioctl);
    probe("fcntl", 1, &refused_fcntl);
    probe("prctl", 0, &refused_prctl);
    // Allowed as a class only: exactly those values.
    let p = exported(&SPEC.replace("ioctl, fcntl", "fcntl")).profile;
    assert_eq!(p.decide("ioctl", &args(0, 0x5401, 0)), EPERM);
    let p = exported(
        &SPEC
            .replace("ioctl, fcntl", "fcntl")
            .replace("app: [", "app: [\"ioctl:tty-inject\", "),
    )
    .profile;
    assert_eq!(p.decide("ioctl", &args(0, 0x5412, 0)), ALLOW);
    assert_eq!(p.decide("ioctl", &args(0, 0x1_0000_541c, 0)), ALLOW);
    assert_eq!(p.decide("ioctl", &args(0, 0x5401, 0)), EPERM);
}

#[test]
fn what_registers_cannot_tell_is_allowed_whole_and_said() {
    let e = exported(SPEC);
    let p = &e.profile;
    // kill:other: the target is compared with the caller; connect:unix: the family is in memory.
    for name in ["kill", "connect"] {
        assert_eq!(p.decide(name, &[0; 6]), ALLOW, "{name}");
        let rule = p.rules_for(name)[0];
        assert!(rule.comment.is_some(), "{rule:?}");
        assert!(e.notes.iter().any(|n| n.starts_with(&format!("{name}: "))));
    }
    assert!(e
        .notes
        .iter()
        .any(|n| n.contains("connect:unix") && n.contains("connect:inet")));
    // sendto:inet: an addressed sendto (any family); a null address is plain sendto, refused.
    assert_eq!(p.decide("sendto", &[3, 0, 0, 0, 0x1000, 16]), ALLOW);
    assert_eq!(p.decide("sendto", &[3, 0, 0, 0, 0, 0]), EPERM);
    // Neither form: no rule at all.
    assert!(p.rules_for("bind").is_empty());
    assert!(p.rules_for("tgkill").is_empty());
}

#[test]
fn execve_is_the_runtimes_and_said_so() {
    let e = exported(SPEC);
    assert_eq!(e.profile.decide("execve", &[0; 6]), ALLOW);
    assert!(
        e.notes.iter().any(|n| n.starts_with("execve: ")),
        "{:?}",
        e.notes
    );
    let e = exported(&SPEC.replace("app: [", "app: [execve, "));
    assert!(!e.notes.iter().any(|n| n.starts_with("execve: ")));
}

#[test]
fn arguments_are_said_to_be_unchecked() {
    let with = format!("{SPEC}  arguments:\n    app:\n      connect: [\"unix:/run/x.sock\"]\n");
    assert!(exported(&with)
        .notes
        .iter()
        .any(|n| n.contains("spec.arguments")));
    assert!(!exported(SPEC)
        .notes
        .iter()
        .any(|n| n.contains("spec.arguments")));
}

#[test]
fn unknown_allow_is_refused_with_the_fix() {
    let err = export(
        &policy(&format!("  unknown: allow\n{SPEC}")),
        Options::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown: base-only"), "{err}");
    // unknown: deny exports what is named.
    let p: Profile = exported(&format!("  unknown: deny\n{SPEC}")).profile;
    assert_eq!(p.decide("write", &[0; 6]), ALLOW);
}

#[test]
fn the_json_is_an_oci_seccomp_object() {
    let json: serde_json::Value = serde_json::from_str(&exported(SPEC).profile.to_json()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "architectures",
            "defaultAction",
            "defaultErrnoRet",
            "syscalls"
        ]
    );
    for rule in json["syscalls"].as_array().unwrap() {
        assert!(!rule["names"].as_array().unwrap().is_empty());
        for arg in rule["args"].as_array().into_iter().flatten() {
            assert!(arg["index"].as_u64().unwrap() < 6);
            assert!(arg["op"].as_str().unwrap().starts_with("SCMP_CMP_"));
        }
    }
    // Each syscall is in one unconditional rule or only in conditional ones.
    let plain = json["syscalls"][0]["names"].as_array().unwrap();
    assert!(plain.iter().any(|n| n == "read"));
    assert!(!plain.iter().any(|n| n == "openat" || n == "clone"));
}
