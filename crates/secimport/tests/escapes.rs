//! Issue #6, "attribution that cannot be escaped": programs whose plugin module, never allowed a
//! shell, tries to run one in a way that leaves no frame of its own where a stack walk looks. These
//! tests load BPF programs, so they need root (CI runs them as root): without it they fail, they never
//! skip. Each program is in tests/programs (`escape_*.py`, helpers in `helpers/escape_*.py`).
//!
//! Attacks: each program has a benign behaviour (`... benign`, traced to learn the policy) and an attack
//! (`... attack MARKER`) whose only difference is that the plugin runs `touch MARKER` in /bin/sh. The
//! application itself runs `touch $TMPDIR/escape-host-stamp` in the same setting (same modules left on
//! the stack, same kind of thread), so the learned policy allows a shell to everything the attack leaves
//! visible and forbids it only to the plugin. Each test shows that
//!
//! 1. without secimport the attack works (MARKER is created): the test proves something;
//! 2. the trace charges the plugin, with no exec or process creation;
//! 3. the benign behaviour runs clean under the learned policy in kill mode: the policy is not simply
//!    denying everything;
//! 4. under `secimport run --kill-on-violation` the attack is reported (`VIOLATION` on stderr, exit 1)
//!    and MARKER is never created.
//!
//! Classes: a deep stack (300 and 10,000 frames of a trusted module between the plugin and the shell),
//! plugin code compiled under an unreadable file name (a `str` subclass), threads started by the
//! plugin (`threading` and `_thread`) running `os.system` directly, an `atexit` callback, a
//! subinterpreter.
//!
//! No false positives: threads started by threads, process pools (concurrent.futures and
//! multiprocessing, fork) and asyncio with signal handlers and a subprocess each run 20 times, in log
//! mode, under the policy learned from one traced run, without a single violation.

#[macro_use]
mod common;

use std::time::Duration;

use common::{Case, Interp, PolicyRun};

on_every_version!(
    deep_stack_300_frames,
    unreadable_filename_plugin_functions,
    thread_start_threading,
    thread_start_raw_thread,
    atexit_callback,
    subinterpreter,
);

on_both_interpreters!(
    deep_stack_10000_frames,
    unreadable_filename_exec_in_plugin,
    atexit_callback_app_shells_on_a_thread,
);

/// How long a marker file is watched for after a run, in case something left behind creates it late.
const AFTERMATH: Duration = Duration::from_millis(500);

/// Syscalls that start a process or a program. `clone3`/`clone` also start threads, so a plugin that
/// starts threads is charged with them (see [`Plugin::starts_threads`]).
const PROCESS_CREATION: &[&str] = &["fork", "vfork", "execve", "execveat", "wait4"];
const CLONES: &[&str] = &["clone", "clone3"];

