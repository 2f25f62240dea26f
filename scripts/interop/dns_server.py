#!/usr/bin/env python3
"""An authoritative-only DNS server for Gatehouse's domain-verification tests, built on
dnslib (a maintained DNS library), with a small HTTP API to publish and remove records
the way a domain owner would at their DNS host.

Usage: dns_server.py --dns-port P --http-port Q [--exit-with-parent]
Ports may be 0 (any free one). Prints "READY <dns host:port> <http base URL>" once both
listen.

HTTP:
  GET    /healthz                       -> "ok"
  PUT    /txt?name=N   (body: value)    -> N's TXT records become exactly [value]
  POST   /txt?name=N   (body: value)    -> value is added to N's TXT records
  DELETE /txt?name=N                    -> N has no TXT records
  DELETE /txt                           -> no records at all
Names are case-insensitive, with or without the trailing dot. Every other query is
answered NXDOMAIN (UDP and TCP).
"""

import argparse
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

RECORDS = {}  # name (lower case, no trailing dot) -> [values]
LOCK = threading.Lock()


def key(name):
    return name.strip().rstrip(".").lower()


class Resolver(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname)
        with LOCK:
            values = list(RECORDS.get(key(qname), []))
        if not values:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            for v in values:
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(v.encode()), ttl=1))
        return reply


class Api(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def _answer(self, status, text="ok"):
        body = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _name(self):
        q = urllib.parse.urlparse(self.path)
        names = urllib.parse.parse_qs(q.query).get("name")
        return q.path, key(names[0]) if names else None

    def _value(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n).decode()

    def do_GET(self):
        path, _ = self._name()
        self._answer(200 if path == "/healthz" else 404)

    def do_PUT(self):
        path, name = self._name()
        if path != "/txt" or not name:
            return self._answer(400, "PUT /txt?name=N")
        with LOCK:
            RECORDS[name] = [self._value()]
        self._answer(200)

    def do_POST(self):
        path, name = self._name()
        if path != "/txt" or not name:
            return self._answer(400, "POST /txt?name=N")
        with LOCK:
            RECORDS.setdefault(name, []).append(self._value())
        self._answer(200)

    def do_DELETE(self):
        path, name = self._name()
        if path != "/txt":
            return self._answer(404)
        with LOCK:
            if name:
                RECORDS.pop(name, None)
            else:
                RECORDS.clear()
        self._answer(200)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dns-port", type=int, default=0)
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--exit-with-parent", action="store_true")
    a = ap.parse_args()

    logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    udp = DNSServer(Resolver(), address="127.0.0.1", port=a.dns_port, logger=logger)
    port = udp.server.server_address[1]
    tcp = DNSServer(Resolver(), address="127.0.0.1", port=port, tcp=True, logger=logger)
    udp.start_thread()
    tcp.start_thread()
    http = ThreadingHTTPServer(("127.0.0.1", a.http_port), Api)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print(f"READY 127.0.0.1:{port} http://127.0.0.1:{http.server_address[1]}", flush=True)

    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if a.exit_with_parent and os.getppid() != parent:
            sys.exit(0)


if __name__ == "__main__":
    main()
