//! `secimport diff`: what one policy allows that another does not, module by
//! module — a behavioural lockfile for CI.
//!
//! Both sides are [`Policy`] values (a trace is first built into the policy
//! `secimport build` would write, so a trace compares as exactly what a
//! policy built from it allows). The comparison is by what is *allowed*,
//! never by text: a right listed in a module's entry, granted through
//! `base`, or granted by `unknown` counts the same, and a glob entry is
//! compared at the names it covers.
//!
//! **NEW adds** when some (judge, right) or (judge, right, value) is allowed
//! by NEW and not by OLD, where a judge is:
//!
//! - a module: every key of `spec.modules` of either policy (an exact name);
//!   for a glob key (`tinynn.*`), a name only its `*` can match
//!   (`tinynn.~`: the modules it covers that no other key names); and a name
//!   no key names (`(other modules)`, judged by `unknown` unless a glob
//!   such as `*` covers it). Each is judged by the policy's own rule
//!   ([`Compiled::rule_for`]: an exact key beats every glob, then glob
//!   precedence) on each side: its entry plus `base` (dangerous rights
//!   never come from `base`), or `unknown` (`allow`: every right;
//!   `base-only`: `base`; `deny`: nothing);
//! - a thread with no Python frame: `startup`, `frameless` (without the
//!   dangerous rights, which they never allow);
//! - a program that is not Python: each key of `spec.programs` of either
//!   policy (its entry, else `children`), and the programs no key names
//!   (`children`).
//!
//! The fixed harmless set is allowed everywhere and never compared.
//! Argument values are compared for the modules whose rights carry them
//! (`exec`, `write`, `connect`, `bind`): a pattern of NEW is *added* unless
//! one pattern of OLD contains it (`/srv/out/a` is within `/srv/out/*`,
//! `/srv/**` contains `/srv/out/*`, `10.0.0.0/8:*` contains `10.1.2.3:443`);
//! a kind NEW leaves unrestricted where OLD restricted it adds `*` (any
//! value). The check is one pattern against one pattern: a pattern that only
//! several OLD patterns together cover (two /9 networks for a /8) counts as
//! added, never the reverse, so an addition is never missed.
//!
//! What `base` gains is shown once under `base`, not again under every
//! module that gains it through `base`. `mode` and `unknown` changes are
//! shown; a change of `mode` adds no right (it is how a violation is
//! handled, not what is allowed).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::arguments::{kind_of, AddrPattern, Arguments, Kind, PathPattern};
use crate::policy::{Compiled, ModulePattern, Policy, SyscallSet, UnknownRule};

/// What stands for every module that a glob covers and no other key names:
/// the glob with each `*` replaced by this, a character no literal part of a
/// glob can hold (globs are made of identifier characters and `*`), so only
/// a `*` matches it.
pub const GLOB_SAMPLE: &str = "~";

/// The name that stands for modules no key of either policy names.
pub const OTHER_MODULES: &str = "(other modules)";
/// The name that stands for programs no key of `spec.programs` names.
pub const OTHER_PROGRAMS: &str = "(other programs)";

/// A module name no key of either policy names (a glob such as `*` may
/// still cover it).
const UNNAMED_SAMPLE: &str = "~secimport.unnamed~";

/// The JSON Schema of `secimport diff --json` (committed as
/// `schemas/diff.schema.json`), with a trailing newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Diff);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    s.push('\n');
    s
}

