//! The HTML tokenizer stage: html5gum's WHATWG tokenizer, driven through an emitter of our own.
//!
//! html5gum reads the page's bytes in place and hands over borrowed slices: text runs, tag
//! names and attribute values are not copied into reference-counted buffers one character at a
//! time, which is where html5ever's tokenizer spent most of its time (issue 17, the table in
//! benches/README.md). Tags still arrive as html5ever's [`Tag`] with interned [`LocalName`]s, so
//! the extractor matches element and attribute names as atoms. One `Tag` is reused for every
//! start tag, and it carries only the attributes the handler keeps
//! ([`Handler::keeps_attribute`]).
//!
//! The emitter is [`Direct`] rather than html5gum's callback emitter: that one buffers every
//! attribute value, comment and doctype and hands each over as an event, where the extractor
//! wants a handful of attribute values and no comments at all (issue 17, benches/README.md).
//!
//! The stage behaves as html5ever's tokenizer with default options did: a leading byte order
//! mark is dropped, a repeated attribute keeps its first value, U+0000 in text is dropped (the
//! tree builder ignores it), and `<![CDATA[` is a bogus comment (no foreign-content tracking).
//! There is no tree builder: the handler says which state (raw text, RCDATA, script data,
//! plain text) follows each start tag.

use std::borrow::Cow;
use std::convert::Infallible;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{Tag, TagKind};
use html5ever::{Attribute, LocalName, QualName};
use html5gum::{Emitter, Tokenizer};

pub(crate) use html5gum::State;

/// What a tokenizer's user does with its output.
pub(crate) trait Handler {
    /// A start tag, with its attributes. Returns the state the tokenizer reads the element's
    /// content in, when that is not the data state (`<script>`, `<style>`, `<title>` …).
    fn start_tag(&mut self, tag: &Tag) -> Option<State>;
    /// Whether start tags carry attributes of this name; the others are left out (a repeated
    /// attribute still keeps its first value among those kept).
    fn keeps_attribute(&self, _name: &LocalName) -> bool {
        true
    }
    /// An end tag.
    fn end_tag(&mut self, name: LocalName);
    /// A run of text, entities decoded.
    fn text(&mut self, text: &str);
    /// The end of the input.
    fn eof(&mut self) {}
}

/// Tokenize `html`, handing every token to `handler`, and return the handler.
pub(crate) fn tokenize<H: Handler>(html: &str, mut handler: H) -> H {
    let html = html.strip_prefix('\u{feff}').unwrap_or(html);
    let emitter = Direct::new(&mut handler);
    // The input is a string and the emitter never fails, so the tokenizer cannot fail either.
    let Ok(()) = Tokenizer::new_with_emitter(html, emitter).finish();
    handler.eof();
    handler
}

/// Which kind of tag the tokenizer is reading.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Nothing,
    Start,
    End,
}

/// What happens to the attribute being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    /// No attribute is open.
    None,
    /// Its name is still being read.
    Naming,
    /// It is the last of the tag's attributes: its value goes there.
    Kept,
    /// Not kept (left out by the handler, a repeat, or in an end tag): its value is skipped.
    Dropped,
}

/// html5gum's emitter for a [`Handler`]: builds html5ever tags from the tokenizer's calls,
/// keeps only the attributes the handler reads, and passes text on in the runs html5gum's
/// callback emitter passed it (text is held back until an attribute, a tag, a comment, a
/// doctype or the end), so the handler sees the same calls as it did behind that emitter.
struct Direct<'h, H> {
    handler: &'h mut H,
    /// The start tag being read: its attributes so far and whether it closes itself. One tag
    /// is reused for every start tag, so that its attribute list is not allocated and freed
    /// each time.
    tag: Tag,
    reading: Reading,
    name: Vec<u8>,
    /// The last start tag's name, until an end tag: what ends a raw-text element.
    last_start_tag: Vec<u8>,
    attr: Attr,
    attr_name: Vec<u8>,
    attr_value: Vec<u8>,
    text: Vec<u8>,
}

