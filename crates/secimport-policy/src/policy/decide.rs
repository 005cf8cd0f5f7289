//! The allow rule, once, in Rust: what every judge of a syscall says about
//! it. The seccomp backend's supervisor decides with it; `run`'s
//! explanations and the tools describe the kernel's verdicts with it. The
//! BPF side (`crates/secimport-engine/src/bpf/lib/decide.h`) implements the
//! same rule in the kernel; `tests/decide.rs` sets out its cases.
//!
//! A syscall, judged as the right it is (its number or an argument class),
//! is allowed when it is in the harmless set, or when every judge allows it:
//!
//! - each module on the calling thread's stacks, and each module it
//!   inherited from the code that created it: a module the policy covers
//!   allows its own list (with the argument values its `spec.arguments`
//!   entry allows, where it restricts that kind) and the base set; one it
//!   does not cover follows `unknown`; what could not be seen (a stack
//!   deeper than the walk limit, an unreadable frame, more than can be
//!   held) counts as an unknown module;
//! - with no module at all, the `startup` bucket (the interpreter had not
//!   run a frame yet) or the `frameless` one;
//! - in a process that is not running Python, its program's `spec.programs`
//!   entry, or `children`.
//!
//! Base, start-up and frameless never allow a dangerous right: only a
//! module's own list, a program's entry or `children` can.

use crate::arguments::{kind_of, Kind};
use crate::classes::{dangerous_bitmap, harmless_bitmap};

use super::compile::{bitmap_contains, Compiled};
use super::UnknownRule;

/// One judge of a syscall made by a Python thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge<'a> {
    /// A module (by its dotted name, or the name the naming rules give a
    /// file outside the import roots).
    Module(&'a str),
    /// Frames that could not be seen: judged as an unknown module.
    Unseen(Unseen),
}

/// What a walk could not see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unseen {
    /// Deeper than the walk limit.
    Truncated,
    /// A frame, file name or thread state that could not be read.
    Unreadable,
    /// More modules, threads or states than can be held.
    Overflow,
}

/// What made a syscall, and what it asked for.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The right: a syscall number or an argument class id.
    pub right: u32,
    /// Its name (`openat:write`): the kind of values it carries.
    pub right_name: &'a str,
    /// Who is judged.
    pub who: Who<'a>,
    /// The syscall's argument values, as traces write them (a path, an
    /// address); empty when the right carries none or none could be read
    /// (then a restricting module denies: an unreadable value matches
    /// nothing).
    pub values: &'a [String],
}

/// Who made the syscall.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// A Python thread: the modules of its stacks and inheritance (any
    /// order), and whether the interpreter had run a frame yet (used only
    /// when there are none).
    Python {
        judges: &'a [Judge<'a>],
        started: bool,
    },
    /// A process that is not running Python: the `spec.programs` key of its
    /// program, if the policy names it.
    Program(Option<&'a str>),
}

/// Why one judge did not allow a right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A covered module whose key's list lacks it (and base does not have
    /// it, or it is dangerous).
    NotListed { key: String },
    /// A covered module that lists it, but not for this value.
    Value { key: String, value: String },
    /// A module no key covers, judged by `unknown`.
    Unknown,
    /// Frames that could not be seen, judged by `unknown`.
    Unseen(Unseen),
    /// No frame: the `startup` or `frameless` bucket lacks it.
    Bucket { started: bool },
    /// A program whose `spec.programs` entry lacks it.
    Program { key: String },
    /// A program the policy does not name: `children` lacks it.
    Children,
}

/// The verdict, with every refusal (the index of the judge in the query's
/// list; 0 for buckets and programs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Whether the right is one base, start-up and frameless never allow.
    pub dangerous: bool,
    pub refusals: Vec<(usize, Refusal)>,
}

