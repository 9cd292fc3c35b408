//! Tests of the HTML and JS extractors through the public API.

use std::time::{Duration, Instant};

use super::*;

fn doc(html: &str) -> Document {
    extract_html(html, None)
}

fn doc_at(html: &str, url: &str) -> Document {
    extract_html(html, Some(&url::Url::parse(url).unwrap()))
}

fn zone(d: &Document, kind: ZoneKind) -> &str {
    d.zone(kind).map_or("", |z| z.text.as_str())
}

fn text(html: &str) -> String {
    zone(&doc(html), ZoneKind::Text).to_owned()
}

fn hidden(html: &str) -> String {
    zone(&doc(html), ZoneKind::HiddenText).to_owned()
}

// ---- basics ----

#[test]
fn empty_document_has_no_zones() {
    for html in [
        "",
        "   \n\t",
        "<html><head></head><body></body></html>",
        "<!-- x -->",
    ] {
        let d = doc(html);
        assert!(d.zones.is_empty(), "{html:?}: {:?}", d.zones);
        assert!(d.links.is_empty() && d.scripts.is_empty() && d.redirects.is_empty());
        assert_eq!(d.kind, ContentKind::Html);
        assert_eq!(d.base_url, None);
    }
}

#[test]
fn zones_are_in_kind_order_and_non_empty() {
    let d = doc_at(
        "<title>T</title><meta name=keywords content=k><img alt=A><a href=/x>L</a>
         <script>s()</script><iframe src=/f></iframe><form action=/p></form>
         <meta http-equiv=refresh content='0;url=/r'><div hidden>H</div>body",
        "http://e.cn/",
    );
    let kinds: Vec<ZoneKind> = d.zones.iter().map(|z| z.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
    assert_eq!(kinds.len(), 10, "{kinds:?}");
    assert!(d.zones.iter().all(|z| !z.text.is_empty()));
}

// ---- text ----

#[test]
fn inline_elements_do_not_separate_text() {
    assert_eq!(
        text("<p>赌<b>博</b><span>网</span><a href=#>站</a></p>"),
        "赌博网站"
    );
    assert_eq!(text("a<i>b</i>c<font color=red>d</font>"), "abcd");
}

#[test]
fn blocks_and_br_make_lines() {
    assert_eq!(
        text("<div>a</div><div>b<p>c</p>d</div>e<br>f<br/><br>g"),
        "a\nb\nc\nd\ne\nf\ng"
    );
    assert_eq!(
        text("<ul><li>one</li><li>two</ul><h1>t</h1>x"),
        "one\ntwo\nt\nx"
    );
    assert_eq!(
        text("<table><tr><td>a</td><td>b</td></tr><tr><th>c</th><td>d</td></tr></table>"),
        "a b\nc d"
    );
    assert_eq!(text("<select><option>x<option>y</select>"), "x\ny");
}

#[test]
fn whitespace_collapses_without_blank_lines() {
    assert_eq!(
        text("  <p>  a \n\n  b&nbsp;&nbsp;c\u{3000}d </p>\n\n<p>\n</p><div> </div>  <p>e</p> "),
        "a b c d\ne"
    );
}

#[test]
fn pre_keeps_line_breaks() {
    assert_eq!(text("<pre>a\n  b\n\nc</pre>d"), "a\nb\nc\nd");
    assert_eq!(text("<textarea>x\ny</textarea>z"), "x\ny\nz");
}

#[test]
fn entities_are_decoded() {
    let d = doc("<p>&#36172;&#21338;&amp;&lt;b&gt;&#x7f51;</p>\
         <img alt='&#36172;&#x573a;'><a href='/&#36172;'>&#x94B1;</a>");
    assert_eq!(zone(&d, ZoneKind::Text), "赌博&<b>网\n钱");
    assert_eq!(zone(&d, ZoneKind::Attr), "赌场");
    assert_eq!(d.links[0].url, "/赌");
    assert_eq!(d.links[0].text, "钱");
}

#[test]
fn script_style_and_comments_are_not_text() {
    let d = doc(
        "<style>.a{color:red}</style><script>var x='<p>赌博</p>';</script>\
         <!-- 注释 --><p>visible</p><script src=a.js></script>",
    );
    assert_eq!(zone(&d, ZoneKind::Text), "visible");
    assert_eq!(zone(&d, ZoneKind::Script), "var x='<p>赌博</p>';\na.js");
    assert_eq!(d.scripts.len(), 2);
    assert_eq!(d.scripts[0].src, None);
    assert_eq!(d.scripts[0].inline_len, "var x='<p>赌博</p>';".len());
    assert_eq!(d.scripts[1].src.as_deref(), Some("a.js"));
}

#[test]
fn noscript_is_visible_text() {
    assert_eq!(
        text("<noscript><a href=/x>澳门赌场</a></noscript>y"),
        "澳门赌场\ny"
    );
}

#[test]
fn raw_text_elements() {
    // xmp shows markup literally; plaintext runs to the end; title is not text.
    assert_eq!(text("<xmp><b>x</b></xmp>y"), "<b>x</b>\ny");
    assert_eq!(text("a<plaintext></plaintext><p>b"), "a\n</plaintext><p>b");
    let d = doc("<title>  标题 \n x </title><p>t</p>");
    assert_eq!(zone(&d, ZoneKind::Title), "标题 x");
    assert_eq!(zone(&d, ZoneKind::Text), "t");
}

// ---- title, meta, attr ----

#[test]
fn meta_zone() {
    let d = doc(
        "<meta name=Description content=' 描述\n  文字 '><meta name=KEYWORDS content='k1,k2'>\
         <meta property=og:title content=OG><meta name=author content=no>\
         <meta property='og:description' content=ogd><meta name=keywords content=''>",
    );
    assert_eq!(zone(&d, ZoneKind::Meta), "描述 文字\nk1,k2\nOG\nogd");
}

#[test]
fn attr_zone() {
    let d = doc(
        "<img alt='  图片 说明 ' title='图片 说明'><a href=# title=链接标题>x</a>\
         <img alt=''><div title=t2></div>",
    );
    assert_eq!(zone(&d, ZoneKind::Attr), "图片 说明\n链接标题\nt2");
}

// ---- links ----

#[test]
fn link_zone_format_and_anchor_text() {
    let d = doc_at(
        "<a href='/a'> 赌博\n<b>网站</b> </a>\
         <a href='b.html'><img src=x alt='图片'></a>\
         <a href='javascript:void(0)'>js</a><a href='mailto:x@y.cn'></a>\
         <map><area href='/m' alt='区域'></map><a name=top>no href</a>",
        "http://example.com/dir/page.html",
    );
    assert_eq!(
        zone(&d, ZoneKind::Link),
        "http://example.com/a 赌博 网站\nhttp://example.com/dir/b.html 图片\n\
         javascript:void(0) js\nmailto:x@y.cn\nhttp://example.com/m 区域"
    );
    assert_eq!(d.links.len(), 5);
    assert_eq!(d.links[4].tag, "area");
    assert_eq!(d.links[0].tag, "a");
    assert!(d.links.iter().all(|l| !l.hidden));
}

#[test]
fn base_href_wins_over_page_url() {
    let html = "<a href=x.html>x</a><base href='/sub/'><base href='http://other.cn/'>";
    let d = doc_at(html, "http://example.com/a/b.html");
    assert_eq!(d.links[0].url, "http://example.com/sub/x.html");
    assert_eq!(d.base_url.as_deref(), Some("http://example.com/sub/"));
    // Without a page URL, an absolute base still resolves; a relative one cannot.
    let d = doc("<base href='http://b.cn/d/'><a href=x>x</a><script src=s.js></script>");
    assert_eq!(d.links[0].url, "http://b.cn/d/x");
    assert_eq!(d.scripts[0].src.as_deref(), Some("http://b.cn/d/s.js"));
    let d = doc("<base href='/d/'><a href=x>x</a>");
    assert_eq!(d.links[0].url, "x");
    assert_eq!(d.base_url, None);
}

#[test]
fn urls_in_display_form() {
    let d = doc_at(
        "<a href='/赌博?q=澳门'>x</a><a href='http://xn--mnq71bg99e.com/'>y</a><a href=' /a b '>z</a>",
        "http://example.com/",
    );
    assert_eq!(d.links[0].url, "http://example.com/赌博?q=澳门");
    assert!(!d.links[1].url.contains("xn--"), "{}", d.links[1].url);
    assert_eq!(d.links[2].url, "http://example.com/a%20b");
    assert_eq!(
        zone(&d, ZoneKind::Link).lines().nth(2),
        Some("http://example.com/a%20b z")
    );
}

#[test]
fn nested_anchor_closes_the_previous_one() {
    let d = doc("<a href=/1>one<a href=/2>two</a>three");
    assert_eq!(d.links[0].text, "one");
    assert_eq!(d.links[1].text, "two");
    assert_eq!(zone(&d, ZoneKind::Text), "onetwothree");
}

#[test]
fn unclosed_anchor_ends_with_its_parent_or_the_document() {
    let d = doc("<div><a href=/1>one</div>two<p><a href=/2>three");
    assert_eq!(d.links[0].text, "one");
    assert_eq!(d.links[1].text, "three");
}

#[test]
fn anchor_text_is_capped() {
    let long = "字".repeat(5000);
    let d = doc(&format!("<a href=/x>{long}</a>"));
    assert!(d.links[0].text.len() <= ANCHOR_TEXT_CAP);
    assert!(d.links[0].text.starts_with("字字"));
    assert_eq!(zone(&d, ZoneKind::Text), long);
}

// ---- scripts, iframes, forms, redirects ----

#[test]
fn iframe_zone_and_flags() {
    let d = doc_at(
        "<iframe src='/a' width=0 height=0>您的浏览器不支持</iframe>\
         <iframe src='http://x.cn/b' style='width:1px;height:1px'></iframe>\
         <iframe src=/c width=300 height=200></iframe>\
         <div style='display:none'><iframe src=/d></iframe></div>\
         <frameset><frame src=/e></frameset><iframe srcdoc='<p>内嵌&amp;文</p>'></iframe>",
        "http://e.cn/",
    );
    assert_eq!(
        zone(&d, ZoneKind::Iframe),
        "http://e.cn/a\nhttp://x.cn/b\nhttp://e.cn/c\nhttp://e.cn/d\nhttp://e.cn/e"
    );
    let flags: Vec<(bool, bool)> = d.iframes.iter().map(|f| (f.zero_size, f.hidden)).collect();
    assert_eq!(
        flags,
        [
            (true, false),
            (true, false),
            (false, false),
            (false, true),
            (false, false),
            (false, false)
        ]
    );
    assert_eq!(d.iframes[4].tag, "frame");
    assert_eq!(d.iframes[5].src, "");
    // Fallback content is hidden text; srcdoc text is visible.
    assert_eq!(zone(&d, ZoneKind::HiddenText), "您的浏览器不支持");
    assert_eq!(zone(&d, ZoneKind::Text), "内嵌&文");
}

#[test]
fn form_zone_and_password() {
    let d = doc_at(
        "<form action='/login' METHOD=' POST '><input type=text><input type=' Password '></form>\
         <form><input type=password></form>\
         <table><form action=/t><tr><td><input type=password></td></tr></table></form>\
         <input type=password><form action=/s method=bogus></form>",
        "http://bank.example/x",
    );
    assert_eq!(
        zone(&d, ZoneKind::Form),
        "http://bank.example/login\nhttp://bank.example/x\nhttp://bank.example/t\nhttp://bank.example/s"
    );
    let summary: Vec<(&str, bool)> = d
        .forms
        .iter()
        .map(|f| (f.method.as_str(), f.has_password))
        .collect();
    assert_eq!(
        summary,
        [("post", true), ("get", true), ("get", true), ("get", false)]
    );
    // No page URL and no action: the form has an empty action and no zone line.
    let d = doc("<form><input type=password></form>");
    assert_eq!(d.forms[0].action, "");
    assert!(d.zone(ZoneKind::Form).is_none());
}

#[test]
fn meta_refresh_redirects() {
    let d = doc_at(
        "<meta http-equiv='Refresh ' content='0; URL=http://a.cn/'>\
         <META HTTP-EQUIV=REFRESH CONTENT=\"5;url='/b'\">\
         <meta http-equiv=refresh content=30>\
         <noscript><meta http-equiv=refresh content='0,url=/c'></noscript>",
        "http://e.cn/",
    );
    assert_eq!(
        zone(&d, ZoneKind::Redirect),
        "http://a.cn/\nhttp://e.cn/b\nhttp://e.cn/c"
    );
    assert_eq!(d.redirects[1].delay, Some(5));
    assert!(
        d.redirects
            .iter()
            .all(|r| r.kind == RedirectKind::MetaRefresh)
    );
}

#[test]
fn js_redirects_in_scripts_and_handlers() {
    let d = doc_at(
        "<script>if(x){window.location.href = \"http://a.cn/1\";} top.location='/2';</script>\
         <body onload=\"location.replace('/3')\"><img src=x onerror='self.location=\"/4\"'>\
         <script>if (location.href == 'http://no/') {}</script>",
        "http://e.cn/",
    );
    assert_eq!(
        zone(&d, ZoneKind::Redirect),
        "http://a.cn/1\nhttp://e.cn/2\nhttp://e.cn/3\nhttp://e.cn/4"
    );
    assert!(
        d.redirects
            .iter()
            .all(|r| r.kind == RedirectKind::JsLocation && r.delay.is_none())
    );
    let script = zone(&d, ZoneKind::Script);
    assert!(script.contains("location.replace('/3')"), "{script}");
    assert_eq!(d.scripts.len(), 2);
}

#[test]
fn extract_js_finds_redirects() {
    let js = "var a=1;\ndocument.location = 'https://evil.cn/x';\nwindow.location.assign(\"/y\")";
    let d = extract_js(js, Some(&url::Url::parse("http://e.cn/j.js").unwrap()));
    assert_eq!(d.kind, ContentKind::Js);
    assert_eq!(zone(&d, ZoneKind::Js), js);
    assert_eq!(
        zone(&d, ZoneKind::Redirect),
        "https://evil.cn/x\nhttp://e.cn/y"
    );
    assert_eq!(d.zones[0].kind, ZoneKind::Redirect);
    let d = extract_js("var a;", None);
    assert_eq!(d.zones.len(), 1);
    assert!(extract_js("", None).zones.is_empty());
}

// ---- hidden text ----

#[test]
fn inline_style_hiding_tricks() {
    let cases = [
        "<div style='display:none'>X</div>",
        "<div style='DISPLAY: None !important'>X</div>",
        "<span style='visibility:hidden'>X</span>",
        "<div hidden>X</div>",
        "<div style='position:absolute;left:-9999px'>X</div>",
        "<div style='position:absolute; top:-2000px'>X</div>",
        "<div style='text-indent:-9999px'>X</div>",
        "<div style='font-size:0'>X</div>",
        "<div style='height:0;overflow:hidden'>X</div>",
        "<div style='width:1px;height:1px;overflow:hidden'>X</div>",
        "<marquee height=1 width=1>X</marquee>",
        "<marquee style='height:2px'>X</marquee>",
        "<div style='opacity:0'>X</div>",
        "<template><p>X</p></template>",
        "<div style='disp/**/;display:/* c */none'>X</div>",
        "<div style='position:absolute;clip:rect(0 0 0 0)'>X</div>",
        "<div style='position:fixed;top:-987px;left:-987px'>X</div>",
        "<div style='clip-path:inset(50%)'>X</div>",
        "<div style='transform:scale(0)'>X</div>",
        "<div style='filter:alpha(opacity=0)'>X</div>",
        "<div style='max-height:0;overflow:hidden'>X</div>",
        "<p style='font-size:1px;color:#fff'>X</p>",
    ];
    for case in cases {
        let html = format!("<p>before</p>{case}<p>after</p>");
        let d = doc(&html);
        assert_eq!(zone(&d, ZoneKind::Text), "before\nafter", "{case}");
        assert_eq!(zone(&d, ZoneKind::HiddenText), "X", "{case}");
    }
}

#[test]
fn harmless_styles_do_not_hide() {
    for case in [
        "<div style='display:block'>X</div>",
        "<div style='left:-9999px'>X</div>",
        "<div style='position:absolute;left:-10px'>X</div>",
        "<div style='height:0'>X</div>",
        "<div style='font-size:12px'>X</div>",
        "<marquee height=30>X</marquee>",
        "<div aria-hidden=true>X</div>",
        "<div class=hidden>X</div>",
        "<div style='clip:rect(0 0 0 0)'>X</div>",
        "<div style='transform:translateX(-3000px)'>X</div>",
        "<div style='max-height:0'>X</div>",
    ] {
        assert_eq!(text(case), "X", "{case}");
        assert_eq!(hidden(case), "", "{case}");
    }
}

#[test]
fn children_can_undo_inherited_hiding_but_not_display_none() {
    assert_eq!(
        text("<div style='visibility:hidden'>a<span style='visibility:visible'>b</span></div>"),
        "b"
    );
    assert_eq!(
        text(
            "<div style='font-size:0'>a<span style='font-size:14px'>b</span><i style='font-size:2em'>c</i></div>"
        ),
        "b"
    );
    assert_eq!(
        text(
            "<div style='display:none'>a<span style='display:block;visibility:visible'>b</span></div>"
        ),
        ""
    );
}

#[test]
fn style_block_selectors_hide() {
    let css = "<style>
        <!--
        .seo, #links { display : none }
        div.box{position:absolute;left:-3000px}
        .a.b { visibility: hidden }
        @media print { .noprint { display: none } }
        .x:hover { display:none }
        -->
        </style>";
    let html = format!(
        "{css}<div class='c1 SEO'>赌场</div><ul id=links><li>六合彩</ul>\
         <div class=box>彩票</div><span class=box>ok1</span><p class='b a'>真人</p>\
         <p class=a>ok2</p><p class=noprint>ok3</p><p class=x>ok4</p>"
    );
    let d = doc(&html);
    assert_eq!(zone(&d, ZoneKind::Text), "ok1\nok2\nok3\nok4");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "赌场\n六合彩\n彩票\n真人");
}

