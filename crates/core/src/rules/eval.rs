//! Scanning a document with a compiled ruleset: one automaton pass per zone and view, then
//! each rule's context conditions on the hits it received.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::checks::{self, Site};
use super::compile::{PatternInfo, Role, View, ViewKind};
use super::domains::{host_range, lookup_host};
use super::{Budget, Diagnostic, ExampleInput, Level, Ruleset, weights};
use crate::extract::{Document, ZoneKind};
use crate::finding::{Finding, Signal, snippet};
use crate::matcher::{Matcher, RegexSelection};
use crate::normalize::{
    Derived, NormalizedZones, denoise_into, longest_noise_run, normalize_into, segment,
};

/// Characters of context either side of a match in a finding's snippet.
const SNIPPET_CONTEXT: usize = 30;

/// Buffers one document's zones reuse.
struct Scratch {
    denoised: Derived,
    /// The regexes whose gate literals the current zone holds.
    regexes: RegexSelection,
}

/// The zone being matched: its index, kind and normalized text.
#[derive(Clone, Copy)]
struct ZoneText<'t> {
    zone: u32,
    kind: ZoneKind,
    text: &'t str,
}

/// One pattern occurrence for one rule, in normalized coordinates of its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    rule: u32,
    zone: u32,
    role: Role,
    start: u32,
    end: u32,
}

/// One piece of a rule's evidence on a page, before scoring: a distinct match in one zone
/// (with how often it occurs there), or what a structural check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The rule's index in [`Ruleset::rules`].
    pub rule: u32,
    pub zone: ZoneKind,
    /// The original text that matched.
    pub matched: String,
    /// The normalized form of the match.
    pub normalized: String,
    pub snippet: String,
    /// Byte offset of the first occurrence in the zone's original text.
    pub offset: usize,
    pub count: usize,
}

/// A category and each piece of its evidence with what it adds to the score.
type CategoryContributions<'e> = (Arc<str>, Vec<(f64, &'e Evidence)>);

/// Most signals one flag lists; the rest are counted in `signals_omitted` (their
/// contributions are in the score). Repeats add less each time, so signals past this many
/// add almost nothing a reviewer needs to see.
pub const MAX_SIGNALS_PER_FLAG: usize = 32;

impl Ruleset {
    /// The flags of an extracted document: one per category whose score passes its
    /// threshold. The page's own site (for the structural checks' "another site") is its base
    /// URL, or the target when the target is a URL; a file scan without either has none.
    pub fn scan_document(&self, document: &Document, target: &str) -> Vec<Finding> {
        self.score(&self.document_evidence(document, target), target)
    }

    /// Every rule's evidence on an extracted document, before scoring.
    pub fn document_evidence(&self, document: &Document, target: &str) -> Vec<Evidence> {
        self.document_evidence_within(document, target, &Budget::unlimited())
    }

    /// [`Ruleset::document_evidence`] until `budget` runs out: what was found by then (see
    /// [`Budget`]). Evidence of a `requires` rule whose check did not run is dropped, so a
    /// cut scan never reports what a whole one would not.
    pub fn document_evidence_within(
        &self,
        document: &Document,
        target: &str,
        budget: &Budget,
    ) -> Vec<Evidence> {
        self.document_evidence_normalized(document, target, budget)
            .0
    }

    /// [`Ruleset::document_evidence_within`], and the document's zones as normalized for it.
    pub fn document_evidence_normalized(
        &self,
        document: &Document,
        target: &str,
        budget: &Budget,
    ) -> (Vec<Evidence>, NormalizedZones) {
        let zones: Vec<(ZoneKind, &str)> = document
            .zones
            .iter()
            .map(|z| (z.kind, z.text.as_str()))
            .collect();
        let (mut evidence, normalized) = self.zone_evidence(&zones, budget);
        if !self.structural_rules.is_empty() {
            let page_url = document.base_url.as_deref().or_else(|| {
                (target.starts_with("http://") || target.starts_with("https://")).then_some(target)
            });
            let site = Site::of(document, page_url).with_normalized(&normalized);
            self.apply_structure(document, &site, &mut evidence, budget);
        }
        (evidence, normalized)
    }

