//! Validated rules → one automaton per text view and one regex set.

use std::collections::HashMap;
use std::sync::Arc;

use super::weights::CategoryScoring;

use super::domains::DomainIndex;
use super::{Diagnostic, Level, Rule};
use crate::extract::ZoneKind;
use crate::matcher::{Gate, LiteralMatcher, RegexMatcher};
use crate::normalize::normalize_term;

/// What a literal pattern means to one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Role {
    /// A term the rule reports.
    Primary,
    /// A term of the rule's `near` context number `n`, which must occur near a primary hit.
    Near(u8),
    /// A context that cancels a primary hit it contains.
    Exclude,
    /// A context term that cancels primary hits near it.
    ExcludeNear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PatternUse {
    pub rule: u32,
    pub role: Role,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PatternInfo {
    /// Range into `View::uses`.
    pub uses_start: u32,
    pub uses_end: u32,
    /// Range into `View::gates`.
    pub gates_start: u32,
    pub gates_end: u32,
    /// The pattern starts (ends) with an ASCII letter or digit, so a word boundary matters.
    pub alnum_start: bool,
    pub alnum_end: bool,
}

/// Which text a pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewKind {
    /// The normalized zone text.
    Plain = 0,
    /// The normalized text with noise characters dropped, for `skip_noise` rules.
    Denoised = 1,
}

/// All patterns matched against one view.
pub(crate) struct View {
    /// One automaton per group of zones that need the same patterns: a script is not searched
    /// for the terms of text rules, and each automaton stays small enough for the caches
    /// (one automaton of every pattern made the literal pass twice as slow per byte).
    pub automata: Vec<ZoneAutomaton>,
    pub patterns: Vec<PatternInfo>,
    pub uses: Vec<PatternUse>,
    /// The regex literal sets each pattern belongs to: the plain view also searches the
    /// regexes' gate literals, so a zone is read once for terms and regexes alike.
    pub gates: Vec<Gate>,
}

/// The automaton of the zones in `zone_mask`; its pattern `i` is the view's `ids[i]`.
pub(crate) struct ZoneAutomaton {
    pub zone_mask: u16,
    pub matcher: LiteralMatcher,
    pub ids: Vec<u32>,
}

impl View {
    /// The automaton for zones of `kind`, if any pattern concerns them.
    pub fn automaton(&self, kind: ZoneKind) -> Option<&ZoneAutomaton> {
        self.automata.iter().find(|a| a.zone_mask & kind.bit() != 0)
    }
}

/// What one distinct pattern of a view is for.
#[derive(Default)]
struct PatternEntry {
    uses: Vec<PatternUse>,
    gates: Vec<Gate>,
}

/// A compiled ruleset: scan documents with [`Ruleset::scan_document`].
pub struct Ruleset {
    pub(crate) rules: Vec<Rule>,
    pub(crate) rule_zone_masks: Vec<u16>,
    pub(crate) views: [Option<View>; 2],
    pub(crate) regex: RegexMatcher,
    /// The rule of each regex, by regex index.
    pub(crate) regex_rules: Vec<u32>,
    /// Every zone some rule applies to.
    pub(crate) zone_mask: u16,
    /// Zones some regex rule applies to.
    pub(crate) regex_zone_mask: u16,
    /// Every listed domain of every domain rule.
    pub(crate) domains: Option<DomainIndex>,
    /// Zones some domain rule applies to.
    pub(crate) domain_zone_mask: u16,
    /// Rules with a `check` or `requires`: only these need the page's structure.
    pub(crate) structural_rules: Vec<u32>,
    /// How each category's score becomes a flag.
    pub(crate) scoring: HashMap<Arc<str>, CategoryScoring>,
}

impl Ruleset {
    /// Compile validated rules with the default category scoring.
    pub fn compile(rules: Vec<Rule>) -> Result<Ruleset, Vec<Diagnostic>> {
        Ruleset::compile_scored(rules, super::Weights::default().scoring())
    }

