//! The command line: flags, config loading with the sudo rule, and dispatch to one module per
//! command group. Each command returns its exit code; failures with a decided code travel up
//! as [`Exit`].

mod audit;
mod clips;
mod config;
mod demo;
mod erase;
mod export;
mod hold;
mod output;
mod select;
mod status;
mod sweep;

use std::path::{Path, PathBuf};

use anyhow::Result;
pub use clipwarden::args::{AuditCommand, Cli, Command, ConfigCommand, ExportCommand, HoldCommand};
use clipwarden::config::{self as cfg, Settings};
use clipwarden::exit::{Code, Exit};

/// Runs the parsed command; returns the exit code for a normal finish.
pub fn run(cli: Cli) -> Result<Code> {
    match &cli.command {
        Command::Demo { dir } => demo::run(&cli, dir.as_deref()),
        Command::Run => {
            // A bad config exits 2 here, before READY, and systemd does not restart-loop on it.
            let path = config_path(&cli)?;
            let settings = load(&cli)?;
            clipwarden::daemon::run(&path, settings)?;
            Ok(Code::Ok)
        }
        Command::Sweep { dry_run, force } => sweep::run(&cli, &load(&cli)?, *dry_run, *force),
        Command::Status => status::run(&cli, &load(&cli)?),
        Command::Clips { camera, from, to } => {
            clips::run(&cli, &load(&cli)?, camera, from.as_deref(), to.as_deref())
        }
        Command::Config(ConfigCommand::Check) => config::check(&cli, &config_path(&cli)?),
        Command::Audit(AuditCommand::Verify { anchor }) => {
            audit::verify(&cli, &load(&cli)?, anchor.as_deref())
        }
        Command::Audit(AuditCommand::Tail { n }) => audit::tail(&cli, &load(&cli)?, *n),
        Command::Erase {
            camera,
            from,
            to,
            path,
            reason,
            dry_run,
        } => {
            let typed = select::Typed {
                cameras: camera,
                from: from.as_deref(),
                to: to.as_deref(),
                paths: path,
            };
            erase::run(&cli, &load(&cli)?, typed, reason, *dry_run, &operator())
        }
        Command::Export {
            verify: Some(ExportCommand::Verify { dir }),
            ..
        } => export::verify(&cli, dir),
        Command::Export {
            verify: None,
            case,
            dest,
        } => {
            let (Some(case), Some(dest)) = (case, dest) else {
                return Err(Exit::usage("export needs --case REF and --dest DIR").into());
            };
            export::run(&cli, &load(&cli)?, case, dest, &operator())
        }
        Command::Hold(h) => {
            let settings = load(&cli)?;
            match h {
                HoldCommand::Add {
                    camera,
                    from,
                    to,
                    path,
                    case,
                    reason,
                    until,
                } => {
                    let typed = select::Typed {
                        cameras: camera,
                        from: from.as_deref(),
                        to: to.as_deref(),
                        paths: path,
                    };
                    let args = hold::AddArgs {
                        typed,
                        case,
                        reason,
                        until: until.as_deref(),
                    };
                    hold::add(&cli, &settings, args, &operator())
                }
                HoldCommand::List => hold::list(&cli, &settings),
                HoldCommand::Show { id } => hold::show(&cli, &settings, id),
                HoldCommand::Release { id, reason } => {
                    hold::release(&cli, &settings, id, reason, &operator())
                }
                HoldCommand::Extend { id, until } => {
                    hold::extend(&cli, &settings, id, until, &operator())
                }
            }
        }
    }
}

/// Who is running the command, for the registry and the audit log.
pub struct Operator {
    pub name: String,
    pub uid: u32,
}

/// Under sudo the person who ran sudo (`$SUDO_USER`, `$SUDO_UID`); otherwise the login name
/// and the real uid.
pub fn operator() -> Operator {
    if let Some(uid) = std::env::var("SUDO_UID").ok().and_then(|u| u.parse().ok()) {
        let name = std::env::var("SUDO_USER")
            .ok()
            .filter(|n| !n.is_empty())
            .or_else(|| clipwarden::users::user_name(uid))
            .unwrap_or_else(|| format!("uid {uid}"));
        return Operator { name, uid };
    }
    let uid = nix::unistd::getuid().as_raw();
    let name = ["LOGNAME", "USER"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|n| !n.is_empty() && clipwarden::users::uid_of(n).is_none_or(|u| u == uid))
        .or_else(|| clipwarden::users::user_name(uid))
        .unwrap_or_else(|| format!("uid {uid}"));
    Operator { name, uid }
}

/// The config path, honouring `--config`, `$CLIPWARDEN_CONFIG` and the sudo rule: under sudo
/// only the default is used, since a config decides what gets deleted.
pub fn config_path(cli: &Cli) -> Result<PathBuf> {
    let chosen = cli.config.clone().or_else(|| {
        std::env::var_os("CLIPWARDEN_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let default = Path::new(cfg::DEFAULT_PATH);
    if std::env::var_os("SUDO_UID").is_some()
        && let Some(p) = &chosen
        && p != default
    {
        return Err(Exit::usage(format!(
            "under sudo only the default config ({}) is used, not {}: a config decides what gets deleted, so it must be the one the administrator installed",
            default.display(),
            p.display()
        ))
        .into());
    }
    Ok(chosen.unwrap_or_else(|| default.to_path_buf()))
}

/// Loads and validates the config; every error exits 2 naming file, key and problem.
pub fn load(cli: &Cli) -> Result<Settings> {
    let path = config_path(cli)?;
    cfg::load(&path).map_err(|e| Exit::usage(e.to_string()).into())
}