impl<'h, H: Handler> Direct<'h, H> {
    fn new(handler: &'h mut H) -> Self {
        Direct {
            handler,
            tag: Tag {
                kind: TagKind::StartTag,
                name: LocalName::from(""),
                self_closing: false,
                had_duplicate_attributes: false,
                attrs: Vec::new(),
            },
            reading: Reading::Nothing,
            name: Vec::new(),
            last_start_tag: Vec::new(),
            attr: Attr::None,
            attr_name: Vec::new(),
            attr_value: Vec::new(),
            text: Vec::new(),
        }
    }

    fn flush_text(&mut self) {
        if !self.text.is_empty() {
            pass_text(self.handler, &self.text);
            self.text.clear();
        }
    }

    /// The attribute's name is complete: keep it on the tag, or drop it.
    fn settle_attribute_name(&mut self) {
        self.attr = Attr::Dropped;
        if self.reading != Reading::Start || self.attr_name.is_empty() {
            return;
        }
        let name = local_name(&self.attr_name);
        if !self.handler.keeps_attribute(&name) {
            return;
        }
        let tag = &mut self.tag;
        if tag.attrs.iter().any(|a| a.name.local == name) {
            tag.had_duplicate_attributes = true;
            return;
        }
        tag.attrs.push(Attribute {
            name: QualName::new(None, html5ever::ns!(), name),
            value: StrTendril::new(),
        });
        self.attr = Attr::Kept;
    }

    fn finish_attribute(&mut self) {
        if self.attr == Attr::Naming {
            self.settle_attribute_name();
        }
        if self.attr == Attr::Kept
            && !self.attr_value.is_empty()
            && let Some(attr) = self.tag.attrs.last_mut()
        {
            attr.value = StrTendril::from_slice(&utf8(&self.attr_value));
        }
        self.attr_value.clear();
        self.attr = Attr::None;
    }
}

/// Text to the handler, without its U+0000 characters.
fn pass_text<H: Handler>(handler: &mut H, value: &[u8]) {
    if memchr::memchr(0, value).is_none() {
        handler.text(&utf8(value));
        return;
    }
    for part in value.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        handler.text(&utf8(part));
    }
}

impl<H: Handler> Emitter for Direct<'_, H> {
    type Token = Infallible;

    fn set_last_start_tag(&mut self, last_start_tag: Option<&[u8]>) {
        self.last_start_tag.clear();
        self.last_start_tag
            .extend_from_slice(last_start_tag.unwrap_or_default());
    }

    fn emit_eof(&mut self) {
        self.flush_text();
    }

    /// Parse errors change nothing we extract; checking every input byte for them (control
    /// characters, noncharacters) took a tenth of the scan.
    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn emit_error(&mut self, _error: html5gum::Error) {}

    fn pop_token(&mut self) -> Option<Infallible> {
        None
    }

    fn emit_string(&mut self, s: &[u8]) {
        self.text.extend_from_slice(s);
    }

    fn init_start_tag(&mut self) {
        self.reading = Reading::Start;
        self.name.clear();
        self.tag.self_closing = false;
        self.tag.attrs.clear();
        self.tag.had_duplicate_attributes = false;
        self.attr = Attr::None;
    }

    fn init_end_tag(&mut self) {
        self.reading = Reading::End;
        self.name.clear();
        self.attr = Attr::None;
    }

    fn init_comment(&mut self) {
        self.flush_text();
    }

    fn emit_current_tag(&mut self) -> Option<State> {
        self.flush_text();
        self.finish_attribute();
        match self.reading {
            Reading::Start => {
                self.tag.name = local_name(&self.name);
                // The name is read again only to end a raw-text element; the next tag clears
                // `name` before it writes it.
                std::mem::swap(&mut self.last_start_tag, &mut self.name);
                self.handler.start_tag(&self.tag)
            }
            Reading::End => {
                self.last_start_tag.clear();
                self.handler.end_tag(local_name(&self.name));
                None
            }
            Reading::Nothing => None,
        }
    }

    fn emit_current_comment(&mut self) {}

    fn emit_current_doctype(&mut self) {}

    fn set_self_closing(&mut self) {
        if self.reading == Reading::Start {
            self.tag.self_closing = true;
        }
    }

    fn set_force_quirks(&mut self) {}

    fn push_tag_name(&mut self, s: &[u8]) {
        self.name.extend_from_slice(s);
    }

    fn push_comment(&mut self, _s: &[u8]) {}

    fn push_doctype_name(&mut self, _s: &[u8]) {}

    fn init_doctype(&mut self) {
        self.flush_text();
    }

    fn init_attribute(&mut self) {
        self.flush_text();
        self.finish_attribute();
        self.attr_name.clear();
        self.attr = Attr::Naming;
    }

    fn push_attribute_name(&mut self, s: &[u8]) {
        self.attr_name.extend_from_slice(s);
    }

    fn push_attribute_value(&mut self, s: &[u8]) {
        if self.attr == Attr::Naming {
            self.settle_attribute_name();
        }
        if self.attr == Attr::Kept {
            self.attr_value.extend_from_slice(s);
        }
    }

    fn set_doctype_public_identifier(&mut self, _value: &[u8]) {}

    fn set_doctype_system_identifier(&mut self, _value: &[u8]) {}

    fn push_doctype_public_identifier(&mut self, _s: &[u8]) {}

    fn push_doctype_system_identifier(&mut self, _s: &[u8]) {}

    fn current_is_appropriate_end_tag_token(&mut self) -> bool {
        self.reading == Reading::End
            && !self.last_start_tag.is_empty()
            && self.last_start_tag == self.name
    }
}

