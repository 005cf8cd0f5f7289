//! The seccomp backend's supervisor (`--backend seccomp`): the program runs
//! in its own pid namespace (`jail`) under a filter built from the policy
//! (`seccomp::plan`); every syscall the kernel could not decide alone waits
//! in a notification while we read the calling thread's Python stack from
//! user space (`remote`), judge it with the one decision function
//! (`Compiled::decide`), and answer: let it run, or fail it with EPERM
//! before it had any effect (deny mode), or kill the tree while it is still
//! held (kill mode). Log mode lets it run and reports it.
//!
//! Several threads answer notifications, so one slow stack read does not
//! hold up the other threads of a multi-threaded target. A notification
//! is answered only while it is still valid (`SECCOMP_IOCTL_NOTIF_ID_VALID`
//! after reading the stack: the thread may have died and its tid been
//! reused). What cannot be read is judged as an unknown module; a thread
//! with no Python frame by the start-up or frameless bucket, as in the
//! kernel.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use secimport_engine::jail::Jailed;
use secimport_engine::launcher;
use secimport_engine::python::Interpreter;
use secimport_engine::remote::{RemoteError, RemoteProcess};
use secimport_engine::seccomp::{self, Notification};
use secimport_policy::naming::Namer;
use secimport_policy::policy::{Compiled, Judge, Query, Refusal, Unseen, Who};
use secimport_policy::rights;

use crate::violations::{Argument, Frame, Record};

/// Who judges a held syscall: a policy ([`Compiled::decide`]), or the
/// guards of `secure_import` (`commands::guard`).
pub trait Decide: Sync {
    fn decide(&self, q: &Query) -> secimport_policy::policy::Decision;
}

impl Decide for Compiled {
    fn decide(&self, q: &Query) -> secimport_policy::policy::Decision {
        Compiled::decide(self, q)
    }
}

/// The processes supervised: a tree `run` started in its own namespace, or
/// a process that installed the filter on itself (a guard) and its children.
#[derive(Clone, Copy)]
pub enum Tree<'a> {
    Jail(&'a Jailed),
    Process(u32),
}

impl Tree<'_> {
    fn launched_target(&self) -> Option<u32> {
        match self {
            Tree::Jail(j) => Some(j.target),
            Tree::Process(_) => None,
        }
    }

    fn kill_all(&self, known: &[u32]) {
        match self {
            Tree::Jail(j) => j.kill_all(known),
            Tree::Process(pid) => {
                launcher::kill_all(known);
                launcher::kill_all(&[*pid]);
            }
        }
    }
}

/// What happens to a syscall the policy does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Report it; let it run.
    Log,
    /// Fail it with EPERM; the program goes on.
    Deny,
    /// Kill the whole tree before it runs.
    Kill,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::Deny => "deny",
            Action::Kill => "kill",
        }
    }
}

/// A process of the tree, as far as judging goes.
#[derive(Debug, Clone)]
enum Kind {
    /// Running the interpreter: its stack is read.
    Python,
    /// Running another program: the `spec.programs` key, if the policy names it.
    Program(Option<String>),
}

#[derive(Default)]
struct Proc {
    kind: Option<Kind>,
    remote: Option<RemoteProcess>,
    /// A Python frame was seen: start-up is over.
    started: bool,
    /// Modules of thread creations not yet matched to a new thread.
    pending: Vec<String>,
    /// Threads seen, with the modules each inherited.
    threads: BTreeMap<u32, Vec<String>>,
    /// Modules of process creations not yet matched to a new process.
    children: Vec<String>,
    /// The stack of the latest process creation (shown for its child).
    children_frames: Vec<Frame>,
    /// What this process inherited from the stack that created it: a
    /// vfork child (posix_spawn) shares its creator's memory, where no
    /// thread state is its own, and is judged by its creator's stack.
    creator: Vec<String>,
    /// That stack, as reported for the vfork child's syscalls.
    creator_frames: Vec<Frame>,
}

