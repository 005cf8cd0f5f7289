//! Syscall groups: generalizing a learned policy over what does not matter.
//!
//! A policy learned from one run misses syscalls of the same kind as ones it
//! saw: a module seen `stat`ing a path may `statx` it next time, one seen
//! reading a directory with `getdents64` may use `getdents`, one seen waiting
//! for a child with `wait4` may use `waitid`. [`generalize`] closes a set of
//! syscall names over the [`GROUPS`] below: when one member of a group was
//! seen, every member is allowed.
//!
//! The rule: **groups generalize only what does not matter.** The members of
//! a group have the same kind of effect, on the process itself or on what it
//! already holds. No group holds a dangerous syscall
//! ([`crate::classes::DANGEROUS`]), a syscall with argument classes
//! ([`crate::rights`]: `open`/`openat`, `clone`, `kill`, `socket`, `sendto`,
//! `mmap`, `fcntl`, `prctl`, ...) or one of those classes, a change to the
//! file system by name (unlink, rename, mkdir, chmod, chown, utime, setxattr,
//! ...), a socket operation, nor anything that acts on other processes or on
//! the system (ptrace, setns, seccomp, ioctl, keyctl, the setuid family,
//! setpriority, sched_setaffinity, prlimit64, ...). **Dangerous forms never
//! generalize**: they stay exactly as the trace saw them, in the module that
//! made them. `build --exact` keeps every name as seen and does not
//! generalize at all.
//!
//! Groups are named after systemd's `SystemCallFilter=` groups (`@basic-io`,
//! `@file-system`, `@io-event`, `@ipc`, `@process`, `@signal`, `@timer`,
//! `@sync`, `@system-service`), without the `@`, and narrowed to the
//! harmless part of each (the read-only part of `@file-system`, the waiting
//! part of `@process`, ...).
//!
//! Syscalls of the fixed harmless set ([`crate::classes::HARMLESS`]: `poll`,
//! `ppoll`, `epoll_wait`, `nanosleep`, `clock_nanosleep`, `pread64`,
//! `preadv`, `fstat`, ...) are in no group: they are allowed whatever the
//! stack, and `trace` does not even record them, so they could never trigger
//! a group. Some same-kind syscalls are left out on purpose:
//!
//! - `open`/`openat`/`openat2`/`creat`: the open forms are argument classes,
//!   decided in the kernel from their flags;
//! - `fcntl` (x86-64 has no `fcntl64`): a multiplexer with argument classes
//!   (`fcntl:setown`: signals sent to another process);
//! - `pkey_mprotect`: has a watched class (`pkey_mprotect:exec`);
//! - `sync`: flushes every file system, not a descriptor the module holds;
//! - `tee`, `vmsplice`: rarely used, and `vmsplice` has a history of
//!   kernel exploits;
//! - SysV shared memory and message queues (`shmat`, `msgsnd`, `msgctl`, ...),
//!   POSIX message queues: they reach objects shared with other processes by
//!   a system-wide key or name.

use std::collections::{BTreeMap, BTreeSet};

use crate::policy::{Syscall, SyscallSet};

/// Syscalls of the same, harmless kind: seeing one allows them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Short name, after systemd's `SystemCallFilter=` groups (no `@`).
    pub name: &'static str,
    /// What the members do, in one line.
    pub description: &'static str,
    /// The members: x86-64 syscall table names, none in two groups.
    pub syscalls: &'static [&'static str],
}

