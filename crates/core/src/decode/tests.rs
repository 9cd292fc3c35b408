//! Pipeline tests for [`super::decode`]: precedence, contradictions, robustness.

use super::*;
use encoding_rs::{BIG5, GBK, UTF_16BE, UTF_16LE, WINDOWS_1252};

const ZH: &str = "中华人民共和国网络安全法已经正式施行，各网站应当加强信息内容管理，\
                  及时发现并处置违法有害信息。本站欢迎您的访问，如有问题请联系管理员。";
const ZH_TRAD: &str = "中華民國臺灣地區的網站內容應當遵守相關法律規定，\
                       本站歡迎您的蒞臨，若有任何問題請與管理員聯絡。謝謝您的支持與愛護。";

fn enc(encoding: &'static Encoding, s: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(s);
    assert!(
        !unmappable,
        "test text must be encodable in {}",
        encoding.name()
    );
    bytes.into_owned()
}

fn page(meta: &str, body: &str) -> String {
    format!("<html><head>{meta}<title>t</title></head><body><p>{body}</p></body></html>")
}

fn plain(bytes: &[u8]) -> Decoded {
    decode(bytes, &DecodeOptions::default())
}

#[test]
fn empty_input() {
    let d = plain(b"");
    assert_eq!(d.text, "");
    assert_eq!(d.malformed, 0);
    assert_eq!(d.decided_by, DecidedBy::Detected);
    assert_eq!(d.name, "UTF-8");
    assert!(d.declarations.is_empty());
}

#[test]
fn utf8_bom() {
    let mut b = vec![0xEF, 0xBB, 0xBF];
    b.extend_from_slice(page("<meta charset=gbk>", ZH).as_bytes());
    let d = plain(&b);
    assert_eq!(d.decided_by, DecidedBy::Bom, "BOM beats meta");
    assert_eq!(d.name, "UTF-8");
    assert!(d.text.starts_with("<html>") && d.text.contains(ZH));
    // The overruled-by-BOM meta is still reported.
    assert_eq!(d.declarations.len(), 1);
    assert_eq!(d.declarations[0].encoding, Some("gb18030"));
}

#[test]
fn utf16_boms() {
    for (bom, encoding, name) in [
        (&[0xFF, 0xFE][..], UTF_16LE, "UTF-16LE"),
        (&[0xFE, 0xFF][..], UTF_16BE, "UTF-16BE"),
    ] {
        let mut b = bom.to_vec();
        b.extend(ZH.encode_utf16().flat_map(|u| {
            if encoding == UTF_16LE {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            }
        }));
        let d = plain(&b);
        assert_eq!(d.decided_by, DecidedBy::Bom);
        assert_eq!(d.encoding, encoding);
        assert_eq!(d.name, name);
        assert_eq!(d.text, ZH);
        assert_eq!(d.malformed, 0);
    }
}

#[test]
fn utf32_boms() {
    let s = "<p>中文 😀</p>";
    let mut le = vec![0xFF, 0xFE, 0, 0];
    le.extend(s.chars().flat_map(|c| (c as u32).to_le_bytes()));
    let mut be = vec![0, 0, 0xFE, 0xFF];
    be.extend(s.chars().flat_map(|c| (c as u32).to_be_bytes()));
    let d = plain(&le);
    assert_eq!(
        (d.decided_by, d.name, d.text.as_str()),
        (DecidedBy::Bom, "UTF-32LE", s)
    );
    assert_eq!(d.encoding, UTF_16LE);
    let d = plain(&be);
    assert_eq!(
        (d.decided_by, d.name, d.text.as_str()),
        (DecidedBy::Bom, "UTF-32BE", s)
    );
    // Truncated final unit.
    let d = plain(&be[..be.len() - 1]);
    assert_eq!(d.malformed, 1);
    assert!(d.text.ends_with("</p\u{FFFD}"));
}

#[test]
fn bomless_utf16_and_utf32_are_detected() {
    let s = page("", "hello 中文");
    let le: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let d = plain(&le);
    assert_eq!((d.decided_by, d.name), (DecidedBy::Detected, "UTF-16LE"));
    assert_eq!(d.text, s);
    let be32: Vec<u8> = s.chars().flat_map(|c| (c as u32).to_be_bytes()).collect();
    let d = plain(&be32);
    assert_eq!((d.name, d.text.as_str()), ("UTF-32BE", s.as_str()));
}

