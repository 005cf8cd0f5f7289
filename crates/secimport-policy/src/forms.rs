//! Register forms: how each x86-64 syscall splits into rights on its
//! register arguments, exactly where the BPF code (`bpf/lib/args.h`)
//! classifies a syscall into argument classes.
//!
//! One source for every consumer that turns rights back into register
//! tests: the seccomp backend's filter plan (`secimport-engine`,
//! `seccomp/plan.rs`) and `secimport export` ([`crate::oci`]). Pure data:
//! [`shape`] says, for syscall `n`, which register argument tells its forms
//! apart and which rights each form may turn out to be (more than one when
//! what tells them apart is not a register).

/// x86-64 syscall numbers this backend treats specially (checked against
/// the policy crate's table by the unit tests).
pub mod nr {
    pub const MMAP: u32 = 9;
    pub const MPROTECT: u32 = 10;
    pub const IOCTL: u32 = 16;
    pub const OPEN: u32 = 2;
    pub const SOCKET: u32 = 41;
    pub const CONNECT: u32 = 42;
    pub const SENDTO: u32 = 44;
    pub const SENDMSG: u32 = 46;
    pub const BIND: u32 = 49;
    pub const CLONE: u32 = 56;
    pub const FORK: u32 = 57;
    pub const VFORK: u32 = 58;
    pub const EXECVE: u32 = 59;
    pub const KILL: u32 = 62;
    pub const FCNTL: u32 = 72;
    pub const RENAME: u32 = 82;
    pub const MKDIR: u32 = 83;
    pub const UNLINK: u32 = 87;
    pub const PRCTL: u32 = 157;
    pub const TKILL: u32 = 200;
    pub const TGKILL: u32 = 234;
    pub const OPENAT: u32 = 257;
    pub const MKDIRAT: u32 = 258;
    pub const UNLINKAT: u32 = 263;
    pub const RENAMEAT: u32 = 264;
    pub const RENAMEAT2: u32 = 316;
    pub const EXECVEAT: u32 = 322;
    pub const PKEY_MPROTECT: u32 = 329;
    pub const CLONE3: u32 = 435;
    pub const OPENAT2: u32 = 437;
}

/// Register constants of `bpf/lib/args.h`.
pub mod regs {
    pub const CLONE_THREAD: u64 = 0x0001_0000;
    /// O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND.
    pub const OPEN_WRITE_FLAGS: u64 = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000;
    pub const PROT_EXEC: u64 = 4;
    pub const AF_UNIX: u32 = 1;
    pub const AF_INET: u32 = 2;
    pub const AF_INET6: u32 = 10;
    pub const AF_NETLINK: u32 = 16;
    pub const AF_PACKET: u32 = 17;
    pub const TIOCSTI: u32 = 0x5412;
    pub const TIOCLINUX: u32 = 0x541c;
    pub const PR_SET_DUMPABLE: u32 = 4;
    pub const PR_SET_PTRACER: u32 = 0x5961_6d61;
    pub const F_SETOWN: u32 = 8;
    pub const F_SETSIG: u32 = 10;
    pub const F_SETOWN_EX: u32 = 15;
}

/// The right numbers of the argument classes this backend names, read from
/// the policy crate's table (`rights_table.rs`, the one source).
pub struct Classes {
    pub open_write: u32,
    pub openat_write: u32,
    pub openat2_write: u32,
    pub clone_process: u32,
    pub clone3_process: u32,
    pub kill_other: u32,
    pub tgkill_other: u32,
    pub tkill_other: u32,
    pub socket_unix: u32,
    pub socket_inet: u32,
    pub socket_netlink: u32,
    pub socket_packet: u32,
    pub socket_other: u32,
    pub connect: [u32; 3],
    pub bind: [u32; 3],
    pub sendto: [u32; 3],
    pub sendmsg: [u32; 3],
    pub mmap_exec: u32,
    pub mprotect_exec: u32,
    pub pkey_mprotect_exec: u32,
    pub ioctl_tty_inject: u32,
    pub prctl_dumpable: u32,
    pub prctl_ptracer: u32,
    pub fcntl_setown: u32,
}

