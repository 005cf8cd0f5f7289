//! `secimport guard`: the supervisor behind the Python API's
//! `secure_import()` and `sandboxed()`.
//!
//! It attaches to a running Python process and judges only what happens while
//! a guarded frame is on a thread's stack: a guard denies any of shells
//! (starting programs), networking and file writes (creating, writing,
//! truncating, renaming or removing files by name); everything else runs
//! untouched. The Python side drives it over stdin/stdout, one line per
//! command and per answer:
//!
//! ```text
//! -> ready PID                                   (once attached)
//! <- guard ID SHELLS NET FILES LOG               (0/1: 1 allows shells, networking,
//!                                                 file writes; LOG = rest of line)
//! -> ok
//! <- file ID FILENAME                            (a co_filename judged by guard ID)
//! -> ok
//! <- root PATH                                   (an import root, to name modules in reports)
//! -> ok
//! ```
//! Errors answer `error MESSAGE`. The guard exits when the process does; if
//! the guard dies first, the kernel side kills the process (fail closed).
//!
//! The channel is monotonic: whoever writes to it (code running inside a
//! guarded call included) can add guards and make them stricter, never
//! looser, and nothing removes a guard or unbinds a file.
//!
//! - `guard` with a new id defines that guard. With an id that exists it may
//!   only deny a superset of what the guard denies, with the same log
//!   (re-sending the same definition is a no-op); anything else is refused.
//! - `file` binds a file (by its kernel module id, i.e. its name as the
//!   kernel compares it) to a guard. A file may be bound to several guards
//!   (a module guarded twice, a package and one of its submodules): it is
//!   then judged by all of them, its rule denying what any of them denies.
//!   Binding it to a guard that does not deny at least what the file is
//!   already denied is refused, since that guard's permissions could not
//!   apply to it.
//! - `root` only changes how reports name modules.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use secimport_engine::sandbox::{self, module_id, Event, Sandbox, RULE_GUARD};
use secimport_engine::{launcher, python};
use secimport_policy::classes;
use secimport_policy::naming::Namer;

use crate::cli::{GuardArgs, RunMode};
use crate::commands::Failure;
use crate::violations::{self, Judge, Names};

use secimport_policy::policy::Bitmap;
const ALL: Bitmap = [u64::MAX; 16];
const NONE: Bitmap = [0; 16];

fn bitmap(names: &[&str]) -> Bitmap {
    classes::bitmap_of_names(names)
}

fn minus(a: &Bitmap, b: &Bitmap) -> Bitmap {
    std::array::from_fn(|i| a[i] & !b[i])
}

fn union(a: &Bitmap, b: &Bitmap) -> Bitmap {
    std::array::from_fn(|i| a[i] | b[i])
}

/// Does `a` contain every bit of `b`?
fn covers(a: &Bitmap, b: &Bitmap) -> bool {
    a.iter().zip(b).all(|(a, b)| b & !a == 0)
}

/// What a guard with these permissions (true: allowed) denies, and how
/// reports say it: "shells", "shells and networking", "shells, networking
/// and file writes", ..., or "nothing".
fn denial(shells: bool, net: bool, files: bool) -> (Bitmap, String) {
    let mut denied = NONE;
    let mut what = Vec::new();
    for (allowed, list, name) in [
        (shells, classes::SHELLS, "shells"),
        (net, classes::NETWORKING, "networking"),
        (files, classes::FILE_WRITES, "file writes"),
    ] {
        if !allowed {
            denied = union(&denied, &bitmap(list));
            what.push(name);
        }
    }
    let what = match what.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    (denied, what)
}

struct Guard {
    denied: Bitmap,
    log: PathBuf,
    what: String,
}

/// The guards and which kernel module ids belong to them. Only grows
/// stricter (see the module docs): [`Guards::define`] and [`Guards::bind`]
/// decide, without the kernel; [`apply`] writes what they decided.
#[derive(Default)]
struct Guards {
    guards: BTreeMap<u32, Guard>,
    /// kernel module id -> the guards judging it, in the order they were bound
    modules: HashMap<u32, Vec<u32>>,
}

impl Judge for Guards {
    fn explain(&self, module: &str) -> String {
        violations::explain_pseudo(module, "allow")
            .unwrap_or_else(|| "a secimport guard denies it".to_string())
    }
}

/// What a `guard` command did.
#[derive(Debug, PartialEq, Eq)]
enum Defined {
    New,
    Unchanged,
    Stricter,
}

impl Guards {
    /// The guard whose log and report a violation in module `id` goes to:
    /// the one it was bound to last (never less strict than the others were
    /// when it was bound).
    fn guard_of(&self, id: u32) -> Option<&Guard> {
        self.modules
            .get(&id)
            .and_then(|gs| gs.last())
            .and_then(|g| self.guards.get(g))
    }

