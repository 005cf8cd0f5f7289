//! A policy as an OCI runtime seccomp profile (Docker, Kubernetes, runc,
//! crun, podman): `secimport export --format oci-seccomp`.
//!
//! A seccomp profile is one filter for the whole container: it cannot walk
//! a Python stack, so it holds the **whole-process union** of the policy —
//! every right any module may use, plus `base`, `startup`, `frameless`,
//! `children` and every `programs` entry (child programs run in the same
//! container), plus the harmless set and what the runtime needs to start
//! the container's process ([`RUNTIME`]). An argument class becomes
//! register-argument rules where the class is told apart by a register
//! ([`crate::forms::shape`], the same table the seccomp backend's filter
//! uses): `openat` without `openat:write` is allowed only when its flags
//! hold none of `O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND`, `clone`
//! without `clone:process` only with `CLONE_THREAD`, `socket:unix` only
//! with `AF_UNIX`, and so on. A class told apart by memory, a path or the
//! caller (the address family of `connect`/`bind`/`sendmsg`, `openat2`'s
//! flags, `kill` aimed at another process) cannot be expressed: the
//! syscall is allowed when any of its forms is, and the rule's `comment`
//! and a [`Export::notes`] entry say so. `clone3` keeps its flags in
//! memory: unless every form of it is allowed it fails with ENOSYS, so the
//! C library falls back to `clone` (which then gets `clone3`'s rights).
//!
//! The `:pycache` classes (the import system writing `NAME.pyc` into a
//! `__pycache__` directory) are told apart by path, and allowing them would
//! allow every writing `open`, `mkdir`, `rename` and `unlink`: they are
//! left out unless [`Options::pycache`] asks for them. CPython ignores a
//! failed bytecode write (imports work, compiled in memory).

use serde::Serialize;

use crate::forms::{nr, shape, Shape};
use crate::policy::{bitmap_contains, Bitmap, Policy, UnknownRule};
use crate::rights::ClassKind;

/// What the profile does with a syscall it does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// Fail it with EPERM (`SCMP_ACT_ERRNO`, `defaultErrnoRet: 1`).
    Errno,
    /// Kill the process (`SCMP_ACT_KILL_PROCESS`, SIGSYS).
    Kill,
    /// Run it and write it to the audit log (`SCMP_ACT_LOG`): for learning
    /// what a container needs beyond the policy.
    Log,
}

/// What the container runtime does between loading the profile and the
/// container's program's first instruction, which the profile must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// A runtime that loads the profile right before it executes the
    /// program: [`RUNTIME`] (`execve`) only.
    Exec,
    /// runc (Docker's and containerd's default; measured with runc 1.1.5):
    /// after loading the profile its init also opens its exec FIFO through
    /// `/proc/self/fd/N` with exactly `O_WRONLY|O_CLOEXEC`, writes to it,
    /// and calls `fstatfs`. The profile then allows `openat` with exactly
    /// those flags: a program of the container can open an *existing* file
    /// write-only with them (no create, truncate or append).
    Runc,
}

/// `O_WRONLY|O_CLOEXEC`: the flags of runc's exec-FIFO open.
pub const RUNC_FIFO_FLAGS: u64 = (libc::O_WRONLY | libc::O_CLOEXEC) as u64;

/// How a profile is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub default_action: DefaultAction,
    /// Allow the `:pycache` classes (and so every writing form of their
    /// syscalls, which seccomp cannot tell apart by path).
    pub pycache: bool,
    pub runtime: Runtime,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            default_action: DefaultAction::Errno,
            pycache: false,
            runtime: Runtime::Runc,
        }
    }
}

/// One architecture and what the profile does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchDecision {
    /// Its name in the profile (`SCMP_ARCH_X86_64`).
    pub scmp: &'static str,
    /// Listed in `architectures` (its syscalls are matched by name).
    pub listed: bool,
    pub why: &'static str,
}

