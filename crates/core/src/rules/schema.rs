//! The ruleset file format as written, before validation. `rulesets/README.md` documents it.
//!
//! Fields are `Spanned` so that validation errors can name the line of the offending value,
//! not just the file.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMeta {
    #[allow(dead_code)]
    pub description: Option<String>,
}

/// Per-file defaults for the options every rule may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    pub zones: Option<Spanned<Vec<Spanned<String>>>>,
    pub severity: Option<Spanned<String>>,
    pub weight: Option<Spanned<f64>>,
    pub skip_noise: Option<bool>,
    pub max_gap: Option<u32>,
    pub word_boundary: Option<bool>,
    pub segment: Option<bool>,
}

/// A string or a list of strings, each with its span. (An untagged enum would lose the
/// spans: serde buffers untagged content.)
#[derive(Debug)]
pub(crate) struct OneOrMany(pub Vec<Spanned<String>>);

impl OneOrMany {
    /// The strings; a lone string takes the span of the whole value.
    pub fn into_vec(spanned: Spanned<OneOrMany>) -> Vec<Spanned<String>> {
        let span = spanned.span();
        spanned
            .into_inner()
            .0
            .into_iter()
            .map(|s| {
                if s.span().is_empty() {
                    Spanned::new(span.clone(), s.into_inner())
                } else {
                    s
                }
            })
            .collect()
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![Spanned::new(0..0, v.to_string())]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    out.push(item);
                }
                Ok(OneOrMany(out))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: Spanned<String>,
    pub category: Spanned<String>,
    pub clause: Spanned<String>,
    pub severity: Option<Spanned<String>>,
    pub weight: Option<Spanned<f64>>,
    pub description: Spanned<String>,
    #[serde(default)]
    pub terms: Vec<Spanned<String>>,
    pub terms_file: Option<Spanned<OneOrMany>>,
    pub regex: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub domains: Vec<Spanned<String>>,
    pub domains_file: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub allow_domains: Vec<Spanned<String>>,
    pub allow_list: Option<Spanned<RawAllowList>>,
    pub check: Option<Spanned<RawCheck>>,
    pub requires: Option<Spanned<RawCheck>>,
    pub operator_list: Option<Spanned<bool>>,
    pub zones: Option<Spanned<Vec<Spanned<String>>>>,
    pub near: Option<Spanned<Contexts>>,
    pub min_hits: Option<Spanned<u32>>,
    pub min_distinct: Option<Spanned<u32>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    pub exclude_near: Option<Spanned<RawContext>>,
    pub skip_noise: Option<bool>,
    pub max_gap: Option<u32>,
    pub word_boundary: Option<bool>,
    pub segment: Option<Spanned<bool>>,
    pub enabled: Option<bool>,
    pub examples: Option<RawExamples>,
}

/// Terms that must (near) or must not (exclude_near) occur within `within` characters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContext {
    #[serde(default)]
    pub terms: Vec<Spanned<String>>,
    pub terms_file: Option<Spanned<String>>,
    pub within: u32,
}

/// `near` as one table or an array of tables (every one must hold). A lone table takes the span
/// of the whole value, as in [`OneOrMany`].
#[derive(Debug)]
pub(crate) struct Contexts(pub Vec<Spanned<RawContext>>);

impl Contexts {
    pub fn into_vec(spanned: Spanned<Contexts>) -> Vec<Spanned<RawContext>> {
        let span = spanned.span();
        spanned
            .into_inner()
            .0
            .into_iter()
            .map(|c| {
                if c.span().is_empty() {
                    Spanned::new(span.clone(), c.into_inner())
                } else {
                    c
                }
            })
            .collect()
    }
}

impl<'de> Deserialize<'de> for Contexts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Contexts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table like { terms = [...], within = 20 } or an array of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Contexts, A::Error> {
                let context =
                    RawContext::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Contexts(vec![Spanned::new(0..0, context)]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Contexts, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<RawContext>>()? {
                    out.push(item);
                }
                Ok(Contexts(out))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A structural check (`check = {...}`) or precondition (`requires = {...}`). Which options
/// apply depends on `kind`; validation reports the ones that do not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub kind: Spanned<String>,
    pub foreign_only: Option<Spanned<bool>>,
    pub zero_size_only: Option<Spanned<bool>>,
    pub min_links: Option<Spanned<u32>>,
    pub min_hosts: Option<Spanned<u32>>,
    pub allow_domains: Option<Spanned<Vec<Spanned<String>>>>,
    pub allow_list: Option<Spanned<RawAllowList>>,
    pub min_encoded: Option<Spanned<u32>>,
    pub condition: Option<Spanned<Vec<Vec<Spanned<String>>>>>,
    pub brands_file: Option<Spanned<String>>,
    pub claim: Option<Spanned<Vec<Spanned<String>>>>,
    pub credentials: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `allow_list = true | false | "file" | ["file", ...]`: the default allowlist, none, or these
/// files. A lone string takes the span of the whole value, as in [`OneOrMany`].
#[derive(Debug)]
pub(crate) enum RawAllowList {
    Flag(bool),
    Files(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawAllowList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawAllowList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false, a file name or an array of file names")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawAllowList, E> {
                Ok(RawAllowList::Flag(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawAllowList, E> {
                Ok(RawAllowList::Files(vec![Spanned::new(0..0, v.to_string())]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawAllowList, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    out.push(item);
                }
                Ok(RawAllowList::Files(out))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The `brand_credentials` options of a [`RawCheck`].
pub(crate) struct BrandOpts<'a> {
    pub brands_file: Option<&'a Spanned<String>>,
    pub claim: Option<&'a Spanned<Vec<Spanned<String>>>>,
    pub credentials: Option<&'a Spanned<Vec<Spanned<String>>>>,
}

impl RawCheck {
    pub(crate) fn brand_opts(&self) -> BrandOpts<'_> {
        BrandOpts {
            brands_file: self.brands_file.as_ref(),
            claim: self.claim.as_ref(),
            credentials: self.credentials.as_ref(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExamples {
    #[serde(rename = "match", default)]
    pub matches: Vec<Spanned<RawExample>>,
    #[serde(default)]
    pub no_match: Vec<Spanned<RawExample>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawExample {
    Text(String),
    Zoned(RawZonedExample),
}

/// `{ zone, text }` places text in a zone; `{ html, url }` is a whole page, extracted as a
/// scan would (structural checks need one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZonedExample {
    pub zone: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub url: Option<String>,
}