    /// What module `id` is denied: everything any of its guards denies.
    fn denied_for(&self, id: u32) -> Bitmap {
        self.modules
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|g| self.guards.get(g))
            .fold(NONE, |acc, g| union(&acc, &g.denied))
    }

    /// The kernel rule of module `id`.
    fn allow_for(&self, id: u32) -> Bitmap {
        minus(&ALL, &self.denied_for(id))
    }

    /// Everything no guard denies: allowed without looking at the stack.
    fn base(&self) -> Bitmap {
        self.guards
            .values()
            .fold(ALL, |acc, g| minus(&acc, &g.denied))
    }

    /// The modules guard `id` judges.
    fn modules_of(&self, id: u32) -> Vec<u32> {
        let mut ms: Vec<u32> = self
            .modules
            .iter()
            .filter(|(_, gs)| gs.contains(&id))
            .map(|(&m, _)| m)
            .collect();
        ms.sort_unstable();
        ms
    }

    /// [`Guards::define`] for a command: a new guard's log directory is
    /// prepared first (both backends' supervisors).
    fn define_logged(&mut self, id: u32, allow: Allow, log: PathBuf) -> Result<Defined, String> {
        if !self.guards.contains_key(&id) {
            if let Some(dir) = log.parent() {
                crate::logfile::prepare_dir(dir)
                    .map_err(|e| format!("log directory {}: {e}", dir.display()))?;
            }
        }
        self.define(id, allow, log)
    }

    /// A `guard` command: defines guard `id`, or makes it stricter. Refuses
    /// anything that would let it allow more, or change its log.
    fn define(&mut self, id: u32, allow: Allow, log: PathBuf) -> Result<Defined, String> {
        let (denied, what) = denial(allow.shells, allow.net, allow.files);
        match self.guards.get_mut(&id) {
            None => {
                self.guards.insert(id, Guard { denied, log, what });
                Ok(Defined::New)
            }
            Some(g) => {
                if g.log != log {
                    return Err(format!(
                        "guard {id} exists and logs to {}: a guard's log cannot change",
                        g.log.display()
                    ));
                }
                if !covers(&denied, &g.denied) {
                    return Err(format!(
                        "guard {id} exists and denies {}; it may only get stricter (this would deny {what})",
                        g.what
                    ));
                }
                if denied == g.denied {
                    return Ok(Defined::Unchanged);
                }
                g.denied = denied;
                g.what = what;
                Ok(Defined::Stricter)
            }
        }
    }

    /// A `file` command, once the file's kernel module id is known: binds
    /// `module` to guard `id` too. Refuses an unknown guard, the kernel's
    /// reserved ids, and a guard that does not deny at least what the module
    /// is already denied. Returns the module's new kernel rule.
    fn bind(&mut self, module: u32, id: u32) -> Result<Bitmap, String> {
        let guard = self.guards.get(&id).ok_or(format!("file: no guard {id}"))?;
        if module < module_id::FIRST_DYNAMIC {
            return Err(format!(
                "file: the kernel reserves module id {module} for its own use"
            ));
        }
        let owners = self.modules.get(&module).map(Vec::as_slice).unwrap_or(&[]);
        if !owners.contains(&id) {
            let current = self.denied_for(module);
            if !covers(&guard.denied, &current) {
                let by: Vec<String> = owners.iter().map(|g| g.to_string()).collect();
                return Err(format!(
                    "file: already judged by guard {}, which denies more than guard {id} \
                     (it denies {}): a file's guards can only get stricter",
                    by.join(", "),
                    guard.what
                ));
            }
            self.modules.entry(module).or_default().push(id);
        }
        Ok(self.allow_for(module))
    }
}

/// What a `guard` command allows (true) of what guards can deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Allow {
    shells: bool,
    net: bool,
    files: bool,
}

enum Command {
    Guard { id: u32, allow: Allow, log: PathBuf },
    File { id: u32, filename: String },
}

fn parse(line: &str) -> Result<Command, String> {
    let mut parts = line.splitn(2, ' ');
    let verb = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    match verb {
        "guard" => {
            const USAGE: &str = "(expected `guard ID SHELLS NET FILES LOG`)";
            let mut f = rest.splitn(5, ' ');
            let id = f
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or(format!("guard: bad id {USAGE}"))?;
            let mut flag = |what: &str| match f.next() {
                Some("0") => Ok(false),
                Some("1") => Ok(true),
                _ => Err(format!("guard: the {what} flag must be 0 or 1 {USAGE}")),
            };
            let allow = Allow {
                shells: flag("shells")?,
                net: flag("networking")?,
                files: flag("file writes")?,
            };
            let log = f
                .next()
                .filter(|s| !s.is_empty())
                .ok_or(format!("guard: missing log path {USAGE}"))?;
            Ok(Command::Guard {
                id,
                allow,
                log: PathBuf::from(log),
            })
        }
        "file" => {
            let mut f = rest.splitn(2, ' ');
            let id = f
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or("file: bad id")?;
            let filename = f
                .next()
                .filter(|s| !s.is_empty())
                .ok_or("file: missing file name")?;
            Ok(Command::File {
                id,
                filename: filename.to_string(),
            })
        }
        _ => Err(format!(
            "unknown command {verb:?} (expected `guard` or `file`)"
        )),
    }
}

