#!/usr/bin/env python3
"""A stand-in for the analytics product behind the reverse proxy (end-to-end tests of
forward-auth). Every page shows the request's method and path and the X-Gatehouse-*
headers it received, so a test can see exactly what the proxy let through.

Usage: product_app.py --port 3196
"""
import argparse
import html
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Product(BaseHTTPRequestHandler):
    def _page(self):
        # Underscore look-alikes too (x_gatehouse_role): some frameworks read them as the
        # same header, so a proxy must not let a client's through.
        seen = sorted(
            (k.lower(), v) for k, v in self.headers.items() if k.lower().replace("_", "-").startswith("x-gatehouse-")
        )
        cookies = sorted(c.split("=", 1)[0].strip() for c in (self.headers.get("Cookie") or "").split(";") if "=" in c)
        rows = "".join(
            f'<dt>{html.escape(k)}</dt><dd data-header="{html.escape(k)}">{html.escape(v)}</dd>' for k, v in seen
        )
        body = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            "<title>Product</title></head><body><h1>The product</h1>"
            f'<p data-testid="request">{html.escape(self.command)} {html.escape(self.path)}</p>'
            f"<dl>{rows}</dl>"
            f'<p data-testid="cookies">{html.escape(" ".join(cookies))}</p>'
            f'<form method="post" action="{html.escape(self.path)}"><button>Save</button></form>'
            "</body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        self._page()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._page()

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=3196)
    args = ap.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Product).serve_forever()


if __name__ == "__main__":
    main()
