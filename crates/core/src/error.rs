//! Error kinds, each with `details()`: what the user can do about it.

use std::path::PathBuf;

use crate::rules::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the rulesets have {} error(s)", .0.iter().filter(|d| d.level == crate::rules::Level::Error).count())]
    Rules(Vec<Diagnostic>),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// A hint for the user, beyond the message.
    pub fn details(&self) -> Option<String> {
        match self {
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => Some("check the path; directories are walked for html, htm, shtml, xhtml, txt and js files".into()),
                std::io::ErrorKind::PermissionDenied => Some("the scanner needs read access to every file it scans".into()),
                _ => None,
            },
            Error::Rules(diagnostics) => Some(
                diagnostics
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Error::Usage(_) => None,
        }
    }
}