/// Every group. No syscall is in two of them.
pub const GROUPS: &[Group] = &[
    Group {
        name: "basic-io",
        description: "write to a descriptor already open, at its offset or at a given one",
        syscalls: &["write", "writev", "pwrite64", "pwritev", "pwritev2"],
    },
    Group {
        name: "fd-copy",
        description: "copy data between two descriptors already open, in the kernel",
        syscalls: &["sendfile", "copy_file_range", "splice"],
    },
    Group {
        name: "fd",
        description: "duplicate a descriptor already open",
        syscalls: &["dup", "dup2", "dup3"],
    },
    Group {
        name: "pipe",
        description: "create an anonymous pipe",
        syscalls: &["pipe", "pipe2"],
    },
    Group {
        name: "io-event",
        description: "create and control in-process event queues (epoll, eventfd)",
        syscalls: &[
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "eventfd",
            "eventfd2",
        ],
    },
    Group {
        name: "stat",
        description: "read the metadata of a file by name, without opening it",
        syscalls: &["stat", "lstat", "newfstatat", "statx"],
    },
    Group {
        name: "access",
        description: "check by name whether a file exists and may be accessed",
        syscalls: &["access", "faccessat", "faccessat2"],
    },
    Group {
        name: "statfs",
        description: "read the statistics of the file system holding a file",
        syscalls: &["statfs", "fstatfs"],
    },
    Group {
        name: "file-read",
        description: "read path names: a symbolic link's target, the working directory",
        syscalls: &["readlink", "readlinkat", "getcwd"],
    },
    Group {
        name: "dir-read",
        description: "list the entries of a directory already open",
        syscalls: &["getdents", "getdents64"],
    },
    Group {
        name: "xattr-read",
        description: "read or list the extended attributes of a file",
        syscalls: &[
            "getxattr",
            "lgetxattr",
            "fgetxattr",
            "getxattrat",
            "listxattr",
            "llistxattr",
            "flistxattr",
            "listxattrat",
        ],
    },
    Group {
        name: "file-watch",
        description: "watch file-system names for changes with inotify (read-only)",
        syscalls: &[
            "inotify_init",
            "inotify_init1",
            "inotify_add_watch",
            "inotify_rm_watch",
        ],
    },
    Group {
        name: "file-advice",
        description: "hint the page cache about a descriptor already open",
        syscalls: &["fadvise64", "readahead"],
    },
    Group {
        name: "sync",
        description: "flush to disk the data of a descriptor or mapping already held",
        syscalls: &["fsync", "fdatasync", "sync_file_range", "msync"],
    },
    Group {
        name: "memory-lock",
        description: "lock or unlock the process's own memory in RAM",
        syscalls: &["mlock", "mlock2", "munlock", "mlockall", "munlockall"],
    },
    Group {
        name: "memory-numa",
        description: "NUMA placement of the process's own memory",
        syscalls: &[
            "mbind",
            "get_mempolicy",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    },
    Group {
        name: "timer",
        description: "the process's own interval, POSIX and fd timers",
        syscalls: &[
            "alarm",
            "getitimer",
            "setitimer",
            "timer_create",
            "timer_settime",
            "timer_gettime",
            "timer_getoverrun",
            "timer_delete",
            "timerfd_create",
            "timerfd_settime",
            "timerfd_gettime",
        ],
    },
    Group {
        name: "signal-self",
        description: "wait for or receive the process's own signals",
        syscalls: &[
            "pause",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "signalfd",
            "signalfd4",
        ],
    },
    Group {
        name: "process-wait",
        description: "wait for a child process to change state",
        syscalls: &["wait4", "waitid"],
    },
    Group {
        name: "ipc-sem",
        description: "operate on a SysV semaphore set, with or without a timeout",
        syscalls: &["semop", "semtimedop"],
    },
    Group {
        name: "identity",
        description:
            "read ids beyond the harmless ones: parent, group, session, groups, capabilities",
        syscalls: &[
            "getppid",
            "getpgrp",
            "getpgid",
            "getsid",
            "getgroups",
            "capget",
        ],
    },
    Group {
        name: "resources",
        description: "read the process's own resource limits and usage",
        syscalls: &["getrlimit", "getrusage", "times"],
    },
    Group {
        name: "system-info",
        description: "read the kernel's name and release, and the system's load and memory",
        syscalls: &["uname", "sysinfo"],
    },
    Group {
        name: "scheduler-read",
        description: "read scheduling settings: affinity, policy, priority, current CPU",
        syscalls: &[
            "sched_getaffinity",
            "sched_getparam",
            "sched_getscheduler",
            "sched_getattr",
            "sched_get_priority_max",
            "sched_get_priority_min",
            "sched_rr_get_interval",
            "getcpu",
            "getpriority",
            "ioprio_get",
        ],
    },
];

/// The group `name` is a member of, if any. Names that are not plain syscall
/// names (argument classes such as `openat:read`, numbers) are in none.
pub fn group_of(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.syscalls.contains(&name))
}

