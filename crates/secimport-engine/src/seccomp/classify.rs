//! The right a notified syscall is: its number or an argument class, as
//! `bpf/lib/args.h` classifies it in the kernel, from the registers and,
//! only where the class lives there, the target's memory.
//!
//! One deliberate difference: `prctl`'s option is compared on its low 32
//! bits, as the kernel reads it (`int option`); args.h compares the whole
//! register, so `prctl(0x1_00000004, ...)` is `PR_SET_DUMPABLE` to the
//! kernel but plain `prctl` to args.h. The filter splits on the low 32 bits
//! too, so the two halves of this backend agree with the kernel.
//!
//! Memory is read when the notification arrives: the target may change it
//! before the kernel reads it (see the module documentation of
//! [`super`]). Check [`super::id_valid`] after reading, so that what was
//! read belongs to the thread that made the syscall.

use super::notify::Notification;
use super::{classes, nr, regs};

/// Memory of the thread that made a syscall.
pub trait Memory {
    /// Fills `buf` from address `addr`; an error if it cannot be read whole.
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

/// A process's memory, read with `process_vm_readv` (needs ptrace access:
/// the same user and a dumpable target, or an ancestor under Yama).
#[derive(Debug, Clone, Copy)]
pub struct ProcessMemory {
    pub pid: libc::pid_t,
}

impl ProcessMemory {
    /// The memory of thread (or process) `tid`.
    pub fn new(tid: u32) -> ProcessMemory {
        ProcessMemory {
            pid: tid as libc::pid_t,
        }
    }
}

impl Memory for ProcessMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if addr == 0 {
            return Err(std::io::Error::from_raw_os_error(libc::EFAULT));
        }
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: `local` covers `buf`, which we own mutably; the remote
        // address is only read by the kernel, in the other process.
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else if n as usize != buf.len() {
            Err(std::io::ErrorKind::UnexpectedEof.into())
        } else {
            Ok(())
        }
    }
}

/// The thread group (process) of thread `tid`, from `/proc/TID/status`;
/// `None` once the thread is gone.
pub fn tgid_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn read_u64(mem: &dyn Memory, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    (addr != 0 && mem.read(addr, &mut b).is_ok()).then(|| u64::from_ne_bytes(b))
}

/// The family of the sockaddr at `addr` (0 when null or unreadable).
fn sockaddr_family(mem: &dyn Memory, addr: u64) -> u32 {
    let mut b = [0u8; 2];
    if addr == 0 || mem.read(addr, &mut b).is_err() {
        return 0;
    }
    u32::from(u16::from_ne_bytes(b))
}

fn family_class(family: u32, [unix, inet, other]: [u32; 3]) -> u32 {
    match family {
        regs::AF_UNIX => unix,
        regs::AF_INET | regs::AF_INET6 => inet,
        _ => other,
    }
}

