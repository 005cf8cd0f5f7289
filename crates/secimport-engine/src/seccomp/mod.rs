//! The seccomp user-notification backend: enforcement without root.
//!
//! The BPF backend judges every syscall in the kernel by walking the Python
//! stack. Seccomp cannot walk anything, but it runs before everything else,
//! works for an unprivileged user (after `PR_SET_NO_NEW_PRIVS`), is
//! inherited by every thread, fork and exec of the tree, and can hand a
//! syscall to a supervisor (`SECCOMP_RET_USER_NOTIF`) that judges it with
//! the same rule ([`secimport_policy::policy::Compiled`]) and answers
//! "run it" (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`) or "fail with errno".
//! What every judge allows, the kernel allows alone; the rest waits for
//! the supervisor, which reports violations:
//!
//! 1. [`plan`] (pure): for each x86-64 syscall, the in-kernel action,
//!    split on REGISTER arguments exactly where `bpf/lib/args.h` splits a
//!    syscall into argument classes ([`Action`], [`SyscallPlan`]). The rule
//!    is spelled out on [`plan`]; [`trace_plan`] is the plan for learning.
//! 2. [`compile`]: the plan as a classic-BPF seccomp program, built with
//!    libseccomp (architecture checks, the x32 ABI, the syscall dispatch,
//!    masked argument comparisons) and a short hand-written prefix for
//!    what libseccomp cannot say (see [`compile`]).
//! 3. [`install`] / [`install_tsync`]: loading it with our own flags
//!    (`NEW_LISTENER | WAIT_KILLABLE_RECV`), returning the listener.
//! 4. [`notify`]: receiving and answering notifications, and [`right_of`]
//!    (the right a notified syscall is, as args.h classifies it).
//!
//! What this backend cannot do: pointer arguments are read by the
//! supervisor while the target may change them (the syscall runs with what
//! is in memory when the kernel reads it), so a `CONTINUE` answer must
//! never depend on pointed-to memory for security. Here the class of
//! `openat2`, `connect`, `bind`, addressed `sendto` and `sendmsg` depends
//! on memory (a connect's family is also bounded by its socket's, whose
//! `socket` call the filter splits by register), and so do the argument
//! values (programs, paths, addresses) and the `:pycache` classes. The BPF
//! backend has the same entry-time limit.

mod classify;
mod filter;
pub mod notify;
mod plan;

pub use classify::{right_of, tgid_of, Memory, ProcessMemory};
pub use filter::{
    compile, install, install_checked, install_tsync, simulate, take_listener, Installed,
    SeccompData, BPF_MAXINSNS,
};
pub use notify::{
    id_valid, is_gone, recv, recv_interruptible, respond_continue, respond_errno, respond_value,
    set_sync_wakeup, wait, Notification, Ready,
};
pub use plan::{
    hybrid_plan, plan, plan_with, trace_plan, Action, Case, FilterPlan, FirstProgram, Mode,
    SyscallPlan,
};

/// `AUDIT_ARCH_X86_64`: the only architecture the filters let through.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// The x32 ABI's bit in the syscall number: such syscalls are killed.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// Syscall numbers the plans cover (the policy's rights, [`secimport_policy::syscalls::SYSCALL_BITS`]).
pub const NR_SYSCALLS: u32 = secimport_policy::syscalls::SYSCALL_BITS;

/// Why a filter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// libseccomp refused an operation (`what` says which).
    #[error("libseccomp: {what}: {source}")]
    Libseccomp {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Exporting or reading back the program failed.
    #[error("exporting the seccomp program: {0}")]
    Io(#[from] std::io::Error),
    /// The program is larger than the kernel accepts.
    #[error("the seccomp program has {0} instructions; the kernel takes at most {BPF_MAXINSNS}")]
    TooLarge(usize),
}

// The syscall numbers, register constants and class numbers the filter
// splits on live in the policy crate (`secimport_policy::forms`), shared
// with `secimport export`.
pub(crate) use secimport_policy::forms::{classes, nr, regs};

#[cfg(test)]
mod tests {
    use super::nr;

    #[test]
    fn the_numbers_are_the_tables() {
        use secimport_policy::syscalls::number;
        for (name, n) in [
            ("mmap", nr::MMAP),
            ("mprotect", nr::MPROTECT),
            ("ioctl", nr::IOCTL),
            ("open", nr::OPEN),
            ("socket", nr::SOCKET),
            ("connect", nr::CONNECT),
            ("sendto", nr::SENDTO),
            ("sendmsg", nr::SENDMSG),
            ("bind", nr::BIND),
            ("clone", nr::CLONE),
            ("fork", nr::FORK),
            ("vfork", nr::VFORK),
            ("execve", nr::EXECVE),
            ("kill", nr::KILL),
            ("fcntl", nr::FCNTL),
            ("rename", nr::RENAME),
            ("mkdir", nr::MKDIR),
            ("unlink", nr::UNLINK),
            ("prctl", nr::PRCTL),
            ("tkill", nr::TKILL),
            ("tgkill", nr::TGKILL),
            ("openat", nr::OPENAT),
            ("mkdirat", nr::MKDIRAT),
            ("unlinkat", nr::UNLINKAT),
            ("renameat", nr::RENAMEAT),
            ("renameat2", nr::RENAMEAT2),
            ("execveat", nr::EXECVEAT),
            ("pkey_mprotect", nr::PKEY_MPROTECT),
            ("clone3", nr::CLONE3),
            ("openat2", nr::OPENAT2),
        ] {
            assert_eq!(number(name), Some(n), "{name}");
        }
        let _ = super::classes();
    }

    #[test]
    fn the_register_constants_are_libcs() {
        use super::regs::*;
        assert_eq!(CLONE_THREAD, libc::CLONE_THREAD as u64);
        let w = libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND;
        assert_eq!(OPEN_WRITE_FLAGS, w as u64);
        assert_eq!(PROT_EXEC, libc::PROT_EXEC as u64);
        assert_eq!(AF_UNIX, libc::AF_UNIX as u32);
        assert_eq!(AF_INET, libc::AF_INET as u32);
        assert_eq!(AF_INET6, libc::AF_INET6 as u32);
        assert_eq!(AF_NETLINK, libc::AF_NETLINK as u32);
        assert_eq!(AF_PACKET, libc::AF_PACKET as u32);
        assert_eq!(TIOCSTI, libc::TIOCSTI as u32);
        assert_eq!(PR_SET_DUMPABLE, libc::PR_SET_DUMPABLE as u32);
        assert_eq!(PR_SET_PTRACER, libc::PR_SET_PTRACER as u32);
        assert_eq!(F_SETOWN, libc::F_SETOWN as u32);
        // F_SETSIG, F_SETOWN_EX: linux/fcntl.h (not in libc on this target).
        assert_eq!((F_SETSIG, F_SETOWN_EX), (10, 15));
    }
}
