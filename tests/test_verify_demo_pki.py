"""verify.demo_pki: idempotent CA material, person certificates and their broken variants."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from verify.demo_pki import VARIANTS, DemoPKI


def _attr(cert: x509.Certificate, oid) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    return values[0].value if values else None


def test_create_is_idempotent_and_load_reads_it(tmp_path):
    first = DemoPKI.create(tmp_path)
    again = DemoPKI.create(tmp_path)
    loaded = DemoPKI.load(tmp_path)
    assert first.root.cert == again.root.cert == loaded.root.cert
    assert first.root_pem_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    a = first.person("LV", "320000-12345", "Jānis", "Bērziņš")
    b = loaded.person("LV", "320000-12345", "Jānis", "Bērziņš")
    assert a.cert == b.cert  # persons are kept on disk too


def test_person_is_fast_and_cached(pki):
    started = time.monotonic()
    for n in range(20):
        pki.person("EE", f"380010857{n:02d}", "A", f"B{n}")
    assert time.monotonic() - started < 2.0
    assert pki.person("EE", "38001085700", "A", "B0") is pki.person("EE", "38001085700", "A", "B0")


def test_etsi_serial_numbers(pki):
    lv = pki.person("LV", "320000-12345", "Jānis", "Bērziņš")
    assert _attr(lv.cert, NameOID.SERIAL_NUMBER) == "PNOLV-320000-12345"
    assert lv.national_id == "LV-32000012345"
    assert _attr(pki.person("LT", "37503250889", "P", "P").cert, NameOID.SERIAL_NUMBER) == "PNOLT-37503250889"
    assert _attr(pki.person("EE", "38001085718", "J", "J").cert, NameOID.SERIAL_NUMBER) == "PNOEE-38001085718"
    bare = pki.person("LV", "320000-12345", "Jānis", "Bērziņš", variant="bare")
    assert _attr(bare.cert, NameOID.SERIAL_NUMBER) == "320000-12345"
    assert _attr(bare.cert, NameOID.COUNTRY_NAME) == "LV"
    idc = pki.person("LV", "320000-12345", "Jānis", "Bērziņš", variant="idc")
    assert _attr(idc.cert, NameOID.SERIAL_NUMBER).startswith("IDCLV-")


def test_variants(pki):
    now = dt.datetime.now(dt.timezone.utc)
    people = {v: pki.person("LV", "320000-12345", "Jānis", "Bērziņš", variant=v) for v in VARIANTS}
    good = people[None]
    ku = good.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.content_commitment and not ku.digital_signature
    assert good.cert.issuer == pki.intermediate.cert.subject
    assert good.cert.not_valid_before_utc < now < good.cert.not_valid_after_utc
    assert people["expired"].cert.not_valid_after_utc < now
    assert people["not_yet_valid"].cert.not_valid_before_utc > now
    assert people["self_signed"].cert.issuer == people["self_signed"].cert.subject
    assert people["untrusted"].cert.issuer == pki.other_intermediate.cert.subject
    ku = people["no_nonrepudiation"].cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.content_commitment
    assert people["sha1"].cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.1"  # ecdsa-with-SHA1
    # the chain a signer presents: leaf, intermediate, root
    assert [c.subject for c in good.chain] == [good.cert.subject, pki.intermediate.cert.subject, pki.root.cert.subject]
    with pytest.raises(ValueError):
        pki.person("LV", "320000-12345", "J", "B", variant="nonsense")


def test_revocation_list(pki):
    revoked = pki.person("LV", "320000-12345", "Jānis", "Bērziņš", variant="revoked")
    crl = pki.crl([revoked])
    serials = [e["user_certificate"].native for e in crl["tbs_cert_list"]["revoked_certificates"]]
    assert serials == [revoked.cert.serial_number]


def test_module_sign_pdf_uses_the_issuing_pki(pki, make_form, trust_policy):
    from verify.decision import decide
    from verify.demo_pki import sign_pdf

    person = pki.person("LV", "320000-12345", "Jānis", "Bērziņš")
    report = decide(sign_pdf(make_form(), person, timestamp=True), trust_policy)
    assert report.verdict == "accepted" and report.level == "B-T"