/// The architectures a process on an x86-64 machine can use, and the
/// decision for each. Only the one the policy's syscall table describes is
/// listed; a syscall of an architecture not listed matches no rule of the
/// filter, and libseccomp (used by runc, crun and podman) applies its
/// bad-architecture action: the process is killed.
pub const ARCHITECTURES: &[ArchDecision] = &[
    ArchDecision {
        scmp: "SCMP_ARCH_X86_64",
        listed: true,
        why: "the ABI the policy was learned on (its syscall table is x86-64's)",
    },
    ArchDecision {
        scmp: "SCMP_ARCH_X86",
        listed: false,
        why: "i386 syscalls (int 0x80 from a 64-bit process) have other numbers and \
              multiplexed calls (socketcall, ipc) whose forms the policy never saw",
    },
    ArchDecision {
        scmp: "SCMP_ARCH_X32",
        listed: false,
        why: "the x32 ABI (numbers with bit 30 set) is never used by an x86-64 program",
    },
];

/// What every runtime does after it loaded the profile and before the
/// container's program runs: it executes that program.
pub const RUNTIME: &[&str] = &["execve"];

/// What runc does besides [`RUNTIME`] (see [`Runtime::Runc`]): `write` to
/// the FIFO, `fstatfs`, `close` (and the FIFO's `openat`, a rule of its own).
pub const RUNC: &[&str] = &["write", "fstatfs", "close"];

/// An OCI `linux.seccomp` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<&'static str>,
    pub syscalls: Vec<Rule>,
}

/// One entry of `syscalls`: these names, when every `args` test holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub names: Vec<String>,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    /// Why the rule is what it is (ignored by runtimes; OCI objects take
    /// extra fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One register test: `args[index] op value` (`SCMP_CMP_MASKED_EQ`:
/// `args[index] & value == value_two`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub value_two: u64,
    pub op: &'static str,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Arg {
    fn masked_eq(index: u8, mask: u64, value: u64) -> Arg {
        Arg {
            index: index.into(),
            value: mask,
            value_two: value,
            op: "SCMP_CMP_MASKED_EQ",
        }
    }

    fn cmp(index: u8, op: &'static str, value: u64) -> Arg {
        Arg {
            index: index.into(),
            value,
            value_two: 0,
            op,
        }
    }
}

/// A profile and what it could not say exactly.
#[derive(Debug, Clone)]
pub struct Export {
    pub profile: Profile,
    /// One sentence per approximation or addition (also in the rules'
    /// `comment`s), for stderr.
    pub notes: Vec<String>,
}

/// Why a policy has no useful profile.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{0}: `unknown: allow` lets a module the policy does not name do anything, so the \
         whole-process union is every syscall and a profile would allow everything; set \
         `spec.unknown: base-only` (the default) and list the modules that need more"
    )]
    UnknownAllow(String),
}

/// The whole-process union of `policy` (rights by number), with the
/// harmless set, [`RUNTIME`], `clone3`'s rights given to `clone`, and the
/// `:pycache` classes unless `pycache`.
pub fn union(policy: &Policy, pycache: bool, runtime: Runtime) -> Result<Bitmap, ExportError> {
    let c = policy.compile();
    if c.unknown == UnknownRule::Allow {
        return Err(ExportError::UnknownAllow(policy.metadata.name.clone()));
    }
    let mut u = crate::classes::harmless_bitmap();
    let mut add = |set: &Bitmap| {
        for (w, s) in u.iter_mut().zip(set) {
            *w |= s;
        }
    };
    add(&c.base);
    add(&c.startup);
    add(&c.frameless);
    add(&c.children);
    for (_, set) in &c.programs {
        add(set);
    }
    for (_, set) in c.rules() {
        add(&set);
    }
    let mut set = |r: u32| u[r as usize / 64] |= 1 << (r % 64);
    for name in runtime_names(runtime) {
        set(crate::syscalls::number(name).expect("RUNTIME names x86-64 syscalls"));
    }
    let classes = crate::forms::classes();
    if bitmap_contains(&u, nr::CLONE3) {
        u[nr::CLONE as usize / 64] |= 1 << (nr::CLONE % 64);
    }
    if bitmap_contains(&u, classes.clone3_process) {
        let r = classes.clone_process;
        u[r as usize / 64] |= 1 << (r % 64);
    }
    if !pycache {
        for class in crate::rights::classes().filter(|c| c.kind == ClassKind::Import) {
            u[class.right as usize / 64] &= !(1 << (class.right % 64));
        }
    }
    Ok(u)
}

