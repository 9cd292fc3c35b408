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
fn field_zone_lists_what_visitors_fill_in() {
    let d = doc("<form action=a.php><input name=u placeholder='邮箱/QQ号'>\
         <input type=PASSWORD name=p placeholder=密码 aria-label=密码 title='Your password'>\
         <input type=hidden name=token value=x><input type=submit><input type=checkbox name=r>\
         <textarea id=phrase placeholder='12-word phrase'></textarea></form>\
         <div style='display:none'><select name=exp_month title='Exp month'></select></div>\
         <input type=tel>");
    assert_eq!(
        zone(&d, ZoneKind::Field),
        "text u 邮箱/QQ号\npassword p 密码 / Your password\ntextarea phrase 12-word phrase\n\
         select exp_month Exp month\ntel -"
    );
    let forms: Vec<Option<usize>> = d.fields.iter().map(|f| f.form).collect();
    assert_eq!(forms, [Some(0), Some(0), Some(0), None, None]);
    let hidden: Vec<bool> = d.fields.iter().map(|f| f.hidden).collect();
    assert_eq!(hidden, [false, false, false, true, false]);
    // Fields that a template's code prints join the markup's, with their own form.
    let d = tpl("<form action=a.php><input name=u></form>\
         <?php echo '<form action=\"b.php\"><input type=\"password\" name=\"pwd\"></form>'; ?>");
    assert_eq!(zone(&d, ZoneKind::Field), "text u\npassword pwd");
    assert_eq!(d.fields[1].form, Some(1));
    assert_eq!(d.forms[1].action, "b.php");
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

#[test]
fn zone_kinds_are_consistent() {
    let mut bits = 0u16;
    for (i, kind) in ZoneKind::ALL.into_iter().enumerate() {
        assert_eq!(kind as usize, i, "{kind:?}");
        assert_eq!(ZoneKind::parse(kind.as_str()), Some(kind));
        assert_eq!(bits & kind.bit(), 0, "{kind:?}");
        bits |= kind.bit();
    }
    assert_eq!(ZoneKind::parse("code"), Some(ZoneKind::Code));
    assert!(crate::rules::DEFAULT_ZONES.contains(&ZoneKind::Code));
}

#[test]
fn kinds_from_extensions() {
    use crate::scan::kind_for_path;
    use std::path::Path;
    for (path, kind) in [
        ("a.php", ContentKind::Template),
        ("views/slot.blade.php", ContentKind::Template),
        ("A.PHP5", ContentKind::Template),
        ("x.phtml", ContentKind::Template),
        ("default.asp", ContentKind::Template),
        ("x.aspx", ContentKind::Template),
        ("x.jsp", ContentKind::Template),
        ("x.ftl", ContentKind::Template),
        ("x.tpl", ContentKind::Template),
        ("x.erb", ContentKind::Template),
        ("x.hbs", ContentKind::Template),
        ("x.vue", ContentKind::Component),
        ("x.svelte", ContentKind::Component),
        ("x.tsx", ContentKind::Jsx),
        ("x.jsx", ContentKind::Jsx),
        ("notes.md", ContentKind::Plain),
        ("x.markdown", ContentKind::Plain),
        ("x.htm", ContentKind::Html),
        ("x.js", ContentKind::Js),
    ] {
        assert_eq!(kind_for_path(Path::new(path)), Some(kind), "{path}");
    }
    assert_eq!(kind_for_path(Path::new("x.png")), None);
    assert_eq!(kind_for_path(Path::new("Makefile")), None);
}

// ---- templates ----

fn tpl(src: &str) -> Document {
    let d = extract(ContentKind::Template, src, None);
    assert_eq!(d.kind, ContentKind::Template);
    let kinds: Vec<ZoneKind> = d.zones.iter().map(|z| z.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(kinds, sorted, "zones in kind order, once each");
    assert!(d.zones.iter().all(|z| !z.text.is_empty()));
    d
}

#[test]
fn php_blocks_are_code_not_text() {
    let d = tpl("<p>前</p><?php $a->b = 1; if ($x > 2) { echo $a->c; } ?><p>后</p>");
    assert_eq!(zone(&d, ZoneKind::Text), "前\n后");
    assert_eq!(
        zone(&d, ZoneKind::Code),
        "$a->b = 1; if ($x > 2) { echo $a->c; }"
    );
    // As HTML alone, `<?php` is a bogus comment that ends at the first `>` (in `->`).
    assert!(text("<?php $a->b = 1; ?><p>x</p>").contains("b = 1"));
}

#[test]
fn each_block_syntax() {
    for (src, code) in [
        ("a<?= $title ?>b", "$title"),
        ("a<? echo 1; ?>b", "echo 1;"),
        ("a<?PHP\necho 1;\n?>b", "echo 1;"),
        ("a<% Response.Write x %>b", "Response.Write x"),
        (
            "a<%= request.getParameter(\"q\") %>b",
            "request.getParameter(\"q\")",
        ),
        (
            "a<%@ page contentType=\"text/html; charset=GBK\" %>b",
            "page contentType=\"text/html; charset=GBK\"",
        ),
        (
            "a<%-- a JSP comment with %> inside? no: --%>b",
            "a JSP comment with %> inside? no:",
        ),
        ("a<%- include('x') -%>b", "include('x')"),
        (
            "a<script runat=\"server\" language=\"C#\">void F() { if (a<b) {} }</script>b",
            "void F() { if (a<b) {} }",
        ),
        (
            "a<SCRIPT LANGUAGE=VBScript RUNAT=Server>x = 1</SCRIPT>b",
            "x = 1",
        ),
        ("a<#if user??>x</#if>b", "#if user??\n/#if"),
        ("a<#-- <p>no</p> -->b", "<p>no</p>"),
        (
            "a<@layout.page title=\"x>y\"/>b",
            "@layout.page title=\"x>y\"/",
        ),
    ] {
        let d = tpl(src);
        let t = zone(&d, ZoneKind::Text);
        assert!(t == "a b" || t == "a x b", "{src:?}: text {t:?}");
        assert_eq!(zone(&d, ZoneKind::Code), code, "{src:?}");
    }
    // Not code: an XML declaration, a plain `<script>`, markup `<` in text.
    let d = tpl("<?xml version=\"1.0\"?><p>a &lt; b</p><script>var x = 1 <2;</script>");
    assert!(d.zone(ZoneKind::Code).is_none());
    assert_eq!(zone(&d, ZoneKind::Text), "a < b");
    assert_eq!(zone(&d, ZoneKind::Script), "var x = 1 <2;");
}

#[test]
fn php_close_tag_in_strings_and_comments() {
    let src = "<?php $s = '?>'; $t = \"a?>b\\\"?>\"; /* ?> */ $h = <<<EOT\n<p>?></p>\n  EOT;\n\
               $n = <<<'N'\n?>\nN;\n# it's here ?>after <?php // don't ?>end";
    let d = tpl(src);
    assert_eq!(zone(&d, ZoneKind::Text), "after end");
    let code = zone(&d, ZoneKind::Code);
    assert!(code.starts_with("$s = '?>';"), "{code}");
    assert!(code.ends_with("N;\n# it's here\n// don't"), "{code}");
}

#[test]
fn unterminated_php_runs_to_the_end() {
    let d = tpl(
        "<html><body><p>hi</p>\n<?php\nfunction f($a) { return $a->b; }\n\
                 echo '<a href=\"http://x.cn/\">赌场</a>';\n",
    );
    assert_eq!(zone(&d, ZoneKind::Text), "hi");
    assert_eq!(
        zone(&d, ZoneKind::Code),
        "function f($a) { return $a->b; }\necho '<a href=\"http://x.cn/\">赌场</a>';"
    );
    assert_eq!(d.links.len(), 1);
    assert_eq!(zone(&d, ZoneKind::Link), "http://x.cn/ 赌场");
    // A string that never ends is code to the end too, as PHP would have it.
    let d = tpl("<?php $x = 'abc ?> <p>t</p>");
    assert!(d.zone(ZoneKind::Text).is_none());
}

#[test]
fn html_printed_by_code_joins_the_structures() {
    let d = tpl("<html><body><p>正文</p><a href=\"/home\">首页</a>\n<?php\n\
         echo '<div style=\"display:none\"><a href=\"http://casino.example/\">澳门赌场</a></div>';\n\
         $ReplaceStr = '<iframe src=\"http://evil.example/x.htm\" width=0 height=0></iframe>\
         <script src=\"http://miner.example/m.js\"></script>';\n\
         echo \"<form action=\\\"http://phish.example/p\\\"><input type=\\\"password\\\"></form>\";\n\
         echo '<title>标题</title><meta name=\"keywords\" content=\"词\"><img alt=\"图\">';\n\
         ?></body></html>");
    assert_eq!(zone(&d, ZoneKind::Text), "正文\n首页");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "澳门赌场");
    assert_eq!(
        zone(&d, ZoneKind::Link),
        "/home 首页\nhttp://casino.example/ 澳门赌场"
    );
    assert!(!d.links[0].hidden);
    assert!(d.links[1].hidden, "{:?}", d.links[1]);
    assert_eq!(zone(&d, ZoneKind::Iframe), "http://evil.example/x.htm");
    assert!(d.iframes[0].zero_size);
    assert_eq!(zone(&d, ZoneKind::Script), "http://miner.example/m.js");
    assert_eq!(zone(&d, ZoneKind::Form), "http://phish.example/p");
    assert!(d.forms[0].has_password);
    assert_eq!(zone(&d, ZoneKind::Title), "标题");
    assert_eq!(zone(&d, ZoneKind::Meta), "词");
    assert_eq!(zone(&d, ZoneKind::Attr), "图");
    assert!(zone(&d, ZoneKind::Code).contains("echo '<div style=\"display:none\">"));
}

#[test]
fn escaped_quotes_in_code_strings_are_read_as_html_quotes() {
    // PHP and Java escape with a backslash, VBScript doubles the quote.
    for src in [
        "<?php echo \"<div style=\\\"display:none\\\"><a href=\\\"http://x.cn/\\\">赌场</a></div>\"; ?>",
        "<% Response.Write \"<div style=\"\"display:none\"\"><a href=\"\"http://x.cn/\"\">赌场</a></div>\" %>",
        "<% out.print(\"<div style=\\\"display:none\\\"><a href=\\\"http://x.cn/\\\" title=\\\"\\\">赌场</a></div>\"); %>",
    ] {
        let d = tpl(src);
        assert_eq!(zone(&d, ZoneKind::HiddenText), "赌场", "{src}");
        assert_eq!(d.links.len(), 1, "{src}");
        assert_eq!(d.links[0].url, "http://x.cn/", "{src}");
        assert!(d.links[0].hidden, "{src}");
    }
}

#[test]
fn code_links_resolve_against_the_page_and_its_base() {
    let url = url::Url::parse("http://site.cn/dir/page.php").unwrap();
    let d = extract(
        ContentKind::Template,
        "<?php echo '<a href=\"x.html\">x</a>'; ?>",
        Some(&url),
    );
    assert_eq!(d.links[0].url, "http://site.cn/dir/x.html");
    let d = extract(
        ContentKind::Template,
        "<base href=\"http://other.cn/b/\"><?php echo '<a href=\"x.html\">x</a>'; ?>",
        Some(&url),
    );
    assert_eq!(d.links[0].url, "http://other.cn/b/x.html");
}

#[test]
fn ordinary_php_page_shows_no_code_as_text() {
    let src = "<?php\n/* Template Name: 首页 */\nget_header();\n$posts = get_posts(array('numberposts' => 5));\n?>\n\
               <div class=\"content\">\n<h1><?php the_title(); ?></h1>\n\
               <?php if (have_posts()) : while (have_posts()) : the_post(); ?>\n\
               <article><h2><a href=\"<?php the_permalink(); ?>\"><?php the_title(); ?></a></h2>\n\
               <p>发布于 <?= get_the_date('Y-m-d') ?></p><?php the_excerpt(); ?></article>\n\
               <?php endwhile; endif; ?>\n<p>欢迎访问本站</p>\n</div>\n<?php get_footer(); ?>\n";
    let d = tpl(src);
    let text = zone(&d, ZoneKind::Text);
    assert_eq!(text, "发布于\n欢迎访问本站");
    for leak in ["(", ")", ";", "$", "=>", "?>", "<?"] {
        assert!(!text.contains(leak), "{leak:?} in {text:?}");
    }
    assert!(d.zone(ZoneKind::HiddenText).is_none());
    assert!(zone(&d, ZoneKind::Code).contains("get_posts(array('numberposts' => 5));"));
}

// ---- components, JSX, Markdown ----

#[test]
fn vue_template_is_visible_markup_and_script_is_js() {
    let src = "<template>\n  <view class=\"main\">\n    <u-navbar title=\"抢单\" />\n\
               <view>{{ vim.remark }} 佣金{{ vim.commission }}%</view>\n\
               <template v-if=\"ok\"><text>充值升级</text></template>\n\
               <a href=\"http://pay.example/\">去充值</a>\n  </view>\n</template>\n\
               <script>\nexport default {\n  methods: { go() { location.href = 'http://pay.example/vip'; } }\n}\n</script>\n\
               <style scoped>.main { color: red }</style>\n";
    let d = extract(ContentKind::Component, src, None);
    assert_eq!(d.kind, ContentKind::Component);
    assert_eq!(
        zone(&d, ZoneKind::Text),
        "{{ vim.remark }} 佣金{{ vim.commission }}% 充值升级 去充值"
    );
    assert!(d.zone(ZoneKind::HiddenText).is_none());
    assert_eq!(zone(&d, ZoneKind::Attr), "抢单");
    assert!(
        d.zone(ZoneKind::Script).is_none(),
        "component code is not a page script"
    );
    assert!(zone(&d, ZoneKind::Js).starts_with("export default {"));
    assert_eq!(zone(&d, ZoneKind::Redirect), "http://pay.example/vip");
    assert_eq!(d.links[0].url, "http://pay.example/");
    // As HTML, a `<template>` is inert: everything in it was hidden text.
    let html = doc(src);
    assert!(html.zone(ZoneKind::Text).is_none());
    assert!(zone(&html, ZoneKind::HiddenText).contains("充值升级"));
}

#[test]
fn svelte_markup_and_self_closing_elements() {
    let src = "<script>\n  let n = 0;\n</script>\n<svelte:head><title>赌场</title>\
               <script src=\"http://miner.example/m.js\" /></svelte:head>\n\
               <div style=\"display:none\"><a href=\"http://x.cn/\">六合彩</a></div>\n<p>可见</p>";
    let d = extract(ContentKind::Component, src, None);
    assert_eq!(zone(&d, ZoneKind::Js), "let n = 0;");
    assert_eq!(zone(&d, ZoneKind::Title), "赌场");
    assert_eq!(zone(&d, ZoneKind::Script), "http://miner.example/m.js");
    assert_eq!(zone(&d, ZoneKind::Text), "可见");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "六合彩");
    assert!(d.links[0].hidden);
}

