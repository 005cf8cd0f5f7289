//! The filter plan: what the kernel does, by itself, at each x86-64 syscall
//! of the sandboxed tree, before any supervisor is asked.
//!
//! A plan is pure data ([`FilterPlan`]): one [`SyscallPlan`] per syscall
//! number below 512, splitting a syscall on its register arguments exactly
//! where `bpf/lib/args.h` splits it into argument classes, and an [`Action`]
//! per form. [`plan`] derives it from a compiled policy (the rule is on
//! [`plan`]), [`trace_plan`] is the plan for learning a policy without root.
//! [`super::compile`] turns it into a seccomp program.

use secimport_policy::policy::{bitmap_contains, Bitmap, Compiled, UnknownRule};

use secimport_policy::forms::{shape, Shape};

use super::{nr, regs, AUDIT_ARCH_X86_64, NR_SYSCALLS, X32_SYSCALL_BIT};

/// What the kernel does with a syscall (or one register form of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Runs it (`SECCOMP_RET_ALLOW`).
    Allow,
    /// Holds it and asks the supervisor (`SECCOMP_RET_USER_NOTIF`).
    Notify,
    /// Fails it with this errno without running it (`SECCOMP_RET_ERRNO`).
    Errno(i32),
    /// Kills the whole process (`SECCOMP_RET_KILL_PROCESS`, SIGSYS).
    KillProcess,
}

impl Action {
    /// The `SECCOMP_RET_*` value a filter returns for it.
    pub fn ret(self) -> u32 {
        match self {
            Action::Allow => 0x7fff_0000,
            Action::Notify => 0x7fc0_0000,
            Action::Errno(e) => 0x0005_0000 | (e as u32 & 0xffff),
            Action::KillProcess => 0x8000_0000,
        }
    }
}

/// What the supervisor does with a violation. Every violation reaches it
/// (see [`plan_with`]); the mode matters to the plan only through which
/// programs may run (log and stop let a refused `execve` go on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Report it and let it run (CONTINUE).
    Log,
    /// Report it and fail it with EPERM.
    Deny,
    /// Report it and kill the process.
    Kill,
    /// Report it and stop the thread while the notification is held.
    Stop,
}

impl From<secimport_policy::policy::Mode> for Mode {
    fn from(mode: secimport_policy::policy::Mode) -> Mode {
        match mode {
            secimport_policy::policy::Mode::Log => Mode::Log,
            secimport_policy::policy::Mode::Kill => Mode::Kill,
            secimport_policy::policy::Mode::Stop => Mode::Stop,
            secimport_policy::policy::Mode::Deny => Mode::Deny,
        }
    }
}

impl Mode {
    /// The kernel's action on a right no judge allows: held too, so the
    /// supervisor reports it (with its stack) before it fails it or kills
    /// the tree. Nothing is denied silently; a violation costs one round
    /// trip, an allowed syscall nothing.
    fn denial(self) -> Action {
        Action::Notify
    }

    /// Whether a violation may go on (so that an `execve` no judge allows
    /// may still start a program).
    fn lets_violations_run(self) -> bool {
        matches!(self, Mode::Log | Mode::Stop)
    }
}

/// What the first program of the filtered tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FirstProgram {
    /// The Python interpreter (the launcher execs it; the Python package
    /// installs the filter on itself). Programs that are not Python then
    /// appear only through an `execve` some judge allows (or any `execve`
    /// in log and stop modes).
    Python,
    /// Anything (a shell script that starts Python): programs that are not
    /// Python are always possible judges.
    Any,
}

/// One case of [`SyscallPlan::Values`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Case {
    /// The value of the low 32 bits of the argument.
    pub value: u32,
    pub action: Action,
    /// `(arg, action)`: when (the whole 64 bits of) argument `arg` is zero,
    /// this action instead (`prctl(PR_SET_DUMPABLE, 0)`).
    pub if_zero: Option<(u8, Action)>,
}

/// The kernel's action on one syscall, split on register arguments only
/// (the filter never reads memory: what a pointer points to can change
/// between the filter's check and the kernel's use).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyscallPlan {
    /// One action whatever the arguments.
    Whole(Action),
    /// `args[arg] & mask == 0` -> `clear`; any bit of `mask` set -> `set`.
    Bits {
        arg: u8,
        mask: u64,
        clear: Action,
        set: Action,
    },
    /// `args[arg] == 0` (all 64 bits) -> `zero`, else `nonzero`.
    Null {
        arg: u8,
        zero: Action,
        nonzero: Action,
    },
    /// The low 32 bits of `args[arg]` (the kernel reads an `int`): the
    /// first case with that value, else `other`.
    Values {
        arg: u8,
        cases: Vec<Case>,
        other: Action,
    },
}

