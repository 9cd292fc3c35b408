//! Notices as PDF: the text notice laid out on A4 pages in one CJK font, written by krilla.
//!
//! The font is the operator's (`review.notice_font`) or the first of the usual system paths
//! that has Chinese; none is shipped. krilla subsets it and embeds it as a CID font with a
//! ToUnicode map, so a reader can search and copy the Chinese out of the PDF. The layout is
//! ours and small: characters are mapped to glyphs and measured with skrifa, lines are broken
//! the way Chinese text breaks (between any two Han characters, never before a closing
//! punctuation mark nor after an opening one, which hang in the margin instead) and long
//! unbreakable runs (URLs, SHA-256 hashes) break after `/`, `?`, `&`, `=` or, failing that,
//! anywhere; continuation lines keep the paragraph's indentation; pages are numbered.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use krilla::geom::{Point, Size};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::{Data, Document};
use skrifa::instance::{LocationRef, Size as FontSize};
use skrifa::raw::FileRef;
use skrifa::{FontRef, MetadataProvider};

/// Where a CJK font is looked for when `review.notice_font` is not set: Debian's and other
/// distributions' Noto CJK, Source Han, WenQuanYi and Droid fallback (the paths their
/// packages install), in order of preference.
pub const FONT_SEARCH_PATHS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansSC-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// Characters a face must have to set a Chinese notice.
const CJK_PROBE: &str = "整改通知书第条项网站页面";

/// A font file larger than this is refused (Noto Sans CJK's collection is about 20 MB).
const MAX_FONT_BYTES: u64 = 64 << 20;

/// Why no notice font can be used. The messages name the config key, since setting it is
/// the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FontError {
    #[error(
        "no CJK font for PDF notices: review.notice_font is not set and none of the usual paths has one (install Debian's fonts-noto-cjk, or set review.notice_font to a .ttf, .otf or .ttc with Chinese)"
    )]
    NotFound,
    #[error("review.notice_font: {path}: {message}")]
    Unusable { path: String, message: String },
}

/// A loaded face with Chinese, shared by every PDF notice.
#[derive(Clone)]
pub struct NoticeFont {
    data: Arc<Vec<u8>>,
    index: u32,
    path: PathBuf,
    family: String,
}

impl std::fmt::Debug for NoticeFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeFont")
            .field("path", &self.path)
            .field("index", &self.index)
            .field("family", &self.family)
            .finish()
    }
}