#[test]
fn jsx_markup_is_read_and_the_file_is_js() {
    let src = r#"import Head from "next/head";
const re = /<div>/g;
const id = <T,>(x: T) => x;
const s = "<p>not markup</p>";
function cmp(a, b) { return a<b && b > a; }
export default function Page({ items }) {
  const list = useState<string[]>([]);
  return (
    <Layout>
      <Head><title>SALJU88 Slot</title><meta name="keywords" content="judi slot" /></Head>
      <Title level={2}>标题</Title>
      <style>{`.hide { display: none }`}</style>
      <div className="hide"><a href="http://casino.example/">澳门赌场</a></div>
      <p style={{ position: "absolute", left: -9999 }}>六合彩</p>
      <p>欢迎 {user.name}, {"官方"} {/* comment */}</p>
      <ul>{items.map((i) => <li key={i.id}>{i.label}</li>)}</ul>
      <Link href="/register"><b>Daftar</b></Link>
      <div dangerouslySetInnerHTML={{ __html: '<a href="http://inner.example/">内</a>' }} />
      <>片段</>
    </Layout>
  );
}
window.location.href = "http://redirect.example/";
"#;
    let d = extract(ContentKind::Jsx, src, None);
    assert_eq!(d.kind, ContentKind::Jsx);
    assert_eq!(zone(&d, ZoneKind::Js), src);
    assert_eq!(zone(&d, ZoneKind::Title), "SALJU88 Slot");
    assert_eq!(zone(&d, ZoneKind::Meta), "judi slot");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "澳门赌场\n六合彩");
    assert_eq!(
        zone(&d, ZoneKind::Text),
        "标题\n欢迎 , 官方\nDaftar\n内\n片段"
    );
    let urls: Vec<(&str, bool)> = d.links.iter().map(|l| (l.url.as_str(), l.hidden)).collect();
    assert_eq!(
        urls,
        [
            ("http://casino.example/", true),
            ("/register", false),
            ("http://inner.example/", false)
        ]
    );
    assert_eq!(zone(&d, ZoneKind::Redirect), "http://redirect.example/");
}