    /// Compile validated rules. Errors here are limits of the automaton, not of the rules.
    pub fn compile_scored(
        mut rules: Vec<Rule>,
        scoring: HashMap<Arc<str>, CategoryScoring>,
    ) -> Result<Ruleset, Vec<Diagnostic>> {
        let Patterns {
            mut tables,
            regex,
            regex_rules,
        } = patterns(&rules);
        let mut errors = Vec::new();
        let regex = regex_matcher(&regex, &mut tables, &mut errors);
        let rule_zone_masks: Vec<u16> = rules.iter().map(Rule::zone_mask).collect();
        let regex_zone_masks: Vec<u16> = regex_rules
            .iter()
            .map(|&r| rule_zone_masks[r as usize])
            .collect();
        let regex_zone_mask = regex_zone_masks.iter().fold(0, |mask, m| mask | m);
        let mut views: [Option<View>; 2] = [None, None];
        for (slot, table) in views.iter_mut().zip(tables) {
            if table.is_empty() {
                continue;
            }
            match build_view(table, &rule_zone_masks, &regex_zone_masks) {
                Ok(view) => *slot = Some(view),
                Err(message) => errors.push(compile_error(message)),
            }
        }
        let (domains, domain_zone_mask) = domain_index(&mut rules, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        if rules.iter().any(|r| r.segment) {
            // Loading the dictionary takes as long as scanning dozens of pages: pay it with
            // the rest of the start-up, not on the first page that needs it.
            crate::normalize::segment::segmenter();
        }
        // Check rules read the page's structure, not zone text: their zones need no matching.
        let zone_mask = rules
            .iter()
            .zip(&rule_zone_masks)
            .filter(|(r, _)| r.check.is_none())
            .fold(0, |a, (_, b)| a | b);
        let structural_rules = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.check.is_some() || r.requires.is_some())
            .map(|(i, _)| i as u32)
            .collect();
        Ok(Ruleset {
            rules,
            rule_zone_masks,
            views,
            regex,
            regex_rules,
            zone_mask,
            regex_zone_mask,
            domains,
            domain_zone_mask,
            structural_rules,
            scoring,
        })
    }

    /// How `category` turns a score into a flag (the defaults for an unknown category).
    pub fn scoring(&self, category: &str) -> CategoryScoring {
        self.scoring
            .get(category)
            .copied()
            .unwrap_or_else(|| CategoryScoring::default_for(category))
    }

    /// The index of a rule, as [`Evidence::rule`](super::Evidence) holds it.
    pub fn rule_index(&self, id: &str) -> Option<usize> {
        self.rules.iter().position(|r| &*r.id == id)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| &*r.id == id)
    }

    /// Distinct literal patterns across both views.
    pub fn pattern_count(&self) -> usize {
        self.views.iter().flatten().map(|v| v.patterns.len()).sum()
    }

    pub fn regex_count(&self) -> usize {
        self.regex_rules.len()
    }

    /// Distinct listed domains across every domain rule.
    pub fn domain_count(&self) -> usize {
        self.domains.as_ref().map_or(0, DomainIndex::len)
    }

    /// Heap memory of the automata.
    pub fn automaton_bytes(&self) -> usize {
        use crate::matcher::Matcher;
        self.views
            .iter()
            .flatten()
            .flat_map(|v| &v.automata)
            .map(|a| a.matcher.heap_bytes())
            .sum()
    }
}

/// The patterns of every rule, before they are compiled.
struct Patterns {
    /// Per view, every literal term with the rules and roles that use it.
    tables: [HashMap<String, PatternEntry>; 2],
    regex: Vec<String>,
    /// The rule of each regex.
    regex_rules: Vec<u32>,
}

