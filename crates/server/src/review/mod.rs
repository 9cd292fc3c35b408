//! The reviewers' side: who may do what (tokens and roles), what a confirmed flag sends the
//! customer (rectification notices), how flags leave the system (exports, webhooks).
//!
//! These are the parts of the review API and UI that do not depend on HTTP, so each is tested
//! on its own; the daemon's HTTP server puts them behind `/api/v1` and `/`.

pub mod auth;
pub mod clause;
pub mod customer_notice;
pub mod export;
pub mod notice;
pub mod pdf;
pub mod webhook;
