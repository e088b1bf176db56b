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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    match cli::run(args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => match err.downcast_ref::<Exit>() {
            Some(exit) => {
                eprintln!("clipwarden: {}", exit.message);
                ExitCode::from(exit.code as u8)
            }
            None => {
                eprintln!("clipwarden: {}", describe(&err));
                ExitCode::from(Code::Runtime as u8)
            }
        },
    }
}

/// The error and its causes, each said once: many errors already quote their source.
fn describe(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