impl SyscallPlan {
    /// The action for these arguments.
    pub fn action(&self, args: &[u64; 6]) -> Action {
        match self {
            SyscallPlan::Whole(a) => *a,
            SyscallPlan::Bits {
                arg,
                mask,
                clear,
                set,
            } => {
                if args[*arg as usize] & mask == 0 {
                    *clear
                } else {
                    *set
                }
            }
            SyscallPlan::Null { arg, zero, nonzero } => {
                if args[*arg as usize] == 0 {
                    *zero
                } else {
                    *nonzero
                }
            }
            SyscallPlan::Values { arg, cases, other } => {
                let v = args[*arg as usize] as u32;
                match cases.iter().find(|c| c.value == v) {
                    Some(Case {
                        if_zero: Some((a, act)),
                        ..
                    }) if args[*a as usize] == 0 => *act,
                    Some(c) => c.action,
                    None => *other,
                }
            }
        }
    }

    /// Every action it can take.
    pub fn actions(&self) -> Vec<Action> {
        let mut v = match self {
            SyscallPlan::Whole(a) => vec![*a],
            SyscallPlan::Bits { clear, set, .. } => vec![*clear, *set],
            SyscallPlan::Null { zero, nonzero, .. } => vec![*zero, *nonzero],
            SyscallPlan::Values { cases, other, .. } => cases
                .iter()
                .flat_map(|c| std::iter::once(c.action).chain(c.if_zero.map(|(_, a)| a)))
                .chain(std::iter::once(*other))
                .collect(),
        };
        v.sort_by_key(|a| a.ret());
        v.dedup();
        v
    }
}

/// The kernel's part of the sandbox: an action per syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPlan {
    /// By syscall number, [`NR_SYSCALLS`] of them (numbers the x86-64
    /// table lacks included: they are rights `syscall_N` like any other).
    pub syscalls: Vec<SyscallPlan>,
    /// Syscall numbers from [`NR_SYSCALLS`] up to the x32 bit, and -1 (what
    /// a tracer sets to skip a syscall): none exists, the kernel would fail
    /// them with ENOSYS, and so does the filter.
    pub default: Action,
    /// Any other architecture or ABI: i386 (`int 0x80`), and numbers at or
    /// above the x32 bit (the x32 ABI; negative numbers but -1).
    pub bad_arch: Action,
    /// The rights no judge allows (one bit per right, as policies' bitmaps):
    /// the supervisor need not walk a stack to refuse them, only to report.
    pub denied: Bitmap,
}

impl FilterPlan {
    /// What the kernel does with this syscall: the plan's semantics, which
    /// the compiled program must agree with (see [`super::simulate`]).
    pub fn action(&self, arch: u32, nr: i32, args: &[u64; 6]) -> Action {
        if arch != AUDIT_ARCH_X86_64 || (nr as u32 >= X32_SYSCALL_BIT && nr != -1) {
            return self.bad_arch;
        }
        match self.syscalls.get(nr as usize) {
            Some(p) => p.action(args),
            None => self.default,
        }
    }

    /// The plan of syscall `nr`.
    pub fn get(&self, nr: u32) -> &SyscallPlan {
        &self.syscalls[nr as usize]
    }

    /// The plan of the syscall called `name` (panics on an unknown name).
    pub fn named(&self, name: &str) -> &SyscallPlan {
        let nr = secimport_policy::syscalls::number(name)
            .unwrap_or_else(|| panic!("{name} is an x86-64 syscall"));
        self.get(nr)
    }

    /// Whether no judge allows right `r` (see [`FilterPlan::denied`]).
    pub fn is_denied(&self, r: u32) -> bool {
        bitmap_contains(&self.denied, r)
    }

    /// The syscall names whose plan is `Whole(action)`, by number.
    pub fn whole(&self, action: Action) -> Vec<&'static str> {
        secimport_policy::syscalls::all()
            .filter(|(n, _)| self.syscalls[*n as usize] == SyscallPlan::Whole(action))
            .map(|(_, name)| name)
            .collect()
    }
}

/// What the kernel can know about one right without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Every possible judge allows it.
    Allow,
    /// No possible judge allows it.
    Deny,
    /// It depends on who makes it: the supervisor must judge.
    Judge,
}