/// What `secimport diff --json` prints: what NEW allows that OLD did not
/// (`added`), and what OLD allowed that NEW does not (`dropped`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "secimport diff report")]
pub struct Diff {
    /// The old side, as given.
    pub old: Source,
    /// The new side, as given.
    pub new: Source,
    /// True when NEW allows some (module or program, right[, value]) that
    /// OLD did not: `secimport diff` then exits with status 1.
    pub adds: bool,
    /// True when OLD allowed something NEW does not.
    pub drops: bool,
    /// `spec.mode` when it changed (how violations are handled; never an
    /// added right).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Changed>,
    /// `spec.unknown` when it changed (its effect is in the
    /// `(other modules)` row of `modules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<Changed>,
    /// `spec.base`, without the dangerous rights (never granted by base) and
    /// the harmless set. A right base gains is listed here only, not again
    /// under each module that gains it through base.
    pub base: Change,
    /// `spec.startup` (no Python frame yet), without dangerous rights.
    pub startup: Change,
    /// `spec.frameless` (no Python frame after start-up), without dangerous
    /// rights.
    pub frameless: Change,
    /// Programs that are not Python: each key of `spec.programs` of either
    /// side, and `(other programs)` (`spec.children`). Only rows with a
    /// change or a new or removed entry.
    pub programs: Vec<Row>,
    /// Python modules: each key of `spec.modules` of either side (a glob
    /// row stands for the modules it covers that no other key names), and
    /// `(other modules)`. Only rows with a change or a new or removed entry,
    /// sorted by name.
    pub modules: Vec<Row>,
}

/// One side of a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The file as given on the command line.
    pub path: String,
    /// `policy`, or `trace` (compared as the policy `secimport build` makes
    /// of it).
    pub kind: String,
}

/// A setting that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Changed {
    pub old: String,
    pub new: String,
}

/// How an entry of the policy changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Entry {
    /// The key is in NEW only.
    Added,
    /// The key is in OLD only.
    Removed,
    /// The key is in both (or, for `(other ...)` rows, in neither).
    Kept,
}

/// One module or program row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The key (an exact name, a glob, a program path), or `(other
    /// modules)` / `(other programs)`.
    pub name: String,
    pub entry: Entry,
    /// The key that judges this name in OLD; `null`: OLD's `unknown` (or
    /// `children` for programs).
    pub old_rule: Option<String>,
    /// The key that judges this name in NEW; `null`: NEW's `unknown` (or
    /// `children`).
    pub new_rule: Option<String>,
    #[serde(flatten)]
    pub change: Change,
}

/// What one judge gained and lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Rights NEW allows and OLD did not, sorted (`execve`, `openat:write`).
    pub added: Vec<String>,
    /// Rights OLD allowed and NEW does not, sorted.
    pub dropped: Vec<String>,
    /// NEW allows every right (`unknown: allow`) and OLD did not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub added_any: bool,
    /// OLD allowed every right (`unknown: allow`) and NEW only those of its
    /// list (not listed in `dropped`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub dropped_any: bool,
    /// Argument values, by kind (`exec`, `write`, `connect`, `bind`), for
    /// the kinds whose values changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, ValuesChange>,
    /// For added rights and values: the first violation in the `--violations`
    /// logs that asked for it, with its Python stack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_asked: Vec<Asked>,
}

/// Argument patterns gained and lost for one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValuesChange {
    /// Patterns of NEW that no pattern of OLD contains.
    pub added: Vec<String>,
    /// Patterns of OLD that no pattern of NEW contains.
    pub dropped: Vec<String>,
    /// NEW allows any value of this kind where OLD restricted it (or did
    /// not allow the kind's rights at all).
    #[serde(default, skip_serializing_if = "is_false")]
    pub added_any: bool,
    /// OLD allowed any value where NEW restricts it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dropped_any: bool,
}

/// The first violation of a `run` log that asked for an added right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Asked {
    /// The added right (`execve`, `connect:inet`).
    pub right: String,
    /// With an added value: its kind and the pattern of NEW it matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The value the violation carried (a program, a path, an address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The module (or pseudo-module, or program) of the record's `denied_by`
    /// that this row stands for.
    pub module: String,
    /// `FILE:LINE` of the record in the log.
    pub log: String,
    pub pid: u32,
    pub time: String,
    /// The Python stack, innermost first, as the log has it.
    pub stack: Vec<Frame>,
}

