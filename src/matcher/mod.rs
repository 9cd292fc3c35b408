//! The multi-pattern hot loop behind a small trait.
