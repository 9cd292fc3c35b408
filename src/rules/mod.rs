//! Ruleset files → a compiled ruleset.