#[test]
fn style_block_after_content_still_applies() {
    let d = doc(
        "<div class=hl><a href='http://bet.cn/'>博彩</a></div><p>正文</p>\
         <STYLE type=text/css>.hl{display:none}</STYLE>",
    );
    assert_eq!(zone(&d, ZoneKind::Text), "正文");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "博彩");
    assert!(d.links[0].hidden);
}

#[test]
fn a_wrapper_written_by_a_script_hides_the_markup_after_it() {
    // The link farm's own markup sits between two scripts that write the hidden wrapper.
    for (open, close) in [
        (
            r#"<script>document.write('<div style="display:none">');</script>"#,
            "<script>document.write('</div>')</script>",
        ),
        (
            r#"<script type="text/javascript">document.write("<div style=\"position: absolute; top: -987px;left: -987px;\">")</script>"#,
            "</div>",
        ),
        (
            "<SCRIPT>\n<!--\ndocument.writeln(\"<span style='font-size:0'>\");\n//-->\n</SCRIPT>",
            "<script>document.write(\"</span>\");</script>",
        ),
    ] {
        let html = format!(
            "<p>前</p>{open}<a href='http://a.test/'>六合彩</a> <a href='http://b.test/'>百家乐</a>{close}<p>后</p>"
        );
        let d = doc(&html);
        assert_eq!(zone(&d, ZoneKind::Text), "前\n后", "{html}");
        assert_eq!(zone(&d, ZoneKind::HiddenText), "六合彩 百家乐", "{html}");
        assert!(d.links.iter().all(|l| l.hidden), "{html}");
    }
}

