//! The `sitepatrol` binary: argument parsing and presentation over the library.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
