#!/usr/bin/env python3
"""Hostile SAML responses for Gatehouse's SP tests.

Usage:
  saml_corpus.py --idp-key K --idp-cert C --idp-entity-id E --sp-entity-id S --acs-url A \
                 --request-id R --now UNIX_SECONDS [--email alice@acme.test] [--only NAME,NAME]

Prints {"valid": {...}, "cases": [{...}, ...]} as JSON. Every entry has "name",
"saml_response" (base64 of the XML, as POSTed to the ACS), "note" (the attack, and what
`xmlsec1 --verify` with the pinned IdP certificate says of each signature in it) and
"signatures" (the same verdicts, structured). "valid-control" is a correct response that
a strict SP must accept; every case is a mutation of it that a strict SP must reject.

Signatures are made here with lxml + cryptography: enveloped, exclusive C14N, RSA-SHA256,
SHA-256 digests, Reference URI="#ID", placed right after the Issuer, KeyInfo carrying the
certificate — the shape real IdPs send. Output is deterministic for the same inputs except
for the cases that use a freshly generated attacker key.
"""

import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

XMLSEC1 = os.environ.get("XMLSEC1", "/usr/bin/xmlsec1")

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH_FILTER = "http://www.w3.org/TR/1999/REC-xpath-19991116"
SIG_ALGS = {
    "rsa-sha256": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256"),
    "rsa-sha1": ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1"),
    "hmac-sha256": ("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256", "http://www.w3.org/2001/04/xmlenc#sha256"),
}
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
EMAIL_FMT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def q(ns, tag):
    return f"{{{NS[ns]}}}{tag}"


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------ signing


class Signer:
    def __init__(self, key, cert_pem):
        self.key = key
        self.cert_b64 = "".join(l for l in cert_pem.strip().splitlines() if "-----" not in l)


def c14n(el):
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)


