//! A [`FilterPlan`] as a seccomp program, and loading it.
//!
//! The program is built by libseccomp (the architecture check, the x32
//! ABI, the syscall dispatch as a balanced tree, masked 64-bit argument
//! comparisons), exported as raw `sock_filter`s and loaded by us, with
//! flags libseccomp 2.5 cannot set (`WAIT_KILLABLE_RECV`).
//!
//! libseccomp cannot say "the low 32 bits of an argument are one of these
//! values, else ...": a rule compares each argument once, rules have no
//! order, and what matches no rule gets the filter's single default action.
//! A syscall split by a value list with a fall-through of its own
//! (socket family, ioctl, prctl and fcntl operations: [`SyscallPlan::Values`])
//! is therefore handled by a short hand-written prefix (a dozen
//! instructions per syscall) placed before libseccomp's program: it checks
//! the architecture, returns for those syscalls, and jumps to libseccomp's
//! first instruction for everything else (classic BPF jumps are relative,
//! so the exported program runs unchanged after it).

use std::io::{Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use super::plan::{Action, FilterPlan, SyscallPlan};
use super::{SeccompError, AUDIT_ARCH_X86_64};

/// The most instructions a classic BPF program may have (`BPF_MAXINSNS`).
pub const BPF_MAXINSNS: usize = 4096;

/// `struct seccomp_data`: what a filter sees of a syscall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// An x86-64 syscall with these arguments.
    pub fn x86_64(nr: i32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr,
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: 0,
            args,
        }
    }

    /// The 32-bit word at byte `offset` (what `ld [offset]` loads).
    fn word(&self, offset: u32) -> Option<u32> {
        let w = match offset {
            0 => self.nr as u32,
            4 => self.arch,
            8 => self.instruction_pointer as u32,
            12 => (self.instruction_pointer >> 32) as u32,
            16..=60 if offset.is_multiple_of(4) => {
                let i = ((offset - 16) / 8) as usize;
                let a = self.args[i];
                if offset.is_multiple_of(8) {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => return None,
        };
        Some(w)
    }
}

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Byte offset of the low half of argument `i` (little-endian).
fn off_arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}

// Classic BPF opcodes.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&code.to_ne_bytes());
    b[2] = jt;
    b[3] = jf;
    b[4..8].copy_from_slice(&k.to_ne_bytes());
    b
}

/// A jump target in the prefix.
#[derive(Clone, Copy)]
enum To {
    Next,
    Label(usize),
}

enum Ins {
    Ld(u32),
    Jeq(u32, To, To),
    Ja(To),
    Ret(u32),
    Label(usize),
}

/// The hand-written prefix for the [`SyscallPlan::Values`] syscalls
/// (empty when there are none). Label 0 is libseccomp's program, right
/// after the prefix.
fn prefix(plan: &FilterPlan) -> Vec<[u8; 8]> {
    let split: Vec<(u32, &SyscallPlan)> = plan
        .syscalls
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, SyscallPlan::Values { .. }))
        .map(|(n, p)| (n as u32, p))
        .collect();
    if split.is_empty() {
        return Vec::new();
    }
    const LIB: usize = 0;
    let mut next_label = 1;
    let mut label = || {
        next_label += 1;
        next_label - 1
    };
    let mut code = vec![
        Ins::Ld(OFF_ARCH),
        Ins::Jeq(AUDIT_ARCH_X86_64, To::Next, To::Label(LIB)),
        Ins::Ld(OFF_NR),
    ];
    let blocks: Vec<usize> = split.iter().map(|_| label()).collect();
    for ((n, _), l) in split.iter().zip(&blocks) {
        code.push(Ins::Jeq(*n, To::Label(*l), To::Next));
    }
    code.push(Ins::Ja(To::Label(LIB)));
    for ((_, p), l) in split.iter().zip(&blocks) {
        let SyscallPlan::Values { arg, cases, other } = p else {
            unreachable!()
        };
        code.push(Ins::Label(*l));
        code.push(Ins::Ld(off_arg_lo(*arg)));
        let case_labels: Vec<usize> = cases.iter().map(|_| label()).collect();
        for (c, cl) in cases.iter().zip(&case_labels) {
            code.push(Ins::Jeq(c.value, To::Label(*cl), To::Next));
        }
        code.push(Ins::Ret(other.ret()));
        for (c, cl) in cases.iter().zip(&case_labels) {
            code.push(Ins::Label(*cl));
            if let Some((zarg, zact)) = c.if_zero {
                let not_zero = label();
                code.push(Ins::Ld(off_arg_lo(zarg)));
                code.push(Ins::Jeq(0, To::Next, To::Label(not_zero)));
                code.push(Ins::Ld(off_arg_lo(zarg) + 4));
                code.push(Ins::Jeq(0, To::Next, To::Label(not_zero)));
                code.push(Ins::Ret(zact.ret()));
                code.push(Ins::Label(not_zero));
            }
            code.push(Ins::Ret(c.action.ret()));
        }
    }
    code.push(Ins::Label(LIB));
    assemble(&code)
}