pub fn classes() -> &'static Classes {
    static CLASSES: std::sync::OnceLock<Classes> = std::sync::OnceLock::new();
    CLASSES.get_or_init(|| {
        let c = |name: &str| {
            crate::rights::class_named(name)
                .unwrap_or_else(|| panic!("{name} is in rights_table.rs"))
                .right
        };
        let families = |s: &str| {
            [
                c(&format!("{s}:unix")),
                c(&format!("{s}:inet")),
                c(&format!("{s}:other")),
            ]
        };
        Classes {
            open_write: c("open:write"),
            openat_write: c("openat:write"),
            openat2_write: c("openat2:write"),
            clone_process: c("clone:process"),
            clone3_process: c("clone3:process"),
            kill_other: c("kill:other"),
            tgkill_other: c("tgkill:other"),
            tkill_other: c("tkill:other"),
            socket_unix: c("socket:unix"),
            socket_inet: c("socket:inet"),
            socket_netlink: c("socket:netlink"),
            socket_packet: c("socket:packet"),
            socket_other: c("socket:other"),
            connect: families("connect"),
            bind: families("bind"),
            sendto: families("sendto"),
            sendmsg: families("sendmsg"),
            mmap_exec: c("mmap:exec"),
            mprotect_exec: c("mprotect:exec"),
            pkey_mprotect_exec: c("pkey_mprotect:exec"),
            ioctl_tty_inject: c("ioctl:tty-inject"),
            prctl_dumpable: c("prctl:dumpable"),
            prctl_ptracer: c("prctl:ptracer"),
            fcntl_setown: c("fcntl:setown"),
        }
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// The register forms of a syscall, each with the rights it may turn out
/// to be (more than one when what tells them apart is not a register).
pub enum Shape {
    Plain,
    Bits {
        arg: u8,
        mask: u64,
        clear: Vec<u32>,
        set: Vec<u32>,
    },
    Null {
        arg: u8,
        zero: Vec<u32>,
        nonzero: Vec<u32>,
    },
    Values {
        arg: u8,
        cases: Vec<(u32, Vec<u32>)>,
        other: Vec<u32>,
    },
    /// The filter cannot tell the forms apart: pointed-to memory (openat2's
    /// flags, clone3's, socket addresses), the caller's identity (kill
    /// aimed at itself or another) or a path (the `:pycache` classes).
    Opaque(Vec<u32>),
}

/// The import system's class of syscall `name` (`mkdir:pycache`).
fn pycache(name: &str) -> u32 {
    crate::rights::class_named(&format!("{name}:pycache"))
        .unwrap_or_else(|| panic!("{name}:pycache is in rights_table.rs"))
        .right
}

/// How syscall `n` splits into rights: `bpf/lib/args.h`, plus the
/// `:pycache` reclassification of writes (`bpf/lib/values.h`).
pub fn shape(n: u32) -> Shape {
    let c = classes();
    let name = crate::syscalls::name(n).unwrap_or("");
    let family_cases = |unix: u32, inet: u32| {
        vec![
            (regs::AF_UNIX, vec![unix]),
            (regs::AF_INET, vec![inet]),
            (regs::AF_INET6, vec![inet]),
        ]
    };
    match n {
        nr::OPEN => Shape::Bits {
            arg: 1,
            mask: regs::OPEN_WRITE_FLAGS,
            clear: vec![n],
            set: vec![c.open_write, pycache(name)],
        },
        nr::OPENAT => Shape::Bits {
            arg: 2,
            mask: regs::OPEN_WRITE_FLAGS,
            clear: vec![n],
            set: vec![c.openat_write, pycache(name)],
        },
        nr::OPENAT2 => Shape::Opaque(vec![n, c.openat2_write, pycache(name)]),
        nr::CLONE => Shape::Bits {
            arg: 0,
            mask: regs::CLONE_THREAD,
            clear: vec![c.clone_process],
            set: vec![n],
        },
        nr::CLONE3 => Shape::Opaque(vec![n, c.clone3_process]),
        nr::KILL => Shape::Opaque(vec![n, c.kill_other]),
        nr::TGKILL => Shape::Opaque(vec![n, c.tgkill_other]),
        nr::TKILL => Shape::Opaque(vec![n, c.tkill_other]),
        nr::SOCKET => {
            let mut cases = family_cases(c.socket_unix, c.socket_inet);
            cases.push((regs::AF_NETLINK, vec![c.socket_netlink]));
            cases.push((regs::AF_PACKET, vec![c.socket_packet]));
            Shape::Values {
                arg: 0,
                cases,
                other: vec![c.socket_other],
            }
        }
        nr::CONNECT => Shape::Opaque(c.connect.to_vec()),
        nr::BIND => Shape::Opaque(c.bind.to_vec()),
        nr::SENDTO => Shape::Null {
            arg: 4,
            zero: vec![n],
            nonzero: c.sendto.to_vec(),
        },
        nr::SENDMSG => Shape::Opaque([&[n][..], &c.sendmsg[..]].concat()),
        nr::MMAP | nr::MPROTECT | nr::PKEY_MPROTECT => Shape::Bits {
            arg: 2,
            mask: regs::PROT_EXEC,
            clear: vec![n],
            set: vec![match n {
                nr::MMAP => c.mmap_exec,
                nr::MPROTECT => c.mprotect_exec,
                _ => c.pkey_mprotect_exec,
            }],
        },
        nr::IOCTL => Shape::Values {
            arg: 1,
            cases: vec![
                (regs::TIOCSTI, vec![c.ioctl_tty_inject]),
                (regs::TIOCLINUX, vec![c.ioctl_tty_inject]),
            ],
            other: vec![n],
        },
        nr::PRCTL => Shape::Values {
            arg: 0,
            cases: vec![
                (regs::PR_SET_DUMPABLE, vec![c.prctl_dumpable]),
                (regs::PR_SET_PTRACER, vec![c.prctl_ptracer]),
            ],
            other: vec![n],
        },
        nr::FCNTL => Shape::Values {
            arg: 1,
            cases: vec![
                (regs::F_SETOWN, vec![c.fcntl_setown]),
                (regs::F_SETSIG, vec![c.fcntl_setown]),
                (regs::F_SETOWN_EX, vec![c.fcntl_setown]),
            ],
            other: vec![n],
        },
        nr::MKDIR
        | nr::MKDIRAT
        | nr::RENAME
        | nr::RENAMEAT
        | nr::RENAMEAT2
        | nr::UNLINK
        | nr::UNLINKAT => Shape::Opaque(vec![n, pycache(name)]),
        _ => Shape::Plain,
    }
}
