#!/usr/bin/env python3
"""A real SAML 2.0 identity provider for Gatehouse's tests, built on pysaml2.

Usage: saml_idp.py --port P [--host 127.0.0.1] --state-dir DIR

Prints "READY http://127.0.0.1:P" once it is listening. See README.md beside this
file for the endpoints, the test-mode knobs and the user directory.
"""

import argparse
import base64
import datetime
import hashlib
import html
import json
import logging
import os
import re
import sys
import tempfile
import threading
import urllib.parse
import warnings
import zlib

warnings.filterwarnings("ignore", message=".*CFB has been moved.*")  # pysaml2 imports the CFB mode

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, request
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md, samlp, xmldsig
from saml2.assertion import Policy
from saml2.attribute_converter import AttributeConverter
from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT
from saml2.config import IdPConfig
from saml2.mdstore import InMemoryMetaData, UnsupportedBinding
from saml2.metadata import entity_descriptor
from saml2.response import LogoutResponse as LogoutResponseReader
from saml2.s_utils import UnknownSystemEntity, sid
from saml2.saml import (
    NAME_FORMAT_BASIC,
    NAME_FORMAT_URI,
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_ENTITY,
    NAMEID_FORMAT_PERSISTENT,
    Issuer,
    NameID,
)
from saml2.server import Server
from saml2.sigver import get_pem_wrapped_unwrapped, make_temp, pre_encryption_part
from saml2.time_util import in_a_while, instant

XMLSEC1 = os.environ.get("XMLSEC1", "/usr/bin/xmlsec1")

# Attribute names per NameFormat (the local names are mail, givenName, sn).
URI_NAMES = {
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "givenName": "urn:oid:2.5.4.42",
    "sn": "urn:oid:2.5.4.4",
    # Entra ID's name for a user's groups claim.
    "groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
}
BASIC_NAMES = {"mail": "mail", "givenName": "givenName", "sn": "sn", "groups": "groups"}

# Content-encryption choices: knob value -> (EncryptionMethod URI, xmlsec1 --session-key).
CIPHERS = {
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"),
    "aes256-cbc": ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", "aes-256"),
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", "aes-128"),
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"),
}
DEFAULT_CIPHER = "aes128-gcm"

# Redirect-binding signature algorithms we accept on AuthnRequests (no SHA-1).
REDIRECT_SIGALGS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}

DIRECTORY = {
    "alice@acme.test": ("Alice", "Liddell"),
    "bob@acme.test": ("Bob", "Builder"),
    "eve@outside.test": ("Eve", "Outsider"),
}
PASSWORD = "secret"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")

# `groups`: the user's IdP groups, comma-separated (absent: no groups attribute is sent).
KNOBS = ("sign", "encrypt", "cipher", "attrs", "key", "nameid", "given", "family", "groups")
KNOB_VALUES = {
    "sign": ("response", "assertion", "both", "none"),
    "encrypt": ("0", "1"),
    "cipher": tuple(CIPHERS),
    "attrs": ("uri", "basic"),
    "key": ("1", "2"),
    "nameid": ("persistent", "email"),
}
KNOB_DEFAULTS = {"sign": "both", "encrypt": "0", "cipher": DEFAULT_CIPHER, "attrs": "uri", "key": "1"}

# Single Logout. Its knobs are separate from the SSO ones above: `sign` means something else here,
# and an SP's registration defaults (sign=both, ...) must not leak into logout messages.
SLO_BINDINGS = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}
SLO_KNOB_VALUES = {
    "resp_binding": tuple(SLO_BINDINGS),  # default: the binding the request came in on
    "sign": ("1", "0"),
    "status": ("success", "responder"),
}
BINDING_NAMES = {BINDING_HTTP_REDIRECT: "HTTP-Redirect", BINDING_HTTP_POST: "HTTP-POST"}
SLO_STATUS = {"success": samlp.STATUS_SUCCESS, "responder": samlp.STATUS_RESPONDER}
# The query parameters that SAML bindings 3.4.4.1 give a meaning to; each may appear once.
REDIRECT_PARAMS = ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature")


class BadRequest(Exception):
    pass


# ---------------------------------------------------------------------------- keys


def ensure_keypair(state_dir, n):
    key_path = os.path.join(state_dir, f"key{n}.pem")
    cert_path = os.path.join(state_dir, f"cert{n}.pem")
    if os.path.exists(key_path) and os.path.exists(cert_path):
        return key_path, cert_path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Gatehouse test IdP signing key {n}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    # Write atomically so that two IdPs sharing a state dir never see half a file.
    for path, data in ((key_path, key_pem), (cert_path, cert_pem)):
        fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return key_path, cert_path