/// Runs one command: [`Guards`] decides, then the kernel rules it touches
/// are (re)written from the guards' state, so that a command that failed
/// half-way and is sent again leaves the kernel as strict as the state.
fn apply(cmd: Command, sandbox: &mut Sandbox, guards: &mut Guards) -> Result<(), String> {
    match cmd {
        Command::Guard { id, allow, log } => {
            guards.define_logged(id, allow, log)?;
            for m in guards.modules_of(id) {
                sandbox
                    .set_rule_with_flags(m, &guards.allow_for(m), RULE_GUARD)
                    .map_err(|e| e.to_string())?;
            }
            // With no Python frame (atexit callbacks, finalizers, native
            // threads): what no guard denies.
            let base = guards.base();
            sandbox
                .set_shared_sets(&base, &base, &base)
                .map_err(|e| e.to_string())?;
            // What cannot be seen (a stack deeper than the walk limit, an
            // unreadable frame) may hide a guard frame: judged by what no
            // guard denies, never allowed outright.
            for unseen in [
                module_id::TRUNCATED,
                module_id::UNREADABLE,
                module_id::OVERFLOW,
            ] {
                sandbox.set_rule(unseen, &base).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Command::File { id, filename } => {
            if !guards.guards.contains_key(&id) {
                return Err(format!("file: no guard {id}"));
            }
            let m = sandbox
                .module_id_for(&filename)
                .map_err(|e| e.to_string())?;
            let allow = guards.bind(m, id)?;
            sandbox
                .set_rule_with_flags(m, &allow, RULE_GUARD)
                .map_err(|e| e.to_string())
        }
    }
}

/// The inode of our stdin when it is a pipe: the channel the guarded process
/// sends commands on, which code running under a guard may not write to.
fn channel_inode() -> Option<u64> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata("/proc/self/fd/0").ok()?;
    meta.file_type().is_fifo().then(|| meta.ino())
}

pub fn run(args: GuardArgs) -> Result<i32, Failure> {
    let pid = args.pid;
    if !launcher::is_running(pid) {
        return Err(Failure::usage(anyhow!("no process {pid} to guard")));
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let seccomp = match args.backend {
        crate::cli::Backend::Seccomp => true,
        crate::cli::Backend::Bpf => false,
        crate::cli::Backend::Auto => !root || args.mode == RunMode::Deny,
    };
    if seccomp {
        return run_seccomp(&args);
    }
    crate::target::require_root()?;
    // Identified from /proc/PID/exe and the libpython it mapped; nothing is
    // run, and argv[0] is never trusted.
    let interp = python::discover_pid(pid)
        .map_err(|e| Failure::usage(anyhow!("process {pid} cannot be guarded: {e}")))?
        .interpreter;
    let mode = match args.mode {
        RunMode::Kill => sandbox::Mode::Kill,
        RunMode::Stop => sandbox::Mode::Stop,
        RunMode::Log => sandbox::Mode::Log,
        RunMode::Deny => {
            return Err(Failure::usage(anyhow!(
                "guards in deny mode run on the seccomp backend, which the process installs \
                 itself (the Python package does); `secimport guard --pid` is the eBPF one"
            )))
        }
    };
    let opts = sandbox::Options {
        mode,
        unknown_rule: sandbox::UnknownRule::Allow,
        walk_limit: args.walk_limit,
        // Starting a thread is not a shell (a thread clone is the plain
        // `clone`/`clone3` right, which no guard denies); the thread
        // inherits the guards its creator had on its stack.
        thread_clone_exempt: true,
        // Only the guards judge: with no frame, what no guard denies.
        shared_sets_judge_danger: false,
        channel_ino: channel_inode(),
        // A guard of the other mode is another supervisor of this process:
        // a kill must not take it down before it reported.
        spare_supervisors: true,
        // Guards bind files through `file` commands.
        announce_modules: false,
    };
    let mut sandbox = Sandbox::load(&opts)?;
    sandbox.add_interpreter(&interp)?;
    // Until a guard exists nothing is judged. Once one does, frames that
    // cannot be seen (truncated, unreadable) are judged by what no guard
    // denies (see `apply`).
    sandbox.set_shared_sets(&ALL, &ALL, &ALL)?;
    sandbox.set_rule(module_id::NON_PYTHON, &ALL)?;
    sandbox.track_running(pid)?;

    // A terminal's Ctrl-C is for the Python program, not for us.
    // SAFETY: ignoring a signal installs no handler code.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready {pid}");
    let _ = out.flush();

    // Commands arrive on a thread (stdin blocks); the sandbox stays here.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Import roots name modules in reports; the process tells us its own
    // sys.path (`root` commands), which a virtualenv changes.
    let mut roots: Vec<String> = interp.sys_path.clone();
    let mut namer = Namer::new(roots.iter().cloned(), None);
    let mut files = BTreeMap::new();
    let mut guards = Guards::default();
    let action = match mode {
        sandbox::Mode::Kill => "kill",
        sandbox::Mode::Stop => "stop",
        _ => "log",
    };
    // When the process is gone, the rest of its tree (children, another
    // mode's supervisor and its `tee`) may finish for this long, still judged
    // and reported; then it is killed, and its last reports awaited so long.
    const GRACE: Duration = Duration::from_secs(1);
    const LAST_REPORTS: Duration = Duration::from_millis(500);
    // Processes of the tree whose exit record has not been read yet. The ring
    // buffer keeps the kernel's order: whatever a process reported (its kill
    // included: reported, then enforced) comes before its exit record, and
    // the fork record of a child before its parent's exit record. So once
    // this is empty, every report of the tree has been read.
    let mut unfinished: BTreeSet<u32> = BTreeSet::from([pid]);
    // When the process was seen gone (its exit record read, or /proc says so).
    let mut gone: Option<Instant> = None;
    let mut killed: Vec<u32> = Vec::new();
    loop {
        while let Ok(line) = rx.try_recv() {
            let line = line.trim_end();
            let reply = if let Some(root) = line.strip_prefix("root ") {
                if !roots.iter().any(|r| r == root) {
                    roots.insert(0, root.to_string());
                    namer = Namer::new(roots.iter().cloned(), None);
                }
                "ok".to_string()
            } else {
                match parse(line).and_then(|c| apply(c, &mut sandbox, &mut guards)) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error {e}"),
                }
            };
            let _ = writeln!(out, "{reply}");
            let _ = out.flush();
        }
        // Short polls: commands wait for the next turn of this loop.
        for ev in sandbox.poll(Duration::from_millis(5)) {
            let v = match ev {
                Event::Violation(v) => v,
                Event::Fork { pid: child, .. } => {
                    unfinished.insert(child);
                    continue;
                }
                Event::Exit { pid: p, .. } => {
                    unfinished.remove(&p);
                    if p == pid {
                        gone.get_or_insert_with(Instant::now);
                    }
                    continue;
                }
                _ => continue,
            };
            let mut names = Names {
                namer: &namer,
                files: std::mem::take(&mut files),
                programs: Default::default(),
            };
            let rec = violations::record(&v, &sandbox, &mut names, action);
            files = names.files;
            let text = violations::render(&rec, &guards);
            // A closed stderr must not take the guard (and so the program) down.
            let _ = std::io::stderr().write_all(text.as_bytes());
            let guard = v
                .frames
                .iter()
                .map(|f| f.module)
                .chain(std::iter::once(v.module))
                .chain(v.denied.iter().copied())
                .chain(v.inherited.iter().copied())
                .find_map(|m| guards.guard_of(m));
            // No guard frame seen (a stack deeper than the walk limit, an
            // unreadable frame, no frame at all): any guard may be the one;
            // every guard's log gets the report rather than none.
            let to: Vec<&Guard> = match guard {
                Some(g) => vec![g],
                None => one_per_log(&guards),
            };
            for g in to {
                append_or_warn(&g.log, &format!("{text}  guard: denies {}\n\n", g.what));
            }
        }
        if gone.is_none() && !launcher::is_running(pid) {
            gone = Some(Instant::now());
        }
        let Some(since) = gone else { continue };
        // The process is gone, but what it reported just before may still
        // be in the ring buffer, behind the last poll: leave once the exit
        // records of the whole tree were read (and the kernel follows no
        // process, in case a fork record was lost).
        let live = sandbox.live_processes();
        if unfinished.is_empty() && live.is_empty() {
            break;
        }
        let waited = since.elapsed();
        if waited < GRACE {
            continue;
        }
        if killed.is_empty() && !live.is_empty() {
            // Nothing supervises them once we are gone.
            launcher::kill_all(&live);
            killed = live;
        }
        if waited >= GRACE + LAST_REPORTS {
            break;
        }
    }

    // Whatever could not be reported is said, on stderr and in every log.
    let stats = sandbox.stats();
    let mut notes = Vec::new();
    if stats.events_lost > 0 {
        notes.push(format!(
            "secimport: warning: {} event(s) were lost (the kernel's event buffer was full); \
             violations of process {pid} may be missing from this log",
            stats.events_lost
        ));
    }
    let missed = sandbox.missed_syscalls();
    if missed > 0 {
        notes.push(format!(
            "secimport: warning: the kernel skipped the syscall hook {missed} time(s) because it \
             was already running on that CPU (a preemptible kernel); up to {missed} syscall(s) of \
             process {pid} may not have been judged"
        ));
    }
    let mut err = std::io::stderr();
    let left = sandbox.live_processes().len();
    if left > 0 {
        // Killed at our exit by the kernel side, which sees it.
        let _ = writeln!(
            err,
            "secimport: {left} process(es) started by process {pid} still ran when its guard exited"
        );
    }
    if !killed.is_empty() {
        let _ = writeln!(
            err,
            "secimport: killed {} process(es) started by process {pid} that outlived it",
            killed.len()
        );
    }
    for note in &notes {
        let _ = writeln!(err, "{note}");
        for g in one_per_log(&guards) {
            append_or_warn(&g.log, &format!("{note}\n\n"));
        }
    }
    Ok(0)
}

/// The first guard (by id) of each distinct log.
fn one_per_log(guards: &Guards) -> Vec<&Guard> {
    let mut logs = BTreeSet::new();
    guards
        .guards
        .values()
        .filter(|g| logs.insert(&g.log))
        .collect()
}

/// Appends to a guard's log; a failure is said on stderr (best effort).
fn append_or_warn(log: &std::path::Path, entry: &str) {
    let written = crate::logfile::open_append(log).and_then(|mut f| f.write_all(entry.as_bytes()));
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr(),
            "secimport: cannot write {}: {e}",
            log.display()
        );
    }
}