/// One frame of a violation's stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Frame {
    pub module: String,
    pub file: String,
    pub line: Option<u32>,
    pub function: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Change {
    /// True if anything was gained.
    pub fn adds(&self) -> bool {
        self.added_any
            || !self.added.is_empty()
            || self
                .arguments
                .values()
                .any(|v| v.added_any || !v.added.is_empty())
    }

    /// True if anything was lost.
    pub fn drops(&self) -> bool {
        self.dropped_any
            || !self.dropped.is_empty()
            || self
                .arguments
                .values()
                .any(|v| v.dropped_any || !v.dropped.is_empty())
    }

    fn is_empty(&self) -> bool {
        !self.adds() && !self.drops()
    }
}

/// What one judge may do on one side: every right, or a set (without the
/// harmless set).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Any,
    Set(BTreeSet<String>),
}

impl Allowed {
    fn has_kind(&self, kind: Kind) -> bool {
        match self {
            Allowed::Any => true,
            Allowed::Set(set) => set.iter().any(|r| kind_of(r) == Some(kind)),
        }
    }
}

/// The values one judge may use for one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Values {
    /// No right of the kind: no value.
    None,
    /// Unrestricted.
    Any,
    /// These patterns (as policy text, with a containment test).
    Some(Vec<Pattern>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Path(PathPattern),
    Addr(AddrPattern),
}

impl Pattern {
    fn text(&self) -> String {
        match self {
            Pattern::Path(p) => p.to_string(),
            Pattern::Addr(a) => a.to_string(),
        }
    }

    /// Whether every value `inner` matches, `self` matches too.
    fn contains(&self, inner: &Pattern) -> bool {
        match (self, inner) {
            (Pattern::Path(o), Pattern::Path(i)) => path_contains(o, i),
            (Pattern::Addr(o), Pattern::Addr(i)) => addr_contains(o, i),
            _ => false,
        }
    }

    /// Whether a value as a `run` log writes it matches.
    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Path(p) => p.matches(value),
            Pattern::Addr(a) => a.matches_value(value),
        }
    }
}

/// `/a/b/` is `dir` or below it (both directory forms with a trailing `/`).
fn dir_within(inner: &str, dir: &str) -> bool {
    inner.starts_with(dir)
}

/// The directory (with its trailing `/`) an exact path is directly in.
fn parent_dir(path: &str) -> Option<&str> {
    let cut = path.rfind('/')?;
    (path.len() > 1).then(|| &path[..=cut])
}

fn path_contains(outer: &PathPattern, inner: &PathPattern) -> bool {
    use PathPattern::{Children, Exact, Tree};
    match (outer, inner) {
        (Exact(o), Exact(i)) => o == i,
        (Exact(_), _) => false,
        (Children(d), Exact(p)) => parent_dir(p) == Some(d.as_str()),
        (Children(d), Children(e)) => d == e,
        (Children(_), Tree(_)) => false,
        (Tree(_), Exact(p)) => outer.matches(p),
        (Tree(d), Children(e)) | (Tree(d), Tree(e)) => dir_within(e, d),
    }
}

fn addr_contains(outer: &AddrPattern, inner: &AddrPattern) -> bool {
    match (outer, inner) {
        (AddrPattern::Unix(o), AddrPattern::Unix(i)) => path_contains(o, i),
        (AddrPattern::Abstract(o), AddrPattern::Abstract(i)) => o == i,
        (
            AddrPattern::Inet {
                prefix: op,
                port: oport,
                ..
            },
            AddrPattern::Inet {
                addr: ia,
                prefix: ip,
                port: iport,
            },
        ) => {
            let port_ok = match (oport, iport) {
                (None, _) => true,
                (Some(o), Some(i)) => o == i,
                (Some(_), None) => false,
            };
            // A network contains the narrower networks within it; with the
            // port checked above, `matches_inet` checks the family and the
            // network (the port it is given is inner's, or any for `*`).
            port_ok && op <= ip && outer.matches_inet(*ia, iport.or(*oport).unwrap_or(0))
        }
        _ => false,
    }
}

/// One side, compiled, with what it needs to judge samples.
struct SideView<'a> {
    policy: &'a Policy,
    compiled: Compiled,
    /// `base` without dangerous and harmless rights.
    base: BTreeSet<String>,
}

fn names(set: &SyscallSet) -> BTreeSet<String> {
    set.iter().map(|s| s.name().to_string()).collect()
}

