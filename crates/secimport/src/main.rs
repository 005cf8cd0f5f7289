//! `secimport`: learn which syscalls each Python module makes, turn that into a
//! policy, and run programs under it. See `secimport --help`.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod logfile;
mod report;
mod supervise;
mod target;
mod unprivileged;
mod unprivileged_values;
mod violations;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            report::say!("secimport: error: {err:#}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Never a panic on a closed stderr: failures are counted.
        .with_writer(|| report::StderrWriter)
        .log_internal_errors(false)
        .without_time()
        .init();
}
