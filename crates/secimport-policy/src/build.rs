//! `secimport build`: a trace becomes a policy.
//!
//! A pure function: the same trace and options give the same policy, byte for
//! byte once written. What was seen becomes what is allowed:
//!
//! - `startup` = the start-up bucket (no Python frame yet: the loader and
//!   interpreter start-up), `frameless` = syscalls with no Python frame
//!   afterwards (atexit C callbacks, finalizers, native threads), both without
//!   the dangerous syscalls (see [`crate::classes`]): those are never allowed
//!   with no frame, whatever the trace saw; [`dropped_from_shared`] lists them;
//! - `base` = the start-up vocabulary and what the import machinery does
//!   ([`IMPORT_MACHINERY`]), granted to every module (the interpreter itself
//!   reads and stats files, lists directories, maps native code, ...),
//!   without the dangerous rights;
//! - `programs` = what each non-Python program of the tree did (by path),
//!   `children` = what the others did (an older trace's bucket, programs
//!   run from random temporary paths);
//! - `modules` = each traced module -> the syscalls made while it was on the
//!   stack or inherited by the thread (counts dropped);
//! - unless `exact`, every set is widened by [`crate::groups`]: a module seen
//!   using `stat` may `statx`, one seen using `wait4` may `waitid` (groups
//!   never hold a dangerous right);
//! - a module whose name still holds a random temporary component (see
//!   [`crate::naming::has_random_temp_component`]) gets no entry: it would
//!   never match again; `omissions` names it;
//! - optionally, packages whose modules all did the same are merged into one
//!   `pkg.*` entry, which also covers modules of the package the trace did not
//!   see;
//! - `arguments` = for each module entry whose rights carry values (see
//!   [`crate::arguments::kind_of`]), the values the trace saw, generalized
//!   ([`generalize_path`], [`generalize_address`]): a program it executed by
//!   its exact path; a path it wrote by its directory (`/srv/out/*`,
//!   `/app/__pycache__/*`), or the whole temporary root it lies under
//!   (`/tmp/**`); a loopback or unspecified address with any port, another
//!   address exactly. A kind whose rights it used but for which the trace
//!   has no value (an older trace) is left unrestricted; a `pkg.*` entry
//!   gets the union of its modules' values. [`omissions`] names what gives
//!   no pattern.
//!
//! The fixed harmless set is never listed in the shared sets (it is allowed whatever the stack; `trace`
//! does not even record it).
//! The `truncated` and `unreadable` buckets are not used: such syscalls are
//! judged as made by an unknown module.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::arguments::{AddrPattern, AddrValue, Arguments, Kind, PathPattern};
use crate::policy::{
    GeneratedFrom, Metadata, Mode, ModulePattern, Policy, Spec, Syscall, SyscallSet, UnknownRule,
};
use crate::trace::{ModuleTrace, SyscallCounts, Trace};

/// How to build a policy from a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Merge the modules of a package into one `pkg.*` entry when they all
    /// made the same syscalls (at least two of them).
    pub group_packages: bool,
    /// `spec.mode` of the policy.
    pub mode: Mode,
    /// `spec.unknown` of the policy.
    pub unknown: UnknownRule,
    /// `metadata.name`; by default the entry script's name without `.py`.
    pub name: Option<String>,
    /// Keep the syscall names as traced: no generalization by
    /// [`crate::groups`] (`build --exact`).
    pub exact: bool,
}

/// Plain syscalls the import system makes when it writes a compiled module
/// (besides its classes of [`crate::rights`]): always in `base`.
pub const IMPORT_WRITES: &[&str] = &["write"];

/// The modules of the import system itself: every import runs them, so what
/// they do (list directories, stat and read sources, check for a terminal)
/// is part of every module's vocabulary, and goes to `base` (without the
/// dangerous rights: writing `__pycache__` stays with the modules that did
/// it).
pub const IMPORT_MACHINERY: &[&str] = &[
    "<frozen importlib._bootstrap>",
    "<frozen importlib._bootstrap_external>",
    "<frozen zipimport>",
    "importlib._bootstrap",
    "importlib._bootstrap_external",
    "zipimport",
];