/// The syscalls `runtime` makes after loading the profile.
fn runtime_names(runtime: Runtime) -> impl Iterator<Item = &'static str> {
    let runc: &[&str] = match runtime {
        Runtime::Exec => &[],
        Runtime::Runc => RUNC,
    };
    RUNTIME.iter().chain(runc).copied()
}

/// The rules for syscall `nr` (called `name`) under union `u`: none (the
/// default action), one unconditional, or conditional ones; plus a note
/// when forms the policy treats differently had to be merged.
fn rules_for(nr: u32, name: &str, u: &Bitmap) -> (Vec<Vec<Arg>>, Option<String>) {
    let has = |r: &u32| bitmap_contains(u, *r);
    let any = |rs: &[u32]| rs.iter().any(has);
    let names = |rs: &[u32]| {
        rs.iter()
            .map(|&r| crate::rights::name(r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Rights merged into one form: allowed when any is, noted when not all.
    let merged = |rs: &[u32], why: &str| -> Option<String> {
        let (yes, no): (Vec<u32>, Vec<u32>) = rs.iter().partition(|r| has(r));
        (!yes.is_empty() && !no.is_empty()).then(|| {
            format!(
                "{name}: allowed in every form because the policy allows {} while {} is \
                 not, and seccomp cannot tell them apart ({why})",
                names(&yes),
                names(&no)
            )
        })
    };
    let whole = vec![vec![]];
    match shape(nr) {
        Shape::Plain => (if has(&nr) { whole } else { vec![] }, None),
        Shape::Opaque(rights) => {
            let why = match nr {
                nr::KILL | nr::TGKILL | nr::TKILL => "the target is compared with the caller",
                nr::CONNECT | nr::BIND | nr::SENDMSG => "the address family is in memory",
                nr::OPENAT2 => "its flags are in memory",
                _ => "the path tells them apart",
            };
            let note = merged(&rights, why);
            (if any(&rights) { whole } else { vec![] }, note)
        }
        Shape::Bits {
            arg,
            mask,
            clear,
            set,
        } => {
            let note = merged(&clear, "the path tells them apart")
                .or_else(|| merged(&set, "the path tells them apart"));
            let rules = match (any(&clear), any(&set)) {
                (true, true) => whole,
                (true, false) => vec![vec![Arg::masked_eq(arg, mask, 0)]],
                // Any bit of the mask set: one rule per bit.
                (false, true) => (0..64)
                    .map(|b| 1u64 << b)
                    .filter(|bit| mask & bit != 0)
                    .map(|bit| vec![Arg::masked_eq(arg, bit, bit)])
                    .collect(),
                (false, false) => vec![],
            };
            (rules, note)
        }
        Shape::Null { arg, zero, nonzero } => {
            let note = merged(&nonzero, "the address family is in memory");
            let rules = match (any(&zero), any(&nonzero)) {
                (true, true) => whole,
                (true, false) => vec![vec![Arg::cmp(arg, "SCMP_CMP_EQ", 0)]],
                (false, true) => vec![vec![Arg::cmp(arg, "SCMP_CMP_NE", 0)]],
                (false, false) => vec![],
            };
            (rules, note)
        }
        Shape::Values { arg, cases, other } => {
            // The kernel reads these arguments as 32-bit ints: compare the
            // low 32 bits only, so that high bits cannot dodge a rule.
            let allowed: Vec<u32> = cases
                .iter()
                .filter(|(_, rs)| any(rs))
                .map(|(v, _)| *v)
                .collect();
            let refused: Vec<u32> = cases
                .iter()
                .filter(|(_, rs)| !any(rs))
                .map(|(v, _)| *v)
                .collect();
            let rules = if any(&other) {
                if refused.is_empty() {
                    whole
                } else {
                    not_in(&refused)
                        .into_iter()
                        .map(|(m, v)| vec![Arg::masked_eq(arg, m, v)])
                        .collect()
                }
            } else {
                allowed
                    .iter()
                    .map(|&v| vec![Arg::masked_eq(arg, 0xffff_ffff, v.into())])
                    .collect()
            };
            (rules, None)
        }
    }
}

/// Patterns `(mask, value)` on the low 32 bits such that `x` is not in
/// `refused` exactly when `x & mask == value` for one of them: the subtrees
/// of the binary trie of `refused` that hold none of it (at most 32 per
/// refused value, disjoint).
fn not_in(refused: &[u32]) -> Vec<(u64, u64)> {
    fn walk(fixed: u32, prefix: u32, values: &[u32], out: &mut Vec<(u64, u64)>) {
        if values.is_empty() {
            let mask = if fixed == 0 {
                0
            } else {
                u32::MAX << (32 - fixed)
            };
            out.push((mask.into(), prefix.into()));
            return;
        }
        if fixed == 32 {
            return;
        }
        let bit = 1u32 << (31 - fixed);
        let (ones, zeros): (Vec<u32>, Vec<u32>) = values.iter().partition(|&&v| v & bit != 0);
        walk(fixed + 1, prefix, &zeros, out);
        walk(fixed + 1, prefix | bit, &ones, out);
    }
    let mut values = refused.to_vec();
    values.sort_unstable();
    values.dedup();
    let mut out = Vec::new();
    walk(0, 0, &values, &mut out);
    out
}

/// The profile of `policy` (see the module's documentation).
pub fn export(policy: &Policy, options: Options) -> Result<Export, ExportError> {
    let u = union(policy, options.pycache, options.runtime)?;
    let mut notes = Vec::new();
    let classes = crate::forms::classes();
    let mut plain: Vec<&str> = Vec::new();
    let mut rules: Vec<Rule> = Vec::new();
    let allow = |names: Vec<String>, args: Vec<Arg>, comment: Option<String>| Rule {
        names,
        action: "SCMP_ACT_ALLOW",
        errno_ret: None,
        args,
        comment,
    };
    let c = policy.compile();
    let listed_by_policy = |r: u32| {
        [c.base, c.startup, c.frameless, c.children]
            .iter()
            .chain(c.programs.iter().map(|(_, s)| s))
            .any(|s| bitmap_contains(s, r))
            || c.rules().any(|(_, s)| bitmap_contains(&s, r))
    };
    for name in runtime_names(options.runtime) {
        let n = crate::syscalls::number(name).expect("RUNTIME names x86-64 syscalls");
        if !listed_by_policy(n) && !crate::classes::HARMLESS.contains(&name) {
            notes.push(format!(
                "{name}: allowed although the policy does not list it: the container runtime \
                 makes it after loading the profile"
            ));
        }
    }
    let mut by_name: Vec<(u32, &str)> = crate::syscalls::all().collect();
    by_name.sort_by_key(|(_, name)| *name);
    for (n, name) in by_name {
        if n == nr::CLONE3 {
            if bitmap_contains(&u, n) && bitmap_contains(&u, classes.clone3_process) {
                plain.push(name);
            } else {
                rules.push(Rule {
                    names: vec![name.into()],
                    action: "SCMP_ACT_ERRNO",
                    errno_ret: Some(libc::ENOSYS as u32),
                    args: vec![],
                    comment: Some(
                        "clone3's flags are in memory: it fails with ENOSYS so that the C \
                         library falls back to clone, whose CLONE_THREAD flag is a register"
                            .into(),
                    ),
                });
            }
            continue;
        }
        let (mut conditions, mut note) = rules_for(n, name, &u);
        if n == nr::OPENAT
            && options.runtime == Runtime::Runc
            && !conditions.iter().any(|c| c.is_empty())
        {
            let fifo = note.get_or_insert_with(|| {
                "openat: runc opens its exec FIFO with exactly O_WRONLY|O_CLOEXEC after \
                 loading the profile, so that open is allowed: a program of the container \
                 can open an existing file write-only with exactly those flags"
                    .to_string()
            });
            if !fifo.contains("exec FIFO") {
                fifo.push_str("; runc's exec FIFO open (O_WRONLY|O_CLOEXEC) is allowed too");
            }
            conditions.push(vec![Arg::cmp(2, "SCMP_CMP_EQ", RUNC_FIFO_FLAGS)]);
        }
        if let Some(note) = &note {
            notes.push(note.clone());
        }
        match conditions.as_slice() {
            [] => {}
            [only] if only.is_empty() && note.is_none() => plain.push(name),
            _ => {
                for args in conditions {
                    rules.push(allow(vec![name.into()], args, note.clone()));
                }
            }
        }
    }
    // Rights the profile cannot name.
    let unnamed: Vec<String> = (0..crate::syscalls::SYSCALL_BITS)
        .filter(|&r| bitmap_contains(&u, r) && crate::syscalls::name(r).is_none())
        .map(crate::rights::name)
        .collect();
    if !unnamed.is_empty() {
        notes.push(format!(
            "left out: {} (numbers without a name in the x86-64 table; a profile names syscalls)",
            unnamed.join(", ")
        ));
    }
    if !policy.spec.arguments.is_empty() {
        notes.push(
            "spec.arguments (the programs, paths and addresses modules may use) cannot be \
             checked by seccomp, which never reads memory: the profile allows those syscalls \
             with any value"
                .into(),
        );
    }
    let pycache_listed = crate::rights::classes()
        .filter(|k| k.kind == ClassKind::Import)
        .any(|k| listed_by_policy(k.right));
    if pycache_listed && !options.pycache {
        notes.push(
            "the import system's writes of compiled modules (the :pycache classes) are left \
             out: seccomp cannot see paths, so allowing them would allow every writing open, \
             mkdir, rename and unlink; CPython goes on without writing the .pyc (--pycache \
             allows them)"
                .into(),
        );
    }
    let mut syscalls = vec![allow(
        plain.iter().map(|s| s.to_string()).collect(),
        vec![],
        None,
    )];
    syscalls.extend(rules);
    let (default_action, default_errno_ret) = match options.default_action {
        DefaultAction::Errno => ("SCMP_ACT_ERRNO", Some(libc::EPERM as u32)),
        DefaultAction::Kill => ("SCMP_ACT_KILL_PROCESS", None),
        DefaultAction::Log => ("SCMP_ACT_LOG", None),
    };
    Ok(Export {
        profile: Profile {
            default_action,
            default_errno_ret,
            architectures: ARCHITECTURES
                .iter()
                .filter(|a| a.listed)
                .map(|a| a.scmp)
                .collect(),
            syscalls,
        },
        notes,
    })
}

impl Profile {
    /// The profile as pretty JSON, with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a profile serializes");
        s.push('\n');
        s
    }

    /// The rules for syscall `name`, in order.
    pub fn rules_for(&self, name: &str) -> Vec<&Rule> {
        self.syscalls
            .iter()
            .filter(|r| r.names.iter().any(|n| n == name))
            .collect()
    }

    /// The profile's decision on syscall `name` with these register
    /// arguments, as libseccomp applies it (first matching rule's action,
    /// else the default): `(action, errno)`.
    pub fn decide(&self, name: &str, args: &[u64; 6]) -> (&'static str, Option<u32>) {
        let holds = |a: &Arg| {
            let x = args[a.index as usize];
            match a.op {
                "SCMP_CMP_MASKED_EQ" => x & a.value == a.value_two,
                "SCMP_CMP_EQ" => x == a.value,
                "SCMP_CMP_NE" => x != a.value,
                other => panic!("the exporter writes no {other}"),
            }
        };
        self.rules_for(name)
            .into_iter()
            .find(|r| r.args.iter().all(holds))
            .map(|r| (r.action, r.errno_ret))
            .unwrap_or((self.default_action, self.default_errno_ret))
    }
}