#[test]
fn header_beats_meta() {
    // Big5 bytes: GB18030 would decode them without errors (as the wrong characters), so
    // only precedence decides here.
    let b = enc(BIG5, &page("<meta charset=gbk>", ZH_TRAD));
    let d = decode(
        &b,
        &DecodeOptions {
            content_type: Some("text/html; charset=big5"),
            tld: None,
        },
    );
    assert_eq!(d.decided_by, DecidedBy::HttpHeader);
    assert_eq!(d.encoding, BIG5);
    assert!(d.text.contains(ZH_TRAD));
    assert_eq!(d.overruled, None);
    assert_eq!(
        d.declarations.iter().map(|x| x.source).collect::<Vec<_>>(),
        [DecidedBy::HttpHeader, DecidedBy::Meta]
    );
}

#[test]
fn meta_beats_detection_unless_the_other_chinese_encoding_fits_far_better() {
    // Simplified text declared gbk stays with the declaration, whatever a detector says.
    let b = enc(GBK, &page("<meta charset=gbk>", ZH));
    let d = plain(&b);
    assert_eq!(d.decided_by, DecidedBy::Meta);
    assert_eq!(d.encoding, GB18030);
    assert_eq!(d.overruled, None);
    // Big5 bytes declared gbk decode cleanly as GB18030, into gibberish: with no other
    // declaration to fall back on, detection decides, and says so.
    let b = enc(BIG5, &page("<meta charset=gbk>", ZH_TRAD));
    let d = plain(&b);
    assert_eq!(d.decided_by, DecidedBy::DetectedOverDeclaration);
    assert_eq!(d.encoding, BIG5);
    assert!(d.overruled.is_some());
    // The same bytes without the declaration are detected as Big5.
    let b = enc(BIG5, &page("", ZH_TRAD));
    let d = plain(&b);
    assert_eq!(d.decided_by, DecidedBy::Detected);
    assert_eq!(d.encoding, BIG5);
}

#[test]
fn http_equiv_form() {
    let b = enc(
        GBK,
        &page(
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">",
            ZH,
        ),
    );
    let d = plain(&b);
    assert_eq!((d.decided_by, d.name), (DecidedBy::Meta, "gb18030"));
    assert_eq!(d.declarations[0].label, "gb2312");
    assert!(d.text.contains(ZH));
    assert_eq!(d.malformed, 0);
}

#[test]
fn label_with_quotes_spaces_uppercase() {
    for meta in [
        "<META HTTP-EQUIV=CONTENT-TYPE CONTENT=\"text/html; CHARSET = 'GB2312' \">",
        "<meta charset=\" GBK \">",
        "<meta charset='Gb_2312'>",
    ] {
        let d = plain(&enc(GBK, &page(meta, ZH)));
        assert_eq!(
            (d.decided_by, d.name),
            (DecidedBy::Meta, "gb18030"),
            "{meta}"
        );
        assert!(d.text.contains(ZH));
    }
    let d = decode(
        &enc(BIG5, &page("", ZH_TRAD)),
        &DecodeOptions {
            content_type: Some("text/html;Charset=\"BIG5\""),
            tld: None,
        },
    );
    assert_eq!((d.decided_by, d.encoding), (DecidedBy::HttpHeader, BIG5));
    assert_eq!(d.declarations[0].label, "BIG5");
}

#[test]
fn xml_declaration() {
    let xml =
        format!("<?xml version=\"1.0\" encoding=\"BIG5\"?>\n<rss><item>{ZH_TRAD}</item></rss>");
    let d = plain(&enc(BIG5, &xml));
    assert_eq!(
        (d.decided_by, d.encoding),
        (DecidedBy::XmlDeclaration, BIG5)
    );
    assert!(d.text.contains(ZH_TRAD));
    // XML declaration outranks a <meta> pasted into the feed body.
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"gb2312\"?><rss><item><![CDATA[<meta charset=big5>]]>{ZH}</item></rss>"
    );
    let d = plain(&enc(GBK, &xml));
    assert_eq!(
        (d.decided_by, d.name),
        (DecidedBy::XmlDeclaration, "gb18030")
    );
}

