//! `secimport run`: run a program under a policy; report, kill or stop any
//! module that makes a syscall its policy does not allow.
//!
//! What it writes is bounded whatever the program does (see the README's
//! "Limits"): the kernel sends at most [`limit::FULL_REPORTS`] full records
//! per run in log mode (plus the first of each syscall) and counts the rest;
//! stderr shows at most [`STDERR_BLOCKS_MAX`] blocks and summarizes the rest
//! in lists cut at [`SUMMARY_LINES`]; the log gets every full record the
//! kernel sent and, when anything was left out, one summary line. Failing
//! output (a closed stderr, a full disk, a read-only log directory) is
//! counted and said once, never a reason to stop supervising.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::anyhow;
use secimport_engine::install;
use secimport_engine::launcher;
use secimport_engine::sandbox::{self, limit, Event, Sandbox, Stats};
use secimport_policy::naming::Namer;
use secimport_policy::policy::{Mode, Policy, UnknownRule};
use serde::Serialize;

use crate::cli::{Backend, RunArgs, RunMode};
use crate::commands::Failure;
use crate::report::{self, say, thousands, truncated_list};
use crate::supervise::{supervise_with, Start};
use crate::target;
use crate::violations::{self, Log, Names, Record};

/// Exit status when the program violated its policy.
pub const EXIT_VIOLATION: i32 = 1;

/// Full violation blocks on stderr for the first violation of each (process,
/// first denying module) and for execs, while fewer than this were shown.
pub const STDERR_BLOCKS: usize = 20;
/// After that, a block only for the first violation of a syscall not shown
/// yet, while fewer than this were shown in all (stop mode: every stop).
pub const STDERR_BLOCKS_MAX: usize = 100;
/// Entries of each end-of-run list on stderr; the rest are "... and N more".
pub const SUMMARY_LINES: usize = 10;
/// (module, syscall) pairs the stderr summary of blocks not shown counts
/// separately; the rest are one count.
const NOT_SHOWN_KEYS: usize = 1000;
/// (module, syscall) entries in the log's summary line; the rest are counted.
pub const LOG_SUMMARY_ENTRIES: usize = 1000;

fn engine_mode(m: Mode) -> sandbox::Mode {
    match m {
        Mode::Log => sandbox::Mode::Log,
        Mode::Kill => sandbox::Mode::Kill,
        Mode::Stop => sandbox::Mode::Stop,
        Mode::Deny => unreachable!("deny mode runs on the seccomp backend"),
    }
}