/// The policy that allows what `trace` saw.
///
/// Syscall names a policy cannot hold (see [`unusable_syscalls`]) are left
/// out, and so is a module whose name would read as a glob (a `*` in a name
/// that is neither a pseudo-name nor a path); [`omissions`] lists them. Any
/// other name, however long or strange, gets its entry: the policy written
/// as YAML or JSON reads back as the same policy.
pub fn build(trace: &Trace, opts: &BuildOptions) -> Policy {
    let general = |set: SyscallSet| {
        if opts.exact {
            set
        } else {
            crate::groups::generalize_syscalls(&set)
        }
    };
    let modules: BTreeMap<&str, SyscallSet> = trace
        .modules
        .iter()
        .filter(|(name, _)| !crate::naming::has_random_temp_component(name))
        .map(|(name, module)| (name.as_str(), general(syscall_set(&module.syscalls))))
        .collect();
    let mut base = shared_set(&trace.buckets.startup);
    // Writing compiled modules is what any import may do when the cache is
    // cold, whether or not the traced run found it warm: the import
    // system's classes (`openat:pycache`, `mkdir:pycache`, ...) and the
    // `write` of the data to the file it opened.
    base.extend(
        crate::rights::classes()
            .filter(|c| c.kind == crate::rights::ClassKind::Import)
            .filter_map(|c| Syscall::from_number(c.right))
            .chain(IMPORT_WRITES.iter().filter_map(|n| Syscall::parse(n))),
    );
    for name in IMPORT_MACHINERY {
        if let Some(module) = trace.modules.get(*name) {
            base.extend(shared_set(&module.syscalls));
        }
    }
    let keys = if opts.group_packages {
        group_keys(&modules)
    } else {
        modules
            .keys()
            .filter_map(|&name| Some((name, exact(name)?)))
            .collect()
    };
    let temp_roots = temp_roots();
    let mut arguments: BTreeMap<ModulePattern, Arguments> = BTreeMap::new();
    let mut entries: BTreeMap<ModulePattern, SyscallSet> = BTreeMap::new();
    for (name, key) in keys {
        entries.insert(key.clone(), modules[name].clone());
        let Some(module) = trace.modules.get(name) else {
            continue;
        };
        let Some((values, _)) = module_arguments(name, module, &temp_roots) else {
            continue;
        };
        match arguments.entry(key) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(values);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().union(&values),
        }
    }
    arguments.retain(|_, a| !a.is_empty());
    let modules = entries;
    Policy {
        api_version: Default::default(),
        kind: Default::default(),
        metadata: Metadata {
            name: opts.name.clone().unwrap_or_else(|| entry_name(trace)),
            description: None,
            generated_from: Some(GeneratedFrom {
                command: trace.command.clone(),
                interpreter: non_empty(&trace.interpreter.executable),
                python_version: non_empty(&trace.interpreter.version),
            }),
        },
        spec: Spec {
            mode: opts.mode,
            unknown: opts.unknown,
            base: general(base),
            startup: general(shared_set(&trace.buckets.startup)),
            frameless: general(shared_set(&trace.buckets.frameless)),
            // Programs run from random temporary paths would never match
            // again by name: what they did goes to `children`.
            children: trace
                .programs
                .iter()
                .filter(|(path, _)| crate::naming::has_random_temp_component(path))
                .fold(
                    syscall_set(&trace.buckets.non_python),
                    |mut set, (_, counts)| {
                        set.extend(syscall_set(counts));
                        set
                    },
                ),
            programs: trace
                .programs
                .iter()
                .filter(|(path, _)| !crate::naming::has_random_temp_component(path))
                .map(|(path, counts)| (path.clone(), general(syscall_set(counts))))
                .collect(),
            modules,
            arguments,
        },
    }
}