/// html5gum works on bytes but copies them from valid UTF-8 and writes decoded references as
/// UTF-8, so this never copies in practice; a slice that is not UTF-8 is read lossily rather
/// than trusted.
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    // simdutf8's check first: on Chinese text it is several times quicker than std's, which
    // is several times quicker than the lossy reader's.
    simdutf8::basic::from_utf8(bytes).map_or_else(|_| String::from_utf8_lossy(bytes), Cow::Borrowed)
}

/// The interned name, without hashing it for the names most pages are made of: interning
/// hashes the name to find it in the static set, and a page has thousands of tags.
fn local_name(bytes: &[u8]) -> LocalName {
    use html5ever::local_name as n;
    match bytes {
        b"a" => n!("a"),
        b"p" => n!("p"),
        b"li" => n!("li"),
        b"div" => n!("div"),
        b"span" => n!("span"),
        b"img" => n!("img"),
        b"br" => n!("br"),
        b"td" => n!("td"),
        b"tr" => n!("tr"),
        b"ul" => n!("ul"),
        b"script" => n!("script"),
        b"href" => n!("href"),
        b"src" => n!("src"),
        b"class" => n!("class"),
        b"id" => n!("id"),
        b"style" => n!("style"),
        b"title" => n!("title"),
        b"alt" => n!("alt"),
        b"target" => n!("target"),
        b"type" => n!("type"),
        b"width" => n!("width"),
        b"height" => n!("height"),
        b"name" => n!("name"),
        b"content" => n!("content"),
        b"rel" => n!("rel"),
        b"meta" => n!("meta"),
        b"link" => n!("link"),
        b"input" => n!("input"),
        b"value" => n!("value"),
        b"border" => n!("border"),
        b"dd" => n!("dd"),
        b"dt" => n!("dt"),
        b"h3" => n!("h3"),
        b"em" => n!("em"),
        b"strong" => n!("strong"),
        b"i" => n!("i"),
        b"b" => n!("b"),
        b"table" => n!("table"),
        b"tbody" => n!("tbody"),
        b"iframe" => n!("iframe"),
        b"form" => n!("form"),
        b"option" => n!("option"),
        b"onclick" => n!("onclick"),
        b"charset" => n!("charset"),
        b"align" => n!("align"),
        b"font" => n!("font"),
        b"color" => n!("color"),
        other => LocalName::from(&*utf8(other)),
    }
}

#[cfg(test)]
mod tests {
    //! The stage against html5ever's own tokenizer, which the extractor used before: the same
    //! tags, attributes, text and raw-text handling on hostile markup.