    /// Run `check` rules and drop the evidence of `requires` rules whose check finds nothing
    /// (or did not run: the budget ran out).
    fn apply_structure(
        &self,
        document: &Document,
        site: &Site<'_>,
        evidence: &mut Vec<Evidence>,
        budget: &Budget,
    ) {
        for &index in &self.structural_rules {
            let rule = &self.rules[index as usize];
            if budget.is_spent() {
                if rule.requires.is_some() {
                    evidence.retain(|e| e.rule != index);
                }
                continue;
            }
            if let Some(requirement) = &rule.requires {
                if evidence.iter().any(|e| e.rule == index)
                    && checks::run(requirement, document, site).is_empty()
                {
                    evidence.retain(|e| e.rule != index);
                }
                continue;
            }
            let Some(check) = &rule.check else { continue };
            for found in checks::run(check, document, site) {
                let Some(zone) = document.zone(found.zone) else {
                    continue;
                };
                let Some(matched) = zone.text.get(found.range.clone()) else {
                    continue;
                };
                if let Some(existing) = evidence
                    .iter_mut()
                    .find(|e| e.rule == index && e.zone == found.zone && e.matched == matched)
                {
                    existing.count += found.count;
                    continue;
                }
                evidence.push(Evidence {
                    rule: index,
                    zone: found.zone,
                    matched: matched.to_string(),
                    normalized: matched.to_lowercase(),
                    snippet: snippet(&zone.text, found.range.clone(), SNIPPET_CONTEXT),
                    offset: found.range.start,
                    count: found.count,
                });
            }
        }
    }

    /// Flags for a single piece of text placed in `zone`.
    pub fn scan_text(&self, zone: ZoneKind, text: &str, target: &str) -> Vec<Finding> {
        self.scan_zones(&[(zone, text)], target)
    }

    /// Flags for a list of `(zone, original text)`. Without a page, `check` rules find
    /// nothing and `requires` rules report nothing.
    pub fn scan_zones(&self, zones: &[(ZoneKind, &str)], target: &str) -> Vec<Finding> {
        self.score(&self.text_evidence(zones), target)
    }

    /// Evidence for a list of `(zone, original text)`, without a page (see
    /// [`Ruleset::scan_zones`]).
    pub fn text_evidence(&self, zones: &[(ZoneKind, &str)]) -> Vec<Evidence> {
        let (mut evidence, _) = self.zone_evidence(zones, &Budget::unlimited());
        if !self.structural_rules.is_empty() {
            evidence.retain(|e| {
                let rule = &self.rules[e.rule as usize];
                rule.requires.is_none() && rule.check.is_none()
            });
        }
        evidence
    }

    /// Every rule's evidence as a finding of its own, unscored, with the rule's severity: the
    /// rule-level view that `rules test` shows and rule mechanics are tested with.
    pub fn rule_findings(&self, evidence: &[Evidence], target: &str) -> Vec<Finding> {
        let target: Arc<str> = Arc::from(target);
        evidence
            .iter()
            .map(|e| {
                let rule = &self.rules[e.rule as usize];
                Finding {
                    record_type: Finding::RECORD_TYPE,
                    rule: rule.id.clone(),
                    category: rule.category.clone(),
                    clause: rule.clause.clone(),
                    severity: rule.severity,
                    description: rule.description.clone(),
                    target: target.clone(),
                    zone: Some(e.zone),
                    matched: e.matched.clone(),
                    normalized: e.normalized.clone(),
                    snippet: e.snippet.clone(),
                    offset: e.offset,
                    count: e.count,
                    score: None,
                    signals: Vec::new(),
                    signals_omitted: 0,
                }
            })
            .collect()
    }