def sign(el, signer, alg="rsa-sha256", uri=None, xpath=None, hmac_key=None):
    """Add an enveloped signature to `el`, right after its Issuer (or first, if it has none).

    uri: the Reference URI (default "#" + el's ID; "" signs the whole document).
    xpath: an XPath filter transform put between enveloped-signature and exclusive C14N;
           only "0" (selects nothing) is supported, which makes the digest that of no bytes.
    """
    sig_uri, digest_uri = SIG_ALGS[alg]
    if uri is None:
        uri = "#" + el.get("ID")
    target = el.getroottree().getroot() if uri == "" else el
    if xpath is not None:
        assert xpath == "0"
        octets = b""
    else:
        octets = c14n(target)  # before the signature is inserted = after the enveloped transform
    h = hashlib.sha1 if alg == "rsa-sha1" else hashlib.sha256
    digest = base64.b64encode(h(octets).digest()).decode()

    ds = {"ds": DS}
    sig = etree.Element(q("ds", "Signature"), nsmap=ds)
    si = etree.SubElement(sig, q("ds", "SignedInfo"))
    etree.SubElement(si, q("ds", "CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(si, q("ds", "SignatureMethod"), Algorithm=sig_uri)
    ref = etree.SubElement(si, q("ds", "Reference"), URI=uri)
    tr = etree.SubElement(ref, q("ds", "Transforms"))
    etree.SubElement(tr, q("ds", "Transform"), Algorithm=ENVELOPED)
    if xpath is not None:
        etree.SubElement(etree.SubElement(tr, q("ds", "Transform"), Algorithm=XPATH_FILTER), q("ds", "XPath")).text = xpath
    etree.SubElement(tr, q("ds", "Transform"), Algorithm=EXC_C14N)
    etree.SubElement(ref, q("ds", "DigestMethod"), Algorithm=digest_uri)
    etree.SubElement(ref, q("ds", "DigestValue")).text = digest
    sv = etree.SubElement(sig, q("ds", "SignatureValue"))
    ki = etree.SubElement(sig, q("ds", "KeyInfo"))
    etree.SubElement(etree.SubElement(ki, q("ds", "X509Data")), q("ds", "X509Certificate")).text = signer.cert_b64

    issuer = el.find("saml:Issuer", NS)
    el.insert(el.index(issuer) + 1 if issuer is not None else 0, sig)
    signed_info = c14n(si)
    if alg == "hmac-sha256":
        value = hmac.new(hmac_key, signed_info, hashlib.sha256).digest()
    else:
        hash_alg = hashes.SHA1() if alg == "rsa-sha1" else hashes.SHA256()
        value = signer.key.sign(signed_info, padding.PKCS1v15(), hash_alg)
    sv.text = base64.b64encode(value).decode()
    return sig


def strip_signature(el):
    for s in el.findall("ds:Signature", NS):
        el.remove(s)
    return el


# ----------------------------------------------------------------------- building


class Corpus:
    def __init__(self, args):
        with open(args.idp_key, "rb") as f:
            self.idp_key = serialization.load_pem_private_key(f.read(), password=None)
        with open(args.idp_cert, "rb") as f:
            self.idp_cert_bytes = f.read()
        self.idp = Signer(self.idp_key, self.idp_cert_bytes.decode())
        self.args = args
        self.now = args.now
        self.email = args.email
        local, _, domain = args.email.partition("@")
        self.evil = f"admin@{domain}" if local != "admin" else f"root@{domain}"
        self.counter = 0

    def new_id(self, label):
        self.counter += 1
        seed = f"{self.args.request_id}|{self.now}|{label}|{self.counter}"
        return "_" + hashlib.sha256(seed.encode()).hexdigest()[:40]

    def response(self, label, **o):
        """A fresh, unsigned response with its own IDs. Keyword overrides change single fields."""
        a, now = self.args, self.now
        p = dict(
            email=self.email, issue=now, authn_instant=now, not_before=now - 60, not_on_or_after=now + 300,
            scd_not_on_or_after=now + 300, in_response_to=a.request_id, scd_in_response_to=a.request_id,
            destination=a.acs_url, recipient=a.acs_url, audience=a.sp_entity_id, response_issuer=a.idp_entity_id,
            assertion_issuer=a.idp_entity_id, status=SUCCESS, method=BEARER, audience_restriction=True,
        )
        p.update(o)
        r = etree.Element(q("samlp", "Response"), nsmap={"samlp": SAMLP, "saml": SAML})
        r.set("ID", self.new_id(label))
        r.set("Version", "2.0")
        r.set("IssueInstant", iso(p["issue"]))
        r.set("Destination", p["destination"])
        if p["in_response_to"] is not None:
            r.set("InResponseTo", p["in_response_to"])
        etree.SubElement(r, q("saml", "Issuer")).text = p["response_issuer"]
        st = etree.SubElement(etree.SubElement(r, q("samlp", "Status")), q("samlp", "StatusCode"), Value=p["status"])
        if p["status"] != SUCCESS:
            etree.SubElement(st, q("samlp", "StatusCode"), Value=AUTHN_FAILED)

        at = etree.SubElement(r, q("saml", "Assertion"), nsmap={"xs": XS, "xsi": XSI})
        at.set("ID", self.new_id(label))
        at.set("Version", "2.0")
        at.set("IssueInstant", iso(p["issue"]))
        etree.SubElement(at, q("saml", "Issuer")).text = p["assertion_issuer"]
        subj = etree.SubElement(at, q("saml", "Subject"))
        etree.SubElement(subj, q("saml", "NameID"), Format=EMAIL_FMT).text = p["email"]
        sc = etree.SubElement(subj, q("saml", "SubjectConfirmation"), Method=p["method"])
        scd = etree.SubElement(sc, q("saml", "SubjectConfirmationData"))
        scd.set("NotOnOrAfter", iso(p["scd_not_on_or_after"]))
        scd.set("Recipient", p["recipient"])
        if p["scd_in_response_to"] is not None:
            scd.set("InResponseTo", p["scd_in_response_to"])
        cond = etree.SubElement(at, q("saml", "Conditions"))
        cond.set("NotBefore", iso(p["not_before"]))
        cond.set("NotOnOrAfter", iso(p["not_on_or_after"]))
        if p["audience_restriction"]:
            etree.SubElement(etree.SubElement(cond, q("saml", "AudienceRestriction")), q("saml", "Audience")).text = p["audience"]
        an = etree.SubElement(at, q("saml", "AuthnStatement"))
        an.set("AuthnInstant", iso(p["authn_instant"]))
        an.set("SessionIndex", self.new_id(label))
        etree.SubElement(etree.SubElement(an, q("saml", "AuthnContext")), q("saml", "AuthnContextClassRef")).text = PPT
        ats = etree.SubElement(at, q("saml", "AttributeStatement"))
        local = p["email"].split("@")[0]
        given = local.split(".")[0].capitalize()
        family = {"alice": "Liddell", "bob": "Builder", "eve": "Outsider"}.get(local, "Tester")
        for name, value in (("mail", p["email"]), ("givenName", given), ("sn", family)):
            attr = etree.SubElement(ats, q("saml", "Attribute"), Name=name, NameFormat=BASIC)
            v = etree.SubElement(attr, q("saml", "AttributeValue"))
            v.set(f"{{{XSI}}}type", "xs:string")
            v.text = value
        return r

    def signed(self, label, what="both", signer=None, alg="rsa-sha256", **o):
        """A fresh response signed by the IdP: what = both | assertion | response | none."""
        r = self.response(label, **o)
        signer = signer or self.idp
        if what in ("both", "assertion"):
            sign(r.find("saml:Assertion", NS), signer, alg)
        if what in ("both", "response"):
            sign(r, signer, alg)
        return r

    def evilize(self, assertion, new_id=True):
        """Turn a copy of an assertion into the attacker's: unsigned, subject and mail = the evil address."""
        strip_signature(assertion)
        if new_id:
            assertion.set("ID", self.new_id("evil"))
        assertion.find("saml:Subject/saml:NameID", NS).text = self.evil
        for attr in assertion.findall("saml:AttributeStatement/saml:Attribute", NS):
            if attr.get("Name") == "mail":
                attr.find("saml:AttributeValue", NS).text = self.evil
        return assertion


def xml_bytes(root):
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------- the cases


def build_cases(c):
    """Yield (name, xml_bytes, note)."""
    E = c.evil

    # XSW1/2 wrap the Response signature. Base: a response signed at Response level only,
    # since a Response-level wrapping needs the assertion to ride unsigned.
    def xsw_response(name, detached):
        orig = c.signed(name, "response")
        sig = orig.find("ds:Signature", NS)
        evil = copy.deepcopy(orig)
        strip_signature(evil)
        evil.set("ID", c.new_id(name))
        c.evilize(evil.find("saml:Assertion", NS))
        orig.remove(sig)  # the enveloped transform removed it when the digest was made
        sig_index = evil.index(evil.find("saml:Issuer", NS)) + 1
        if detached:
            evil.insert(sig_index, orig)
            evil.insert(sig_index + 1, sig)
        else:
            etree.SubElement(sig, q("ds", "Object")).append(orig)
            evil.insert(sig_index, sig)
        return xml_bytes(evil)

    yield ("xsw1", xsw_response("xsw1", False),
           f"XSW1: evil unsigned Response (new ID, assertion for {E}) as root; the original Response-level "
           "signature moved into it and the original signed Response (its signature removed) placed in a "
           "ds:Object inside that ds:Signature. Base is Response-signed only. A verifier that applies the "
           "enveloped-signature transform by the spec drops the whole ds:Signature subtree, so the digest "
           "fails; one that only cuts the ds:Signature out of the referenced element accepts it.")
    yield ("xsw2", xsw_response("xsw2", True),
           f"XSW2: evil unsigned Response (new ID, assertion for {E}) as root; the original signed Response "
           "(signature removed) inserted as its child just before the moved original signature (detached "
           "style). Base is Response-signed only.")

    # XSW3-8 wrap the Assertion signature. Base: assertion-signed only (signing the Response would let
    # any change fail on the Response signature, hiding the wrapping).
    def base_a(name):
        r = c.signed(name, "assertion")
        return r, r.find("saml:Assertion", NS)

    r, a = base_a("xsw3")
    evil = c.evilize(copy.deepcopy(a))
    r.insert(r.index(a), evil)
    yield ("xsw3", xml_bytes(r),
           f"XSW3: evil unsigned Assertion (new ID, {E}) inserted before the original signed Assertion. "
           "Base is Assertion-signed only.")

    r, a = base_a("xsw4")
    evil = c.evilize(copy.deepcopy(a))
    r.replace(a, evil)
    evil.append(a)
    yield ("xsw4", xml_bytes(r),
           f"XSW4: evil unsigned Assertion (new ID, {E}) in the original's place, wrapping the original "
           "signed Assertion as its last child. Base is Assertion-signed only.")

    def evil_with_original_signature(name):
        """Evil assertion (new ID) carrying the original signature; returns (response, evil, sig, original)."""
        r, a = base_a(name)
        idx = r.index(a)
        sig = a.find("ds:Signature", NS)
        evil = c.evilize(copy.deepcopy(a))
        a.remove(sig)  # the enveloped transform removed it when the digest was made
        evil.insert(evil.index(evil.find("saml:Issuer", NS)) + 1, sig)
        r.remove(a)
        r.insert(idx, evil)
        return r, evil, sig, a

    r, evil, sig, a = evil_with_original_signature("xsw5")
    r.append(a)
    yield ("xsw5", xml_bytes(r),
           f"XSW5: evil Assertion (new ID, {E}) carrying the original signature (which still references the "
           "original ID, so the signature is on a different element than the assertion an SP would consume); "
           "the original Assertion, signature removed, appended at the end of the Response. Base is "
           "Assertion-signed only.")

    r, evil, sig, a = evil_with_original_signature("xsw6")
    sig.append(a)
    yield ("xsw6", xml_bytes(r),
           f"XSW6: evil Assertion (new ID, {E}) carrying the original signature; the original Assertion "
           "(signature removed) placed inside that ds:Signature element. Base is Assertion-signed only. "
           "Schema-strict verifiers refuse the foreign child of ds:Signature; by the spec the enveloped "
           "transform would drop it from the digest anyway.")

    r, a = base_a("xsw7")
    evil = c.evilize(copy.deepcopy(a))
    r.remove(a)
    ext = etree.Element(q("samlp", "Extensions"))
    ext.append(a)
    r.insert(r.index(r.find("saml:Issuer", NS)) + 1, ext)
    r.append(evil)
    yield ("xsw7", xml_bytes(r),
           f"XSW7: the original signed Assertion moved into samlp:Extensions (schema allows any content "
           f"there); an evil unsigned Assertion (new ID, {E}) where the assertion belongs. Base is "
           "Assertion-signed only.")

    r, evil, sig, a = evil_with_original_signature("xsw8")
    etree.SubElement(sig, q("ds", "Object")).append(a)
    yield ("xsw8", xml_bytes(r),
           f"XSW8: evil Assertion (new ID, {E}) carrying the original signature, whose new ds:Object holds "
           "the original Assertion (signature removed). Base is Assertion-signed only. By the spec the "
           "enveloped transform drops the whole ds:Signature subtree, so the digest fails; verifiers that "
           "only cut the ds:Signature out of the referenced element accept it.")

    r, a = base_a("assertion-in-extensions")
    evil = c.evilize(copy.deepcopy(a))
    ext = etree.Element(q("samlp", "Extensions"))
    ext.append(evil)
    r.insert(r.index(r.find("saml:Issuer", NS)) + 1, ext)
    yield ("assertion-in-extensions", xml_bytes(r),
           f"An evil unsigned Assertion ({E}) inside samlp:Extensions; the original signed Assertion still in "
           "place. An SP that searches the document for 'an Assertion' may pick the evil one. Base is "
           "Assertion-signed only.")

    # Same ID twice: libxml2-style ID tables keep one of them, the SP may read the other.
    for where in ("first", "last"):
        name = f"duplicate-id-evil-{where}"
        r, a = base_a(name)
        evil = c.evilize(copy.deepcopy(a), new_id=False)
        if where == "first":
            r.insert(r.index(a), evil)
        else:
            r.append(evil)
        yield (name, xml_bytes(r),
               f"Two Assertions with the SAME ID: the original signed one and an evil unsigned copy ({E}) "
               f"placed {'before' if where == 'first' else 'after'} it. Signature lookup by ID and the "
               "SP's choice of assertion can disagree. Base is Assertion-signed only.")

    # Two assertions, both signed by the IdP, plus a signed Response over both.
    r = c.response("two-assertions")
    a1 = r.find("saml:Assertion", NS)
    a2 = copy.deepcopy(a1)
    c.evilize(a2)
    r.append(a2)
    sign(a1, c.idp)
    sign(a2, c.idp)
    sign(r, c.idp)
    yield ("two-assertions", xml_bytes(r),
           f"Two Assertions ({c.email} then {E}), each validly signed by the IdP key, inside a validly signed "
           "Response. The Web SSO profile allows exactly one for the SP to act on; a strict SP rejects.")

    # NameID with a comment, signed after the comment is in (C14N without comments drops it).
    r = c.response("nameid-comment", email=f"{E}.evil.test")
    a = r.find("saml:Assertion", NS)
    for el in (a.find("saml:Subject/saml:NameID", NS),
               [x for x in a.findall("saml:AttributeStatement/saml:Attribute", NS) if x.get("Name") == "mail"][0]
               .find("saml:AttributeValue", NS)):
        el.text = E
        cmt = etree.Comment("")
        cmt.tail = ".evil.test"
        el.append(cmt)
    sign(a, c.idp)
    sign(r, c.idp)
    yield ("nameid-comment", xml_bytes(r),
           f"NameID and mail are '{E}<!---->.evil.test'; both signatures (made after inserting the comment) "
           f"are valid because C14N drops comments. The value is '{E}.evil.test': an SP reading only the "
           f"first text node sees '{E}'.")

    r = c.signed("signature-removed", "both", email=E)
    strip_signature(r)
    strip_signature(r.find("saml:Assertion", NS))
    yield ("signature-removed", xml_bytes(r), f"All signatures stripped (subject {E}).")

    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker = Signer(attacker_key, self_signed(attacker_key, "Gatehouse test IdP signing key 1"))
    yield ("attacker-key-in-keyinfo", xml_bytes(c.signed("attacker-key-in-keyinfo", "both", signer=attacker, email=E)),
           f"Response and Assertion (subject {E}) signed with a freshly generated attacker key whose self-signed "
           "cert (same subject CN as the IdP's) is embedded in KeyInfo. Valid only if the SP trusts KeyInfo.")

    spoof = Signer(attacker_key, c.idp_cert_bytes.decode())
    yield ("attacker-key-idp-cert-in-keyinfo",
           xml_bytes(c.signed("attacker-key-idp-cert-in-keyinfo", "both", signer=spoof, email=E)),
           f"Signed (subject {E}) with an attacker key while KeyInfo carries the real IdP certificate. An SP "
           "that compares the KeyInfo cert to the pinned one but verifies with something else would accept.")

    r = c.response("hmac-keyed-with-idp-cert", email=E)
    sign(r.find("saml:Assertion", NS), c.idp, alg="hmac-sha256", hmac_key=c.idp_cert_bytes)
    sign(r, c.idp, alg="hmac-sha256", hmac_key=c.idp_cert_bytes)
    yield ("hmac-keyed-with-idp-cert", xml_bytes(r),
           f"Algorithm confusion: SignatureMethod hmac-sha256, keyed with the bytes of the IdP certificate PEM "
           f"file (public knowledge), subject {E}. An SP that lets the message pick the algorithm and feeds "
           "it the pinned cert as the key would accept.")

    yield ("rsa-sha1", xml_bytes(c.signed("rsa-sha1", "both", alg="rsa-sha1")),
           "Both signatures RSA-SHA1 with SHA-1 digests, made with the real IdP key. Cryptographically valid; "
           "SHA-1 must be refused.")

    r = c.response("reference-uri-empty", email=E)
    sign(r.find("saml:Assertion", NS), c.idp, uri="")
    yield ("reference-uri-empty", xml_bytes(r),
           f"The only signature sits in the Assertion (subject {E}) but its Reference URI=\"\" covers the whole "
           "document. SAML core 5.4.2 requires URI=\"#<Assertion ID>\"; an SP must not count it as an "
           "assertion signature (such a signature also survives being moved between documents' roots).")

    r = c.response("xpath-transform-selects-nothing", email=E)
    sign(r.find("saml:Assertion", NS), c.idp, xpath="0")
    sign(r, c.idp, xpath="0")
    yield ("xpath-transform-selects-nothing", xml_bytes(r),
           f"Both References carry an extra XPath filter transform '0' that selects no node, so the digest is "
           f"that of zero bytes and the signatures (real IdP key) cover nothing; subject {E}. SAML allows only "
           "enveloped-signature + exclusive C14N transforms.")

    a = c.args
    yield ("wrong-audience", xml_bytes(c.signed("wrong-audience", audience="https://other-sp.test/saml/metadata")),
           "Audience is another SP's entity ID. Signed (both) with the real key.")
    yield ("no-audience-restriction", xml_bytes(c.signed("no-audience-restriction", audience_restriction=False)),
           "Conditions without any AudienceRestriction (Web SSO profile requires one naming the SP). Signed "
           "(both) with the real key.")
    yield ("wrong-destination", xml_bytes(c.signed("wrong-destination", destination="https://other-sp.test/saml/acs")),
           "Response Destination is another ACS URL (Recipient still right). Signed (both) with the real key.")
    yield ("wrong-recipient", xml_bytes(c.signed("wrong-recipient", recipient="https://other-sp.test/saml/acs")),
           "SubjectConfirmationData Recipient is another ACS URL (Destination still right). Signed (both) "
           "with the real key.")
    yield ("wrong-issuer", xml_bytes(c.signed("wrong-issuer", response_issuer="https://evil-idp.test/metadata",
                                              assertion_issuer="https://evil-idp.test/metadata")),
           "Response and Assertion Issuer are another IdP's entity ID, re-signed (both) with the real key.")
    yield ("wrong-assertion-issuer", xml_bytes(c.signed("wrong-assertion-issuer",
                                                        assertion_issuer="https://evil-idp.test/metadata")),
           "Only the Assertion Issuer is wrong (Response Issuer right). Signed (both) with the real key.")
    yield ("wrong-in-response-to", xml_bytes(c.signed("wrong-in-response-to", in_response_to="_not-" + a.request_id,
                                                      scd_in_response_to="_not-" + a.request_id)),
           "Response and SubjectConfirmationData InResponseTo name a request the SP never sent. Signed (both).")
    yield ("scd-in-response-to-mismatch", xml_bytes(c.signed("scd-in-response-to-mismatch",
                                                             scd_in_response_to="_not-" + a.request_id)),
           "Response InResponseTo is right but SubjectConfirmationData InResponseTo differs. Signed (both).")
    yield ("no-in-response-to", xml_bytes(c.signed("no-in-response-to", in_response_to=None, scd_in_response_to=None)),
           "Unsolicited shape (no InResponseTo anywhere) sent where the SP started the login. Signed (both). "
           "Must be rejected unless the SP deliberately allows IdP-initiated SSO.")
    now = c.now
    yield ("expired", xml_bytes(c.signed("expired", issue=now - 7200, authn_instant=now - 7200,
                                         not_before=now - 7260, not_on_or_after=now - 3600,
                                         scd_not_on_or_after=now - 3600)),
           "Issued 2 hours ago; Conditions and SubjectConfirmationData NotOnOrAfter 1 hour in the past. "
           "Signed (both).")
    yield ("not-yet-valid", xml_bytes(c.signed("not-yet-valid", not_before=now + 3600, not_on_or_after=now + 3900)),
           "Conditions NotBefore 1 hour in the future. Signed (both).")
    yield ("not-bearer", xml_bytes(c.signed("not-bearer", method=HOLDER_OF_KEY)),
           "SubjectConfirmation Method is holder-of-key (no bearer confirmation). Signed (both).")
    yield ("status-not-success", xml_bytes(c.signed("status-not-success", status=RESPONDER)),
           "Status Responder/AuthnFailed, yet an assertion is present. Signed (both).")

    # DOCTYPE with internal entities (billion-laughs shaped, 100 expansions), signed over the expanded text.
    r = c.response("doctype-entities", email="LOLS")
    at = r.find("saml:Assertion", NS)
    at.find("saml:Subject/saml:NameID", NS).text = "lol" * 100 + "@" + c.email.split("@")[1]
    mail = [x for x in at.findall("saml:AttributeStatement/saml:Attribute", NS) if x.get("Name") == "mail"][0]
    mail.find("saml:AttributeValue", NS).text = E
    sign(at, c.idp)
    sign(r, c.idp)
    body = etree.tostring(r, encoding="unicode")
    body = body.replace(">" + "lol" * 100 + "@", ">&lol2;@", 1).replace(f">{E}<", ">&who;<", 1)
    doctype = ('<!DOCTYPE samlp:Response [\n <!ENTITY lol "lol">\n'
               ' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
               ' <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">\n'
               f' <!ENTITY who "{E}">\n]>\n')
    yield ("doctype-entities", ('<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + body).encode(),
           f"DOCTYPE with internal entities: NameID '&lol2;@…' (100 nested 'lol' expansions) and mail '&who;' "
           f"(= {E}). Signatures (both, real key) are over the entity-expanded text. An SP must refuse any "
           "DTD.")


def self_signed(key, cn):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# --------------------------------------------------------------- independent check


def xmlsec_verdicts(xml, cert_path, tmpdir):
    """For each ds:Signature in document order: where it sits, what it references, and whether
    `xmlsec1 --verify` with only the pinned certificate accepts it."""
    parser = etree.XMLParser(resolve_entities=True, no_network=True, load_dtd=False)
    doc = etree.fromstring(xml, parser)
    sigs = doc.xpath("//ds:Signature", namespaces=NS)
    path = os.path.join(tmpdir, "case.xml")
    with open(path, "wb") as f:
        f.write(xml)
    out = []
    for i, s in enumerate(sigs, 1):
        parent = s.getparent()
        ref = s.find("ds:SignedInfo/ds:Reference", NS)
        cmd = [
            XMLSEC1, "--verify", "--pubkey-cert-pem", cert_path, "--enabled-key-data", "key-name",
            "--id-attr:ID", f"{SAMLP}:Response", "--id-attr:ID", f"{SAML}:Assertion",
            "--node-xpath", f"(//*[local-name()='Signature' and namespace-uri()='{DS}'])[{i}]", path,
        ]
        p = subprocess.run(cmd, capture_output=True, text=True)
        err = ""
        if p.returncode != 0:
            err = _reason(p.stderr)
        out.append({
            "in": etree.QName(parent).localname,
            "in_id": parent.get("ID"),
            "ref": ref.get("URI") if ref is not None else None,
            "valid": p.returncode == 0,
            "xmlsec1": "OK" if p.returncode == 0 else err,
        })
    if b"<!DOCTYPE" in xml and sigs:
        # xmlsec1 does not expand entities (its C14N fails on entity references): check the expanded text too.
        expanded = xml_bytes(doc)
        for v, e in zip(out, xmlsec_verdicts(expanded, cert_path, tmpdir)):
            v["valid_after_entity_expansion"] = e["valid"]
    return out


def _reason(stderr):
    """The most telling line of xmlsec1's complaints."""
    lines = stderr.splitlines()
    for line in lines:
        if "error=" in line and "library function failed" not in line:
            return line.split("error=", 1)[1][:160]
    for line in lines:
        if line.startswith("Error:") or "error :" in line:
            return line[:160]
    for line in lines:
        if "error=" in line:
            return line.split("error=", 1)[1][:160]
    return (lines or ["failed"])[0][:160]


def signxml_check(xml, cert_pem, signed=("response", "assertion")):
    """Second, unrelated verifier for the control: its signatures must pass signxml with the pinned cert."""
    from signxml import XMLVerifier
    from signxml.verifier import SignatureConfiguration

    doc = etree.fromstring(xml)
    assertion = doc.find("saml:Assertion", NS)
    try:
        for el in [e for e, kind in ((doc, "response"), (assertion, "assertion")) if kind in signed]:
            standalone = etree.fromstring(etree.tostring(el))
            result = XMLVerifier().verify(
                standalone, x509_cert=cert_pem, id_attribute="ID",
                expect_config=SignatureConfiguration(location="./"),
            )
            if result.signed_xml.get("ID") != el.get("ID"):
                return f"signxml verified {result.signed_xml.get('ID')}, not {el.get('ID')}"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


def describe(verdicts):
    if not verdicts:
        return "No signatures in the document."
    parts = []
    for v in verdicts:
        state = "cryptographically VALID" if v["valid"] else f"INVALID ({v['xmlsec1']})"
        if "valid_after_entity_expansion" in v:
            state += "; after expanding the entities: " + ("VALID" if v["valid_after_entity_expansion"] else "INVALID")
        parts.append(f"signature in {v['in']} {v['in_id'] or ''} referencing {v['ref']!r}: {state}")
    return "xmlsec1 with the pinned IdP cert: " + "; ".join(parts) + "."


def main():
    ap = argparse.ArgumentParser(description="Print hostile SAML responses as JSON.")
    ap.add_argument("--idp-key", required=True)
    ap.add_argument("--idp-cert", required=True)
    ap.add_argument("--idp-entity-id", required=True)
    ap.add_argument("--sp-entity-id", required=True)
    ap.add_argument("--acs-url", required=True)
    ap.add_argument("--request-id", required=True)
    ap.add_argument("--now", type=int, required=True)
    ap.add_argument("--email", default="alice@acme.test")
    ap.add_argument("--only", default="", help="comma-separated case names to emit (valid-control is always emitted)")
    ap.add_argument("--valid-sign", default="both", choices=["both", "response", "assertion"],
                    help="what valid-control signs (benchmarks compare one signature)")
    ap.add_argument("--pad-bytes", type=int, default=0,
                    help="grow valid-control with extra attributes to about this many bytes (benchmarks)")
    args = ap.parse_args()

    c = Corpus(args)
    valid = c.response("valid-control")
    stmt = valid.find("saml:Assertion/saml:AttributeStatement", NS)
    i = 0
    while len(xml_bytes(valid)) < args.pad_bytes - 1200:  # leave room for the signatures
        attr = etree.SubElement(stmt, q("saml", "Attribute"), Name=f"extra{i}", NameFormat=BASIC)
        etree.SubElement(attr, q("saml", "AttributeValue")).text = "x" * 200
        i += 1
    if args.valid_sign in ("both", "assertion"):
        sign(valid.find("saml:Assertion", NS), c.idp, "rsa-sha256")
    if args.valid_sign in ("both", "response"):
        sign(valid, c.idp, "rsa-sha256")
    valid_xml = xml_bytes(valid)
    expected_signatures = 2 if args.valid_sign == "both" else 1
    only = {n for n in args.only.split(",") if n}
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = xmlsec_verdicts(valid_xml, args.idp_cert, tmp)
        if len(verdicts) != expected_signatures or not all(v["valid"] for v in verdicts):
            print(f"valid-control does not verify with xmlsec1: {verdicts}", file=sys.stderr)
            return 1
        problem = signxml_check(valid_xml, c.idp_cert_bytes.decode(),
                                (("response", "assertion") if args.valid_sign == "both" else (args.valid_sign,)))
        if problem:
            print(f"valid-control does not verify with signxml: {problem}", file=sys.stderr)
            return 1
        out = {
            "valid": {
                "name": "valid-control",
                "saml_response": base64.b64encode(valid_xml).decode(),
                "note": "Correct response a strict SP must accept: Response and Assertion signed (RSA-SHA256, "
                        "exclusive C14N, enveloped, URI=#ID) with the IdP key. " + describe(verdicts),
                "signatures": verdicts,
            },
            "cases": [],
        }
        names = set()
        for name, xml, note in build_cases(c):
            assert name not in names, name
            names.add(name)
            if only and name not in only:
                continue
            v = xmlsec_verdicts(xml, args.idp_cert, tmp)
            out["cases"].append({
                "name": name,
                "saml_response": base64.b64encode(xml).decode(),
                "note": f"{note} {describe(v)}",
                "signatures": v,
            })
        unknown = only - names
        if unknown:
            print(f"unknown case names: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