    use std::cell::RefCell;

    use html5ever::tokenizer::states::RawKind;
    use html5ever::tokenizer::{
        BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer as Html5ever, TokenizerOpts,
    };
    use html5ever::{TokenizerResult, local_name};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn common_names_intern_as_the_interner_does() {
        let names = [
            "a", "p", "li", "div", "span", "img", "br", "td", "tr", "ul", "script", "href", "src",
            "class", "id", "style", "title", "alt", "target", "type", "width", "height", "name",
            "content", "rel", "meta", "link", "input", "value", "border", "dd", "dt", "h3", "em",
            "strong", "i", "b", "table", "tbody", "iframe", "form", "option", "onclick", "charset",
            "align", "font", "color", "data-src", "x-custom", "h4",
        ];
        for name in names {
            assert_eq!(local_name(name.as_bytes()), LocalName::from(name), "{name}");
        }
    }

    /// A token as both tokenizers must report it; text runs are merged, since html5ever
    /// splits them where html5gum does not.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Start(String, Vec<(String, String)>, bool),
        End(String),
        Text(String),
        Eof,
    }

    /// The raw-text elements switch state as the extractor switches them.
    fn raw_state(name: &LocalName) -> Option<State> {
        match *name {
            local_name!("script") => Some(State::ScriptData),
            local_name!("style") | local_name!("xmp") | local_name!("iframe") => {
                Some(State::RawText)
            }
            local_name!("title") | local_name!("textarea") => Some(State::RcData),
            local_name!("plaintext") => Some(State::PlainText),
            _ => None,
        }
    }

    #[derive(Default)]
    struct Log(Vec<Seen>);

    impl Log {
        fn push_text(&mut self, text: &str) {
            if let Some(Seen::Text(last)) = self.0.last_mut() {
                last.push_str(text);
            } else {
                self.0.push(Seen::Text(text.to_owned()));
            }
        }

        fn push_tag(&mut self, tag: &Tag) {
            let attrs = tag
                .attrs
                .iter()
                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                .collect();
            self.0.push(match tag.kind {
                TagKind::StartTag => Seen::Start(tag.name.to_string(), attrs, tag.self_closing),
                TagKind::EndTag => Seen::End(tag.name.to_string()),
            });
        }
    }

    impl Handler for Log {
        fn start_tag(&mut self, tag: &Tag) -> Option<State> {
            self.push_tag(tag);
            raw_state(&tag.name)
        }
        fn end_tag(&mut self, name: LocalName) {
            self.0.push(Seen::End(name.to_string()));
        }
        fn text(&mut self, text: &str) {
            self.push_text(text);
        }
        fn eof(&mut self) {
            self.0.push(Seen::Eof);
        }
    }

    struct Reference(RefCell<Log>);

    impl TokenSink for Reference {
        type Handle = ();

        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            let mut log = self.0.borrow_mut();
            match token {
                Token::TagToken(tag) => {
                    log.push_tag(&tag);
                    if tag.kind == TagKind::StartTag {
                        return match raw_state(&tag.name) {
                            Some(State::ScriptData) => {
                                TokenSinkResult::RawData(RawKind::ScriptData)
                            }
                            Some(State::RawText) => TokenSinkResult::RawData(RawKind::Rawtext),
                            Some(State::RcData) => TokenSinkResult::RawData(RawKind::Rcdata),
                            Some(State::PlainText) => TokenSinkResult::Plaintext,
                            Some(State::Data | State::CdataSection) | None => {
                                TokenSinkResult::Continue
                            }
                        };
                    }
                }
                Token::CharacterTokens(text) => log.push_text(&text),
                Token::EOFToken => log.0.push(Seen::Eof),
                _ => {}
            }
            TokenSinkResult::Continue
        }
    }

    fn reference(html: &str) -> Vec<Seen> {
        let tokenizer = Html5ever::new(
            Reference(RefCell::new(Log::default())),
            TokenizerOpts::default(),
        );
        let queue = BufferQueue::default();
        queue.push_back(StrTendril::from_slice(html));
        while let TokenizerResult::Script(()) = tokenizer.feed(&queue) {}
        tokenizer.end();
        tokenizer.sink.0.into_inner().0
    }

    fn ours(html: &str) -> Vec<Seen> {
        tokenize(html, Log::default()).0
    }

    /// Pieces that hostile pages combine: raw-text elements and their escapes, entities with
    /// and without semicolons, repeated attributes, broken tags, a byte order mark.
    const PIECES: &[&str] = &[
        "<div style=\"display:none\">",
        "</div>",
        "<a href=\"http://x.cn/a?b=1&amp;c=2\">",
        "</a>",
        "<script>",
        "</script>",
        "<!--<script>",
        "</script >",
        "</SCRIPT>",
        "<style>",
        "</style>",
        "<title>",
        "</title>",
        "<textarea>",
        "</textarea>",
        "<xmp>",
        "</xmp>",
        "<plaintext>",
        "<iframe src=x>",
        "</iframe>",
        "&amp;",
        "&lt;",
        "&#36172;&#21338;",
        "&notin;",
        "&not",
        "&#0;",
        "&#x110000;",
        "&copy",
        "\r\n",
        "\r",
        "<p>",
        "</p>",
        "<a href=x href=y TITLE='t1' title=\"t2\">",
        "<a href=u class=\"c\" title=t data-x='d'>",
        "<img alt=六合彩 src=x/>",
        "<br/>",
        "<svg><![CDATA[x]]></svg>",
        "<!DOCTYPE html>",
        "<!-- c -->",
        "<!--",
        "-->",
        "<",
        ">",
        "</",
        "<a",
        "=\"",
        "'",
        "\"",
        " ",
        "\t",
        "\n",
        "博彩",
        "text",
        "<?php echo 1 ?>",
        "<%= x %>",
        "\u{feff}",
        "</ div>",
        "<div/ class=a>",
        "<a b c=d e='f' g=\"h\"/>",
        "</p foo=bar>",
        "<sCrIpT type=x>",
        "<!---->",
        "<!-->",
        "<!doctype",
    ];

    /// A log of the tags' `href` and `title` attributes only, as the extractor keeps only
    /// the attributes it reads.
    #[derive(Default)]
    struct Keeping(Log);

    const KEPT: [&str; 2] = ["href", "title"];

    impl Handler for Keeping {
        fn start_tag(&mut self, tag: &Tag) -> Option<State> {
            self.0.start_tag(tag)
        }
        fn keeps_attribute(&self, name: &LocalName) -> bool {
            KEPT.contains(&&**name)
        }
        fn end_tag(&mut self, name: LocalName) {
            self.0.end_tag(name);
        }
        fn text(&mut self, text: &str) {
            self.0.text(text);
        }
        fn eof(&mut self) {
            self.0.eof();
        }
    }

    /// html5ever's tokens with every attribute but the kept ones removed.
    fn reference_keeping(html: &str) -> Vec<Seen> {
        let mut seen = reference(html);
        for token in &mut seen {
            if let Seen::Start(_, attrs, _) = token {
                attrs.retain(|(name, _)| KEPT.contains(&name.as_str()));
            }
        }
        seen
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn same_tokens_as_html5ever(
            picks in proptest::collection::vec(0..PIECES.len(), 0..80)
        ) {
            let html: String = picks.iter().map(|&i| PIECES[i]).collect();
            prop_assert_eq!(ours(&html), reference(&html), "input: {:?}", html);
        }

        /// Leaving attributes out changes no value of those kept: a left-out attribute's value
        /// never lands on the attribute before it, and repeats still keep their first value.
        #[test]
        fn kept_attributes_are_html5evers(
            picks in proptest::collection::vec(0..PIECES.len(), 0..80)
        ) {
            let html: String = picks.iter().map(|&i| PIECES[i]).collect();
            let ours = tokenize(&html, Keeping::default()).0 .0;
            prop_assert_eq!(ours, reference_keeping(&html), "input: {:?}", html);
        }

        /// The same calls, text runs included, so the extractor's output cannot depend on
        /// which emitter drove it.
        #[test]
        fn same_calls_as_the_callback_emitter(
            picks in proptest::collection::vec(0..PIECES.len(), 0..80)
        ) {
            let html: String = picks.iter().map(|&i| PIECES[i]).collect();
            let ours = tokenize(&html, Calls(Vec::new())).0;
            prop_assert_eq!(ours, callback_calls(&html), "input: {:?}", html);
        }
    }

    /// Every call a handler gets, text runs as they come: what the handler saw behind
    /// html5gum's callback emitter, which [`Direct`] replaced.
    #[derive(Debug, PartialEq)]
    enum Call {
        Start(String, Vec<(String, String)>, bool),
        End(String),
        Text(String),
    }

    /// Raw-text states as html5gum's callback emitter guesses them, so that both sides
    /// switch states alike.
    struct Calls(Vec<Call>);

    impl Handler for Calls {
        fn start_tag(&mut self, tag: &Tag) -> Option<State> {
            let attrs = tag
                .attrs
                .iter()
                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                .collect();
            self.0
                .push(Call::Start(tag.name.to_string(), attrs, tag.self_closing));
            html5gum::naive_next_state(tag.name.as_bytes())
        }
        fn end_tag(&mut self, name: LocalName) {
            self.0.push(Call::End(name.to_string()));
        }
        fn text(&mut self, text: &str) {
            self.0.push(Call::Text(text.to_owned()));
        }
    }

    /// The calls html5gum's callback emitter makes, as the old adapter passed them on: the
    /// first value of a repeated attribute, text without U+0000.
    fn callback_calls(html: &str) -> Vec<Call> {
        use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
        let html = html.strip_prefix('\u{feff}').unwrap_or(html);
        let mut calls = Vec::new();
        let mut open: Option<(String, Vec<(String, String)>)> = None;
        let mut skip_value = false;
        let mut emitter =
            CallbackEmitter::new(|event: CallbackEvent<'_>, _: html5gum::Span<()>| {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                match event {
                    CallbackEvent::OpenStartTag { name } => open = Some((text(name), Vec::new())),
                    CallbackEvent::AttributeName { name } => {
                        if let Some((_, attrs)) = &mut open {
                            let name = text(name);
                            skip_value = attrs.iter().any(|(n, _)| *n == name);
                            if !skip_value {
                                attrs.push((name, String::new()));
                            }
                        }
                    }
                    CallbackEvent::AttributeValue { value } => {
                        if let Some((_, attrs)) = &mut open
                            && !skip_value
                            && let Some(last) = attrs.last_mut()
                        {
                            last.1 = text(value);
                        }
                    }
                    CallbackEvent::CloseStartTag { self_closing } => {
                        if let Some((name, attrs)) = open.take() {
                            calls.push(Call::Start(name, attrs, self_closing));
                        }
                    }
                    CallbackEvent::EndTag { name } => {
                        open = None;
                        calls.push(Call::End(text(name)));
                    }
                    CallbackEvent::String { value } => {
                        for part in value.split(|&b| b == 0).filter(|p| !p.is_empty()) {
                            calls.push(Call::Text(text(part)));
                        }
                    }
                    _ => {}
                }
                None::<Infallible>
            });
        emitter.naively_switch_states(true);
        let Ok(()) = Tokenizer::new_with_emitter(html, emitter).finish();
        calls
    }

    #[test]
    fn a_repeated_attribute_keeps_its_first_value() {
        let seen = ours("<a href=one HREF=two title=t>x</a>");
        assert_eq!(
            seen[0],
            Seen::Start(
                "a".into(),
                vec![("href".into(), "one".into()), ("title".into(), "t".into())],
                false
            )
        );
    }

    #[test]
    fn script_content_is_raw_text_until_its_end_tag() {
        let seen = ours("<script>if (a<b) document.write('<a href=x>')</script><b>");
        assert_eq!(
            seen[1],
            Seen::Text("if (a<b) document.write('<a href=x>')".into())
        );
        assert_eq!(seen[2], Seen::End("script".into()));
        assert_eq!(seen[3], Seen::Start("b".into(), vec![], false));
    }
}
