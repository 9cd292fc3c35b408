#!/usr/bin/env python3
"""Generate a crawl-bench site whose pages follow the profile of ../shared/data/pages-zh.

First measures pages-zh/original (69 real Chinese pages) and prints the profile: size as
stored, charset (declared by <meta> and whether the bytes are UTF-8), links per page, inline
<script> and <style>/style="" bytes, markup share and tags per KB. Then writes N pages that
follow it: each page takes one real page as its template (cycling through them in a
deterministic shuffle) and draws its stored size, its number of <a> links, its inline
script, inline CSS and markup shares and its tags per KB from that page, so the site has the
corpus's spread, not only its means. Text is real pages-zh text (cleaned/); pages are GBK
(with a matching <meta charset="gbk"> or gb2312) or UTF-8 in the corpus's proportion
(about 60% GBK). Every page links to i+1, i+2, 2i+1, 2i+2 (so all N are reachable from
/index.html) plus random other pages; a few off-site links go to reserved `.example`
hosts, which no crawler in the bench follows. Deterministic for a given N.

usage: gen_realistic.py N OUT_DIR [SHARED_DATA]     (N=0: print the profile only)
"""
import os
import random
import re
import statistics
import sys

from gen_site import cleaned_lines, shared_data

TAG = re.compile(rb"<[a-zA-Z/!][^>]*>")
SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
STYLE = re.compile(rb"<style\b[^>]*>(.*?)</style\s*>", re.I | re.S)
STYLE_ATTR = re.compile(rb"""\sstyle\s*=\s*("[^"]*"|'[^']*')""", re.I)
ANCHOR = re.compile(rb"<a\b[^>]*\bhref\s*=", re.I)
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_-]+)""", re.I)
GB = ("gbk", "gb2312", "gb18030", "x-gbk")


def measure(path):
    b = open(path, "rb").read()
    m = META_CHARSET.search(b[:4096]) or META_CHARSET.search(b)
    declared = m.group(1).decode().lower() if m else ""
    try:
        b.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    scripts = SCRIPT.findall(b)
    inline_js = sum(len(body) for attrs, body in scripts if b"src" not in attrs.lower())
    inline_css = sum(len(s) for s in STYLE.findall(b)) + sum(len(s) for s in STYLE_ATTR.findall(b))
    stripped = SCRIPT.sub(b"", STYLE.sub(b"", b))
    tags = TAG.findall(stripped)
    markup = sum(len(t) for t in tags)
    return {
        "size": len(b),
        "declared": declared,
        "gbk": (declared in GB) or (not utf8 and declared not in ("utf-8", "utf8")),
        "utf8_bytes": utf8,
        "links": len(ANCHOR.findall(b)),
        "scripts": sum(1 for attrs, body in scripts if b"src" not in attrs.lower() and body.strip()),
        "js_share": inline_js / len(b),
        "css_share": inline_css / len(b),
        "markup_share": markup / len(b),
        "tags_per_kb": len(tags) / (len(b) / 1024),
    }


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


def profile(originals):
    pages = [measure(os.path.join(originals, n)) for n in sorted(os.listdir(originals)) if n.endswith(".html")]
    n = len(pages)
    print(f"pages-zh/original: {n} pages")
    sizes = [p["size"] / 1024 for p in pages]
    print("  size KB: min %.1f, p10 %.1f, p25 %.1f, median %.1f, p75 %.1f, p90 %.1f, max %.1f, mean %.1f" % (
        min(sizes), pct(sizes, 10), pct(sizes, 25), statistics.median(sizes), pct(sizes, 75), pct(sizes, 90),
        max(sizes), statistics.mean(sizes)))
    gbk = sum(p["gbk"] for p in pages)
    decl = {}
    for p in pages:
        decl[p["declared"] or "(none)"] = decl.get(p["declared"] or "(none)", 0) + 1
    print(f"  charset: {gbk} GBK/GB2312/GB18030 ({100 * gbk / n:.0f}%), {n - gbk} UTF-8; "
          f"bytes not valid UTF-8: {sum(not p['utf8_bytes'] for p in pages)}; declared: "
          + ", ".join(f"{k} {v}" for k, v in sorted(decl.items(), key=lambda kv: -kv[1])))
    for key, label, fmt in [
        ("links", "<a href> links per page", "%.0f"),
        ("scripts", "inline <script> blocks per page", "%.0f"),
        ("js_share", "inline script share of bytes", "%.3f"),
        ("css_share", "inline CSS share (<style> + style=) of bytes", "%.3f"),
        ("markup_share", "tag share of bytes (outside script/style)", "%.3f"),
        ("tags_per_kb", "tags per KB", "%.1f"),
    ]:
        v = [p[key] for p in pages]
        print(f"  {label}: median {fmt % statistics.median(v)}, p10 {fmt % pct(v, 10)}, "
              f"p90 {fmt % pct(v, 90)}, mean {fmt % statistics.mean(v)}")
    print(f"  pages with inline script: {sum(p['scripts'] > 0 for p in pages)}, "
          f"with inline CSS: {sum(p['css_share'] > 0 for p in pages)}")
    return pages


JS_LINES = [
    "var _hmt = _hmt || [];",
    "(function() { var hm = document.createElement('script'); hm.src = '/js/count.js?id={h}';"
    " var s = document.getElementsByTagName('script')[0]; s.parentNode.insertBefore(hm, s); })();",
    "function showMenu(id) { var m = document.getElementById('menu' + id); if (m) { m.style.display = 'block'; } }",
    "function hideMenu(id) { var m = document.getElementById('menu' + id); if (m && m.className != 'on') { m.style.display = 'none'; } }",
    "if (window.location.hash.length > 1 && typeof(initTab) == 'function') { initTab(window.location.hash.substr(1)); }",
    "for (var i = 0; i < {n}; i++) { if (a[i] < b[i] && a[i] > 0) { total += a[i] * {n}; } }",
    "document.write('<div class=\"ad\" id=\"ad{n}\"><a href=\"/s{n}/p{n}.html\">' + title + '</a></div>');",
    "var config = { width: {n}, height: {h}, autoplay: true, interval: 5000, items: '.slide li' };",
    "$(function(){ $('.tab li').hover(function(){ $(this).addClass('on').siblings().removeClass('on'); }); });",
]
CSS_RULES = [
    ".nav{width:{n}px;height:{h}px;background:#f5f5f5;border-bottom:1px solid #ddd}",
    ".nav li{float:left;padding:0 12px;line-height:{h}px;font-size:14px}",
    ".content p{text-indent:2em;line-height:1.8;margin:8px 0;color:#333}",
    ".footer{clear:both;text-align:center;color:#999;padding:{h}px 0;font:12px/1.5 'SimSun'}",
    "a:link,a:visited{color:#036;text-decoration:none}a:hover{color:#c00;text-decoration:underline}",
    ".list{{n}}{margin:0;padding:0;list-style:none}.list{n} li{height:24px;overflow:hidden}",
    "#banner{n}{position:relative;width:{n}px;margin:0 auto;z-index:{h}}",
]
BLOCKS = ["div", "td", "li", "span", "p", "font", "b"]
CLASSES = ["main", "left", "right", "box", "title", "list", "con", "txt", "item", "more", "hd", "bd"]


def fill(rng, template):
    return template.replace("{n}", str(rng.randint(1, 999))).replace("{h}", str(rng.randint(10, 99)))


def filled_lines(rng, templates, size):
    """Lines drawn from `templates`, filled, until they reach `size` characters."""
    out, n = [], 0
    while n < size:
        line = fill(rng, rng.choice(templates))
        out.append(line)
        n += len(line) + 1
    return "\n".join(out)


def make_js(rng, size):
    return filled_lines(rng, JS_LINES, size)


def make_css(rng, size):
    return filled_lines(rng, CSS_RULES, size)


def open_tag(rng, css_attr):
    name = rng.choice(BLOCKS)
    attrs = f' class="{rng.choice(CLASSES)}{rng.randint(1, 9)}"'
    if rng.random() < 0.3:
        attrs += f' id="{rng.choice(CLASSES)}_{rng.randint(1, 99)}"'
    if css_attr:
        attrs += f' style="{fill(rng, "width:{n}px;height:{h}px;margin:0 auto")}"'
    return name, f"<{name}{attrs}>"


def main():
    n = int(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else None
    shared = shared_data(sys.argv)
    profiles = profile(os.path.join(shared, "pages-zh", "original"))
    if n == 0:
        return
    texts = cleaned_lines(shared, 8)
    rng = random.Random(20261207)
    order = list(range(len(profiles)))
    rng.shuffle(order)
    per_section = 100
    paths = ["/index.html"] + [f"/s{i // per_section}/p{i % per_section}.html" for i in range(n - 1)]
    os.makedirs(out, exist_ok=True)
    sizes, gbk_pages, links_total = [], 0, 0
    for i, path in enumerate(paths):
        prof = profiles[order[i % len(order)]]
        gbk = prof["gbk"]
        # Size as stored: the template page's, within ±15%.
        target = int(prof["size"] * rng.uniform(0.85, 1.15))
        # GBK stores a CJK character in 2 bytes, UTF-8 in 3; build the page as text, then
        # grow it to the stored size.
        links = set()
        if i == 0:
            links.update(range(1, min(n, 1 + per_section)))
        links.update(j for j in (i + 1, i + 2, i * 2 + 1, i * 2 + 2) if j < n)
        want = max(prof["links"], 8)
        offsite = max(0, int(want * 0.1))
        # A site smaller than the template's link count cannot give it that many distinct
        # pages (pages-zh has a portal page with more links than a 1,000-page site has pages):
        # without the cap this loop never ended.
        while len(links) < min(want - offsite, n - 1) and n > 2:
            links.add(rng.randrange(1, n))
        anchors = [f'<a href="{paths[j]}" target="_blank">{rng.choice(texts)[:rng.randint(4, 16)]}</a>' for j in sorted(links)]
        anchors += [f'<a href="http://www.partner{rng.randint(1, 50)}.example/">{rng.choice(texts)[:8]}</a>'
                    for _ in range(offsite)]
        rng.shuffle(anchors)
        js = make_js(rng, int(target * prof["js_share"]))
        css_budget = int(target * prof["css_share"])
        css = make_css(rng, int(css_budget * 0.7)) if css_budget else ""
        charset = ("gbk" if rng.random() < 0.5 else "gb2312") if gbk else "utf-8"
        head = (f'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                f'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
                f'<html xmlns="http://www.w3.org/1999/xhtml"><head>\n'
                f'<meta http-equiv="Content-Type" content="text/html; charset={charset}" />\n'
                f'<title>{rng.choice(texts)[:24]}</title>\n'
                f'<meta name="keywords" content="{rng.choice(texts)[:30]}" />\n'
                f'<meta name="description" content="{rng.choice(texts)[:60]}" />\n'
                + (f'<style type="text/css">\n{css}\n</style>\n' if css else "")
                + '<script type="text/javascript" src="/js/jquery.js"></script>\n'
                + "</head>\n<body>\n")
        # Split the script budget into the template's number of blocks, spread over the page.
        nscripts = max(1, prof["scripts"]) if js else 0
        chunks = [js[k * len(js) // nscripts:(k + 1) * len(js) // nscripts] for k in range(nscripts)]
        enc = "gb18030" if gbk else "utf-8"
        body = []
        stored = len(head.encode(enc, errors="replace"))
        # Navigation: the links in nested lists, as portals lay them out.
        nav = ['<div class="nav"><ul>']
        for a in anchors:
            nav.append(f"<li>{a}</li>")
        nav.append("</ul></div>")
        body.append("\n".join(nav))
        stored += len(body[-1].encode(enc, errors="replace"))
        footer = ('<div class="footer">Copyright 2026 '
                  f'<a href="https://beian.miit.gov.cn/">沪ICP备12345678号-{i % 9 + 1}</a></div>\n</body></html>\n')
        stored += len(footer.encode(enc, errors="replace")) + len(js) + 40 * nscripts
        # Text and markup: the template's tag density, tags wrapping runs of text.
        markup_share = min(max(prof["markup_share"], 0.05), 0.8)
        css_attr_share = max(0.0, css_budget * 0.3)
        script_at = sorted(rng.sample(range(1, 40), k=min(nscripts, 39)))
        block = 0
        while stored < target:
            text = rng.choice(texts)
            text_bytes = len(text.encode(enc, errors="replace"))
            # Markup to wrap this text so that markup / (markup + text) is the template's share.
            markup_goal = int(text_bytes * markup_share / max(1 - markup_share, 0.05))
            parts, closes, m = [], [], 0
            while m < markup_goal or not parts:
                use_css = css_attr_share > 0 and rng.random() < 0.2
                name, tag = open_tag(rng, use_css)
                if use_css:
                    css_attr_share -= 40
                parts.append(tag)
                closes.append(f"</{name}>")
                m += len(tag) + len(name) + 3
            piece = "".join(parts) + text + "".join(reversed(closes))
            body.append(piece)
            stored += len(piece.encode(enc, errors="replace")) + 1
            block += 1
            if script_at and block == script_at[0] * 4:
                script_at.pop(0)
        # Scripts placed between blocks.
        for k, chunk in enumerate(chunks):
            at = min(len(body), 1 + (k + 1) * len(body) // (nscripts + 1))
            body.insert(at, f'<script type="text/javascript">\n{chunk}\n</script>')
        html = head + "\n".join(body) + "\n" + footer
        data = html.encode(enc, errors="replace")
        target_path = os.path.join(out, path.lstrip("/"))
        os.makedirs(os.path.dirname(target_path), exist_ok=True)
        with open(target_path, "wb") as f:
            f.write(data)
        sizes.append(len(data) / 1024)
        gbk_pages += gbk
        links_total += len(anchors)
    # The script every page loads, so that no crawler meets a 404.
    os.makedirs(os.path.join(out, "js"), exist_ok=True)
    with open(os.path.join(out, "js", "jquery.js"), "w") as f:
        f.write("\n".join(fill(rng, line) for line in JS_LINES * 20) + "\n")
    print(f"generated {n} pages in {out}: size KB median {statistics.median(sizes):.1f}, "
          f"p10 {pct(sizes, 10):.1f}, p90 {pct(sizes, 90):.1f}, total {sum(sizes) / 1024:.0f} MB; "
          f"GBK {100 * gbk_pages / n:.0f}%; links per page mean {links_total / n:.0f}")
    # Check the generated site against the profile on a sample of its pages.
    sample = [measure(os.path.join(out, p.lstrip("/"))) for p in paths[:: max(1, n // 200)]]
    print("generated sample (%d pages): links median %.0f, inline script share median %.3f, CSS share median %.3f, "
          "tag share median %.3f, tags per KB median %.1f" % (
              len(sample), statistics.median(p["links"] for p in sample),
              statistics.median(p["js_share"] for p in sample), statistics.median(p["css_share"] for p in sample),
              statistics.median(p["markup_share"] for p in sample), statistics.median(p["tags_per_kb"] for p in sample)))


if __name__ == "__main__":
    main()
