//! `sitepatrol config init [PATH]`: a starting configuration to edit, so the next step after
//! the embedded default is a file rather than a blank page.

use std::io::Write;
use std::path::PathBuf;

use sitepatrol::config::{Config, EMBEDDED_DEFAULT};

use super::exit;

/// Every section with its defaults and comments (config/sitepatrol.toml), appended commented
/// out below the embedded default, which stays the part that runs.
const DOCUMENTED: &str = include_str!("../../config/sitepatrol.toml");

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Write a starting configuration: the embedded default (SQLite, bundled rules, the demo
    /// site), then every section of the documented example, commented out, to uncomment and
    /// edit. Refuses to overwrite a file unless --force.
    Init(InitArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(default_value = "sitepatrol.toml", value_name = "PATH")]
    path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

pub fn run(command: ConfigCommand) -> i32 {
    match command {
        ConfigCommand::Init(args) => init(args),
    }
}

/// The starting configuration's text.
pub fn starting_config() -> String {
    let mut text = String::with_capacity(EMBEDDED_DEFAULT.len() + DOCUMENTED.len() * 2);
    text.push_str(EMBEDDED_DEFAULT);
    text.push_str(
        "\n# ---------------------------------------------------------------------------------\n\
         # Every section, with its defaults and what each key does (config/sitepatrol.toml),\n\
         # commented out. Uncomment a key in the section above that has it, or a whole\n\
         # section that is not above. API tokens: `sitepatrol token new NAME --role reviewer`.\n\
         # ---------------------------------------------------------------------------------\n\n",
    );
    for line in DOCUMENTED.lines() {
        if line.is_empty() {
            text.push('\n');
        } else if line.starts_with('#') {
            text.push_str(line);
            text.push('\n');
        } else {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

fn init(args: InitArgs) -> i32 {
    let text = starting_config();
    // What we write must run as it is: checked before anything touches the disk.
    if let Err(errors) = Config::parse(
        &text,
        &args.path.display().to_string(),
        std::path::Path::new("."),
    ) {
        eprintln!("error: the starting configuration does not parse (a bug): {errors}");
        return exit::ERROR;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!args.force)
        .open(&args.path);
    let written = file.and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            println!(
                "wrote {}: run `sitepatrol daemon --config {}`",
                args.path.display(),
                args.path.display()
            );
            exit::OK
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "error: {} exists; pass --force to overwrite it",
                args.path.display()
            );
            exit::ERROR
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", args.path.display());
            exit::ERROR
        }
    }
}