#[test]
fn scripts_that_write_more_than_a_wrapper_change_nothing() {
    for script in [
        "<script>document.write('<div style=\"display:none\">x</div>');</script>",
        "<script>document.write('<div style=\"display:none\">'); go();</script>",
        "<script>document.write('<div style=\"display:'+d+'\">');</script>",
        "<script>document.write('<script src=x.js>');</script>",
        "<script src=w.js>document.write('<div style=\"display:none\">');</script>",
        "<script>var s = \"document.write('<div hidden>')\";</script>",
    ] {
        let html = format!("{script}<p>正文</p>");
        assert_eq!(text(&html), "正文", "{script}");
    }
}

#[test]
fn elements_a_script_hides_by_id_are_hidden() {
    let d = doc(
        "<div id='fl'>友情链接 <a href='http://a.test/'>六合彩</a></div><p>正文</p>\
         <script>document.getElementById(\"fl\").style.display=\"none\";</script>",
    );
    assert_eq!(zone(&d, ZoneKind::Text), "正文");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "友情链接 六合彩");
    assert!(d.links[0].hidden);
    // Showing an element, or hiding another, hides nothing here.
    let d = doc("<div id='menu'>菜单</div><div id='tab2'>内容</div>\
         <script>document.getElementById('menu').style.display='block';\
         document.getElementById(id).style.display='none';</script>\
         <script>if (uid) { document.getElementById('menu').style.display='none'; }</script>\
         <li onmouseout=\"document.getElementById('tab2').style.display='none'\">x</li>");
    assert_eq!(zone(&d, ZoneKind::Text), "菜单\n内容\nx");
}