/// The guards as a judge of the seccomp backend: a frame of a file bound to
/// a guard denies what its guards deny; frames that could not be seen, and
/// a thread with no frame, what any guard denies (as the eBPF guard's
/// kernel rules say).
struct FileGuards {
    state: std::sync::Mutex<(Guards, HashMap<String, u32>)>,
}

impl FileGuards {
    fn apply(&self, cmd: Command) -> Result<(), String> {
        let mut st = self.state.lock().expect("not poisoned");
        let (guards, ids) = &mut *st;
        match cmd {
            Command::Guard { id, allow, log } => guards.define_logged(id, allow, log).map(|_| ()),
            Command::File { id, filename } => {
                if !guards.guards.contains_key(&id) {
                    return Err(format!("file: no guard {id}"));
                }
                let next = module_id::FIRST_DYNAMIC + ids.len() as u32;
                let m = *ids.entry(filename).or_insert(next);
                guards.bind(m, id).map(|_| ())
            }
        }
    }

    /// The log of the guard a violation by these frames goes to, or every
    /// guard's (one per log) when no guarded frame is seen.
    fn logs_for(&self, files: &[String]) -> Vec<(PathBuf, String)> {
        let st = self.state.lock().expect("not poisoned");
        let (guards, ids) = &*st;
        let found = files
            .iter()
            .filter_map(|f| ids.get(f))
            .find_map(|m| guards.guard_of(*m));
        match found {
            Some(g) => vec![(g.log.clone(), g.what.clone())],
            None => one_per_log(guards)
                .into_iter()
                .map(|g| (g.log.clone(), g.what.clone()))
                .collect(),
        }
    }
}