def cert_body(pem_text):
    """The base64 of a PEM certificate, on one line."""
    return "".join(line for line in pem_text.strip().splitlines() if "-----" not in line)


# -------------------------------------------------------------------------- pysaml2


def attribute_converters():
    convs = []
    for fmt, names in ((NAME_FORMAT_URI, URI_NAMES), (NAME_FORMAT_BASIC, BASIC_NAMES)):
        conv = AttributeConverter()
        conv.from_dict({"identifier": fmt, "to": dict(names)})
        convs.append(conv)
    return convs


class TestIdpServer(Server):
    """pysaml2's Server with AES content encryption instead of its hard-wired 3DES."""

    cipher = DEFAULT_CIPHER

    def support_AssertionIDRequest(self):  # don't keep every assertion in memory
        return False

    def support_AuthnQuery(self):
        return False

    def _encrypt_assertion(self, encrypt_cert, sp_entity_id, response, node_xpath=None):
        if encrypt_cert:
            certs = [(None, encrypt_cert)]
        else:
            certs = self.metadata.certs(sp_entity_id, "any", "encryption")
        if not certs:
            raise BadRequest(f"SP {sp_entity_id} has no encryption certificate in its metadata")
        alg_uri, session_key = CIPHERS[self.cipher]
        _name, cert = certs[0]
        wrapped, unwrapped = get_pem_wrapped_unwrapped(cert)
        tmp = make_temp(wrapped.encode("ascii"), decode=False, delete_tmpfiles=True)
        template = pre_encryption_part(msg_enc=alg_uri, encrypt_cert=unwrapped)
        return self.sec.encrypt_assertion(response, tmp.name, template, key_type=session_key, node_xpath=node_xpath)