#[test]
fn anti_clickjacking_html_rule_does_not_hide_the_page() {
    let d = doc("<style>html{display:none}body{visibility:hidden}</style><p>正文</p>");
    assert_eq!(zone(&d, ZoneKind::Text), "正文");
}

#[test]
fn hidden_links_iframes_forms_are_flagged() {
    let d = doc(
        "<div style='position:absolute;top:-999px'><a href=/h>隐藏</a><iframe src=/i></iframe>\
         <form action=/f></form></div><a href=/v>可见</a>",
    );
    assert!(d.links[0].hidden);
    assert!(!d.links[1].hidden);
    assert!(d.iframes[0].hidden);
    assert!(d.forms[0].hidden);
    assert_eq!(zone(&d, ZoneKind::Link), "/h 隐藏\n/v 可见");
}

#[test]
fn hidden_runs_are_separated_by_visible_text() {
    let html = "<span hidden>赌</span>可见<span hidden>博</span>";
    assert_eq!(hidden(html), "赌 博");
    assert_eq!(text(html), "可见");
    assert_eq!(text("赌<span hidden>x</span>博"), "赌博");
}

#[test]
fn fallback_content_goes_to_hidden_text() {
    let d = doc("<noframes><a href=/x>免费&#30005;影</a><script>z()</script></noframes><p>v</p>");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "免费电影");
    assert_eq!(zone(&d, ZoneKind::Text), "v");
    assert!(d.links.is_empty(), "fallback markup is text, not links");
}

