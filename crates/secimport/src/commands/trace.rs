//! `secimport trace`: run a program and record which syscalls each Python
//! module made while it was on the calling thread's stack.

use std::collections::BTreeMap;

use anyhow::Context;
use secimport_engine::sandbox::{self, module_id, Event, Sandbox};
use secimport_policy::naming::Namer;
use secimport_policy::trace::{self, Buckets, Counters, ModuleTrace, Trace};

use crate::cli::{Backend, TraceArgs};
use crate::commands::Failure;
use crate::report;
use crate::supervise::{supervise, Outcome, Start};
use crate::target::{self, Target};

pub fn run(args: TraceArgs) -> Result<i32, Failure> {
    // The trace is written after the program ran: make sure it can be before
    // running anything (a directory, a FIFO, a missing or read-only directory).
    secimport_policy::files::check_output(&args.output).map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "{e}; pass -o FILE to write the trace elsewhere (nothing was run)"
        ))
    })?;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if args.backend == Backend::Seccomp || (args.backend == Backend::Auto && !root) {
        return trace_seccomp(&args);
    }
    let opts = sandbox::Options {
        mode: sandbox::Mode::Trace,
        walk_limit: args.target.walk_limit,
        ..Default::default()
    };
    let (sandbox, target) = target::prepare(&args.target, None, &opts)?;
    report::starting("tracing", &target);

    // Argument values (programs, paths, addresses) by kernel module id.
    let mut values: Values = BTreeMap::new();
    // Module ids of programs that are not Python -> their path.
    let mut programs: BTreeMap<u32, String> = BTreeMap::new();
    let outcome = supervise(
        &sandbox,
        Start::Launch(&target.argv),
        |ev| {
            if let Event::Exec {
                pid,
                filename,
                python: false,
                program,
                ..
            } = ev
            {
                if *program >= module_id::FIRST_DYNAMIC {
                    programs
                        .entry(*program)
                        .or_insert_with(|| program_path(*pid, filename));
                }
            }
            if let Event::Values {
                values: vs,
                modules,
                ..
            } = ev
            {
                for m in modules {
                    let per_kind = values.entry(*m).or_default();
                    for v in vs {
                        *per_kind
                            .entry(v.kind.to_string())
                            .or_default()
                            .entry(v.text.clone())
                            .or_insert(0) += 1;
                    }
                }
            }
        },
        report::progress,
    )?;
    let trace = assemble(
        &sandbox,
        &target,
        &outcome,
        args.target.walk_limit,
        &values,
        &programs,
    );
    let trace = finish(&args, trace)?;
    report::trace_summary(&trace, &outcome, &args.output);
    report::missed_syscalls(&sandbox, "traced");
    Ok(outcome.exit_status)
}

/// Adds `trace` to the one at --output (with --append) and writes it.
fn finish(args: &TraceArgs, mut trace: Trace) -> Result<Trace, Failure> {
    if args.append && args.output.exists() {
        let mut earlier = Trace::load(&args.output).map_err(Failure::usage)?;
        if earlier.interpreter.version != trace.interpreter.version {
            return Err(Failure::usage(anyhow::anyhow!(
                "{} was traced with CPython {}, this run with {}: --append adds runs of one \
                 interpreter; write this trace elsewhere (-o)",
                args.output.display(),
                earlier.interpreter.version,
                trace.interpreter.version
            )));
        }
        earlier.absorb(trace);
        trace = earlier;
    }
    // Atomically: a crash or a full disk leaves the previous trace, not half of one.
    let json = trace.to_json();
    secimport_policy::files::write_atomically(&[(args.output.as_path(), json.as_bytes())])
        .with_context(|| format!("writing the trace to {}", args.output.display()))
        .map_err(Failure::runtime)?;
    Ok(trace)
}

/// `trace` on the seccomp backend (no root): every syscall outside the
/// harmless set is held while the calling thread's stack is read from user
/// space, charged to its modules, and let through.
fn trace_seccomp(args: &TraceArgs) -> Result<i32, Failure> {
    use crate::unprivileged::{Action, Supervisor};
    use secimport_engine::seccomp;
    use std::os::fd::AsFd;

    let target = target::resolve_unprivileged(&args.target)?;
    let namer = Namer::new(
        target.import_roots.iter().cloned(),
        target.main_script.clone(),
    );
    let filter = seccomp::compile(&seccomp::trace_plan())
        .map_err(|e| Failure::runtime(anyhow::anyhow!("building the seccomp filter: {e}")))?;
    let empty = secimport_policy::policy::Policy::parse(
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: trace}\nspec: {unknown: allow, base: []}\n",
        "<trace>",
        secimport_policy::policy::Format::Yaml,
    )
    .expect("a valid empty policy")
    .compile();
    let jail = secimport_engine::jail::launch(
        &target.argv,
        crate::commands::run::install_for_jail,
        &filter,
    )?;
    report::starting("tracing (seccomp backend)", &target);
    let _ = seccomp::set_sync_wakeup(jail.listener.as_fd());
    let sup = Supervisor::new(
        &empty,
        &namer,
        &target.interpreter,
        Action::Log,
        args.target.walk_limit as usize,
        &jail,
    )
    .recording();
    let (tx, rx) = std::sync::mpsc::channel();
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
        for _ in rx {}
        waiter.join().expect("the waiting thread does not panic")
    });
    let held = sup.notifications.load(std::sync::atomic::Ordering::Relaxed);
    let rec = sup.recorded();
    let trace = Trace {
        modules: rec.modules,
        buckets: rec.buckets,
        programs: rec.programs,
        processes: Vec::new(),
        counters: Counters {
            syscalls: held,
            stacks_walked: rec.stacks,
            stacks_truncated: rec.truncated,
            events_lost: 0,
            read_errors: rec.unreadable,
            threads_without_state: 0,
            modules_overflow: 0,
            walk_limit: args.target.walk_limit,
        },
        exit_status: Some(status),
        ..header(&target, &namer)
    };
    let trace = finish(args, trace)?;
    report::say!(
        "secimport: program exited with status {status}; {} syscalls held and charged to {} modules (seccomp backend)",
        held,
        trace.modules.len()
    );
    report::say!(
        "secimport: trace written to {} — next: secimport build",
        args.output.display()
    );
    Ok(status)
}

