//! Rights: what a policy allows, one number each. A right is a syscall (its
//! number, below [`crate::syscalls::SYSCALL_BITS`]) or an **argument class**
//! of one, named `syscall:class` (`openat:write`, `clone:process`,
//! `socket:inet`, `mmap:exec`), numbered above the syscalls.
//!
//! The kernel side classifies every syscall it judges from its register
//! arguments (and, for socket addresses, the family they point to) into one
//! right, and from then on a class is handled exactly like a syscall:
//! bitmaps, traces, reports. The plain name keeps the form no class
//! describes: `openat` opens for reading, `clone` starts a thread, `kill`
//! signals the process itself, `sendto` sends on a connected socket.
//! `socket`, `connect` and `bind` have no plain form: they are always one of
//! their classes.
//!
//! The table is `rights_table.rs`, shared with the BPF code (the engine's
//! build script writes it as `enum si_right`).

/// How a class is treated by the shared sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    /// Never allowed by `base`, `startup` or `frameless`.
    Dangerous,
    /// Told apart and recorded; allowed wherever a policy lists it, `base`
    /// included (`build` treats it like any harmless right).
    Watched,
    /// The import system's own writes of compiled modules (`openat:pycache`,
    /// `mkdir:pycache`, ...): not dangerous, always in the `base` that
    /// `build` writes.
    Import,
}

/// One argument class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgClass {
    /// Its number (at least [`crate::syscalls::SYSCALL_BITS`]).
    pub right: u32,
    pub syscall: &'static str,
    pub class: &'static str,
    pub kind: ClassKind,
    pub description: &'static str,
}

type Row = (u32, &'static str, &'static str, &'static str, &'static str);
const ROWS: &[Row] = include!("rights_table.rs");

/// Number of rights the kernel's bitmaps hold: syscalls and classes.
pub const RIGHT_BITS: u32 = 1024;

/// Every argument class, by number.
pub fn classes() -> impl Iterator<Item = ArgClass> {
    ROWS.iter()
        .map(|&(right, syscall, class, kind, description)| ArgClass {
            right,
            syscall,
            class,
            kind: match kind {
                "dangerous" => ClassKind::Dangerous,
                "watched" => ClassKind::Watched,
                "import" => ClassKind::Import,
                other => panic!("rights_table.rs: unknown kind {other}"),
            },
            description,
        })
}

/// The class numbered `right`.
pub fn class(right: u32) -> Option<ArgClass> {
    classes().find(|c| c.right == right)
}

/// The class called `name` (`openat:write`).
pub fn class_named(name: &str) -> Option<ArgClass> {
    let (syscall, class) = name.split_once(':')?;
    classes().find(|c| c.syscall == syscall && c.class == class)
}

/// The classes of `syscall` (empty if it has none).
pub fn classes_of(syscall: &str) -> impl Iterator<Item = ArgClass> + '_ {
    classes().filter(move |c| c.syscall == syscall)
}

/// The name of right `nr` as policies, traces and reports write it: a
/// syscall name, `syscall_N` for a number the table does not name, or
/// `syscall:class`.
pub fn name(nr: u32) -> String {
    if let Some(c) = class(nr) {
        return format!("{}:{}", c.syscall, c.class);
    }
    crate::syscalls::name(nr)
        .map(str::to_string)
        .unwrap_or_else(|| format!("syscall_{nr}"))
}

/// The right called `name`: a class (`openat:write`) or a syscall name.
pub fn number_of(name: &str) -> Option<u32> {
    match name.split_once(':') {
        Some(_) => class_named(name).map(|c| c.right),
        None => crate::syscalls::number(name),
    }
}

/// The syscall number of right `nr` (`openat`'s for `openat:write`).
pub fn syscall_number(nr: u32) -> u32 {
    class(nr)
        .and_then(|c| crate::syscalls::number(c.syscall))
        .unwrap_or(nr)
}

/// Syscalls that are always one of their classes: the plain name never
/// occurs (`socket`, `connect`, `bind`).
pub const ALWAYS_CLASSED: &[&str] = &["socket", "connect", "bind"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_table_is_consistent() {
        let mut numbers = BTreeSet::new();
        let mut names = BTreeSet::new();
        for c in classes() {
            assert!(c.right >= crate::syscalls::SYSCALL_BITS && c.right < RIGHT_BITS);
            assert!(numbers.insert(c.right), "{} twice", c.right);
            assert!(
                names.insert((c.syscall, c.class)),
                "{}:{} twice",
                c.syscall,
                c.class
            );
            assert!(
                crate::syscalls::number(c.syscall).is_some(),
                "{}",
                c.syscall
            );
            assert!(
                c.class.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                c.class
            );
            assert_eq!(class_named(&format!("{}:{}", c.syscall, c.class)), Some(c));
        }
        for s in ALWAYS_CLASSED {
            assert!(classes_of(s).count() >= 2, "{s}");
        }
    }
}
