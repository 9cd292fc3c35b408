//! sitepatrol-server: the daemon's HTTP side. [`http`] serves listeners and the operations
//! endpoints, [`metrics`] holds the Prometheus registry, [`api`] is the review API, [`ui`]
//! the reviewers' web pages over the same [`review`] logic, all over a `sitepatrol_store`.

pub mod api;
pub mod http;
pub mod metrics;
pub mod review;
pub mod router;
pub mod ui;