    /// [`Ruleset::rule_findings`] of a piece of text placed in `zone`.
    pub fn rule_findings_text(&self, zone: ZoneKind, text: &str, target: &str) -> Vec<Finding> {
        self.rule_findings(&self.text_evidence(&[(zone, text)]), target)
    }

    /// [`Ruleset::rule_findings`] of an extracted document.
    pub fn rule_findings_document(&self, document: &Document, target: &str) -> Vec<Finding> {
        self.rule_findings(&self.document_evidence(document, target), target)
    }

    /// Every category with evidence on the page and its score, flagged or not.
    pub fn category_scores(&self, evidence: &[Evidence]) -> Vec<(Arc<str>, f64)> {
        self.contributions(evidence)
            .into_iter()
            .map(|(category, signals)| {
                let score = signals.iter().map(|(c, _)| c).sum();
                (category, round(score))
            })
            .collect()
    }

    /// Each evidence's contribution, grouped by category: within one rule, evidence is taken
    /// strongest first (most occurrences, then zone and offset), and each occurrence adds
    /// half of what the one before it added.
    fn contributions<'e>(&self, evidence: &'e [Evidence]) -> Vec<CategoryContributions<'e>> {
        let mut order: Vec<&Evidence> = evidence.iter().collect();
        order.sort_by(|a, b| {
            (a.rule, std::cmp::Reverse(a.count), a.zone, a.offset).cmp(&(
                b.rule,
                std::cmp::Reverse(b.count),
                b.zone,
                b.offset,
            ))
        });
        let mut categories: Vec<CategoryContributions<'_>> = Vec::new();
        for group in order.chunk_by(|a, b| a.rule == b.rule) {
            let rule = &self.rules[group[0].rule as usize];
            let slot = match categories.iter().position(|(c, _)| *c == rule.category) {
                Some(i) => i,
                None => {
                    categories.push((rule.category.clone(), Vec::new()));
                    categories.len() - 1
                }
            };
            let mut seen = 0;
            for e in group {
                let contribution = rule.weight * weights::repeat_share(seen, e.count);
                seen += e.count;
                categories[slot].1.push((contribution, e));
            }
        }
        categories
    }

    /// Scores a page's evidence per category and raises a flag for each category whose
    /// score reaches its threshold (with at least one signal for it, not only against it).
    pub fn score(&self, evidence: &[Evidence], target: &str) -> Vec<Finding> {
        let categories = self.contributions(evidence);
        let target: Arc<str> = Arc::from(target);
        let mut flags: Vec<Finding> = categories
            .into_iter()
            .filter_map(|(category, signals)| self.flag(&category, signals, &target))
            .collect();
        flags.sort_by(|a, b| {
            b.score
                .partial_cmp(&a.score)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.category.cmp(&b.category))
        });
        flags
    }

    fn flag(
        &self,
        category: &Arc<str>,
        mut signals: Vec<(f64, &Evidence)>,
        target: &Arc<str>,
    ) -> Option<Finding> {
        let scoring = self.scoring(category);
        let score: f64 = signals.iter().map(|(c, _)| c).sum();
        // Sums of weights carry float noise; a page exactly at the threshold flags.
        if score + 1e-9 < scoring.threshold || !signals.iter().any(|(c, _)| *c > 0.0) {
            return None;
        }
        signals.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        let (_, head) = signals[0];
        let rule = &self.rules[head.rule as usize];
        let omitted = signals.len().saturating_sub(MAX_SIGNALS_PER_FLAG);
        let listed = signals
            .iter()
            .take(MAX_SIGNALS_PER_FLAG)
            .map(|&(contribution, e)| {
                let signal_rule = &self.rules[e.rule as usize];
                Signal {
                    rule: signal_rule.id.clone(),
                    weight: Some(round(signal_rule.weight)),
                    contribution: Some(round(contribution)),
                    zone: Some(e.zone),
                    matched: e.matched.clone(),
                    normalized: e.normalized.clone(),
                    snippet: e.snippet.clone(),
                    offset: e.offset,
                    count: e.count,
                    seen_by: Vec::new(),
                }
            })
            .collect();
        Some(Finding {
            record_type: Finding::RECORD_TYPE,
            rule: rule.id.clone(),
            category: category.clone(),
            clause: rule.clause.clone(),
            severity: scoring.severity_at(score),
            description: rule.description.clone(),
            target: target.clone(),
            zone: Some(head.zone),
            matched: head.matched.clone(),
            normalized: head.normalized.clone(),
            snippet: head.snippet.clone(),
            offset: head.offset,
            count: head.count,
            score: Some(round(score)),
            signals: listed,
            signals_omitted: omitted,
        })
    }

    /// The evidence of the zones' terms, domains and regexes, and the zones as normalized for
    /// them (the structural checks read those instead of normalizing again).
    fn zone_evidence(
        &self,
        zones: &[(ZoneKind, &str)],
        budget: &Budget,
    ) -> (Vec<Evidence>, NormalizedZones) {
        let mut hits = Vec::new();
        let mut normalized: Vec<Derived> = Vec::with_capacity(zones.len());
        let mut done = Vec::with_capacity(zones.len());
        let mut scratch = Scratch {
            denoised: Derived::new(),
            regexes: self.regex.selection(),
        };
        for (zone_index, &(kind, text)) in zones.iter().enumerate() {
            let mut norm = Derived::new();
            let read = self.zone_mask & kind.bit() != 0 && !budget.is_spent();
            done.push(read);
            if read {
                normalize_into(text, &mut norm);
                self.collect_hits(
                    zone_index as u32,
                    kind,
                    text,
                    &norm,
                    &mut scratch,
                    &mut hits,
                    budget,
                );
            }
            normalized.push(norm);
        }
        let mut evidence = self.evaluate(&mut hits, zones, &normalized);
        evidence.sort_by_key(|e| (e.zone, e.offset, e.rule));
        (evidence, NormalizedZones::new(normalized, done))
    }

    #[allow(clippy::too_many_arguments)]
    fn collect_hits(
        &self,
        zone: u32,
        kind: ZoneKind,
        source: &str,
        norm: &Derived,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
        budget: &Budget,
    ) {
        let at = ZoneText {
            zone,
            kind,
            text: norm.text.as_str(),
        };
        scratch.regexes.clear();
        self.plain_hits(at, &mut scratch.regexes, hits);
        self.denoised_hits(at, &mut scratch.denoised, hits, budget);
        self.domain_hits(at, source, norm, hits, budget);
        self.regex_hits(at, &scratch.regexes, hits, budget);
    }

    /// The plain view's literals, marking the regexes their gates select.
    #[inline]
    fn plain_hits(&self, at: ZoneText<'_>, regexes: &mut RegexSelection, hits: &mut Vec<Hit>) {
        let Some(view) = &self.views[ViewKind::Plain as usize] else {
            return;
        };
        let Some(automaton) = view.automaton(at.kind) else {
            return;
        };
        automaton
            .matcher
            .find_overlapping(at.text, &mut |local, start, end| {
                let pattern = automaton.ids[local as usize];
                let info = view.patterns[pattern as usize];
                for &gate in &view.gates[info.gates_start as usize..info.gates_end as usize] {
                    regexes.mark(gate);
                }
                self.push_pattern_hits(
                    view, pattern, start, end, at.zone, at.kind, at.text, false, hits,
                );
            });
    }

    /// The denoised view's literals, mapped back to the normalized text.
    #[inline]
    fn denoised_hits(
        &self,
        at: ZoneText<'_>,
        denoised: &mut Derived,
        hits: &mut Vec<Hit>,
        budget: &Budget,
    ) {
        let Some(view) = &self.views[ViewKind::Denoised as usize] else {
            return;
        };
        let Some(automaton) = view.automaton(at.kind) else {
            return;
        };
        if budget.is_spent() {
            return;
        }
        denoise_into(at.text, denoised);
        let den = &*denoised;
        automaton
            .matcher
            .find_overlapping(&den.text, &mut |local, start, end| {
                let pattern = automaton.ids[local as usize];
                let range = den.source_range(start..end, at.text);
                self.push_pattern_hits(
                    view,
                    pattern,
                    range.start,
                    range.end,
                    at.zone,
                    at.kind,
                    at.text,
                    true,
                    hits,
                );
            });
    }

    /// The hosts of the zone's URL lines in the domain index.
    #[inline]
    fn domain_hits(
        &self,
        at: ZoneText<'_>,
        source: &str,
        norm: &Derived,
        hits: &mut Vec<Hit>,
        budget: &Budget,
    ) {
        let Some(index) = &self.domains else {
            return;
        };
        if self.domain_zone_mask & at.kind.bit() == 0 || budget.is_spent() {
            return;
        }
        let text = at.text;
        for (start, end) in url_lines(at.kind, text) {
            let url = &text[start..end];
            let Some(range) = host_range(url) else {
                continue;
            };
            let host_start = start + range.start;
            let host_end = start + range.end;
            let host = &text[host_start..host_end];
            // The normalized text folds Traditional characters, which would change an
            // internationalized host: those are looked up as the page wrote them.
            let key = if host.is_ascii() {
                lookup_host(host)
            } else {
                let original = norm.source_range(host_start..host_end, source);
                lookup_host(&source[original]).map(|h| std::borrow::Cow::Owned(h.into_owned()))
            };
            let Some(key) = key else { continue };
            index.lookup(&key, &mut |rule| {
                if self.rule_zone_masks[rule as usize] & at.kind.bit() != 0 {
                    hits.push(Hit {
                        rule,
                        zone: at.zone,
                        role: Role::Primary,
                        start: host_start as u32,
                        end: host_end as u32,
                    });
                }
            });
        }
    }

    /// The regexes that apply to the zone: those without a gate, and those `selected`.
    #[inline]
    fn regex_hits(
        &self,
        at: ZoneText<'_>,
        selected: &RegexSelection,
        hits: &mut Vec<Hit>,
        budget: &Budget,
    ) {
        if self.regex.is_empty() || self.regex_zone_mask & at.kind.bit() == 0 {
            return;
        }
        let applies = |index: u32| {
            let rule = self.regex_rules[index as usize];
            self.rule_zone_masks[rule as usize] & at.kind.bit() != 0 && !budget.is_spent()
        };
        self.regex
            .find_selected(at.text, selected, &applies, &mut |index, start, end| {
                hits.push(Hit {
                    rule: self.regex_rules[index as usize],
                    zone: at.zone,
                    role: Role::Primary,
                    start: start as u32,
                    end: end as u32,
                });
            });
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn push_pattern_hits(
        &self,
        view: &View,
        pattern: u32,
        start: usize,
        end: usize,
        zone: u32,
        kind: ZoneKind,
        text: &str,
        skipped_noise: bool,
        hits: &mut Vec<Hit>,
    ) {
        let info = view.patterns[pattern as usize];
        let mut gap: Option<usize> = None;
        let mut splits_word: Option<bool> = None;
        for pattern_use in &view.uses[info.uses_start as usize..info.uses_end as usize] {
            let rule_index = pattern_use.rule as usize;
            if self.rule_zone_masks[rule_index] & kind.bit() == 0 {
                continue;
            }
            let rule = &self.rules[rule_index];
            if rule.word_boundary && !on_word_boundaries(text, start, end, &info) {
                continue;
            }
            // Only the rule's own terms are segmented. Segmenting `near` words too changed no
            // finding on the measured corpora while it tripled the segmentations (common words
            // are near words), and a warning word (`exclude`, `exclude_near`) should cancel a
            // hit even as part of a longer word.
            if rule.segment
                && pattern_use.role == Role::Primary
                && *splits_word.get_or_insert_with(|| segment::splits_word(text, start, end))
            {
                continue;
            }
            if skipped_noise {
                let gap = *gap.get_or_insert_with(|| longest_noise_run(&text[start..end]));
                if gap > rule.max_gap as usize {
                    continue;
                }
            }
            hits.push(Hit {
                rule: pattern_use.rule,
                zone,
                role: pattern_use.role,
                start: start as u32,
                end: end as u32,
            });
        }
    }

    fn evaluate(
        &self,
        hits: &mut Vec<Hit>,
        zones: &[(ZoneKind, &str)],
        normalized: &[Derived],
    ) -> Vec<Evidence> {
        // Context terms are common words: most of their hits belong to rules that found
        // nothing on the page, and sorting them would be most of the sort.
        let mut has_primary = vec![false; self.rules.len()];
        for hit in hits.iter().filter(|h| h.role == Role::Primary) {
            has_primary[hit.rule as usize] = true;
        }
        hits.retain(|h| has_primary[h.rule as usize]);
        hits.sort_unstable();
        let mut evidence = Vec::new();
        for group in hits.chunk_by(|a, b| a.rule == b.rule) {
            let rule = &self.rules[group[0].rule as usize];
            let of_role = |role: Role| -> Vec<Hit> {
                let mut v: Vec<Hit> = group.iter().filter(|h| h.role == role).copied().collect();
                v.dedup_by(|a, b| a.zone == b.zone && a.start == b.start && a.end == b.end);
                v
            };
            let primaries = of_role(Role::Primary);
            if primaries.is_empty() {
                continue;
            }
            let exclude = ContextHits::new(of_role(Role::Exclude));
            // An excluded span is not evidence of anything: 可查询 holds no 可查 context, and
            // a scam page's 不是骗局 is no warning about a scam.
            let near: Vec<ContextHits> = (0..rule.near.len())
                .map(|n| {
                    let mut hits = of_role(Role::Near(n as u8));
                    hits.retain(|h| !exclude.any_covering(h));
                    ContextHits::new(hits)
                })
                .collect();
            let exclude_near = {
                let mut hits = of_role(Role::ExcludeNear);
                hits.retain(|h| !exclude.any_covering(h));
                ContextHits::new(hits)
            };
            let text_of = |h: &Hit| normalized[h.zone as usize].text.as_str();
            let mut kept: Vec<Hit> = primaries
                .iter()
                .filter(|p| {
                    let text = text_of(p);
                    if exclude.any_covering(p) {
                        return false;
                    }
                    if let Some(context) = &rule.exclude_near
                        && exclude_near.any_within(p, context.within, text, false)
                    {
                        return false;
                    }
                    rule.near
                        .iter()
                        .zip(&near)
                        .all(|(context, hits)| hits.any_within(p, context.within, text, true))
                })
                .copied()
                .collect();
            merge_overlapping(&mut kept);
            if (kept.len() as u64) < u64::from(rule.min_hits) {
                continue;
            }
            if rule.min_distinct > 1 {
                let mut distinct: Vec<&str> = kept
                    .iter()
                    .map(|h| &text_of(h)[h.start as usize..h.end as usize])
                    .collect();
                distinct.sort_unstable();
                distinct.dedup();
                if (distinct.len() as u64) < u64::from(rule.min_distinct) {
                    continue;
                }
            }
            aggregate(group[0].rule, &kept, zones, normalized, &mut evidence);
        }
        evidence
    }

    /// Run every rule's examples through the whole ruleset: each `examples.match` must produce
    /// a finding of its rule and each `examples.no_match` must not. The match examples of an
    /// operator rule whose list is still empty are not run: there is nothing to match yet.
    pub fn run_examples(&self) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for rule in &self.rules {
            let run_matches = !rule.operator_list || rule.is_active();
            let cases = rule
                .examples_match
                .iter()
                .filter(|_| run_matches)
                .map(|e| (e, true))
                .chain(rule.examples_no_match.iter().map(|e| (e, false)));
            for (example, should_match) in cases {
                let mut report = |message: String| {
                    diagnostics.push(Diagnostic {
                        level: Level::Error,
                        file: rule.location.file.clone(),
                        line: Some(example.line),
                        rule: Some(rule.id.to_string()),
                        message,
                    })
                };
                let findings = match &example.input {
                    ExampleInput::Zone { zone, text } => {
                        if !rule.zones.contains(zone) {
                            report(format!(
                                "example is in zone `{}`, which the rule does not apply to",
                                zone.as_str()
                            ));
                            continue;
                        }
                        self.text_evidence(&[(*zone, text.as_str())])
                    }
                    ExampleInput::Page { html, url } => {
                        let page = url.as_deref().and_then(|u| url::Url::parse(u).ok());
                        let document = crate::extract::extract_html(html, page.as_ref());
                        self.document_evidence(&document, "<example>")
                    }
                };
                let own: Vec<&Evidence> = findings
                    .iter()
                    .filter(|e| self.rules[e.rule as usize].id == rule.id)
                    .collect();
                let shown = example.text();
                match (should_match, own.first()) {
                    (true, None) => report(format!("match example does not match: {shown:?}")),
                    (false, Some(f)) => report(format!(
                        "no_match example matches {:?}: {shown:?}",
                        f.matched
                    )),
                    _ => {}
                }
            }
        }
        diagnostics
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The URL of each line of a zone whose lines are URLs, as byte ranges: the first word of a
/// `link` line, a `script` line that is a lone absolute URL (inline code has spaces or no
/// `//`), and every line of `iframe`, `form` and `redirect`.
fn url_lines(kind: ZoneKind, text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < text.len() {
            let end =
                memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
            let line_start = start;
            start = end + 1;
            let line = &text.as_bytes()[line_start..end];
            // memchr rather than `str::find`: these run on every line of every page.
            let url_end = match kind {
                ZoneKind::Link => memchr::memchr(b' ', line).unwrap_or(line.len()),
                ZoneKind::Script => {
                    if memchr::memchr2(b' ', b'\t', line).is_some()
                        || memchr::memmem::find(line, b"//").is_none()
                    {
                        continue;
                    }
                    line.len()
                }
                _ => line.len(),
            };
            if url_end > 0 {
                return Some((line_start, line_start + url_end));
            }
        }
        None
    })
}

