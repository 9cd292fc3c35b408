//! What each listener serves: one axum router per kind of listener, built from the routes of
//! the operations endpoints, the review API and the UI.

use std::sync::Arc;

use axum::Router;

use crate::api::{self, Api};
use crate::http::{self, OpsState};
use crate::ui::{self, Ui};

/// What a listener is for.
pub enum Listener {
    /// `/metrics`, `/healthz`, `/readyz`; every other path is 404.
    Ops(Arc<OpsState>),
    /// The operations endpoints, the API under `/api/`, and the UI everywhere else (the API
    /// shares the operations listeners when it has none of its own).
    OpsAndReview {
        ops: Arc<OpsState>,
        api: Arc<Api>,
        ui: Arc<Ui>,
    },
    /// The API's own listener: the API under `/api/` (and the operations paths, which it
    /// answers 401 or 404), the UI everywhere else.
    Review { api: Arc<Api>, ui: Arc<Ui> },
}

pub fn app(listener: Listener) -> Router {
    match listener {
        Listener::Ops(ops) => http::ops_routes(ops).fallback(http::ops_not_found),
        Listener::OpsAndReview { ops, api, ui } => http::ops_routes(ops)
            .merge(api::routes(api, false))
            .merge(ui::routes(ui)),
        Listener::Review { api, ui } => api::routes(api, true).merge(ui::routes(ui)),
    }
}
