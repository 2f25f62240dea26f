#!/usr/bin/env python3
"""Self-check of saml_idp.py: starts it, plays a strict SP against it, exits non-zero on any failure.

Usage: saml_idp_selfcheck.py [--keep]

Every knob combination goes through SP-initiated SSO (/sso/redirect?user=…&format=json) and
is checked independently of pysaml2: signatures with `xmlsec1 --verify` and the pinned IdP
certificate only, decryption with `xmlsec1 --decrypt` and the fake SP's key, then every field
read with lxml. A subset is also fed to pysaml2's own Saml2Client as a second, unrelated SP.
"""

import base64
import concurrent.futures
import datetime
import html as htmlmod
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
import zlib

warnings.filterwarnings("ignore", message=".*CFB has been moved.*")
import logging

logging.getLogger("saml2").setLevel(logging.CRITICAL)  # pysaml2 logs every failed key it tries

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

HERE = os.path.dirname(os.path.abspath(__file__))
XMLSEC1 = os.environ.get("XMLSEC1", "/usr/bin/xmlsec1")
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
}
EMAIL_FMT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
PERSISTENT_FMT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
URI_FMT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
BASIC_FMT = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
URI_NAMES = {
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "givenName": "urn:oid:2.5.4.42",
    "sn": "urn:oid:2.5.4.4",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"

failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print(f"FAIL {what}", flush=True)
    return cond


# ------------------------------------------------------------------------ helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, ctype=None):
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def keypair(cn):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key, key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def b64cert(pem):
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)


