//! What users read on stderr: start-up line, live progress, summaries.
//!
//! Everything goes through [`say`]: a write that fails (a closed pipe, a
//! full disk, an I/O error) is counted, never a panic, so a `| head` on
//! secimport's stderr cannot take the supervisor, and so the program, down.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use secimport_engine::sandbox::Sandbox;
use secimport_policy::trace::{Process, Trace};

use crate::supervise::Outcome;
use crate::target::Target;

static STDERR_FAILURES: AtomicU64 = AtomicU64::new(0);
static STDERR_FIRST_ERROR: OnceLock<String> = OnceLock::new();

/// Writes `text` to stderr as one write; a failure is counted (see
/// [`stderr_failures`]), never reported there and never a panic.
pub fn say_str(text: &str) {
    if let Err(e) = std::io::stderr().lock().write_all(text.as_bytes()) {
        STDERR_FAILURES.fetch_add(1, Ordering::Relaxed);
        STDERR_FIRST_ERROR.get_or_init(|| e.to_string());
    }
}

/// [`say_str`] of a formatted line (a newline is added).
pub fn say_fmt(args: fmt::Arguments) {
    let mut line = args.to_string();
    line.push('\n');
    say_str(&line);
}

/// `eprintln!` that never panics: see [`say_str`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::report::say_fmt(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Writes to stderr that failed so far, and the first error.
pub fn stderr_failures() -> Option<(u64, String)> {
    let n = STDERR_FAILURES.load(Ordering::Relaxed);
    (n > 0).then(|| {
        (
            n,
            STDERR_FIRST_ERROR
                .get()
                .cloned()
                .unwrap_or_else(|| "unknown error".into()),
        )
    })
}

/// The writer of the `tracing` log lines (`-v`, warnings): stderr, with
/// failures counted like [`say_str`]'s.
pub struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        say_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `items` joined with ", ", at most `max` of them, then "... and N more".
pub fn truncated_list<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let mut out = items
        .iter()
        .take(max)
        .map(|s| s.as_ref())
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        out += &format!(", ... and {} more", thousands((items.len() - max) as u64));
    }
    out
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn starting(what: &str, target: &Target) {
    let i = &target.interpreter;
    say!(
        "secimport: {what} `{}` (CPython {}, {} build, runtime in {})",
        target.argv.join(" "),
        i.version_string(),
        i.build.as_str(),
        i.runtime_elf.display()
    );
}

/// Called every couple of seconds while `run` supervises the target
/// (`live`: processes of the tree being followed).
pub fn progress_live(sandbox: &Sandbox, live: usize) {
    let s = sandbox.stats();
    say!(
        "secimport: ... {} syscalls, {} stacks walked, {} violations, {} processes running",
        thousands(s.syscalls),
        thousands(s.walks),
        thousands(s.violations),
        live
    );
}

/// Called every couple of seconds while the target runs.
pub fn progress(sandbox: &Sandbox, procs: &BTreeMap<u32, Process>) {
    let s = sandbox.stats();
    say!(
        "secimport: ... {} syscalls, {} stacks walked, {} processes so far",
        thousands(s.syscalls),
        thousands(s.walks),
        procs.len()
    );
}

/// Says so loudly when the kernel skipped the sys_enter program (it was
/// already running on that CPU: a walk preempted on a fully preemptible
/// kernel). The count covers every process of the machine, so it is an upper
/// bound for the sandboxed ones.
pub fn missed_syscalls(sandbox: &Sandbox, what: &str) {
    let missed = sandbox.missed_syscalls();
    if missed > 0 {
        say!(
            "secimport: warning: the kernel skipped the syscall hook {missed} time(s) because it \
             was already running on that CPU (a preemptible kernel); up to {missed} syscall(s) of \
             the program may not have been {what}"
        );
    }
}

pub fn trace_summary(trace: &Trace, outcome: &Outcome, output: &Path) {
    let c = &trace.counters;
    let pythons = trace
        .processes
        .iter()
        .filter(|p| p.kind == "python")
        .count();
    say!(
        "secimport: program exited with status {}; traced {} syscalls in {} processes ({} Python), {} modules",
        outcome.exit_status,
        thousands(c.syscalls),
        trace.processes.len(),
        pythons,
        trace.modules.len()
    );
    say!(
        "secimport: {} stacks walked, {} truncated (walk limit {} frames), {} events lost, {} unreadable frames",
        thousands(c.stacks_walked),
        thousands(c.stacks_truncated),
        c.walk_limit,
        c.events_lost,
        c.read_errors
    );
    if c.stacks_truncated > 0 {
        say!("secimport: note: some stacks were deeper than the walk limit; `run` judges such syscalls as made by an unknown module; raise --walk-limit to see their outer frames");
    }
    if c.events_lost > 0 {
        say!(
            "secimport: warning: {} events were lost (ring buffer full)",
            c.events_lost
        );
    }
    if !outcome.killed_leftovers.is_empty() {
        say!(
            "secimport: killed {} process(es) of the tree that outlived the program: {:?}",
            outcome.killed_leftovers.len(),
            outcome.killed_leftovers
        );
    }
    let mut busiest: Vec<_> = trace
        .modules
        .iter()
        .map(|(m, t)| (t.syscalls.len(), m))
        .collect();
    busiest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    if !busiest.is_empty() {
        say!("secimport: modules with the most distinct syscalls:");
        for (n, m) in busiest.iter().take(8) {
            say!("    {m:<50} {n:>4}");
        }
    }
    say!(
        "secimport: without Python frames: {} distinct syscalls in Python processes, {} in other programs",
        trace.buckets.frameless.len(),
        trace.buckets.non_python.len()
    );
    say!(
        "secimport: trace written to {} — next: secimport build",
        output.display()
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_lists_are_cut_with_a_count() {
        let names: Vec<String> = (0..25).map(|i| format!("s{i}")).collect();
        assert_eq!(super::truncated_list(&names[..3], 10), "s0, s1, s2");
        let cut = super::truncated_list(&names, 10);
        assert!(cut.starts_with("s0, s1,"), "{cut}");
        assert!(cut.ends_with("s9, ... and 15 more"), "{cut}");
    }

    #[test]
    fn a_closed_stderr_is_counted_not_a_panic() {
        // Whatever stderr is in the test harness, say! must return.
        super::say!("secimport: test line {}", 1);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