/// Dangerous syscalls the trace saw with no Python frame, which `build` does
/// not put in `startup`/`frameless` (so `run` will report them), by bucket.
pub fn dropped_from_shared(trace: &Trace) -> Vec<(&'static str, Vec<String>)> {
    [
        ("startup", &trace.buckets.startup),
        ("frameless", &trace.buckets.frameless),
    ]
    .into_iter()
    .map(|(bucket, counts)| {
        let names = counts
            .keys()
            .filter(|n| crate::classes::is_dangerous(n))
            .cloned()
            .collect::<Vec<_>>();
        (bucket, names)
    })
    .filter(|(_, names)| !names.is_empty())
    .collect()
}

/// Something in a trace that [`build`] leaves out of the policy, so that
/// the caller can warn about it: nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Omitted {
    /// Syscall names a policy cannot hold (not in the table, or a number
    /// beyond the bitmap), with where the trace had them: ``module `json` ``,
    /// `the startup bucket`, ...
    UnknownSyscalls { place: String, names: Vec<String> },
    /// A traced module that gets no entry because its name would read as a
    /// glob (a `*` in a name that is neither a pseudo-name nor a path); `run`
    /// judges it by `spec.unknown`.
    Module { name: String },
    /// A traced module named by a path with a random temporary component
    /// (`/tmp/tmpk3j2h1x0/x.py`): an entry would never match again.
    TemporaryModule { name: String },
    /// Syscalls whose stack could not be seen whole (`truncated`) or read
    /// (`unreadable`): no entry can allow them; `run` judges them as made by
    /// an unknown module.
    Unattributed {
        bucket: &'static str,
        names: Vec<String>,
    },
    /// Argument values of a module that give no pattern: paths the kernel
    /// side could not build ([`crate::arguments::UNRESOLVED`]), addresses
    /// neither inet nor unix (`other`), values no pattern can hold (a path
    /// with a `*`, or longer than [`crate::arguments::MAX_PATTERN_BYTES`]).
    /// The kind stays restricted to the other values' patterns: `run` will
    /// refuse these for that module.
    ArgumentsWithoutPattern {
        module: String,
        kind: Kind,
        values: Vec<String>,
    },
    /// Kinds whose rights a module used but for which the trace recorded no
    /// value (a trace from before values were recorded): `spec.arguments`
    /// leaves them unrestricted for that module.
    UnrestrictedArguments { module: String, kinds: Vec<Kind> },
    /// Argument kinds in the trace that this version does not know.
    UnknownArgumentKinds { module: String, kinds: Vec<String> },
}

impl std::fmt::Display for Omitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Omitted::UnknownSyscalls { place, names } => write!(
                f,
                "left out {} syscall name(s) of {place} that are not x86-64 syscalls a policy can \
                 hold: {}",
                names.len(),
                list(names)
            ),
            Omitted::Module { name } => write!(
                f,
                "left out module {}: its name has a `*`, so as a key of spec.modules it would be \
                 a glob; `run` judges it by spec.unknown",
                quoted(name)
            ),
            Omitted::TemporaryModule { name } => write!(
                f,
                "left out module {}: its path has a random temporary component, so no later run \
                 would have the same name; `run` judges such modules by spec.unknown (give the \
                 code a stable place, or a key that covers it)",
                quoted(name)
            ),
            Omitted::Unattributed { bucket, names } => {
                let why = match *bucket {
                    "truncated" => "with stacks deeper than the walk limit",
                    _ => "with frames or thread states that could not be read",
                };
                write!(
                    f,
                    "the trace saw {} {why} ({bucket}); no entry can allow them: `run` judges \
                     them as made by an unknown module (spec.unknown)",
                    list(names)
                )
            }
            Omitted::ArgumentsWithoutPattern {
                module,
                kind,
                values,
            } => write!(
                f,
                "module {}: {} {kind} value(s) the trace saw give no pattern: {} ({} is a path \
                 the kernel side could not build, `{}` an address neither inet nor unix; a path \
                 with a `*` or longer than {} bytes cannot be written); `run` will refuse them \
                 for this module",
                quoted(module),
                values.len(),
                list(values),
                crate::arguments::UNRESOLVED,
                crate::arguments::OTHER_ADDRESS,
                crate::arguments::MAX_PATTERN_BYTES,
            ),
            Omitted::UnrestrictedArguments { module, kinds } => {
                let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                write!(
                    f,
                    "module {} used {} rights but the trace recorded no values for them (a trace \
                     from an older secimport?); spec.arguments leaves its {} unrestricted: trace \
                     again to restrict them",
                    quoted(module),
                    kinds.join(", "),
                    kinds.join(", ")
                )
            }
            Omitted::UnknownArgumentKinds { module, kinds } => write!(
                f,
                "left out argument kind(s) {} of module {}: this secimport knows exec, write, \
                 connect and bind",
                list(kinds),
                quoted(module)
            ),
        }
    }
}