def write(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w" if isinstance(text, str) else "wb") as f:
        f.write(text)
    return path


def xmlsec_verify(xml_path, cert_path, element):
    """Verify the signature that is a direct child of `element` (Response or Assertion) with the pinned cert only."""
    cmd = [
        XMLSEC1, "--verify", "--pubkey-cert-pem", cert_path, "--enabled-key-data", "key-name",
        "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        "--node-xpath", f"//*[local-name()='{element}']/*[local-name()='Signature']",
        xml_path,
    ]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def xmlsec_decrypt(xml_path, key_path):
    cmd = [XMLSEC1, "--decrypt", "--privkey-pem", key_path, xml_path]
    p = subprocess.run(cmd, capture_output=True)
    return p.stdout if p.returncode == 0 else None


# ----------------------------------------------------------------------------- SP


class FakeSP:
    def __init__(self, work, idp_base, name, signed_requests=False, with_enc=True):
        self.work = work
        self.idp_base = idp_base
        self.entity_id = f"https://sp-{name}-{uuid.uuid4().hex[:8]}.selfcheck.test/saml/metadata"
        self.acs_url = f"https://sp-{name}.selfcheck.test/saml/acs"
        self.acs_url2 = f"https://sp-{name}.selfcheck.test/saml/acs2"
        self.signed_requests = signed_requests
        self.sig_key, self.sig_key_pem, self.sig_cert = keypair(f"{name} signing")
        _, self.enc_key_pem, self.enc_cert = keypair(f"{name} encryption")
        self.enc_key_path = write(work, f"{name}-enc.key", self.enc_key_pem)
        self.enc_cert_path = write(work, f"{name}-enc.crt", self.enc_cert)
        self.with_enc = with_enc

    def metadata(self):
        enc = ""
        if self.with_enc:
            enc = (
                '<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
                f"{b64cert(self.enc_cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">
 <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="{str(self.signed_requests).lower()}" WantAssertionsSigned="true">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64cert(self.sig_cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  {enc}
  <md:NameIDFormat>{EMAIL_FMT}</md:NameIDFormat>
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{self.acs_url}" index="0" isDefault="true"/>
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{self.acs_url2}" index="1"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>"""

    def register(self, query=""):
        return http("POST", f"{self.idp_base}/admin/sp{query}", self.metadata().encode(), "application/xml")

    def authn_request(self, acs_url=None, nameid_format=EMAIL_FMT):
        rid = "_" + uuid.uuid4().hex
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        acs = f' AssertionConsumerServiceURL="{acs_url}"' if acs_url else ""
        nip = f'<samlp:NameIDPolicy Format="{nameid_format}" AllowCreate="true"/>' if nameid_format else ""
        xml = (
            f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{rid}" Version="2.0" '
            f'IssueInstant="{now}" Destination="{self.idp_base}/sso/redirect"{acs} '
            f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
            f"<saml:Issuer>{self.entity_id}</saml:Issuer>{nip}</samlp:AuthnRequest>"
        )
        return rid, xml

    def redirect_query(self, xml, relay_state, sign=None, tamper=False):
        """The HTTP-Redirect binding query string, signed over its raw bytes when asked."""
        deflated = zlib.compress(xml.encode())[2:-4]
        q = "SAMLRequest=" + urllib.parse.quote(base64.b64encode(deflated).decode(), safe="")
        if relay_state is not None:
            q += "&RelayState=" + urllib.parse.quote(relay_state, safe="")
        if sign if sign is not None else self.signed_requests:
            q += "&SigAlg=" + urllib.parse.quote(RSA_SHA256, safe="")
            sig = self.sig_key.sign(q.encode(), padding.PKCS1v15(), hashes.SHA256())
            if tamper:
                sig = bytes([sig[0] ^ 1]) + sig[1:]
            q += "&Signature=" + urllib.parse.quote(base64.b64encode(sig).decode(), safe="")
        return q


# ------------------------------------------------------------------- the checks


def check_response(label, saml_b64, sp, idp, knobs, request_id, email, given, family):
    """Check one SAMLResponse as a strict SP would. Returns the parsed assertion element or None."""
    tmp = tempfile.mkdtemp(dir=idp["work"])
    raw = base64.b64decode(saml_b64)
    resp_path = write(tmp, "resp.xml", raw)
    pinned = idp["cert_paths"][knobs["key"]]
    other = idp["cert_paths"]["2" if knobs["key"] == "1" else "1"]
    sign = knobs["sign"]
    doc = etree.fromstring(raw)
    check(etree.QName(doc).localname == "Response" and etree.QName(doc).namespace == NS["samlp"], f"{label}: root is samlp:Response")

    # Response-level signature, checked on the document as received.
    resp_sig = doc.find("ds:Signature", NS)
    if sign in ("response", "both"):
        if check(resp_sig is not None, f"{label}: Response is signed"):
            check(xmlsec_verify(resp_path, pinned, "Response"), f"{label}: Response signature verifies with the pinned cert")
            check(not xmlsec_verify(resp_path, other, "Response"), f"{label}: Response signature fails with the other cert")
            check_sig_algs(label + " Response", resp_sig, doc.get("ID"))
    else:
        check(resp_sig is None, f"{label}: Response is not signed")

    encrypted = doc.find("saml:EncryptedAssertion", NS)
    if knobs["encrypt"] == "1":
        if not check(encrypted is not None and doc.find("saml:Assertion", NS) is None, f"{label}: assertion is encrypted"):
            return None
        em = encrypted.find(".//xenc:EncryptedData/xenc:EncryptionMethod", NS)
        km = encrypted.find(".//xenc:EncryptedKey/xenc:EncryptionMethod", NS)
        want = {"aes128-cbc": "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
                "aes256-cbc": "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
                "aes128-gcm": "http://www.w3.org/2009/xmlenc11#aes128-gcm",
                "aes256-gcm": "http://www.w3.org/2009/xmlenc11#aes256-gcm"}[knobs["cipher"]]
        check(em is not None and em.get("Algorithm") == want, f"{label}: content cipher is {want}")
        check(km is not None and km.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
              f"{label}: key transport is rsa-oaep-mgf1p")
        dec = xmlsec_decrypt(resp_path, sp.enc_key_path)
        if not check(dec is not None, f"{label}: xmlsec1 decrypts with the SP key"):
            return None
        resp_path = write(tmp, "decrypted.xml", dec)
        doc = etree.fromstring(dec)
        assertions = doc.findall("saml:EncryptedAssertion/saml:Assertion", NS)
    else:
        check(encrypted is None, f"{label}: assertion is not encrypted")
        assertions = doc.findall("saml:Assertion", NS)
    if not check(len(assertions) == 1, f"{label}: exactly one assertion"):
        return None
    a = assertions[0]

    a_sig = a.find("ds:Signature", NS)
    if sign in ("assertion", "both"):
        if check(a_sig is not None, f"{label}: Assertion is signed"):
            check(xmlsec_verify(resp_path, pinned, "Assertion"), f"{label}: Assertion signature verifies with the pinned cert")
            check(not xmlsec_verify(resp_path, other, "Assertion"), f"{label}: Assertion signature fails with the other cert")
            check_sig_algs(label + " Assertion", a_sig, a.get("ID"))
    else:
        check(a_sig is None, f"{label}: Assertion is not signed")

    now = datetime.datetime.now(datetime.timezone.utc)

    def t(s):
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))

    check(doc.get("Destination") == sp.acs_url, f"{label}: Destination = ACS")
    check(doc.get("Version") == "2.0", f"{label}: Version 2.0")
    check(doc.findtext("saml:Issuer", namespaces=NS) == idp["entity_id"], f"{label}: Response Issuer")
    check(doc.find("samlp:Status/samlp:StatusCode", NS).get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Success", f"{label}: Success")
    check(doc.get("InResponseTo") == request_id, f"{label}: Response InResponseTo = {request_id}")
    check(a.findtext("saml:Issuer", namespaces=NS) == idp["entity_id"], f"{label}: Assertion Issuer")
    check(abs((t(a.get("IssueInstant")) - now).total_seconds()) < 60, f"{label}: IssueInstant is now")

    nid = a.find("saml:Subject/saml:NameID", NS)
    if knobs["nameid"] == "persistent":
        check(nid.get("Format") == PERSISTENT_FMT, f"{label}: NameID format persistent")
        check(nid.text and "@" not in nid.text and len(nid.text) >= 16, f"{label}: persistent NameID is opaque")
        idp["persistent"].setdefault(email, set()).add(nid.text)
        check(nid.get("SPNameQualifier") == sp.entity_id, f"{label}: SPNameQualifier = SP")
    else:
        check(nid.get("Format") == EMAIL_FMT and nid.text == email, f"{label}: NameID = email ({nid.text})")

    sc = a.find("saml:Subject/saml:SubjectConfirmation", NS)
    check(sc.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer", f"{label}: bearer confirmation")
    scd = sc.find("saml:SubjectConfirmationData", NS)
    check(scd.get("Recipient") == sp.acs_url, f"{label}: Recipient = ACS")
    check(scd.get("InResponseTo") == request_id, f"{label}: SubjectConfirmationData InResponseTo")
    check(0 < (t(scd.get("NotOnOrAfter")) - now).total_seconds() <= 3600, f"{label}: SCD NotOnOrAfter in the future")
    check(scd.get("NotBefore") is None, f"{label}: no NotBefore on bearer SCD")

    cond = a.find("saml:Conditions", NS)
    check(t(cond.get("NotBefore")) <= now + datetime.timedelta(seconds=5), f"{label}: NotBefore not in the future")
    check(t(cond.get("NotOnOrAfter")) > now, f"{label}: NotOnOrAfter in the future")
    aud = cond.findall("saml:AudienceRestriction/saml:Audience", NS)
    check([x.text for x in aud] == [sp.entity_id], f"{label}: Audience = SP entity ID")
    check(a.find("saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef", NS) is not None, f"{label}: AuthnStatement")

    attrs = {}
    for at in a.findall("saml:AttributeStatement/saml:Attribute", NS):
        attrs[at.get("Name")] = (at.get("NameFormat"), [v.text for v in at.findall("saml:AttributeValue", NS)])
    if knobs["attrs"] == "uri":
        names, fmt = URI_NAMES, URI_FMT
    else:
        names, fmt = {k: k for k in URI_NAMES}, BASIC_FMT
    want = {"mail": email, "givenName": given, "sn": family}
    for local, value in want.items():
        check(attrs.get(names[local]) == (fmt, [value]), f"{label}: attribute {names[local]} = {value!r} ({attrs.get(names[local])})")
    check(len(attrs) == 3, f"{label}: exactly three attributes")
    return a


def check_sig_algs(label, sig, ref_id):
    sm = sig.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
    dm = sig.find("ds:SignedInfo/ds:Reference/ds:DigestMethod", NS).get("Algorithm")
    cm = sig.find("ds:SignedInfo/ds:CanonicalizationMethod", NS).get("Algorithm")
    uri = sig.find("ds:SignedInfo/ds:Reference", NS).get("URI")
    check(sm == RSA_SHA256, f"{label}: SignatureMethod rsa-sha256 ({sm})")
    check(dm == SHA256, f"{label}: DigestMethod sha256 ({dm})")
    check(cm == EXC_C14N, f"{label}: exclusive C14N ({cm})")
    check(uri == f"#{ref_id}", f"{label}: Reference URI points at the signed element")


def pysaml2_sp_check(idp, sp, saml_b64, request_id, label, key):
    """Feed the response to pysaml2's Saml2Client, an SP implementation we did not write."""
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    md_path = write(idp["work"], f"idp-md-{key}.xml", idp["metadata_both"])
    sig_key = write(idp["work"], f"{label}-sp-sig.key", sp.sig_key_pem)
    sig_crt = write(idp["work"], f"{label}-sp-sig.crt", sp.sig_cert)
    conf = SPConfig()
    conf.load({
        "entityid": sp.entity_id,
        "xmlsec_binary": XMLSEC1,
        "key_file": sig_key,
        "cert_file": sig_crt,
        "encryption_keypairs": [{"key_file": sp.enc_key_path, "cert_file": sp.enc_cert_path}],
        "metadata": {"local": [md_path]},
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
            "want_response_signed": False,
            "want_assertions_signed": False,
            "want_assertions_or_response_signed": True,
            "allow_unsolicited": request_id is None,
        }},
        "allow_unknown_attributes": True,
    })
    client = Saml2Client(config=conf)
    outstanding = {request_id: "/"} if request_id else {}
    try:
        r = client.parse_authn_request_response(saml_b64, BINDING_HTTP_POST, outstanding)
    except Exception as exc:  # noqa: BLE001
        check(False, f"{label}: pysaml2 SP accepts the response ({type(exc).__name__}: {exc})")
        return
    check(r is not None and r.assertion is not None, f"{label}: pysaml2 SP accepts the response")


# Cases whose signatures must all verify with the pinned key (the SP has to reject them on semantics).
CORPUS_CRYPTO_VALID = {
    "xsw2", "xsw3", "xsw4", "xsw5", "xsw7", "assertion-in-extensions", "two-assertions", "nameid-comment",
    "rsa-sha1", "reference-uri-empty", "xpath-transform-selects-nothing", "wrong-audience",
    "no-audience-restriction", "wrong-destination", "wrong-recipient", "wrong-issuer", "wrong-assertion-issuer",
    "wrong-in-response-to", "scd-in-response-to-mismatch", "no-in-response-to", "expired", "not-yet-valid",
    "not-bearer", "status-not-success",
}
CORPUS_CRYPTO_INVALID = {
    "xsw1", "xsw6", "xsw8", "duplicate-id-evil-first", "duplicate-id-evil-last", "attacker-key-in-keyinfo",
    "attacker-key-idp-cert-in-keyinfo", "hmac-keyed-with-idp-cert",
}


def corpus_checks(work, base, idp, sp):
    """Run saml_corpus.py with the IdP's key and check it; feed everything to pysaml2's SP as well."""
    rid = "_" + uuid.uuid4().hex
    now = int(time.time())
    cmd = [sys.executable, os.path.join(HERE, "saml_corpus.py"),
           "--idp-key", os.path.join(work, "state", "key1.pem"), "--idp-cert", idp["cert_paths"]["1"],
           "--idp-entity-id", idp["entity_id"], "--sp-entity-id", sp.entity_id, "--acs-url", sp.acs_url,
           "--request-id", rid, "--now", str(now)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    took = time.monotonic() - t0
    if not check(p.returncode == 0, f"saml_corpus.py runs ({p.stderr[-500:]})"):
        return
    print(f"corpus generated in {took:.2f} s", flush=True)
    out = json.loads(p.stdout)
    valid, cases = out["valid"], out["cases"]
    names = [c["name"] for c in cases]
    check(valid["name"] == "valid-control", "valid-control present")
    check(len(names) == len(set(names)) and all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names),
          "case names unique, kebab-case")
    required = {f"xsw{i}" for i in range(1, 9)} | {
        "assertion-in-extensions", "two-assertions", "nameid-comment", "signature-removed",
        "attacker-key-in-keyinfo", "rsa-sha1", "wrong-audience", "wrong-destination", "wrong-recipient",
        "wrong-issuer", "wrong-in-response-to", "expired", "not-yet-valid", "doctype-entities"}
    check(required <= set(names), f"required cases present (missing {required - set(names)})")
    check(all(c["note"] and c["saml_response"] != valid["saml_response"] for c in cases), "every case has a note and differs")

    knobs = {"sign": "both", "encrypt": "0", "attrs": "basic", "key": "1", "nameid": "email", "cipher": "aes128-gcm"}
    check_response("corpus valid-control", valid["saml_response"], sp, idp, knobs, rid, "alice@acme.test", "Alice", "Liddell")
    vdoc = etree.fromstring(base64.b64decode(valid["saml_response"]))
    vc = vdoc.find("saml:Assertion/saml:Conditions", NS)
    check((vdoc.get("IssueInstant"), vc.get("NotBefore"), vc.get("NotOnOrAfter")) ==
          tuple(datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                for t in (now, now - 60, now + 300)), "corpus valid-control times from --now")

    by_name = {c["name"]: c for c in cases}
    for name in CORPUS_CRYPTO_VALID:
        sigs = by_name[name]["signatures"]
        check(sigs and all(s["valid"] for s in sigs), f"corpus {name}: every signature verifies ({sigs})")
    for name in CORPUS_CRYPTO_INVALID:
        sigs = by_name[name]["signatures"]
        check(sigs and not any(s["valid"] for s in sigs), f"corpus {name}: no signature verifies ({sigs})")
    check(by_name["signature-removed"]["signatures"] == [], "corpus signature-removed has no signature")
    check(all(s.get("valid_after_entity_expansion") for s in by_name["doctype-entities"]["signatures"]),
          "corpus doctype-entities signatures valid after entity expansion")
    raw = base64.b64decode(by_name["nameid-comment"]["saml_response"])
    check(b">admin@acme.test<!---->.evil.test</" in raw, "corpus nameid-comment carries the comment")
    nid = etree.fromstring(raw).find(".//saml:NameID", NS)
    check("".join(nid.itertext()) == "admin@acme.test.evil.test", "corpus nameid-comment full text")
    raw = base64.b64decode(by_name["doctype-entities"]["saml_response"])
    check(b"<!DOCTYPE" in raw and b"<!ENTITY lol2" in raw and b"&lol2;" in raw, "corpus doctype-entities shape")

    again = subprocess.run(cmd + ["--only", "wrong-audience,expired"], capture_output=True, text=True)
    o2 = json.loads(again.stdout)
    check([c["name"] for c in o2["cases"]] == ["wrong-audience", "expired"] and
          o2["valid"]["saml_response"] == valid["saml_response"] and
          o2["cases"][0]["saml_response"] == by_name["wrong-audience"]["saml_response"], "--only, deterministic output")

    # pysaml2's SP (want signed assertions) as an unrelated strict-ish consumer: it must take the control;
    # what it does with the cases is printed for information.
    accepted = []
    ok = pysaml2_accepts(idp, sp, valid["saml_response"], rid)  # True only with NameID alice@acme.test
    check(ok is True, f"pysaml2 SP accepts corpus valid-control ({ok})")
    for c in cases:
        res = pysaml2_accepts(idp, sp, c["saml_response"], rid)
        if res is True or (isinstance(res, str) and res.startswith("NameID ")):
            accepted.append(f"{c['name']} ({res})")
    print(f"pysaml2 7.5.5 SP (for information) accepts these hostile cases: {accepted or 'none'}", flush=True)


def pysaml2_accepts(idp, sp, saml_b64, request_id):
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    md_path = write(idp["work"], "idp-md-corpus.xml", idp["metadata_both"])
    conf = SPConfig()
    conf.load({
        "entityid": sp.entity_id,
        "xmlsec_binary": XMLSEC1,
        "metadata": {"local": [md_path]},
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
            "want_response_signed": False,
            "want_assertions_signed": True,
            "allow_unsolicited": False,
        }},
        "allow_unknown_attributes": True,
    })
    try:
        r = Saml2Client(config=conf).parse_authn_request_response(saml_b64, BINDING_HTTP_POST, {request_id: "/"})
        if r is None or r.assertion is None:
            return False
        return f"NameID {r.name_id.text!r}" if r.name_id.text != "alice@acme.test" else True
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc)[:200]}"


