//! Launches the target under a loaded sandbox, follows its process tree from
//! the sandbox's events, and waits for it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

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

/// Runs `argv` in `sandbox`; `on_event` sees every event as it arrives.
pub fn supervise(
    sandbox: &Sandbox,
    argv: &[String],
    mut on_event: impl FnMut(&Event),
    mut on_tick: impl FnMut(&Sandbox, &BTreeMap<u32, Process>),
) -> Result<Outcome, Failure> {
    let held = launcher::spawn_held(argv)?;
    if let Err(e) = sandbox.track_launching(held.pid()) {
        held.abort();
        return Err(e.into());
    }
    let mut procs: BTreeMap<u32, Process> = BTreeMap::new();
    let mut order: Vec<u32> = vec![held.pid()];
    procs.insert(
        held.pid(),
        Process {
            pid: held.pid(),
            ppid: std::process::id(),
            exe: None,
            comm: String::new(),
            kind: "other".into(),
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
    let running = held.release();
    let restore = || {
        for (sig, h) in &old {
            // SAFETY: restoring the dispositions saved above.
            unsafe { libc::signal(*sig, *h) };
        }
    };
    let running = match running {
        Ok(r) => r,
        Err(e) => {
            restore();
            return Err(e.into());
        }
    };

    let mut handle =
        |events: Vec<Event>, procs: &mut BTreeMap<u32, Process>, order: &mut Vec<u32>| {
            for ev in events {
                match &ev {
                    Event::Fork { pid, ppid, comm } => {
                        let parent = procs.get(ppid).cloned();
                        order.push(*pid);
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
                    }
                    Event::Violation(_) => {}
                }
                on_event(&ev);
            }
        };

    let mut last_tick = Instant::now();
    let exit_status = loop {
        let events = sandbox.poll(Duration::from_millis(100));
        // The kernel reports the exit before the parent can reap it: once it
        // has, wait for the status instead of polling again.
        let target_exited = events
            .iter()
            .any(|e| matches!(e, Event::Exit { pid, .. } if *pid == running.pid()));
        handle(events, &mut procs, &mut order);
        if target_exited {
            break running.wait();
        }
        if let Some(status) = running.try_wait() {
            break status;
        }
        let sig = FORWARD_SIGNAL.swap(0, Ordering::SeqCst);
        if sig != 0 {
            running.signal(sig);
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
    handle(sandbox.poll(Duration::ZERO), &mut procs, &mut order);
    restore();

    let processes = order.iter().filter_map(|pid| procs.remove(pid)).collect();
    Ok(Outcome {
        exit_status,
        processes,
        killed_leftovers: killed,
    })
}
