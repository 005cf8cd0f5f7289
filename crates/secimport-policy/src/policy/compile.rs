//! A policy compiled for the kernel side: syscall bitmaps and a module lookup
//! whose cost does not grow with the number of entries.
//!
//! Exact names are in a hash map. Globs are grouped by their anchor (the
//! leading components without `*`), so a name `a.b.c` only tests the globs
//! anchored at `a.b.c`, `a.b`, `a` and the empty anchor (`*.tests`, `*`):
//! a handful of hash lookups per name whatever the size of the policy.

use std::collections::HashMap;

use super::{Arguments, Mode, ModulePattern, Policy, SyscallSet, UnknownRule};

/// One bit per right (bit `nr % 64` of word `nr / 64`): syscalls, then
/// argument classes ([`crate::rights::RIGHT_BITS`] bits).
pub type Bitmap = [u64; 16];

/// Rights that are one capability reached through two syscalls: a thread
/// or a process started with `clone` or with `clone3`. The C library uses
/// `clone3` where the kernel has it and falls back to `clone` on ENOSYS,
/// which is what the seccomp backend answers (`clone3` hides its flags
/// behind a pointer), so a policy learned on one backend must mean the same
/// on the other: granting one grants both.
pub const SAME_CAPABILITY: &[(&str, &str)] =
    &[("clone", "clone3"), ("clone:process", "clone3:process")];

/// The bitmap of a set of syscalls (with [`SAME_CAPABILITY`]'s pairs
/// granted together).
pub fn bitmap_of(set: &SyscallSet) -> Bitmap {
    let mut bitmap = [0u64; 16];
    let mut insert = |nr: u32| {
        let nr = nr as usize;
        bitmap[nr / 64] |= 1 << (nr % 64);
    };
    for syscall in set {
        insert(syscall.number());
    }
    for (a, b) in SAME_CAPABILITY {
        let (a, b) = (
            crate::rights::number_of(a).expect("a right of the table"),
            crate::rights::number_of(b).expect("a right of the table"),
        );
        if set.iter().any(|s| s.number() == a || s.number() == b) {
            insert(a);
            insert(b);
        }
    }
    bitmap
}

/// Whether right `nr` is in `bitmap` (false beyond its bits).
pub fn bitmap_contains(bitmap: &Bitmap, nr: u32) -> bool {
    let nr = nr as usize;
    nr < bitmap.len() * 64 && bitmap[nr / 64] & (1 << (nr % 64)) != 0
}

/// What the kernel side needs from a [`Policy`].
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Default action on a violation.
    pub mode: Mode,
    /// How modules no key covers are judged.
    pub unknown: UnknownRule,
    /// `spec.base`.
    pub base: Bitmap,
    /// `spec.startup`.
    pub startup: Bitmap,
    /// `spec.frameless`.
    pub frameless: Bitmap,
    /// `spec.children`.
    pub children: Bitmap,
    /// `spec.programs`: program path -> bitmap.
    pub programs: Vec<(String, Bitmap)>,
    /// Every key in key order, with its bitmap.
    rules: Vec<(String, Bitmap)>,
    /// Exact name -> index in `rules`.
    exact: HashMap<String, usize>,
    /// Anchor -> globs anchored there.
    globs: HashMap<String, Vec<CompiledGlob>>,
    /// Key -> its `spec.arguments` entry.
    arguments: HashMap<String, Arguments>,
}

#[derive(Debug, Clone)]
struct CompiledGlob {
    pattern: ModulePattern,
    specificity: (usize, usize, bool),
    rule: usize,
}

