//! The fixed syscall classes that no policy and no trace can change.
//!
//! - [`HARMLESS`]: allowed whatever the stack, and never walked: memory,
//!   futexes, clocks, signal returns, I/O on descriptors that are already
//!   open, process identity. Nothing in it acts outside the process or opens
//!   anything new. It is the only set allowed "whatever the stack".
//! - [`DANGEROUS`]: never allowed by `base`, `startup` or `frameless`, however
//!   a trace saw them; only a module's own list (or `children`) can allow
//!   them. Besides these numbers, the dangerous argument classes of
//!   [`crate::rights`] are: `open`/`openat`/`openat2` with write, create,
//!   truncate or append flags (`creat` always), `clone`/`clone3` that start a
//!   process rather than a thread, `kill`/`tgkill`/`tkill` aimed at another
//!   process, every `socket`, `connect` and `bind`, addressed `sendto`/
//!   `sendmsg`, terminal injection, `prctl` hiding or opening the process.
//! - the watched classes (`mmap:exec`, `mprotect:exec`): walked, recorded
//!   and judged like any syscall that is not dangerous.
//!
//! These lists are the one source: the kernel side gets them as bitmaps
//! (`install`), the policy parser refuses dangerous names in shared sets, and
//! `build` leaves them out of those sets.

use crate::policy::{bitmap_of, Bitmap, Syscall, SyscallSet};

/// Allowed whatever the stack (and so never walked).
pub const HARMLESS: &[&str] = &[
    // memory
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "membarrier",
    // threads and futexes
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "set_tid_address",
    "rseq",
    "sched_yield",
    "exit",
    "exit_group",
    // clocks and sleeping
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "nanosleep",
    "clock_nanosleep",
    // signals: returning from a handler, masks, alternate stacks
    "rt_sigreturn",
    "restart_syscall",
    "rt_sigprocmask",
    "rt_sigaction",
    "sigaltstack",
    "rt_sigpending",
    // I/O on descriptors already open, and waiting for them
    "read",
    "readv",
    "pread64",
    "preadv",
    "preadv2",
    "lseek",
    "fstat",
    "close",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    // who am I
    "getpid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getrandom",
];

/// Never allowed by a shared set (`base`, `startup`, `frameless`), by number.
pub const DANGEROUS: &[&str] = &[
    // programs and processes
    "execve",
    "execveat",
    "fork",
    "vfork",
    "creat",
    // networking (`socket`, `connect` and `bind` are always one of their
    // argument classes, all dangerous: see crate::rights)
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "sendmmsg",
    // other processes and the kernel
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "memfd_create",
    "memfd_secret",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "mount",
    "umount2",
    "move_mount",
    "fsmount",
    "fsopen",
    "open_tree",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "capset",
    // changing the file system by name
    "truncate",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "lchown",
    "fchownat",
    "mknod",
    "mknodat",
];

/// What a `secure_import` guard denies unless `allow_shells`: starting
/// programs (clones that start threads are the plain `clone`/`clone3`).
pub const SHELLS: &[&str] = &[
    "fork",
    "vfork",
    "clone:process",
    "clone3:process",
    "execve",
    "execveat",
];

/// What a guard denies unless `allow_file_writes`: creating, writing,
/// truncating, renaming or removing files by name.
pub const FILE_WRITES: &[&str] = &[
    "open:write",
    "openat:write",
    "openat2:write",
    "creat",
    "truncate",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "lchown",
    "fchownat",
    "mknod",
    "mknodat",
    // compiled modules too: guarded code could plant one (imports under a
    // guard do not write the cache, see python/secimport/_guard.py)
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

/// What a guard denies unless `allow_networking`: every socket operation
/// (a name with argument classes stands for all of them).
pub const NETWORKING: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "shutdown",
];

