//! The fixed syscall classes that no policy and no trace can change.
//!
//! - [`HARMLESS`]: allowed whatever the stack, and never walked: memory,
//!   futexes, clocks, signal returns, I/O on descriptors that are already
//!   open, process identity. Nothing in it acts outside the process or opens
//!   anything new. It is the only set allowed "whatever the stack".
//! - [`DANGEROUS`]: never allowed by `base`, `startup` or `frameless`, however
//!   a trace saw them; only a module's own list (or `children`) can allow
//!   them. Besides these numbers, the kernel side treats as dangerous by their
//!   register arguments ([`DANGEROUS_BY_ARGUMENTS`]): `open`/`openat`/`openat2`
//!   with write, create, truncate or append flags (`creat` always), `clone`/
//!   `clone3` that start a process rather than a thread, and `kill`/`tgkill`/
//!   `tkill` aimed at another process.
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
    // networking
    "socket",
    "connect",
    "bind",
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
/// programs (clones that start threads are exempt in the kernel).
pub const SHELLS: &[&str] = &["fork", "vfork", "clone", "clone3", "execve", "execveat"];

/// What a guard denies unless `allow_networking`: every socket operation.
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

/// Dangerous in some forms only, decided in the kernel from registers.
pub const DANGEROUS_BY_ARGUMENTS: &[(&str, &str)] = &[
    (
        "open",
        "with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND",
    ),
    (
        "openat",
        "with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND",
    ),
    (
        "openat2",
        "with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND",
    ),
    ("clone", "starting a process (no CLONE_THREAD)"),
    ("clone3", "starting a process (no CLONE_THREAD)"),
    ("kill", "aimed at another process"),
    ("tgkill", "aimed at another process"),
    ("tkill", "aimed at another thread"),
];

fn set_of(names: &[&str]) -> SyscallSet {
    names
        .iter()
        .map(|n| Syscall::parse(n).unwrap_or_else(|| panic!("{n} is in the syscall table")))
        .collect()
}

/// [`HARMLESS`] as a set.
pub fn harmless() -> SyscallSet {
    set_of(HARMLESS)
}

/// [`DANGEROUS`] as a set.
pub fn dangerous() -> SyscallSet {
    set_of(DANGEROUS)
}

pub fn harmless_bitmap() -> Bitmap {
    bitmap_of_names(HARMLESS)
}

pub fn dangerous_bitmap() -> Bitmap {
    bitmap_of_names(DANGEROUS)
}

/// The bitmap of syscall names from the lists above.
pub fn bitmap_of_names(names: &[&str]) -> Bitmap {
    bitmap_of(&set_of(names))
}

/// Is `name` dangerous by number?
pub fn is_dangerous(name: &str) -> bool {
    DANGEROUS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_the_table_and_the_classes_do_not_overlap() {
        let h = harmless();
        let d = dangerous();
        assert_eq!(h.len(), HARMLESS.len());
        assert_eq!(d.len(), DANGEROUS.len());
        assert!(h.is_disjoint(&d));
        for (name, _) in DANGEROUS_BY_ARGUMENTS {
            assert!(Syscall::parse(name).is_some(), "{name}");
            assert!(!HARMLESS.contains(name), "{name} depends on its arguments");
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