impl NoticeFont {
    /// The font at `path`: face `index` of a collection, or without one the collection's
    /// Simplified Chinese face (Noto's and Source Han's "SC"), else its first face with
    /// Chinese. A face without Chinese is refused: a notice of empty boxes is no notice.
    pub fn load(path: &Path, index: Option<u32>) -> Result<NoticeFont, FontError> {
        let unusable = |message: String| FontError::Unusable {
            path: path.display().to_string(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| unusable(e.to_string()))?;
        if !meta.is_file() {
            return Err(unusable("not a regular file".into()));
        }
        if meta.len() > MAX_FONT_BYTES {
            return Err(unusable(format!(
                "{} bytes, more than the {MAX_FONT_BYTES} a font may have",
                meta.len()
            )));
        }
        let data = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
        let faces = match FileRef::new(&data) {
            Ok(FileRef::Font(_)) => 1,
            Ok(FileRef::Collection(c)) => c.len(),
            Err(e) => return Err(unusable(format!("not a TrueType/OpenType font: {e}"))),
        };
        let face = |i: u32| FontRef::from_index(&data, i).ok();
        let chosen = match index {
            Some(i) if i >= faces => {
                return Err(unusable(format!(
                    "face index {i} (review.notice_font_index), but the file has {faces} face(s)"
                )));
            }
            Some(i) => {
                if !face(i).is_some_and(|f| has_chinese(&f)) {
                    return Err(unusable(format!("face {i} has no Chinese characters")));
                }
                i
            }
            None => {
                let with_chinese: Vec<u32> = (0..faces)
                    .filter(|i| face(*i).is_some_and(|f| has_chinese(&f)))
                    .collect();
                let simplified = with_chinese.iter().copied().find(|i| {
                    face(*i).is_some_and(|f| {
                        let name = family(&f);
                        name.ends_with(" SC") || name.contains(" SC ") || name.contains("GB")
                    })
                });
                simplified
                    .or_else(|| with_chinese.first().copied())
                    .ok_or_else(|| unusable("no face has Chinese characters".into()))?
            }
        };
        let family = face(chosen).map(|f| family(&f)).unwrap_or_default();
        // krilla reads the same face; check now that it can, rather than at the first notice.
        let data = Arc::new(data);
        Font::new(Data::from(data.clone()), chosen)
            .ok_or_else(|| unusable(format!("face {chosen} cannot be embedded")))?;
        Ok(NoticeFont {
            data,
            index: chosen,
            path: path.to_path_buf(),
            family,
        })
    }

    /// The first of [`FONT_SEARCH_PATHS`] that loads.
    pub fn search() -> Result<NoticeFont, FontError> {
        FONT_SEARCH_PATHS
            .iter()
            .map(Path::new)
            .filter(|p| p.is_file())
            .find_map(|p| NoticeFont::load(p, None).ok())
            .ok_or(FontError::NotFound)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// The face's family name, as its name table gives it.
    pub fn family(&self) -> &str {
        &self.family
    }
}

fn has_chinese(font: &FontRef<'_>) -> bool {
    let charmap = font.charmap();
    CJK_PROBE.chars().all(|c| charmap.map(c).is_some())
}

fn family(font: &FontRef<'_>) -> String {
    font.localized_strings(skrifa::string::StringId::FAMILY_NAME)
        .english_or_first()
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Why a PDF could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the PDF notice cannot be written: {0}")]
pub struct PdfError(String);

// A4 in points, and the type area.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 62.0;
const MARGIN_TOP: f32 = 64.0;
const MARGIN_BOTTOM: f32 = 72.0;
const BODY_SIZE: f32 = 10.5;
const TITLE_SIZE: f32 = 18.0;
const FOOTER_SIZE: f32 = 8.5;
const LEADING: f32 = 1.65;

/// Characters that must not start a line (closing punctuation): they hang at the end of the
/// line before instead.
const NO_LINE_START: &str = "，。、；：！？）】》」』〉”’,.;:!?)]}%·…—～";
/// Characters that must not end a line (opening punctuation).
const NO_LINE_END: &str = "（【《「『〈“‘([{";

/// One positioned glyph source: a character, its glyph and its advance in em.
#[derive(Clone, Copy)]
struct Shaped {
    ch: char,
    byte: usize,
    glyph: u32,
    advance: f32,
}

/// A line ready to draw: the text, its glyphs, where it starts and its size.
struct Line {
    text: String,
    glyphs: Vec<KrillaGlyph>,
    x: f32,
    size: f32,
    /// Space before the line's baseline, from the previous baseline.
    advance_y: f32,
}

/// `text` (a rendered text notice) as a PDF: its first non-empty line is the title, centred;
/// `title` goes into the document's metadata and every page's footer.
pub fn render_pdf(text: &str, font: &NoticeFont, title: &str) -> Result<Vec<u8>, PdfError> {
    let face = FontRef::from_index(&font.data, font.index)
        .map_err(|e| PdfError(format!("the font cannot be read: {e}")))?;
    let pdf_font = Font::new(Data::from(font.data.clone()), font.index)
        .ok_or_else(|| PdfError("the font cannot be embedded".into()))?;
    let shaper = Shaper::new(&face);
    let pages = layout(text, &shaper);

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(title.to_string())
            .creator("sitepatrol".into()),
    );
    let size = Size::from_wh(PAGE_W, PAGE_H).ok_or_else(|| PdfError("page size".into()))?;
    let total = pages.len();
    for (n, page_lines) in pages.into_iter().enumerate() {
        let mut page = document.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();
        for (baseline, line) in &page_lines {
            if line.glyphs.is_empty() {
                continue;
            }
            surface.draw_glyphs(
                Point::from_xy(line.x, *baseline),
                &line.glyphs,
                pdf_font.clone(),
                &line.text,
                line.size,
                false,
            );
        }
        let footer_text = format!("{title}　第 {} 页 / 共 {total} 页", n + 1);
        let footer = shaper.line(&footer_text, FOOTER_SIZE);
        let fw = shaper.width(&footer_text, FOOTER_SIZE);
        surface.draw_glyphs(
            Point::from_xy((PAGE_W - fw) / 2.0, PAGE_H - MARGIN_BOTTOM / 2.0),
            &footer.glyphs,
            pdf_font.clone(),
            &footer.text,
            FOOTER_SIZE,
            false,
        );
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| PdfError(format!("{e:?}")))
}

/// The lines of `text` on pages: each page's lines with their baselines.
fn layout(text: &str, shaper: &Shaper<'_>) -> Vec<Vec<(f32, Line)>> {
    let width = PAGE_W - 2.0 * MARGIN_X;
    let mut lines: Vec<Line> = Vec::new();
    let mut titled = false;
    for paragraph in text.lines() {
        let paragraph = clean(paragraph);
        if !titled && !paragraph.trim().is_empty() {
            titled = true;
            let mut line = shaper.line(paragraph.trim(), TITLE_SIZE);
            let w = shaper.width(paragraph.trim(), TITLE_SIZE);
            line.x = MARGIN_X + ((width - w) / 2.0).max(0.0);
            line.advance_y = TITLE_SIZE * 1.4;
            lines.push(line);
            // Room under the title.
            lines.push(Line::blank(BODY_SIZE * 0.8));
            continue;
        }
        if paragraph.trim().is_empty() {
            lines.push(Line::blank(BODY_SIZE * LEADING));
            continue;
        }
        lines.extend(shaper.wrap(&paragraph, BODY_SIZE, width));
    }

    // Paginate first, so that every footer can say how many pages there are.
    let bottom = PAGE_H - MARGIN_BOTTOM;
    let mut pages: Vec<Vec<(f32, Line)>> = vec![Vec::new()];
    let mut y = MARGIN_TOP;
    for line in lines {
        let next = y + line.advance_y;
        let page = pages.last_mut().expect("there is always a page");
        if next > bottom && !page.is_empty() {
            // A blank line does not start a page.
            if line.text.is_empty() {
                continue;
            }
            pages.push(Vec::new());
            y = MARGIN_TOP + line.advance_y;
        } else {
            y = next;
        }
        pages.last_mut().expect("just pushed").push((y, line));
    }

    pages
}

/// Tabs as spaces, other control characters dropped: evidence may carry anything, and a
/// control character has no glyph and no business in a letter.
fn clean(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

impl Line {
    fn blank(advance_y: f32) -> Line {
        Line {
            text: String::new(),
            glyphs: Vec::new(),
            x: MARGIN_X,
            size: BODY_SIZE,
            advance_y,
        }
    }
}

struct Shaper<'a> {
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
    upem: f32,
}

impl<'a> Shaper<'a> {
    fn new(face: &FontRef<'a>) -> Shaper<'a> {
        let upem = face
            .metrics(FontSize::unscaled(), LocationRef::default())
            .units_per_em;
        Shaper {
            charmap: face.charmap(),
            metrics: face.glyph_metrics(FontSize::unscaled(), LocationRef::default()),
            upem: f32::from(upem.max(1)),
        }
    }

    fn shape(&self, text: &str) -> Vec<Shaped> {
        text.char_indices()
            .map(|(byte, ch)| {
                // A character the font lacks is drawn as its .notdef box (glyph 0), still
                // mapped to the character in the text layer.
                let glyph = self.charmap.map(ch).map(|g| g.to_u32()).unwrap_or(0);
                let advance = self
                    .metrics
                    .advance_width(glyph.into())
                    .unwrap_or(self.upem / 2.0)
                    / self.upem;
                Shaped {
                    ch,
                    byte,
                    glyph,
                    advance,
                }
            })
            .collect()
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        self.shape(text).iter().map(|s| s.advance * size).sum()
    }

    /// One unbroken line of `text`.
    fn line(&self, text: &str, size: f32) -> Line {
        let shaped = self.shape(text);
        build(text, &shaped, MARGIN_X, size, size * LEADING)
    }

    /// `paragraph` broken into lines of at most `width` points (hanging punctuation aside);
    /// continuation lines are indented like the paragraph's text (past a list's "- ").
    fn wrap(&self, paragraph: &str, size: f32, width: f32) -> Vec<Line> {
        let shaped = self.shape(paragraph);
        let lead = shaped.iter().take_while(|s| s.ch == ' ').count();
        let marker = match (shaped.get(lead), shaped.get(lead + 1)) {
            (Some(a), Some(b)) if matches!(a.ch, '-' | '•') && b.ch == ' ' => 2,
            _ => 0,
        };
        let hang: f32 = shaped[..lead + marker]
            .iter()
            .map(|s| s.advance * size)
            .sum::<f32>()
            .min(width / 2.0);
        let mut lines = Vec::new();
        let mut start = 0;
        let mut first = true;
        while start < shaped.len() {
            let indent = if first { 0.0 } else { hang };
            let available = width - indent;
            let end = break_at(&shaped, start, size, available);
            let piece = &shaped[start..end];
            let from = piece.first().map_or(0, |s| s.byte);
            let to = shaped.get(end).map_or(paragraph.len(), |s| s.byte);
            let text = paragraph[from..to].trim_end();
            let glyphs: Vec<Shaped> = piece
                .iter()
                .map(|s| Shaped {
                    byte: s.byte - from,
                    ..*s
                })
                .filter(|s| s.byte < text.len())
                .collect();
            lines.push(build(
                text,
                &glyphs,
                MARGIN_X + indent,
                size,
                size * LEADING,
            ));
            start = end;
            // A continuation line does not start with the spaces the break fell on.
            while start < shaped.len() && shaped[start].ch == ' ' {
                start += 1;
            }
            first = false;
        }
        lines
    }
}

/// The end (exclusive) of the line starting at `start`: as many characters as fit in
/// `available`, ending at the last place a line may break; closing punctuation that
/// overflows hangs; a run with no break in it is cut where it overflows.
fn break_at(shaped: &[Shaped], start: usize, size: f32, available: f32) -> usize {
    let mut used = 0.0;
    let mut last_break = None;
    for i in start..shaped.len() {
        if i > start && may_break_before(shaped, i) {
            last_break = Some(i);
        }
        used += shaped[i].advance * size;
        if used > available && i > start {
            if NO_LINE_START.contains(shaped[i].ch) {
                // Hanging punctuation: keep it on this line, in the margin.
                return i + 1;
            }
            return match last_break {
                Some(b) if b > start => b,
                _ => i,
            };
        }
    }
    shaped.len()
}

/// Whether a line may break between `shaped[i - 1]` and `shaped[i]`.
fn may_break_before(shaped: &[Shaped], i: usize) -> bool {
    let (prev, next) = (shaped[i - 1].ch, shaped[i].ch);
    if NO_LINE_START.contains(next) || NO_LINE_END.contains(prev) {
        return false;
    }
    prev == ' '
        || (wide(prev) || wide(next)) && next != ' '
        || matches!(prev, '/' | '?' | '&' | '=' | '-' | '_' | '#') && next != ' '
}

/// Han, kana, Hangul, full-width forms and CJK punctuation: text that breaks between any two
/// characters.
fn wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

fn build(text: &str, shaped: &[Shaped], x: f32, size: f32, advance_y: f32) -> Line {
    let glyphs = shaped
        .iter()
        .map(|s| KrillaGlyph {
            glyph_id: GlyphId::new(s.glyph),
            text_range: s.byte..s.byte + s.ch.len_utf8(),
            x_advance: s.advance,
            x_offset: 0.0,
            y_offset: 0.0,
            y_advance: 0.0,
            location: None,
        })
        .collect();
    Line {
        text: text.to_string(),
        glyphs,
        x,
        size,
        advance_y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> Option<NoticeFont> {
        match NoticeFont::search() {
            Ok(font) => Some(font),
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    fn lines_of(shaper: &Shaper<'_>, text: &str, width: f32) -> Vec<String> {
        shaper
            .wrap(text, BODY_SIZE, width)
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    #[test]
    fn chinese_breaks_between_characters_and_punctuation_hangs() {
        let Some(font) = font() else { return };
        let face = FontRef::from_index(&font.data, font.index).unwrap();
        let shaper = Shaper::new(&face);
        // Ten Han characters a line (each one em wide).
        let width = BODY_SIZE * 10.0 + 0.5;
        let text = "我方在对贵方接入的网站进行巡查时，发现以下内容违反上述约定。一二三四五六七八九十，之后";
        let lines = lines_of(&shaper, text, width);
        assert_eq!(lines.concat(), text, "nothing lost or added");
        assert!(lines.len() >= 3, "{lines:?}");
        for line in &lines[1..] {
            let first = line.chars().next().unwrap();
            assert!(!NO_LINE_START.contains(first), "{lines:?}");
        }
        // The comma after 十 (the 11th character of its line) hangs rather than starting one.
        assert!(
            lines.iter().any(|l| l == "一二三四五六七八九十，"),
            "{lines:?}"
        );
    }

    #[test]
    fn urls_and_hashes_break_inside_and_keep_every_character() {
        let Some(font) = font() else { return };
        let face = FontRef::from_index(&font.data, font.index).unwrap();
        let shaper = Shaper::new(&face);
        let url = format!(
            "   - http://www.example.cn/a/very/long/path/{}/index.html?x=1&y=2",
            "segment".repeat(12)
        );
        let lines = lines_of(&shaper, &url, 200.0);
        assert!(lines.len() > 2, "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), url.replace(' ', ""));
        let hash = format!("     页面快照 SHA-256：{}", "f".repeat(64));
        let lines = lines_of(&shaper, &hash, 150.0);
        assert_eq!(lines.concat(), hash.trim_end());
        for line in shaper.wrap(&hash, BODY_SIZE, 150.0) {
            let w: f32 = line.glyphs.iter().map(|g| g.x_advance * BODY_SIZE).sum();
            assert!(w <= 150.0 + BODY_SIZE, "{w} for {}", line.text);
        }
    }

    #[test]
    fn a_long_notice_is_paginated() {
        let Some(font) = font() else { return };
        let text = format!(
            "整改通知书\n\n{}",
            "涉及页面：http://www.example.cn/p.html 抓取时间 2026-12-01\n".repeat(200)
        );
        let face = FontRef::from_index(&font.data, font.index).unwrap();
        let pages = layout(&text, &Shaper::new(&face));
        assert!(pages.len() > 4, "{} pages", pages.len());
        for page in &pages {
            assert!(!page.is_empty());
            for (baseline, _) in page {
                assert!(*baseline > MARGIN_TOP && *baseline <= PAGE_H - MARGIN_BOTTOM);
            }
        }
        let lines: usize = pages.iter().map(Vec::len).sum();
        assert!(lines >= 200, "{lines}");
        let pdf = render_pdf(&text, &font, "ZG-2026-C000001").unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }

    #[test]
    fn fonts_without_chinese_or_files_that_are_none_are_refused_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.ttf");
        std::fs::write(&junk, b"not a font").unwrap();
        let e = NoticeFont::load(&junk, None).unwrap_err().to_string();
        assert!(e.starts_with("review.notice_font: "), "{e}");
        assert!(e.contains("junk.ttf"), "{e}");
        let e = NoticeFont::load(&dir.path().join("missing.ttc"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("review.notice_font"), "{e}");
        let Some(font) = font() else { return };
        let e = NoticeFont::load(font.path(), Some(999))
            .unwrap_err()
            .to_string();
        assert!(e.contains("face index 999"), "{e}");
        if font.path().extension().is_some_and(|x| x == "ttc") && font.family().contains("CJK") {
            assert!(font.family().ends_with(" SC"), "{}", font.family());
        }
    }
}