fn harmless_names() -> &'static BTreeSet<String> {
    static NAMES: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| names(&crate::classes::harmless()))
}

/// A shared set as it can allow anything: without the harmless set, and,
/// for `base`, `startup` and `frameless`, without dangerous rights.
fn effective(set: &SyscallSet, shared: bool) -> BTreeSet<String> {
    let harmless = harmless_names();
    names(set)
        .into_iter()
        .filter(|n| !(harmless.contains(n) || (shared && crate::classes::is_dangerous(n))))
        .collect()
}

impl<'a> SideView<'a> {
    fn new(policy: &'a Policy) -> SideView<'a> {
        SideView {
            policy,
            compiled: policy.compile(),
            base: effective(&policy.spec.base, true),
        }
    }

    /// The key judging module `name` (`None`: `unknown`), what it allows,
    /// and whether `base` is part of it.
    fn module(&self, name: &str) -> (Option<String>, Allowed, bool) {
        match self.compiled.rule_for(name) {
            Some((key, _)) => {
                let list = self
                    .policy
                    .spec
                    .modules
                    .get(key)
                    .expect("a key of the policy");
                let mut set = effective(list, false);
                set.extend(self.base.iter().cloned());
                (Some(key.to_string()), Allowed::Set(set), true)
            }
            None => match self.policy.spec.unknown {
                UnknownRule::Allow => (None, Allowed::Any, false),
                UnknownRule::BaseOnly => (None, Allowed::Set(self.base.clone()), true),
                UnknownRule::Deny => (None, Allowed::Set(BTreeSet::new()), false),
            },
        }
    }

    /// The values module `name`, judged by `rule`, may use for `kind`.
    fn values(&self, rule: Option<&str>, allowed: &Allowed, kind: Kind) -> Values {
        if !allowed.has_kind(kind) {
            return Values::None;
        }
        let Some(arguments) = rule.and_then(|k| self.compiled.arguments_for(k)) else {
            return Values::Any;
        };
        patterns(arguments, kind)
    }

    /// The program judged by key `path` (`None`: `children`) and its set.
    fn program(&self, path: &str) -> (Option<String>, BTreeSet<String>) {
        match self.policy.spec.programs.get(path) {
            Some(set) => (Some(path.to_string()), effective(set, false)),
            None => (None, effective(&self.policy.spec.children, false)),
        }
    }
}

fn patterns(arguments: &Arguments, kind: Kind) -> Values {
    if let Some(paths) = arguments.paths(kind) {
        return Values::Some(paths.iter().cloned().map(Pattern::Path).collect());
    }
    if let Some(addrs) = arguments.addresses(kind) {
        return Values::Some(addrs.iter().cloned().map(Pattern::Addr).collect());
    }
    Values::Any
}

fn set_change(old: &Allowed, new: &Allowed) -> Change {
    let mut change = Change::default();
    match (old, new) {
        (Allowed::Any, Allowed::Any) => {}
        (Allowed::Set(_), Allowed::Any) => change.added_any = true,
        (Allowed::Any, Allowed::Set(_)) => change.dropped_any = true,
        (Allowed::Set(o), Allowed::Set(n)) => {
            change.added = n.difference(o).cloned().collect();
            change.dropped = o.difference(n).cloned().collect();
        }
    }
    change
}

/// What is in `a` and no pattern of `b` contains.
fn uncovered(a: &[Pattern], b: &[Pattern]) -> Vec<String> {
    a.iter()
        .filter(|p| !b.iter().any(|q| q.contains(p)))
        .map(Pattern::text)
        .collect()
}

fn values_change(old: &Values, new: &Values) -> ValuesChange {
    let mut change = ValuesChange::default();
    let none: Vec<Pattern> = Vec::new();
    let list = |v: &Values| -> Option<Vec<Pattern>> {
        match v {
            Values::None => Some(none.clone()),
            Values::Any => None,
            Values::Some(p) => Some(p.clone()),
        }
    };
    match (list(old), list(new)) {
        (None, None) => {}
        (Some(_), None) => change.added_any = true,
        (None, Some(_)) => change.dropped_any = true,
        (Some(o), Some(n)) => {
            change.added = uncovered(&n, &o);
            change.dropped = uncovered(&o, &n);
        }
    }
    change
}

/// The names compared for modules: every key of either side (a glob by a
/// name only its `*` matches), and a name no key names. Sample -> (row
/// name, entry).
fn module_samples(old: &Policy, new: &Policy) -> BTreeMap<String, (String, Entry)> {
    let keys = |p: &Policy| -> BTreeSet<String> {
        p.spec
            .modules
            .keys()
            .map(|k| k.as_str().to_string())
            .collect()
    };
    let (old_keys, new_keys) = (keys(old), keys(new));
    let mut samples = BTreeMap::new();
    for key in old_keys.union(&new_keys) {
        let entry = match (old_keys.contains(key), new_keys.contains(key)) {
            (true, true) => Entry::Kept,
            (false, true) => Entry::Added,
            _ => Entry::Removed,
        };
        let glob = ModulePattern::parse(key).is_ok_and(|p| p.is_glob());
        let sample = if glob {
            key.replace('*', GLOB_SAMPLE)
        } else {
            key.clone()
        };
        samples.insert(sample, (key.clone(), entry));
    }
    samples.insert(
        UNNAMED_SAMPLE.to_string(),
        (OTHER_MODULES.to_string(), Entry::Kept),
    );
    samples
}

/// What `new` allows that `old` did not, and the reverse (see the module
/// documentation). `old_source` and `new_source` are only recorded.
pub fn diff(old: &Policy, new: &Policy, old_source: Source, new_source: Source) -> Diff {
    let o = SideView::new(old);
    let n = SideView::new(new);
    let base = set_change(&Allowed::Set(o.base.clone()), &Allowed::Set(n.base.clone()));
    let shared = |a: &SyscallSet, b: &SyscallSet| {
        set_change(
            &Allowed::Set(effective(a, true)),
            &Allowed::Set(effective(b, true)),
        )
    };
    let startup = shared(&old.spec.startup, &new.spec.startup);
    let frameless = shared(&old.spec.frameless, &new.spec.frameless);

    let mut modules = Vec::new();
    for (sample, (name, entry)) in module_samples(old, new) {
        let (old_rule, old_allowed, old_base) = o.module(&sample);
        let (new_rule, new_allowed, new_base) = n.module(&sample);
        let mut change = set_change(&old_allowed, &new_allowed);
        // What base gained or lost is shown once, under base.
        if old_base && new_base {
            change.added.retain(|r| !base.added.contains(r));
            change.dropped.retain(|r| !base.dropped.contains(r));
        }
        for kind in Kind::ALL {
            let v = values_change(
                &o.values(old_rule.as_deref(), &old_allowed, kind),
                &n.values(new_rule.as_deref(), &new_allowed, kind),
            );
            if v != ValuesChange::default() {
                change.arguments.insert(kind.as_str().to_string(), v);
            }
        }
        if change.is_empty() && entry == Entry::Kept {
            continue;
        }
        modules.push(Row {
            name,
            entry,
            old_rule,
            new_rule,
            change,
        });
    }
    modules.sort_by(|a, b| a.name.cmp(&b.name));

    let mut programs = Vec::new();
    let old_programs: BTreeSet<&String> = old.spec.programs.keys().collect();
    let new_programs: BTreeSet<&String> = new.spec.programs.keys().collect();
    for path in old_programs.union(&new_programs) {
        let entry = match (old_programs.contains(path), new_programs.contains(path)) {
            (true, true) => Entry::Kept,
            (false, true) => Entry::Added,
            _ => Entry::Removed,
        };
        let (old_rule, old_set) = o.program(path);
        let (new_rule, new_set) = n.program(path);
        let change = set_change(&Allowed::Set(old_set), &Allowed::Set(new_set));
        if change.is_empty() && entry == Entry::Kept {
            continue;
        }
        programs.push(Row {
            name: (*path).clone(),
            entry,
            old_rule,
            new_rule,
            change,
        });
    }
    let children = set_change(
        &Allowed::Set(effective(&old.spec.children, false)),
        &Allowed::Set(effective(&new.spec.children, false)),
    );
    if !children.is_empty() {
        programs.push(Row {
            name: OTHER_PROGRAMS.to_string(),
            entry: Entry::Kept,
            old_rule: None,
            new_rule: None,
            change: children,
        });
    }

    let changed = |a: &str, b: &str| {
        (a != b).then(|| Changed {
            old: a.to_string(),
            new: b.to_string(),
        })
    };
    let mut diff = Diff {
        old: old_source,
        new: new_source,
        adds: false,
        drops: false,
        mode: changed(old.spec.mode.as_str(), new.spec.mode.as_str()),
        unknown: changed(old.spec.unknown.as_str(), new.spec.unknown.as_str()),
        base,
        startup,
        frameless,
        programs,
        modules,
    };
    // Base's own gains count through the modules they reach (a module row
    // keeps them when its sides do not both include base; `(other modules)`
    // and every covered module include base): a gain of base with no module
    // and `unknown: deny` allows nothing new.
    let base_reaches = |p: &SideView| {
        !p.policy.spec.modules.is_empty() || p.policy.spec.unknown == UnknownRule::BaseOnly
    };
    let base_adds = diff.base.adds() && base_reaches(&n);
    diff.adds = base_adds
        || diff.startup.adds()
        || diff.frameless.adds()
        || diff
            .modules
            .iter()
            .chain(&diff.programs)
            .any(|r| r.change.adds());
    diff.drops = diff.base.drops()
        || diff.startup.drops()
        || diff.frameless.drops()
        || diff
            .modules
            .iter()
            .chain(&diff.programs)
            .any(|r| r.change.drops());
    diff
}

/// One violation of a `run` log, as far as [`attach`] needs it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// `FILE:LINE` in the log.
    pub log: String,
    pub right: String,
    pub denied_by: Vec<String>,
    /// (kind, value) pairs.
    pub arguments: Vec<(String, String)>,
    pub pid: u32,
    pub time: String,
    pub stack: Vec<Frame>,
}