#[test]
fn markdown_quoting_a_script_is_plain_text() {
    let md = "# 门罗币挖矿\n\n```html\n<script src=\"https://coinhive.com/lib/coinhive.min.js\"></script>\n```\n";
    let kind = ContentKind::from_extension("md").unwrap();
    let d = extract(kind, md, None);
    assert_eq!(d.kind, ContentKind::Plain);
    assert!(d.scripts.is_empty());
    assert!(d.zone(ZoneKind::Script).is_none());
    assert_eq!(zone(&d, ZoneKind::Plain), md);
}

#[test]
fn gbk_asp_through_the_scanner() {
    use crate::rules::{self, RuleSource};
    use crate::scan::{ScanOptions, Scanner};
    let text = "<%@ LANGUAGE=\"VBSCRIPT\" CODEPAGE=\"936\" %>\n<html><head>\
                <meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">\
                <title>欢迎光临</title></head><body>\n<%\nDim s\n\
                s = \"<div style=\"\"display:none\"\"><a href=\"\"http://casino.example/\"\">澳门赌场</a></div>\"\n\
                Response.Write s\n%>\n<p>本公司主营五金配件</p></body></html>";
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    let rules = RuleSource::Text {
        name: "test".into(),
        text: "[[rule]]\nid = \"t.casino\"\ncategory = \"gambling\"\nclause = \"§2(7)\"\n\
               severity = \"high\"\ndescription = \"t\"\nterms = [\"澳门赌场\"]\n"
            .into(),
    };
    let (ruleset, _) = rules::load(&[rules]).unwrap();
    let scanner = Scanner::new(std::sync::Arc::new(ruleset), ScanOptions::default());
    let check = |report: &crate::scan::ScanReport| {
        let d = report.document.as_ref().unwrap();
        assert_eq!(d.kind, ContentKind::Template);
        assert_eq!(zone(d, ZoneKind::Text), "本公司主营五金配件");
        assert_eq!(zone(d, ZoneKind::HiddenText), "澳门赌场");
        assert!(d.links[0].hidden);
        assert!(zone(d, ZoneKind::Code).starts_with("LANGUAGE=\"VBSCRIPT\""));
        let zones: Vec<ZoneKind> = report.evidence.iter().map(|e| e.zone).collect();
        // The rule names no zones: it reads the hidden text and the code alike.
        assert!(zones.contains(&ZoneKind::HiddenText), "{zones:?}");
        assert!(zones.contains(&ZoneKind::Code), "{zones:?}");
    };
    // Sniffed: the bytes start with `<%`.
    let report = scanner.scan_bytes(&bytes, None, "x", None, None);
    assert_eq!(
        report.decoded.as_ref().map(|d| d.encoding),
        Some(encoding_rs::GB18030)
    );
    check(&report);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.asp");
    std::fs::write(&path, &bytes).unwrap();
    check(&scanner.scan_file(&path).unwrap());
}

