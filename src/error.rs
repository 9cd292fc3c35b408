//! Error kinds.
