#!/usr/bin/env python3
"""Generate a realistic static site for the crawl benchmark.

N pages in nested sections; real Chinese text from ../shared/data/pages-zh (cleaned/);
about 20 internal links per page; a mix of GBK (60%) and UTF-8 pages, each declaring its
charset; an ICP filing footer; and one page in ten reachable only through an iframe, as on
real Chinese portals. Deterministic for a given N.

usage: gen_site.py N OUT_DIR [SHARED_DATA]
"""
import os
import random
import sys


def shared_data(argv):
    """The shared data folder: argv[3], or ../shared/data beside the project."""
    return argv[3] if len(argv) > 3 else os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def cleaned_lines(shared, min_len):
    """The lines of pages-zh's hand-cleaned main texts longer than min_len, in file order."""
    cleaned = os.path.join(shared, "pages-zh", "cleaned")
    texts = []
    for name in sorted(os.listdir(cleaned)):
        with open(os.path.join(cleaned, name), encoding="utf-8") as f:
            texts.extend(p.strip() for p in f.read().split("\n") if len(p.strip()) > min_len)
    return texts


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    texts = cleaned_lines(shared_data(sys.argv), 20)
    rng = random.Random(20261127)
    per_section = 100
    paths = ["/index.html"] + [
        f"/s{i // per_section}/p{i % per_section}.html" for i in range(n - 1)
    ]
    # Pages reachable only through an iframe: never the target of an <a>.
    iframe_only = set(rng.sample(range(1, n), k=(n - 1) // 10))
    anchor_targets = [i for i in range(1, n) if i not in iframe_only]
    os.makedirs(out, exist_ok=True)
    for i, path in enumerate(paths):
        links = set()
        # The home page and section heads fan out so that every page is reachable.
        if i == 0:
            links.update(range(1, min(n, 1 + per_section)))
        nxt = [i + 1, i + 2, i * 2 + 1, i * 2 + 2]
        links.update(j for j in nxt if j < n)
        while len(links) < 20 and n > 2:
            links.add(rng.choice(anchor_targets))
        body = []
        for j in sorted(links):
            if j in iframe_only:
                body.append(f'<iframe src="{paths[j]}" width="100%" height="40"></iframe>')
            else:
                body.append(f'<a href="{paths[j]}">{rng.choice(texts)[:12]}</a>')
        paragraphs = "\n".join(f"<p>{rng.choice(texts)}</p>" for _ in range(rng.randint(3, 12)))
        gbk = rng.random() < 0.6
        charset = "gbk" if gbk else "utf-8"
        html = f"""<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">
<title>{rng.choice(texts)[:20]}</title>
<meta name="keywords" content="{rng.choice(texts)[:30]}">
</head><body>
<div class="nav">{' '.join(body)}</div>
<div class="content">{paragraphs}</div>
<div class="footer">Copyright 2026 <a href="https://beian.miit.gov.cn/">沪ICP备12345678号-{i % 9 + 1}</a></div>
</body></html>
"""
        target = os.path.join(out, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(html.encode("gb18030" if gbk else "utf-8", errors="replace"))
    print(f"{n} pages, {len(iframe_only)} reachable only through iframes, in {out}")


if __name__ == "__main__":
    main()
