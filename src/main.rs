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
    let daemon = matches!(args.command, cli::Command::Run);
    // The daemon logs at info by default: its log is how an operator follows it.
    let level = if daemon && level == "warn" {
        "info"
    } else {
        level
    };
    let filter = EnvFilter::try_from_env("CLIPWARDEN_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},notify=warn")));
    let journal = daemon
        .then(stderr_is_journal)
        .unwrap_or(false)
        .then(|| tracing_journald::layer().ok())
        .flatten();
    match journal {
        Some(layer) => {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            tracing_subscriber::registry()
                .with(filter)
                .with(
                    layer
                        .with_field_prefix(None)
                        .with_syslog_identifier("clipwarden".into()),
                )
                .init();
        }
        None => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }

    raise_descriptor_limit();
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

/// True when systemd connected stderr to the journal (`$JOURNAL_STREAM` names its device and
/// inode): then logs go to journald with their structured fields.
fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let Ok(meta) = clipwarden::fsx::stat_fd(std::os::fd::AsFd::as_fd(&std::io::stderr())) else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(meta.dev) && ino.parse::<u64>().ok() == Some(meta.ino)
}

/// Lifts the soft limit on open descriptors to the hard one: a deep tree of small directories
/// or a large batch of deletions should not fail where the system would allow it.
fn raise_descriptor_limit() {
    use nix::libc::{RLIMIT_NOFILE, getrlimit, rlimit, setrlimit};
    let mut lim = rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid, owned struct.
    unsafe {
        if getrlimit(RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            setrlimit(RLIMIT_NOFILE, &lim);
        }
    }
}
