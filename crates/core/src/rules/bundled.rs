//! The repository's `rulesets/` tree, compiled into the binary so that `sitepatrol scan`
//! works from any directory. `build.rs` generates the file list.

include!(concat!(env!("OUT_DIR"), "/bundled_rulesets.rs"));
