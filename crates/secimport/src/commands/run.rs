//! `secimport run`: run a program under a policy; report, kill or stop any
//! module that makes a syscall its policy does not allow.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use secimport_engine::install;
use secimport_engine::launcher;
use secimport_engine::sandbox::{self, Event};
use secimport_policy::naming::Namer;
use secimport_policy::policy::{Mode, Policy, UnknownRule};

use crate::cli::{RunArgs, RunMode};
use crate::commands::Failure;
use crate::report;
use crate::supervise::{supervise, Start};
use crate::target;
use crate::violations::{self, Names};

/// Exit status when the program violated its policy.
pub const EXIT_VIOLATION: i32 = 1;

fn engine_mode(m: Mode) -> sandbox::Mode {
    match m {
        Mode::Log => sandbox::Mode::Log,
        Mode::Kill => sandbox::Mode::Kill,
        Mode::Stop => sandbox::Mode::Stop,
    }
}

fn engine_unknown(u: UnknownRule) -> sandbox::UnknownRule {
    match u {
        UnknownRule::BaseOnly => sandbox::UnknownRule::BaseOnly,
        UnknownRule::Allow => sandbox::UnknownRule::Allow,
        UnknownRule::Deny => sandbox::UnknownRule::Deny,
    }
}

fn default_log_file() -> PathBuf {
    PathBuf::from(format!(
        "/tmp/.secimport/violations-{}.jsonl",
        std::process::id()
    ))
}

pub fn run(args: RunArgs) -> Result<i32, Failure> {
    let policy_path = args.policy.clone();
    if !policy_path.exists() {
        return Err(Failure::usage(anyhow!(
            "no policy at {}: create one with `secimport trace` then `secimport build`, or pass --policy FILE",
            policy_path.display()
        )));
    }
    let policy = Policy::load(&policy_path).map_err(Failure::usage)?;
    let compiled = policy.compile();
    let mode = match args.mode() {
        Some(RunMode::Log) => Mode::Log,
        Some(RunMode::Kill) => Mode::Kill,
        Some(RunMode::Stop) => Mode::Stop,
        None => compiled.mode,
    };

    let log_path = args.log_file.clone().unwrap_or_else(default_log_file);
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the log directory {}", dir.display()))
            .map_err(Failure::usage)?;
    }
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening the violation log {}", log_path.display()))
        .map_err(Failure::usage)?;

    let opts = sandbox::Options {
        mode: engine_mode(mode),
        unknown_rule: engine_unknown(compiled.unknown),
        walk_limit: args.target.walk_limit,
        ..Default::default()
    };
    let (mut sandbox, target) = target::prepare(&args.target, args.pid, &opts)?;
    let namer = Namer::new(
        target.import_roots.iter().cloned(),
        target.main_script.clone(),
    );
    let installed = install::install(
        &mut sandbox,
        &compiled,
        &namer,
        target.main_script.as_deref(),
    )?;

    report::starting(&format!("running ({} mode)", mode.as_str()), &target);
    eprintln!(
        "secimport: policy {} ({} entries) covers {} Python files ({} scanned under the import roots); violations are logged to {}",
        policy_path.display(),
        policy.spec.modules.len(),
        installed.modules.len(),
        installed.files_scanned,
        log_path.display()
    );

    let mut names = Names {
        namer: &namer,
        files: Default::default(),
    };
    let mut count = 0usize;
    // One full block per (process, first denying module); the rest of that
    // pair's syscalls are listed once at the end (all are in the log).
    let mut shown: BTreeMap<(u32, String), (String, Vec<String>)> = BTreeMap::new();
    let start = match args.pid {
        Some(pid) => Start::Attach(pid),
        None => Start::Launch(&target.argv),
    };
    let outcome = supervise(
        &sandbox,
        start,
        |ev| {
            let Event::Violation(v) = ev else { return };
            count += 1;
            let rec = violations::record(v, &sandbox, &mut names, mode.as_str());
            let key = (rec.pid, rec.denied_by.first().cloned().unwrap_or_default());
            // Starting a program is always shown in full: it is the headline.
            let is_exec = rec.syscall.starts_with("execve");
            match shown.get_mut(&key) {
                Some((_, more)) if !is_exec => more.push(rec.syscall.clone()),
                Some(_) => eprint!("{}", violations::render(&rec, &compiled)),
                None => {
                    eprint!("{}", violations::render(&rec, &compiled));
                    shown.insert(key, (rec.comm.clone(), Vec::new()));
                }
            }
            if let Err(e) = violations::append_jsonl(&mut log, &rec) {
                eprintln!(
                    "secimport: warning: cannot write {}: {e}",
                    log_path.display()
                );
            }
            match mode {
                Mode::Kill => {
                    // The kernel killed the offender at syscall entry and kills the
                    // rest of the tree at their next syscall; processes blocked in
                    // a syscall are killed here.
                    launcher::kill_all(&sandbox.live_processes());
                }
                Mode::Stop => eprintln!(
                    "secimport: process {pid} is stopped before the syscall returns (for an exec: the new \
                     program is loaded but has not run). Inspect it (cat /proc/{pid}/cmdline, py-spy dump --pid {pid}), \
                     then resume with `kill -CONT {pid}` or end it with `kill -KILL {pid}`.",
                    pid = rec.pid
                ),
                Mode::Log => {}
            }
        },
        report::progress,
    )?;

    for ((pid, module), (comm, more)) in &shown {
        if !more.is_empty() {
            eprintln!(
                "secimport: pid {pid} ({comm}) [{module}] also made {} more syscall(s) outside its policy: {}",
                more.len(),
                more.join(", ")
            );
        }
    }
    let stats = sandbox.stats();
    let total = stats.violations;
    eprintln!(
        "secimport: program exited with status {}; {} syscalls checked, {} stacks walked, {} violations ({} repeats not shown), {} events lost",
        outcome.exit_status,
        report::thousands(stats.syscalls),
        report::thousands(stats.walks),
        total,
        stats.violations_suppressed,
        stats.events_lost
    );
    if stats.events_lost > 0 {
        eprintln!(
            "secimport: warning: events were lost; some violations may be missing from the report"
        );
    }
    report::missed_syscalls(&sandbox, "judged");
    if !outcome.killed_leftovers.is_empty() {
        eprintln!(
            "secimport: killed {} process(es) of the tree that outlived the program",
            outcome.killed_leftovers.len()
        );
    }
    if total > 0 || count > 0 {
        eprintln!("secimport: details in {}", log_path.display());
        return Ok(EXIT_VIOLATION);
    }
    Ok(outcome.exit_status)
}