#[test]
fn gb2312_declared_but_utf8_fixture() {
    let b = include_bytes!("../../../../tests/data/decode/gb2312-declared-utf8.html");
    let d = plain(b);
    assert_eq!(d.decided_by, DecidedBy::DetectedOverDeclaration);
    assert_eq!(d.name, "UTF-8");
    assert_eq!(d.malformed, 0);
    assert!(d.text.contains("京ICP备12345678号"));
    let reason = d.overruled.expect("overruled");
    assert!(
        reason.contains("declared gb2312 (meta)") && reason.contains("valid UTF-8"),
        "{reason}"
    );
}

#[test]
fn declared_utf8_but_gbk_bytes() {
    let b = enc(GBK, &page("<meta charset=utf-8>", ZH));
    let d = plain(&b);
    assert_eq!(d.decided_by, DecidedBy::DetectedOverDeclaration);
    assert_eq!(d.name, "gb18030");
    assert!(d.text.contains(ZH));
    assert!(d.overruled.unwrap().contains("not valid UTF-8"));
}

#[test]
fn a_few_invalid_bytes_do_not_overrule_a_utf8_declaration() {
    let header = DecodeOptions {
        content_type: Some("text/html; charset=utf-8"),
        tld: None,
    };
    let ad = "澳门赌场 真人百家乐 网上赌博 注册送彩金";
    // A page of ordinary size with a dozen planted bad bytes.
    let filler = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n".repeat(40);
    let mut long =
        format!("<html><head><meta charset=utf-8></head><body>{filler}<!-- ").into_bytes();
    long.extend_from_slice(&[0xFF; 12]);
    long.extend_from_slice(format!(" --><p>{ad}</p></body></html>").as_bytes());
    // The shortest page: the ad and ten bad bytes, nothing else.
    let mut short = b"<html><head><meta charset=utf-8></head><body><!-- ".to_vec();
    short.extend_from_slice(&[0xFF, 0xC3, 0xFE, 0x80, 0xFF, 0xBF, 0xFE, 0x81, 0xFF, 0xA9]);
    short.extend_from_slice(format!(" --><p>{ad}</p></body></html>").as_bytes());
    for b in [long, short] {
        for opts in [header, DecodeOptions::default()] {
            let d = decode(&b, &opts);
            assert_eq!(d.name, "UTF-8", "{:?}", d.overruled);
            assert_ne!(d.decided_by, DecidedBy::DetectedOverDeclaration);
            assert!(d.text.contains(ad));
            assert!(d.malformed >= 10);
        }
    }
}

#[test]
fn header_utf8_overruled_in_favour_of_meta() {
    let b = enc(GBK, &page("<meta charset=gbk>", ZH));
    let d = decode(
        &b,
        &DecodeOptions {
            content_type: Some("text/html; charset=UTF-8"),
            tld: None,
        },
    );
    assert_eq!((d.decided_by, d.name), (DecidedBy::Meta, "gb18030"));
    assert!(d.overruled.unwrap().contains("(HTTP header)"));
}

#[test]
fn latin_header_over_gbk_bytes() {
    let b = enc(GBK, &page("", ZH));
    let d = decode(
        &b,
        &DecodeOptions {
            content_type: Some("text/html; charset=ISO-8859-1"),
            tld: None,
        },
    );
    assert_eq!(
        (d.decided_by, d.name),
        (DecidedBy::DetectedOverDeclaration, "gb18030")
    );
    assert!(d.text.contains(ZH));
    assert!(
        d.overruled
            .unwrap()
            .contains("declared ISO-8859-1 (HTTP header)")
    );
}

#[test]
fn correct_latin_declaration_is_kept() {
    let s = page(
        "<meta charset=windows-1252>",
        "Café crème, naïve façade, Größe, señor — “quoted” text … ½ © ®",
    );
    let d = plain(&enc(WINDOWS_1252, &s));
    assert_eq!((d.decided_by, d.encoding), (DecidedBy::Meta, WINDOWS_1252));
    assert_eq!(d.text, s);
}

#[test]
fn many_malformed_under_declaration() {
    // GBK bytes declared big5: a good share of GBK trail bytes are invalid in Big5.
    let b = enc(GBK, &page("<meta charset=big5>", &ZH.repeat(3)));
    let d = plain(&b);
    assert_eq!(
        (d.decided_by, d.name),
        (DecidedBy::DetectedOverDeclaration, "gb18030")
    );
    assert!(d.overruled.unwrap().contains("malformed"));
    assert_eq!(d.malformed, 0);
}

