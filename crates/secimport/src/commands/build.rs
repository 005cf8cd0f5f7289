//! `secimport build`: a pure function from a trace to a policy, written as
//! YAML and JSON.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secimport_policy::build::{build, BuildOptions};
use secimport_policy::policy::{Mode, UnknownRule};
use secimport_policy::trace::Trace;

use crate::cli::{BuildArgs, RunMode, UnknownArg};
use crate::commands::Failure;

fn sibling(output: &Path) -> PathBuf {
    match output.extension().and_then(|e| e.to_str()) {
        Some("json") => output.with_extension("yaml"),
        _ => output.with_extension("json"),
    }
}

pub fn run(args: BuildArgs) -> Result<i32, Failure> {
    if !args.trace.exists() {
        return Err(Failure::usage(anyhow::anyhow!(
            "no trace at {}: run `secimport trace --entrypoint app.py` first, or pass --trace FILE",
            args.trace.display()
        )));
    }
    let trace = Trace::load(&args.trace).map_err(Failure::usage)?;
    let opts = BuildOptions {
        group_packages: !args.no_group,
        mode: match args.mode {
            RunMode::Log => Mode::Log,
            RunMode::Kill => Mode::Kill,
            RunMode::Stop => Mode::Stop,
        },
        unknown: match args.unknown {
            UnknownArg::BaseOnly => UnknownRule::BaseOnly,
            UnknownArg::Allow => UnknownRule::Allow,
            UnknownArg::Deny => UnknownRule::Deny,
        },
        name: args.name.clone(),
    };
    let policy = build(&trace, &opts);
    for (bucket, names) in secimport_policy::build::dropped_from_shared(&trace) {
        eprintln!(
            "secimport: warning: the trace saw {} with no Python frame ({bucket}); dangerous \
             syscalls are never allowed without a frame, so `run` will report them (an atexit \
             callback or finalizer that starts a program or connects: call it from Python code)",
            names.join(", ")
        );
    }
    let other = sibling(&args.output);
    for path in [&args.output, &other] {
        let text = if path.extension().and_then(|e| e.to_str()) == Some("json") {
            policy.to_json()
        } else {
            policy.to_yaml()
        };
        std::fs::write(path, text)
            .with_context(|| format!("writing {}", path.display()))
            .map_err(Failure::runtime)?;
    }
    let s = &policy.spec;
    eprintln!(
        "secimport: policy {:?} from {}: {} module entries ({} traced modules), {} base syscalls, {} start-up, {} frameless, {} for child programs, unknown modules: {}",
        policy.metadata.name,
        args.trace.display(),
        s.modules.len(),
        trace.modules.len(),
        s.base.len(),
        s.startup.len(),
        s.frameless.len(),
        s.children.len(),
        opts.unknown.as_str()
    );
    eprintln!(
        "secimport: wrote {} and {} — next: secimport run --entrypoint ... [--kill-on-violation]",
        args.output.display(),
        other.display()
    );
    Ok(0)
}