// ---- implied end tags and broken markup ----

#[test]
fn implied_end_tags_close_hidden_elements() {
    assert_eq!(text("<p style='display:none'>x<p>shown"), "shown");
    assert_eq!(text("<p hidden>x<div>shown</div>"), "shown");
    assert_eq!(text("<ul><li hidden>x<li>shown</ul>"), "shown");
    assert_eq!(text("<ul><li>a<ul><li>b</ul>c</ul>"), "a\nb\nc");
    assert_eq!(text("<dl><dt hidden>x<dd>shown</dl>"), "shown");
    assert_eq!(
        text("<select><option hidden>x<option>shown</select>"),
        "shown"
    );
    assert_eq!(text("<table><tr><td hidden>x<td>shown</table>"), "shown");
    assert_eq!(
        text("<table><tr hidden><td>x<tr><td>shown</table>"),
        "shown"
    );
    assert_eq!(text("<h1 hidden>x<h2>shown</h2>"), "shown");
    assert_eq!(text("<table><tr><td><p hidden>x<td>shown</table>"), "shown");
}

#[test]
fn p_inside_button_or_table_cell_is_not_closed_from_outside() {
    // The inner <div> must not close the <p> outside the cell: text stays hidden.
    assert_eq!(
        text("<p hidden><table><tr><td><div>x</div></table>y</p>z"),
        "z"
    );
}

