//! Writes the shell completions and man pages that the .deb ships, generated from the CLI's
//! clap definitions (`clipwarden::args`), so they always match `clipwarden --help`. Packaging
//! runs it (`cross/deb`); it is a development tool, not part of any package.
//!
//! ```sh
//! cargo run --example pkg-assets -- OUT_DIR
//! ```
//!
//! writes `OUT_DIR/completions/{clipwarden.bash,_clipwarden,clipwarden.fish}` and
//! `OUT_DIR/man/clipwarden.1` with one page per subcommand (`clipwarden-hold-add.1`, …).
//! The pages' date is `$SOURCE_DATE_EPOCH`'s when set (reproducible builds), else today's.

use std::fs;
use std::io::Write;
use std::path::Path;

use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        return Err("usage: pkg-assets OUT_DIR".into());
    };
    let out = Path::new(&out);
    // Never empty: roff drops an empty argument, and .TH's source and manual would shift.
    let when = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => jiff::Timestamp::from_second(s.parse()?)?,
        Err(_) => jiff::Timestamp::now(),
    };
    let date = when.strftime("%Y-%m-%d").to_string();

    let completions = out.join("completions");
    fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(
            shell,
            &mut clipwarden::args::command(),
            "clipwarden",
            &completions,
        )?;
        println!("{}", path.display());
    }

    let man = out.join("man");
    fs::create_dir_all(&man)?;
    let mut cmd = clipwarden::args::command().disable_help_subcommand(true);
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub.clone(), &date, &man)?;
    }
    let path = man.join("clipwarden.1");
    let mut file = fs::File::create(&path)?;
    main_page(cmd, &date, &mut file)?;
    file.flush()?;
    println!("{}", path.display());
    Ok(())
}

/// Every page's footer names the package and its version (clap would put a subcommand's
/// bare name there).
fn man(cmd: clap::Command, date: &str) -> Man {
    let source = format!("clipwarden {}", env!("CARGO_PKG_VERSION"));
    Man::new(cmd)
        .date(date)
        .source(source)
        .manual("clipwarden manual")
}

/// A page for `cmd` and one for each of its subcommands, as `clipwarden-hold-add.1`.
fn pages(cmd: clap::Command, date: &str, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub.clone(), date, dir)?;
    }
    let path = man(cmd, date).generate_to(dir)?;
    println!("{}", path.display());
    Ok(())
}

/// clipwarden(1): clap's sections, then what an operator looks for in a daemon's page
/// instead of clap's generic EXTRA section (the `--help` footer).
fn main_page(cmd: clap::Command, date: &str, w: &mut dyn Write) -> std::io::Result<()> {
    let man = man(cmd, date);
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;

    let mut roff = Roff::default();
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(
        "clipwarden runs on a venue's video recorder and deletes CCTV recordings once their \
         retention has run out, while footage under a legal hold is kept up to a hard cap. \
         Holds come from its registry (clipwarden hold) and from marker files beside the \
         footage. Every deletion is re-checked just before the unlink and recorded first in \
         a hash-chained audit log; guards refuse passes that look like a wrong clock or a \
         wrong disk.",
    )]);
    roff.control("PP", []);
    roff.text([roman(
        "The daemon (clipwarden run) runs as a systemd service under the unprivileged user \
         clipwarden. Run the other commands as that user too (sudo -u clipwarden clipwarden \
         ...), or with sudo and the default config.",
    )]);
    roff.to_writer(w)?;
    man.render_options_section(w)?;
    man.render_subcommands_section(w)?;

    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "Success."),
        (
            "1",
            "Runtime error: a root or directory that could not be read, a file that could not be deleted.",
        ),
        ("2", "Usage or config error."),
        (
            "3",
            "A safety guard refused to delete (also a dry run whose real pass would be refused, an unreadable hold registry, an erase that names a held clip).",
        ),
        ("4", "Verification failed (audit verify, export verify)."),
    ] {
        roff.control("TP", [])
            .text([bold(code)])
            .text([roman(meaning)]);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", [])
        .text([bold("CLIPWARDEN_CONFIG")])
        .text([roman(
            "The config file when --config is not given. Under sudo only the default config is accepted.",
        )]);
    roff.control("TP", [])
        .text([bold("CLIPWARDEN_LOG")])
        .text([roman(
            "A tracing filter (e.g. debug) that overrides -v and -q.",
        )]);

    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/clipwarden/clipwarden.toml",
            "The config: every key with its default and what it does.",
        ),
        (
            "/etc/clipwarden/conf.d/*.toml",
            "Drop-ins, merged after the main file in name order; a later file wins per key.",
        ),
        (
            "/var/lib/clipwarden/",
            "The state directory: the lock, the hold registry (holds/), the hash-chained audit log (audit.jsonl, audit-YYYY-MM.jsonl).",
        ),
        (
            "/usr/lib/systemd/system/clipwarden.service",
            "The daemon (clipwarden run). Or clipwarden-sweep.timer with clipwarden-sweep.service: a sweep every 15 minutes. Enable one of the two.",
        ),
        (
            "/usr/share/doc/clipwarden/",
            "README.md (the operator's guide) and README.systemd.md (drop-ins, permissions, hardening).",
        ),
    ] {
        roff.control("TP", [])
            .text([italic(path)])
            .text([roman(what)]);
    }

    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("systemctl"),
        roman("(1), "),
        bold("journalctl"),
        roman("(1), "),
        bold("systemd.exec"),
        roman("(5), "),
        bold("setfacl"),
        roman("(1)"),
    ]);
    roff.to_writer(w)?;

    man.render_version_section(w)
}
