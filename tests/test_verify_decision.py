"""decide(): every reason code from a real file built with verify.demo_pki."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import re

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from verify.decision import decide
from verify.policy import Policy
from verify.reasons import CODES
from verify.report import Report

UTC = dt.timezone.utc


# -- helpers that tamper with signed files ----------------------------------------------------


def append_update(pdf: bytes, mutate) -> bytes:
    """An incremental update made by ``mutate(writer)``, as a PDF editor would append it."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    mutate(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _field(writer, name: str):
    for ref in writer.root["/AcroForm"]["/Fields"]:
        obj = ref.get_object()
        if obj.get("/T") == name:
            return ref, obj
    raise KeyError(name)


def set_field(name: str, value: str):
    def mutate(writer) -> None:
        ref, obj = _field(writer, name)
        obj["/V"] = generic.TextStringObject(value)
        writer.mark_update(ref)

    return mutate


def add_annotation(writer) -> None:
    page = writer.root["/Pages"]["/Kids"][0]
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (10, 10, 30, 30)]),
            generic.NameObject("/Contents"): generic.TextStringObject("Phone is +371 29999999 now"),
        }
    )
    annot_ref = writer.add_object(annot)
    annots = page.raw_get("/Annots") if "/Annots" in page else None
    if isinstance(annots, generic.IndirectObject):
        arr = annots.get_object()
        arr.append(annot_ref)
        writer.mark_update(annots)
    else:
        arr = generic.ArrayObject(list(annots or []) + [annot_ref])
        page[generic.NameObject("/Annots")] = arr
        writer.update_container(page)


def byte_range(pdf: bytes) -> tuple[re.Match, list[int]]:
    m = list(re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf))[-1]
    return m, [int(x) for x in m.groups()]


def codes(report: Report) -> list[str]:
    return [r.code for r in report.reasons]


def assert_well_formed(report: Report) -> None:
    js = report.to_json()
    assert set(js) == {
        "verdict", "reasons", "sha256", "signer", "signing_time", "timestamp_time",
        "level", "coverage", "modification_level", "form", "fields", "revocation", "container",
        "indication", "subindication", "qualified", "trust_source",
    }
    assert js["revocation"] in ("checked", "not_checked", None)
    assert js["indication"] in ("PASSED", "FAILED", "INDETERMINATE", None)
    assert js["qualified"] in (True, False, None)
    assert js["trust_source"] in ("trusted_list", "trust_roots", None)
    if js["verdict"] == "accepted":  # FORM.md: only a QES from a listed service is applied by default
        assert js["indication"] == "PASSED" and js["subindication"] == "OK"
    assert js["verdict"] in ("accepted", "rejected")
    assert all(r["code"] in CODES for r in js["reasons"])
    assert all(set(r) == {"code", "field", "message"} for r in js["reasons"])
    assert (js["verdict"] == "accepted") == (not js["reasons"])


def rejected_for(report: Report, main: str, *also: str) -> None:
    assert_well_formed(report)
    assert report.verdict == "rejected", report.to_json()
    assert report.reasons[0].code == main, report.to_json()["reasons"]
    for code in also:
        assert code in codes(report), report.to_json()["reasons"]


