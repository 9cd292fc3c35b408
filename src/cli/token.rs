//! `sitepatrol token new`: a random API token, and the config lines that let it in.

use sitepatrol_server::review::auth::{Role, config_line, new_token};

use super::exit;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Print a new random token, and the `[[api.tokens]]` lines (its SHA-256, never the token)
    /// to paste into the daemon's config.
    New {
        /// viewer (read), reviewer (act on flags) or admin (inventory, recrawls, tokens).
        #[arg(long)]
        role: Role,
        /// Who holds it: recorded as the actor of every action taken with it.
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(command: TokenCommand) -> i32 {
    match command {
        TokenCommand::New { role, name } => {
            let token = match new_token() {
                Ok(token) => token,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::ERROR;
                }
            };
            let name = name.unwrap_or_else(|| format!("{role}-{}", &token[4..12]));
            println!("token: {token}");
            println!();
            println!("# Add to the daemon's config; the token itself is not stored anywhere.");
            println!("{}", config_line(&name, role, &token));
            exit::OK
        }
    }
}