/// Pseudo-modules of a `run` log that stand for something other than a
/// module (what no frame or an unseen frame made, or a program).
const BUCKETS: &[&str] = &[
    "<startup>",
    "<frameless>",
    "<non-python>",
    "<truncated>",
    "<unreadable>",
    "<overflow>",
];

/// Adds to each row with added rights or values the first violation (in
/// log order) that asked for each, with its stack: one whose right is the
/// added right and whose `denied_by` names a module that row stands for
/// (for a value, one whose value the added pattern matches). `new` is the
/// new policy (to tell which rows stand for which names).
pub fn attach(diff: &mut Diff, old: &Policy, new: &Policy, violations: &[Violation]) {
    let o = old.compile();
    let n = new.compile();
    let named = |m: &str| o.rule_for(m).is_some() || n.rule_for(m).is_some();
    let exact_keys: std::collections::HashSet<&str> = old
        .spec
        .modules
        .keys()
        .chain(new.spec.modules.keys())
        .filter(|k| !k.is_glob())
        .map(ModulePattern::as_str)
        .collect();
    let exact_key = |m: &str| exact_keys.contains(m);
    let program = |m: &str| old.spec.programs.contains_key(m) || new.spec.programs.contains_key(m);
    // Does module `m` of a log belong to the row called `row`?
    let module_row = |row: &str, m: &str| -> bool {
        if program(m) {
            return false;
        }
        if row == OTHER_MODULES {
            // What could not be seen is judged as an unknown module.
            return matches!(m, "<truncated>" | "<unreadable>" | "<overflow>")
                || (!BUCKETS.contains(&m) && !named(m));
        }
        if BUCKETS.contains(&m) {
            return false;
        }
        match ModulePattern::parse(row) {
            Ok(p) if p.is_glob() => p.matches(m) && !exact_key(m),
            _ => row == m,
        }
    };
    // A program OLD does not name is `<non-python>` in a log of a run
    // under OLD.
    let program_row = |row: &str, old_named: bool, m: &str| -> bool {
        m == row || (!old_named && m == "<non-python>")
    };
    for row in &mut diff.modules {
        let rule = n.rule_for(&sample_of(row)).map(|(k, _)| k.to_string());
        let arguments = rule.as_deref().and_then(|k| n.arguments_for(k)).cloned();
        fill(&mut row.change, violations, arguments.as_ref(), |m| {
            module_row(&row.name, m)
        });
    }
    for row in &mut diff.programs {
        let old_named = old.spec.programs.contains_key(&row.name);
        fill(&mut row.change, violations, None, |m| {
            program_row(&row.name, old_named, m)
        });
    }
    fill(&mut diff.startup, violations, None, |m| m == "<startup>");
    fill(&mut diff.frameless, violations, None, |m| {
        m == "<frameless>"
    });
    fill(&mut diff.base, violations, None, |m| {
        !BUCKETS.contains(&m) && !program(m)
    });
}