fn assemble(code: &[Ins]) -> Vec<[u8; 8]> {
    let mut at = std::collections::HashMap::new();
    let mut pc = 0usize;
    for i in code {
        match i {
            Ins::Label(l) => {
                at.insert(*l, pc);
            }
            _ => pc += 1,
        }
    }
    let mut out = Vec::with_capacity(pc);
    for i in code {
        let here = out.len();
        let off = |to: To| -> usize {
            match to {
                To::Next => 0,
                To::Label(l) => at[&l] - (here + 1),
            }
        };
        let short = |to: To| -> u8 {
            u8::try_from(off(to)).expect("the prefix's conditional jumps are short")
        };
        match *i {
            Ins::Label(_) => {}
            Ins::Ld(k) => out.push(insn(BPF_LD_W_ABS, 0, 0, k)),
            Ins::Jeq(k, t, f) => out.push(insn(BPF_JMP_JEQ_K, short(t), short(f), k)),
            Ins::Ja(t) => out.push(insn(BPF_JMP_JA, 0, 0, off(t) as u32)),
            Ins::Ret(k) => out.push(insn(BPF_RET_K, 0, 0, k)),
        }
    }
    out
}

fn scmp(a: Action) -> ScmpAction {
    match a {
        Action::Allow => ScmpAction::Allow,
        Action::Notify => ScmpAction::Notify,
        Action::Errno(e) => ScmpAction::Errno(e),
        Action::KillProcess => ScmpAction::KillProcess,
    }
}

