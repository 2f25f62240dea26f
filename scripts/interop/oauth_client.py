"""An independent OAuth 2.0 client (oauthlib + requests-oauthlib, RFC 6749 §4.4) against
Gatehouse's SCIM token endpoint: fetches a token with HTTP Basic client authentication,
then with the credentials in the form body, and reads /Users with each token.

Usage: oauth_client.py --token-url URL --scim-url URL --client-id ID --client-secret-file PATH
Prints one JSON line per mode: {"mode", "token_type", "expires_in", "users_status", "total"}.
"""
import argparse
import json
import os

# The test listener is plain http on loopback; oauthlib refuses that unless told.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from oauthlib.oauth2 import BackendApplicationClient  # noqa: E402
from requests_oauthlib import OAuth2Session  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--token-url", required=True)
    p.add_argument("--scim-url", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret-file", required=True)
    a = p.parse_args()
    with open(a.client_secret_file, encoding="utf-8") as f:
        secret = f.read().strip()
    for mode, in_body in (("basic", False), ("body", True)):
        session = OAuth2Session(client=BackendApplicationClient(client_id=a.client_id))
        token = session.fetch_token(token_url=a.token_url, client_id=a.client_id, client_secret=secret, include_client_id=in_body)
        r = session.get(f"{a.scim_url}/Users", params={"count": "1"}, headers={"Accept": "application/scim+json"})
        total = r.json().get("totalResults") if r.ok else None
        print(json.dumps({"mode": mode, "token_type": token.get("token_type"), "expires_in": token.get("expires_in"), "users_status": r.status_code, "total": total}))


if __name__ == "__main__":
    main()