/// The rights the register form of syscall `n` with `args` may turn out
/// to be (for tests: [`super::right_of`] must pick one of them).
#[cfg(test)]
pub(crate) fn form_rights(n: u32, args: &[u64; 6]) -> Vec<u32> {
    match shape(n) {
        Shape::Plain => vec![n],
        Shape::Bits {
            arg,
            mask,
            clear,
            set,
        } => {
            if args[arg as usize] & mask == 0 {
                clear
            } else {
                set
            }
        }
        Shape::Null { arg, zero, nonzero } => {
            if args[arg as usize] == 0 {
                zero
            } else {
                nonzero
            }
        }
        Shape::Values { arg, cases, other } => {
            let v = args[arg as usize] as u32;
            cases
                .into_iter()
                .find(|(value, _)| *value == v)
                .map(|(_, r)| r)
                .unwrap_or(other)
        }
        Shape::Opaque(all) => all,
    }
}

/// Builds a plan: each form gets the verdict its rights share (or `Judge`
/// when they differ), mapped to an action, then the fixed overrides.
fn build(verdict: impl Fn(u32) -> Verdict, denial: Action) -> FilterPlan {
    let action = |rights: &[u32]| {
        let first = verdict(rights[0]);
        let v = if rights.iter().all(|&r| verdict(r) == first) {
            first
        } else {
            Verdict::Judge
        };
        match v {
            Verdict::Allow => Action::Allow,
            Verdict::Deny => denial,
            Verdict::Judge => Action::Notify,
        }
    };
    let syscalls = (0..NR_SYSCALLS)
        .map(|n| {
            let p = match n {
                // Always asked: program and process changes the supervisor
                // must follow (which program runs, the modules a new
                // thread inherits), and signals, whose target (itself or
                // another) the filter cannot compare with the caller.
                nr::EXECVE
                | nr::EXECVEAT
                | nr::FORK
                | nr::VFORK
                | nr::CLONE
                | nr::KILL
                | nr::TGKILL
                | nr::TKILL => SyscallPlan::Whole(Action::Notify),
                // Its flags are in memory: refused as if the kernel had no
                // clone3, so that the C library falls back to clone, whose
                // flags are in a register.
                nr::CLONE3 => SyscallPlan::Whole(Action::Errno(libc::ENOSYS)),
                _ => match shape(n) {
                    Shape::Plain => SyscallPlan::Whole(action(&[n])),
                    Shape::Opaque(all) => SyscallPlan::Whole(action(&all)),
                    Shape::Bits {
                        arg,
                        mask,
                        clear,
                        set,
                    } => SyscallPlan::Bits {
                        arg,
                        mask,
                        clear: action(&clear),
                        set: action(&set),
                    },
                    Shape::Null { arg, zero, nonzero } => SyscallPlan::Null {
                        arg,
                        zero: action(&zero),
                        nonzero: action(&nonzero),
                    },
                    Shape::Values { arg, cases, other } => SyscallPlan::Values {
                        arg,
                        cases: cases
                            .iter()
                            .map(|(value, rights)| Case {
                                value: *value,
                                action: action(rights),
                                if_zero: None,
                            })
                            .collect(),
                        other: action(&other),
                    },
                },
            };
            simplify(fixed(n, p))
        })
        .collect();
    let mut denied: Bitmap = [0; 16];
    for r in (0..secimport_policy::rights::RIGHT_BITS).filter(|&r| verdict(r) == Verdict::Deny) {
        denied[r as usize / 64] |= 1 << (r % 64);
    }
    FilterPlan {
        syscalls,
        default: Action::Errno(libc::ENOSYS),
        bad_arch: Action::KillProcess,
        denied,
    }
}

/// `prctl(PR_SET_DUMPABLE, 0)` always fails with EPERM: a process that is
/// not dumpable cannot be read (`process_vm_readv`) by a supervisor of the
/// same user, which could then no longer judge it.
fn fixed(n: u32, p: SyscallPlan) -> SyscallPlan {
    match (n, p) {
        (nr::PRCTL, SyscallPlan::Values { arg, cases, other }) => SyscallPlan::Values {
            arg,
            cases: cases
                .into_iter()
                .map(|mut c| {
                    if c.value == regs::PR_SET_DUMPABLE {
                        c.if_zero = Some((1, Action::Errno(libc::EPERM)));
                    }
                    c
                })
                .collect(),
            other,
        },
        (_, p) => p,
    }
}

/// The same plan with splits whose forms all act alike made whole.
fn simplify(p: SyscallPlan) -> SyscallPlan {
    match p {
        SyscallPlan::Values { arg, cases, other } => {
            let cases: Vec<Case> = cases
                .into_iter()
                .map(|mut c| {
                    if c.if_zero.is_some_and(|(_, a)| a == c.action) {
                        c.if_zero = None;
                    }
                    c
                })
                .filter(|c| c.action != other || c.if_zero.is_some())
                .collect();
            if cases.is_empty() {
                SyscallPlan::Whole(other)
            } else {
                SyscallPlan::Values { arg, cases, other }
            }
        }
        SyscallPlan::Bits { clear, set, .. } if clear == set => SyscallPlan::Whole(clear),
        SyscallPlan::Null { zero, nonzero, .. } if zero == nonzero => SyscallPlan::Whole(zero),
        p => p,
    }
}