/// Which backend enforces `mode` for these arguments (see `--backend`).
fn choose_backend(args: &RunArgs, mode: Mode) -> Result<Backend, Failure> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let chosen = match args.backend {
        Backend::Auto if root && mode != Mode::Deny && args.pid.is_none() => Backend::Bpf,
        Backend::Auto if args.pid.is_some() => Backend::Bpf,
        Backend::Auto => Backend::Seccomp,
        b => b,
    };
    match (chosen, mode) {
        (Backend::Bpf, Mode::Deny) => Err(Failure::usage(anyhow!(
            "deny mode needs the seccomp backend (the eBPF one cannot fail a syscall here): use --backend seccomp or --backend auto"
        ))),
        (Backend::Seccomp, Mode::Stop) => Err(Failure::usage(anyhow!(
            "stop mode needs the eBPF backend (root): use --mode log, deny or kill with seccomp"
        ))),
        (Backend::Seccomp, _) if args.pid.is_some() => Err(Failure::usage(anyhow!(
            "--pid needs the eBPF backend (root): a seccomp filter can only be installed by the process itself, before it starts (the Python package's `secure_import` does that)"
        ))),
        _ => Ok(chosen),
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

/// The rest of a (process, first denying module) pair's violations after
/// its block was shown.
#[derive(Default)]
struct Pair {
    comm: String,
    syscalls: BTreeSet<String>,
    count: u64,
}

/// What went to stderr, and what did not (bounded: at most
/// [`STDERR_BLOCKS_MAX`] pairs outside stop mode, [`NOT_SHOWN_KEYS`] counts).
#[derive(Default)]
struct Screen {
    blocks: usize,
    pairs: BTreeMap<(u32, String), Pair>,
    syscalls: BTreeSet<String>,
    not_shown: BTreeMap<(String, String), u64>,
    not_shown_other: u64,
    not_shown_total: u64,
}

impl Screen {
    /// Whether `rec`'s block goes on stderr; counts it otherwise.
    fn show(&mut self, rec: &Record, always: bool) -> bool {
        let key = (rec.pid, rec.denied_by.first().cloned().unwrap_or_default());
        // Starting a program is the headline: shown while there is room.
        let is_exec = rec.syscall.starts_with("execve");
        let new_pair = !self.pairs.contains_key(&key);
        let new_syscall = !self.syscalls.contains(&rec.syscall);
        let show = always
            || (self.blocks < STDERR_BLOCKS && (new_pair || is_exec))
            || (self.blocks >= STDERR_BLOCKS && self.blocks < STDERR_BLOCKS_MAX && new_syscall);
        if show {
            self.blocks += 1;
            self.syscalls.insert(rec.syscall.clone());
            self.pairs.entry(key).or_insert_with(|| Pair {
                comm: rec.comm.clone(),
                ..Default::default()
            });
            return true;
        }
        if let Some(p) = self.pairs.get_mut(&key) {
            p.syscalls.insert(rec.syscall.clone());
            p.count += 1;
            return false;
        }
        self.not_shown_total += 1;
        let k = (key.1, rec.syscall.clone());
        if let Some(n) = self.not_shown.get_mut(&k) {
            *n += 1;
        } else if self.not_shown.len() < NOT_SHOWN_KEYS {
            self.not_shown.insert(k, 1);
        } else {
            self.not_shown_other += 1;
        }
        false
    }

    /// The end-of-run lines about what was not shown in full.
    fn summarize(&self) {
        let with_more: Vec<_> = self.pairs.iter().filter(|(_, p)| p.count > 0).collect();
        for ((pid, module), p) in with_more.iter().take(SUMMARY_LINES) {
            let names: Vec<&String> = p.syscalls.iter().collect();
            say!(
                "secimport: pid {pid} ({}) [{module}] also made {} more violation(s) outside its policy: {}",
                p.comm,
                thousands(p.count),
                truncated_list(&names.iter().map(|s| s.as_str()).collect::<Vec<_>>(), SUMMARY_LINES)
            );
        }
        if with_more.len() > SUMMARY_LINES {
            say!(
                "secimport: ... and {} more process/module pairs with more violations (all are in the log)",
                with_more.len() - SUMMARY_LINES
            );
        }
        if self.not_shown_total > 0 {
            let mut counts: Vec<_> = self.not_shown.iter().collect();
            counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let mut items: Vec<String> = counts
                .iter()
                .map(|((m, s), n)| format!("{m}: {s} x{}", thousands(**n)))
                .collect();
            if self.not_shown_other > 0 {
                items.push(format!(
                    "others: {} report(s)",
                    thousands(self.not_shown_other)
                ));
            }
            say!(
                "secimport: {} more violation report(s) not shown here (at most {STDERR_BLOCKS_MAX} blocks are), by module and syscall: {}",
                thousands(self.not_shown_total),
                truncated_list(&items, SUMMARY_LINES)
            );
        }
    }
}

/// One (module, syscall) of the kernel's counts (log mode).
#[derive(Debug, Serialize)]
struct Agg {
    module: String,
    syscall: String,
    count: u64,
    processes: usize,
    reported_in_full: usize,
}

/// The kernel's per-(process, syscall, module) counts, by (module, syscall),
/// most frequent first; and how many triples were never reported in full.
fn aggregate(sandbox: &Sandbox, names: &mut Names) -> (Vec<Agg>, usize) {
    let mut by: BTreeMap<(String, String), (u64, BTreeSet<u32>, usize)> = BTreeMap::new();
    let mut not_full = 0;
    for c in sandbox.report_counts() {
        not_full += !c.full as usize;
        let (module, _) = names.name(sandbox, c.module);
        let e = by
            .entry((module, violations::syscall_name(c.nr)))
            .or_default();
        e.0 += c.count;
        e.1.insert(c.tgid);
        e.2 += c.full as usize;
    }
    let mut out: Vec<Agg> = by
        .into_iter()
        .map(|((module, syscall), (count, procs, full))| Agg {
            module,
            syscall,
            count,
            processes: procs.len(),
            reported_in_full: full,
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.module, &a.syscall).cmp(&(&b.module, &b.syscall)))
    });
    (out, not_full)
}

