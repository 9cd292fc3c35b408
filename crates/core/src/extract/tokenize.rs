//! The HTML tokenizer stage: html5gum's WHATWG tokenizer, driven through its callback emitter.
//!
//! html5gum reads the page's bytes in place and hands over borrowed slices: text runs, tag
//! names and attribute values are not copied into reference-counted buffers one character at a
//! time, which is where html5ever's tokenizer spent most of its time (issue 17, the table in
//! benches/README.md). Tags still arrive as html5ever's [`Tag`] with interned [`LocalName`]s, so
//! the extractor matches element and attribute names as atoms. One `Tag` is reused for every
//! start tag, and it carries only the attributes the handler keeps
//! ([`Handler::keeps_attribute`]).
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
use html5gum::emitters::callback::{Callback, CallbackEmitter, CallbackEvent};
use html5gum::{Emitter, ForwardingEmitter, Span, Tokenizer};

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
    let emitter = Relay {
        inner: CallbackEmitter::new(Builder {
            handler: &mut handler,
            tag: Tag {
                kind: TagKind::StartTag,
                name: LocalName::from(""),
                self_closing: false,
                had_duplicate_attributes: false,
                attrs: Vec::new(),
            },
            open: false,
            skip_value: false,
            next_state: None,
        }),
    };
    // The input is a string and the emitter never fails, so the tokenizer cannot fail either.
    let Ok(()) = Tokenizer::new_with_emitter(html, emitter).finish();
    handler.eof();
    handler
}

/// Builds html5ever tags from html5gum's events and passes them on.
struct Builder<'h, H> {
    handler: &'h mut H,
    /// The start tag being read: its name and the attributes so far. One tag is reused for
    /// every start tag, so that its attribute list is not allocated and freed each time.
    tag: Tag,
    /// A start tag is being read (`tag` is not the last one's leftovers).
    open: bool,
    /// The attribute just named repeats an earlier one: its value is dropped.
    skip_value: bool,
    /// The state the handler asked for after the last start tag.
    next_state: Option<State>,
}

impl<H: Handler> Callback<Infallible, ()> for Builder<'_, H> {
    fn handle_event(&mut self, event: CallbackEvent<'_>, _span: Span<()>) -> Option<Infallible> {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                self.tag.name = local_name(name);
                self.tag.self_closing = false;
                self.tag.had_duplicate_attributes = false;
                self.tag.attrs.clear();
                self.open = true;
            }
            CallbackEvent::AttributeName { name } => self.attribute_name(name),
            CallbackEvent::AttributeValue { value } => {
                if let Some(attr) = self.tag.attrs.last_mut()
                    && self.open
                    && !self.skip_value
                {
                    attr.value = StrTendril::from_slice(&utf8(value));
                }
            }
            CallbackEvent::CloseStartTag { self_closing } => {
                if self.open {
                    self.open = false;
                    self.tag.self_closing = self_closing;
                    self.next_state = self.handler.start_tag(&self.tag);
                }
            }
            CallbackEvent::EndTag { name } => {
                self.open = false;
                self.handler.end_tag(local_name(name));
            }
            CallbackEvent::String { value } => self.text(value),
            CallbackEvent::Comment { .. }
            | CallbackEvent::Doctype { .. }
            | CallbackEvent::Error(_) => {}
        }
        None
    }
}

impl<H: Handler> Builder<'_, H> {
    fn attribute_name(&mut self, name: &[u8]) {
        // Attributes seen inside an end tag belong to no tag.
        if !self.open {
            return;
        }
        let tag = &mut self.tag;
        let name = local_name(name);
        if !self.handler.keeps_attribute(&name) {
            self.skip_value = true;
            return;
        }
        self.skip_value = tag.attrs.iter().any(|a| a.name.local == name);
        tag.had_duplicate_attributes |= self.skip_value;
        if !self.skip_value {
            tag.attrs.push(Attribute {
                name: QualName::new(None, html5ever::ns!(), name),
                value: StrTendril::new(),
            });
        }
    }

    fn text(&mut self, value: &[u8]) {
        if memchr::memchr(0, value).is_none() {
            self.handler.text(&utf8(value));
            return;
        }
        for part in value.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            self.handler.text(&utf8(part));
        }
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

/// Forwards to the callback emitter, and after each start tag switches the tokenizer to the
/// state the handler chose.
struct Relay<'h, H: Handler> {
    inner: CallbackEmitter<Builder<'h, H>>,
}

impl<H: Handler> ForwardingEmitter for Relay<'_, H> {
    type Token = Infallible;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.inner
    }

    /// Parse errors change nothing we extract; checking every input byte for them (control
    /// characters, noncharacters) took a tenth of the scan.
    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn emit_error(&mut self, _error: html5gum::Error) {}

    fn emit_current_tag(&mut self) -> Option<State> {
        // The inner emitter switches states only when told to guess them, which it is not.
        let _guess = self.inner.emit_current_tag();
        self.inner.callback_mut().next_state.take()
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