/// Everything the answering threads share.
pub struct Supervisor<'a> {
    pub judge: &'a dyn Decide,
    pub namer: &'a Namer,
    pub interpreter: &'a Interpreter,
    pub action: Action,
    pub walk_limit: usize,
    pub tree: Tree<'a>,
    /// Judges are co_filenames (guards bind files), not module names.
    pub by_file: bool,
    procs: Mutex<BTreeMap<u32, Proc>>,
    tgids: Mutex<std::collections::HashMap<u32, u32>>,
    workers: Mutex<Vec<usize>>,
    /// Held while a thread creation is let through and its new thread is
    /// looked for (one at a time, so the new thread is exactly the task that
    /// appears): a thread's first notification waits for it.
    creating: Mutex<()>,
    done: AtomicBool,
    finished: std::sync::atomic::AtomicUsize,
    /// The target's first `execve` (the launch) is let through unjudged.
    launched: AtomicBool,
    pub notifications: AtomicU64,
    pub violations: AtomicU64,
    killed: AtomicBool,
    /// Identity of the interpreter's executable (dev, ino).
    python_id: (u64, u64),
    programs: Vec<(String, (u64, u64))>,
    /// Trace mode: every held syscall is charged here and let through.
    recorder: Option<Mutex<Recorder>>,
}

/// What `trace` learns on this backend (see `commands::trace`).
#[derive(Default)]
pub struct Recorder {
    pub modules: BTreeMap<String, secimport_policy::trace::ModuleTrace>,
    pub buckets: secimport_policy::trace::Buckets,
    pub programs: BTreeMap<String, secimport_policy::trace::SyscallCounts>,
    pub stacks: u64,
    pub truncated: u64,
    pub unreadable: u64,
}