/// A name as it can be shown on one line of a message: quoted, escaped and,
/// past 120 characters, cut (saying how long it is).
pub fn quoted(name: &str) -> String {
    const SHOWN: usize = 120;
    let count = name.chars().count();
    if count <= SHOWN {
        return format!("{name:?}");
    }
    let cut: String = name.chars().take(SHOWN).collect();
    format!("{cut:?}... ({count} characters)")
}

/// Names for a message, each [`quoted`] if it needs to be; past 20 names,
/// how many more.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let more = names.len().saturating_sub(SHOWN);
    let shown = names
        .iter()
        .take(SHOWN)
        .map(|n| {
            let plain = !n.is_empty()
                && n.len() <= 120
                && n.chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != ',');
            if plain {
                n.clone()
            } else {
                quoted(n)
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    match more {
        0 => shown,
        n => format!("{shown} and {n} more"),
    }
}

/// Everything in `trace` that [`build`] leaves out of the policy, besides
/// the dangerous syscalls seen with no frame ([`dropped_from_shared`]):
/// unknown syscall names by place, modules whose name cannot be a key, and
/// the buckets no policy entry can allow. Empty for a trace `secimport trace`
/// wrote of an ordinary program.
pub fn omissions(trace: &Trace) -> Vec<Omitted> {
    let unknown = |counts: &SyscallCounts| -> Vec<String> {
        counts
            .keys()
            .filter(|n| Syscall::parse(n).is_none())
            .cloned()
            .collect()
    };
    let temp_roots = temp_roots();
    let mut out = Vec::new();
    for (bucket, counts) in [
        ("startup", &trace.buckets.startup),
        ("frameless", &trace.buckets.frameless),
        ("non_python", &trace.buckets.non_python),
    ] {
        let names = unknown(counts);
        if !names.is_empty() {
            out.push(Omitted::UnknownSyscalls {
                place: format!("the {bucket} bucket"),
                names,
            });
        }
    }
    for (name, module) in &trace.modules {
        if exact(name).is_none() {
            out.push(Omitted::Module { name: name.clone() });
            continue;
        }
        if crate::naming::has_random_temp_component(name) {
            out.push(Omitted::TemporaryModule { name: name.clone() });
            continue;
        }
        let names = unknown(&module.syscalls);
        if !names.is_empty() {
            out.push(Omitted::UnknownSyscalls {
                place: format!("module {}", quoted(name)),
                names,
            });
        }
        let unknown_kinds: Vec<String> = module
            .arguments
            .keys()
            .filter(|k| Kind::from_name(k).is_none())
            .cloned()
            .collect();
        if !unknown_kinds.is_empty() {
            out.push(Omitted::UnknownArgumentKinds {
                module: name.clone(),
                kinds: unknown_kinds,
            });
        }
        if let Some((_, omitted)) = module_arguments(name, module, &temp_roots) {
            out.extend(omitted);
        }
    }
    for (bucket, counts) in [
        ("truncated", &trace.buckets.truncated),
        ("unreadable", &trace.buckets.unreadable),
    ] {
        if !counts.is_empty() {
            out.push(Omitted::Unattributed {
                bucket,
                names: counts.keys().cloned().collect(),
            });
        }
    }
    out
}

/// Syscall names in the buckets and modules `build` uses that a policy cannot
/// hold (a number beyond the 512-bit bitmap, or a name not in the table), so
/// that the caller can warn about them.
pub fn unusable_syscalls(trace: &Trace) -> BTreeSet<String> {
    std::iter::once(&trace.buckets.startup)
        .chain(std::iter::once(&trace.buckets.frameless))
        .chain(std::iter::once(&trace.buckets.non_python))
        .chain(trace.modules.values().map(|m| &m.syscalls))
        .flat_map(|counts| counts.keys())
        .filter(|name| Syscall::parse(name).is_none())
        .cloned()
        .collect()
}

fn syscall_set(counts: &SyscallCounts) -> SyscallSet {
    counts.keys().filter_map(|n| Syscall::parse(n)).collect()
}

/// A set that applies whatever the module: what was seen, without the fixed
/// harmless set (always allowed) and the dangerous syscalls (never allowed).
fn shared_set(counts: &SyscallCounts) -> SyscallSet {
    let harmless = crate::classes::harmless();
    syscall_set(counts)
        .into_iter()
        .filter(|s| !crate::classes::is_dangerous(s.name()) && !harmless.contains(s))
        .collect()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The exact key for a traced module. Pseudo-names and paths are exact names
/// even with a `*`; any other name with a `*` (a relative file name outside
/// every import root, in practice never) would read as a glob, so it gets no
/// key and is judged by `spec.unknown`.
fn exact(name: &str) -> Option<ModulePattern> {
    ModulePattern::parse(name).ok().filter(|p| !p.is_glob())
}

/// The policy's default name: the entry script (`__main__`'s file, else the
/// script or `-m` module of the command) without `.py`, else `policy`.
fn entry_name(trace: &Trace) -> String {
    let script = trace
        .modules
        .get("__main__")
        .and_then(|m| m.files.first())
        .map(String::as_str)
        .or_else(|| command_target(&trace.command));
    script
        .map(|s| s.rsplit('/').next().unwrap_or(s))
        .map(|s| s.strip_suffix(".py").unwrap_or(s))
        .filter(|s| !s.is_empty())
        .unwrap_or("policy")
        .to_string()
}

/// The script or `-m` module a `python [options] target args` command runs.
fn command_target(command: &[String]) -> Option<&str> {
    match crate::naming::entry_of(command.get(1..).unwrap_or(&[])) {
        crate::naming::Entry::Script(s) | crate::naming::Entry::Module(s) => Some(s),
        crate::naming::Entry::Other => None,
    }
}

/// The key of each module: its exact name, except that a package all of
/// whose traced modules (at least two) made the same syscalls becomes one
/// `pkg.*` entry, choosing the outermost such package. `__main__`,
/// pseudo-names and paths are never grouped. Argument values play no part:
/// the entry gets the union of its modules' values.
fn group_keys<'a>(modules: &BTreeMap<&'a str, SyscallSet>) -> Vec<(&'a str, ModulePattern)> {
    // For every package prefix: how many modules lie under it and whether
    // they all made the same syscalls (as the first one seen).
    struct Package<'a> {
        count: usize,
        first: &'a SyscallSet,
        uniform: bool,
    }
    let mut packages: HashMap<&str, Package> = HashMap::new();
    for (&name, set) in modules {
        for prefix in package_prefixes(name) {
            packages
                .entry(prefix)
                .and_modify(|p| {
                    p.count += 1;
                    p.uniform &= p.first == set;
                })
                .or_insert(Package {
                    count: 1,
                    first: set,
                    uniform: true,
                });
        }
    }
    let mut out = Vec::new();
    for &name in modules.keys() {
        // Prefixes come outermost first.
        let group = package_prefixes(name).find(|prefix| {
            packages
                .get(prefix)
                .is_some_and(|p| p.count >= 2 && p.uniform)
        });
        let key = match group {
            Some(prefix) => ModulePattern::parse(&format!("{prefix}.*"))
                .expect("a prefix of identifiers makes a valid glob"),
            None => match exact(name) {
                Some(key) => key,
                None => continue,
            },
        };
        out.push((name, key));
    }
    out
}