// ---- hostile input ----

fn all_kinds_timed(src: &str, limit: Duration) {
    for kind in [
        ContentKind::Html,
        ContentKind::Template,
        ContentKind::Component,
        ContentKind::Jsx,
    ] {
        let start = Instant::now();
        let d = extract(kind, src, None);
        let elapsed = start.elapsed();
        assert!(elapsed < limit, "{kind:?} took {elapsed:?}");
        assert!(d.zones.iter().all(|z| !z.text.is_empty()));
    }
}

#[test]
fn templates_survive_hostile_input() {
    // Every prefix of a template that uses every syntax: each cut lands inside some block,
    // string, heredoc, tag or expression.
    let sample = "<p>赌</p><?php $a = '?>“引”'; $h = <<<\"É\"\n<a href=x>链</a>\nÉ;\n# c ?>\
                  <%-- c --%><%= \"\"x\"\" %><script runat=server>x</script><#if (a>b)>é</#if>\
                  <template><div/></template><script>let a=`${<b>粗</b>}`</script>\
                  {x.map(i=><li key={i}>{i}</li>)}<X y={<Z/>} {...p}/><>f</>";
    for (i, _) in sample.char_indices() {
        all_kinds_timed(&sample[..i], Duration::from_secs(5));
    }
    let mut seed: u64 = 0x9e37_79b9;
    let alphabet: Vec<char> = "<>?%#@/=\"'`\\{}()[];:,.-_$ \nphpscrit runa=servéx赌\u{3000}"
        .chars()
        .collect();
    let mut s = String::new();
    for _ in 0..200_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
    }
    all_kinds_timed(&s, Duration::from_secs(20));
}