/// Who may judge a syscall of the tree, from a compiled policy.
struct Judges<'a> {
    c: &'a Compiled,
    harmless: Bitmap,
    dangerous: Bitmap,
    /// Whether processes that are not running Python can exist (judged by
    /// their `programs` entry or `children`).
    non_python: bool,
}

impl Judges<'_> {
    fn has(set: &Bitmap, r: u32) -> bool {
        bitmap_contains(set, r)
    }

    fn verdict(&self, r: u32) -> Verdict {
        if Self::has(&self.harmless, r) || self.allowed_by_all(r) {
            Verdict::Allow
        } else if self.denied_by_all(r) {
            Verdict::Deny
        } else {
            Verdict::Judge
        }
    }

    /// Every possible judge allows `r`. The judges of a Python thread are
    /// always possible: the `startup` and `frameless` buckets (no frame),
    /// and stacks holding any module, including one no key covers (a
    /// pseudo-name, a path, or frames that could not be seen, all judged by
    /// `unknown`). Programs that are not Python are judged by `children`
    /// or their `programs` entry.
    fn allowed_by_all(&self, r: u32) -> bool {
        let c = self.c;
        // Dangerous rights: never in startup/frameless. Value-carrying
        // rights: a module's `arguments` may refuse the value (they are all
        // dangerous today; this keeps it so if one is not).
        if Self::has(&self.dangerous, r)
            || secimport_policy::arguments::kind_of(&secimport_policy::rights::name(r)).is_some()
        {
            return false;
        }
        if !Self::has(&c.startup, r) || !Self::has(&c.frameless, r) {
            return false;
        }
        let stacks = match c.unknown {
            // A covered module allows its list and base; an unknown one
            // base only: base decides.
            UnknownRule::BaseOnly => Self::has(&c.base, r),
            // Unknown modules allow anything; each covered one must.
            UnknownRule::Allow => {
                Self::has(&c.base, r) || c.rules().all(|(_, set)| Self::has(&set, r))
            }
            // An unknown module refuses even base.
            UnknownRule::Deny => false,
        };
        stacks
            && (!self.non_python
                || (Self::has(&c.children, r) && c.programs.iter().all(|(_, p)| Self::has(p, r))))
    }

    /// No judge allows `r`: not `unknown: allow`, no shared set (where it
    /// is not dangerous), no module's list, not `children`, no `programs`
    /// entry.
    fn denied_by_all(&self, r: u32) -> bool {
        let c = self.c;
        if c.unknown == UnknownRule::Allow {
            return false;
        }
        let shared = !Self::has(&self.dangerous, r)
            && (Self::has(&c.base, r) || Self::has(&c.startup, r) || Self::has(&c.frameless, r));
        !shared
            && !c.rules().any(|(_, set)| Self::has(&set, r))
            && !Self::has(&c.children, r)
            && !c.programs.iter().any(|(_, p)| Self::has(p, r))
    }
}

/// Whether a process that is not running Python can exist in a tree whose
/// first program is `first`: only through an `execve` or `execveat` that
/// some judge allows, or any of them when violations run (log, stop).
fn non_python_possible(c: &Compiled, mode: Mode, first: FirstProgram) -> bool {
    let exec = [nr::EXECVE, nr::EXECVEAT];
    let has_exec = |set: &Bitmap| exec.iter().any(|&r| bitmap_contains(set, r));
    first == FirstProgram::Any
        || mode.lets_violations_run()
        || c.unknown == UnknownRule::Allow
        || c.rules().any(|(_, set)| has_exec(&set))
        || has_exec(&c.children)
        || c.programs.iter().any(|(_, set)| has_exec(set))
}

/// The plan for a tree whose first program is Python: [`plan_with`] with
/// [`FirstProgram::Python`].
pub fn plan(compiled: &Compiled, mode: Mode) -> FilterPlan {
    plan_with(compiled, mode, FirstProgram::Python)
}