#[inline]
fn on_word_boundaries(text: &str, start: usize, end: usize, info: &PatternInfo) -> bool {
    if info.alnum_start && text[..start].chars().next_back().is_some_and(is_word_char) {
        return false;
    }
    if info.alnum_end && text[end..].chars().next().is_some_and(is_word_char) {
        return false;
    }
    true
}

/// A letter or digit of an alphabetic script: `bbin` is no word in Hungarian `többin`, and
/// `av` none in `have`. Chinese, Japanese and Korean characters (U+2E80 on) do not count, so
/// `日本av在线` still holds the word `av`.
#[inline]
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || (!c.is_ascii() && (c as u32) < 0x2E80 && c.is_alphanumeric())
}

/// Characters between two hits of the same zone; 0 when they overlap.
fn char_distance(a: &Hit, b: &Hit, text: &str) -> usize {
    let (first_end, second_start) = if a.start <= b.start {
        (a.end, b.start)
    } else {
        (b.end, a.start)
    };
    if second_start <= first_end {
        return 0;
    }
    text.get(first_end as usize..second_start as usize)
        .map_or(usize::MAX, |between| between.chars().count())
}

/// Context hits of one role for one rule, sorted by (zone, start, end), with range queries
/// that stay fast when a hostile page repeats a term thousands of times.
struct ContextHits {
    hits: Vec<Hit>,
    longest: u32,
}