impl<'a> Supervisor<'a> {
    pub fn new(
        compiled: &'a Compiled,
        namer: &'a Namer,
        interpreter: &'a Interpreter,
        action: Action,
        walk_limit: usize,
        jail: &'a Jailed,
    ) -> Supervisor<'a> {
        let programs: Vec<String> = compiled.programs.iter().map(|(p, _)| p.clone()).collect();
        Supervisor::with_judge(
            compiled,
            &programs,
            namer,
            interpreter,
            action,
            walk_limit,
            Tree::Jail(jail),
        )
    }

    /// A supervisor judging with `judge` (`programs`: the paths of its
    /// programs' entries) over `tree`.
    pub fn with_judge(
        judge: &'a dyn Decide,
        programs: &[String],
        namer: &'a Namer,
        interpreter: &'a Interpreter,
        action: Action,
        walk_limit: usize,
        tree: Tree<'a>,
    ) -> Supervisor<'a> {
        let id = |p: &std::path::Path| {
            std::fs::metadata(p)
                .map(|m| (m.dev(), m.ino()))
                .unwrap_or((u64::MAX, u64::MAX))
        };
        let python_id = id(&std::fs::canonicalize(&interpreter.executable)
            .unwrap_or_else(|_| interpreter.executable.clone()));
        let programs = programs
            .iter()
            .map(|path| (path.clone(), id(std::path::Path::new(path))))
            .collect();
        Supervisor {
            judge,
            by_file: false,
            namer,
            interpreter,
            action,
            walk_limit,
            tree,
            procs: Mutex::new(BTreeMap::new()),
            tgids: Mutex::new(std::collections::HashMap::new()),
            workers: Mutex::new(Vec::new()),
            creating: Mutex::new(()),
            done: AtomicBool::new(false),
            finished: std::sync::atomic::AtomicUsize::new(0),
            launched: AtomicBool::new(false),
            notifications: AtomicU64::new(0),
            violations: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            python_id,
            programs,
            recorder: None,
        }
    }

    /// Records instead of judging (trace mode): every held syscall is
    /// charged to its judges and let through.
    pub fn recording(mut self) -> Supervisor<'a> {
        self.recorder = Some(Mutex::new(Recorder::default()));
        self
    }

    /// What trace mode recorded.
    pub fn recorded(self) -> Recorder {
        self.recorder
            .map(|r| r.into_inner().expect("not poisoned"))
            .unwrap_or_default()
    }

    /// Answers notifications on `listener` with `threads` threads until
    /// [`Supervisor::stop`]; violations go to `reports`. Each thread waits
    /// in the kernel (so the kernel hands a held syscall straight to it,
    /// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`); `stop` interrupts them.
    pub fn serve(&self, listener: BorrowedFd, threads: usize, reports: mpsc::Sender<Record>) {
        install_wakeup_handler();
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                let reports = reports.clone();
                scope.spawn(move || {
                    // SAFETY: pthread_self has no preconditions.
                    let me = unsafe { libc::pthread_self() } as usize;
                    self.workers.lock().expect("not poisoned").push(me);
                    self.answer_loop(listener, reports)
                });
            }
        });
    }

    /// Ends [`Supervisor::serve`] (once the tree is gone).
    pub fn stop(&self) {
        self.done.store(true, Ordering::SeqCst);
        for _ in 0..200 {
            let workers = self.workers.lock().expect("not poisoned").clone();
            let live: Vec<usize> = workers
                .into_iter()
                // SAFETY: signalling our own threads (0: only a check).
                .filter(|t| unsafe { libc::pthread_kill(*t as libc::pthread_t, 0) } == 0)
                .collect();
            if live.is_empty()
                || self.finished.load(Ordering::SeqCst)
                    >= self.workers.lock().expect("not poisoned").len()
            {
                return;
            }
            for t in live {
                // SAFETY: as above; the handler does nothing, the wait returns EINTR.
                unsafe { libc::pthread_kill(t as libc::pthread_t, libc::SIGUSR2) };
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn answer_loop(&self, listener: BorrowedFd, reports: mpsc::Sender<Record>) {
        while !self.done.load(Ordering::SeqCst) {
            let n = match seccomp::recv_interruptible(listener) {
                Ok(Some(n)) => n,
                Ok(None) => continue, // the thread died, or another worker took it
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(_) => break,
            };
            self.notifications.fetch_add(1, Ordering::Relaxed);
            if let Some(record) = self.answer(listener, &n) {
                let _ = reports.send(record);
            }
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    /// Judges one held syscall and answers it; the record of a violation.
    fn answer(&self, listener: BorrowedFd, n: &Notification) -> Option<Record> {
        let fd = listener.as_raw_fd();
        let tid = n.tid;
        if !self.tgids.lock().expect("not poisoned").contains_key(&tid) {
            // A new thread: its creation may still be being recorded.
            drop(self.creating.lock().expect("not poisoned"));
        }
        let Some(tgid) = self.tgid_of(tid) else {
            // Gone already.
            let _ = seccomp::respond_errno(listener, n.id, libc::ESRCH);
            return None;
        };
        let nr = n.nr as u32;
        // The launch: the target's own execve of the interpreter.
        if Some(tgid) == self.tree.launched_target()
            && matches!(rights::name(nr).as_str(), "execve" | "execveat")
            && !self.launched.swap(true, Ordering::SeqCst)
        {
            let _ = seccomp::respond_continue(listener, n.id);
            return None;
        }
        let memory = seccomp::ProcessMemory::new(tid);
        let right = seccomp::right_of(n, tgid, &memory);
        let right_name = rights::name(right);
        let values = crate::unprivileged_values::values(nr, &right_name, &n.args, tid, &memory);
        let right_name_for_values = right_name.clone();
        let (right, right_name) =
            crate::unprivileged_values::pycache(right, &right_name_for_values, &values);
        let values: Vec<String> = if right_name.ends_with(":pycache") {
            Vec::new()
        } else {
            values
        };

        let mut procs = self.procs.lock().expect("not poisoned");
        if !procs.contains_key(&tgid) {
            // A new process: what the creating stack in its parent held.
            let ppid = ppid_of(tgid);
            let (creator, creator_frames) = procs
                .get_mut(&ppid)
                .map(|p| {
                    (
                        std::mem::take(&mut p.children),
                        std::mem::take(&mut p.children_frames),
                    )
                })
                .unwrap_or_default();
            procs.insert(
                tgid,
                Proc {
                    creator,
                    creator_frames,
                    ..Proc::default()
                },
            );
        }
        let proc = procs.get_mut(&tgid).expect("inserted above");
        if proc.kind.is_none() {
            proc.kind = Some(self.kind_of(tgid));
        }
        let kind = proc.kind.clone().expect("set above");
        // An exec changes the program: learn it again at the next syscall.
        let is_exec = matches!(rights::name(nr).as_str(), "execve" | "execveat");

        // The modules a thread being created inherits (a thread clone).
        let mut thread_creation: Option<Vec<String>> = None;
        let (decision, frames, inherited, truncated) = match &kind {
            Kind::Program(key) => {
                if let Some(rec) = &self.recorder {
                    let mut rec = rec.lock().expect("not poisoned");
                    let program = std::fs::read_link(format!("/proc/{tgid}/exe"))
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "<unknown>".into());
                    *rec.programs
                        .entry(program)
                        .or_default()
                        .entry(right_name.clone())
                        .or_insert(0) += 1;
                    *rec.buckets
                        .non_python
                        .entry(right_name.clone())
                        .or_insert(0) += 1;
                }
                let d = self.judge.decide(&Query {
                    right,
                    right_name: &right_name,
                    who: Who::Program(key.as_deref()),
                    values: &values,
                });
                (d, Vec::new(), Vec::new(), false)
            }
            Kind::Python => {
                let mut attach_error = None;
                if proc.remote.is_none() {
                    match RemoteProcess::attach(tgid, self.interpreter) {
                        Ok(r) => proc.remote = Some(r),
                        Err(e) => {
                            tracing::debug!("process {tgid}: {e}");
                            attach_error = Some(e);
                        }
                    }
                }
                let inherited = proc
                    .threads
                    .entry(tid)
                    .or_insert_with(|| std::mem::take(&mut proc.pending))
                    .clone();
                let stack = match &proc.remote {
                    // The thread is held, but other threads may be changing
                    // the interpreter's lists as they are read: one more
                    // read before a stack counts as unreadable.
                    Some(r) => match r.stack(tid, self.walk_limit) {
                        Err(
                            e @ (RemoteError::NoThreadState(_)
                            | RemoteError::ThreadIds { .. }
                            | RemoteError::NotPython { .. }),
                        ) => Err(e),
                        Err(_) => r.stack(tid, self.walk_limit),
                        ok => ok,
                    },
                    None => Err(attach_error.unwrap_or(RemoteError::NotPython {
                        pid: tgid,
                        reason: "its runtime could not be found".into(),
                    })),
                };
                tracing::debug!(
                    "{right_name} by {tid}: {:?}",
                    stack.as_ref().map(|s| s.frames.len())
                );
                let mut names: Vec<String> = Vec::new();
                let mut unseen: Vec<Unseen> = Vec::new();
                let mut frames = Vec::new();
                let mut truncated = false;
                match &stack {
                    Ok(s) => {
                        for f in &s.frames {
                            let module = if self.by_file {
                                f.file.clone()
                            } else {
                                self.namer.module_name(&f.file)
                            };
                            frames.push(Frame {
                                module: module.clone(),
                                file: f.file.clone(),
                                line: f.line,
                                function: f.function.clone(),
                            });
                            if !names.contains(&module) {
                                names.push(module);
                            }
                        }
                        if s.truncated {
                            unseen.push(Unseen::Truncated);
                            truncated = true;
                        }
                    }
                    Err(RemoteError::NoThreadState(_)) => {
                        tracing::debug!("thread {tid}: no thread state");
                    }
                    // A vfork child runs in its creator's memory: no thread
                    // state names it; its creator's stack judges it.
                    Err(RemoteError::ThreadIds { .. }) if !proc.creator.is_empty() => {
                        names.extend(proc.creator.iter().cloned());
                        frames.extend(proc.creator_frames.iter().cloned());
                    }
                    // Before start-up is over, a runtime that cannot be read
                    // is one not initialized yet: no frame exists (as the
                    // kernel side judges it).
                    Err(e) if !proc.started => {
                        tracing::debug!("thread {tid} (start-up): {e}");
                    }
                    Err(e) => {
                        tracing::debug!("thread {tid}: {e}");
                        unseen.push(Unseen::Unreadable)
                    }
                }
                if !names.is_empty() {
                    proc.started = true;
                }
                for m in &inherited {
                    if !names.contains(m) {
                        names.push(m.clone());
                    }
                }
                if let Some(rec) = &self.recorder {
                    let mut rec = rec.lock().expect("not poisoned");
                    rec.charge(
                        &names,
                        &unseen,
                        proc.started,
                        &right_name,
                        &values,
                        &frames,
                        self.namer,
                    );
                }
                let mut judges: Vec<Judge> = names.iter().map(|m| Judge::Module(m)).collect();
                judges.extend(unseen.iter().map(|u| Judge::Unseen(*u)));
                let d = self.judge.decide(&Query {
                    right,
                    right_name: &right_name,
                    who: Who::Python {
                        judges: &judges,
                        started: proc.started,
                    },
                    values: &values,
                });
                // A thread being created inherits this stack's modules; a
                // process, for when its own stack cannot be told.
                if matches!(right_name.as_str(), "clone" | "clone3") {
                    thread_creation = Some(names.clone());
                }
                let creation = match right_name.as_str() {
                    "clone:process" | "clone3:process" | "fork" | "vfork" => {
                        Some(&mut proc.children)
                    }
                    _ => None,
                };
                if let Some(list) = creation {
                    for m in &names {
                        if !list.contains(m) {
                            list.push(m.clone());
                        }
                    }
                }
                if matches!(
                    right_name.as_str(),
                    "clone:process" | "clone3:process" | "fork" | "vfork"
                ) {
                    proc.children_frames = frames.clone();
                }
                (d, frames, inherited, truncated)
            }
        };
        if is_exec {
            proc.kind = None;
            proc.remote = None;
        }
        drop(procs);

        // Answer only a notification that is still the one we read.
        if !seccomp::id_valid(listener, n.id) {
            return None;
        }
        if decision.allowed || self.recorder.is_some() {
            self.let_through(listener, n, tgid, thread_creation);
            return None;
        }
        self.violations.fetch_add(1, Ordering::Relaxed);
        let record = self.record(
            n,
            tgid,
            &right_name,
            &values,
            &decision,
            &frames,
            &inherited,
            truncated,
            &kind,
        );
        match self.action {
            Action::Log => {
                self.let_through(listener, n, tgid, thread_creation);
            }
            Action::Deny => {
                let _ = seccomp::respond_errno(listener, n.id, libc::EPERM);
            }
            Action::Kill => {
                // The rest of the tree first, then the offender, which
                // cannot move meanwhile: its syscall is held, and a held
                // syscall waits killably. In the other order a vfork parent
                // (`os.system`, `posix_spawn`) wakes when its child dies and
                // runs on until its own signal arrives.
                self.killed.store(true, Ordering::SeqCst);
                let known: Vec<u32> = self
                    .procs
                    .lock()
                    .expect("not poisoned")
                    .keys()
                    .copied()
                    .filter(|&p| p != tgid)
                    .collect();
                self.tree.kill_all(&known);
                launcher::kill_all(&[tgid]);
            }
        }
        let _ = fd;
        Some(record)
    }

    /// Answers CONTINUE. For a thread creation (`modules`: what the new
    /// thread inherits) the new thread is the task of `tgid` that appears
    /// next: creations are let through one at a time, and the thread's own
    /// first notification waits until it is recorded. If none appears (the
    /// clone failed, or the thread already ended), the modules wait for the
    /// next unknown thread of the process, as before.
    fn let_through(
        &self,
        listener: BorrowedFd,
        n: &Notification,
        tgid: u32,
        modules: Option<Vec<String>>,
    ) {
        let id = n.id;
        let Some(modules) = modules else {
            let _ = seccomp::respond_continue(listener, id);
            return;
        };
        let _one_at_a_time = self.creating.lock().expect("not poisoned");
        let before = tasks_of(tgid);
        // Counted when the creator blocks (it is blocked now, held): once
        // it blocks again, it is past the clone (glibc reuses a joined
        // thread's stack, so the next clone may look the same).
        let switches = voluntary_switches(tgid, n.tid);
        if seccomp::respond_continue(listener, id).is_err() {
            return;
        }
        let deadline = Instant::now() + CREATION_WAIT;
        let new = loop {
            // Whether the clone has returned, asked before the threads are
            // listed: a new thread it made is in the list that follows.
            let returned = Instant::now() >= deadline
                || elsewhere(tgid, n)
                || voluntary_switches(tgid, n.tid) != switches;
            if let Some(&t) = tasks_of(tgid).difference(&before).next() {
                break Some(t);
            }
            // Returned with no new thread there: the clone failed, or the
            // thread has already ended.
            if returned {
                break None;
            }
            std::thread::sleep(Duration::from_micros(20));
        };
        tracing::debug!(
            "thread creation in {tgid}: new thread {new:?} after {:?}",
            CREATION_WAIT.saturating_sub(deadline.saturating_duration_since(Instant::now()))
        );
        let mut procs = self.procs.lock().expect("not poisoned");
        if let Some(proc) = procs.get_mut(&tgid) {
            match new {
                Some(t) => {
                    proc.threads.insert(t, modules);
                }
                None => {
                    for m in modules {
                        if !proc.pending.contains(&m) {
                            proc.pending.push(m);
                        }
                    }
                }
            }
        }
    }

    /// The process of thread `tid`: remembered, and checked with one
    /// `access` (a tid reused by another process is not its task any more).
    fn tgid_of(&self, tid: u32) -> Option<u32> {
        let known = self.tgids.lock().expect("not poisoned").get(&tid).copied();
        if let Some(tgid) = known {
            // One access(2) per notification: this is the supervisor's hot path.
            let path = format!("/proc/{tgid}/task/{tid}");
            if nix::unistd::access(path.as_str(), nix::unistd::AccessFlags::F_OK).is_ok() {
                return Some(tgid);
            }
        }
        let tgid = seccomp::tgid_of(tid)?;
        let mut map = self.tgids.lock().expect("not poisoned");
        if map.len() > 65536 {
            map.clear();
        }
        map.insert(tid, tgid);
        Some(tgid)
    }

    /// What process `tgid` runs now: the interpreter, or another program.
    fn kind_of(&self, tgid: u32) -> Kind {
        let Ok(meta) = std::fs::metadata(format!("/proc/{tgid}/exe")) else {
            return Kind::Program(None);
        };
        let id = (meta.dev(), meta.ino());
        if id == self.python_id {
            return Kind::Python;
        }
        Kind::Program(
            self.programs
                .iter()
                .find(|(_, pid)| *pid == id)
                .map(|(path, _)| path.clone()),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        n: &Notification,
        tgid: u32,
        right_name: &str,
        values: &[String],
        decision: &secimport_policy::policy::Decision,
        frames: &[Frame],
        inherited: &[String],
        truncated: bool,
        kind: &Kind,
    ) -> Record {
        let mut denied_by = Vec::new();
        let mut reasons: Vec<&'static str> = Vec::new();
        if decision.dangerous {
            reasons.push("dangerous");
        }
        for (_, refusal) in &decision.refusals {
            let name = match refusal {
                Refusal::NotListed { key } | Refusal::Value { key, .. } => key.clone(),
                Refusal::Unknown => String::new(),
                Refusal::Unseen(Unseen::Truncated) => "<truncated>".into(),
                Refusal::Unseen(Unseen::Unreadable) => "<unreadable>".into(),
                Refusal::Unseen(Unseen::Overflow) => "<overflow>".into(),
                Refusal::Bucket { started: false } => "<startup>".into(),
                Refusal::Bucket { started: true } => "<frameless>".into(),
                Refusal::Program { key } => key.clone(),
                Refusal::Children => "<non-python>".into(),
            };
            if matches!(refusal, Refusal::Value { .. }) && !reasons.contains(&"value") {
                reasons.push("value");
            }
            if let Refusal::Bucket { started } = refusal {
                reasons.push(if *started { "frameless" } else { "startup" });
            }
            if !name.is_empty() && !denied_by.contains(&name) {
                denied_by.push(name);
            }
        }
        // Unknown modules: name them from the stack (the refusal has the index).
        if let Kind::Python = kind {
            let mut names: Vec<&str> = Vec::new();
            for f in frames {
                if !names.contains(&f.module.as_str()) {
                    names.push(&f.module);
                }
            }
            for m in inherited {
                if !names.contains(&m.as_str()) {
                    names.push(m);
                }
            }
            for (i, refusal) in &decision.refusals {
                if let (Refusal::Unknown, Some(m)) = (refusal, names.get(*i)) {
                    if !denied_by.iter().any(|d| d == m) {
                        denied_by.push(m.to_string());
                    }
                }
            }
        }
        if !inherited.is_empty() {
            reasons.push("inherited");
        }
        if truncated {
            reasons.push("truncated");
        }
        let kind_of_value = secimport_policy::arguments::kind_of(right_name);
        let arguments = kind_of_value
            .map(|k| {
                values
                    .iter()
                    .map(|v| Argument {
                        kind: k.as_str(),
                        value: v.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Record {
            event: "violation",
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            pid: tgid,
            tid: n.tid,
            ppid: ppid_of(tgid),
            comm: std::fs::read_to_string(format!("/proc/{}/comm", n.tid))
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            syscall: right_name.to_string(),
            nr: n.nr as u32,
            action: self.action.as_str().to_string(),
            denied_by,
            inherited: inherited
                .iter()
                .take(crate::violations::INHERITED_SHOWN)
                .cloned()
                .collect(),
            inherited_omitted: inherited
                .len()
                .saturating_sub(crate::violations::INHERITED_SHOWN),
            reasons,
            arguments,
            depth: frames.len() as u32,
            stack: frames.iter().take(20).cloned().collect(),
            truncated,
        }
    }

    /// Whether a violation made this supervisor kill the tree.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// Read once per new process of the tree, not per notification.
/// How long a let-through thread creation is watched for its new thread.
const CREATION_WAIT: Duration = Duration::from_millis(50);

/// Whether the thread of notification `n` is seen blocked in another
/// syscall than that one (another number, or other first two arguments:
/// for a clone, the flags and the new thread's stack); a thread that is
/// running (`running`) or gone tells nothing.
fn elsewhere(tgid: u32, n: &Notification) -> bool {
    let Ok(line) = std::fs::read_to_string(format!("/proc/{tgid}/task/{}/syscall", n.tid)) else {
        return false;
    };
    let mut f = line.split_whitespace();
    let Some(nr) = f.next().and_then(|t| t.parse::<i64>().ok()) else {
        return false;
    };
    let hex =
        |t: Option<&str>| t.and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok());
    nr != i64::from(n.nr) || hex(f.next()) != Some(n.args[0]) || hex(f.next()) != Some(n.args[1])
}

/// `voluntary_ctxt_switches` of thread `tid`.
fn voluntary_switches(tgid: u32, tid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{tgid}/task/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The threads of process `tgid` now.
fn tasks_of(tgid: u32) -> std::collections::BTreeSet<u32> {
    std::fs::read_dir(format!("/proc/{tgid}/task"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn ppid_of(pid: u32) -> u32 {
    launcher::parent_of(pid).unwrap_or(0)
}

impl Recorder {
    /// Charges `right` (and its values) to every module of the stack, or to
    /// what could not be seen, or to the start-up/frameless bucket.
    #[allow(clippy::too_many_arguments)]
    fn charge(
        &mut self,
        names: &[String],
        unseen: &[Unseen],
        started: bool,
        right: &str,
        values: &[String],
        frames: &[Frame],
        namer: &Namer,
    ) {
        let _ = namer;
        self.stacks += 1;
        for u in unseen {
            let bucket = match u {
                Unseen::Truncated => {
                    self.truncated += 1;
                    &mut self.buckets.truncated
                }
                Unseen::Unreadable | Unseen::Overflow => {
                    self.unreadable += 1;
                    &mut self.buckets.unreadable
                }
            };
            *bucket.entry(right.to_string()).or_insert(0) += 1;
        }
        if names.is_empty() && unseen.is_empty() {
            let bucket = if started {
                &mut self.buckets.frameless
            } else {
                &mut self.buckets.startup
            };
            *bucket.entry(right.to_string()).or_insert(0) += 1;
            return;
        }
        let kind = secimport_policy::arguments::kind_of(right);
        for name in names {
            let entry = self.modules.entry(name.clone()).or_default();
            *entry.syscalls.entry(right.to_string()).or_insert(0) += 1;
            for f in frames.iter().filter(|f| &f.module == name) {
                if !entry.files.contains(&f.file) {
                    entry.files.push(f.file.clone());
                    entry.files.sort();
                }
            }
            if let Some(kind) = kind {
                let mine = entry
                    .arguments
                    .entry(kind.as_str().to_string())
                    .or_default();
                for v in values {
                    *mine.entry(v.clone()).or_insert(0) += 1;
                }
            }
        }
    }
}

extern "C" fn wakeup(_: libc::c_int) {}

/// SIGUSR2 interrupts a worker's wait (no SA_RESTART): see `stop`.
fn install_wakeup_handler() {
    // SAFETY: installing a handler that does nothing, without SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = wakeup as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
    }
}