/// The kernel's part of enforcing `compiled`.
///
/// Each right (a syscall, or an argument class: [`secimport_policy::rights`])
/// gets a verdict:
///
/// - **allow** when it is in the harmless set, or every possible judge
///   allows it: it is not dangerous, it is in `startup` and in `frameless`
///   (a thread with no frame), every stack allows it (`unknown: base-only`:
///   it is in `base`; `unknown: allow`: in `base` or in every module's
///   list; `unknown: deny`: never, an unknown or unseen module refuses
///   even base), and, when a program that is not Python can run, it is in
///   `children` and in every `programs` entry. A program that is not
///   Python can run when `first` is [`FirstProgram::Any`], in log and stop
///   modes, under `unknown: allow`, or when a module's list, `children` or
///   a `programs` entry has `execve` or `execveat`;
/// - **deny** when no judge allows it: `unknown` is not `allow`, no shared
///   set has it (where it is not dangerous), no module's list, not
///   `children`, no `programs` entry;
/// - **judge** otherwise.
///
/// A syscall is split on its registers where args.h splits it (open and
/// openat flags, clone's CLONE_THREAD, socket family, sendto's address
/// being null or not, PROT_EXEC, ioctl, prctl and fcntl operations). A
/// form that may be several rights (the `:pycache` classes, told by path;
/// the class of openat2, connect, bind, addressed sendto and sendmsg, told
/// by memory; kill aimed at the caller or not) gets their common verdict,
/// or judge when they differ. Then allow -> [`Action::Allow`], judge ->
/// [`Action::Notify`], deny -> [`Action::Notify`] in every mode (the
/// supervisor reports the violation, with its stack, then fails the
/// syscall, kills or stops as the mode says; an in-kernel EPERM or kill
/// would be silent). A violation costs a round trip, an allowed syscall
/// nothing.
///
/// Fixed whatever the policy: `execve`, `execveat`, `fork`, `vfork`,
/// `clone` (threads too: the supervisor records the modules a new thread
/// inherits), `kill`, `tgkill` and `tkill` are always notified; `clone3`
/// fails with ENOSYS (the C library falls back to `clone`);
/// `prctl(PR_SET_DUMPABLE, 0)` fails with EPERM; other architectures, the
/// x32 ABI and numbers at or above the x32 bit (negative ones but -1) kill
/// the process; numbers from 512 up, and -1, fail with ENOSYS (as the
/// kernel would).
pub fn plan_with(compiled: &Compiled, mode: Mode, first: FirstProgram) -> FilterPlan {
    let judges = Judges {
        c: compiled,
        harmless: secimport_policy::classes::harmless_bitmap(),
        dangerous: secimport_policy::classes::dangerous_bitmap(),
        non_python: non_python_possible(compiled, mode, first),
    };
    build(|r| judges.verdict(r), mode.denial())
}

/// The seccomp half of the root hybrid (`run --backend auto` in kill
/// mode, as root): only the **dangerous** rights ([`secimport_policy::classes`]:
/// programs, processes, writes, sockets, signals to others) that some judge
/// may refuse are held, so that a violation among them is killed before it
/// has any effect (a connect never reaches its peer, a file is never
/// created); everything else is allowed by the filter and judged in the
/// kernel by the BPF walk, as in the BPF backend alone. The fixed overrides
/// of [`plan_with`] apply.
pub fn hybrid_plan(compiled: &Compiled) -> FilterPlan {
    let dangerous = secimport_policy::classes::dangerous_bitmap();
    let judges = Judges {
        c: compiled,
        harmless: secimport_policy::classes::harmless_bitmap(),
        dangerous,
        non_python: non_python_possible(compiled, Mode::Kill, FirstProgram::Python),
    };
    build(
        |r| match judges.verdict(r) {
            Verdict::Allow => Verdict::Allow,
            v if bitmap_contains(&dangerous, r) => v,
            _ => Verdict::Allow,
        },
        Mode::Kill.denial(),
    )
}

