#!/usr/bin/env python3
"""The generated sites of the fleet benchmark (benches/fleet/run.sh), all on one loopback port.

Site k is the host name `site{k}.fleet.bench`: the inventory pins every one to 127.0.0.1 with
`origin`, so nothing is resolved and no request leaves loopback, and the server tells the sites
apart by the Host header. Each site has PAGES pages (a home page linking all the others, each
page linking the next and home), 3 to 8 paragraphs of real Chinese text when the shared data is
there (filler otherwise), no scripts and no links off the site. One site in three has
prohibited content on one page (gambling, or pornography), so crawls write flags. Deterministic
for given arguments. Pages carry no ETag or Last-Modified: every crawl fetches every page.

usage:
  sites.py inventory SITES PORT > sites.csv   the inventory (CSV) of the daemons
  sites.py serve SITES PORT PAGES [SHARED]    serve them until killed
"""
import http.server
import os
import random
import socketserver
import sys

DOMAIN = "site{}.fleet.bench"
BAD = [
    "欢迎来到网上赌场，真人荷官在线发牌 真人 百家乐 在线",
    "国产自拍做爱视频在线观看 潮吹合集 高清无码 下载",
]


def inventory(sites, port):
    print("id,customer,domains,origin,port,interval,robots,allow_private_networks")
    for k in range(sites):
        print(f"site{k},c{k // 10},{DOMAIN.format(k)},127.0.0.1,{port},1s,ignore,true")


def texts_from(shared):
    cleaned = os.path.join(shared or "", "pages-zh", "cleaned")
    texts = []
    if os.path.isdir(cleaned):
        for name in sorted(os.listdir(cleaned)):
            with open(os.path.join(cleaned, name), encoding="utf-8") as f:
                texts.extend(p.strip() for p in f.read().split("\n") if len(p.strip()) > 20)
    return texts or ["本公司专业从事网站建设、软件开发与技术服务，欢迎来电咨询合作事宜。"]


def build(sites, pages, shared):
    """{host: {path: body bytes}}"""
    rng = random.Random(20261207)
    texts = texts_from(shared)
    out = {}
    for k in range(sites):
        paths = ["/"] + [f"/p{i}.html" for i in range(1, pages)]
        bad_page = rng.randrange(pages) if k % 3 == 0 else None
        site = {}
        for i, path in enumerate(paths):
            links = paths[1:] if i == 0 else [paths[(i + 1) % pages], "/"]
            nav = " ".join(f'<a href="{p}">{rng.choice(texts)[:12]}</a>' for p in links)
            paras = [rng.choice(texts) for _ in range(rng.randint(3, 8))]
            if i == bad_page:
                paras.insert(1, BAD[(k // 3) % 2])
            content = "\n".join(f"<p>{p}</p>" for p in paras)
            site[path] = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{rng.choice(texts)[:20]}</title></head>
<body><div class="nav">{nav}</div>
<div class="content">{content}</div>
<div class="footer">Copyright 2026 site {k}</div></body></html>
""".encode()
        out[DOMAIN.format(k)] = site
    return out


def serve(sites, port, pages, shared):
    content = build(sites, pages, shared)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server

        def do_GET(self):
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            body = content.get(host, {}).get(self.path.split("?", 1)[0])
            if body is None:
                body, code, kind = b"not found", 404, "text/plain"
            else:
                code, kind = 200, "text/html; charset=utf-8"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        request_queue_size = 256

    Server(("127.0.0.1", port), Handler).serve_forever()


def main():
    what, sites, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if what == "inventory":
        inventory(sites, port)
    else:
        serve(sites, port, int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)


if __name__ == "__main__":
    main()