impl ContextHits {
    fn new(hits: Vec<Hit>) -> ContextHits {
        let longest = hits.iter().map(|h| h.end - h.start).max().unwrap_or(0);
        ContextHits { hits, longest }
    }

    /// Hits in `hit`'s zone that start within `start_min..=start_max`.
    fn starting_between(&self, zone: u32, start_min: u32, start_max: u32) -> &[Hit] {
        let lo = self
            .hits
            .partition_point(|c| (c.zone, c.start) < (zone, start_min));
        let hi = self
            .hits
            .partition_point(|c| (c.zone, c.start) <= (zone, start_max));
        &self.hits[lo..hi.max(lo)]
    }

    /// Whether a context hit contains `hit`.
    fn any_covering(&self, hit: &Hit) -> bool {
        let start_min = hit.end.saturating_sub(self.longest);
        self.starting_between(hit.zone, start_min, hit.start)
            .iter()
            .any(|c| c.end >= hit.end)
    }

    /// Whether a context hit lies within `within` characters of `hit`. With `apart`, a context
    /// hit that overlaps `hit` does not count: a `near` context is other text than the hit
    /// itself, so a rule may list the same terms as both (another explicit word within 20
    /// characters), while an `exclude_near` context that contains the hit still cancels it.
    fn any_within(&self, hit: &Hit, within: u32, text: &str, apart: bool) -> bool {
        if self.hits.is_empty() {
            return false;
        }
        // A character is at most 4 bytes, so this byte reach bounds the candidates.
        let reach = within.saturating_mul(4);
        let start_min = hit.start.saturating_sub(reach.saturating_add(self.longest));
        let start_max = hit.end.saturating_add(reach);
        self.starting_between(hit.zone, start_min, start_max)
            .iter()
            .any(|c| {
                !(apart && c.start < hit.end && hit.start < c.end)
                    && char_distance(c, hit, text) <= within as usize
            })
    }
}

