"""Online revocation checks on loopback: an OCSP responder and a CRL server for the demo PKI (real
HTTP servers on 127.0.0.1), fetching on when ``allow_fetching`` is set, and a responder that is down."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from verify.decision import decide


class _Responder:
    """Answers OCSP requests about the identities it knows: good, or revoked when told so."""

    def __init__(self, pki):
        self.pki = pki
        self.identities: dict[int, object] = {}
        self.revoked: set[int] = set()
        self.requests = 0
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - the CRL of the demo CA, listing the revoked identities
                now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
                revoked = [responder.identities[s] for s in responder.revoked]
                der = responder.pki.crl(revoked, this_update=now - dt.timedelta(minutes=6)).dump()
                responder.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(der)))
                self.end_headers()
                self.wfile.write(der)

            def do_POST(self):  # noqa: N802 - http.server's name
                from asn1crypto import ocsp

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ocsp.OCSPRequest.load(body)
                cert_id = request["tbs_request"]["request_list"][0]["req_cert"]
                serial = cert_id["serial_number"].native
                responder.requests += 1
                ident = responder.identities[serial]
                now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
                revoked_at = now - dt.timedelta(hours=1) if serial in responder.revoked else None
                # a minute old: the decision's time was fixed before it asked
                der = responder.pki.ocsp_response(ident, cert_id=cert_id, revoked_at=revoked_at,
                                                  this_update=now - dt.timedelta(minutes=1)).dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(der)))
                self.end_headers()
                self.wfile.write(der)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ocsp"

    def person(self, given: str, *, crl: bool = False):
        base = self.url.rsplit("/", 1)[0]
        ident = (self.pki.person_with_ocsp("LV", "320000-12345", given, "Bērziņš", crl_url=f"{base}/ca.crl") if crl
                 else self.pki.person_with_ocsp("LV", "320000-12345", given, "Bērziņš", ocsp_url=self.url))
        self.identities[ident.cert.serial_number] = ident
        return ident


@pytest.fixture
def responder(pki):
    r = _Responder(pki)
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def _form(pki, make_form, good_values, ident) -> bytes:
    values = dict(good_values, first_name=ident.name.split()[0])
    return pki.sign_pdf(make_form(values), ident)


def test_fetching_checks_revocation_online(pki, make_form, good_values, trust_policy, responder):
    online = dataclasses.replace(trust_policy, allow_fetching=True)
    good = responder.person("Jānis")
    report = decide(_form(pki, make_form, good_values, good), online)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.revocation_checked is True and responder.requests >= 1

    revoked = responder.person("Pēteris")
    responder.revoked.add(revoked.cert.serial_number)
    report = decide(_form(pki, make_form, good_values, revoked), online)
    assert "certificate_revoked" in report.codes, report.to_json()["reasons"]


def test_fetching_a_crl_from_the_distribution_point(pki, make_form, good_values, trust_policy, responder):
    online = dataclasses.replace(trust_policy, allow_fetching=True)
    good = responder.person("Jānis", crl=True)
    report = decide(_form(pki, make_form, good_values, good), online)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.revocation_checked is True and responder.requests >= 1
    revoked = responder.person("Pēteris", crl=True)
    responder.revoked.add(revoked.cert.serial_number)
    report = decide(_form(pki, make_form, good_values, revoked), online)
    assert "certificate_revoked" in report.codes, report.to_json()["reasons"]


def test_without_fetching_nothing_is_asked(pki, make_form, good_values, trust_policy, responder):
    ident = responder.person("Jānis")
    report = decide(_form(pki, make_form, good_values, ident), trust_policy)
    assert responder.requests == 0
    assert report.verdict == "accepted" and report.to_json()["revocation"] == "not_checked"


def test_a_responder_that_is_down_is_said_and_the_policy_decides(pki, make_form, good_values, trust_policy):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}/ocsp"
    ident = pki.person_with_ocsp("LV", "320000-12345", "Jānis", "Bērziņš", ocsp_url=down)
    online = dataclasses.replace(trust_policy, allow_fetching=True)
    report = decide(pki.sign_pdf(make_form(good_values), ident), online)
    # soft revocation checking (FORM.md): accepted, and the report says revocation was not checked
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.to_json()["revocation"] == "not_checked"
    assert "revocation NOT checked" in report.summary()