#[derive(Debug, Serialize)]
struct Limits {
    full_reports: u32,
    report_keys: u32,
    stderr_blocks: usize,
}

/// The log's last line when something was left out of it or of stderr.
#[derive(Debug, Serialize)]
struct Summary {
    /// Always `summary`.
    event: &'static str,
    time: String,
    exit_status: i32,
    violations: u64,
    /// Violations whose full record is in the log (sent by the kernel).
    reported_in_full: u64,
    /// Repeats of a (process, syscall, module) already reported: counted.
    repeats: u64,
    /// First violations of a (process, syscall, module) not reported in
    /// full: the cap of full reports was reached.
    not_reported_in_full: u64,
    /// ... not reported in full then: secimport was behind (a later repeat
    /// was, if there was room).
    not_reported_in_full_then: u64,
    /// (process, syscall, module) triples counted but never reported in
    /// full (log mode).
    triples_not_reported_in_full: usize,
    /// Violations whose (process, syscall, module) did not fit the kernel's
    /// table.
    report_keys_overflow: u64,
    events_lost: u64,
    limits: Limits,
    /// Log mode: every violation counted by the kernel, by (module,
    /// syscall), most frequent first (at most [`LOG_SUMMARY_ENTRIES`]).
    by_module_syscall: Vec<Agg>,
    #[serde(skip_serializing_if = "is_zero")]
    by_module_syscall_omitted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr_write_failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr_error: Option<String>,
    /// Lines of this log that could not be written before this one.
    #[serde(skip_serializing_if = "is_zero64")]
    log_write_failures: u64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero64(n: &u64) -> bool {
    *n == 0
}

/// Violations the kernel sent in full.
fn full_reports(s: &Stats) -> u64 {
    s.violations
        .saturating_sub(s.violations_suppressed)
        .saturating_sub(s.reports_capped)
        .saturating_sub(s.reports_throttled)
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
        Some(RunMode::Deny) => Mode::Deny,
        None => compiled.mode,
    };
    let backend = choose_backend(&args, mode)?;

    if let Some(learn) = &args.learn {
        if mode != Mode::Log {
            return Err(Failure::usage(anyhow::anyhow!(
                "--learn needs log mode (the program must go on to show what else it does); \
                 drop --mode {} or the policy's `mode: {}` with --mode log",
                mode.as_str(),
                mode.as_str()
            )));
        }
        secimport_policy::files::check_output(learn).map_err(|e| {
            Failure::usage(anyhow::anyhow!(
                "{e}; pass --learn FILE with a writable place (nothing was run)"
            ))
        })?;
    }
    let mut learned = Learned::default();

    // A log that cannot be opened does not stop the run: the violations
    // are enforced and shown on stderr all the same.
    let log_path = args.log_file.clone().unwrap_or_else(default_log_file);
    let mut log = Log::open(&log_path);
    if backend == Backend::Seccomp {
        return run_seccomp(
            &args,
            &policy,
            &compiled,
            mode,
            &log_path,
            &mut log,
            &mut learned,
        );
    }