class Idp:
    def __init__(self, base_url, state_dir):
        self.base_url = base_url
        self.entity_id = f"{base_url}/metadata"
        self.sso_url = f"{base_url}/sso/redirect"
        self.slo_urls = {BINDING_HTTP_REDIRECT: f"{base_url}/slo/redirect", BINDING_HTTP_POST: f"{base_url}/slo/post"}
        self.keys = {n: ensure_keypair(state_dir, n) for n in (1, 2)}
        self.certs = {}
        for n, (_key, cert) in self.keys.items():
            with open(cert) as f:
                self.certs[n] = f.read()
        # Logout messages sent over HTTP-Redirect are signed by us (not xmlsec1), with key 1.
        with open(self.keys[1][0], "rb") as f:
            self.redirect_key = serialization.load_pem_private_key(f.read(), password=None)
        self.servers = {n: self._server(n) for n in (1, 2)}
        self.sp_defaults = {}  # SP entity ID -> default knobs given at registration
        self.lock = threading.Lock()  # pysaml2 objects are not thread-safe

    def _config(self, n):
        key, cert = self.keys[n]
        conf = IdPConfig()
        conf.load(
            {
                "entityid": self.entity_id,
                "name": "Gatehouse test IdP",
                "key_file": key,
                "cert_file": cert,
                "xmlsec_binary": XMLSEC1,
                "signing_algorithm": xmldsig.SIG_RSA_SHA256,
                "digest_algorithm": xmldsig.DIGEST_SHA256,
                "accepted_time_diff": 60,
                "metadata": {},
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)],
                            # Also what pysaml2 checks a LogoutRequest's Destination against.
                            "single_logout_service": [(url, b) for b, url in self.slo_urls.items()],
                        },
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT],
                        "want_authn_requests_signed": False,  # checked by us on the raw query
                        "sign_response": False,
                        "sign_assertion": False,
                    }
                },
            }
        )
        conf.setattr("", "attribute_converters", attribute_converters())
        return conf

    def _server(self, n):
        return TestIdpServer(config=self._config(n))

    # ---- metadata

    def metadata_xml(self, both=False, slo=True):
        ed = entity_descriptor(self.servers[1].config)
        ed.extensions = None  # pysaml2 advertises every xmlsec1 algorithm, MD5 and SHA-1 included
        if not slo:  # an IdP without Single Logout; the endpoints still answer, for hostile tests
            ed.idpsso_descriptor.single_logout_service = []
        if both:
            kd = md.KeyDescriptor(
                use="signing",
                key_info=xmldsig.KeyInfo(
                    x509_data=xmldsig.X509Data(x509_certificate=xmldsig.X509Certificate(text=cert_body(self.certs[2])))
                ),
            )
            ed.idpsso_descriptor.key_descriptor.append(kd)
        return ed.to_string()

    def register_sp(self, xml_text, defaults):
        # Parse once to check it and learn the entity ID.
        probe = InMemoryMetaData(self.servers[1].config.attribute_converters, xml_text, check_validity=False)
        try:
            probe.load()
        except Exception as exc:
            raise BadRequest(f"cannot parse SP metadata: {exc}") from exc
        sps = [eid for eid, ent in probe.items() if ent.get("spsso_descriptor")]
        if len(sps) != 1:
            raise BadRequest("metadata must hold exactly one entity with a SAML 2.0 SPSSODescriptor")
        sp = sps[0]
        acs = [
            a for d in probe[sp]["spsso_descriptor"] for a in d.get("assertion_consumer_service", [])
            if a.get("binding") == BINDING_HTTP_POST
        ]
        if not acs:
            raise BadRequest(f"SP {sp} has no HTTP-POST AssertionConsumerService")
        with self.lock:
            for srv in self.servers.values():
                store = srv.metadata
                for key in [k for k, m in store.metadata.items() if sp in m]:
                    del store.metadata[key]
                mdo = InMemoryMetaData(srv.config.attribute_converters, xml_text, check_validity=False)
                mdo.load()
                store.metadata[f"sp:{sp}"] = mdo
            self.sp_defaults[sp] = defaults
        return sp

    def known_sp(self, sp):
        return bool(sp) and sp in self.servers[1].metadata.keys()

    # ---- requests

    def verify_redirect_signature(self, raw_query, sp, required, what="AuthnRequest",
                                  unsigned="SP metadata says AuthnRequestsSigned but the request is unsigned"):
        """Check the HTTP-Redirect signature over the raw query bytes (SAML bindings 3.4.4.1).

        Serves SAMLRequest and SAMLResponse queries alike. Returns whether the query was signed;
        raises BadRequest with `unsigned` if it must be and isn't, or if the signature is wrong.
        """
        parts = {}
        for piece in raw_query.split("&"):
            name, _, value = piece.partition("=")
            name = urllib.parse.unquote_plus(name)  # what Flask (and so the XML parser) will see
            if name in REDIRECT_PARAMS:
                if name in parts:
                    # The signature would cover one copy while the message is read from another.
                    raise BadRequest(f"{name} appears more than once in the query")
                parts[name] = value
        message = [n for n in ("SAMLRequest", "SAMLResponse") if n in parts]
        if len(message) != 1:
            raise BadRequest("the query must carry exactly one of SAMLRequest and SAMLResponse")
        if "Signature" not in parts:
            if required:
                raise BadRequest(unsigned)
            return False
        sigalg = urllib.parse.unquote_plus(parts.get("SigAlg", ""))
        if sigalg not in REDIRECT_SIGALGS:
            raise BadRequest(f"unsupported SigAlg {sigalg!r}")
        signed = f"{message[0]}={parts[message[0]]}"
        if "RelayState" in parts:
            signed += f"&RelayState={parts['RelayState']}"
        signed += f"&SigAlg={parts['SigAlg']}"
        try:
            signature = base64.b64decode(urllib.parse.unquote_plus(parts["Signature"]), validate=True)
        except ValueError as exc:
            raise BadRequest(f"Signature is not base64: {exc}") from exc
        certs = self.servers[1].metadata.certs(sp, "spsso", "signing")
        if not certs:
            raise BadRequest(f"{what} is signed but SP {sp} has no signing certificate in its metadata")
        for _name, cert in certs:
            wrapped, _ = get_pem_wrapped_unwrapped(cert)
            pub = x509.load_pem_x509_certificate(wrapped.encode()).public_key()
            try:
                pub.verify(signature, signed.encode("ascii", "replace"), padding.PKCS1v15(), REDIRECT_SIGALGS[sigalg]())
                return True
            except InvalidSignature:
                continue
        raise BadRequest(f"{what} signature does not verify with the SP's signing certificates")

    def parse_authn_request(self, raw_query):
        q = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        if "SAMLRequest" not in q:
            raise BadRequest("missing SAMLRequest")
        with self.lock:
            try:
                req = self.servers[1].parse_authn_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
            except Exception as exc:
                raise BadRequest(f"cannot parse AuthnRequest: {exc}") from exc
        if req is None:
            raise BadRequest("cannot parse AuthnRequest")
        msg = req.message
        sp = msg.issuer.text.strip() if msg.issuer is not None and msg.issuer.text else ""
        if not self.known_sp(sp):
            raise BadRequest(f"unknown SP {sp!r}: POST its metadata to /admin/sp first")
        spd = self.servers[1].metadata[sp]["spsso_descriptor"][0]
        signed_flag = str(spd.get("authn_requests_signed", "false")).lower() == "true"
        self.verify_redirect_signature(raw_query, sp, signed_flag)
        acs_url = self.pick_acs(sp, msg.assertion_consumer_service_url, msg.assertion_consumer_service_index)
        nid_format = None
        if msg.name_id_policy is not None and msg.name_id_policy.format:
            nid_format = {NAMEID_FORMAT_EMAILADDRESS: "email", NAMEID_FORMAT_PERSISTENT: "persistent"}.get(
                msg.name_id_policy.format
            )
        return {
            "sp": sp,
            "id": msg.id,
            "acs_url": acs_url,
            "relay_state": q.get("RelayState"),
            "nameid_hint": nid_format,
            "query": q,
        }

    def pick_acs(self, sp, url=None, index=None):
        services = self.servers[1].metadata.assertion_consumer_service(sp, BINDING_HTTP_POST)
        if not services:
            raise BadRequest(f"SP {sp} has no HTTP-POST AssertionConsumerService")
        if url:
            for s in services:
                if s["location"] == url:
                    return url
            raise BadRequest(f"AssertionConsumerServiceURL {url!r} is not in SP {sp}'s metadata")
        if index is not None:
            for s in services:
                if str(s.get("index")) == str(index):
                    return s["location"]
            raise BadRequest(f"AssertionConsumerServiceIndex {index!r} is not in SP {sp}'s metadata")
        for s in services:
            if str(s.get("is_default", "")).lower() == "true":
                return s["location"]
        return services[0]["location"]

    # ---- responses

    def knobs(self, sp, query, nameid_hint=None):
        k = dict(KNOB_DEFAULTS)
        k["nameid"] = nameid_hint or "email"
        k.update(self.sp_defaults.get(sp, {}))
        for name in KNOBS:
            if name in query and query[name] != "":
                k[name] = query[name]
        for name, allowed in KNOB_VALUES.items():
            if k.get(name) not in allowed:
                raise BadRequest(f"bad value {k.get(name)!r} for {name}; allowed: {', '.join(allowed)}")
        return k

    def create_response(self, sp, acs_url, email, in_response_to, knobs):
        given, family = names_for(email)
        given = knobs.get("given") or given
        family = knobs.get("family") or family
        name_id = self.name_id(sp, email, knobs["nameid"])
        sign = knobs["sign"]
        encrypt = knobs["encrypt"] == "1"
        if encrypt and not self.servers[1].metadata.certs(sp, "spsso", "encryption"):
            raise BadRequest(f"encrypt=1 but SP {sp} has no encryption certificate in its metadata")
        policy = Policy(
            {
                "default": {
                    "lifetime": {"minutes": 5},
                    "name_form": NAME_FORMAT_URI if knobs["attrs"] == "uri" else NAME_FORMAT_BASIC,
                }
            }
        )
        srv = self.servers[int(knobs["key"])]
        with self.lock:
            srv.cipher = knobs["cipher"]
            identity = {"mail": [email], "givenName": [given], "sn": [family]}
            if knobs.get("groups"):
                identity["groups"] = [g for g in knobs["groups"].split(",") if g]
            resp = srv.create_authn_response(
                identity=identity,
                in_response_to=in_response_to,
                destination=acs_url,
                sp_entity_id=sp,
                name_id=name_id,
                authn={"class_ref": PASSWORDPROTECTEDTRANSPORT, "authn_auth": self.entity_id},
                sign_response=sign in ("response", "both"),
                sign_assertion=sign in ("assertion", "both"),
                encrypt_assertion=encrypt,
                encrypt_assertion_self_contained=True,
                sign_alg=xmldsig.SIG_RSA_SHA256,
                digest_alg=xmldsig.DIGEST_SHA256,
                release_policy=policy,
                best_effort=True,
            )
        return base64.b64encode(as_document(resp).encode("utf-8")).decode("ascii")

    def name_id(self, sp, email, nameid):
        """The subject's NameID; login and logout must agree on it, or the SP can't match them."""
        if nameid == "persistent":
            return NameID(
                format=NAMEID_FORMAT_PERSISTENT,
                text=persistent_id(email),
                name_qualifier=self.entity_id,
                sp_name_qualifier=sp,
            )
        return NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email)

    # ---- single logout

    def sp_slo_url(self, sp, binding, response=False):
        """Where the SP takes logout messages over `binding`. A response goes to the
        ResponseLocation if there is one, else to the Location (SAML metadata 2.2.2)."""
        try:
            services = self.servers[1].metadata.single_logout_service(sp, binding, "spsso")
        except (UnsupportedBinding, UnknownSystemEntity):
            services = []
        if not services:
            raise BadRequest(f"SP {sp} has no {BINDING_NAMES[binding]} SingleLogoutService in its metadata")
        return (response and services[0].get("response_location")) or services[0]["location"]

    def logout_sender(self, encoded, binding, what):
        """The SP that issued a logout message, read before pysaml2 checks the message: pysaml2
        picks the verification key by Issuer, so first make sure the Issuer is an SP we know."""
        parse = {"LogoutRequest": samlp.logout_request_from_string,
                 "LogoutResponse": samlp.logout_response_from_string}[what]
        try:
            msg = parse(Server.unravel(encoded, binding))
        except Exception as exc:
            raise BadRequest(f"cannot decode {what}: {describe(exc)}") from exc
        if msg is None:
            raise BadRequest(f"the message is not a {what}")
        sp = msg.issuer.text.strip() if msg.issuer is not None and msg.issuer.text else ""
        if not self.known_sp(sp):
            raise BadRequest(f"unknown SP {sp!r} in the {what}'s Issuer: POST its metadata to /admin/sp first")
        return sp, msg

    def parse_logout_request(self, binding, params, raw_query=None):
        """Read and check an SP's LogoutRequest. The SP must sign it on both front-channel bindings
        (SAML profiles 4.4.4.1): over the query on HTTP-Redirect, in the XML on HTTP-POST."""
        sp, peek = self.logout_sender(params["SAMLRequest"], binding, "LogoutRequest")
        # pysaml2 checks Destination too, but only says "Not destined for me!".
        if not peek.destination:
            raise BadRequest("LogoutRequest has no Destination, which a signed message must have "
                             "(SAML bindings 3.4.5.2, 3.5.5.2)")
        if peek.destination != self.slo_urls[binding]:
            raise BadRequest(f"LogoutRequest Destination {peek.destination!r} is not this endpoint "
                             f"({self.slo_urls[binding]})")
        if binding == BINDING_HTTP_REDIRECT:
            unsigned = "a LogoutRequest over HTTP-Redirect must be signed (SAML profiles 4.4.4.1); it has no Signature"
            self.verify_redirect_signature(raw_query, sp, True, "LogoutRequest", unsigned)
        with self.lock:
            try:
                # This also checks an XML signature, if there is one, with the SP's metadata certs only.
                req = self.servers[1].parse_logout_request(params["SAMLRequest"], binding)
            except Exception as exc:
                raise BadRequest(f"LogoutRequest refused: {describe(exc)}") from exc
        if req is None or req.message is None:
            raise BadRequest("cannot parse LogoutRequest")
        msg = req.message
        if binding == BINDING_HTTP_POST and msg.signature is None:
            raise BadRequest("a LogoutRequest over HTTP-POST must carry an XML signature (SAML profiles 4.4.4.1); "
                             "this one has none")
        name_id = msg.name_id
        return {
            "sp": sp,
            "id": msg.id,
            "relay_state": params.get("RelayState"),
            # What the SP asked for, so that a test can check it without decoding the message itself.
            "summary": {
                "id": msg.id,
                "issuer": sp,
                "destination": msg.destination,
                "not_on_or_after": msg.not_on_or_after,
                "name_id": name_id.text if name_id is not None else None,
                "name_id_format": name_id.format if name_id is not None else None,
                "name_qualifier": name_id.name_qualifier if name_id is not None else None,
                "sp_name_qualifier": name_id.sp_name_qualifier if name_id is not None else None,
                "session_index": [si.text for si in msg.session_index],
            },
        }

    def logout_response(self, sp, in_response_to, binding, status, issuer=None):
        """An unsigned LogoutResponse to the SP's SingleLogoutService for `binding`."""
        return samlp.LogoutResponse(
            id=sid(),
            version="2.0",
            issue_instant=instant(),
            in_response_to=in_response_to,
            destination=self.sp_slo_url(sp, binding, response=True),
            issuer=Issuer(text=issuer or self.entity_id, format=NAMEID_FORMAT_ENTITY),
            status=samlp.Status(status_code=samlp.StatusCode(value=SLO_STATUS[status])),
        )

    def logout_request(self, sp, email, nameid, binding, session_index=None, issuer=None):
        """An unsigned LogoutRequest for the user's NameID at that SP, valid for five minutes."""
        destination = self.sp_slo_url(sp, binding)
        with self.lock:
            _id, req = self.servers[1].create_logout_request(
                destination,
                sp,
                name_id=self.name_id(sp, email, nameid),
                expire=in_a_while(minutes=5),
                sign=False,  # signed later, the way the binding wants it
                session_indexes=[session_index] if session_index else None,
            )
        if issuer:
            req.issuer = Issuer(text=issuer, format=NAMEID_FORMAT_ENTITY)
        return req

    def encode_logout(self, msg, field, binding, relay_state, sign):
        """How `msg` travels over `binding`: for HTTP-Redirect the URL with the deflated message,
        signed over the query (SAML bindings 3.4.4.1); for HTTP-POST the form fields, the XML
        carrying an enveloped signature (3.5.4). Signing is with key 1 either way."""
        if binding == BINDING_HTTP_REDIRECT:
            url = self.redirect_url(msg.destination, field, as_document(msg), relay_state, sign)
            return {"binding": "redirect", "url": url}
        if sign:
            with self.lock:
                xml = self.servers[1].sign(msg, sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256)
        else:
            xml = msg
        encoded = base64.b64encode(as_document(xml).encode("utf-8")).decode("ascii")
        return {"binding": "post", "url": msg.destination, field: encoded, "RelayState": relay_state or ""}

    def redirect_url(self, location, field, xml, relay_state, sign):
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE, no zlib header (bindings 3.4.4.1)
        deflated = deflater.compress(xml.encode("utf-8")) + deflater.flush()
        params = [(field, base64.b64encode(deflated).decode("ascii"))]
        if relay_state is not None:
            params.append(("RelayState", relay_state))
        if sign:
            params.append(("SigAlg", xmldsig.SIG_RSA_SHA256))
        # The signature covers exactly these encoded bytes, so the URL must carry them unchanged.
        query = "&".join(f"{name}={urllib.parse.quote_plus(value)}" for name, value in params)
        if sign:
            signature = self.redirect_key.sign(query.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
            query += "&Signature=" + urllib.parse.quote_plus(base64.b64encode(signature).decode("ascii"))
        return location + ("&" if "?" in location else "?") + query

    def parse_logout_response(self, binding, params, raw_query=None):
        """Read an SP's LogoutResponse to one of our LogoutRequests and say what it holds.

        Not pysaml2's parse_logout_request_response: that raises on any status but Success, and a
        test wants to see the status. Its LogoutResponse reader still does the XML checks."""
        sp, _msg = self.logout_sender(params["SAMLResponse"], binding, "LogoutResponse")
        signed = False
        if binding == BINDING_HTTP_REDIRECT:
            signed = self.verify_redirect_signature(raw_query, sp, False, "LogoutResponse")
        with self.lock:
            srv = self.servers[1]
            reader = LogoutResponseReader(srv.sec, return_addrs=[self.slo_urls[binding]], timeslack=60)
            try:
                xml = srv.unravel(params["SAMLResponse"], binding, reader.msgtype)
                reader.loads(xml, False, origxml=xml)  # checks an XML signature if there is one
            except Exception as exc:
                raise BadRequest(f"LogoutResponse refused: {describe(exc)}") from exc
        msg = reader.response
        if msg is None:
            raise BadRequest("LogoutResponse is not valid against the SAML schema")
        status = msg.status.status_code.value if msg.status is not None and msg.status.status_code else None
        return {
            "ok": True,
            "status": status,
            "in_response_to": msg.in_response_to,
            "issuer": sp,
            "destination": msg.destination,
            "signed": bool(signed or msg.signature is not None),
        }


def names_for(email):
    email = email.lower()
    if email in DIRECTORY:
        return DIRECTORY[email]
    local = email.split("@", 1)[0].split("+", 1)[0]
    tokens = [t for t in re.split(r"[._-]+", local) if t]
    if not tokens:
        return "Test", "User"
    if len(tokens) == 1:
        return tokens[0].capitalize(), "Tester"
    return tokens[0].capitalize(), " ".join(t.capitalize() for t in tokens[1:])


def as_document(msg):
    """A pysaml2 message (or its signed XML text) as an XML document with a declaration."""
    xml = str(msg)
    if not xml.lstrip().startswith("<?xml"):
        xml = '<?xml version="1.0" encoding="UTF-8"?>' + xml
    return xml


def describe(exc):
    """An exception's message, with its cause's: pysaml2 often hides the reason one level down."""
    text = str(exc) or type(exc).__name__
    if exc.__cause__ is not None:
        text += f" ({describe(exc.__cause__)})"
    return text


def persistent_id(email):
    return hashlib.sha256(f"gatehouse-test-idp:{email.lower()}".encode()).hexdigest()[:40]


# ----------------------------------------------------------------------------- web

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}label{{display:block;margin:.6rem 0}}
input[type=email],input[type=password]{{width:100%;padding:.3rem}}.error{{color:#b00}}</style></head>
<body>{body}</body></html>"""


def login_page(flow, raw_query, error=None, username=""):
    err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = f"""<h1>Test IdP sign-in</h1>{err}
<form method="post" action="/sso/login">
<input type="hidden" name="flow" value="{html.escape(flow)}">
<input type="hidden" name="q" value="{html.escape(raw_query)}">
<label>Email <input type="email" name="username" value="{html.escape(username)}" autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>"""
    return PAGE.format(title="Test IdP sign-in", body=body)


def post_page(action, saml_message, relay_state, field="SAMLResponse", doing="Signing you in"):
    rs = ""
    if relay_state is not None:
        rs = f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}">'
    body = f"""<p>{doing}&hellip;</p>
<form id="saml-post" method="post" action="{html.escape(action)}">
<input type="hidden" name="{field}" value="{saml_message}">{rs}
<button type="submit">Continue</button>
</form>
<script>document.getElementById('saml-post').submit();</script>"""
    return PAGE.format(title=doing, body=body)


def create_app(idp):
    app = Flask(__name__)

    def answer(sp, acs_url, email, in_response_to, relay_state, query, nameid_hint=None):
        knobs = idp.knobs(sp, query, nameid_hint)
        saml_response = idp.create_response(sp, acs_url, email, in_response_to, knobs)
        if query.get("format") == "json":
            return Response(
                json.dumps({"acs_url": acs_url, "SAMLResponse": saml_response, "RelayState": relay_state}),
                mimetype="application/json",
            )
        return Response(post_page(acs_url, saml_response, relay_state), mimetype="text/html")

    def check_email(email):
        if not EMAIL_RE.match(email or ""):
            raise BadRequest(f"user must be an email address, got {email!r}")
        return email

    def sp_flow(raw_query, email):
        req = idp.parse_authn_request(raw_query)
        return answer(
            req["sp"], req["acs_url"], email, req["id"], req["relay_state"], req["query"], req["nameid_hint"]
        )

    def idp_flow(raw_query, email):
        q = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        sp = q.get("sp", "")
        if not idp.known_sp(sp):
            raise BadRequest(f"unknown SP {sp!r}: POST its metadata to /admin/sp first")
        acs_url = idp.pick_acs(sp)
        return answer(sp, acs_url, email, None, q.get("relay_state"), q)

    def json_answer(data):
        return Response(json.dumps(data), mimetype="application/json")

    def pick(values, name, allowed, default):
        value = values.get(name, "") or default
        if value not in allowed:
            raise BadRequest(f"bad value {value!r} for {name}; allowed: {', '.join(allowed)}")
        return value

    def logout_fields(values):
        """The SAML fields of a logout message. Each may come once: two copies would let the signed
        one and the one acted on differ."""
        fields = {}
        for name in ("SAMLRequest", "SAMLResponse", "RelayState"):
            got = values.getlist(name)
            if len(got) > 1:
                raise BadRequest(f"{name} appears more than once")
            if got:
                fields[name] = got[0]
        if ("SAMLRequest" in fields) == ("SAMLResponse" in fields):
            raise BadRequest("send exactly one of SAMLRequest (a LogoutRequest) and SAMLResponse (a LogoutResponse)")
        return fields

    def send_logout(message, relay_state, as_json, extra):
        """Hand a logout message over: as JSON for a test to deliver, else as the browser would."""
        if as_json:
            return json_answer({**message, **extra})
        if message["binding"] == "redirect":
            return Response(status=303, headers={"Location": message["url"]})
        field = "SAMLRequest" if "SAMLRequest" in message else "SAMLResponse"
        page = post_page(message["url"], message[field], relay_state, field, "Signing you out")
        return Response(page, mimetype="text/html")

    def sp_logout(binding, fields, values, raw_query=None):
        """Answer an SP's LogoutRequest. The IdP keeps no sessions, so there is nothing to end here;
        the status comes from the `status` knob."""
        came_in_on = "redirect" if binding == BINDING_HTTP_REDIRECT else "post"
        resp_binding = pick(values, "resp_binding", SLO_KNOB_VALUES["resp_binding"], came_in_on)
        sign = pick(values, "sign", SLO_KNOB_VALUES["sign"], "1")
        status = pick(values, "status", SLO_KNOB_VALUES["status"], "success")
        req = idp.parse_logout_request(binding, fields, raw_query)
        out_binding = SLO_BINDINGS[resp_binding]
        msg = idp.logout_response(req["sp"], req["id"], out_binding, status, values.get("issuer"))
        message = idp.encode_logout(msg, "SAMLResponse", out_binding, req["relay_state"], sign == "1")
        return send_logout(message, req["relay_state"], values.get("format") == "json", {"request": req["summary"]})

    @app.errorhandler(BadRequest)
    def bad_request(exc):
        return Response(f"{exc}\n", status=400, mimetype="text/plain")

    @app.get("/healthz")
    def healthz():
        return "ok\n"

    @app.get("/metadata")
    def metadata():
        slo = pick(request.args, "slo", ("1", "0"), "1")
        xml = idp.metadata_xml(both=request.args.get("both") == "1", slo=slo == "1")
        return Response(xml, mimetype="application/samlmetadata+xml")

    @app.get("/certs")
    def certs():
        return {"cert1": idp.certs[1], "cert2": idp.certs[2]}

    @app.post("/admin/sp")
    def admin_sp():
        defaults = {k: v for k, v in request.args.items() if k in KNOBS}
        for name, value in defaults.items():
            if name in KNOB_VALUES and value not in KNOB_VALUES[name]:
                raise BadRequest(f"bad value {value!r} for {name}")
        xml_text = request.get_data(as_text=True)
        if not xml_text.strip():
            raise BadRequest("empty body: POST the SP's metadata XML")
        sp = idp.register_sp(xml_text, defaults)
        return Response(f"registered {sp}\n", mimetype="text/plain")

    @app.get("/sso/redirect")
    def sso_redirect():
        raw_query = request.query_string.decode("ascii", "replace")
        user = request.args.get("user")
        if user:
            return sp_flow(raw_query, check_email(user))
        idp.parse_authn_request(raw_query)  # fail early on a bad request
        return login_page("sp", raw_query)

    @app.get("/idp-initiated")
    def idp_initiated():
        raw_query = request.query_string.decode("ascii", "replace")
        sp = request.args.get("sp", "")
        if not idp.known_sp(sp):
            raise BadRequest(f"unknown SP {sp!r}: POST its metadata to /admin/sp first")
        user = request.args.get("user")
        if user:
            return idp_flow(raw_query, check_email(user))
        return login_page("idp", raw_query)

    @app.post("/sso/login")
    def sso_login():
        flow = request.form.get("flow", "sp")
        raw_query = request.form.get("q", "")
        username = request.form.get("username", "").strip()
        if not EMAIL_RE.match(username) or request.form.get("password") != PASSWORD:
            page = login_page(flow, raw_query, "Wrong email or password.", username)
            return Response(page, status=401, mimetype="text/html")
        if flow == "idp":
            return idp_flow(raw_query, username)
        return sp_flow(raw_query, username)

    @app.get("/slo/redirect")
    def slo_redirect():
        raw_query = request.query_string.decode("ascii", "replace")
        fields = logout_fields(request.args)
        if "SAMLResponse" in fields:
            return json_answer(idp.parse_logout_response(BINDING_HTTP_REDIRECT, fields, raw_query))
        return sp_logout(BINDING_HTTP_REDIRECT, fields, request.args, raw_query)

    @app.post("/slo/post")
    def slo_post():
        # The message comes in the form only (HTTP-POST binding); knobs may also be in the query.
        fields = logout_fields(request.form)
        if "SAMLResponse" in fields:
            return json_answer(idp.parse_logout_response(BINDING_HTTP_POST, fields))
        return sp_logout(BINDING_HTTP_POST, fields, request.values)

    @app.get("/idp-logout")
    def idp_logout():
        args = request.args
        sp = args.get("sp", "")
        if not idp.known_sp(sp):
            raise BadRequest(f"unknown SP {sp!r}: POST its metadata to /admin/sp first")
        email = check_email(args.get("user"))
        # The NameID must be the one login gave, so the SP's registered nameid default applies here too.
        nameid = pick(args, "nameid", KNOB_VALUES["nameid"], idp.sp_defaults.get(sp, {}).get("nameid") or "email")
        binding = SLO_BINDINGS[pick(args, "binding", tuple(SLO_BINDINGS), "redirect")]
        sign = pick(args, "sign", SLO_KNOB_VALUES["sign"], "1")
        relay_state = args.get("relay_state") or None
        msg = idp.logout_request(sp, email, nameid, binding, args.get("session_index"), args.get("issuer"))
        message = idp.encode_logout(msg, "SAMLRequest", binding, relay_state, sign == "1")
        return send_logout(message, relay_state, args.get("format") == "json", {"id": msg.id})

    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="exit when the process that started us goes away (test harnesses)")
    args = ap.parse_args()
    if args.exit_with_parent:
        import threading
        import time

        parent = os.getppid()

        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    os.makedirs(args.state_dir, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    idp = Idp(f"http://127.0.0.1:{args.port}", args.state_dir)
    app = create_app(idp)

    from werkzeug.serving import make_server

    # One request at a time: pysaml2's Server keeps per-request state in shared objects and
    # is not safe for concurrent use; the Rust tests run many SPs against one IdP in parallel.
    server = make_server(args.host, args.port, app, threaded=False)
    print(f"READY http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
