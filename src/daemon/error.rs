//! Why the daemon could not start, or stopped.

use std::path::PathBuf;

use sitepatrol_server::http::BindError;
use sitepatrol_server::review::notice::TemplateError;
use sitepatrol_store::StoreError;

use crate::config::ConfigErrors;
use crate::daemon::filing::FilingSetupError;
use crate::daemon::render::RenderSetupError;
use crate::inventory::InventoryErrors;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("the store {}: {source}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: Box<StoreError>,
    },
    /// Every error of the rulesets, joined.
    #[error("the rulesets have {0}")]
    Rules(String),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The rectification notice or UI templates.
    #[error("templates: {0}")]
    Templates(#[from] TemplateError),
    /// `review.notice_font` names no usable CJK font.
    #[error(transparent)]
    NoticeFont(#[from] sitepatrol_server::review::pdf::FontError),
    #[error(transparent)]
    Listen(#[from] BindError),
    #[error(transparent)]
    Filing(#[from] FilingSetupError),
    /// `[render] enabled = true` without a browser that runs.
    #[error(transparent)]
    Render(#[from] RenderSetupError),
    #[error(transparent)]
    Inventory(#[from] InventoryErrors),
    #[error("the inventory: {0}")]
    InventoryStore(Box<StoreError>),
    /// The leader election could not be set up over the store.
    #[error("the leader election: {0}")]
    Election(String),
    #[error("site `{0}` is a demo site, but the demo server is off")]
    DemoServerOff(String),
    #[error("cannot handle {signal}: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