/// libseccomp's part: every syscall but the [`SyscallPlan::Values`] ones.
fn libseccomp_program(plan: &FilterPlan) -> Result<Vec<u8>, SeccompError> {
    let lib = |what: String| {
        move |source: libseccomp::error::SeccompError| SeccompError::Libseccomp { what, source }
    };
    let mut ctx =
        ScmpFilterContext::new(scmp(plan.default)).map_err(lib("creating a filter".into()))?;
    ctx.set_act_badarch(scmp(plan.bad_arch))
        .map_err(lib("setting the bad-architecture action".into()))?;
    // A balanced tree over the syscall numbers rather than a list.
    ctx.set_ctl_optimize(2)
        .map_err(lib("asking for the binary-tree layout".into()))?;
    // A rule whose action is the default one is refused (and not needed).
    let default = plan.default;
    for (n, p) in plan.syscalls.iter().enumerate() {
        let sys = ScmpSyscall::from(n as i32);
        let mut rule = |action: Action, cmp: &[ScmpArgCompare]| {
            if action == default {
                return Ok(());
            }
            ctx.add_rule_conditional_exact(scmp(action), sys, cmp)
                .map(|_| ())
                .map_err(lib(format!("syscall {n}: {action:?} when {cmp:?}")))
        };
        match p {
            SyscallPlan::Whole(a) => rule(*a, &[])?,
            SyscallPlan::Bits {
                arg,
                mask,
                clear,
                set,
            } => {
                let arg = u32::from(*arg);
                rule(
                    *clear,
                    &[ScmpArgCompare::new(
                        arg,
                        ScmpCompareOp::MaskedEqual(*mask),
                        0,
                    )],
                )?;
                // "some bit set" is one rule per bit (rules are OR'ed).
                for bit in (0..64).map(|b| 1u64 << b).filter(|b| mask & b != 0) {
                    rule(
                        *set,
                        &[ScmpArgCompare::new(
                            arg,
                            ScmpCompareOp::MaskedEqual(bit),
                            bit,
                        )],
                    )?;
                }
            }
            SyscallPlan::Null { arg, zero, nonzero } => {
                let arg = u32::from(*arg);
                rule(*zero, &[ScmpArgCompare::new(arg, ScmpCompareOp::Equal, 0)])?;
                rule(
                    *nonzero,
                    &[ScmpArgCompare::new(arg, ScmpCompareOp::NotEqual, 0)],
                )?;
            }
            SyscallPlan::Values { .. } => {}
        }
    }
    // SAFETY: memfd_create with a NUL-terminated name and valid flags.
    let fd = unsafe { libc::memfd_create(c"secimport-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .map_err(lib("exporting the program".into()))?;
    file.rewind()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The plan as a seccomp program: `sock_filter` instructions, 8 bytes each
/// in the machine's byte order, ready for [`install`].
pub fn compile(plan: &FilterPlan) -> Result<Vec<u8>, SeccompError> {
    let mut prog: Vec<u8> = prefix(plan).concat();
    prog.extend(libseccomp_program(plan)?);
    let n = prog.len() / 8;
    if n > BPF_MAXINSNS {
        return Err(SeccompError::TooLarge(n));
    }
    Ok(prog)
}

/// Runs a seccomp program on `data` the way the kernel would, returning
/// its `SECCOMP_RET_*` value; `Err` names an instruction it does not know
/// or a program that does not end in a return. A reference for tests and
/// tools; it knows the instructions seccomp programs use (loads of the
/// data, the scratch memory and immediates, ALU, jumps, returns).
pub fn simulate(prog: &[u8], data: &SeccompData) -> Result<u32, String> {
    if !prog.len().is_multiple_of(8) || prog.is_empty() {
        return Err(format!("{} bytes is not a program", prog.len()));
    }
    let insns: Vec<(u16, u8, u8, u32)> = prog
        .chunks_exact(8)
        .map(|c| {
            (
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    while let Some(&(code, jt, jf, k)) = insns.get(pc) {
        pc += 1;
        let src = if code & 0x08 != 0 { x } else { k };
        match code & 0x07 {
            // BPF_LD / BPF_LDX
            0x00 | 0x01 => {
                let v = match code & 0xe0 {
                    0x00 => k,                                        // BPF_IMM
                    0x20 => data.word(k).ok_or(format!("ld [{k}]"))?, // BPF_ABS
                    0x60 => *mem.get(k as usize).ok_or("ld M[k]")?,   // BPF_MEM
                    0x80 => 64,                                       // BPF_LEN
                    _ => return Err(format!("load {code:#x}")),
                };
                if code & 0x07 == 0 {
                    a = v
                } else {
                    x = v
                }
            }
            0x02 => *mem.get_mut(k as usize).ok_or("st M[k]")? = a,
            0x03 => *mem.get_mut(k as usize).ok_or("stx M[k]")? = x,
            0x04 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 if src != 0 => a / src,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0xa0 => a ^ src,
                    _ => return Err(format!("alu {code:#x}")),
                }
            }
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return Err(format!("jump {code:#x}")),
                };
                pc += usize::from(if taken { jt } else { jf });
            }
            0x06 => return Ok(if code & 0x18 == 0x10 { a } else { k }),
            0x07 => {
                if code & 0xf8 == 0 {
                    x = a // TAX
                } else {
                    a = x // TXA
                }
            }
            _ => unreachable!(),
        }
    }
    Err("the program ran off its end".into())
}

// The seccomp(2) interface.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: libc::c_ulong = 1 << 4;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

/// A loaded filter.
#[derive(Debug)]
pub struct Installed {
    /// The listener: notifications of every syscall the filter notifies,
    /// in this process and everything it starts from now on.
    pub listener: OwnedFd,
    /// Whether the kernel took `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
    /// (5.19+): once the supervisor has received a notification, a signal
    /// no longer interrupts the held syscall (without it, a SIGCHLD or a
    /// timer makes it fail with EINTR or restart, and the supervisor's
    /// answer is lost). `false` is worth a warning.
    pub wait_killable: bool,
}

fn seccomp_filter(flags: libc::c_ulong, prog: &[u8]) -> std::io::Result<Installed> {
    let len = prog.len() / 8;
    if !prog.len().is_multiple_of(8) || len == 0 || len > BPF_MAXINSNS {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let fprog = libc::sock_fprog {
        len: len as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    let mut flags = flags | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    loop {
        // SAFETY: no_new_privs takes plain integers.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fprog points to `len` instructions that outlive the call;
        // the kernel copies them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                flags,
                &fprog as *const libc::sock_fprog,
            )
        };
        if r >= 0 {
            // SAFETY: with NEW_LISTENER the result is a new descriptor.
            let listener = unsafe { OwnedFd::from_raw_fd(r as i32) };
            return Ok(Installed {
                listener,
                wait_killable: flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0,
            });
        }
        let e = std::io::Error::last_os_error();
        // A kernel before 5.19 does not know the flag: EINVAL.
        if e.raw_os_error() == Some(libc::EINVAL)
            && flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0
        {
            flags &= !SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
            continue;
        }
        return Err(e);
    }
}

/// Installs `prog` on the calling thread (and so on everything it starts
/// from now on): `PR_SET_NO_NEW_PRIVS`, then `seccomp(SET_MODE_FILTER,
/// NEW_LISTENER | WAIT_KILLABLE_RECV)`, without `WAIT_KILLABLE_RECV` if the
/// kernel refuses it. Meant for a freshly forked, single-threaded child
/// before it execs the target: it allocates nothing and calls only
/// `prctl` and `seccomp`. The listener must reach the supervisor (see
/// [`take_listener`]): a notified syscall waits until someone answers.
pub fn install_checked(prog: &[u8]) -> std::io::Result<Installed> {
    seccomp_filter(SECCOMP_FILTER_FLAG_NEW_LISTENER, prog)
}

/// [`install_checked`], the listener only.
pub fn install(prog: &[u8]) -> std::io::Result<OwnedFd> {
    install_checked(prog).map(|i| i.listener)
}

/// Installs `prog` on every thread of the calling process (`TSYNC`), for a
/// process that is already running threads (the Python package sandboxing
/// itself). `TSYNC_ESRCH` makes a thread that cannot be synchronized (it
/// has another filter stack) fail the call with ESRCH instead of returning
/// its id where the listener should be.
pub fn install_tsync(prog: &[u8]) -> std::io::Result<Installed> {
    seccomp_filter(
        SECCOMP_FILTER_FLAG_NEW_LISTENER
            | SECCOMP_FILTER_FLAG_TSYNC
            | SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
        prog,
    )
}

/// A copy of descriptor `fd` of process `pid` (`pidfd_open` +
/// `pidfd_getfd`, Linux 5.6+), if it is a seccomp listener: how a
/// supervisor takes the listener a child got from [`install`]. Needs
/// ptrace access to the child (its parent, or the same user with the child
/// dumpable). EBADF, or `InvalidInput` (another kind of descriptor): the
/// child has not installed its filter yet; try again.
pub fn take_listener(pid: libc::pid_t, fd: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, ours.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd takes descriptors and flags.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, ours.
    let copy = unsafe { OwnedFd::from_raw_fd(r as i32) };
    // The kernel names it "anon_inode:seccomp notify".
    let link = std::fs::read_link(format!("/proc/self/fd/{}", copy.as_raw_fd()))?;
    if !link.to_string_lossy().contains("seccomp") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("descriptor {fd} of process {pid} is not a seccomp listener"),
        ));
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::super::plan::{plan, trace_plan, Mode};
    use super::*;
    use secimport_policy::policy::{Format, Policy};

    /// Arguments that hit every split of every plan: zeros, each bit of
    /// the masks, the value lists, and noise in the high halves.
    fn probes() -> Vec<[u64; 6]> {
        let values: Vec<u64> = [
            0u64,
            1,
            2,
            4,
            3,
            0o100,
            0o1000,
            0o2000,
            0x10000,
            0x10004,
            10,
            15,
            16,
            17,
            8,
            0x5412,
            0x541c,
            0x5401,
            0x5961_6d61,
            0xffff_ffff,
            u64::MAX,
        ]
        .into_iter()
        .flat_map(|v| [v, v | 0x1_0000_0000, v | 0x8000_0000_0000_0000])
        .collect();
        let mut out = Vec::new();
        for &v in &values {
            for i in 0..6 {
                let mut a = [0u64; 6];
                a[i] = v;
                out.push(a);
                let mut b = [v; 6];
                b[1] = 0;
                out.push(b);
            }
        }
        out.push([4, 0, 0, 0, 0, 0]);
        out.push([4, 1, 0, 0, 0, 0]);
        out.push([0x1_0000_0004, 0, 0, 0, 0, 0]);
        out.push([4, 0x1_0000_0000, 0, 0, 0, 0]);
        out
    }

    fn check(plan: &FilterPlan) {
        let prog = compile(plan).unwrap();
        assert!(prog.len() / 8 <= BPF_MAXINSNS);
        let probes = probes();
        let numbers = (-2i32..600).chain([
            0x4000_0000,
            0x4000_0027,
            0x4000_0000 + 512,
            i32::MAX,
            i32::MIN,
        ]);
        for nr in numbers {
            for args in &probes {
                for arch in [AUDIT_ARCH_X86_64, 0x4000_0003, 0xc000_00b7] {
                    let data = SeccompData {
                        nr,
                        arch,
                        instruction_pointer: 0,
                        args: *args,
                    };
                    let want = plan.action(arch, nr, args).ret();
                    let got = simulate(&prog, &data).unwrap();
                    assert_eq!(
                        got, want,
                        "nr {nr} arch {arch:#x} args {args:x?}: program {got:#x}, plan {want:#x}"
                    );
                    if arch != AUDIT_ARCH_X86_64 {
                        break;
                    }
                }
            }
        }
    }

    fn compiled(spec: &str) -> secimport_policy::policy::Compiled {
        let text = format!(
            "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {{name: t}}\nspec:\n{spec}"
        );
        Policy::parse(&text, "p.yaml", Format::Yaml)
            .unwrap_or_else(|e| panic!("{e}"))
            .compile()
    }

    #[test]
    fn the_program_does_what_the_plan_says() {
        check(&trace_plan());
        let spec = "  base: [openat, newfstatat, write, ioctl, fcntl, prctl]
  startup: [openat, newfstatat, write, ioctl, fcntl]
  frameless: [openat, newfstatat, write, ioctl, fcntl, prctl]
  modules:
    app: [getppid, \"socket:inet\", \"openat:write\", \"mmap:exec\", \"sendto:inet\", sendto]
";
        for mode in [Mode::Log, Mode::Deny, Mode::Kill, Mode::Stop] {
            check(&plan(&compiled(spec), mode));
        }
        // Splits whose fall-through is the default action too.
        let spec2 =
            "  base: [newfstatat]\n  modules:\n    app: [\"socket:unix\", \"ioctl:tty-inject\"]\n";
        check(&plan(&compiled(spec2), Mode::Deny));
    }

    #[test]
    fn every_action_in_every_split_compiles_right() {
        // The policy's plans use few actions; hand-built ones use them all,
        // in every shape, chosen by a fixed pseudo-random sequence.
        let actions = [
            Action::Allow,
            Action::Notify,
            Action::Errno(libc::EPERM),
            Action::Errno(libc::EACCES),
            Action::KillProcess,
            Action::Errno(libc::ENOSYS),
        ];
        let spec = "  base: [fcntl, ioctl, prctl]\n  startup: [fcntl, ioctl]\n  frameless: [fcntl]\n  modules:\n    app: [\"socket:inet\", \"openat:write\", sendto, \"ioctl:tty-inject\", \"fcntl:setown\"]\n";
        let mut base = plan(&compiled(spec), Mode::Deny);
        // Every shape, whatever the policy made of them.
        base.syscalls[44] = SyscallPlan::Null {
            arg: 4,
            zero: Action::Allow,
            nonzero: Action::Notify,
        };
        base.syscalls[41] = SyscallPlan::Values {
            arg: 0,
            cases: [1, 2, 10, 16, 17]
                .map(|value| super::super::Case {
                    value,
                    action: Action::Notify,
                    if_zero: None,
                })
                .to_vec(),
            other: Action::Allow,
        };
        for seed in 1..=4u64 {
            let mut x = seed;
            let mut pick = || {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                actions[(x >> 33) as usize % actions.len()]
            };
            let mut p = base.clone();
            for s in p.syscalls.iter_mut() {
                *s = match s.clone() {
                    SyscallPlan::Whole(_) => SyscallPlan::Whole(pick()),
                    SyscallPlan::Bits { arg, mask, .. } => SyscallPlan::Bits {
                        arg,
                        mask,
                        clear: pick(),
                        set: pick(),
                    },
                    SyscallPlan::Null { arg, .. } => SyscallPlan::Null {
                        arg,
                        zero: pick(),
                        nonzero: pick(),
                    },
                    SyscallPlan::Values { arg, cases, .. } => SyscallPlan::Values {
                        arg,
                        cases: cases
                            .into_iter()
                            .map(|c| super::super::Case {
                                value: c.value,
                                action: pick(),
                                if_zero: Some((1, pick())),
                            })
                            .collect(),
                        other: pick(),
                    },
                };
            }
            assert!(p
                .syscalls
                .iter()
                .any(|s| matches!(s, SyscallPlan::Values { .. })));
            assert!(p
                .syscalls
                .iter()
                .any(|s| matches!(s, SyscallPlan::Bits { .. })));
            assert!(p
                .syscalls
                .iter()
                .any(|s| matches!(s, SyscallPlan::Null { .. })));
            check(&p);
        }
    }

    #[test]
    fn the_prefix_is_small_and_libseccomp_does_the_rest() {
        let p = trace_plan();
        let pre = prefix(&p);
        // only prctl is a value split in the trace plan
        assert!(pre.len() < 20, "{}", pre.len());
        let all = compile(&p).unwrap().len() / 8;
        assert!(all > pre.len() + 50, "{all}");
    }
}
