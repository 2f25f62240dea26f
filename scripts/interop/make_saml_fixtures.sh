#!/usr/bin/env bash
# Regenerates app/src/server/saml/testdata/: the hostile-response corpus
# (saml_corpus.py) signed once with a throw-away IdP key, for unit tests of the ACS checks
# on a fixed clock (acs.rs). The key is discarded; the certificate is kept to pin.
# Needs .venv (`scripts/setup.sh test`) and openssl.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=app/src/server/saml/testdata
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 -subj "/CN=Gatehouse fixture IdP" \
  -keyout "$tmp/key.pem" -out "$out/idp-cert.pem" 2>/dev/null
.venv/bin/python scripts/interop/saml_corpus.py --idp-key "$tmp/key.pem" --idp-cert "$out/idp-cert.pem" \
  --idp-entity-id https://idp.fixture.test/metadata \
  --sp-entity-id https://gatehouse.fixture.test/saml/fixture/metadata \
  --acs-url https://gatehouse.fixture.test/saml/fixture/acs \
  --request-id _fixture000000000000000000000000001 --now 1800000000 --email alice@acme.test |
  python3 -c 'import json,sys; c=json.load(sys.stdin); keep=lambda e: {"name": e["name"], "saml_response": e["saml_response"]}; json.dump({"valid": keep(c["valid"]), "cases": [keep(e) for e in c["cases"]]}, sys.stdout, indent=1)' >"$out/corpus.json"
echo "wrote $out/idp-cert.pem and $out/corpus.json ($(wc -c <"$out/corpus.json") bytes)"
