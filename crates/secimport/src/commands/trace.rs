//! `secimport trace`: run a program and record which syscalls each Python
//! module made while it was on the calling thread's stack.

use std::collections::BTreeMap;

use anyhow::Context;
use secimport_engine::sandbox::{self, module_id, Sandbox};
use secimport_policy::naming::Namer;
use secimport_policy::trace::{self, Buckets, Counters, ModuleTrace, Trace};

use crate::cli::TraceArgs;
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
    let opts = sandbox::Options {
        mode: sandbox::Mode::Trace,
        walk_limit: args.target.walk_limit,
        ..Default::default()
    };
    let (sandbox, target) = target::prepare(&args.target, None, &opts)?;
    report::starting("tracing", &target);

    let outcome = supervise(
        &sandbox,
        Start::Launch(&target.argv),
        |_| {},
        report::progress,
    )?;
    let trace = assemble(&sandbox, &target, &outcome, args.target.walk_limit);

    // Atomically: a crash or a full disk leaves the previous trace, not half of one.
    let json = trace.to_json();
    secimport_policy::files::write_atomically(&[(args.output.as_path(), json.as_bytes())])
        .with_context(|| format!("writing the trace to {}", args.output.display()))
        .map_err(Failure::runtime)?;
    report::trace_summary(&trace, &outcome, &args.output);
    report::missed_syscalls(&sandbox, "traced");
    Ok(outcome.exit_status)
}

fn name_counts(counts: &BTreeMap<u32, u64>) -> trace::SyscallCounts {
    counts
        .iter()
        .map(|(nr, n)| (secimport_policy::rights::name(*nr), *n))
        .collect()
}

/// Builds the trace file from what the kernel side aggregated.
fn assemble(sandbox: &Sandbox, target: &Target, outcome: &Outcome, walk_limit: u32) -> Trace {
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
    for (id, counts) in &per_id {
        let named = name_counts(counts);
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

    let stats = sandbox.stats();
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
        modules,
        buckets,
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
    }
}