/// The name a module row was judged at.
fn sample_of(row: &Row) -> String {
    if row.name == OTHER_MODULES {
        return UNNAMED_SAMPLE.to_string();
    }
    match ModulePattern::parse(&row.name) {
        Ok(p) if p.is_glob() => row.name.replace('*', GLOB_SAMPLE),
        _ => row.name.clone(),
    }
}

fn fill(
    change: &mut Change,
    violations: &[Violation],
    arguments: Option<&Arguments>,
    belongs: impl Fn(&str) -> bool,
) {
    let first = |right: Option<&str>, kind: Option<Kind>, pattern: Option<&Pattern>| {
        violations.iter().find_map(|v| {
            if right.is_some_and(|r| r != v.right) {
                return None;
            }
            if let Some(k) = kind {
                if kind_of(&v.right) != Some(k) {
                    return None;
                }
            }
            let module = v.denied_by.iter().find(|m| belongs(m))?;
            let value = match (kind, pattern) {
                (Some(k), Some(p)) => Some(
                    v.arguments
                        .iter()
                        .find(|(kk, val)| kk == k.as_str() && p.matches(val))?
                        .1
                        .clone(),
                ),
                (Some(k), None) => v
                    .arguments
                    .iter()
                    .find(|(kk, _)| kk == k.as_str())
                    .map(|(_, val)| val.clone()),
                // The value the right itself carries, if it carries one.
                _ => kind_of(&v.right).and_then(|k| {
                    v.arguments
                        .iter()
                        .find(|(kk, _)| kk == k.as_str())
                        .map(|(_, val)| val.clone())
                }),
            };
            Some(Asked {
                right: v.right.clone(),
                pattern: pattern.map(Pattern::text),
                value,
                module: module.clone(),
                log: v.log.clone(),
                pid: v.pid,
                time: v.time.clone(),
                stack: v.stack.clone(),
            })
        })
    };
    let mut asked = Vec::new();
    for right in &change.added {
        asked.extend(first(Some(right), None, None));
    }
    for (kind_name, values) in &change.arguments {
        let Some(kind) = Kind::from_name(kind_name) else {
            continue;
        };
        if values.added_any {
            asked.extend(first(None, Some(kind), None));
        }
        for text in &values.added {
            let pattern = match arguments.and_then(|a| find_pattern(a, kind, text)) {
                Some(p) => p,
                None => continue,
            };
            asked.extend(first(None, Some(kind), Some(&pattern)));
        }
    }
    if change.added_any {
        // Every right: the first violation of this judge.
        asked.extend(first(None, None, None));
    }
    // One entry per log record (a right's record already names its value).
    let mut seen = BTreeSet::new();
    asked.retain(|a| seen.insert(a.log.clone()));
    change.first_asked = asked;
}

fn find_pattern(arguments: &Arguments, kind: Kind, text: &str) -> Option<Pattern> {
    match patterns(arguments, kind) {
        Values::Some(list) => list.into_iter().find(|p| p.text() == text),
        _ => None,
    }
}
