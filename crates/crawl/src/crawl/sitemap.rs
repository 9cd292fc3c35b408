//! Sitemaps (sitemaps.org protocol): `<urlset>` lists pages, `<sitemapindex>` lists sitemaps.
//! Pages that no link reaches are still listed here, so sitemaps are start points of a crawl.

use quick_xml::Reader;
use quick_xml::events::Event;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sitemap {
    /// `<url><loc>` entries.
    pub pages: Vec<String>,
    /// `<sitemap><loc>` entries of a sitemap index.
    pub sitemaps: Vec<String>,
}

/// Most entries read from one sitemap file (the protocol allows 50,000).
pub const MAX_ENTRIES: usize = 50_000;

/// Parse a sitemap. Broken XML yields what was read before the break; a gzip-compressed file
/// (`sitemap.xml.gz` served without Content-Encoding) must be decompressed by the caller.
pub fn parse(xml: &str) -> Sitemap {
    let mut reader = Reader::from_str(xml);
    let mut out = Sitemap::default();
    let mut in_loc = false;
    let mut in_sitemap = false;
    let mut loc = String::new();
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        match event {
            Event::Start(start) => match start.local_name().as_ref() {
                "loc" => {
                    in_loc = true;
                    loc.clear();
                }
                "sitemap" => in_sitemap = true,
                _ => {}
            },
            Event::End(end) => match end.local_name().as_ref() {
                "loc" if in_loc => {
                    in_loc = false;
                    let entry = loc.trim().to_string();
                    if !entry.is_empty() {
                        if in_sitemap {
                            out.sitemaps.push(entry);
                        } else {
                            out.pages.push(entry);
                        }
                    }
                    if out.pages.len() + out.sitemaps.len() >= MAX_ENTRIES {
                        break;
                    }
                }
                "sitemap" => in_sitemap = false,
                _ => {}
            },
            Event::Text(text) if in_loc => loc.push_str(&text.xml10_content()),
            Event::CData(data) if in_loc => loc.push_str(&data.into_inner()),
            Event::GeneralRef(reference) if in_loc => {
                let name = reference.into_inner();
                if let Some(c) = resolve_entity(&name) {
                    loc.push(c);
                }
            }
            _ => {}
        }
    }
    out
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlset_entries_with_entities() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://a.cn/p?x=1&amp;y=2</loc><lastmod>2024-01-01</lastmod></url>
  <url><loc> https://a.cn/新闻 </loc></url>
  <url><loc><![CDATA[https://a.cn/c]]></loc></url>
</urlset>"#;
        let map = parse(xml);
        assert_eq!(
            map.pages,
            vec![
                "https://a.cn/p?x=1&y=2",
                "https://a.cn/新闻",
                "https://a.cn/c"
            ]
        );
        assert!(map.sitemaps.is_empty());
    }

    #[test]
    fn sitemap_index() {
        let xml = r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://a.cn/s1.xml</loc></sitemap>
  <sitemap><loc>https://a.cn/s2.xml.gz</loc></sitemap>
</sitemapindex>"#;
        let map = parse(xml);
        assert_eq!(
            map.sitemaps,
            vec!["https://a.cn/s1.xml", "https://a.cn/s2.xml.gz"]
        );
        assert!(map.pages.is_empty());
    }

    #[test]
    fn broken_xml_keeps_what_was_read() {
        let map = parse("<urlset><url><loc>https://a.cn/1</loc></url><url><loc>https://a.cn/2<");
        assert_eq!(map.pages, vec!["https://a.cn/1"]);
        assert_eq!(parse("not xml at all"), Sitemap::default());
    }
}