impl crate::unprivileged::Decide for FileGuards {
    fn decide(&self, q: &secimport_policy::policy::Query) -> secimport_policy::policy::Decision {
        use secimport_policy::policy::{bitmap_contains, Decision, Judge as J, Refusal, Who};
        let st = self.state.lock().expect("not poisoned");
        let (guards, ids) = &*st;
        let base = guards.base();
        let mut refusals = Vec::new();
        match q.who {
            Who::Program(_) => {}
            Who::Python { judges, started } => {
                if judges.is_empty() && !bitmap_contains(&base, q.right) {
                    refusals.push((0, Refusal::Bucket { started }));
                }
                for (i, j) in judges.iter().enumerate() {
                    let denied = match j {
                        J::Module(file) => ids
                            .get(*file)
                            .map(|m| bitmap_contains(&guards.denied_for(*m), q.right))
                            .unwrap_or(false),
                        J::Unseen(_) => !bitmap_contains(&base, q.right),
                    };
                    if denied {
                        let refusal = match j {
                            J::Module(file) => Refusal::NotListed {
                                key: file.to_string(),
                            },
                            J::Unseen(u) => Refusal::Unseen(*u),
                        };
                        refusals.push((i, refusal));
                    }
                }
            }
        }
        Decision {
            allowed: refusals.is_empty(),
            dangerous: false,
            refusals,
        }
    }
}

