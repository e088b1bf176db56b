//! The command line's shape: every command, flag and help text, as clap definitions. The
//! binary parses with it (`src/cli/` runs the commands); packaging generates the shell
//! completions and man pages from the same definitions (`examples/pkg-assets.rs`), so they
//! cannot drift from `clipwarden --help`.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "clipwarden",
    version,
    about = "CCTV footage retention: deletes recordings past retention, keeps held footage up to a hard cap",
    long_about = None,
    after_help = "Exit codes: 0 success, 1 runtime error, 2 usage or config error, 3 a safety guard refused to delete, 4 verification failed."
)]
pub struct Cli {
    /// Config file (default: $CLIPWARDEN_CONFIG, else /etc/clipwarden/clipwarden.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// One JSON document on stdout instead of text for a person.
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail (-v lists every clip, -vv adds debug logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The daemon (a systemd service): keep the roots' view current from filesystem events
    /// and delete clips as their time comes.
    Run,
    /// One pass: scan the roots, delete what is due, then exit.
    Sweep {
        /// Show what would be deleted, delete nothing, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Go ahead although the pass would delete more than max_delete_fraction of a root
        /// (a first run on a disk of old footage). Audited. Overrides no other guard.
        #[arg(long)]
        force: bool,
    },
    /// Roots, clips, bytes, oldest clip, holds, alarms and the next deletion.
    Status,
    /// List clips with their hold state and expiry.
    Clips {
        /// Only these cameras (names match without regard to case). Repeatable.
        #[arg(long, value_name = "C")]
        camera: Vec<String>,
        /// Only clips whose recording overlaps the window from this time.
        #[arg(long, value_name = "T")]
        from: Option<String>,
        /// Only clips whose recording overlaps the window up to this time.
        #[arg(long, value_name = "T")]
        to: Option<String>,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// A data subject's erasure request: delete the selected clips now, all or nothing.
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["camera", "path"])))]
    Erase {
        /// Camera (repeatable; names match without regard to case).
        #[arg(long, value_name = "C")]
        camera: Vec<String>,
        /// Start of the window (every clip whose recording overlaps it is selected).
        #[arg(long, value_name = "T")]
        from: Option<String>,
        /// End of the window.
        #[arg(long, value_name = "T")]
        to: Option<String>,
        /// A clip, by path (repeatable).
        #[arg(long, value_name = "P")]
        path: Vec<PathBuf>,
        /// The request, e.g. its reference and what it asks.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// List what would go; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy the clips held under a case, with a SHA-256 manifest; or verify such a copy.
    #[command(args_conflicts_with_subcommands = true)]
    Export {
        #[command(subcommand)]
        verify: Option<ExportCommand>,
        /// The case whose held clips to copy.
        #[arg(long, value_name = "REF", required = true)]
        case: Option<String>,
        /// Where to put DEST/<case>/ (a USB disk, a network share); never inside a root.
        #[arg(long, value_name = "DIR", required = true)]
        dest: Option<PathBuf>,
    },
    /// Legal holds: keep footage past retention, up to the hold cap.
    #[command(subcommand)]
    Hold(HoldCommand),
    /// Build a sample recording tree and show a sweep on it.
    Demo {
        /// Where to build it (default: a new temporary directory, kept afterwards).
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum HoldCommand {
    /// Place a hold on cameras for a window, or on clips by path.
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["camera", "path"])))]
    Add {
        /// Camera to hold (repeatable; names match without regard to case).
        #[arg(long, value_name = "C")]
        camera: Vec<String>,
        /// Start of the window: RFC 3339, "YYYY-MM-DD HH:MM" local, or "HH:MM" (its most recent past occurrence).
        #[arg(long, value_name = "T")]
        from: Option<String>,
        /// End of the window ("HH:MM": its first occurrence after --from). At most 24 h ahead.
        #[arg(long, value_name = "T")]
        to: Option<String>,
        /// A clip to hold, by path (repeatable).
        #[arg(long, value_name = "P")]
        path: Vec<PathBuf>,
        /// Case reference, e.g. POLICE-2026-0142.
        #[arg(long, value_name = "REF")]
        case: String,
        /// Why, in words a data-protection officer can read later.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// When the hold ends by itself (never past the hold cap).
        #[arg(long, value_name = "T")]
        until: Option<String>,
    },
    /// List every hold in the registry.
    List,
    /// One hold, with the clips it covers and when each expires.
    Show { id: String },
    /// End a hold: its footage past retention goes at the next pass.
    Release {
        id: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Move a hold's end later (never earlier, never past the cap).
    Extend {
        id: String,
        #[arg(long, value_name = "T")]
        until: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Re-hash an export against its manifest: exit 4 on any mismatch, missing or extra file.
    Verify {
        /// The folder holding manifest.json, or a --dest holding exactly one case.
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate, probe each root, and print the effective config.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the whole hash chain; name the first bad entry.
    Verify {
        /// Also check that the log still holds this entry (as sent to the journal).
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<String>,
    },
    /// Show the last entries.
    Tail {
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
    },
}

/// The whole command tree, as clap builds it for `--help`: what the completions and man
/// pages are generated from.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    /// clap's own checks (conflicting names, bad groups), which it otherwise makes only in
    /// debug builds at parse time.
    #[test]
    fn command_tree_is_consistent() {
        super::command().debug_assert();
    }
}
