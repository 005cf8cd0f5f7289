//! Launches the target under a loaded sandbox, follows its process tree from
//! the sandbox's events, and waits for it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use secimport_engine::jail::Jailed;
use secimport_engine::launcher;
use secimport_engine::sandbox::{Event, Sandbox};
use secimport_policy::trace::Process;

use crate::commands::Failure;

/// How long processes of the tree may outlive the target before they are killed.
const GRACE: Duration = Duration::from_secs(1);

static FORWARD_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember_signal(sig: libc::c_int) {
    FORWARD_SIGNAL.store(sig, Ordering::SeqCst);
}

pub struct Outcome {
    /// The target's exit status (exit code, or 128 + signal).
    pub exit_status: i32,
    /// Every process of the tree, in order of appearance.
    pub processes: Vec<Process>,
    /// Processes that outlived the target and were killed.
    pub killed_leftovers: Vec<u32>,
}

/// What to supervise.
pub enum Start<'a> {
    /// Start this command (argv[0] is the interpreter) sandboxed from its
    /// first instruction.
    Launch(&'a [String]),
    /// Follow a process that is already running the interpreter (and the
    /// children it starts from now on).
    Attach(u32),
    /// Follow the target of a jail from its first instruction: the caller
    /// tracks it (`Sandbox::track_launching`) while its `execve` is still
    /// held, before the seccomp supervisor answers (the root hybrid of
    /// `run`).
    Jail(&'a Jailed),
}

/// The process being supervised: our child, one we attached to, or a
/// jail's target.
enum Subject<'a> {
    Child(launcher::Running),
    Attached(u32),
    Jailed(&'a Jailed),
}

impl Subject<'_> {
    fn pid(&self) -> u32 {
        match self {
            Subject::Child(r) => r.pid(),
            Subject::Attached(pid) => *pid,
            Subject::Jailed(j) => j.target,
        }
    }
}

/// Runs or follows the target in `sandbox`; `on_event` sees every event as
/// it arrives. Every process of the tree is kept for the outcome.
pub fn supervise(
    sandbox: &Sandbox,
    start: Start,
    on_event: impl FnMut(&Event),
    on_tick: impl FnMut(&Sandbox, &BTreeMap<u32, Process>),
) -> Result<Outcome, Failure> {
    supervise_with(sandbox, start, true, on_event, on_tick)
}