#[test]
fn few_malformed_do_not_overrule() {
    // A GBK page with a couple of broken characters stays GBK, by the declaration.
    let mut b = enc(GBK, &page("<meta charset=gbk>", &ZH.repeat(5)));
    let body = b.windows(3).position(|w| w == b"<p>").unwrap() + 3;
    b.insert(body, 0xFF);
    b.push(0xD6); // truncated final character
    let d = plain(&b);
    assert_eq!((d.decided_by, d.name), (DecidedBy::Meta, "gb18030"));
    assert_eq!(d.malformed, 2);
}

#[test]
fn replacement_label_is_not_used() {
    let b = enc(GBK, &page("<meta charset=hz-gb-2312>", ZH));
    let d = plain(&b);
    assert_eq!(d.declarations[0].encoding, Some("replacement"));
    assert_eq!(d.decided_by, DecidedBy::DetectedOverDeclaration);
    assert_eq!(d.name, "gb18030");
    assert!(d.text.contains(ZH));
}

#[test]
fn unknown_label_falls_back_to_detection() {
    let d = plain(&enc(GBK, &page("<meta charset=klingon-8>", ZH)));
    assert_eq!((d.decided_by, d.name), (DecidedBy::Detected, "gb18030"));
    assert_eq!(d.declarations[0].encoding, None);
    assert_eq!(d.overruled, None);
}

#[test]
fn undeclared_gbk_short() {
    for s in [ZH, "欢迎访问本站，这里有最新的新闻资讯。", "网站首页"] {
        let d = plain(&enc(GBK, s));
        assert_eq!(
            (d.decided_by, d.name),
            (DecidedBy::Detected, "gb18030"),
            "{s}"
        );
        assert_eq!(d.text, s);
    }
    let d = decode(
        &enc(GBK, "中文"),
        &DecodeOptions {
            content_type: None,
            tld: Some("cn"),
        },
    );
    assert_eq!(d.text, "中文");
}

#[test]
fn undeclared_big5_short() {
    for s in [ZH_TRAD, "歡迎光臨本網站，這裡有最新的新聞資訊。"] {
        let d = plain(&enc(BIG5, s));
        assert_eq!(
            (d.decided_by, d.encoding),
            (DecidedBy::Detected, BIG5),
            "{s}"
        );
        assert_eq!(d.text, s);
    }
    let d = decode(
        &enc(BIG5, "網站首頁"),
        &DecodeOptions {
            content_type: None,
            tld: Some("tw"),
        },
    );
    assert_eq!(d.text, "網站首頁");
}

#[test]
fn undeclared_utf8() {
    let d = plain(page("", ZH).as_bytes());
    assert_eq!(
        (d.decided_by, d.name, d.malformed),
        (DecidedBy::Detected, "UTF-8", 0)
    );
    // Truncated final character: still UTF-8, one malformed sequence.
    let s = page("", &ZH.repeat(2));
    let b = &s.as_bytes()[..s.len() - "</p></body></html>".len() - 1];
    let d = plain(b);
    assert_eq!((d.name, d.malformed), ("UTF-8", 1));
    assert!(d.text.ends_with('\u{FFFD}'));
}

#[test]
fn truncated_multibyte_at_end() {
    let mut b = enc(GBK, &page("<meta charset=gb2312>", ZH));
    b.truncate(b.len() - "</p></body></html>".len());
    b.pop(); // cut the last character in half
    let d = plain(&b);
    assert_eq!(
        (d.decided_by, d.name, d.malformed),
        (DecidedBy::Meta, "gb18030", 1)
    );
    assert!(d.text.ends_with('\u{FFFD}'));
    let mut u = page("<meta charset=utf-8>", ZH).into_bytes();
    u.truncate(u.len() - "</p></body></html>".len() - 2);
    let d = plain(&u);
    assert_eq!(
        (d.decided_by, d.name, d.malformed),
        (DecidedBy::Meta, "UTF-8", 1)
    );
}

/// Deterministic pseudo-random bytes (xorshift), no extra dependency.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn binary_garbage() {
    for (seed, len) in [(1, 1), (2, 7), (3, 100), (4, 5000), (5, 200_000)] {
        let b = noise(seed, len);
        for opts in [
            DecodeOptions::default(),
            DecodeOptions {
                content_type: Some("text/html; charset=utf-8"),
                tld: Some("cn"),
            },
        ] {
            let d = decode(&b, &opts);
            // Every output character consumes at least one input byte.
            assert!(d.text.chars().count() <= b.len().max(1), "seed {seed}");
            assert!(d.malformed <= b.len());
        }
    }
    // Random bytes under a UTF-8 header: not mostly valid UTF-8 → the detector's guess,
    // which decodes with fewer errors.
    let b = noise(9, 10_000);
    let d = decode(
        &b,
        &DecodeOptions {
            content_type: Some("text/html; charset=utf-8"),
            tld: None,
        },
    );
    assert!(d.malformed < text::convert_utf8(&b).malformed);
}

