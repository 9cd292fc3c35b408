//! Secrets: written in the config, read from a file (`*_file`, for mounted secrets), or taken
//! from the environment (`*_env`, naming the variable). Never printed.

use std::path::Path;

use sitepatrol_core::secret::Secret;

use super::ConfigError;

/// The secret `key` from exactly one of its three forms, or none.
pub fn resolve_secret(
    key: &str,
    inline: Option<&str>,
    file: Option<&Path>,
    env: Option<&str>,
    base: &Path,
) -> Result<Option<Secret>, ConfigError> {
    let given = [inline.is_some(), file.is_some(), env.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if given > 1 {
        return Err(ConfigError {
            path: key.into(),
            message: format!("set only one of {key}, {key}_file and {key}_env"),
        });
    }
    let value = if let Some(v) = inline {
        v.to_string()
    } else if let Some(path) = file {
        let path = base.join(path);
        let text =
            sitepatrol_core::bounded::read_text(&path, sitepatrol_core::bounded::SECRET_BYTES)
                .map_err(|e| ConfigError {
                    path: format!("{key}_file"),
                    message: format!("{}: {e}", path.display()),
                })?;
        // Files written by `echo` end in a newline that is not part of the secret.
        text.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(var) = env {
        std::env::var(var).map_err(|_| ConfigError {
            path: format!("{key}_env"),
            message: format!("the environment variable {var} is not set (or not UTF-8)"),
        })?
    } else {
        return Ok(None);
    };
    if value.is_empty() {
        return Err(ConfigError {
            path: key.into(),
            message: "is empty".into(),
        });
    }
    Ok(Some(Secret::new(value)))
}