def main():
    keep = "--keep" in sys.argv
    work = tempfile.mkdtemp(prefix="saml-idp-selfcheck-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "saml_idp.py"), "--port", str(port), "--state-dir", os.path.join(work, "state")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        startup = time.monotonic() - t0
        if line != f"READY {base}":
            print(f"FAIL IdP did not print READY (got {line!r})")
            return 1
        print(f"IdP ready in {startup:.2f} s at {base}", flush=True)
        return run_checks(work, base, startup)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def run_checks(work, base, startup):
    status, body = http("GET", f"{base}/healthz")
    check(status == 200, "/healthz is 200")
    status, body = http("GET", f"{base}/certs")
    certs = json.loads(body)
    check(status == 200 and set(certs) == {"cert1", "cert2"} and certs["cert1"] != certs["cert2"], "/certs has two certs")
    idp = {
        "work": work,
        "entity_id": f"{base}/metadata",
        "cert_paths": {"1": write(work, "idp1.crt", certs["cert1"]), "2": write(work, "idp2.crt", certs["cert2"])},
        "persistent": {},
    }
    for n in ("1", "2"):
        c = x509.load_pem_x509_certificate(certs[f"cert{n}"].encode())
        days = (c.not_valid_after_utc - c.not_valid_before_utc).days
        check(364 <= days <= 366 and c.public_key().key_size == 2048, f"cert{n} is RSA-2048, valid one year")

    status, md_xml = http("GET", f"{base}/metadata")
    md_doc = etree.fromstring(md_xml.encode())
    check(md_doc.get("entityID") == idp["entity_id"], "metadata entityID")
    sso = md_doc.findall(".//md:IDPSSODescriptor/md:SingleSignOnService", NS)
    check([(s.get("Binding"), s.get("Location")) for s in sso] ==
          [("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", f"{base}/sso/redirect")], "metadata SSO endpoint")
    kds = md_doc.findall(".//md:IDPSSODescriptor/md:KeyDescriptor", NS)
    check([k.get("use") for k in kds] == ["signing"] and
          kds[0].findtext(".//ds:X509Certificate", namespaces=NS) == b64cert(certs["cert1"]), "metadata: one signing key, cert1")
    status, md_both = http("GET", f"{base}/metadata?both=1")
    kds = etree.fromstring(md_both.encode()).findall(".//md:IDPSSODescriptor/md:KeyDescriptor", NS)
    check([k.findtext(".//ds:X509Certificate", namespaces=NS) for k in kds if k.get("use") == "signing"] ==
          [b64cert(certs["cert1"]), b64cert(certs["cert2"])], "metadata?both=1: cert1 and cert2")
    idp["metadata_both"] = md_both

    # --- registration errors
    check(http("POST", f"{base}/admin/sp", b"not xml", "application/xml")[0] == 400, "/admin/sp rejects garbage")
    check(http("POST", f"{base}/admin/sp", b"", "application/xml")[0] == 400, "/admin/sp rejects empty body")

    sp = FakeSP(work, base, "main")
    check(sp.register()[0] == 200, "register SP")
    check(sp.register()[0] == 200, "re-register (replace) SP")

    # --- every knob combination, SP-initiated
    combos = list(itertools.product(("response", "assertion", "both", "none"), ("0", "1"), ("uri", "basic"), ("1", "2")))
    n = 0
    for sign, enc, attrs, key in combos:
        nameid = ("email", "persistent")[n % 2]
        cipher = ("aes128-gcm", "aes128-cbc", "aes256-cbc", "aes256-gcm")[n % 4]
        n += 1
        knobs = {"sign": sign, "encrypt": enc, "attrs": attrs, "key": key, "nameid": nameid, "cipher": cipher}
        email = ("alice@acme.test", "jane.doe@example.test", "carol@example.test")[n % 3]
        given, family = {"alice@acme.test": ("Alice", "Liddell"), "jane.doe@example.test": ("Jane", "Doe"),
                         "carol@example.test": ("Carol", "Tester")}[email]
        label = f"sp-init {urllib.parse.urlencode(knobs)}"
        rid, xml = sp.authn_request()
        relay = f"/after?x={n}&y=ü"
        q = sp.redirect_query(xml, relay) + "&" + urllib.parse.urlencode({"user": email, "format": "json", **knobs})
        status, body = http("GET", f"{base}/sso/redirect?{q}")
        if not check(status == 200, f"{label}: 200 ({status} {body[:200]})"):
            continue
        j = json.loads(body)
        check(j["acs_url"] == sp.acs_url and j["RelayState"] == relay, f"{label}: acs_url and RelayState echoed")
        check_response(label, j["SAMLResponse"], sp, idp, knobs, rid, email, given, family)
        if sign != "none":
            pysaml2_sp_check(idp, sp, j["SAMLResponse"], rid, label, key)

    # --- names given explicitly, default knobs (sign=both, no encryption, uri, key 1, NameIDPolicy email)
    rid, xml = sp.authn_request()
    q = sp.redirect_query(xml, None) + "&user=bob%40acme.test&format=json&given=Robert&family=O%27Builder"
    status, body = http("GET", f"{base}/sso/redirect?{q}")
    if check(status == 200, "given/family override"):
        j = json.loads(body)
        check(j["RelayState"] is None, "no RelayState when none sent")
        defaults = {"sign": "both", "encrypt": "0", "attrs": "uri", "key": "1", "nameid": "email", "cipher": "aes128-gcm"}
        check_response("defaults+names", j["SAMLResponse"], sp, idp, defaults, rid, "bob@acme.test", "Robert", "O'Builder")

    # persistent IDs are stable per email and distinct across emails
    ids = idp["persistent"]
    check(all(len(v) == 1 for v in ids.values()) and len({next(iter(v)) for v in ids.values()}) == len(ids),
          f"persistent NameID stable per user and distinct ({ids})")

    # NameIDPolicy persistent in the request, no knob
    rid, xml = sp.authn_request(nameid_format=PERSISTENT_FMT)
    q = sp.redirect_query(xml, "rs") + "&user=alice%40acme.test&format=json"
    status, body = http("GET", f"{base}/sso/redirect?{q}")
    if check(status == 200, "NameIDPolicy persistent"):
        a = etree.fromstring(base64.b64decode(json.loads(body)["SAMLResponse"]))
        check(a.find(".//saml:NameID", NS).get("Format") == PERSISTENT_FMT, "NameIDPolicy persistent honoured")

    # AssertionConsumerServiceURL in the request: the second ACS is used; an unknown one is refused
    rid, xml = sp.authn_request(acs_url=sp.acs_url2)
    status, body = http("GET", f"{base}/sso/redirect?{sp.redirect_query(xml, 'x')}&user=alice%40acme.test&format=json")
    check(status == 200 and json.loads(body)["acs_url"] == sp.acs_url2, "request's ACS URL used when in metadata")
    rid, xml = sp.authn_request(acs_url="https://evil.test/acs")
    status, body = http("GET", f"{base}/sso/redirect?{sp.redirect_query(xml, 'x')}&user=alice%40acme.test&format=json")
    check(status == 400, f"unknown ACS URL refused ({status})")

    # bad knob values, unknown SP, encrypt without an encryption cert
    rid, xml = sp.authn_request()
    status, _ = http("GET", f"{base}/sso/redirect?{sp.redirect_query(xml, 'x')}&user=alice%40acme.test&format=json&sign=maybe")
    check(status == 400, "bad knob value refused")
    stranger = FakeSP(work, base, "stranger")
    rid, xml = stranger.authn_request()
    status, _ = http("GET", f"{base}/sso/redirect?{stranger.redirect_query(xml, 'x')}&user=alice%40acme.test&format=json")
    check(status == 400, "unregistered SP refused")
    noenc = FakeSP(work, base, "noenc", with_enc=False)
    check(noenc.register()[0] == 200, "register SP without encryption cert")
    rid, xml = noenc.authn_request()
    status, _ = http("GET", f"{base}/sso/redirect?{noenc.redirect_query(xml, 'x')}&user=alice%40acme.test&format=json&encrypt=1")
    check(status == 400, "encrypt=1 without an SP encryption cert refused")

    # --- signed AuthnRequests (verified on the raw query bytes)
    ssp = FakeSP(work, base, "signed", signed_requests=True)
    check(ssp.register()[0] == 200, "register SP with AuthnRequestsSigned")
    rid, xml = ssp.authn_request()
    relay = "a b+c/d?e=f&g"
    status, body = http("GET", f"{base}/sso/redirect?{ssp.redirect_query(xml, relay)}&user=alice%40acme.test&format=json")
    if check(status == 200, f"signed AuthnRequest accepted ({status} {body[:200]})"):
        check(json.loads(body)["RelayState"] == relay, "RelayState with reserved characters round-trips")
    status, _ = http("GET", f"{base}/sso/redirect?{ssp.redirect_query(xml, relay, tamper=True)}&user=alice%40acme.test&format=json")
    check(status == 400, "tampered AuthnRequest signature refused")
    status, _ = http("GET", f"{base}/sso/redirect?{ssp.redirect_query(xml, relay, sign=False)}&user=alice%40acme.test&format=json")
    check(status == 400, "unsigned AuthnRequest refused when AuthnRequestsSigned")

    # --- per-SP default knobs given at registration (for browser tests)
    dsp = FakeSP(work, base, "defaults")
    check(dsp.register("?sign=assertion&encrypt=1&attrs=basic&key=2")[0] == 200, "register SP with default knobs")
    rid, xml = dsp.authn_request()
    status, body = http("GET", f"{base}/sso/redirect?{dsp.redirect_query(xml, 'rs')}&user=alice%40acme.test&format=json")
    if check(status == 200, "SP with default knobs"):
        knobs = {"sign": "assertion", "encrypt": "1", "attrs": "basic", "key": "2", "nameid": "email", "cipher": "aes128-gcm"}
        check_response("registration defaults", json.loads(body)["SAMLResponse"], dsp, idp, knobs, rid,
                       "alice@acme.test", "Alice", "Liddell")

    # --- browser flow: form, wrong password, auto-POST page
    rid, xml = sp.authn_request()
    relay = "/dashboard?tab=1&x=<b>"
    q = sp.redirect_query(xml, relay)
    status, page = http("GET", f"{base}/sso/redirect?{q}")
    check(status == 200 and 'name="username"' in page and 'name="password"' in page and ">Sign in</button>" in page,
          "login form shown")
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    form = {k: htmlmod.unescape(v) for k, v in hidden.items()}
    bad = urllib.parse.urlencode({**form, "username": "eve@outside.test", "password": "nope"}).encode()
    status, page = http("POST", f"{base}/sso/login", bad, "application/x-www-form-urlencoded")
    check(status == 401 and "Wrong email or password" in page and 'name="username"' in page, "wrong password refused")
    good = urllib.parse.urlencode({**form, "username": "eve@outside.test", "password": "secret"}).encode()
    status, page = http("POST", f"{base}/sso/login", good, "application/x-www-form-urlencoded")
    check(status == 200 and f'action="{sp.acs_url}"' in page and ">Continue</button>" in page and "<script>" in page,
          "auto-POST page")
    fields = {k: htmlmod.unescape(v) for k, v in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)}
    check(fields.get("RelayState") == relay, f"auto-POST RelayState ({fields.get('RelayState')!r})")
    if check("SAMLResponse" in fields, "auto-POST carries SAMLResponse"):
        defaults = {"sign": "both", "encrypt": "0", "attrs": "uri", "key": "1", "nameid": "email", "cipher": "aes128-gcm"}
        check_response("browser", fields["SAMLResponse"], sp, idp, defaults, rid, "eve@outside.test", "Eve", "Outsider")

    # --- IdP-initiated
    for enc, key in (("0", "1"), ("1", "2")):
        knobs = {"sign": "both", "encrypt": enc, "attrs": "basic", "key": key, "nameid": "email", "cipher": "aes256-cbc"}
        q = urllib.parse.urlencode({"sp": sp.entity_id, "user": "alice@acme.test", "format": "json",
                                    "relay_state": "/home", **knobs})
        status, body = http("GET", f"{base}/idp-initiated?{q}")
        label = f"idp-init {urllib.parse.urlencode(knobs)}"
        if not check(status == 200, f"{label}: 200 ({status} {body[:200]})"):
            continue
        j = json.loads(body)
        check(j["RelayState"] == "/home" and j["acs_url"] == sp.acs_url, f"{label}: RelayState and default ACS")
        check_response(label, j["SAMLResponse"], sp, idp, knobs, None, "alice@acme.test", "Alice", "Liddell")
        pysaml2_sp_check(idp, sp, j["SAMLResponse"], None, label, key)
    status, page = http("GET", f"{base}/idp-initiated?sp={urllib.parse.quote(sp.entity_id)}&user=bob%40acme.test")
    check(status == 200 and f'action="{sp.acs_url}"' in page and 'name="SAMLResponse"' in page, "idp-init HTML auto-POST")
    check(http("GET", f"{base}/idp-initiated?sp=https%3A%2F%2Fnobody.test&user=a%40b.test")[0] == 400, "idp-init unknown SP")

    # --- several SPs in parallel
    def one(i):
        s = FakeSP(work, base, f"par{i}")
        if s.register()[0] != 200:
            return False
        rid, xml = s.authn_request()
        st, body = http("GET", f"{base}/sso/redirect?{s.redirect_query(xml, str(i))}&user=alice%40acme.test&format=json&encrypt=1")
        if st != 200:
            return False
        doc = etree.fromstring(base64.b64decode(json.loads(body)["SAMLResponse"]))
        return doc.get("Destination") == s.acs_url and doc.get("InResponseTo") == rid
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        check(all(ex.map(one, range(12))), "12 SPs registered and served concurrently")

    corpus_checks(work, base, idp, sp)

    print(f"IdP startup {startup:.2f} s")
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
