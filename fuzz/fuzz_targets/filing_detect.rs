//! Arbitrary (lossily UTF-8) zone text → `filing::numbers::detect_in_zone` (ICP 备案 and
//! licence, 公安联网备案, telecom licences and the permits).
//!
//! Input: byte 0 picks the zone kind (`ZoneKind::ALL[b0 % ZoneKind::ALL.len()]`), the rest is the zone text.
//!
//! Must hold for every input, for every number found:
//! * `offset` and `offset + displayed.len()` lie within the text, on char boundaries, and the
//!   text there is exactly `displayed` (what a reviewer reads is what the page showed);
//! * `displayed` is non-empty and has no surrounding whitespace; the zone is the one given;
//! * `number` starts with `base`; a site suffix `s` makes `number` = `base` + `-s`; a province
//!   appears in `number`;
//! * numbers come in offset order, and detection is deterministic;
//! * `detect_in_normalized` with `normalize(text)` gives the same as `detect_in_zone`.
//!
//! Set `SITEPATROL_FUZZ_FILING_REDETECT=1` to also require that detecting in `displayed`
//! alone finds the same number again (a stricter, context-free reading of the quote).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::filing::numbers::{
    DisplayedNumber, NumberKind, detect_in_normalized, detect_in_zone,
};
use sitepatrol_core::normalize::normalize;

fuzz_target!(|data: &[u8]| {
    let Some((&b0, rest)) = data.split_first() else {
        return;
    };
    let zone = ZoneKind::ALL[usize::from(b0) % ZoneKind::ALL.len()];
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();

    let found = detect_in_zone(zone, text);
    assert_eq!(found, detect_in_zone(zone, text), "not deterministic");
    assert_eq!(
        found,
        detect_in_normalized(zone, text, &normalize(text)),
        "detect_in_normalized differs"
    );
    let mut last = 0;
    for n in &found {
        check_number(n, zone, text);
        assert!(n.offset >= last, "not in offset order: {found:?}");
        last = n.offset;
        if redetect() {
            let again = detect_in_zone(zone, &n.displayed);
            assert!(
                again
                    .iter()
                    .any(|m| m.kind == n.kind && m.number == n.number),
                "{:?} ({:?}) is not found again in its displayed text {:?}: {again:?}",
                n.number,
                n.kind,
                n.displayed
            );
        }
    }
});

fn check_number(n: &DisplayedNumber, zone: ZoneKind, text: &str) {
    let end = n.offset + n.displayed.len();
    assert!(
        end <= text.len(),
        "out of bounds (len {}): {n:?} in {text:?}",
        text.len()
    );
    assert!(
        text.is_char_boundary(n.offset) && text.is_char_boundary(end),
        "not on char boundaries: {n:?} in {text:?}"
    );
    assert_eq!(
        &text[n.offset..end],
        n.displayed,
        "the text at the offset is not what is displayed: {n:?} in {text:?}"
    );
    assert!(!n.displayed.is_empty(), "empty displayed text: {n:?}");
    assert_eq!(n.displayed.trim(), n.displayed, "untrimmed: {n:?}");
    assert_eq!(n.zone, zone);
    assert!(!n.number.is_empty() && !n.base.is_empty(), "{n:?}");
    assert!(
        n.number.starts_with(&n.base),
        "number without its base: {n:?}"
    );
    let tail = &n.number[n.base.len()..];
    match n.site_suffix {
        Some(s)
            if matches!(
                n.kind,
                NumberKind::IcpFiling | NumberKind::IcpLicence | NumberKind::TelecomLicence
            ) =>
        {
            assert_eq!(tail, format!("-{s}"), "suffix: {n:?}")
        }
        _ => assert!(tail.is_empty(), "number longer than its base: {n:?}"),
    }
    if let Some(p) = n.province {
        assert!(
            n.number.contains(p),
            "province {p} not in the number: {n:?}"
        );
    }
    assert_eq!(n.is_valid(), n.problems.is_empty());
}

fn redetect() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("SITEPATROL_FUZZ_FILING_REDETECT").as_deref() == Ok("1"))
}