#[test]
fn broken_markup() {
    assert_eq!(text("<div style='display:none'>x"), "");
    assert_eq!(hidden("<div style='display:none'>x"), "x");
    assert_eq!(text("</span></div></b>a<b>b</i>c</b>d"), "abcd");
    assert_eq!(text("<div title='unclosed>x</div><p>y'>z"), "z");
    assert_eq!(
        text("a<div title='unclosed>x</div><p>y"),
        "a",
        "a tag cut by EOF is dropped"
    );
    assert_eq!(text("<p>a</p></p></p>b"), "a\nb");
    assert_eq!(text("<<<>>>a< b <c"), "<<<>>>a< b");
    let d = doc("<a href='/x'>t");
    assert_eq!(d.links[0].text, "t");
    let d = doc("<script>location.href='/never-closed'");
    assert_eq!(d.redirects.len(), 1);
}

#[test]
fn stray_end_tag_does_not_pop_unrelated_elements() {
    assert_eq!(text("<div hidden>x</span>y</div>z"), "z");
    assert_eq!(hidden("<div hidden>x</span>y</div>z"), "xy");
}

#[test]
fn svg_self_closing_elements() {
    let d = doc("<svg><path/><rect/><title>t</title></svg><p>after</p><a href=/l>l</a>");
    assert_eq!(zone(&d, ZoneKind::Text), "after\nl");
    assert_eq!(d.links.len(), 1);
    // A self-closing script in SVG does not swallow the page.
    assert_eq!(text("<svg><script href=x /></svg>visible"), "visible");
}