#[test]
fn jsx_attempts_stay_linear() {
    // Each `(<a>` starts an element that never closes; each `{` an expression that never
    // ends; deep nesting past the cap.
    all_kinds_timed(&"(<a>".repeat(50_000), Duration::from_secs(20));
    all_kinds_timed(&"(<a b={".repeat(30_000), Duration::from_secs(20));
    all_kinds_timed(&"x=<a>".repeat(20_000), Duration::from_secs(20));
    let deep = format!("x = {}t{}", "<div>".repeat(10_000), "</div>".repeat(10_000));
    let d = extract(ContentKind::Jsx, &deep, None);
    assert!(d.zone(ZoneKind::Js).is_some());
    let shallow = format!("x = {}t{}", "<div>".repeat(50), "</div>".repeat(50));
    assert_eq!(
        zone(&extract(ContentKind::Jsx, &shallow, None), ZoneKind::Text),
        "t"
    );
}

#[test]
fn a_tag_left_open_by_the_code_still_counts() {
    let d = tpl(
        "<?php $v = str_replace($f, '<form action=\"http://phish.example/p\" method=\"post\" ', $v);\n\
                 echo $v;",
    );
    assert_eq!(zone(&d, ZoneKind::Form), "http://phish.example/p");
    // What closes it adds no text, hidden or not.
    let d = tpl("<?php echo '<div style=\"display:none\">'; ?><p>t</p>");
    assert_eq!(zone(&d, ZoneKind::Text), "t");
    assert!(d.zone(ZoneKind::HiddenText).is_none());
}