/// The right syscall `n.nr` with `n.args` is, made by thread `n.tid` of
/// process `tgid` (as [`tgid_of`] gives it): `right_of` in args.h. What
/// cannot be read is classed the dangerous way (an unreadable
/// `clone_args` starts a process, an unreadable address is of the `other`
/// family). The `:pycache` classes (told by path) are not given here.
pub fn right_of(n: &Notification, tgid: u32, mem: &dyn Memory) -> u32 {
    let c = classes();
    let a = &n.args;
    let Ok(nr) = u32::try_from(n.nr) else {
        return n.nr as u32;
    };
    let write = |flags: u64, class: u32| {
        if flags & regs::OPEN_WRITE_FLAGS != 0 {
            class
        } else {
            nr
        }
    };
    let exec = |prot: u64, class: u32| {
        if prot & regs::PROT_EXEC != 0 {
            class
        } else {
            nr
        }
    };
    match nr {
        nr::OPEN => write(a[1], c.open_write),
        nr::OPENAT => write(a[2], c.openat_write),
        // struct open_how starts with the flags
        nr::OPENAT2 => match read_u64(mem, a[2]) {
            Some(flags) => write(flags, c.openat2_write),
            None => c.openat2_write,
        },
        nr::CLONE => {
            if a[0] & regs::CLONE_THREAD != 0 {
                nr
            } else {
                c.clone_process
            }
        }
        // struct clone_args starts with the flags
        nr::CLONE3 => match read_u64(mem, a[0]) {
            Some(flags) if flags & regs::CLONE_THREAD != 0 => nr,
            _ => c.clone3_process,
        },
        nr::KILL | nr::TGKILL => {
            if a[0] as i32 == tgid as i32 {
                nr
            } else if nr == nr::KILL {
                c.kill_other
            } else {
                c.tgkill_other
            }
        }
        nr::TKILL => {
            if a[0] as u32 == n.tid {
                nr
            } else {
                c.tkill_other
            }
        }
        nr::SOCKET => match a[0] as u32 {
            regs::AF_NETLINK => c.socket_netlink,
            regs::AF_PACKET => c.socket_packet,
            f => family_class(f, [c.socket_unix, c.socket_inet, c.socket_other]),
        },
        nr::CONNECT => family_class(sockaddr_family(mem, a[1]), c.connect),
        nr::BIND => family_class(sockaddr_family(mem, a[1]), c.bind),
        nr::SENDTO => {
            if a[4] == 0 {
                nr
            } else {
                family_class(sockaddr_family(mem, a[4]), c.sendto)
            }
        }
        // struct msghdr starts with msg_name
        nr::SENDMSG => match read_u64(mem, a[1]) {
            None => c.sendmsg[2],
            Some(0) => nr,
            Some(name) => family_class(sockaddr_family(mem, name), c.sendmsg),
        },
        nr::MMAP => exec(a[2], c.mmap_exec),
        nr::MPROTECT => exec(a[2], c.mprotect_exec),
        nr::PKEY_MPROTECT => exec(a[2], c.pkey_mprotect_exec),
        nr::IOCTL => match a[1] as u32 {
            regs::TIOCSTI | regs::TIOCLINUX => c.ioctl_tty_inject,
            _ => nr,
        },
        nr::PRCTL => match a[0] as u32 {
            regs::PR_SET_DUMPABLE => c.prctl_dumpable,
            regs::PR_SET_PTRACER => c.prctl_ptracer,
            _ => nr,
        },
        nr::FCNTL => match a[1] as u32 {
            regs::F_SETOWN | regs::F_SETOWN_EX | regs::F_SETSIG => c.fcntl_setown,
            _ => nr,
        },
        _ => nr,
    }
}