#[test]
fn every_prefix_of_a_mixed_document() {
    // Prefixes cut through BOMs, tags, declarations and multi-byte characters.
    let mut docs: Vec<Vec<u8>> = vec![
        enc(GBK, &page("<meta charset=gbk>", ZH)),
        page("<meta charset=gb2312>", ZH).into_bytes(),
        enc(
            BIG5,
            &format!("<?xml version=\"1.0\" encoding=\"big5\"?><a>{ZH_TRAD}</a>"),
        ),
    ];
    let mut le32 = vec![0xFF, 0xFE, 0, 0];
    le32.extend("<p>中文</p>".chars().flat_map(|c| (c as u32).to_le_bytes()));
    docs.push(le32);
    for doc in &docs {
        for end in 0..=doc.len().min(400) {
            let d = plain(&doc[..end]);
            assert!(d.malformed <= end);
        }
    }
}

#[test]
fn hostile_tld() {
    let b = enc(GBK, ZH);
    for tld in [
        "CN",
        "www.example.cn",
        "COM.",
        "中国",
        "c.n.",
        "\0",
        "",
        " ",
        "..",
        "a/b",
        "xn--FIQS8S",
        "tw\n",
    ] {
        let d = decode(
            &b,
            &DecodeOptions {
                content_type: None,
                tld: Some(tld),
            },
        );
        assert_eq!(d.name, "gb18030", "tld {tld:?}");
        assert_eq!(d.text, ZH);
    }
}

#[test]
fn iso_2022_jp_is_detected() {
    let s = "日本語のテキストです。";
    let (b, _, _) = ISO_2022_JP.encode(s);
    let d = plain(&b);
    assert_eq!(d.encoding, ISO_2022_JP);
    assert_eq!(d.text, s);
}

#[test]
fn serializes_reported_name() {
    let d = plain(&enc(GBK, &page("<meta charset=gb2312>", ZH)));
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["encoding"], "gb18030");
    assert_eq!(v["decided_by"], "meta");
    assert_eq!(v["declarations"][0]["label"], "gb2312");
    assert!(v.get("text").is_none() && v.get("name").is_none());
}

#[test]
fn big5_under_a_gb_declaration_and_gb_under_big5_are_read_as_what_they_are() {
    // A Taiwan page on a server whose default says gbk: GBK decodes it without one error,
    // into gibberish.
    let trad = enc(BIG5, &page("<meta charset=big5>", ZH_TRAD));
    for header in ["text/html; charset=gbk", "text/html; charset=gb2312"] {
        let d = decode(
            &trad,
            &DecodeOptions {
                content_type: Some(header),
                tld: None,
            },
        );
        assert_eq!(d.name, "Big5", "{header}: {:?}", d.overruled);
        assert!(d.text.contains(ZH_TRAD));
        let why = d.overruled.unwrap();
        assert!(why.contains("GB2312"), "{why}");
    }
    // The reverse: Simplified text under a Big5 declaration.
    let simplified = enc(GBK, &page("", ZH));
    let d = decode(
        &simplified,
        &DecodeOptions {
            content_type: Some("text/html; charset=big5"),
            tld: None,
        },
    );
    assert_eq!(d.name, "gb18030", "{:?}", d.overruled);
    assert!(d.text.contains(ZH));
    assert!(d.overruled.unwrap().contains("0x80"));
    // Simplified and Traditional text written in GBK stays GBK: the Traditional characters
    // GBK encodes outside GB2312 do not make chardetng say Big5.
    for text in [ZH, ZH_TRAD] {
        let gbk = enc(GBK, &page("", text));
        let d = decode(
            &gbk,
            &DecodeOptions {
                content_type: Some("text/html; charset=gbk"),
                tld: None,
            },
        );
        assert_eq!(d.name, "gb18030", "{:?}", d.overruled);
        assert!(d.overruled.is_none(), "{:?}", d.overruled);
        assert!(d.text.contains(text));
    }
}
