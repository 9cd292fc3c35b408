//! Rectification notices (整改通知) of confirmed flags: the facts come from the flag as stored
//! and the wording from `review::notice` (the operator's template). Generating one is recorded
//! in the flag's audit log, so an auditor sees who issued which notice and when.

use std::path::Path;

use super::error::{blocking, flag_not_found};
use super::{Api, ApiError, Code};

pub mod customer;
use crate::review::customer_notice::CustomerNoticeTemplate;
use crate::review::export::{date, rfc3339};
use crate::review::notice::{NoticeEvidence, NoticeFacts, NoticeTemplate, TemplateError};
use crate::review::pdf::{FontError, NoticeFont};
use sitepatrol_store::{EventKind, Flag, FlagAction, FlagId, FlagState, Timestamp};

/// Evidence beyond the head a notice quotes; a letter lists the strongest, not a link farm.
const NOTICE_EVIDENCE: usize = 10;

/// The template and what the config says about notices.
#[derive(Debug)]
pub struct NoticeSettings {
    pub template: NoticeTemplate,
    /// The per-customer notice's text and HTML templates.
    pub customer: CustomerNoticeTemplate,
    pub provider: String,
    pub deadline_days: u32,
    /// The font of PDF notices: the configured one, loaded at startup, or `None` to search
    /// the usual paths at the first PDF (and again after a miss, so that installing a font
    /// package needs no restart).
    font: Option<NoticeFont>,
    found_font: std::sync::OnceLock<NoticeFont>,
}

impl Default for NoticeSettings {
    fn default() -> NoticeSettings {
        NoticeSettings {
            // The bundled templates are checked by their unit tests; failing here is a build
            // bug.
            template: NoticeTemplate::bundled().unwrap_or_else(|e| {
                panic!("the bundled rectification notice template is broken: {e}")
            }),
            customer: CustomerNoticeTemplate::bundled()
                .unwrap_or_else(|e| panic!("the bundled customer notice template is broken: {e}")),
            provider: "sitepatrol".into(),
            deadline_days: 3,
            font: None,
            found_font: std::sync::OnceLock::new(),
        }
    }
}

impl NoticeSettings {
    /// The operator's templates directory, or the bundled copy when there is none.
    pub fn new(
        templates_dir: Option<&Path>,
        provider: String,
        deadline_days: u32,
    ) -> Result<NoticeSettings, TemplateError> {
        let (template, customer) = match templates_dir {
            Some(dir) => (
                NoticeTemplate::from_dir(dir)?,
                CustomerNoticeTemplate::from_dir(dir)?,
            ),
            None => (
                NoticeTemplate::bundled()?,
                CustomerNoticeTemplate::bundled()?,
            ),
        };
        Ok(NoticeSettings {
            template,
            customer,
            provider,
            deadline_days,
            font: None,
            found_font: std::sync::OnceLock::new(),
        })
    }

    /// PDF notices in the font at `path` (`review.notice_font`, face `index` of a
    /// collection), loaded and checked now: a configured font that cannot be used is a
    /// startup error naming the key, not a failed notice later.
    pub fn with_font(
        mut self,
        path: &Path,
        index: Option<u32>,
    ) -> Result<NoticeSettings, FontError> {
        self.font = Some(NoticeFont::load(path, index)?);
        Ok(self)
    }

    /// The font of PDF notices, or why there is none.
    pub fn font(&self) -> Result<NoticeFont, FontError> {
        if let Some(font) = &self.font {
            return Ok(font.clone());
        }
        if let Some(font) = self.found_font.get() {
            return Ok(font.clone());
        }
        let font = NoticeFont::search()?;
        Ok(self.found_font.get_or_init(|| font).clone())
    }
}

/// The notice number: stable per flag and year, so a notice issued twice carries the same
/// number and the customer's reply can cite it.
pub fn notice_id(id: FlagId, issued: Timestamp) -> String {
    format!("ZG-{}-{id:06}", date(issued).get(..4).unwrap_or("0000"))
}

/// Renders the notice of flag `id` for `actor` and records it in the audit log. Only a
/// confirmed flag has one: the notice asks for a takedown, which is what confirming means.
///
/// A notice is recorded once per number and reviewer: reading it again (a reload, a `HEAD`,
/// a second download) writes nothing. With `record` false (`HEAD`) nothing is ever written.
pub async fn generate(
    api: &Api,
    id: FlagId,
    actor: &str,
    now: Timestamp,
    record: bool,
) -> Result<String, ApiError> {
    let settings = api.notices();
    let store = api.store.clone();
    let actor = actor.to_string();
    blocking(move || {
        let Some(detail) = store.flag(id)? else {
            return Err(flag_not_found(id));
        };
        let events = detail.events;
        let flag = detail.flag;
        if flag.state != FlagState::Confirmed {
            return Err(ApiError::new(
                Code::NotConfirmed,
                format!(
                    "flag {id} is {}; a rectification notice is issued for confirmed flags only",
                    flag.state
                ),
            ));
        }
        let host = url::Url::parse(&flag.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let deadline = now + i64::from(settings.deadline_days) * 86_400;
        let number = notice_id(id, now);
        let facts = NoticeFacts {
            notice_id: number.clone(),
            provider: settings.provider.clone(),
            customer: flag.customer.clone(),
            site_id: flag.site.clone(),
            host,
            url: flag.url.clone(),
            clause: flag.clause.clone(),
            rule: flag.rule.clone(),
            description: flag.description.clone(),
            category: flag.category.clone(),
            severity: flag.severity.to_string(),
            matched: flag.matched.clone(),
            snippet: flag.snippet.clone(),
            more_evidence: more_evidence(&flag).take(NOTICE_EVIDENCE).collect(),
            more_evidence_omitted: (more_evidence(&flag).count().saturating_sub(NOTICE_EVIDENCE)
                as u64)
                + flag.signals_omitted,
            fetched_at: rfc3339(flag.fetched_at),
            http_status: flag.http_status,
            ip: flag.ip.clone(),
            body_sha256: Some(flag.body_sha256.clone()).filter(|h| !h.is_empty()),
            icp_number: None,
            reviewer: actor.clone(),
            issued_at: date(now),
            deadline: date(deadline),
        };
        let text = settings.template.render(&facts).map_err(|e| {
            ApiError::internal(format!(
                "the rectification notice of flag {id} cannot be rendered: {e}"
            ))
        })?;
        // The store's audit log has state, assign and comment events; a notice is recorded
        // as a comment by the reviewer who generated it, with its number and deadline.
        let prefix = format!("整改通知 {number} generated");
        let recorded = events.iter().any(|e| {
            e.kind == EventKind::Comment
                && e.actor == actor
                && e.reason.as_deref().is_some_and(|r| r.starts_with(&prefix))
        });
        if record && !recorded {
            store.act(
                id,
                &FlagAction::Comment {
                    text: format!("{prefix} (deadline {})", date(deadline)),
                },
                &actor,
                now,
                None,
            )?;
        }
        Ok(text)
    })
    .await
}

/// The flag's signals other than the one its head quotes, strongest first.
fn more_evidence(flag: &Flag) -> impl Iterator<Item = NoticeEvidence> + '_ {
    flag.signals
        .iter()
        .filter(|s| !(s.rule == flag.rule && s.matched == flag.matched))
        .map(|s| NoticeEvidence {
            rule: s.rule.clone(),
            matched: s.matched.clone(),
            snippet: s.snippet.clone(),
        })
}