fn patterns(rules: &[Rule]) -> Patterns {
    let mut tables: [HashMap<String, PatternEntry>; 2] = [HashMap::new(), HashMap::new()];
    let mut regex_patterns = Vec::new();
    let mut regex_rules = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let view = if rule.skip_noise {
            ViewKind::Denoised
        } else {
            ViewKind::Plain
        } as usize;
        let rule_index = index as u32;
        let mut add = |term: &str, role: Role| {
            let key = normalize_term(term, rule.skip_noise);
            if key.is_empty() {
                return;
            }
            let uses = &mut tables[view].entry(key).or_default().uses;
            let new_use = PatternUse {
                rule: rule_index,
                role,
            };
            if !uses.contains(&new_use) {
                uses.push(new_use);
            }
        };
        for term in &rule.terms {
            add(term, Role::Primary);
        }
        for (n, context) in rule.near.iter().enumerate() {
            for term in &context.terms {
                add(term, Role::Near(n as u8));
            }
        }
        for term in &rule.exclude {
            add(term, Role::Exclude);
        }
        for term in rule.exclude_near.iter().flat_map(|n| &n.terms) {
            add(term, Role::ExcludeNear);
        }
        for pattern in &rule.regex {
            regex_patterns.push(pattern.clone());
            regex_rules.push(rule_index);
        }
    }
    Patterns {
        tables,
        regex: regex_patterns,
        regex_rules,
    }
}

/// The regexes, gated by literals added to the plain view's table; an empty set (with the
/// error) when they do not build.
fn regex_matcher(
    patterns: &[String],
    tables: &mut [HashMap<String, PatternEntry>; 2],
    errors: &mut Vec<Diagnostic>,
) -> RegexMatcher {
    let regex = match RegexMatcher::gated_by_caller(patterns) {
        Ok(regex) => regex,
        Err(e) => {
            errors.push(compile_error(e.to_string()));
            RegexMatcher::gated_by_caller::<&str>(&[]).expect("an empty regex set always builds")
        }
    };
    for (literal, regexes) in regex.gate_literals() {
        let entry = tables[ViewKind::Plain as usize]
            .entry(literal.clone())
            .or_default();
        entry.gates.extend_from_slice(regexes);
    }
    regex
}

/// One index over every domain rule's entries (taken out of the rules), and the zones those
/// rules apply to.
fn domain_index(rules: &mut [Rule], errors: &mut Vec<Diagnostic>) -> (Option<DomainIndex>, u16) {
    let domain_lists: Vec<(u32, Vec<super::DomainPattern>, Vec<String>)> = rules
        .iter_mut()
        .enumerate()
        .filter(|(_, r)| !r.domains.is_empty())
        .map(|(i, r)| {
            let mut allowed = r.allow_domains.clone();
            allowed.extend(r.allowlist.keyword_exempt.iter().cloned());
            (i as u32, std::mem::take(&mut r.domains), allowed)
        })
        .collect();
    let zone_mask = domain_lists
        .iter()
        .fold(0, |mask, (r, _, _)| mask | rules[*r as usize].zone_mask());
    if domain_lists.is_empty() {
        return (None, zone_mask);
    }
    match DomainIndex::new(domain_lists) {
        Ok(index) => (Some(index), zone_mask),
        Err(e) => {
            errors.push(compile_error(e.to_string()));
            (None, zone_mask)
        }
    }
}

fn compile_error(message: String) -> Diagnostic {
    Diagnostic {
        level: Level::Error,
        file: "<compiled ruleset>".into(),
        line: None,
        rule: None,
        message,
    }
}