/// The temporary roots paths written below are generalized to:
/// [`crate::naming::STANDARD_TEMP_ROOTS`] and this process's `$TMPDIR`,
/// `$TEMP` and `$TMP` ([`crate::naming::env_temp_dirs`]), normalized,
/// absolute ones only, `/` left out, shortest first.
pub fn temp_roots() -> Vec<String> {
    crate::naming::env_temp_roots()
}

/// The pattern `build` writes for a path a module wrote (or a unix socket
/// path it used), normalized lexically first: below a temporary root (the
/// shortest of `temp_roots` that holds it) the whole root (`/tmp/**`); a
/// `__pycache__` directory itself exactly (`mkdir`); any other path the
/// entries of its directory (`/srv/out/*`, which allows its siblings;
/// `/app/__pycache__/*` for a compiled module). `None` for what is
/// not an absolute path ([`crate::arguments::UNRESOLVED`]) and for paths no
/// pattern can hold (a `*` in a directory name, too long).
pub fn generalize_path(path: &str, temp_roots: &[String]) -> Option<PathPattern> {
    if !path.starts_with('/') {
        return None;
    }
    let path = crate::naming::normalize(path);
    let below = |root: &str| {
        path.strip_prefix(root)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    };
    let text = if let Some(root) = temp_roots.iter().find(|root| below(root)) {
        format!("{root}/**")
    } else if path == "/" || path.ends_with("/__pycache__") {
        path.clone()
    } else {
        // A compiled module, `/app/__pycache__/m.cpython-311.pyc`, gives
        // `/app/__pycache__/*` like any other file.
        match &path[..path.rfind('/').unwrap_or(0)] {
            "" => "/*".to_string(),
            dir => format!("{dir}/*"),
        }
    };
    text.parse().ok()
}