#[test]
fn only_string_literals_are_printed_html() {
    let d = tpl("<?php echo '<div style=\"display:none\">'; // <b>no</b>\n\
                 foreach ($links as $u => $t) { echo \"<a href=\\\"$u\\\">$t</a>\"; }\n\
                 /* <a href=\"http://comment.example/\">c</a> */ echo '</div>'; ?><p>正文</p>");
    assert_eq!(zone(&d, ZoneKind::Text), "正文");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "$t");
    assert_eq!(d.links.len(), 1);
    assert_eq!((d.links[0].url.as_str(), d.links[0].hidden), ("$u", true));
    // VBScript: a `'` starts a comment.
    let d = tpl(
        "<% ' Response.Write \"<a href=\"\"http://comment.example/\"\">c</a>\"\n\
                 Response.Write \"<a href=\"\"http://x.example/\"\">x</a>\" %>",
    );
    assert_eq!(zone(&d, ZoneKind::Link), "http://x.example/ x");
}

#[test]
fn what_scripts_write_is_read_as_the_page_shows_it() {
    let d = doc(concat!(
        "<p>公司简介</p>",
        r#"<script>document.write("<p>\u6fb3\u95e8\u8d4c\u573a</p><div style='display:none'>\u516d\u5408\u5f69</div>");</script>"#,
        r#"<script>var k = String.fromCharCode(0x5f69, 0x7968);</script>"#,
    ));
    assert_eq!(zone(&d, ZoneKind::Text), "公司简介\n澳门赌场");
    assert_eq!(zone(&d, ZoneKind::HiddenText), "六合彩");
    assert!(
        zone(&d, ZoneKind::Script).ends_with("彩票"),
        "{}",
        zone(&d, ZoneKind::Script)
    );
}