/// Merge overlapping hits of one rule in one zone into one span: 网上赌博 and 赌博 of the same
/// rule are one piece of evidence, and so are `new coinhive.anonymous` and
/// `coinhive.anonymous(`.
fn merge_overlapping(hits: &mut Vec<Hit>) {
    hits.sort_unstable_by_key(|h| (h.zone, h.start, std::cmp::Reverse(h.end)));
    let mut merged: Vec<Hit> = Vec::with_capacity(hits.len());
    for hit in hits.drain(..) {
        match merged.last_mut() {
            Some(last) if last.zone == hit.zone && hit.start < last.end => {
                last.end = last.end.max(hit.end);
            }
            _ => merged.push(hit),
        }
    }
    *hits = merged;
}

fn aggregate(
    rule: u32,
    kept: &[Hit],
    zones: &[(ZoneKind, &str)],
    normalized: &[Derived],
    evidence: &mut Vec<Evidence>,
) {
    let start = evidence.len();
    let mut seen: HashMap<(u32, &str), usize> = HashMap::new();
    for hit in kept {
        let (kind, original) = zones[hit.zone as usize];
        let norm = &normalized[hit.zone as usize];
        let matched_normalized = &norm.text[hit.start as usize..hit.end as usize];
        if let Some(&index) = seen.get(&(hit.zone, matched_normalized)) {
            evidence[start + index].count += 1;
            continue;
        }
        seen.insert((hit.zone, matched_normalized), evidence.len() - start);
        let range = norm.source_range(hit.start as usize..hit.end as usize, original);
        evidence.push(Evidence {
            rule,
            zone: kind,
            matched: original[range.clone()].to_string(),
            normalized: matched_normalized.to_string(),
            snippet: snippet(original, range.clone(), SNIPPET_CONTEXT),
            offset: range.start,
            count: 1,
        });
    }
}