/// The pattern `build` writes for an address a module connected or sent to,
/// or bound, as traces write it ([`AddrValue`]): a loopback (127.0.0.0/8,
/// `::1`) or unspecified address with any port (ephemeral ports differ from
/// run to run), another inet address exactly (an IPv4-mapped IPv6 address
/// as IPv4); a unix socket path generalized like a written path
/// ([`generalize_path`]); an abstract socket exactly. `None` for `other` and
/// what no pattern can hold.
pub fn generalize_address(value: &str, temp_roots: &[String]) -> Option<AddrPattern> {
    let pattern = match AddrValue::parse(value)? {
        AddrValue::Inet(ip, port) => {
            let ip = match ip {
                std::net::IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
                v4 => v4,
            };
            let any_port = ip.is_loopback() || ip.is_unspecified();
            AddrPattern::Inet {
                addr: ip,
                prefix: if ip.is_ipv4() { 32 } else { 128 },
                port: (!any_port).then_some(port),
            }
        }
        AddrValue::Unix(path) => AddrPattern::Unix(generalize_path(&path, temp_roots)?),
        AddrValue::Abstract(name) => AddrPattern::Abstract(name),
        AddrValue::Other => return None,
    };
    // Only what reads back as itself.
    pattern.to_string().parse().ok()
}

