//! The `clipwarden` binary: parse the command line, set up logging, run the command, and turn
//! failures into messages and SPEC's exit codes.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use clipwarden::exit::{Code, Exit};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter =
        EnvFilter::try_from_env("CLIPWARDEN_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    match cli::run(args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => match err.downcast_ref::<Exit>() {
            Some(exit) => {
                eprintln!("clipwarden: {}", exit.message);
                ExitCode::from(exit.code as u8)
            }
            None => {
                eprintln!("clipwarden: {err:#}");
                ExitCode::from(Code::Runtime as u8)
            }
        },
    }
}