// ---- hostile input ----

fn run_timed(html: &str, limit: Duration) -> Document {
    let start = Instant::now();
    let d = doc(html);
    let elapsed = start.elapsed();
    assert!(elapsed < limit, "took {elapsed:?}");
    d
}

#[test]
fn deep_nesting_is_fast_and_bounded() {
    let n = 100_000;
    let html = format!("{}深{}浅", "<div>".repeat(n), "</div>".repeat(n));
    let d = run_timed(&html, Duration::from_secs(10));
    assert_eq!(zone(&d, ZoneKind::Text), "深\n浅");

    let html = format!("{}<a href=/x>深", "<span><b>".repeat(n));
    let d = run_timed(&html, Duration::from_secs(10));
    assert_eq!(d.links[0].text, "深");

    // Stray end tags at full depth must not scan the stack each time.
    let html = format!("{}{}x", "<i>".repeat(MAX_DEPTH), "</nope>".repeat(n));
    let d = run_timed(&html, Duration::from_secs(10));
    assert_eq!(zone(&d, ZoneKind::Text), "x");
}

#[test]
fn hiding_beyond_the_depth_cap_still_works() {
    let deep = MAX_DEPTH + 100;
    let html = format!(
        "{}<div style='display:none'>隐<b>藏</b></div>可见{}<p>外",
        "<div>".repeat(deep),
        "</div>".repeat(deep)
    );
    let d = doc(&html);
    assert_eq!(zone(&d, ZoneKind::HiddenText), "隐藏");
    assert_eq!(zone(&d, ZoneKind::Text), "可见\n外");
}

#[test]
fn binary_garbage_does_not_panic() {
    let mut seed: u64 = 0x1234_5678;
    let mut bytes = Vec::with_capacity(200_000);
    for _ in 0..200_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        bytes.push((seed >> 33) as u8);
    }
    let garbage = String::from_utf8_lossy(&bytes);
    let d = doc(&garbage);
    assert!(d.zones.iter().all(|z| !z.text.is_empty()));
    // Markup-dense garbage too.
    let alphabet: Vec<char> = "<>/=\"' abdivpscrtyle-:;{}!&#x\n\0".chars().collect();
    let mut s = String::new();
    for _ in 0..100_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
    }
    let _ = doc(&s);
    let _ = doc(&format!("<style>{s}</style>{s}"));
}

#[test]
fn many_distinct_tag_names() {
    let mut html = String::new();
    for i in 0..20_000 {
        html.push_str(&format!("<x{i}>"));
    }
    html.push('t');
    let d = run_timed(&html, Duration::from_secs(10));
    assert_eq!(zone(&d, ZoneKind::Text), "t");
}

// ---- other kinds ----

#[test]
fn plain_and_dispatch() {
    let d = extract(ContentKind::Plain, "hello", None);
    assert_eq!(zone(&d, ZoneKind::Plain), "hello");
    let d = extract(ContentKind::Html, "<b>hi</b>", None);
    assert_eq!(zone(&d, ZoneKind::Text), "hi");
    assert_eq!(ZoneKind::parse("hidden_text"), Some(ZoneKind::HiddenText));
}