impl Compiled {
    pub(super) fn new(policy: &Policy) -> Compiled {
        let spec = &policy.spec;
        let mut rules = Vec::with_capacity(spec.modules.len());
        let mut exact = HashMap::new();
        let mut globs: HashMap<String, Vec<CompiledGlob>> = HashMap::new();
        for (pattern, syscalls) in &spec.modules {
            let rule = rules.len();
            rules.push((pattern.as_str().to_string(), bitmap_of(syscalls)));
            match pattern.anchor() {
                None => {
                    exact.insert(pattern.as_str().to_string(), rule);
                }
                Some(anchor) => globs.entry(anchor).or_default().push(CompiledGlob {
                    pattern: pattern.clone(),
                    specificity: pattern.specificity(),
                    rule,
                }),
            }
        }
        Compiled {
            mode: spec.mode,
            unknown: spec.unknown,
            base: bitmap_of(&spec.base),
            startup: bitmap_of(&spec.startup),
            frameless: bitmap_of(&spec.frameless),
            children: bitmap_of(&spec.children),
            programs: spec
                .programs
                .iter()
                .map(|(path, set)| (path.clone(), bitmap_of(set)))
                .collect(),
            rules,
            exact,
            globs,
            arguments: spec
                .arguments
                .iter()
                .map(|(key, arguments)| (key.as_str().to_string(), arguments.clone()))
                .collect(),
        }
    }

    /// The `spec.arguments` entry of `key` (a key [`Compiled::rule_for`]
    /// returned): the argument values the rule's rights may use. `None`: no
    /// entry, no kind is restricted.
    pub fn arguments_for(&self, key: &str) -> Option<&Arguments> {
        self.arguments.get(key)
    }

    /// The rule for the module called `module_name`: the key that covers it
    /// (see [`Spec::modules`](super::Spec::modules) for precedence) and its
    /// bitmap; `None` if no key does, and [`Compiled::unknown`] applies.
    pub fn rule_for(&self, module_name: &str) -> Option<(&str, Bitmap)> {
        let rule = self
            .exact
            .get(module_name)
            .copied()
            .or_else(|| self.best_glob(module_name))?;
        let (key, bitmap) = &self.rules[rule];
        Some((key.as_str(), *bitmap))
    }

    fn best_glob(&self, name: &str) -> Option<usize> {
        if self.globs.is_empty() || !super::pattern::is_globbable(name) {
            return None;
        }
        // Anchors are whole-component prefixes of the name: "", "a", "a.b", ...
        let anchors = std::iter::once("")
            .chain(name.match_indices('.').map(|(i, _)| &name[..i]))
            .chain(std::iter::once(name));
        let mut best: Option<&CompiledGlob> = None;
        for anchor in anchors {
            for glob in self.globs.get(anchor).into_iter().flatten() {
                if !glob.pattern.matches(name) {
                    continue;
                }
                let better = best.is_none_or(|b| {
                    glob.specificity > b.specificity
                        || (glob.specificity == b.specificity && glob.pattern < b.pattern)
                });
                if better {
                    best = Some(glob);
                }
            }
        }
        best.map(|g| g.rule)
    }

    /// Every key of `spec.modules` with its bitmap, in key order.
    pub fn rules(&self) -> impl Iterator<Item = (&str, Bitmap)> {
        self.rules.iter().map(|(k, b)| (k.as_str(), *b))
    }

    /// The decision for right `nr` carrying no values, made by a Python
    /// thread whose stacks and inheritance hold the modules `stack` (in any
    /// order); with no module, `started` says whether the interpreter had
    /// run a frame yet. [`Compiled::decide`] in short.
    pub fn allows(&self, stack: &[&str], nr: u32, started: bool) -> bool {
        let judges: Vec<super::Judge> = stack.iter().map(|m| super::Judge::Module(m)).collect();
        let name = crate::rights::name(nr);
        self.decide(&super::Query {
            right: nr,
            right_name: &name,
            who: super::Who::Python {
                judges: &judges,
                started,
            },
            values: &[],
        })
        .allowed
    }

    /// The decision for right `nr` made by a process of the tree that is not
    /// running Python and that `spec.programs` does not name.
    pub fn allows_child(&self, nr: u32) -> bool {
        let name = crate::rights::name(nr);
        self.decide(&super::Query {
            right: nr,
            right_name: &name,
            who: super::Who::Program(None),
            values: &[],
        })
        .allowed
    }
}