/// The filter of a guarded process: everything a guard can deny is held
/// (shells, networking, file writes and every other dangerous right, thread
/// creations for what threads inherit), the rest runs in the kernel.
fn guard_filter() -> Result<Vec<u8>, Failure> {
    use secimport_policy::syscalls;
    let mut all: Vec<String> = (0..syscalls::SYSCALL_BITS)
        .filter_map(|nr| syscalls::name(nr).map(str::to_string))
        // Named only by their classes.
        .filter(|n| !secimport_policy::rights::ALWAYS_CLASSED.contains(&n.as_str()))
        .collect();
    all.extend(secimport_policy::rights::classes().map(|c| format!("{}:{}", c.syscall, c.class)));
    let guardable: BTreeSet<&str> = classes::SHELLS
        .iter()
        .chain(classes::NETWORKING)
        .chain(classes::FILE_WRITES)
        .copied()
        .collect();
    let safe: Vec<&String> = all
        .iter()
        .filter(|r| !classes::is_dangerous(r) && !guardable.contains(r.as_str()))
        .collect();
    let list = |v: &[&String]| {
        v.iter()
            .map(|r| format!("{:?}", r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all_refs: Vec<&String> = all.iter().collect();
    let yaml = format!(
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {{name: guards}}\nspec:\n  \
         unknown: allow\n  base: [{safe}]\n  startup: [{safe}]\n  frameless: [{safe}]\n  \
         children: [{all}]\n  modules: {{}}\n",
        safe = list(&safe),
        all = list(&all_refs),
    );
    let compiled = secimport_policy::policy::Policy::parse(
        &yaml,
        "<guards>",
        secimport_policy::policy::Format::Yaml,
    )
    .map_err(|e| Failure::runtime(anyhow!("the guards' filter policy: {e}")))?
    .compile();
    let plan = secimport_engine::seccomp::plan(&compiled, secimport_engine::seccomp::Mode::Log);
    secimport_engine::seccomp::compile(&plan)
        .map_err(|e| Failure::runtime(anyhow!("building the guards' seccomp filter: {e}")))
}

/// `secimport guard` on the seccomp backend (no root). The protocol starts
/// with a handshake: we print `filter HEX` (the program), the process
/// installs it on all its threads and answers `listener FD` (the
/// listener's number in it), we take the listener (`pidfd_getfd`) and
/// print `ready PID`; then the commands as on the eBPF backend. If we die,
/// the process's watchdog (the Python package's) kills it.
fn run_seccomp(args: &GuardArgs) -> Result<i32, Failure> {
    use crate::unprivileged::{Action, Supervisor, Tree};
    use std::os::fd::AsFd;
    let pid = args.pid;
    let interp = python::discover_pid(pid)
        .map_err(|e| Failure::usage(anyhow!("process {pid} cannot be guarded: {e}")))?
        .interpreter;
    let action = match args.mode {
        RunMode::Kill => Action::Kill,
        RunMode::Log => Action::Log,
        RunMode::Deny => Action::Deny,
        RunMode::Stop => {
            return Err(Failure::usage(anyhow!(
                "stop mode needs the eBPF backend (root): use deny, kill or log"
            )))
        }
    };
    let filter = guard_filter()?;
    // SAFETY: ignoring a signal installs no handler code.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let mut out = std::io::stdout().lock();
    let hex: String = filter.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(out, "filter {hex}");
    let _ = out.flush();
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    let _ = stdin.read_line(&mut line);
    let number: i32 = line
        .trim()
        .strip_prefix("listener ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Failure::usage(anyhow!("expected `listener FD`, got {line:?}")))?;
    let listener =
        secimport_engine::seccomp::take_listener(pid as libc::pid_t, number).map_err(|e| {
            Failure::runtime(anyhow!("taking the seccomp listener of process {pid}: {e}"))
        })?;
    let _ = secimport_engine::seccomp::set_sync_wakeup(listener.as_fd());
    let _ = writeln!(out, "ready {pid}");
    let _ = out.flush();
    drop(stdin);
    drop(out);

    let judge = FileGuards {
        state: std::sync::Mutex::new((Guards::default(), HashMap::new())),
    };
    let roots = std::sync::Mutex::new(interp.sys_path.clone());
    let namer = Namer::new(interp.sys_path.iter().cloned(), None);
    let mut sup = Supervisor::with_judge(
        &judge,
        &[],
        &namer,
        &interp,
        action,
        args.walk_limit as usize,
        Tree::Process(pid),
    );
    sup.by_file = true;
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let sup = &sup;
        let judge = &judge;
        let listener = listener.as_fd();
        scope.spawn(move || sup.serve(listener, 2, tx));
        // Commands.
        scope.spawn(move || {
            let mut out = std::io::stdout();
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let line = line.trim_end();
                let reply = if let Some(root) = line.strip_prefix("root ") {
                    roots
                        .lock()
                        .expect("not poisoned")
                        .insert(0, root.to_string());
                    "ok".to_string()
                } else {
                    match parse(line).and_then(|c| judge.apply(c)) {
                        Ok(()) => "ok".to_string(),
                        Err(e) => format!("error {e}"),
                    }
                };
                let _ = writeln!(out, "{reply}");
                let _ = out.flush();
            }
        });
        // The end: the process is gone.
        scope.spawn(move || {
            while launcher::is_running(pid) {
                std::thread::sleep(Duration::from_millis(50));
            }
            sup.stop();
        });
        for rec in rx {
            let text = violations::render(&rec, &Guards::default());
            let _ = std::io::stderr().write_all(text.as_bytes());
            let files: Vec<String> = rec.stack.iter().map(|f| f.file.clone()).collect();
            for (log, what) in judge.logs_for(&files) {
                append_or_warn(&log, &format!("{text}  guard: denies {what}\n\n"));
            }
        }
    });
    // The commands thread may still wait on stdin: the process is gone.
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nr(name: &str) -> u32 {
        secimport_policy::syscalls::number(name)
            .or_else(|| secimport_policy::rights::class_named(name).map(|c| c.right))
            .unwrap_or_else(|| panic!("no right {name}"))
    }

    fn denies(b: &Bitmap, name: &str) -> bool {
        let n = nr(name);
        (b[(n / 64) as usize] >> (n % 64)) & 1 == 1
    }

    /// Does the kernel rule of module `m` let right `name` through?
    fn allows(g: &Guards, m: u32, name: &str) -> bool {
        !denies(&minus(&ALL, &g.allow_for(m)), name)
    }

    fn define(g: &mut Guards, line: &str) -> Result<Defined, String> {
        match parse(line)? {
            Command::Guard { id, allow, log } => g.define(id, allow, log),
            Command::File { .. } => panic!("not a guard command: {line}"),
        }
    }

    const M: u32 = module_id::FIRST_DYNAMIC + 10;

    #[test]
    fn parses_commands() {
        let Ok(Command::Guard { id, allow, log }) = parse("guard 3 0 1 1 /tmp/with space.log")
        else {
            panic!("guard did not parse");
        };
        assert_eq!(id, 3);
        assert_eq!(
            allow,
            Allow {
                shells: false,
                net: true,
                files: true
            }
        );
        assert_eq!(log, PathBuf::from("/tmp/with space.log"));
        let Ok(Command::Guard { allow, log, .. }) = parse("guard 4 1 0 0 /tmp/0 1 l") else {
            panic!("guard did not parse");
        };
        assert_eq!(
            allow,
            Allow {
                shells: true,
                net: false,
                files: false
            }
        );
        assert_eq!(log, PathBuf::from("/tmp/0 1 l"));
        let Ok(Command::File { id, filename }) = parse("file 3 <secimport guard 3: a b>") else {
            panic!("file did not parse");
        };
        assert_eq!((id, filename.as_str()), (3, "<secimport guard 3: a b>"));
        for bad in [
            "guard x 0 0 0 /l",
            "guard 1 2 0 0 /l",
            "guard 1 0 0 2 /l",
            "guard 1 0 0 0",
            "guard 1 0 0 0 ",
            "file 1",
            "file x name",
            "unguard 1",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        // The two-flag form of earlier versions is refused, never read with
        // its log's first word taken for a flag.
        let err = parse("guard 1 0 0 /tmp/l").err().unwrap();
        assert!(err.contains("file writes flag must be 0 or 1"), "{err}");
        assert!(err.contains("guard ID SHELLS NET FILES LOG"), "{err}");
        assert!(parse("guard 1 1 1 0 l").is_ok());
    }

    #[test]
    fn reports_say_what_is_denied() {
        let what = |s, n, f| denial(s, n, f).1;
        assert_eq!(
            what(false, false, false),
            "shells, networking and file writes"
        );
        assert_eq!(what(false, false, true), "shells and networking");
        assert_eq!(what(false, true, false), "shells and file writes");
        assert_eq!(what(true, false, false), "networking and file writes");
        assert_eq!(what(false, true, true), "shells");
        assert_eq!(what(true, false, true), "networking");
        assert_eq!(what(true, true, false), "file writes");
        assert_eq!(what(true, true, true), "nothing");
        assert_eq!(denial(true, true, true).0, NONE);
    }

    #[test]
    fn file_writes_are_denied_unless_allowed() {
        let (denied, _) = denial(true, true, false);
        for name in [
            "openat:write",
            "open:write",
            "openat2:write",
            "creat",
            "truncate",
            "rename",
            "renameat",
            "renameat2",
            "unlink",
            "unlinkat",
            "mkdir",
            "mkdirat",
            "rmdir",
            "linkat",
            "symlinkat",
            "fchmodat",
            "fchownat",
            "mknodat",
        ] {
            assert!(denies(&denied, name), "{name} not denied");
        }
        // Opening for reading, and I/O on descriptors already open, are not
        // file writes by name; nor are shells or sockets.
        for name in [
            "openat",
            "open",
            "read",
            "write",
            "ftruncate",
            "newfstatat",
            "execve",
            "clone:process",
            "socket:inet",
        ] {
            assert!(!denies(&denied, name), "{name} denied");
        }
        // Shells: the process clones, not the thread clones (the plain
        // `clone`/`clone3` rights).
        let (denied, _) = denial(false, true, true);
        for name in ["clone:process", "clone3:process", "fork", "vfork", "execve"] {
            assert!(denies(&denied, name), "{name} not denied");
        }
        for name in ["clone", "clone3", "openat:write", "unlink"] {
            assert!(!denies(&denied, name), "{name} denied");
        }
        // Networking: every socket class.
        let (denied, _) = denial(true, false, true);
        for name in ["socket:inet", "socket:unix", "connect:inet", "bind:inet"] {
            assert!(denies(&denied, name), "{name} not denied");
        }
        assert!(!denies(&denied, "openat:write"));
        // The default denies all three.
        let (all, what) = denial(false, false, false);
        assert!(denies(&all, "execve") && denies(&all, "connect:inet"));
        assert!(denies(&all, "openat:write") && denies(&all, "renameat2"));
        assert!(!denies(&all, "openat") && !denies(&all, "clone3"));
        assert_eq!(what, "shells, networking and file writes");
    }

    #[test]
    fn a_guard_only_gets_stricter() {
        let mut g = Guards::default();
        assert_eq!(define(&mut g, "guard 1 1 0 1 /tmp/l"), Ok(Defined::New));
        // The same definition again: fine, nothing changes.
        assert_eq!(
            define(&mut g, "guard 1 1 0 1 /tmp/l"),
            Ok(Defined::Unchanged)
        );
        // Allowing networking, or shells and networking: refused.
        let err = define(&mut g, "guard 1 1 1 1 /tmp/l").unwrap_err();
        assert!(err.contains("only get stricter"), "{err}");
        assert!(err.contains("denies networking;"), "{err}");
        // Denying shells instead of networking is not a superset either.
        assert!(define(&mut g, "guard 1 0 1 1 /tmp/l").is_err());
        // Nor file writes instead of networking.
        assert!(define(&mut g, "guard 1 1 1 0 /tmp/l").is_err());
        assert_eq!(g.guards[&1].what, "networking");
        // Denying shells too: a superset.
        assert_eq!(
            define(&mut g, "guard 1 0 0 1 /tmp/l"),
            Ok(Defined::Stricter)
        );
        assert_eq!(g.guards[&1].what, "shells and networking");
        // And file writes too.
        assert_eq!(
            define(&mut g, "guard 1 0 0 0 /tmp/l"),
            Ok(Defined::Stricter)
        );
        assert_eq!(g.guards[&1].what, "shells, networking and file writes");
        for shells in 0..2 {
            for net in 0..2 {
                for files in 0..2 {
                    if shells + net + files == 0 {
                        continue;
                    }
                    let looser = format!("guard 1 {shells} {net} {files} /tmp/l");
                    let err = define(&mut g, &looser).unwrap_err();
                    assert!(
                        err.contains("denies shells, networking and file writes;"),
                        "{looser}: {err}"
                    );
                }
            }
        }
        let denied = &g.guards[&1].denied;
        assert!(denies(denied, "execve") && denies(denied, "connect:inet"));
        assert!(denies(denied, "openat:write") && denies(denied, "unlinkat"));
        // The log cannot move (reports would go elsewhere), even when stricter.
        let err = define(&mut g, "guard 1 0 0 0 /dev/null").unwrap_err();
        assert!(err.contains("log cannot change"), "{err}");
        assert_eq!(g.guards[&1].log, PathBuf::from("/tmp/l"));
    }

    #[test]
    fn loosening_a_guard_leaves_its_files_denied() {
        let mut g = Guards::default();
        define(&mut g, "guard 1 0 0 0 /tmp/l").unwrap();
        let allow = g.bind(M, 1).unwrap();
        assert!(!denies(&minus(&ALL, &allow), "getpid"));
        assert!(denies(&minus(&ALL, &allow), "clone3:process"));
        assert!(!denies(&minus(&ALL, &allow), "clone3"));
        assert!(define(&mut g, "guard 1 1 1 1 /tmp/x").is_err());
        assert!(define(&mut g, "guard 1 0 0 1 /tmp/l").is_err());
        assert!(!allows(&g, M, "execve"));
        assert!(!allows(&g, M, "socket:inet"));
        assert!(!allows(&g, M, "openat:write"));
        assert!(!allows(&g, M, "renameat2"));
        assert!(allows(&g, M, "openat"));
        assert_eq!(g.allow_for(M), allow);
    }

    #[test]
    fn a_file_moves_only_to_guards_at_least_as_strict() {
        let mut g = Guards::default();
        define(&mut g, "guard 1 0 0 0 /tmp/a").unwrap(); // denies all three
        define(&mut g, "guard 2 1 1 1 /tmp/b").unwrap(); // denies nothing
        define(&mut g, "guard 3 1 0 1 /tmp/c").unwrap(); // denies networking
        define(&mut g, "guard 4 0 0 0 /tmp/d").unwrap(); // denies all three
        define(&mut g, "guard 5 0 0 1 /tmp/e").unwrap(); // allows file writes
        let strict = g.bind(M, 1).unwrap();
        // The same binding again is fine.
        assert_eq!(g.bind(M, 1), Ok(strict));
        // A looser guard may not take it (nor would it loosen it).
        let err = g.bind(M, 2).unwrap_err();
        assert!(err.contains("already judged by guard 1"), "{err}");
        assert!(g.bind(M, 3).is_err());
        let err = g.bind(M, 5).unwrap_err();
        assert!(err.contains("it denies shells and networking"), "{err}");
        assert_eq!(g.allow_for(M), strict);
        assert_eq!(g.modules[&M], vec![1]);
        // An equally strict guard may: the file is judged by both, and its
        // violations are reported to the one bound last.
        assert_eq!(g.bind(M, 4), Ok(strict));
        assert_eq!(g.modules[&M], vec![1, 4]);
        assert_eq!(g.guard_of(M).unwrap().log, PathBuf::from("/tmp/d"));
        // Unknown guards and the kernel's reserved ids are refused.
        assert!(g.bind(M, 9).unwrap_err().contains("no guard 9"));
        assert!(g.bind(module_id::BASE, 1).is_err());
        assert!(!g.modules.contains_key(&module_id::BASE));
    }

    #[test]
    fn a_file_bound_to_a_loose_guard_can_be_tightened() {
        let mut g = Guards::default();
        define(&mut g, "guard 1 1 0 1 /tmp/a").unwrap(); // networking
        define(&mut g, "guard 2 0 1 1 /tmp/b").unwrap(); // shells
        define(&mut g, "guard 3 0 0 1 /tmp/c").unwrap(); // both
        define(&mut g, "guard 5 0 0 0 /tmp/e").unwrap(); // and file writes
        g.bind(M, 1).unwrap();
        assert!(g.bind(M, 2).is_err()); // shells only: does not cover networking
        let allow = g.bind(M, 3).unwrap();
        assert!(
            denies(&minus(&ALL, &allow), "execve") && denies(&minus(&ALL, &allow), "connect:inet")
        );
        assert!(!denies(&minus(&ALL, &allow), "openat:write"));
        // Now guard 1 is not enough for it any more... but it is already bound.
        assert_eq!(g.bind(M, 1), Ok(allow));
        // A guard that also denies file writes tightens it further.
        let strictest = g.bind(M, 5).unwrap();
        assert!(denies(&minus(&ALL, &strictest), "openat:write"));
        assert!(g.bind(M, 3).is_ok()); // already bound: nothing changes
        assert_eq!(g.allow_for(M), strictest);
        // A stricter redefinition of a guard tightens its files.
        let m2 = M + 1;
        g.bind(m2, 1).unwrap();
        assert!(allows(&g, m2, "execve"));
        assert!(allows(&g, m2, "unlink"));
        define(&mut g, "guard 1 0 0 1 /tmp/a").unwrap();
        assert!(!allows(&g, m2, "execve"));
        assert!(allows(&g, m2, "unlink"));
        define(&mut g, "guard 1 0 0 0 /tmp/a").unwrap();
        assert!(!allows(&g, m2, "unlink"));
        assert_eq!(g.modules_of(1), vec![M, m2]);
    }

    #[test]
    fn base_only_shrinks_and_unguarded_modules_are_allowed() {
        let mut g = Guards::default();
        assert_eq!(g.base(), ALL);
        define(&mut g, "guard 1 1 1 1 /tmp/a").unwrap();
        assert_eq!(g.base(), ALL);
        define(&mut g, "guard 2 1 0 1 /tmp/b").unwrap();
        assert!(denies(&minus(&ALL, &g.base()), "connect:inet"));
        assert!(!denies(&minus(&ALL, &g.base()), "execve"));
        assert!(!denies(&minus(&ALL, &g.base()), "openat:write"));
        define(&mut g, "guard 3 1 1 0 /tmp/c").unwrap();
        assert!(denies(&minus(&ALL, &g.base()), "openat:write"));
        assert!(!denies(&minus(&ALL, &g.base()), "openat"));
        assert!(allows(&g, M, "execve"));
        assert!(allows(&g, M, "connect:inet"));
        assert!(allows(&g, M, "openat:write"));
    }

    /// Whatever sequence of commands arrives, no module's rule and not the
    /// base set ever allows something it denied before.
    #[test]
    fn any_command_sequence_is_monotonic() {
        let mut seed: u64 = 0x5ec1_3907;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let modules: Vec<u32> = (0..6).map(|i| module_id::FIRST_DYNAMIC + i).collect();
        for _round in 0..200 {
            let mut g = Guards::default();
            let mut before: Vec<Bitmap> = modules.iter().map(|&m| g.allow_for(m)).collect();
            let mut base = g.base();
            for _ in 0..40 {
                let id = next(4) as u32;
                if next(2) == 0 {
                    let line = format!(
                        "guard {id} {} {} {} /tmp/log{}",
                        next(2),
                        next(2),
                        next(2),
                        next(2)
                    );
                    let _ = define(&mut g, &line);
                } else {
                    let _ = g.bind(modules[next(6) as usize], id);
                }
                for (i, &m) in modules.iter().enumerate() {
                    let now = g.allow_for(m);
                    assert!(covers(&before[i], &now), "module {m} gained permissions");
                    before[i] = now;
                }
                let now = g.base();
                assert!(covers(&base, &now), "the base set grew");
                base = now;
                // Every module is denied at least what each of its guards denies.
                for (&m, owners) in &g.modules {
                    for o in owners {
                        assert!(covers(&g.denied_for(m), &g.guards[o].denied));
                    }
                }
            }
        }
    }
}