fn build_view(
    table: HashMap<String, PatternEntry>,
    rule_zone_masks: &[u16],
    regex_zone_masks: &[u16],
) -> Result<View, String> {
    let mut entries: Vec<(String, PatternEntry)> = table.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut patterns = Vec::with_capacity(entries.len());
    let mut uses = Vec::new();
    let mut gates = Vec::new();
    for (text, entry) in &entries {
        let start = uses.len() as u32;
        uses.extend_from_slice(&entry.uses);
        let gates_start = gates.len() as u32;
        gates.extend_from_slice(&entry.gates);
        patterns.push(PatternInfo {
            uses_start: start,
            uses_end: uses.len() as u32,
            gates_start,
            gates_end: gates.len() as u32,
            alnum_start: text
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphanumeric),
            alnum_end: text
                .as_bytes()
                .last()
                .is_some_and(u8::is_ascii_alphanumeric),
        });
    }
    // The zones each pattern concerns (those of the rules using it and of the regexes it
    // gates); zones that need nearly the same patterns share an automaton, and a zone no pattern
    // concerns gets none.
    let pattern_zones: Vec<u16> = entries
        .iter()
        .map(|(_, entry)| {
            let by_rules = entry
                .uses
                .iter()
                .fold(0, |m, u| m | rule_zone_masks[u.rule as usize]);
            let by_regexes = entry
                .gates
                .iter()
                .fold(0, |m, gate| m | regex_zone_masks[gate.regex as usize]);
            by_rules | by_regexes
        })
        .collect();
    let mut groups: Vec<(Vec<u32>, u16)> = Vec::new();
    for kind in ZoneKind::ALL {
        let bit = kind.bit();
        let ids: Vec<u32> = (0..entries.len() as u32)
            .filter(|&i| pattern_zones[i as usize] & bit != 0)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let shared = groups.iter_mut().find_map(|(group, mask)| {
            let merged = union(group, &ids);
            nearly_the_same(group, &ids, &merged).then_some((group, mask, merged))
        });
        match shared {
            Some((group, mask, merged)) => {
                *group = merged;
                *mask |= bit;
            }
            None => groups.push((ids, bit)),
        }
    }
    let mut automata = Vec::with_capacity(groups.len());
    for (ids, group_mask) in groups {
        let texts: Vec<&str> = ids
            .iter()
            .map(|&i| entries[i as usize].0.as_str())
            .collect();
        let matcher = LiteralMatcher::new(&texts).map_err(|e| e.to_string())?;
        automata.push(ZoneAutomaton {
            zone_mask: group_mask,
            matcher,
            ids,
        });
    }
    Ok(View {
        automata,
        patterns,
        uses,
        gates,
    })
}

/// Whether two zones' pattern sets are close enough to share one automaton: each holds at
/// least nine tenths of their union (`merged`). A pattern of one zone found in the other is
/// dropped by its rules' zone masks (`push_pattern_hits`, `regex_hits`), so sharing changes no
/// finding; text, title, meta, attributes and hidden text differ by a few patterns, and one
/// automaton for them all halved the automata built at start-up (benches/README.md).
fn nearly_the_same(a: &[u32], b: &[u32], merged: &[u32]) -> bool {
    a.len().min(b.len()) * 10 >= merged.len() * 9
}

/// The sorted union of two sorted id lists.
fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn union_is_the_sorted_set_union(
            a in prop::collection::btree_set(0u32..64, 0..40),
            b in prop::collection::btree_set(0u32..64, 0..40),
        ) {
            let a: Vec<u32> = a.into_iter().collect();
            let b: Vec<u32> = b.into_iter().collect();
            let expected: std::collections::BTreeSet<u32> = a.iter().chain(&b).copied().collect();
            prop_assert_eq!(union(&a, &b), expected.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn zones_share_an_automaton_only_when_each_holds_nine_tenths_of_the_union() {
        let twenty: Vec<u32> = (0..20).collect();
        let twenty_and_two: Vec<u32> = (0..22).collect();
        let twenty_and_three: Vec<u32> = (0..23).collect();
        let same = |a: &[u32], b: &[u32]| nearly_the_same(a, b, &union(a, b));
        assert!(same(&twenty, &twenty));
        assert!(same(&twenty, &twenty_and_two));
        assert!(!same(&twenty, &twenty_and_three));
        let disjoint: Vec<u32> = (20..40).collect();
        assert!(!same(&twenty, &disjoint));
    }
}