impl Compiled {
    /// The decision on one syscall (see the module documentation).
    pub fn decide(&self, q: &Query) -> Decision {
        let dangerous = bitmap_contains(&dangerous_bitmap(), q.right);
        let mut refusals = Vec::new();
        if bitmap_contains(&harmless_bitmap(), q.right) {
            return Decision {
                allowed: true,
                dangerous,
                refusals,
            };
        }
        let in_base = !dangerous && bitmap_contains(&self.base, q.right);
        match q.who {
            Who::Program(key) => {
                let (set, refusal) = match key.and_then(|k| self.program(k)) {
                    Some((k, set)) => (set, Refusal::Program { key: k.to_string() }),
                    None => (self.children, Refusal::Children),
                };
                if !bitmap_contains(&set, q.right) {
                    refusals.push((0, refusal));
                }
            }
            Who::Python {
                judges: [],
                started,
            } => {
                let set = if started {
                    &self.frameless
                } else {
                    &self.startup
                };
                if dangerous || !bitmap_contains(set, q.right) {
                    refusals.push((0, Refusal::Bucket { started }));
                }
            }
            Who::Python { judges, .. } => {
                for (i, judge) in judges.iter().enumerate() {
                    if let Some(refusal) = self.refusal(judge, q, in_base) {
                        refusals.push((i, refusal));
                    }
                }
            }
        }
        Decision {
            allowed: refusals.is_empty(),
            dangerous,
            refusals,
        }
    }

    /// Why `judge` does not allow the query's right, or `None` if it does.
    fn refusal(&self, judge: &Judge, q: &Query, in_base: bool) -> Option<Refusal> {
        let unknown = |refusal: Refusal| match self.unknown {
            UnknownRule::Allow => None,
            UnknownRule::BaseOnly if in_base => None,
            UnknownRule::BaseOnly | UnknownRule::Deny => Some(refusal),
        };
        let name = match judge {
            Judge::Unseen(what) => return unknown(Refusal::Unseen(*what)),
            Judge::Module(name) => *name,
        };
        let Some((key, bitmap)) = self.rule_for(name) else {
            return unknown(Refusal::Unknown);
        };
        if !bitmap_contains(&bitmap, q.right) {
            return (!in_base).then(|| Refusal::NotListed {
                key: key.to_string(),
            });
        }
        // Its own list has the right: with its values, where it restricts them.
        let kind: Option<Kind> = kind_of(q.right_name);
        let restricted = |k: Kind| self.arguments_for(key).is_some_and(|a| a.restricts(k));
        match kind {
            Some(kind) if restricted(kind) => {
                let arguments = self.arguments_for(key).expect("restricted");
                if q.values.is_empty() {
                    return Some(Refusal::Value {
                        key: key.to_string(),
                        value: crate::arguments::UNRESOLVED.to_string(),
                    });
                }
                q.values
                    .iter()
                    .find(|v| !arguments.allows(kind, v))
                    .map(|v| Refusal::Value {
                        key: key.to_string(),
                        value: v.clone(),
                    })
            }
            _ => None,
        }
    }

    /// The `spec.programs` entry called `key`.
    fn program(&self, key: &str) -> Option<(&str, super::Bitmap)> {
        self.programs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(k, set)| (k.as_str(), *set))
    }
}

impl Refusal {
    /// Why, in a sentence for reports (`unknown` is the policy's rule, as
    /// written).
    pub fn explain(&self, unknown: &str) -> String {
        match self {
            Refusal::NotListed { .. } => "its policy entry does not list it".to_string(),
            Refusal::Value { value, .. } => {
                format!("its policy entry lists it, but not with the value {value}")
            }
            Refusal::Unknown => format!("not in the policy (unknown: {unknown})"),
            Refusal::Unseen(Unseen::Truncated) => format!(
                "the stack was deeper than the walk limit; the frames not seen are judged as \
                 an unknown module (unknown: {unknown})"
            ),
            Refusal::Unseen(Unseen::Unreadable) => format!(
                "a frame, file name or thread state could not be read; judged as an unknown \
                 module (unknown: {unknown})"
            ),
            Refusal::Unseen(Unseen::Overflow) => format!(
                "more modules, threads or thread states than can be held; judged as an unknown \
                 module (unknown: {unknown})"
            ),
            Refusal::Bucket { started: false } => {
                "no Python frame before the interpreter ran its first one, and not in the \
                 policy's `startup` set (dangerous syscalls never are)"
                    .to_string()
            }
            Refusal::Bucket { started: true } => {
                "no Python frame on the thread, and not in the policy's `frameless` set \
                 (dangerous syscalls never are)"
                    .to_string()
            }
            Refusal::Program { .. } => "its entry in spec.programs does not list it".to_string(),
            Refusal::Children => "a program that is not Python and that `spec.programs` does \
                                  not name, and not in the policy's `children` set"
                .to_string(),
        }
    }
}