# -- the good path --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_round_trip_accepted_with_the_filled_fields(signed_form, trust_policy, good_values, lang):
    report = decide(signed_form(good_values, lang=lang), trust_policy)
    assert_well_formed(report)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    js = report.to_json()
    assert js["form"] == {"id": "customer-data-update", "version": "2026.1"}
    for name, value in good_values.items():
        assert js["fields"][name] == value, name
    assert js["signer"]["national_id"] == "LV-32000012345"
    assert js["signer"]["name"] == "Jānis Bērziņš"
    assert js["signer"]["issuer"] == "docintake Demo Qualified Signature CA"
    assert js["level"] == "B-B"
    assert js["coverage"] == "ENTIRE_FILE"
    assert js["modification_level"] == "NONE"
    assert js["signing_time"] and dt.datetime.fromisoformat(js["signing_time"]).tzinfo is not None
    assert js["timestamp_time"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", js["sha256"])


@pytest.mark.parametrize(
    "overrides",
    [
        # Estonian test person JÕEORG JAAK-KRISTJAN (isikukood with check digit)
        dict(id_country="EE", personal_code="38001085718", first_name="Jaak-Kristjan", last_name="Jõeorg",
             date_of_birth="1980-01-08", phone="+37251234567", address_postcode="10115", address_country="EE",
             address_city="Tallinn", tax_residency_country="EE"),
        # Lithuanian test person PETKUS PETRAS
        dict(id_country="LT", personal_code="37503250889", first_name="Petras", last_name="Petkus",
             date_of_birth="1975-03-25", phone="+37061234567", address_postcode="LT-01100", address_country="LT",
             address_city="Vilnius", tax_residency_country="LT"),
    ],
    ids=["EE", "LT"],
)
def test_lt_and_ee_signers_accepted(signed_form, trust_policy, good_values, overrides):
    values = {**good_values, **overrides}
    report = decide(signed_form(values), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.signer.national_id == f"{overrides['id_country']}-{overrides['personal_code']}"


def test_bare_latvian_serial_number_binds_by_subject_country(signed_form, trust_policy, good_values):
    report = decide(signed_form(good_values, variant="bare"), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.signer.national_id == "LV-32000012345"


def test_personal_code_without_hyphen_binds(signed_form, trust_policy, good_values, pki):
    values = {**good_values, "personal_code": "32000012345"}
    signer = pki.person("LV", "320000-12345", "Jānis", "Bērziņš")
    report = decide(signed_form(values, person=signer), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.to_json()["fields"]["personal_code"] == "320000-12345"


def test_certification_signature_alone_is_accepted(signed_form, trust_policy):
    report = decide(signed_form(certify=True), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]


# -- levels and time ------------------------------------------------------------------------


def test_b_t_timestamp_is_reported(signed_form, trust_policy):
    report = decide(signed_form(timestamp=True), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.level == "B-T"
    assert report.timestamp_time is not None
    assert abs((report.timestamp_time - dt.datetime.now(UTC)).total_seconds()) < 300


def test_b_lt_and_b_lta(pki, signed_form, trust_policy, person_for):
    lt = signed_form(timestamp=True, revocation_crl=pki.crl([]))
    report = decide(lt, trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert (report.level, report.modification_level) == ("B-LT", "LTA_UPDATES")
    assert report.revocation_checked is True
    lta = pki.document_timestamp(lt)
    report = decide(lta, trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.level == "B-LTA"
    assert report.coverage == "ENTIRE_REVISION"


def test_min_level_policy(pki, signed_form, trust_policy):
    strict = dataclasses.replace(trust_policy, min_level="B-T")
    rejected_for(decide(signed_form(), strict), "signature_invalid")
    assert decide(signed_form(timestamp=True), strict).verdict == "accepted"
    # a timestamp from a TSA nobody trusts does not prove B-T
    other = Policy.load([pki.intermediate_pem_path], min_level="B-T")
    report = decide(signed_form(timestamp=True), other)
    assert report.verdict == "rejected"
    assert report.level == "B-T"  # present, but not proven


def test_certificate_judged_at_trusted_timestamp_time(pki, signed_form, trust_policy):
    """An expired certificate is fine when a trusted timestamp proves it signed while valid."""
    when = dt.datetime(2020, 6, 1, 12, tzinfo=UTC)
    data = signed_form(variant="expired", timestamp=True, timestamp_time=when)
    report = decide(data, trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.timestamp_time == when
    assert report.to_json()["timestamp_time"] == "2020-06-01T12:00:00+00:00"


def test_now_parameter_sets_the_decision_time(signed_form, trust_policy):
    data = signed_form(variant="expired")
    # in 2020 the certificate was valid; the signing time the file claims (today) was not yet
    in_2020 = decide(data, trust_policy, now=dt.datetime(2020, 6, 1, tzinfo=UTC))
    rejected_for(in_2020, "signing_time_invalid")
    assert codes(in_2020) == ["signing_time_invalid"]
    rejected_for(decide(data, trust_policy), "certificate_expired")


# -- the file -------------------------------------------------------------------------------


def test_jpeg_named_pdf_is_not_pdf(tmp_path, trust_policy):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "JPEG")
    path = tmp_path / "form.pdf"
    path.write_bytes(buf.getvalue())
    rejected_for(decide(path.read_bytes(), trust_policy), "not_pdf")


@pytest.mark.parametrize("data", [b"", b"hello", b"%PDF-1.7\n" + b"\x00" * 100, b"%PDF-"], ids=repr)
def test_garbage_never_accepted(data, trust_policy):
    report = decide(data, trust_policy)
    assert_well_formed(report)
    assert report.reasons[0].code in ("not_pdf", "malformed_pdf")


def test_truncated_pdf_is_malformed(signed_form, trust_policy):
    data = signed_form()
    rejected_for(decide(data[: len(data) // 2], trust_policy), "malformed_pdf")


@pytest.mark.parametrize("user_password", ["", "secret"], ids=["owner-password-only", "user-password"])
def test_encrypted_pdf(signed_form, trust_policy, user_password):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(signed_form())))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    rejected_for(decide(out.getvalue(), trust_policy), "encrypted_pdf")


def test_too_large_by_size(signed_form, trust_policy):
    data = signed_form()
    small = dataclasses.replace(trust_policy, max_bytes=len(data) - 1)
    rejected_for(decide(data, small), "too_large")
    assert decide(data, dataclasses.replace(trust_policy, max_bytes=len(data))).verdict == "accepted"


def test_too_many_pages(pki, person_for, trust_policy):
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for n in range(3):
        c.drawString(100, 700, f"page {n + 1}")
        c.showPage()
    c.save()
    data = pki.sign_pdf(buf.getvalue(), person_for())
    limited = dataclasses.replace(trust_policy, max_pages=2)
    rejected_for(decide(data, limited), "too_large")


def test_tiny_timeout_returns_in_time_with_too_large(signed_form, trust_policy):
    data = signed_form()
    hurried = dataclasses.replace(trust_policy, timeout=0.001)
    report = decide(data, hurried)
    rejected_for(report, "too_large")
    assert report.elapsed < 1.0


# -- the signature --------------------------------------------------------------------------


def test_unsigned(make_form, trust_policy):
    report = decide(make_form(), trust_policy)
    rejected_for(report, "unsigned")
    assert report.signer is None


def test_flipped_byte_inside_the_signed_range(signed_form, trust_policy):
    data = bytearray(signed_form())
    _, (_, len1, _, _) = byte_range(bytes(data))
    start = data.index(b"stream", 0, len1) + 20  # inside the first stream's data
    assert start < len1
    data[start] ^= 0x01
    rejected_for(decide(bytes(data), trust_policy), "signature_invalid")


def test_forged_byte_range(signed_form, trust_policy):
    data = signed_form()
    m, (a, b, c, d) = byte_range(data)
    forged = f"/ByteRange [{a} {b} {c} {d - 100}]".encode()
    forged = forged.ljust(m.end() - m.start(), b" ")
    data = data[: m.start()] + forged + data[m.end():]
    rejected_for(decide(data, trust_policy), "signature_invalid")


def test_byte_range_hiding_an_appended_object(signed_form, trust_policy):
    """A ByteRange that claims less than the signed revision: bytes outside any signature."""
    data = signed_form()
    m, (a, b, c, d) = byte_range(data)
    forged = f"/ByteRange [{a} {b - 10} {c} {d}]".encode().ljust(m.end() - m.start(), b" ")
    data = data[: m.start()] + forged + data[m.end():]
    rejected_for(decide(data, trust_policy), "signature_invalid")


def test_empty_contents(signed_form, trust_policy):
    data = signed_form()
    _, (a, b, c, d) = byte_range(data)
    hole = data[b:c]  # "<hex...>"
    assert hole.startswith(b"<") and hole.endswith(b">")
    empty = b"<" + b"0" * (len(hole) - 2) + b">"
    rejected_for(decide(data[:b] + empty + data[c:], trust_policy), "signature_invalid")


def test_phone_changed_after_signing(signed_form, trust_policy):
    data = append_update(signed_form(), set_field("phone", "+37129999999"))
    report = decide(data, trust_policy)
    rejected_for(report, "modified_after_signing")
    assert report.modification_level == "FORM_FILLING"
    # the fields come from the signed revision, never from the update
    assert report.to_json()["fields"]["phone"] == "+37120000000"


def test_annotation_added_after_signing(signed_form, trust_policy):
    report = decide(append_update(signed_form(), add_annotation), trust_policy)
    rejected_for(report, "modified_after_signing")
    assert report.modification_level in ("ANNOTATIONS", "OTHER")


def test_certified_then_form_filled(signed_form, trust_policy):
    data = append_update(signed_form(certify=True), set_field("email", "attacker@example.com"))
    report = decide(data, trust_policy)
    rejected_for(report, "modified_after_signing")
    assert report.to_json()["fields"]["email"] == "janis.berzins@example.com"


def test_second_signature_after_the_customers(pki, signed_form, trust_policy):
    data = signed_form()
    other = pki.person("LV", "010101-10006", "Anna", "Ozola")
    data = pki.sign_pdf(data, other, field="bank_signature")
    rejected_for(decide(data, trust_policy), "modified_after_signing")


def test_only_signature_in_another_field_is_the_customers(pki, make_form, person_for, trust_policy):
    data = pki.sign_pdf(make_form(), person_for(), field="Signature1")
    assert decide(data, trust_policy).verdict == "accepted"


def test_dss_only_update_is_allowed(pki, signed_form, trust_policy):
    report = decide(signed_form(revocation_crl=pki.crl([])), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.modification_level == "LTA_UPDATES"


# -- the certificate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, main",
    [
        ("expired", "certificate_expired"),
        ("not_yet_valid", "certificate_expired"),
        ("untrusted", "untrusted_signer"),
        ("self_signed", "untrusted_signer"),
        ("no_nonrepudiation", "not_for_signing"),
        ("sha1", "weak_algorithm"),
    ],
)
def test_certificate_variants(signed_form, trust_policy, variant, main):
    report = decide(signed_form(variant=variant), trust_policy)
    rejected_for(report, main)
    assert report.signer is not None


def test_revoked_certificate(pki, signed_form, trust_policy, person_for):
    revoked = person_for(variant="revoked")
    report = decide(signed_form(variant="revoked", revocation_crl=pki.crl([revoked])), trust_policy)
    rejected_for(report, "certificate_revoked")
    # without revocation data the same certificate is not known to be revoked (soft-fail), and we say so
    report = decide(signed_form(variant="revoked"), trust_policy)
    assert report.verdict == "accepted"
    assert report.revocation_checked is False


def test_revocation_status_in_json_and_summary(pki, signed_form, trust_policy):
    """FORM.md: the report says when revocation could not be checked."""
    report = decide(signed_form(), trust_policy)
    assert report.verdict == "accepted"
    assert report.to_json()["revocation"] == "not_checked"
    assert "revocation NOT checked" in report.summary()
    report = decide(signed_form(revocation_crl=pki.crl([])), trust_policy)
    assert report.verdict == "accepted"
    assert report.to_json()["revocation"] == "checked"
    assert "revocation checked" in report.summary()
    report = decide(b"%PDF-1.7\n not really", trust_policy)
    assert report.to_json()["revocation"] is None


def test_sha1_signature_digest_is_weak(signed_form, trust_policy):
    rejected_for(decide(signed_form(md_algorithm="sha1"), trust_policy), "weak_algorithm")


def test_no_trust_roots_trusts_nobody(signed_form):
    rejected_for(decide(signed_form(), Policy()), "untrusted_signer")


# -- the form and the binding ---------------------------------------------------------------


def test_not_this_form(pki, person_for, trust_policy):
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(100, 700, "Invoice no. 42")
    c.save()
    report = decide(pki.sign_pdf(buf.getvalue(), person_for()), trust_policy)
    rejected_for(report, "unknown_form")
    assert codes(report) == ["unknown_form"]


def test_signer_is_not_the_customer_on_the_form(pki, signed_form, trust_policy):
    someone_else = pki.person("LV", "010101-10006", "Anna", "Ozola")
    report = decide(signed_form(person=someone_else), trust_policy)
    rejected_for(report, "signer_mismatch")
    assert codes(report) == ["signer_mismatch"]


def test_idc_identifier_is_a_mismatch(signed_form, trust_policy):
    report = decide(signed_form(variant="idc"), trust_policy)
    rejected_for(report, "signer_mismatch")
    assert report.signer.national_id is None


def test_same_code_other_country_is_a_mismatch(pki, signed_form, trust_policy, good_values):
    values = {**good_values, "id_country": "LT", "personal_code": "37503250889", "date_of_birth": "1975-03-25"}
    ee_signer = pki.person("EE", "37503250889", "Petras", "Petkus")
    rejected_for(decide(signed_form(values, person=ee_signer), trust_policy), "signer_mismatch")


def test_invalid_and_missing_fields(signed_form, trust_policy, good_values, person_for):
    values = {**good_values, "phone": "not a phone"}
    del values["occupation"]
    report = decide(signed_form(values, person=person_for()), trust_policy)
    rejected_for(report, "field_missing", "field_invalid")
    # field reasons keep the schema's order after the rank: missing before invalid by rank
    by_field = {(r.code, r.field) for r in report.reasons}
    assert ("field_invalid", "phone") in by_field
    assert ("field_missing", "occupation") in by_field


def test_reasons_are_ranked(pki, signed_form, trust_policy):
    """Signature reasons before form reasons before binding and field reasons."""
    someone_else = pki.person("LV", "010101-10006", "Anna", "Ozola", variant="expired")
    report = decide(signed_form(person=someone_else), trust_policy)
    assert codes(report)[:2] == ["certificate_expired", "signer_mismatch"]


# -- fail closed, parse once, logs masked ---------------------------------------------------


def test_unexpected_exception_becomes_the_steps_reason(monkeypatch, signed_form, trust_policy):
    import forms.rules

    data = signed_form()

    def boom(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(forms.rules, "check_form", boom)
    report = decide(data, trust_policy)
    rejected_for(report, "unknown_form")

    monkeypatch.undo()
    import verify.signature

    monkeypatch.setattr(verify.signature, "_judge_certificate", boom)
    rejected_for(decide(data, trust_policy), "signature_invalid")


def test_parses_once(monkeypatch, signed_form, trust_policy):
    import pdfplumber
    from pyhanko.pdf_utils import reader as pyhanko_reader

    data = signed_form()
    calls = {"pdfplumber": 0, "pyhanko": 0}
    real_open, real_init = pdfplumber.open, pyhanko_reader.PdfFileReader.__init__

    def counting_open(*a, **kw):
        calls["pdfplumber"] += 1
        return real_open(*a, **kw)

    def counting_init(self, *a, **kw):
        calls["pyhanko"] += 1
        return real_init(self, *a, **kw)

    monkeypatch.setattr(pdfplumber, "open", counting_open)
    monkeypatch.setattr(pyhanko_reader.PdfFileReader, "__init__", counting_init)
    assert decide(data, trust_policy).verdict == "accepted"
    assert calls == {"pdfplumber": 1, "pyhanko": 1}


def test_personal_codes_masked_in_logs(caplog, signed_form, trust_policy):
    data = signed_form(variant="expired")
    with caplog.at_level(logging.DEBUG):
        decide(data, trust_policy)
    text = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    assert "Validation error" in caplog.text or caplog.records  # pyHanko did log about the certificate
    assert "320000-12345" not in text and "32000012345" not in text


def test_person_names_redacted_in_library_logs(caplog, signed_form, trust_policy, person_for):
    """pyHanko names the signer's certificate in its warnings ("cert context: Given Name: ..."); a
    person's name is personal data. A CA's name (no given name or surname) stays readable."""
    from asn1crypto import x509 as asn1_x509

    person = person_for(None, "expired")
    decide(signed_form(variant="expired"), trust_policy)  # installs the mask on pyHanko's loggers
    subject = asn1_x509.Certificate.load(person.cert.public_bytes(Encoding.DER)).subject.human_friendly
    issuer = "Common Name: Demo Qualified CA, Country: LV"
    with caplog.at_level(logging.WARNING, logger="pyhanko"), \
            caplog.at_level(logging.WARNING, logger="pyhanko_certvalidator"):  # verify's CLI may quieten them
        logging.getLogger("pyhanko.sign.validation.generic_cms").warning(
            "Validation error [cert context: %s]: issued by %s", subject, "x")
        logging.getLogger("pyhanko_certvalidator.validate").warning("no issuer matching %s", issuer)
    first, second = (r.getMessage() for r in caplog.records[-2:])
    assert "Surname: (redacted)" in first and "Given Name: (redacted)" in first, first
    assert all(part.upper() not in first.upper() for part in person.name.split()), first
    assert second == f"no issuer matching {issuer}"