/// The group called `name` (`"stat"`, `"timer"`), if any.
pub fn group_named(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}

/// `names` plus every member of every group with a member in `names`. Names
/// in no group (dangerous ones, argument classes, anything with a `:`) are
/// kept as they are and add nothing.
pub fn generalize(names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = names.clone();
    out.extend(added_by_generalizing(names).into_keys());
    out
}

/// What [`generalize`] adds to `names`: each added syscall -> the name of the
/// group that brought it in, so that `build` can explain it.
pub fn added_by_generalizing(names: &BTreeSet<String>) -> BTreeMap<String, &'static str> {
    let mut added = BTreeMap::new();
    for group in triggered(names.iter().map(String::as_str)) {
        for &member in group.syscalls {
            if !names.contains(member) {
                added.insert(member.to_string(), group.name);
            }
        }
    }
    added
}

/// [`generalize`] for a policy's syscall set.
pub fn generalize_syscalls(set: &SyscallSet) -> SyscallSet {
    let mut out = set.clone();
    for group in triggered(set.iter().map(Syscall::name)) {
        out.extend(
            group
                .syscalls
                .iter()
                .map(|n| Syscall::parse(n).expect("group members are in the syscall table")),
        );
    }
    out
}

/// The groups with a member among `names`, each once, in [`GROUPS`] order.
fn triggered<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'static Group> {
    let mut hit = vec![false; GROUPS.len()];
    for name in names {
        if let Some(i) = GROUPS.iter().position(|g| g.syscalls.contains(&name)) {
            hit[i] = true;
        }
    }
    GROUPS
        .iter()
        .zip(hit)
        .filter_map(|(g, hit)| hit.then_some(g))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::{is_dangerous, DANGEROUS, HARMLESS, NETWORKING, SHELLS};

    /// Every syscall with argument classes, and every class (`openat:write`).
    fn classed() -> Vec<String> {
        crate::rights::classes()
            .flat_map(|c| [c.syscall.to_string(), format!("{}:{}", c.syscall, c.class)])
            .collect()
    }

    /// Never in a group, whatever the classes say: file-system changes by
    /// name, writes to new targets, the open forms, and everything that acts
    /// on other processes or on the system.
    const DENY: &[&str] = &[
        // the open forms (argument classes) and opening by other means
        "open",
        "openat",
        "openat2",
        "creat",
        "open_by_handle_at",
        "name_to_handle_at",
        "mq_open",
        // changing the file system by name
        "unlink",
        "unlinkat",
        "rename",
        "renameat",
        "renameat2",
        "mkdir",
        "mkdirat",
        "rmdir",
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "chmod",
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "chown",
        "fchown",
        "lchown",
        "fchownat",
        "truncate",
        "ftruncate",
        "fallocate",
        "utime",
        "utimes",
        "utimensat",
        "futimesat",
        "mknod",
        "mknodat",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "setxattrat",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
        "removexattrat",
        "file_setattr",
        "mq_unlink",
        "umask",
        "chdir",
        "fchdir",
        // multiplexers and whole-system effects
        "ioctl",
        "fcntl",
        "prctl",
        "arch_prctl",
        "seccomp",
        "personality",
        "keyctl",
        "add_key",
        "request_key",
        "sync",
        "syncfs",
        "vmsplice",
        "tee",
        "acct",
        "quotactl",
        "quotactl_fd",
        "syslog",
        "vhangup",
        "settimeofday",
        "clock_settime",
        "adjtimex",
        "clock_adjtime",
        "sethostname",
        "setdomainname",
        "iopl",
        "ioperm",
        "modify_ldt",
        "uselib",
        "fanotify_init",
        "fanotify_mark",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
        "lsm_set_self_attr",
        "mseal",
        // other processes, identity changes, the kernel
        "kill",
        "tkill",
        "tgkill",
        "rt_sigqueueinfo",
        "rt_tgsigqueueinfo",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "process_mrelease",
        "migrate_pages",
        "move_pages",
        "kcmp",
        "pidfd_open",
        "pidfd_getfd",
        "pidfd_send_signal",
        "setns",
        "unshare",
        "clone",
        "clone3",
        "fork",
        "vfork",
        "execve",
        "execveat",
        "setpriority",
        "sched_setaffinity",
        "sched_setparam",
        "sched_setscheduler",
        "sched_setattr",
        "ioprio_set",
        "setrlimit",
        "prlimit64",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setfsuid",
        "setfsgid",
        "setgroups",
        "setpgid",
        "setsid",
        "capset",
        "chroot",
        "pivot_root",
        "mount",
        "umount2",
        "mount_setattr",
        "fsconfig",
        "fspick",
        "open_tree",
        "open_tree_attr",
        "reboot",
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "memfd_create",
        "memfd_secret",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        // shared IPC objects reached by key or name
        "shmget",
        "shmat",
        "shmdt",
        "shmctl",
        "semget",
        "semctl",
        "msgget",
        "msgsnd",
        "msgrcv",
        "msgctl",
    ];

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn all_members() -> impl Iterator<Item = &'static str> {
        GROUPS.iter().flat_map(|g| g.syscalls.iter().copied())
    }

    #[test]
    fn every_member_is_in_the_syscall_table() {
        for name in all_members() {
            assert!(crate::syscalls::number(name).is_some(), "{name}");
            assert!(Syscall::parse(name).is_some(), "{name}");
        }
        for name in DENY {
            assert!(crate::syscalls::number(name).is_some(), "deny list: {name}");
        }
    }

    #[test]
    fn no_syscall_is_in_two_groups_and_group_names_are_unique() {
        let mut seen = BTreeMap::new();
        for g in GROUPS {
            for &name in g.syscalls {
                if let Some(other) = seen.insert(name, g.name) {
                    panic!("{name} is in {other} and {}", g.name);
                }
            }
        }
        let names: BTreeSet<_> = GROUPS.iter().map(|g| g.name).collect();
        assert_eq!(names.len(), GROUPS.len());
    }

    #[test]
    fn groups_are_well_formed() {
        for g in GROUPS {
            assert!(g.syscalls.len() >= 2, "{} generalizes nothing", g.name);
            assert!(
                !g.name.is_empty()
                    && !g.name.starts_with('-')
                    && g.name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                g.name
            );
            assert!(
                !g.description.is_empty()
                    && !g.description.contains('\n')
                    && !g.description.ends_with('.'),
                "{}: {:?}",
                g.name,
                g.description
            );
            assert_eq!(group_named(g.name), Some(g));
            for &name in g.syscalls {
                assert_eq!(group_of(name), Some(g), "{name}");
            }
        }
    }

    /// What no group may hold nor [`generalize`] add.
    fn forbidden() -> BTreeSet<String> {
        DANGEROUS
            .iter()
            .chain(DENY)
            .chain(NETWORKING)
            .chain(SHELLS)
            .map(|n| n.to_string())
            .chain(classed())
            .collect()
    }

    #[test]
    fn no_group_holds_a_dangerous_classed_or_denied_syscall() {
        for name in forbidden() {
            assert_eq!(group_of(&name).map(|g| g.name), None, "{name}");
        }
        for name in all_members() {
            assert!(!is_dangerous(name), "{name}");
            assert!(!name.contains(':'), "{name}");
            assert_eq!(
                crate::rights::classes_of(name).count(),
                0,
                "{name} has argument classes"
            );
        }
    }

    #[test]
    fn no_group_lists_a_harmless_syscall() {
        for name in all_members() {
            assert!(!HARMLESS.contains(&name), "{name} is allowed anyway");
        }
    }

    #[test]
    fn generalizing_never_adds_a_dangerous_name() {
        let forbidden = forbidden();
        // The whole table and every class at once, each alone, and each group.
        let everything: BTreeSet<String> = crate::syscalls::all()
            .map(|(_, n)| n.to_string())
            .chain(classed())
            .collect();
        let mut inputs = vec![everything.clone()];
        inputs.extend(everything.iter().map(|n| set(&[n])));
        inputs.extend(GROUPS.iter().map(|g| set(g.syscalls)));
        for names in inputs {
            let added = added_by_generalizing(&names);
            let out = generalize(&names);
            for name in added.keys().chain(out.difference(&names)) {
                assert!(!forbidden.contains(name), "{name}");
                assert!(!is_dangerous(name), "{name}");
            }
        }
        for name in &forbidden {
            assert_eq!(generalize(&set(&[name])), set(&[name]), "{name}");
        }
    }

    #[test]
    fn what_the_issue_names_generalizes() {
        let cases: &[(&str, &[&str])] = &[
            ("stat", &["statx", "newfstatat", "lstat"]),
            ("newfstatat", &["stat", "statx"]),
            ("getdents64", &["getdents"]),
            ("dup", &["dup2", "dup3"]),
            ("pipe", &["pipe2"]),
            ("wait4", &["waitid"]),
            ("readlink", &["readlinkat", "getcwd"]),
            ("access", &["faccessat", "faccessat2"]),
            ("sched_getaffinity", &["getcpu", "sched_getparam"]),
            ("setitimer", &["timer_create", "timerfd_create"]),
            ("rt_sigtimedwait", &["rt_sigsuspend", "signalfd4"]),
            ("epoll_create1", &["epoll_ctl", "eventfd2"]),
            ("write", &["writev", "pwrite64"]),
            ("fsync", &["fdatasync"]),
            ("getppid", &["getpgrp", "getsid"]),
        ];
        for &(seen, expected) in cases {
            let out = generalize(&set(&[seen]));
            for e in expected {
                assert!(out.contains(*e), "{seen} should bring in {e}: {out:?}");
            }
            assert!(out.contains(seen));
        }
    }

    #[test]
    fn generalize_adds_whole_groups_only_and_passes_other_names_through() {
        let names = set(&[
            "getdents64",
            "openat",
            "openat:write",
            "fcntl:setown",
            "execve",
            "x:y",
            "bogus",
        ]);
        let out = generalize(&names);
        assert_eq!(
            out,
            set(&[
                "getdents",
                "getdents64",
                "openat",
                "openat:write",
                "fcntl:setown",
                "execve",
                "x:y",
                "bogus"
            ])
        );
        assert_eq!(generalize(&out), out, "idempotent");
        assert_eq!(generalize(&BTreeSet::new()), BTreeSet::new());
        assert_eq!(group_of("openat:write"), None);
        assert_eq!(group_of("open"), None);
        assert_eq!(group_of("openat"), None);
        assert_eq!(group_of("stat").map(|g| g.name), Some("stat"));
    }

    #[test]
    fn added_by_generalizing_names_the_group_and_skips_what_was_seen() {
        let names = set(&["stat", "lstat", "dup3", "read", "openat"]);
        let added = added_by_generalizing(&names);
        let expected: BTreeMap<String, &str> = [
            ("newfstatat", "stat"),
            ("statx", "stat"),
            ("dup", "fd"),
            ("dup2", "fd"),
        ]
        .into_iter()
        .map(|(a, g)| (a.to_string(), g))
        .collect();
        assert_eq!(added, expected);
        let out = generalize(&names);
        assert_eq!(out.len(), names.len() + added.len());
        assert!(added.keys().all(|a| out.contains(a) && !names.contains(a)));
    }

    #[test]
    fn generalize_syscalls_agrees_with_generalize() {
        let names = set(&["statfs", "wait4", "execve", "openat", "mlock"]);
        let syscalls: SyscallSet = names.iter().filter_map(|n| Syscall::parse(n)).collect();
        let out: BTreeSet<String> = generalize_syscalls(&syscalls)
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        assert_eq!(out, generalize(&names));
    }
}
