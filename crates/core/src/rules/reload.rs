//! Hot reload: the compiled ruleset currently serving, and a way to replace it from its
//! sources without stopping the scans that use it.
//!
//! Scans take an `Arc` of the current ruleset and keep it for as long as they run, so a reload
//! never changes rules under a page that is being scanned. A reload validates the new rules
//! exactly as `rules check` does (every file, every list, every rule's examples); if anything is
//! wrong, the old ruleset keeps serving and the caller gets every diagnostic.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{Diagnostic, Level, RuleSource, Ruleset, check};

/// What a successful reload did.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    /// Counts up by one with every ruleset that starts serving, starting at 1.
    pub generation: u64,
    pub rules: usize,
    pub warnings: Vec<Diagnostic>,
    /// Loading, compiling and running the examples.
    pub took: Duration,
}

/// The ruleset currently serving and the sources it reloads from. `Send + Sync`: share it in
/// an `Arc` between the scanners and whatever triggers reloads (a signal handler task).
pub struct RulesHandle {
    sources: Vec<RuleSource>,
    current: RwLock<(Arc<Ruleset>, u64)>,
    /// One reload at a time, so two triggers in a row cannot install out of order.
    reloading: Mutex<()>,
}

impl RulesHandle {
    /// Load and check the sources; fails with every diagnostic when they do not validate.
    pub fn new(sources: Vec<RuleSource>) -> Result<(RulesHandle, ReloadOutcome), Vec<Diagnostic>> {
        let started = Instant::now();
        let (ruleset, warnings) = checked(&sources)?;
        let outcome = ReloadOutcome {
            generation: 1,
            rules: ruleset.rules().len(),
            warnings,
            took: started.elapsed(),
        };
        let handle = RulesHandle {
            sources,
            current: RwLock::new((Arc::new(ruleset), 1)),
            reloading: Mutex::new(()),
        };
        Ok((handle, outcome))
    }

    /// The ruleset serving now. Cheap: clones an `Arc`.
    pub fn current(&self) -> Arc<Ruleset> {
        // A poisoned lock means a thread panicked while swapping two values; the value is
        // still a whole ruleset, so keep serving it.
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard.0)
    }

    /// The generation of the ruleset serving now.
    pub fn generation(&self) -> u64 {
        self.current.read().unwrap_or_else(|e| e.into_inner()).1
    }

    pub fn sources(&self) -> &[RuleSource] {
        &self.sources
    }

    /// Reload from the sources. On any error the current ruleset keeps serving and every
    /// diagnostic (errors and warnings) is returned.
    pub fn reload(&self) -> Result<ReloadOutcome, Vec<Diagnostic>> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let (ruleset, warnings) = checked(&self.sources)?;
        let rules = ruleset.rules().len();
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let generation = current.1 + 1;
        *current = (Arc::new(ruleset), generation);
        Ok(ReloadOutcome {
            generation,
            rules,
            warnings,
            took: started.elapsed(),
        })
    }
}

/// `check`, as a result: the ruleset and its warnings, or every diagnostic.
fn checked(sources: &[RuleSource]) -> Result<(Ruleset, Vec<Diagnostic>), Vec<Diagnostic>> {
    let (ruleset, diagnostics) = check(sources);
    match ruleset {
        Some(ruleset) if diagnostics.iter().all(|d| d.level != Level::Error) => {
            Ok((ruleset, diagnostics))
        }
        _ => Err(diagnostics),
    }
}

/// A version of the rules `sources` hold: SHA-256 over the bytes of every file under them
/// (bundled files, ruleset files, and the lists next to them), prefixed `sha256:`. Stable across
/// restarts, unlike the reload generation, so the store can tell whether a page was already
/// matched with these very rules. Lists kept outside the source directories are not covered:
/// changing one without touching a ruleset file leaves the version as it was.
pub fn sources_version(sources: &[RuleSource]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    let mut part = |kind: &str, name: &str, bytes: &[u8]| {
        for piece in [kind.as_bytes(), name.as_bytes(), bytes] {
            hash.update((piece.len() as u64).to_be_bytes());
            hash.update(piece);
        }
    };
    for source in sources {
        match source {
            RuleSource::Bundled => {
                for (name, bytes) in super::bundled::FILES {
                    part("bundled", name, bytes);
                }
            }
            RuleSource::Path(path) => {
                let mut files: Vec<_> = walkdir::WalkDir::new(path)
                    .follow_links(true)
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_file())
                    .map(|e| e.into_path())
                    .collect();
                files.sort();
                for file in files {
                    let bytes = std::fs::read(&file).unwrap_or_default();
                    part("path", &file.to_string_lossy(), &bytes);
                }
            }
            RuleSource::Text { name, text } => part("text", name, text.as_bytes()),
        }
    }
    let digest = hash.finalize();
    format!("sha256:{}", crate::digest::hex(&digest))
}