/// The rights `names` stand for: a name with argument classes stands for
/// its plain form (if it has one) and its dangerous classes (`socket` for
/// every `socket:*`; `mkdir` not for `mkdir:pycache`, the import system's).
fn set_of(names: &[&str]) -> SyscallSet {
    let mut set = SyscallSet::new();
    for n in names {
        let plain = Syscall::parse(n);
        let classes: Vec<Syscall> = crate::rights::classes_of(n)
            .filter(|c| c.kind == crate::rights::ClassKind::Dangerous)
            .filter_map(|c| Syscall::from_number(c.right))
            .collect();
        assert!(
            plain.is_some() || !classes.is_empty() || crate::rights::classes_of(n).count() > 0,
            "{n} is in the syscall table"
        );
        set.extend(plain);
        if !n.contains(':') {
            set.extend(classes);
        }
    }
    set
}

/// [`HARMLESS`] as a set: the plain forms only (`mmap`, not `mmap:exec`).
pub fn harmless() -> SyscallSet {
    HARMLESS
        .iter()
        .map(|n| Syscall::parse(n).unwrap_or_else(|| panic!("{n} is in the syscall table")))
        .collect()
}

/// [`DANGEROUS`] and the dangerous argument classes, as a set.
pub fn dangerous() -> SyscallSet {
    let mut set = set_of(DANGEROUS);
    set.extend(
        crate::rights::classes()
            .filter(|c| c.kind == crate::rights::ClassKind::Dangerous)
            .filter_map(|c| Syscall::from_number(c.right)),
    );
    set
}

/// [`harmless`] as a bitmap (computed once).
pub fn harmless_bitmap() -> Bitmap {
    static BITMAP: std::sync::OnceLock<Bitmap> = std::sync::OnceLock::new();
    *BITMAP.get_or_init(|| bitmap_of(&harmless()))
}

/// [`dangerous`] as a bitmap (computed once).
pub fn dangerous_bitmap() -> Bitmap {
    static BITMAP: std::sync::OnceLock<Bitmap> = std::sync::OnceLock::new();
    *BITMAP.get_or_init(|| bitmap_of(&dangerous()))
}

/// The bitmap of syscall names from the lists above.
pub fn bitmap_of_names(names: &[&str]) -> Bitmap {
    bitmap_of(&set_of(names))
}

/// Is the right called `name` dangerous (by number, or a dangerous class)?
pub fn is_dangerous(name: &str) -> bool {
    DANGEROUS.contains(&name)
        || crate::rights::class_named(name)
            .is_some_and(|c| c.kind == crate::rights::ClassKind::Dangerous)
}

/// Is the right called `name` a watched class?
pub fn is_watched(name: &str) -> bool {
    crate::rights::class_named(name).is_some_and(|c| c.kind == crate::rights::ClassKind::Watched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_the_table_and_the_classes_do_not_overlap() {
        let h = harmless();
        let d = dangerous();
        assert_eq!(h.len(), HARMLESS.len());
        assert!(
            h.iter().all(|s| s.class().is_none()),
            "no class is harmless"
        );
        assert!(d.len() > DANGEROUS.len());
        assert!(h.is_disjoint(&d));
        for c in crate::rights::classes() {
            if crate::rights::ALWAYS_CLASSED.contains(&c.syscall) {
                assert!(
                    !HARMLESS.contains(&c.syscall),
                    "{} is always classed",
                    c.syscall
                );
            }
        }
        for name in SHELLS.iter().chain(FILE_WRITES).chain(NETWORKING) {
            assert!(!set_of(&[name]).is_empty(), "{name}");
        }
        // The import system's classes are not dangerous (shared sets may
        // hold them), but guards deny them with the other file writes.
        for c in crate::rights::classes() {
            if c.kind == crate::rights::ClassKind::Import {
                let s = Syscall::from_number(c.right).unwrap();
                assert!(!d.contains(&s) && set_of(FILE_WRITES).contains(&s), "{s}");
            }
        }
    }

    #[test]
    fn what_the_issue_names_is_never_harmless() {
        for name in [
            "execve",
            "fork",
            "vfork",
            "clone",
            "clone3",
            "socket",
            "connect",
            "bind",
            "listen",
            "accept",
            "sendto",
            "sendmsg",
            "openat",
            "ptrace",
            "process_vm_writev",
            "memfd_create",
            "io_uring_setup",
            "bpf",
            "mount",
            "kill",
            "write",
        ] {
            assert!(!HARMLESS.contains(&name), "{name}");
        }
    }
}
