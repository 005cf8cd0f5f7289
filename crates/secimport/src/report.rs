//! What users read on stderr: start-up line, live progress, summaries.

use std::collections::BTreeMap;
use std::path::Path;

use secimport_engine::sandbox::Sandbox;
use secimport_policy::trace::{Process, Trace};

use crate::supervise::Outcome;
use crate::target::Target;

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
    eprintln!(
        "secimport: {what} `{}` (CPython {}, {} build, runtime in {})",
        target.argv.join(" "),
        i.version_string(),
        i.build.as_str(),
        i.runtime_elf.display()
    );
}

/// Called every couple of seconds while the target runs.
pub fn progress(sandbox: &Sandbox, procs: &BTreeMap<u32, Process>) {
    let s = sandbox.stats();
    eprintln!(
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
        eprintln!(
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
    eprintln!(
        "secimport: program exited with status {}; traced {} syscalls in {} processes ({} Python), {} modules",
        outcome.exit_status,
        thousands(c.syscalls),
        trace.processes.len(),
        pythons,
        trace.modules.len()
    );
    eprintln!(
        "secimport: {} stacks walked, {} truncated (walk limit {} frames), {} events lost, {} unreadable frames",
        thousands(c.stacks_walked),
        thousands(c.stacks_truncated),
        c.walk_limit,
        c.events_lost,
        c.read_errors
    );
    if c.stacks_truncated > 0 {
        eprintln!("secimport: note: some stacks were deeper than the walk limit; `run` judges such syscalls as made by an unknown module; raise --walk-limit to see their outer frames");
    }
    if c.events_lost > 0 {
        eprintln!(
            "secimport: warning: {} events were lost (ring buffer full)",
            c.events_lost
        );
    }
    if !outcome.killed_leftovers.is_empty() {
        eprintln!(
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
        eprintln!("secimport: modules with the most distinct syscalls:");
        for (n, m) in busiest.iter().take(8) {
            eprintln!("    {m:<50} {n:>4}");
        }
    }
    eprintln!(
        "secimport: without Python frames: {} distinct syscalls in Python processes, {} in other programs",
        trace.buckets.frameless.len(),
        trace.buckets.non_python.len()
    );
    eprintln!(
        "secimport: trace written to {} — next: secimport build",
        output.display()
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