/// What `build` makes of one traced module's argument values: `None` when
/// its rights carry no value (no entry); else the entry (empty when no kind
/// can be restricted) and what is left out (see [`Omitted`]).
fn module_arguments(
    name: &str,
    module: &ModuleTrace,
    temp_roots: &[String],
) -> Option<(Arguments, Vec<Omitted>)> {
    let kinds: BTreeSet<Kind> = module
        .syscalls
        .keys()
        .filter(|n| Syscall::parse(n).is_some())
        .filter_map(|n| crate::arguments::kind_of(n))
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut arguments = Arguments::default();
    let mut omitted = Vec::new();
    let mut unrestricted = Vec::new();
    for kind in kinds {
        let values = module
            .arguments
            .get(kind.as_str())
            .filter(|v| !v.is_empty());
        let Some(values) = values else {
            unrestricted.push(kind);
            continue;
        };
        let mut without = Vec::new();
        let mut paths = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for value in values.keys() {
            let made = match kind {
                Kind::Exec => exec_pattern(value).map(|p| paths.insert(p)),
                Kind::Write => generalize_path(value, temp_roots).map(|p| paths.insert(p)),
                Kind::Connect | Kind::Bind => {
                    generalize_address(value, temp_roots).map(|p| addresses.insert(p))
                }
            };
            if made.is_none() {
                without.push(value.clone());
            }
        }
        match kind {
            Kind::Exec => arguments.exec = Some(paths),
            Kind::Write => arguments.write = Some(paths),
            Kind::Connect => arguments.connect = Some(addresses),
            Kind::Bind => arguments.bind = Some(addresses),
        }
        if !without.is_empty() {
            omitted.push(Omitted::ArgumentsWithoutPattern {
                module: name.to_string(),
                kind,
                values: without,
            });
        }
    }
    if !unrestricted.is_empty() {
        omitted.push(Omitted::UnrestrictedArguments {
            module: name.to_string(),
            kinds: unrestricted,
        });
    }
    Some((arguments, omitted))
}

/// A program executed: its exact path, normalized lexically.
fn exec_pattern(path: &str) -> Option<PathPattern> {
    if !path.starts_with('/') {
        return None;
    }
    crate::naming::normalize(path).parse().ok()
}

/// `a`, `a.b`, `a.b.c` for a groupable `a.b.c`; nothing for `__main__`,
/// pseudo-names, paths and names that are not dotted identifiers.
fn package_prefixes(name: &str) -> impl Iterator<Item = &str> {
    let groupable = name != "__main__"
        && !name.starts_with("__main__.")
        && name.split('.').all(|c| {
            c.chars()
                .next()
                .is_some_and(|f| f == '_' || f.is_alphabetic())
                && c.chars().all(|ch| ch == '_' || ch.is_alphanumeric())
        });
    let ends = name
        .match_indices('.')
        .map(|(i, _)| i)
        .chain(std::iter::once(name.len()));
    ends.filter(move |_| groupable).map(move |end| &name[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn command_targets() {
        for (args, target) in [
            (&["python3", "app.py", "x"][..], Some("app.py")),
            (
                &["python3", "-u", "-X", "dev", "/srv/a.py"][..],
                Some("/srv/a.py"),
            ),
            (
                &["python3", "-m", "http.server", "8000"][..],
                Some("http.server"),
            ),
            (&["python3", "-mjson.tool"][..], Some("json.tool")),
            (&["python3", "-c", "print(1)"][..], None),
            (&["python3"][..], None),
            (&[][..], None),
        ] {
            assert_eq!(command_target(&cmd(args)), target, "{args:?}");
        }
    }

    #[test]
    fn prefixes() {
        let p: Vec<&str> = package_prefixes("a.b.c").collect();
        assert_eq!(p, ["a", "a.b", "a.b.c"]);
        for none in [
            "__main__", "<string>", "/x/y.py", "dir/x.py", "foo-1.0", "a..b", "1a.b",
        ] {
            assert_eq!(package_prefixes(none).count(), 0, "{none}");
        }
    }
}
