//! The case pages: the queue reviewers work (`/`), one case (`/cases/{id}`) and the actions
//! on it. The same store calls as the API's `/cases`, the same roles and CSRF checks as the
//! flag pages.

use std::collections::{BTreeMap, HashMap, HashSet};

use http::{Response, StatusCode};

use super::{ActionForm, Ctx, Filters, PAGE_SIZE, Ui, need, not_found, ser};
use crate::api::error::{ApiError, blocking};
use crate::api::handlers::cases::{CASE_FILTERS, case_filter, case_id, case_not_found, deadline};
use crate::api::handlers::now;
use crate::api::query::Query;
use crate::http::Body;
use crate::review::auth::{Principal, Role};
use sitepatrol_core::finding::Severity;
use sitepatrol_store::{CaseAction, CaseState};

/// Screenshots shown on a case page: the strongest pages that have one.
const CASE_SCREENSHOTS: usize = 3;

impl Ui {
    pub(super) async fn case_queue(
        &self,
        ctx: &Ctx,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let mut allowed = CASE_FILTERS.to_vec();
        allowed.extend(["cursor", "lang"]);
        let q = Query::parse(query, &allowed)?;
        let at = now();
        let mut filter = case_filter(&q, at)?;
        filter.limit = PAGE_SIZE;
        filter.cursor = q.text("cursor")?;
        let filters = Filters::read("/", &q, CASE_FILTERS);
        let store = self.api.store.clone();
        let list_filter = filter.clone();
        let (page, counts) =
            blocking(move || Ok((store.list_cases(&list_filter)?, store.case_counts()?))).await?;
        let mut by_state: BTreeMap<CaseState, u64> = BTreeMap::new();
        let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
        for c in counts {
            *by_state.entry(c.state).or_default() += c.count;
            if filter.states.is_empty() || filter.states.contains(&c.state) {
                *by_category.entry(c.category.clone()).or_default() += c.count;
            }
        }
        let with = |name: &str, value: &str| filters.with(name, value);
        let state_counts: Vec<_> = by_state
            .iter()
            .map(|(s, count)| {
                minijinja::context! { name => s.as_str(), count, href => with("state", s.as_str()) }
            })
            .collect();
        let category_counts: Vec<_> = by_category
            .iter()
            .map(
                |(name, count)| minijinja::context! { name, count, href => with("category", name) },
            )
            .collect();
        let here = filters.here(filter.cursor.as_ref());
        let overdue_ids: Vec<i64> = page
            .cases
            .iter()
            .filter(|c| c.is_overdue(at))
            .map(|c| c.id)
            .collect();
        let next_href = page.next_cursor.as_ref().map(|c| with("cursor", c));
        Ok(self.render(
            ctx,
            StatusCode::OK,
            "cases.html",
            minijinja::context! {
                cases => ser(&page.cases),
                overdue_ids,
                filter => filters.view(),
                states => CaseState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                severities => Severity::ALL.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                categories => by_category.keys().cloned().collect::<Vec<_>>(),
                state_counts,
                category_counts,
                cursor => filter.cursor,
                first_href => filters.first(),
                next_href,
                here,
            },
        ))
    }

    pub(super) async fn case_page(&self, ctx: &Ctx, id: &str) -> Result<Response<Body>, ApiError> {
        let id = case_id(id)?;
        let store = self.api.store.clone();
        let (detail, site, screenshots) = blocking(move || {
            let Some(detail) = store.case(id)? else {
                return Err(case_not_found(id));
            };
            let site = store.site(&detail.case.site)?;
            let mut screenshots = Vec::new();
            let mut seen = HashSet::new();
            for flag in detail.flags.iter().filter(|f| f.state.is_active()) {
                if screenshots.len() == CASE_SCREENSHOTS {
                    break;
                }
                // One picture per page copy: the same template on 40 pages is one picture
                // only when the copies are the same bytes, which is what the hash says.
                if !seen.insert(flag.body_sha256.clone()) {
                    continue;
                }
                let taken = store
                    .flag(flag.id)?
                    .and_then(|d| d.body)
                    .filter(|b| b.pruned_at.is_none())
                    .and_then(|b| b.screenshot_taken_at);
                if let Some(taken_at) = taken {
                    screenshots.push(minijinja::context! {
                        flag => flag.id, url => flag.url.clone(), taken_at,
                    });
                }
            }
            Ok((detail, site, screenshots))
        })
        .await?;
        Ok(self.render(
            ctx,
            StatusCode::OK,
            "case.html",
            minijinja::context! {
                overdue => detail.case.is_overdue(now()),
                case => ser(&detail.case),
                flags => ser(&detail.flags),
                top_signals => ser(&detail.top_signals),
                events => ser(&detail.events),
                site => ser(&site),
                screenshots,
                deadline_days => self.api.notices().deadline_days,
            },
        ))
    }

    pub(super) async fn case_act(
        &self,
        user: &Principal,
        id: &str,
        action: &str,
        form: &HashMap<String, String>,
    ) -> Result<Response<Body>, ApiError> {
        need(user, Role::Reviewer)?;
        let id = case_id(id)?;
        let form = ActionForm(form);
        let field = |name: &str| form.text(name);
        let number = |name: &str| form.number(name);
        let at = now();
        let action = match action {
            "confirm" => CaseAction::Confirm {
                reason: field("reason")?,
                deadline_at: deadline(
                    at,
                    number("deadline_days")?,
                    None,
                    self.api.notices().deadline_days,
                )?,
            },
            "dismiss" => CaseAction::Dismiss {
                reason: form.dismissal_reason()?,
            },
            "reopen" => CaseAction::Reopen {
                reason: field("reason")?,
            },
            "assign" => CaseAction::Assign {
                assignee: field("assignee")?,
            },
            "comment" => CaseAction::Comment {
                text: form.comment()?,
            },
            other => return Err(not_found(&format!("/cases/{id}/{other}"))),
        };
        let version = number("version")?;
        let store = self.api.store.clone();
        let actor = user.name.clone();
        blocking(move || Ok(store.act_on_case(id, &action, &actor, at, version)?)).await?;
        let next = form.next_or(format!("/cases/{id}"));
        Ok(super::redirect(&next))
    }
}