impl Notification {
    /// [`right_of`] for a live target: its process from `/proc`, its memory
    /// with `process_vm_readv`. `None`: the thread is gone.
    pub fn right(&self) -> Option<u32> {
        let tgid = tgid_of(self.tid)?;
        Some(right_of(self, tgid, &ProcessMemory::new(self.tid)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::form_rights;
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// Memory made of a few buffers at fixed addresses.
    #[derive(Default)]
    struct Fake(HashMap<u64, Vec<u8>>);

    impl Fake {
        fn with(mut self, addr: u64, bytes: &[u8]) -> Fake {
            self.0.insert(addr, bytes.to_vec());
            self
        }
    }

    impl Memory for Fake {
        fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
            match self.0.get(&addr) {
                Some(b) if b.len() >= buf.len() => {
                    buf.copy_from_slice(&b[..buf.len()]);
                    Ok(())
                }
                _ => Err(std::io::Error::from_raw_os_error(libc::EFAULT)),
            }
        }
    }

    const TGID: u32 = 1000;
    const TID: u32 = 1001;
    const ADDR: u64 = 0x7000_0000;
    const MSG: u64 = 0x7100_0000;

    fn right(name: &str, args: [u64; 6], mem: &Fake) -> String {
        let n = Notification {
            id: 1,
            tid: TID,
            nr: secimport_policy::syscalls::number(name).unwrap() as i32,
            arch: super::super::AUDIT_ARCH_X86_64,
            ip: 0,
            args,
        };
        let r = right_of(&n, TGID, mem);
        // The filter's register split agrees: the right is one of the
        // rights of the form the filter put these registers in.
        assert!(
            form_rights(n.nr as u32, &args).contains(&r),
            "{name} {args:x?}: {} is not among the filter's {:?}",
            secimport_policy::rights::name(r),
            form_rights(n.nr as u32, &args)
        );
        secimport_policy::rights::name(r)
    }

    fn family(f: u16) -> Vec<u8> {
        let mut v = f.to_ne_bytes().to_vec();
        v.extend([0u8; 14]);
        v
    }

    #[test]
    fn every_class_of_args_h() {
        let none = Fake::default();
        let mut seen = BTreeSet::new();
        let mut t = |name: &str, args: [u64; 6], mem: &Fake, want: &str| {
            assert_eq!(right(name, args, mem), want, "{name} {args:x?}");
            seen.insert(want.to_string());
        };
        let wr = libc::O_WRONLY as u64;
        let creat = (libc::O_CREAT | libc::O_RDONLY) as u64;
        let ro = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY) as u64;
        // open, openat: flags in a register
        t("open", [ADDR, ro, 0, 0, 0, 0], &none, "open");
        t("open", [ADDR, wr, 0, 0, 0, 0], &none, "open:write");
        t("openat", [0, ADDR, ro, 0, 0, 0], &none, "openat");
        for f in [
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_CREAT,
            libc::O_TRUNC,
            libc::O_APPEND,
        ] {
            t(
                "openat",
                [0, ADDR, f as u64, 0, 0, 0],
                &none,
                "openat:write",
            );
        }
        t(
            "openat",
            [0, ADDR, creat | (1 << 40), 0, 0, 0],
            &none,
            "openat:write",
        );
        // openat2: flags in struct open_how
        let how_ro = Fake::default().with(ADDR, &ro.to_ne_bytes());
        let how_w = Fake::default().with(ADDR, &creat.to_ne_bytes());
        t("openat2", [0, 0, ADDR, 24, 0, 0], &how_ro, "openat2");
        t("openat2", [0, 0, ADDR, 24, 0, 0], &how_w, "openat2:write");
        t("openat2", [0, 0, ADDR, 24, 0, 0], &none, "openat2:write");
        // clone: flags in a register; clone3: in struct clone_args
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        t("clone", [thread, 0, 0, 0, 0, 0], &none, "clone");
        t(
            "clone",
            [libc::SIGCHLD as u64, 0, 0, 0, 0, 0],
            &none,
            "clone:process",
        );
        let args3 = Fake::default().with(ADDR, &thread.to_ne_bytes());
        t("clone3", [ADDR, 88, 0, 0, 0, 0], &args3, "clone3");
        let args3 = Fake::default().with(ADDR, &0u64.to_ne_bytes());
        t("clone3", [ADDR, 88, 0, 0, 0, 0], &args3, "clone3:process");
        t("clone3", [ADDR, 88, 0, 0, 0, 0], &none, "clone3:process");
        // kill family: aimed at itself or another
        t("kill", [TGID as u64, 9, 0, 0, 0, 0], &none, "kill");
        t(
            "kill",
            [TGID as u64 | (1 << 32), 9, 0, 0, 0, 0],
            &none,
            "kill",
        );
        t("kill", [0, 9, 0, 0, 0, 0], &none, "kill:other");
        t("kill", [u64::MAX, 9, 0, 0, 0, 0], &none, "kill:other");
        t("kill", [TID as u64, 9, 0, 0, 0, 0], &none, "kill:other");
        t(
            "tgkill",
            [TGID as u64, TID as u64, 9, 0, 0, 0],
            &none,
            "tgkill",
        );
        t("tgkill", [7, 7, 9, 0, 0, 0], &none, "tgkill:other");
        t("tkill", [TID as u64, 9, 0, 0, 0, 0], &none, "tkill");
        t("tkill", [TGID as u64, 9, 0, 0, 0, 0], &none, "tkill:other");
        // socket: family in a register (an int)
        t("socket", [1, 1, 0, 0, 0, 0], &none, "socket:unix");
        t("socket", [2, 1, 0, 0, 0, 0], &none, "socket:inet");
        t("socket", [10, 1, 0, 0, 0, 0], &none, "socket:inet");
        t("socket", [16, 3, 0, 0, 0, 0], &none, "socket:netlink");
        t("socket", [17, 3, 0, 0, 0, 0], &none, "socket:packet");
        t("socket", [38, 5, 0, 0, 0, 0], &none, "socket:other");
        t(
            "socket",
            [(1 << 32) | 2, 1, 0, 0, 0, 0],
            &none,
            "socket:inet",
        );
        // connect, bind: the family the address points to
        for (f, class) in [(1u16, "unix"), (2, "inet"), (10, "inet"), (16, "other")] {
            let m = Fake::default().with(ADDR, &family(f));
            t(
                "connect",
                [3, ADDR, 16, 0, 0, 0],
                &m,
                &format!("connect:{class}"),
            );
            t("bind", [3, ADDR, 16, 0, 0, 0], &m, &format!("bind:{class}"));
            t(
                "sendto",
                [3, 0, 0, 0, ADDR, 16],
                &m,
                &format!("sendto:{class}"),
            );
            let msg = Fake::default()
                .with(MSG, &ADDR.to_ne_bytes())
                .with(ADDR, &family(f));
            t(
                "sendmsg",
                [3, MSG, 0, 0, 0, 0],
                &msg,
                &format!("sendmsg:{class}"),
            );
        }
        t("connect", [3, 0, 0, 0, 0, 0], &none, "connect:other");
        t("connect", [3, ADDR, 16, 0, 0, 0], &none, "connect:other");
        t("bind", [3, ADDR, 16, 0, 0, 0], &none, "bind:other");
        // sendto without an address; with an unreadable one
        t("sendto", [3, ADDR, 5, 0, 0, 0], &none, "sendto");
        t("sendto", [3, 0, 0, 0, ADDR, 16], &none, "sendto:other");
        // sendmsg: msg_name null, msghdr unreadable, name unreadable
        let unnamed = Fake::default().with(MSG, &0u64.to_ne_bytes());
        t("sendmsg", [3, MSG, 0, 0, 0, 0], &unnamed, "sendmsg");
        t("sendmsg", [3, MSG, 0, 0, 0, 0], &none, "sendmsg:other");
        let dangling = Fake::default().with(MSG, &ADDR.to_ne_bytes());
        t("sendmsg", [3, MSG, 0, 0, 0, 0], &dangling, "sendmsg:other");
        // PROT_EXEC
        let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        t(
            "mmap",
            [0, 4096, libc::PROT_READ as u64, 2, 3, 0],
            &none,
            "mmap",
        );
        t("mmap", [0, 4096, rx, 2, 3, 0], &none, "mmap:exec");
        t("mprotect", [ADDR, 4096, 1, 0, 0, 0], &none, "mprotect");
        t(
            "mprotect",
            [ADDR, 4096, rx, 0, 0, 0],
            &none,
            "mprotect:exec",
        );
        t(
            "pkey_mprotect",
            [ADDR, 4096, 1, 1, 0, 0],
            &none,
            "pkey_mprotect",
        );
        t(
            "pkey_mprotect",
            [ADDR, 4096, rx, 1, 0, 0],
            &none,
            "pkey_mprotect:exec",
        );
        // ioctl: terminal injection (the op is an unsigned int)
        t(
            "ioctl",
            [0, libc::TIOCSTI, ADDR, 0, 0, 0],
            &none,
            "ioctl:tty-inject",
        );
        t(
            "ioctl",
            [0, 0x541c, ADDR, 0, 0, 0],
            &none,
            "ioctl:tty-inject",
        );
        t(
            "ioctl",
            [0, (1 << 32) | 0x5412, ADDR, 0, 0, 0],
            &none,
            "ioctl:tty-inject",
        );
        t("ioctl", [0, libc::TCGETS, ADDR, 0, 0, 0], &none, "ioctl");
        // prctl: the option is an int to the kernel
        t("prctl", [4, 0, 0, 0, 0, 0], &none, "prctl:dumpable");
        t(
            "prctl",
            [0x1_0000_0004, 1, 0, 0, 0, 0],
            &none,
            "prctl:dumpable",
        );
        t(
            "prctl",
            [0x5961_6d61, 1, 0, 0, 0, 0],
            &none,
            "prctl:ptracer",
        );
        t("prctl", [15, ADDR, 0, 0, 0, 0], &none, "prctl");
        // fcntl
        for op in [8u64, 15, 10] {
            // F_SETOWN, F_SETOWN_EX, F_SETSIG
            t("fcntl", [3, op, 1, 0, 0, 0], &none, "fcntl:setown");
        }
        t(
            "fcntl",
            [3, libc::F_GETFL as u64, 0, 0, 0, 0],
            &none,
            "fcntl",
        );
        // plain syscalls are themselves
        t("getppid", [0; 6], &none, "getppid");
        t("execve", [ADDR, 0, 0, 0, 0, 0], &none, "execve");

        // Every dangerous and watched class was produced.
        for c in secimport_policy::rights::classes() {
            if c.kind != secimport_policy::rights::ClassKind::Import {
                let name = format!("{}:{}", c.syscall, c.class);
                assert!(seen.contains(&name), "{name} never produced");
            }
        }
    }
}