/// [`supervise`]; with `keep_exited` false, processes of the tree are
/// forgotten when they exit (the outcome lists only the target), so memory
/// follows the live tree, not how many processes it ever started.
pub fn supervise_with(
    sandbox: &Sandbox,
    start: Start,
    keep_exited: bool,
    mut on_event: impl FnMut(&Event),
    mut on_tick: impl FnMut(&Sandbox, &BTreeMap<u32, Process>),
) -> Result<Outcome, Failure> {
    let mut jailed = None;
    let (held, pid, ppid) = match start {
        Start::Launch(argv) => {
            let held = launcher::spawn_held(argv)?;
            if let Err(e) = sandbox.track_launching(held.pid()) {
                held.abort();
                return Err(e.into());
            }
            let pid = held.pid();
            (Some(held), pid, std::process::id())
        }
        Start::Attach(pid) => {
            sandbox.track_running(pid)?;
            let ppid = launcher::parent_of(pid).unwrap_or(0);
            (None, pid, ppid)
        }
        Start::Jail(jail) => {
            // Tracked by the caller while its execve was still held.
            jailed = Some(jail);
            (None, jail.target, jail.init)
        }
    };
    let mut procs: BTreeMap<u32, Process> = BTreeMap::new();
    let mut order: Vec<u32> = vec![pid];
    procs.insert(
        pid,
        Process {
            pid,
            ppid,
            exe: std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .filter(|_| held.is_none() && jailed.is_none())
                .map(|p| p.display().to_string()),
            comm: String::new(),
            kind: if held.is_none() && jailed.is_none() {
                "python"
            } else {
                "other"
            }
            .into(),
            syscalls: 0,
            exit_status: None,
        },
    );

    // The terminal's Ctrl-C reaches the whole foreground group, the target
    // included; the supervisor stays to the end to report. SIGTERM/SIGHUP
    // sent to us are passed on to the target.
    // SAFETY: installing handlers that only store to an atomic.
    let old: Vec<(i32, libc::sighandler_t)> = unsafe {
        vec![
            (libc::SIGINT, libc::signal(libc::SIGINT, libc::SIG_IGN)),
            (libc::SIGQUIT, libc::signal(libc::SIGQUIT, libc::SIG_IGN)),
            (
                libc::SIGTERM,
                libc::signal(
                    libc::SIGTERM,
                    remember_signal as *const () as libc::sighandler_t,
                ),
            ),
            (
                libc::SIGHUP,
                libc::signal(
                    libc::SIGHUP,
                    remember_signal as *const () as libc::sighandler_t,
                ),
            ),
        ]
    };
    let restore = || {
        for (sig, h) in &old {
            // SAFETY: restoring the dispositions saved above.
            unsafe { libc::signal(*sig, *h) };
        }
    };
    let subject = match held.map(|h| h.release()) {
        Some(Ok(r)) => Subject::Child(r),
        Some(Err(e)) => {
            restore();
            return Err(e.into());
        }
        None => match jailed {
            Some(jail) => Subject::Jailed(jail),
            None => Subject::Attached(pid),
        },
    };

    let subject_pid = subject.pid();
    let mut handle =
        |events: Vec<Event>, procs: &mut BTreeMap<u32, Process>, order: &mut Vec<u32>| {
            for ev in events {
                match &ev {
                    Event::Fork { pid, ppid, comm } => {
                        let parent = procs.get(ppid).cloned();
                        if keep_exited {
                            order.push(*pid);
                        }
                        procs.insert(
                            *pid,
                            Process {
                                pid: *pid,
                                ppid: *ppid,
                                exe: None,
                                comm: comm.clone(),
                                kind: parent.map(|p| p.kind).unwrap_or_else(|| "other".into()),
                                syscalls: 0,
                                exit_status: None,
                            },
                        );
                    }
                    Event::Exec {
                        pid,
                        comm,
                        filename,
                        python,
                        ..
                    } => {
                        if let Some(p) = procs.get_mut(pid) {
                            p.exe = Some(filename.clone());
                            p.comm = comm.clone();
                            p.kind = if *python { "python" } else { "other" }.into();
                        }
                    }
                    Event::PythonReady { pid } => {
                        if let Some(p) = procs.get_mut(pid) {
                            p.kind = "python".into();
                        }
                    }
                    Event::Exit {
                        pid,
                        comm,
                        wait_status,
                        syscalls,
                    } => {
                        if let Some(p) = procs.get_mut(pid) {
                            p.exit_status = Some(launcher::wait_status_code(*wait_status));
                            p.syscalls = *syscalls;
                            if p.comm.is_empty() {
                                p.comm = comm.clone();
                            }
                        }
                        if !keep_exited && *pid != subject_pid {
                            procs.remove(pid);
                        }
                    }
                    Event::Violation(_)
                    | Event::Resumed { .. }
                    | Event::Values { .. }
                    | Event::Module { .. } => {}
                }
                on_event(&ev);
            }
        };

    let mut last_tick = Instant::now();
    let exit_status = loop {
        let events = sandbox.poll(Duration::from_millis(100));
        // The kernel reports the exit before the parent can reap it: once it
        // has, wait for the status instead of polling again.
        let exit_event = events.iter().find_map(|e| match e {
            Event::Exit {
                pid, wait_status, ..
            } if *pid == subject.pid() => Some(*wait_status),
            _ => None,
        });
        handle(events, &mut procs, &mut order);
        match &subject {
            Subject::Child(running) => {
                if exit_event.is_some() {
                    break running.wait();
                }
                if let Some(status) = running.try_wait() {
                    break status;
                }
            }
            Subject::Attached(pid) => {
                if let Some(status) = exit_event {
                    break launcher::wait_status_code(status);
                }
                if !launcher::is_running(*pid) {
                    // Gone without an exit event (lost): its status is unknown.
                    break procs.get(pid).and_then(|p| p.exit_status).unwrap_or(0);
                }
            }
            Subject::Jailed(jail) => {
                // The namespace's init exits with the target's status.
                if exit_event.is_some() || jail.finished() {
                    break jail.wait();
                }
            }
        }
        let sig = FORWARD_SIGNAL.swap(0, Ordering::SeqCst);
        if sig != 0 {
            if let Ok(pid) = libc::pid_t::try_from(subject.pid()) {
                launcher::send(pid, sig);
            }
        }
        if last_tick.elapsed() >= Duration::from_secs(2) {
            on_tick(sandbox, &procs);
            last_tick = Instant::now();
        }
    };

    // Whatever of the tree is still alive gets a moment, then is killed:
    // once we stop supervising, nothing may run unsandboxed.
    let deadline = Instant::now() + GRACE;
    let mut killed = Vec::new();
    loop {
        handle(sandbox.poll(Duration::ZERO), &mut procs, &mut order);
        let live = sandbox.live_processes();
        if live.is_empty() {
            break;
        }
        if Instant::now() < deadline {
            handle(
                sandbox.poll(Duration::from_millis(20)),
                &mut procs,
                &mut order,
            );
            continue;
        }
        launcher::kill_all(&live);
        killed = live;
        std::thread::sleep(Duration::from_millis(50));
        handle(
            sandbox.poll(Duration::from_millis(50)),
            &mut procs,
            &mut order,
        );
        break;
    }
    // Everything still in the ring buffer, batch by batch: a violation
    // submitted just before the tree died is reported like any other.
    loop {
        let events = sandbox.drain();
        if events.is_empty() {
            break;
        }
        handle(events, &mut procs, &mut order);
    }
    restore();

    let processes = order.iter().filter_map(|pid| procs.remove(pid)).collect();
    Ok(Outcome {
        exit_status,
        processes,
        killed_leftovers: killed,
    })
}
