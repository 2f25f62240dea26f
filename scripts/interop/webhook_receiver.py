#!/usr/bin/env python3
"""A webhook receiver for the tests: every POST is checked by the Standard Webhooks
reference library (`standardwebhooks`, the spec authors' own verifier), not by our code.

Control (JSON over HTTP, from the test):
  POST /control {"secrets": ["whsec_…"], "plan": [500, 200, "sleep:3"], "paths": {"/slow": [...]}}
      the secrets to verify with (a delivery passes if any verifies it, as a receiver
      accepts during its own secret rotation), and the answers to give, one per delivery
      received (then 200): a status, or "sleep:N" (wait N seconds, then 200); `paths`
      gives a path its own list of answers, used before the shared `plan`.
  GET /received
      every delivery so far, in arrival order: {"path", "id", "timestamp", "signatures",
      "verified", "error", "answered", "event"} (`event`: the verified JSON body;
      `answered`: the status given, or the "sleep:N" planned).

Usage: webhook_receiver.py --port 3197
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

STATE = {"secrets": [], "plan": [], "paths": {}, "received": []}
LOCK = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def _json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/received":
            with LOCK:
                return self._json(200, STATE["received"])
        return self._json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/control":
            control = json.loads(body)
            with LOCK:
                STATE["secrets"] = control.get("secrets", STATE["secrets"])
                STATE["plan"] = list(control.get("plan", []))
                STATE["paths"] = {p: list(v) for p, v in control.get("paths", {}).items()}
                if control.get("clear"):
                    STATE["received"] = []
            return self._json(200, {"ok": True})
        headers = {k: v for k, v in self.headers.items()}
        entry = {
            "path": self.path,
            "id": self.headers.get("webhook-id"),
            "timestamp": self.headers.get("webhook-timestamp"),
            "signatures": (self.headers.get("webhook-signature") or "").split(),
            "verified": False,
            "error": None,
            "event": None,
        }
        with LOCK:
            secrets = list(STATE["secrets"])
            own = STATE["paths"].get(self.path)
            answer = own.pop(0) if own else (STATE["plan"].pop(0) if STATE["plan"] else 200)
        errors = []
        for secret in secrets:
            try:
                entry["event"] = Webhook(secret).verify(body, headers)
                entry["verified"] = True
                break
            except WebhookVerificationError as e:
                errors.append(str(e))
        if not entry["verified"]:
            entry["error"] = "; ".join(errors) or "no secret configured"
        status = 200
        with LOCK:
            # Recorded on arrival, so the list is the order deliveries came in.
            entry["answered"] = answer if isinstance(answer, str) else int(answer)
            STATE["received"].append(entry)
        if isinstance(answer, str) and answer.startswith("sleep:"):
            time.sleep(float(answer.split(":", 1)[1]))
        else:
            status = int(answer)
        try:
            self._json(status, {"received": entry["verified"]})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Receiver).serve_forever()


if __name__ == "__main__":
    main()
