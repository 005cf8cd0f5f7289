//! One file per subcommand; each returns the process exit code.

use crate::cli::{Cli, Command};

pub mod build;
pub mod diff;
pub mod export;
pub mod guard;
pub mod interactive;
pub mod run;
pub mod trace;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// A usage or configuration error: exit 2.
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 2,
            error: error.into(),
        }
    }

    /// Something failed while running: exit 2 as well (nothing ran unsandboxed).
    pub fn runtime(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 2,
            error: error.into(),
        }
    }
}

impl From<secimport_engine::EngineError> for Failure {
    fn from(e: secimport_engine::EngineError) -> Self {
        if e.is_usage() {
            Failure::usage(e)
        } else {
            Failure::runtime(e)
        }
    }
}

pub fn run(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Trace(args) => trace::run(args),
        Command::Shell(args) => trace::run(crate::cli::TraceArgs {
            target: crate::cli::TargetArgs {
                entrypoint: None,
                python: None,
                walk_limit: args.walk_limit,
                args: vec![args.python.unwrap_or_else(|| "python3".into())],
            },
            output: args.output,
            backend: crate::cli::Backend::Auto,
            append: false,
        }),
        Command::Build(args) => build::run(args),
        Command::Run(args) => run::run(args),
        Command::Interactive(args) => interactive::run(args),
        Command::Export(args) => export::run(args),
        Command::Guard(args) => guard::run(args),
        Command::Diff(args) => diff::run(args),
    }
}