    let opts = sandbox::Options {
        mode: engine_mode(mode),
        unknown_rule: engine_unknown(compiled.unknown),
        walk_limit: args.target.walk_limit,
        announce_modules: true,
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
    say!(
        "secimport: policy {} ({} entries) covers {} Python files ({} scanned under the import roots); violations are logged to {}",
        policy_path.display(),
        policy.spec.modules.len(),
        installed.modules.len(),
        installed.files_scanned,
        log_path.display()
    );
    if let Some(e) = log.open_error() {
        say!(
            "secimport: warning: cannot open the violation log {}: {e}; violations are enforced and \
             shown here all the same",
            log_path.display()
        );
    }

    let mut names = Names {
        namer: &namer,
        files: Default::default(),
        programs: installed.programs.clone(),
    };
    let mut count = 0u64;
    let mut screen = Screen::default();

    // The root hybrid: in kill mode, the dangerous rights are also held by
    // a seccomp filter and judged (with the same rule) before they run.
    let jail = if hybrid(&args, mode) {
        match launch_hybrid(&compiled, &target) {
            Ok(jail) => {
                // Followed by the kernel side before its held execve is
                // answered: not one instruction of the program runs unjudged.
                sandbox.track_launching(jail.target).map_err(|e| {
                    jail.kill_all(&[]);
                    Failure::from(e)
                })?;
                Some(jail)
            }
            // Nothing has run: the program starts under eBPF alone, which
            // still kills every violation (at syscall entry).
            Err(e) => {
                say!(
                    "secimport: warning: the seccomp half of kill mode could not start ({}); \
                     violations are killed at syscall entry by eBPF alone (a connect or a file \
                     creation may complete first). --backend bpf says so without this warning.",
                    format!("{e:#}")
                );
                None
            }
        }
    } else {
        None
    };
    let seccomp_sup = jail.as_ref().map(|j| {
        crate::unprivileged::Supervisor::new(
            &compiled,
            &namer,
            &target.interpreter,
            crate::unprivileged::Action::Kill,
            args.target.walk_limit as usize,
            j,
        )
    });
    let (tx, rx) = std::sync::mpsc::channel::<Record>();
    let log_cell = std::cell::RefCell::new(&mut log);
    let mut on_record = |rec: &Record| {
        count += 1;
        learned.add(&rec.denied_by, &rec.syscall, 1, &rec.arguments);
        if screen.show(rec, mode == Mode::Stop) {
            report::say_str(&violations::render(rec, &compiled));
        }
        log_cell.borrow_mut().append(rec);
    };
    let start = match (&jail, args.pid) {
        (Some(j), _) => Start::Jail(j),
        (None, Some(pid)) => Start::Attach(pid),
        (None, None) => Start::Launch(&target.argv),
    };
    let outcome = std::thread::scope(|scope| {
        if let (Some(sup), Some(j)) = (&seccomp_sup, &jail) {
            use std::os::fd::AsFd;
            let listener = j.listener.as_fd();
            scope.spawn(move || sup.serve(listener, 2, tx));
        } else {
            drop(tx);
        }
        let outcome = supervise_with(
            &sandbox,
            start,
            false,
            |ev| {
                // What the seccomp half held and refused (the tree is already
                // being killed; the rest of it here).
                for rec in rx.try_iter() {
                    on_record(&rec);
                    launcher::kill_all(&sandbox.live_processes());
                }
                match ev {
                    Event::Violation(v) => {
                        let rec = violations::record(v, &sandbox, &mut names, mode.as_str());
                        on_record(&rec);
                        match mode {
                    Mode::Kill => {
                        // The kernel killed the offender at syscall entry and kills the
                        // rest of the tree at their next syscall; processes blocked in
                        // a syscall are killed here.
                        launcher::kill_all(&sandbox.live_processes());
                    }
                    Mode::Stop => say!(
                        "secimport: process {pid} is stopped at its {syscall} (after the syscall, or before it if \
                         the stop interrupted it, as for a clone; for an exec: the new program is loaded but has \
                         not run). Inspect it (grep State /proc/{pid}/status, cat /proc/{pid}/cmdline, py-spy dump \
                         --pid {pid}), then resume it with `kill -CONT {pid}` (the {syscall} completes: if the \
                         stop interrupted it, it is let through once) or end it with `kill -KILL {pid}`.",
                        pid = rec.pid,
                        syscall = rec.syscall
                    ),
                    Mode::Log | Mode::Deny => {}
                }
                    }
                    Event::Module { id, filename } => {
                        // A file met while the program runs (a build directory made
                        // meanwhile): its stable name may be a key of the policy.
                        let name = namer.module_name(filename);
                        if let Err(e) = install::install_rule(&sandbox, &compiled, *id, &name) {
                            say!("secimport: warning: cannot install the rule of {name}: {e}");
                        }
                    }
                    Event::Resumed {
                        pid,
                        tid,
                        comm,
                        ts_ns,
                        nr,
                    } => {
                        let r = violations::resumed(*pid, *tid, comm, *ts_ns, *nr);
                        say!(
                    "secimport: process {pid} (tid {tid}, {comm}) was continued: its {}, which the stop had \
                     interrupted, was let through",
                    r.syscall
                );
                        log_cell.borrow_mut().append(&r);
                    }
                    _ => {}
                }
            },
            |sandbox, live| report::progress_live(sandbox, live.len()),
        );
        if let Some(sup) = &seccomp_sup {
            sup.stop();
        }
        outcome
    })?;
    for rec in rx.try_iter() {
        on_record(&rec);
    }

    screen.summarize();
    let stats = sandbox.stats();
    let total = stats.violations;
    // The hybrid's dangerous syscalls were held (and their violations
    // reported) by the seccomp half: one count for the run.
    let (held, held_violations) = match &seccomp_sup {
        Some(sup) => (
            format!(
                ", {} dangerous ones held for judgement before they ran",
                thousands(sup.notifications.load(std::sync::atomic::Ordering::Relaxed))
            ),
            sup.violations.load(std::sync::atomic::Ordering::Relaxed),
        ),
        None => (String::new(), 0),
    };
    let mut status = format!(
        "secimport: program exited with status {}; {} syscalls checked{held}, {} stacks walked, {} violations ({} repeats not shown), {} events lost",
        outcome.exit_status,
        thousands(stats.syscalls),
        thousands(stats.walks),
        total + held_violations,
        stats.violations_suppressed,
        stats.events_lost
    );
    if stats.resumed > 0 {
        status += &format!(
            "; {} stopped syscall(s) let through after SIGCONT",
            stats.resumed
        );
    }
    if seccomp_sup.as_ref().is_some_and(|sup| sup.killed()) {
        status += " (the tree was killed before the violating syscall ran)";
    }
    say!("{status}");
    let capped =
        stats.reports_capped > 0 || stats.reports_throttled > 0 || stats.report_keys_overflow > 0;
    let (counts, not_full) = if mode == Mode::Log && (capped || screen.not_shown_total > 0) {
        aggregate(&sandbox, &mut names)
    } else {
        (Vec::new(), 0)
    };
    if stats.reports_capped > 0 {
        say!(
            "secimport: {} violation(s) were counted but not reported in full: the cap of {} full reports per \
             run was reached (the first violation of each syscall is always reported in full)",
            thousands(stats.reports_capped),
            thousands(limit::FULL_REPORTS as u64)
        );
    }
    if stats.reports_throttled > 0 {
        say!(
            "secimport: {} violation(s) were not reported in full when they happened because secimport was \
             behind (the kernel's event buffer was half full); a later repeat was, where there was room",
            thousands(stats.reports_throttled)
        );
    }
    if not_full > 0 {
        say!(
            "secimport: {} (process, syscall, module) triple(s) were counted but never reported in full",
            thousands(not_full as u64)
        );
    }
    if stats.report_keys_overflow > 0 {
        say!(
            "secimport: {} violation(s) came from more distinct (process, syscall, module) triples than the \
             kernel's table of {} holds: counted, not remembered",
            thousands(stats.report_keys_overflow),
            thousands(limit::REPORT_KEYS as u64)
        );
    }
    if !counts.is_empty() {
        let items: Vec<String> = counts
            .iter()
            .map(|a| {
                format!(
                    "{}: {} x{} ({} process(es))",
                    a.module,
                    a.syscall,
                    thousands(a.count),
                    a.processes
                )
            })
            .collect();
        say!(
            "secimport: violations by module and syscall (kernel counts): {}",
            truncated_list(&items, SUMMARY_LINES)
        );
    }
    if stats.events_lost > 0 {
        say!(
            "secimport: warning: events were lost; some violations may be missing from the report"
        );
    }
    report::missed_syscalls(&sandbox, "judged");
    if !outcome.killed_leftovers.is_empty() {
        say!(
            "secimport: killed {} process(es) of the tree that outlived the program",
            outcome.killed_leftovers.len()
        );
    }
    if total > 0 || count > 0 {
        say!("secimport: details in {}", log_path.display());
    }

    // Whatever was left out is said once, at the end, in the log (it may be
    // what nobody could read on stderr).
    let stderr_failed = report::stderr_failures();
    let log_failed_before = log.failed;
    if capped || stats.events_lost > 0 || stderr_failed.is_some() || log.failed > 0 {
        let omitted = counts.len().saturating_sub(LOG_SUMMARY_ENTRIES);
        let mut by = counts;
        by.truncate(LOG_SUMMARY_ENTRIES);
        log.append(&Summary {
            event: "summary",
            time: violations::now(),
            exit_status: outcome.exit_status,
            violations: total,
            reported_in_full: full_reports(&stats),
            repeats: stats.violations_suppressed,
            not_reported_in_full: stats.reports_capped,
            not_reported_in_full_then: stats.reports_throttled,
            triples_not_reported_in_full: not_full,
            report_keys_overflow: stats.report_keys_overflow,
            events_lost: stats.events_lost,
            limits: Limits {
                full_reports: limit::FULL_REPORTS,
                report_keys: limit::REPORT_KEYS,
                stderr_blocks: STDERR_BLOCKS_MAX,
            },
            by_module_syscall: by,
            by_module_syscall_omitted: omitted,
            stderr_write_failures: stderr_failed.as_ref().map(|f| f.0),
            stderr_error: stderr_failed.map(|f| f.1),
            log_write_failures: log_failed_before,
        });
    }
    if log.failed > 0 {
        say!(
            "secimport: warning: {} of {} line(s) could not be written to the violation log {} ({})",
            thousands(log.failed),
            thousands(log.failed + log.written),
            log.path().display(),
            log.first_error().unwrap_or("unknown error")
        );
    }
    if let Some(learn) = &args.learn {
        // Repeats the kernel counted without a full record: their modules and syscalls too.
        for c in sandbox.report_counts() {
            let (module, _) = names.name(&sandbox, c.module);
            learned.add(&[module], &violations::syscall_name(c.nr), 0, &[]);
        }
        let trace = learned.into_trace(crate::commands::trace::header(&target, &namer));
        let json = trace.to_json();
        match secimport_policy::files::write_atomically(&[(learn.as_path(), json.as_bytes())]) {
            Ok(()) => say!(
                "secimport: what the policy lacked ({} module(s)) is in {}: add it with `secimport \
                 build TRACE {} -o {}`",
                trace.modules.len(),
                learn.display(),
                learn.display(),
                policy_path.display()
            ),
            Err(e) => {
                say!("secimport: error: cannot write {}: {e}", learn.display());
                return Ok(EXIT_VIOLATION.max(1));
            }
        }
    }
    if total > 0 || count > 0 {
        return Ok(EXIT_VIOLATION);
    }
    Ok(outcome.exit_status)
}

/// Whether `run` is the root hybrid: `--backend auto` as root, in kill
/// mode, starting the program (not `--pid`). The eBPF walk judges every
/// syscall in the kernel as usual, and a seccomp filter also holds the
/// dangerous rights that some judge may refuse (programs, processes,
/// writes, sockets, signals to others: [`secimport_engine::seccomp::hybrid_plan`])
/// for the user-space supervisor, so that a violation among them is killed
/// before it has any effect. `--backend bpf` is the eBPF backend alone.
fn hybrid(args: &RunArgs, mode: Mode) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && args.backend == Backend::Auto && mode == Mode::Kill && args.pid.is_none()
}