/// The plan for learning a policy without root (`secimport trace` on
/// seccomp): every syscall is notified except the harmless set (memory,
/// futexes, clocks, I/O on open descriptors, ...; `mmap`/`mprotect` only
/// without PROT_EXEC), so that the supervisor sees, with the stack, every
/// right a policy would have to list. The fixed overrides of
/// [`plan_with`] apply (clone3 ENOSYS, `prctl(PR_SET_DUMPABLE, 0)` EPERM).
///
/// The cost: each notified syscall is a round trip to the supervisor (two
/// context switches and the supervisor's stack walk; see the measurements
/// in `tests/seccomp.rs`), where the BPF tracer pays a walk in the kernel.
/// The harmless set is most of a program's syscalls by count (reads,
/// futexes, mmap), so start-up and imports (openat, newfstatat, getdents64,
/// ioctl) pay it most: tracing is meant for a representative run, not
/// production. `write` is not harmless: every write to a pipe or terminal
/// is notified too.
pub fn trace_plan() -> FilterPlan {
    let harmless = secimport_policy::classes::harmless_bitmap();
    build(
        |r| {
            if bitmap_contains(&harmless, r) {
                Verdict::Allow
            } else {
                Verdict::Judge
            }
        },
        Action::Notify,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use secimport_policy::policy::{Format, Policy};

    fn compiled(spec: &str) -> Compiled {
        let text = format!(
            "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {{name: t}}\nspec:\n{spec}"
        );
        Policy::parse(&text, "p.yaml", Format::Yaml)
            .unwrap_or_else(|e| panic!("{e}"))
            .compile()
    }

    /// The verdict on the right called `name` (`openat:write`, `syscall_400`).
    fn verdict(c: &Compiled, mode: Mode, first: FirstProgram, name: &str) -> Verdict {
        let r = secimport_policy::policy::Syscall::parse(name)
            .unwrap_or_else(|| panic!("{name} is a right"))
            .number();
        let judges = Judges {
            c,
            harmless: secimport_policy::classes::harmless_bitmap(),
            dangerous: secimport_policy::classes::dangerous_bitmap(),
            non_python: non_python_possible(c, mode, first),
        };
        judges.verdict(r)
    }

    fn verdicts(c: &Compiled, mode: Mode, names: &[&str]) -> Vec<Verdict> {
        names
            .iter()
            .map(|n| verdict(c, mode, FirstProgram::Python, n))
            .collect()
    }

    const SPEC: &str = "  unknown: base-only
  base: [openat, newfstatat, getcwd, write, ioctl, fcntl, prctl, getdents64]
  startup: [openat, newfstatat, write, ioctl, fcntl, getdents64]
  frameless: [openat, newfstatat, write, ioctl, fcntl, prctl, getdents64]
  modules:
    app: [getppid, \"socket:inet\", \"openat:write\", \"mmap:exec\"]
";

    use Verdict::{Allow as A, Deny as D, Judge as J};

    #[test]
    fn base_in_every_bucket_is_allowed_in_the_kernel() {
        let c = compiled(SPEC);
        // Harmless; base + startup + frameless; only a frameless thread may
        // not getcwd; only app may getppid; nobody may uname, mount, ...
        let names = [
            "read",
            "futex",
            "newfstatat",
            "write",
            "getdents64",
            "getcwd",
            "getppid",
            "uname",
            "mount",
            "ptrace",
            "listen",
            "syscall_400",
        ];
        let want = [A, A, A, A, A, J, J, D, D, D, D, D];
        assert_eq!(verdicts(&c, Mode::Deny, &names), want);
        let p = plan(&c, Mode::Deny);
        for name in ["newfstatat", "write", "getdents64", "read", "futex"] {
            assert_eq!(p.named(name), &SyscallPlan::Whole(Action::Allow), "{name}");
        }
        // Judged and denied alike reach the supervisor (which reports).
        for name in ["getcwd", "getppid", "uname", "mount", "ptrace"] {
            assert_eq!(p.named(name), &SyscallPlan::Whole(Action::Notify), "{name}");
        }
        assert_eq!(p.get(400), &SyscallPlan::Whole(Action::Notify));
    }

    #[test]
    fn register_splits_follow_args_h() {
        let c = compiled(SPEC);
        let v = |name: &str| verdict(&c, Mode::Deny, FirstProgram::Python, name);
        // openat: reading everyone's; writing app's, openat:pycache nobody's.
        assert_eq!(
            (v("openat"), v("openat:write"), v("openat:pycache")),
            (A, J, D)
        );
        assert_eq!(
            (v("socket:inet"), v("socket:unix"), v("socket:other")),
            (J, D, D)
        );
        assert_eq!(
            (v("mmap"), v("mmap:exec"), v("ioctl:tty-inject")),
            (A, J, D)
        );
        let p = plan(&c, Mode::Deny);
        assert_eq!(
            p.named("openat"),
            &SyscallPlan::Bits {
                arg: 2,
                mask: regs::OPEN_WRITE_FLAGS,
                clear: Action::Allow,
                set: Action::Notify
            }
        );
        assert_eq!(
            p.named("mmap"),
            &SyscallPlan::Bits {
                arg: 2,
                mask: 4,
                clear: Action::Allow,
                set: Action::Notify
            }
        );
        // ioctl: TIOCSTI/TIOCLINUX (on the low 32 bits) asked, the rest run;
        // fcntl F_SETOWN/F_SETSIG/F_SETOWN_EX likewise.
        let ioctl = p.named("ioctl");
        assert_eq!(ioctl.action(&[0, 0x5412, 0, 0, 0, 0]), Action::Notify);
        assert_eq!(ioctl.action(&[0, 0x541c, 0, 0, 0, 0]), Action::Notify);
        assert_eq!(
            ioctl.action(&[0, 0x1_0000_5412, 0, 0, 0, 0]),
            Action::Notify
        );
        assert_eq!(ioctl.action(&[0, 0x5401, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(p.named("fcntl").action(&[0, 8, 0, 0, 0, 0]), Action::Notify);
        assert_eq!(
            p.named("fcntl").action(&[0, 15, 0, 0, 0, 0]),
            Action::Notify
        );
        assert_eq!(p.named("fcntl").action(&[0, 1, 0, 0, 0, 0]), Action::Allow);
        // prctl: not in startup, so asked; PR_SET_DUMPABLE with 0 refused.
        let prctl = p.named("prctl");
        assert_eq!(prctl.action(&[15, 0, 0, 0, 0, 0]), Action::Notify);
        assert_eq!(prctl.action(&[4, 1, 0, 0, 0, 0]), Action::Notify);
        assert_eq!(
            prctl.action(&[4, 0, 0, 0, 0, 0]),
            Action::Errno(libc::EPERM)
        );
        assert_eq!(
            prctl.action(&[0x1_0000_0004, 0, 0, 0, 0, 0]),
            Action::Errno(libc::EPERM)
        );
        // sendto: a null address is the plain form (dangerous, nobody's).
        assert_eq!((v("sendto"), v("sendto:inet")), (D, D));
        assert_eq!(p.named("sendto"), &SyscallPlan::Whole(Action::Notify));
        // With the filesystem reads and fcntl allowed to nobody in particular,
        // a split whose forms differ stays a split.
        let spec = "  base: [fcntl]\n  startup: [fcntl]\n  frameless: [fcntl]\n";
        let p = plan(&compiled(spec), Mode::Deny);
        assert!(matches!(
            p.named("fcntl"),
            SyscallPlan::Values { arg: 1, .. }
        ));
        assert_eq!(p.named("socket"), &SyscallPlan::Whole(Action::Notify));
    }

    #[test]
    fn the_fixed_actions_hold_in_every_mode() {
        for mode in [Mode::Log, Mode::Deny, Mode::Kill, Mode::Stop] {
            for p in [plan(&compiled(SPEC), mode), trace_plan()] {
                for name in [
                    "execve", "execveat", "fork", "vfork", "clone", "kill", "tgkill", "tkill",
                ] {
                    assert_eq!(p.named(name), &SyscallPlan::Whole(Action::Notify), "{name}");
                }
                assert_eq!(
                    p.named("clone3"),
                    &SyscallPlan::Whole(Action::Errno(libc::ENOSYS))
                );
                assert_eq!(
                    p.named("prctl").action(&[4, 0, 0, 0, 0, 0]),
                    Action::Errno(libc::EPERM)
                );
                assert_eq!(p.action(0x4000_0003, 39, &[0; 6]), Action::KillProcess);
                assert_eq!(
                    p.action(AUDIT_ARCH_X86_64, 0x4000_0027, &[0; 6]),
                    Action::KillProcess
                );
                assert_eq!(
                    p.action(AUDIT_ARCH_X86_64, -2, &[0; 6]),
                    Action::KillProcess
                );
                assert_eq!(
                    p.action(AUDIT_ARCH_X86_64, -1, &[0; 6]),
                    Action::Errno(libc::ENOSYS)
                );
                assert_eq!(
                    p.action(AUDIT_ARCH_X86_64, 600, &[0; 6]),
                    Action::Errno(libc::ENOSYS)
                );
            }
        }
    }

    #[test]
    fn log_and_stop_modes_let_any_program_run() {
        let c = compiled(SPEC);
        // Deny and kill: no module may exec, only Python runs.
        for mode in [Mode::Deny, Mode::Kill] {
            assert_eq!(verdicts(&c, mode, &["newfstatat", "mount"]), [A, D]);
            assert_eq!(
                plan(&c, mode).named("newfstatat"),
                &SyscallPlan::Whole(Action::Allow)
            );
        }
        // Log and stop: an execve runs whatever it is, so a program that is
        // not Python may run, and `children` (empty) makes base judged.
        for mode in [Mode::Log, Mode::Stop] {
            assert_eq!(
                verdicts(&c, mode, &["newfstatat", "mount", "read"]),
                [J, D, A]
            );
            let p = plan(&c, mode);
            assert_eq!(p.named("newfstatat"), &SyscallPlan::Whole(Action::Notify));
            assert_eq!(p.named("read"), &SyscallPlan::Whole(Action::Allow));
        }
    }

    #[test]
    fn children_and_programs_are_judges_when_programs_can_run() {
        let spec = "  base: [newfstatat, getcwd]
  startup: [newfstatat, getcwd]
  frameless: [newfstatat, getcwd]
  children: [newfstatat, getcwd, uname]
  programs:
    /usr/bin/git: [newfstatat, lstat]
  modules:
    app: [execve]
";
        let c = compiled(spec);
        // git may not getcwd; uname is children's, lstat git's: judged.
        assert_eq!(
            verdicts(
                &c,
                Mode::Deny,
                &["newfstatat", "getcwd", "uname", "lstat", "mount"]
            ),
            [A, J, J, J, D]
        );
        let p = plan(&c, Mode::Deny);
        assert_eq!(p.named("newfstatat"), &SyscallPlan::Whole(Action::Allow));
        assert_eq!(p.named("getcwd"), &SyscallPlan::Whole(Action::Notify));
        // Without an execve anywhere, only Python runs (FirstProgram::Python).
        let no_exec = compiled(&spec.replace("app: [execve]", "app: [getppid]"));
        assert_eq!(
            verdict(&no_exec, Mode::Deny, FirstProgram::Python, "getcwd"),
            A
        );
        assert_eq!(
            verdict(&no_exec, Mode::Deny, FirstProgram::Any, "getcwd"),
            J
        );
        assert_eq!(
            plan(&no_exec, Mode::Deny).named("getcwd"),
            &SyscallPlan::Whole(Action::Allow)
        );
        assert_eq!(
            plan_with(&no_exec, Mode::Deny, FirstProgram::Any).named("getcwd"),
            &SyscallPlan::Whole(Action::Notify)
        );
    }

    #[test]
    fn unknown_changes_what_every_stack_allows() {
        let spec = "  unknown: allow
  base: [newfstatat]
  startup: [newfstatat, getcwd, uname]
  frameless: [newfstatat, getcwd, uname]
  children: [newfstatat, getcwd, uname]
  modules:
    a: [getcwd]
    b: [getcwd]
";
        // Every covered module allows getcwd, unknown ones allow anything
        // (including execve: `children` judges too); b may not uname;
        // nothing is denied under unknown: allow.
        let c = compiled(spec);
        assert_eq!(
            verdicts(&c, Mode::Deny, &["getcwd", "newfstatat", "uname", "mount"]),
            [A, A, J, J]
        );
        // unknown: deny: an unknown or unseen module refuses even base.
        let c = compiled(&spec.replace("allow", "deny"));
        assert_eq!(
            verdicts(&c, Mode::Deny, &["newfstatat", "read", "mount"]),
            [J, A, D]
        );
        assert_eq!(
            plan(&c, Mode::Deny).named("newfstatat"),
            &SyscallPlan::Whole(Action::Notify)
        );
    }

    #[test]
    fn the_trace_plan_notifies_all_but_the_harmless_set() {
        let p = trace_plan();
        let harmless = secimport_policy::classes::harmless_bitmap();
        for (nr, name) in secimport_policy::syscalls::all() {
            let s = p.get(nr);
            match name {
                "mmap" | "mprotect" => assert_eq!(
                    s,
                    &SyscallPlan::Bits {
                        arg: 2,
                        mask: 4,
                        clear: Action::Allow,
                        set: Action::Notify
                    }
                ),
                "clone3" => assert_eq!(s, &SyscallPlan::Whole(Action::Errno(libc::ENOSYS))),
                "prctl" => assert_eq!(
                    s.actions(),
                    vec![Action::Errno(libc::EPERM), Action::Notify]
                ),
                _ if bitmap_contains(&harmless, nr) => {
                    assert_eq!(s, &SyscallPlan::Whole(Action::Allow), "{name}")
                }
                _ => assert_eq!(s, &SyscallPlan::Whole(Action::Notify), "{name}"),
            }
        }
    }

    #[test]
    fn forms_name_every_class_of_args_h() {
        // Every class is some form's right, of its own syscall.
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..NR_SYSCALLS {
            match shape(n) {
                Shape::Plain => {}
                Shape::Bits { clear, set, .. } => seen.extend(clear.into_iter().chain(set)),
                Shape::Null { zero, nonzero, .. } => seen.extend(zero.into_iter().chain(nonzero)),
                Shape::Values { cases, other, .. } => {
                    seen.extend(cases.into_iter().flat_map(|(_, r)| r).chain(other))
                }
                Shape::Opaque(all) => seen.extend(all),
            }
        }
        for c in secimport_policy::rights::classes() {
            assert!(seen.contains(&c.right), "{}:{}", c.syscall, c.class);
            let nr = secimport_policy::syscalls::number(c.syscall).unwrap();
            assert!(!matches!(shape(nr), Shape::Plain), "{}", c.syscall);
        }
    }
}