/// The plugin of an escape program.
struct Plugin {
    /// Its module name in the trace.
    module: &'static str,
    /// It starts threads: `clone3` is charged to it in the benign run.
    starts_threads: bool,
    /// helpers.escape_host runs the application's own command on the main thread (so it is charged
    /// with `execve`).
    host_shells_on_main_thread: bool,
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The escape test for `program PRE_ARGS... benign|attack MARKER` (see the module documentation).
fn attack_is_stopped(interp: Interp, program: &str, pre_args: &[&str], plugin: Plugin) {
    let case = Case::new(interp);
    let label = interp.label();
    let with = |tail: &[&str]| -> Vec<String> {
        pre_args
            .iter()
            .chain(tail.iter())
            .map(|s| s.to_string())
            .collect()
    };

    // 1. Without secimport the attack works.
    let direct_marker = case.path("pwned-without-secimport");
    let direct_args = with(&["attack", direct_marker.to_str().unwrap()]);
    let direct = case.run_without_secimport(program, &strs(&direct_args));
    assert!(
        direct.status.code() == Some(0) && direct_marker.exists(),
        "[{label}] {program}: without secimport the attack must run `touch {}` and exit 0, or this \
         test proves nothing\n{}",
        direct_marker.display(),
        direct.describe()
    );

    // 2. The benign behaviour, traced: the plugin is charged, with no shell.
    let benign = with(&["benign"]);
    let traced = case.trace(program, &strs(&benign), &[]);
    if traced.outcome.status.code() != Some(0) {
        traced.fail("the benign run must exit 0 under `secimport trace`");
    }
    if traced.module(plugin.module).is_none() {
        traced.fail_showing(
            &format!("the plugin {} must be in the trace", plugin.module),
            &[plugin.module],
        );
    }
    traced.assert_not_charged(plugin.module, PROCESS_CREATION);
    if !plugin.starts_threads {
        traced.assert_not_charged(plugin.module, CLONES);
    }
    if plugin.host_shells_on_main_thread {
        traced.assert_charged("helpers.escape_host", &["execve"]);
    }
    let policy = case.build_policy(&[]);

    // 3. The benign behaviour runs clean under the policy, in kill mode.
    let ran = case.run_policy(
        &policy,
        program,
        &strs(&benign),
        &["--kill-on-violation"],
        "benign.jsonl",
    );
    if !ran.is_clean() {
        panic!(
            "[{label}] {program}: the benign run must be clean under the policy learned from it \
             (exit 0, no violation), or the attack below would be stopped for the wrong reason\n{}",
            ran.describe()
        );
    }

    // 4. The attack, in kill mode: reported, and `touch` never runs.
    let marker = case.path("pwned");
    let attack = with(&["attack", marker.to_str().unwrap()]);
    let ran = case.run_policy(
        &policy,
        program,
        &strs(&attack),
        &["--kill-on-violation"],
        "attack.jsonl",
    );
    let created = marker.exists() || {
        std::thread::sleep(AFTERMATH);
        marker.exists()
    };
    let mut wrong = Vec::new();
    if created {
        wrong.push(format!(
            "ESCAPED: {} was created: the plugin's shell ran under --kill-on-violation",
            marker.display()
        ));
    }
    if !ran.reported_violation() {
        wrong.push("no VIOLATION on stderr".to_string());
    }
    if ran.out.status.code() != Some(1) {
        wrong.push(format!(
            "secimport exited with {}, expected 1 (a violation happened)",
            ran.out.status
        ));
    }
    if !wrong.is_empty() {
        fail_attack(label, program, &wrong, &ran);
    }
}

#[track_caller]
fn fail_attack(label: &str, program: &str, wrong: &[String], ran: &PolicyRun) -> ! {
    panic!(
        "[{label}] {program} attack under `secimport run --kill-on-violation`:\n  {}\n{}",
        wrong.join("\n  "),
        ran.describe()
    )
}

// ---------------------------------------------------------------------------------------------------
// 1. A deep stack: the plugin's frame far from the innermost one.
// ---------------------------------------------------------------------------------------------------

const DEEP: Plugin = Plugin {
    module: "helpers.escape_deep",
    starts_threads: false,
    host_shells_on_main_thread: true,
};

/// The plugin runs `os.system` through 300 frames of helpers.escape_host's recursive walker (which
/// the application uses for its own shell command): more than the walk limit.
fn deep_stack_300_frames(interp: Interp) {
    attack_is_stopped(interp, "escape_deep_stack.py", &["300"], DEEP);
}

/// The same through 10,000 frames (recursion limit 20,000).
fn deep_stack_10000_frames(interp: Interp) {
    attack_is_stopped(interp, "escape_deep_stack.py", &["10000"], DEEP);
}

// ---------------------------------------------------------------------------------------------------
// 2. Plugin code compiled with a `str` subclass as its file name.
// ---------------------------------------------------------------------------------------------------

const FILENAME: Plugin = Plugin {
    module: "helpers.escape_filename",
    starts_threads: false,
    host_shells_on_main_thread: true,
};

/// __main__ calls a plugin function whose code was compiled under `FileName("...py")`: the only
/// readable frame is __main__'s, which is allowed a shell.
fn unreadable_filename_plugin_functions(interp: Interp) {
    attack_is_stopped(interp, "escape_unreadable_filename.py", &["call"], FILENAME);
}

/// A plugin function execs `compile(src, S("x.py"), "exec")`, src running the shell: the plugin's own
/// frame stays readable below the unreadable one.
fn unreadable_filename_exec_in_plugin(interp: Interp) {
    attack_is_stopped(interp, "escape_unreadable_filename.py", &["exec"], FILENAME);
}

// ---------------------------------------------------------------------------------------------------
// 3. Threads started by the plugin, running `os.system` directly.
// ---------------------------------------------------------------------------------------------------

const THREADS: Plugin = Plugin {
    module: "helpers.escape_threads",
    starts_threads: true,
    host_shells_on_main_thread: false,
};

/// `threading.Thread(target=os.system, args=(cmd,)).start()` from the plugin: the new thread shows
/// only `threading`'s frames (allowed a shell: the application runs its command the same way).
fn thread_start_threading(interp: Interp) {
    attack_is_stopped(interp, "escape_thread_start.py", &["threading"], THREADS);
}

/// `_thread.start_new_thread(os.system, (cmd,))` from the plugin: the new thread has no Python frame
/// (and the application runs its own command the same way, so the base set allows a shell).
fn thread_start_raw_thread(interp: Interp) {
    attack_is_stopped(interp, "escape_thread_start.py", &["_thread"], THREADS);
}

// ---------------------------------------------------------------------------------------------------
// 4. atexit.
// ---------------------------------------------------------------------------------------------------

const ATEXIT: Plugin = Plugin {
    module: "helpers.escape_atexit",
    starts_threads: false,
    host_shells_on_main_thread: true,
};

/// `atexit.register(os.system, cmd)` from the plugin; the application runs its own command on the
/// main thread.
fn atexit_callback(interp: Interp) {
    attack_is_stopped(interp, "escape_atexit.py", &["main"], ATEXIT);
}

/// The same, the application also running its own command on a `_thread` thread (frameless), so
/// that a sandbox which does not charge threads to their creator lets the base set allow a shell.
fn atexit_callback_app_shells_on_a_thread(interp: Interp) {
    attack_is_stopped(interp, "escape_atexit.py", &["thread"], ATEXIT);
}

// ---------------------------------------------------------------------------------------------------
// 5. A subinterpreter.
// ---------------------------------------------------------------------------------------------------

/// `_xxsubinterpreters.run_string(interp, "import os; os.system(...)")` from the plugin; the
/// application runs its own command on the main thread and in a subinterpreter.
fn subinterpreter(interp: Interp) {
    attack_is_stopped(
        interp,
        "escape_subinterpreter.py",
        &[],
        Plugin {
            module: "helpers.escape_subinterp",
            starts_threads: false,
            host_shells_on_main_thread: true,
        },
    );
}

// ---------------------------------------------------------------------------------------------------
// 6. No false positives: 20 runs under the policy of one traced run.
// ---------------------------------------------------------------------------------------------------

/// How many times each benign program runs under its policy.
const RUNS: usize = 20;

/// Traces `program ARGS` once, builds, runs it [`RUNS`] times in log mode under that policy and
/// asserts every run clean (exit 0, no VIOLATION, empty log), listing every run that was not.
fn clean_runs(interp: Interp, program: &str, args: &[&str]) {
    let case = Case::new(interp);
    let label = interp.label();
    let traced = case.trace(program, args, &[]);
    if traced.outcome.status.code() != Some(0) {
        traced.fail("the traced run must exit 0");
    }
    let policy = case.build_policy(&[]);
    let mut failed = Vec::new();
    let mut first: Option<PolicyRun> = None;
    for i in 1..=RUNS {
        let ran = case.run_policy(
            &policy,
            program,
            args,
            &["--mode", "log"],
            &format!("run-{i}.jsonl"),
        );
        if !ran.is_clean() {
            let records = ran.records();
            failed.push(format!(
                "run {i}/{RUNS}: {}, {} logged violation(s){}",
                ran.out.status,
                records.len(),
                records
                    .iter()
                    .take(3)
                    .map(|r| format!("\n      {r}"))
                    .collect::<String>()
            ));
            first.get_or_insert(ran);
        }
    }
    if let Some(ran) = first {
        panic!(
            "[{label}] {} of {RUNS} runs of {program} {args:?} under the policy learned from one \
             traced run were not clean (false positives):\n  {}\nfirst failed run:\n{}",
            failed.len(),
            failed.join("\n  "),
            ran.describe()
        );
    }
}

macro_rules! twenty_runs {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn pyenv_shared_20_runs() {
                super::$name(crate::common::Interp::PyenvShared)
            }

            #[test]
            fn debian_static_20_runs() {
                super::$name(crate::common::Interp::DebianStatic)
            }
        }
    )+};
}

