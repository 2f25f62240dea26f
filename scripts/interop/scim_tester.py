#!/usr/bin/env python3
"""Run scim2-tester against a SCIM server and print one line per check.

Usage:
    .venv/bin/python scripts/interop/scim_tester.py --url http://127.0.0.1:18090/v2 \
        --token T --expect 135 [--trace /tmp/trace.jsonl] [--verbose] \
        [--include-tags crud] [--exclude-tags patch] [--resource-types User,Group]

Output: one line per check, `STATUS title: reason` (reason newlines are
escaped as \\n), then `N passed, N failed`. Exit code 0 only if every
check is SUCCESS and (when --expect is given) the number of checks equals it.

This mirrors `scim test` (scim2-cli): a httpx2 Client with base_url=--url and
an Authorization: Bearer header, wrapped in scim2_client's SyncSCIMClient,
with status-code and content-type checking enabled, passed to
scim2_tester.check_server. As in the CLI, anything other than SUCCESS
(including SKIPPED) counts as a failure.

--trace FILE writes every HTTP exchange (method, url, request headers/body,
status, response headers/body) as JSON lines; handy to debug a failing check.
"""

import argparse
import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status
from scim2_tester import check_server


def _body(raw: bytes | None):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except Exception:
        return raw.decode("utf-8", "replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SCIM base URL, e.g. http://127.0.0.1:8080/v2")
    parser.add_argument("--token", default=None, help="Bearer token (omit for none)")
    parser.add_argument("--expect", type=int, default=None, help="Expected total number of checks")
    parser.add_argument("--trace", default=None, help="Write HTTP exchanges as JSON lines to this file")
    parser.add_argument("--verbose", action="store_true", help="Also print the debug data of failing checks")
    parser.add_argument("--include-tags", default=None, help="Comma separated tags (discovery, crud, crud:read, patch, patch:add, misc, ...)")
    parser.add_argument("--exclude-tags", default=None, help="Comma separated tags to skip")
    parser.add_argument("--resource-types", default=None, help="Comma separated resource type names")
    args = parser.parse_args()

    headers = {}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"

    trace_fd = open(args.trace, "w") if args.trace else None

    def on_response(response):
        if trace_fd is None:
            return
        response.read()
        request = response.request
        trace_fd.write(
            json.dumps(
                {
                    "method": request.method,
                    "url": str(request.url),
                    "request_headers": {k: v for k, v in request.headers.items() if k.lower() != "authorization"},
                    "request_body": _body(request.content),
                    "status": response.status_code,
                    "response_headers": dict(response.headers.items()),
                    "response_body": _body(response.content),
                },
                default=str,
            )
            + "\n"
        )
        trace_fd.flush()

    http = Client(
        base_url=args.url,
        headers=headers,
        event_hooks={"response": [on_response]},
    )
    client = SyncSCIMClient(
        http,
        check_response_status_codes=True,
        check_response_content_type=True,
    )

    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None  # noqa: E731
    include = set(split(args.include_tags)) if args.include_tags else None
    exclude = set(split(args.exclude_tags)) if args.exclude_tags else None

    try:
        results = check_server(
            client,
            include_tags=include,
            exclude_tags=exclude,
            resource_types=split(args.resource_types),
        )
    except Exception as exc:  # network failure, etc.
        print(f"CRASH check_server raised: {type(exc).__name__}: {exc}")
        print("0 passed, 1 failed")
        return 2

    passed = failed = 0
    for result in results:
        ok = result.status == Status.SUCCESS
        passed += ok
        failed += not ok
        reason = (result.reason or "").replace("\n", "\\n")
        rt = f"[{result.resource_type}] " if result.resource_type else ""
        print(f"{result.status.name} {rt}{result.title}: {reason}")
        if args.verbose and not ok and result.data is not None:
            print(f"    data: {str(result.data)}".replace("\n", "\\n"))

    total = passed + failed
    print(f"{passed} passed, {failed} failed")
    if args.expect is not None and total != args.expect:
        print(f"TOTAL MISMATCH: {total} checks ran, expected {args.expect}")
        return 1
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