fn name_counts(counts: &BTreeMap<u32, u64>) -> trace::SyscallCounts {
    counts
        .iter()
        .map(|(nr, n)| (secimport_policy::rights::name(*nr), *n))
        .collect()
}

/// Builds the trace file from what the kernel side aggregated.
/// module id -> kind -> value text -> count.
type Values = BTreeMap<u32, BTreeMap<String, BTreeMap<String, u64>>>;

/// The path a program that was just executed runs from, symlinks resolved
/// (`/bin/sh` -> `/usr/bin/dash`): `run` recognizes it by identity, so the
/// name only has to lead to the same file. From `/proc/PID/exe` while the
/// process lives, else the path it was executed by.
fn program_path(pid: u32, filename: &str) -> String {
    if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        let exe = exe.display().to_string();
        if !exe.ends_with(" (deleted)") {
            return exe;
        }
    }
    std::fs::canonicalize(filename)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| filename.to_string())
}

fn assemble(
    sandbox: &Sandbox,
    target: &Target,
    outcome: &Outcome,
    walk_limit: u32,
    values: &Values,
    programs: &BTreeMap<u32, String>,
) -> Trace {
    let namer = Namer::new(
        target.import_roots.iter().cloned(),
        target.main_script.clone(),
    );
    let files = sandbox.module_files();

    // module id -> nr -> count
    let mut per_id: BTreeMap<u32, BTreeMap<u32, u64>> = BTreeMap::new();
    for ((module, nr), n) in sandbox.trace_counts() {
        *per_id.entry(module).or_default().entry(nr).or_insert(0) += n;
    }

    let mut modules: BTreeMap<String, ModuleTrace> = BTreeMap::new();
    let mut buckets = Buckets::default();
    let mut program_counts: BTreeMap<String, trace::SyscallCounts> = BTreeMap::new();
    for (id, counts) in &per_id {
        let named = name_counts(counts);
        if let Some(path) = programs.get(id) {
            let mine = program_counts.entry(path.clone()).or_default();
            for (k, v) in named {
                *mine.entry(k).or_insert(0) += v;
            }
            continue;
        }
        let bucket = match *id {
            module_id::STARTUP => Some(&mut buckets.startup),
            module_id::FRAMELESS => Some(&mut buckets.frameless),
            module_id::NON_PYTHON => Some(&mut buckets.non_python),
            module_id::TRUNCATED => Some(&mut buckets.truncated),
            module_id::UNREADABLE | module_id::OVERFLOW => Some(&mut buckets.unreadable),
            _ => None,
        };
        if let Some(b) = bucket {
            for (k, v) in named {
                *b.entry(k).or_insert(0) += v;
            }
            continue;
        }
        let Some(file) = files.get(id) else { continue };
        let entry = modules.entry(namer.module_name(file)).or_default();
        if !entry.files.contains(file) {
            entry.files.push(file.clone());
            entry.files.sort();
        }
        for (k, v) in named {
            *entry.syscalls.entry(k).or_insert(0) += v;
        }
    }
    for (id, kinds) in values {
        let Some(file) = files.get(id) else { continue };
        let entry = modules.entry(namer.module_name(file)).or_default();
        for (kind, texts) in kinds {
            let mine = entry.arguments.entry(kind.clone()).or_default();
            for (text, n) in texts {
                *mine.entry(text.clone()).or_insert(0) += n;
            }
        }
    }

    let stats = sandbox.stats();
    Trace {
        modules,
        buckets,
        programs: program_counts,
        processes: outcome.processes.clone(),
        counters: Counters {
            syscalls: stats.syscalls,
            stacks_walked: stats.walks,
            stacks_truncated: stats.truncated,
            events_lost: stats.events_lost,
            read_errors: stats.read_errors,
            threads_without_state: stats.tstate_misses,
            modules_overflow: stats.module_overflow,
            walk_limit,
        },
        exit_status: Some(outcome.exit_status),
        ..header(target, &namer)
    }
}

/// A trace of `target` with nothing in it yet: the command and interpreter.
pub fn header(target: &Target, namer: &Namer) -> Trace {
    let interp = &target.interpreter;
    Trace {
        format: trace::TRACE_FORMAT.into(),
        version: trace::TRACE_VERSION,
        command: target.argv.clone(),
        interpreter: trace::Interpreter {
            executable: interp.executable.display().to_string(),
            version: interp.version_string(),
            build: interp.build.as_str().into(),
            runtime_elf: interp.runtime_elf.display().to_string(),
            import_roots: namer.roots().to_vec(),
        },
        modules: BTreeMap::new(),
        buckets: Buckets::default(),
        programs: BTreeMap::new(),
        processes: Vec::new(),
        counters: Counters::default(),
        exit_status: None,
    }
}