twenty_runs!(
    no_false_positives_thread_in_thread,
    no_false_positives_process_pool_executor,
    no_false_positives_multiprocessing_pool,
    no_false_positives_asyncio_signals_subprocess,
);

/// A `threading.Thread` that starts a `threading.Thread`, and a `_thread` thread that starts a
/// `_thread` thread; the innermost ones call getppid and read a file.
fn no_false_positives_thread_in_thread(interp: Interp) {
    clean_runs(interp, "escape_thread_in_thread.py", &[]);
}

/// concurrent.futures.ProcessPoolExecutor (fork) mapping a function over range(8).
fn no_false_positives_process_pool_executor(interp: Interp) {
    clean_runs(interp, "escape_process_pool.py", &["executor"]);
}

/// multiprocessing's Pool (fork) mapping a function over range(8).
fn no_false_positives_multiprocessing_pool(interp: Interp) {
    clean_runs(interp, "escape_process_pool.py", &["pool"]);
}

/// asyncio: loop.add_signal_handler(SIGUSR1), eight SIGUSR1 sent to itself between bits of work,
/// then asyncio.create_subprocess_exec("true").
fn no_false_positives_asyncio_signals_subprocess(interp: Interp) {
    clean_runs(interp, "escape_asyncio_signals.py", &[]);
}