/// Starts the target of the hybrid in a jail (its own pid namespace, the
/// filter installed before its `execve`, which waits held until served).
fn launch_hybrid(
    compiled: &secimport_policy::policy::Compiled,
    target: &target::Target,
) -> Result<secimport_engine::jail::Jailed, Failure> {
    use secimport_engine::seccomp;
    use std::os::fd::AsFd;
    let plan = seccomp::hybrid_plan(compiled);
    let filter = seccomp::compile(&plan)
        .map_err(|e| Failure::runtime(anyhow!("building the seccomp filter: {e}")))?;
    let jail = secimport_engine::jail::launch(&target.argv, install_for_jail, &filter)?;
    let _ = seccomp::set_sync_wakeup(jail.listener.as_fd());
    Ok(jail)
}

/// `run` on the seccomp backend (no root): see `crate::unprivileged`.
fn run_seccomp(
    args: &RunArgs,
    policy: &Policy,
    compiled: &secimport_policy::policy::Compiled,
    mode: Mode,
    log_path: &std::path::Path,
    log: &mut Log,
    learned: &mut Learned,
) -> Result<i32, Failure> {
    use crate::unprivileged::{Action, Supervisor};
    use secimport_engine::seccomp;
    use std::os::fd::AsFd;

    let target = target::resolve_unprivileged(&args.target)?;
    let namer = Namer::new(
        target.import_roots.iter().cloned(),
        target.main_script.clone(),
    );
    let action = match mode {
        Mode::Log => Action::Log,
        Mode::Deny => Action::Deny,
        Mode::Kill => Action::Kill,
        Mode::Stop => unreachable!("refused by choose_backend"),
    };
    let plan = seccomp::plan(compiled, seccomp::Mode::from(mode));
    let filter = seccomp::compile(&plan)
        .map_err(|e| Failure::runtime(anyhow!("building the seccomp filter: {e}")))?;
    let jail = secimport_engine::jail::launch(&target.argv, install_for_jail, &filter)?;
    report::starting(
        &format!("running ({} mode, seccomp backend)", mode.as_str()),
        &target,
    );
    say!(
        "secimport: policy {} ({} entries); violations are logged to {}",
        args.policy.display(),
        policy.spec.modules.len(),
        log_path.display()
    );
    let _ = seccomp::set_sync_wakeup(jail.listener.as_fd());
    let sup = Supervisor::new(
        compiled,
        &namer,
        &target.interpreter,
        action,
        args.target.walk_limit as usize,
        &jail,
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let mut count = 0u64;
    let mut screen = Screen::default();
    let status = std::thread::scope(|scope| {
        let sup = &sup;
        let listener = jail.listener.as_fd();
        scope.spawn(move || sup.serve(listener, 4, tx));
        let jail = &jail;
        let waiter = scope.spawn(move || {
            let status = jail.wait();
            sup.stop();
            status
        });
        for rec in rx {
            count += 1;
            learned.add(&rec.denied_by, &rec.syscall, 1, &rec.arguments);
            if screen.show(&rec, false) {
                report::say_str(&violations::render(&rec, compiled));
            }
            log.append(&rec);
        }
        waiter.join().expect("the waiting thread does not panic")
    });
    screen.summarize();
    say!(
        "secimport: program exited with status {status}; {} syscalls held for judgement, {} violations{}",
        thousands(sup.notifications.load(std::sync::atomic::Ordering::Relaxed)),
        count,
        if sup.killed() { " (the tree was killed)" } else { "" }
    );
    if count > 0 {
        say!("secimport: details in {}", log_path.display());
    }
    if let Some(learn) = &args.learn {
        let trace =
            std::mem::take(learned).into_trace(crate::commands::trace::header(&target, &namer));
        let json = trace.to_json();
        if let Err(e) =
            secimport_policy::files::write_atomically(&[(learn.as_path(), json.as_bytes())])
        {
            say!("secimport: error: cannot write {}: {e}", learn.display());
            return Ok(EXIT_VIOLATION);
        }
        say!(
            "secimport: what the policy lacked is in {}",
            learn.display()
        );
    }
    if count > 0 {
        return Ok(EXIT_VIOLATION);
    }
    Ok(status)
}

/// The filter's installer as the jail calls it in the target (a plain
/// function, async-signal-safe: no allocation).
pub fn install_for_jail(prog: &[u8]) -> std::os::fd::RawFd {
    use std::os::fd::IntoRawFd;
    match secimport_engine::seccomp::install(prog) {
        Ok(fd) => fd.into_raw_fd(),
        Err(_) => -1,
    }
}

/// `run --learn`: what the violations showed the policy lacked, as a trace.
#[derive(Default)]
struct Learned {
    modules: BTreeMap<String, secimport_policy::trace::ModuleTrace>,
    buckets: secimport_policy::trace::Buckets,
}

impl Learned {
    /// Charges `syscall` (`count` more times) and its arguments to every
    /// denying module; pseudo-modules go to their bucket (those of what
    /// could not be seen teach nothing a policy could allow, but they are
    /// kept so `build` says so).
    fn add(
        &mut self,
        denied_by: &[String],
        syscall: &str,
        count: u64,
        arguments: &[violations::Argument],
    ) {
        for m in denied_by {
            let counts = match m.as_str() {
                "<startup>" => &mut self.buckets.startup,
                "<frameless>" => &mut self.buckets.frameless,
                "<non-python>" => &mut self.buckets.non_python,
                "<truncated>" => &mut self.buckets.truncated,
                "<unreadable>" | "<overflow>" => &mut self.buckets.unreadable,
                name => {
                    let module = self.modules.entry(name.to_string()).or_default();
                    for a in arguments {
                        *module
                            .arguments
                            .entry(a.kind.to_string())
                            .or_default()
                            .entry(a.value.clone())
                            .or_insert(0) += 1;
                    }
                    &mut module.syscalls
                }
            };
            let n = counts.entry(syscall.to_string()).or_insert(0);
            *n = n.saturating_add(count.max(1));
        }
    }

    fn into_trace(
        self,
        mut header: secimport_policy::trace::Trace,
    ) -> secimport_policy::trace::Trace {
        header.modules = self.modules;
        header.buckets = self.buckets;
        header
    }
}
