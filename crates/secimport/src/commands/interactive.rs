//! `secimport interactive`: trace -> build -> run, asking between steps.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::{BuildArgs, InteractiveArgs, RunArgs, TargetArgs, TraceArgs, UnknownArg};
use crate::commands::{build, run as run_cmd, trace, Failure};

/// Asks a yes/no question on stderr; the default is yes. End of input is no.
fn confirm(question: &str, yes: bool) -> bool {
    eprint!("secimport: {question} [Y/n] ");
    if yes {
        crate::report::say!("y (--yes)");
        return true;
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => {
            crate::report::say!("");
            false
        }
        Ok(_) => matches!(line.trim().to_ascii_lowercase().as_str(), "" | "y" | "yes"),
    }
}

fn target(t: &TargetArgs) -> TargetArgs {
    TargetArgs {
        entrypoint: t.entrypoint.clone(),
        python: t.python.clone(),
        walk_limit: t.walk_limit,
        args: t.args.clone(),
    }
}

pub fn run(args: InteractiveArgs) -> Result<i32, Failure> {
    if !args.yes && !std::io::stdin().is_terminal() {
        crate::report::say!("secimport: stdin is not a terminal; answers are read from it (use --yes to skip the questions)");
    }
    crate::report::say!("secimport: step 1/3: trace the program to learn what each module does");
    let status = trace::run(TraceArgs {
        target: target(&args.target),
        output: args.trace.clone(),
        append: false,
        backend: crate::cli::Backend::Auto,
    })?;
    if status != 0 {
        crate::report::say!("secimport: note: the traced program exited with status {status}");
    }
    if !confirm(
        &format!("step 2/3: build a policy from {}?", args.trace.display()),
        args.yes,
    ) {
        return Ok(0);
    }
    build::run(BuildArgs {
        traces: vec![args.trace.clone()],
        more_traces: Vec::new(),
        exact: false,
        output: args.policy.clone(),
        mode: args.mode,
        unknown: UnknownArg::BaseOnly,
        no_group: false,
        name: None,
    })?;
    if !confirm(
        &format!(
            "step 3/3: run the program under {} ({:?} mode)?",
            args.policy.display(),
            args.mode
        ),
        args.yes,
    ) {
        return Ok(0);
    }
    run_cmd::run(RunArgs {
        target: target(&args.target),
        policy: args.policy.clone(),
        mode: Some(args.mode),
        kill_on_violation: false,
        backend: crate::cli::Backend::Auto,
        stop_on_violation: false,
        pid: None,
        log_file: None,
        learn: None,
    })
}
