"""Issue 12 (tracker numbering; "issue 9" in its text): the file ends where its last revision ends,
one reading, one identity, a sane signing time. Every attack file is made here with the demo PKI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from tests.test_verify_decision import append_update, codes, rejected_for, set_field
from verify.decision import decide

UTC = dt.timezone.utc


def accepted(report) -> None:
    assert report.verdict == "accepted", report.to_json()["reasons"]


def message_of(report, code: str) -> str:
    return next(r.message for r in report.reasons if r.code == code)


# -- the file ends where its last revision ends -------------------------------------------------


def test_signed_file_with_its_one_end_of_line_is_accepted(signed_form, trust_policy):
    data = signed_form()
    assert data.endswith(b"%%EOF\n")
    accepted(decide(data, trust_policy))


@pytest.mark.parametrize("tail", [b"\n", b" ", b"\x00" * 64, b"\r\n% note\r\n"])
def test_bytes_after_the_final_eof(signed_form, trust_policy, tail):
    report = decide(signed_form() + tail, trust_policy)
    rejected_for(report, "modified_after_signing")
    assert "follow the final %%EOF" in message_of(report, "modified_after_signing")


def _hand_made_update(signed: bytes, *, eof: bool = True, startxref: bytes | None = None) -> bytes:
    """One new object, an xref section and a trailer, as a short incremental update."""
    prev = re.findall(rb"startxref\s+(\d+)", signed)[-1]
    root = re.findall(rb"/Root\s+(\d+\s+\d+\s+R)", signed)[-1]
    obj = b"900 0 obj\n(+37129999999)\nendobj\n"
    xref_at = len(signed) + len(obj)
    xref = b"xref\n0 1\n0000000000 65535 f \n900 1\n%010d 00000 n \n" % len(signed)
    trailer = b"trailer\n<< /Size 901 /Root " + root + b" /Prev " + prev + b" >>\n"
    tail = b"startxref\n" + (startxref or str(xref_at).encode()) + b"\n" + (b"%%EOF\n" if eof else b"")
    return signed + obj + xref + trailer + tail


def test_update_appended_without_eof(signed_form, trust_policy):
    """pyHanko reads a short update without %%EOF as trailing junk (it looks for %%EOF in the last
    1024 bytes): coverage "entire revision", accepted before; viewers render the update."""
    signed = signed_form()
    report = decide(_hand_made_update(signed, eof=False), trust_policy)
    rejected_for(report, "modified_after_signing")
    assert report.coverage == "ENTIRE_REVISION"
    # the same update with its %%EOF is a revision pyHanko sees (and refuses: not a DSS)
    rejected_for(decide(_hand_made_update(signed), trust_policy), "modified_after_signing")


def test_objects_and_xref_appended_while_startxref_points_at_the_signed_xref(signed_form, trust_policy):
    signed = signed_form()
    signed_startxref = re.findall(rb"startxref\s+(\d+)", signed)[-1]
    report = decide(_hand_made_update(signed, startxref=signed_startxref), trust_policy)
    rejected_for(report, "modified_after_signing")
    assert "startxref" in message_of(report, "modified_after_signing")


def test_an_object_no_xref_section_lists(signed_form, pki, trust_policy):
    """A DSS update (allowed), with an object slipped in before its startxref that nothing lists."""
    with_dss = signed_form(revocation_crl=pki.crl([]))
    accepted(decide(with_dss, trust_policy))
    body, _, tail = with_dss.rpartition(b"startxref")
    sneaky = body + b"900 0 obj\n(+37129999999)\nendobj\n" + b"startxref" + tail
    report = decide(sneaky, trust_policy)
    rejected_for(report, "modified_after_signing")
    assert "no xref section lists" in message_of(report, "modified_after_signing")


# -- document timestamps after the signature ----------------------------------------------------


def test_invisible_valid_document_timestamp_is_allowed(signed_form, pki, trust_policy):
    accepted(decide(pki.document_timestamp(signed_form()), trust_policy))


def _prepared_numbers(pdf: bytes) -> tuple[bytes, list[generic.IndirectObject]]:
    """The attacker's form: unused number objects, in the revision the customer signs."""
    refs: list = []

    def mutate(writer) -> None:
        refs.extend(writer.add_object(generic.NumberObject(n)) for n in (0, 0, 400, 300))

    return append_update(pdf, mutate), [generic.Reference(r.idnum, r.generation) for r in refs]


def _timestamp_in_field(pki, pdf: bytes, widget_extra: dict, timestamper=None) -> bytes:
    """A document timestamp in a field the attacker shaped (its /Rect, /F, /AP)."""
    from pyhanko.sign import signers

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref = writer.root["/Pages"].raw_get("/Kids")[0]
    overlay = generic.StreamObject(
        {generic.NameObject("/Type"): generic.NameObject("/XObject"),
         generic.NameObject("/Subtype"): generic.NameObject("/Form"),
         generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 400, 300)])},
        stream_data=b"1 g 0 0 400 300 re f 0 g BT /Helv 12 Tf 10 10 Td (+371 29999999) Tj ET",
    )
    field = generic.DictionaryObject({
        generic.NameObject("/FT"): generic.NameObject("/Sig"),
        generic.NameObject("/T"): generic.TextStringObject("Shadow"),
        generic.NameObject("/Type"): generic.NameObject("/Annot"),
        generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
        generic.NameObject("/P"): page_ref,
        generic.NameObject("/AP"): generic.DictionaryObject({generic.NameObject("/N"): writer.add_object(overlay)}),
        **{generic.NameObject(k): v for k, v in widget_extra.items()},
    })
    field_ref = writer.add_object(field)
    fields = writer.root["/AcroForm"]["/Fields"]
    fields.append(field_ref)
    writer.update_container(writer.root["/AcroForm"]) if not isinstance(
        writer.root["/AcroForm"].raw_get("/Fields"), generic.IndirectObject) else writer.mark_update(
        writer.root["/AcroForm"].raw_get("/Fields"))
    page = page_ref.get_object()
    annots = page.raw_get("/Annots") if "/Annots" in page else None
    if isinstance(annots, generic.IndirectObject):
        annots.get_object().append(field_ref)
        writer.mark_update(annots)
    else:
        page[generic.NameObject("/Annots")] = generic.ArrayObject(list(annots or []) + [field_ref])
        writer.update_container(page)
    stamper = signers.PdfTimeStamper(timestamper or pki.timestamper(), field_name="Shadow")
    return stamper.timestamp_pdf(writer, md_algorithm="sha256").getvalue()


def test_shadow_through_a_document_timestamp_with_indirect_rect(signed_form, pki, trust_policy, make_form,
                                                                person_for):
    prepared, numbers = _prepared_numbers(make_form())
    signed = pki.sign_pdf(prepared, person_for())
    accepted(decide(signed, trust_policy))
    rect = generic.ArrayObject([generic.IndirectObject(r.idnum, r.generation, None) for r in numbers])
    shadowed = _timestamp_in_field(pki, signed, {"/Rect": rect, "/F": generic.NumberObject(4)})
    report = decide(shadowed, trust_policy)
    rejected_for(report, "modified_after_signing")
    assert "document timestamp may be visible" in message_of(report, "modified_after_signing")


def test_document_timestamp_with_a_visible_rect(signed_form, pki, trust_policy):
    rect = generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 400, 300)])
    report = decide(_timestamp_in_field(pki, signed_form(), {"/Rect": rect}), trust_policy)
    rejected_for(report, "modified_after_signing")
    assert "document timestamp" in message_of(report, "modified_after_signing")


def test_document_timestamp_whose_token_covers_another_document(signed_form, pki, trust_policy):
    base = pki.timestamper()

    class OtherDocument(type(base)):
        async def async_timestamp(self, message_digest, md_algorithm):
            return await super().async_timestamp(hashlib.sha256(b"another document").digest(), md_algorithm)

    other = OtherDocument(tsa_cert=base.tsa_cert, tsa_key=base.tsa_key, certs_to_embed=base.certs_to_embed)
    zero = generic.ArrayObject([generic.NumberObject(0)] * 4)
    report = decide(_timestamp_in_field(pki, signed_form(), {"/Rect": zero}, timestamper=other), trust_policy)
    rejected_for(report, "modified_after_signing")
    assert "token" in message_of(report, "modified_after_signing")


def test_document_timestamp_with_zero_rect_and_its_own_token_is_allowed(signed_form, pki, trust_policy):
    """The control for the two above: the same construction, honest, is accepted."""
    zero = generic.ArrayObject([generic.NumberObject(0)] * 4)
    accepted(decide(_timestamp_in_field(pki, signed_form(), {"/Rect": zero}), trust_policy))
    hidden = {"/Rect": generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 400, 300)]),
              "/F": generic.NumberObject(2)}
    accepted(decide(_timestamp_in_field(pki, signed_form(), hidden), trust_policy))


# -- one reading ---------------------------------------------------------------------------------


def _two_spaces_in_the_last_xref(pdf: bytes) -> bytes:
    """Rewrite the last xref section's first subsection header "N M" as "N  M" (same length
    trick: the section is rewritten with one byte more, and startxref stays right)."""
    start = pdf.rindex(b"\nxref\n") + len(b"\nxref\n")
    end = pdf.index(b"\n", start)
    first, count = pdf[start:end].split(b" ")
    return pdf[:start] + first + b"  " + count + pdf[end:]


def test_xref_header_with_two_spaces_is_malformed_and_never_recovered(make_form, pki, person_for, trust_policy,
                                                                      monkeypatch, good_values):
    """pdfminer cannot read the newer revision's xref and silently recovered the OLDER one (its
    fallback scans the whole file); pyHanko, pypdf, pdfium and poppler read the newer one."""
    decoy = dict(good_values, phone="+37129999999")
    older = make_form(decoy)
    newer = append_update(older, set_field("phone", good_values["phone"]))
    broken = _two_spaces_in_the_last_xref(newer)
    signed = pki.sign_pdf(broken, person_for())

    from pdfminer.pdfdocument import PDFXRefFallback

    def never(*args, **kwargs):
        raise AssertionError("pdfminer's fallback parser ran")

    monkeypatch.setattr(PDFXRefFallback, "load", never)
    report = decide(signed, trust_policy)
    rejected_for(report, "malformed_pdf")
    assert report.fields.get("phone") is None


def test_fields_compared_between_the_two_parsers(signed_form, trust_policy):
    import pdfplumber
    from pyhanko.pdf_utils.reader import PdfFileReader

    from verify.one_reading import disagreement

    data = signed_form()
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    signed_rev = reader.embedded_regular_signatures[0].signed_revision
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        assert disagreement(reader, signed_rev, pdf.doc, 500, 5000) is None
        assert "revision" in disagreement(reader, 0, pdf.doc, 500, 5000)


# -- one identity --------------------------------------------------------------------------------


def _with_extra_subject_attribute(pki, person, oid, value: str):
    base = person.cert
    subject = x509.Name([*base.subject, x509.NameAttribute(oid, value)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(base.issuer)
        .public_key(base.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(base.not_valid_before_utc)
        .not_valid_after(base.not_valid_after_utc)
    )
    for ext in base.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    cert = builder.sign(pki.intermediate.key, hashes.SHA256())
    return dataclasses.replace(person, cert=cert, chain=(cert, *person.chain[1:]))


@pytest.mark.parametrize("oid,value", [
    (NameOID.SERIAL_NUMBER, "PNOLV-010101-10000"),  # the binding used the first: the form's person
    (NameOID.COUNTRY_NAME, "EE"),
])
def test_two_serial_numbers_or_countries_in_the_subject(pki, signed_form, person_for, trust_policy, oid, value):
    twin = _with_extra_subject_attribute(pki, person_for(), oid, value)
    report = decide(signed_form(person=twin), trust_policy)
    rejected_for(report, "signer_mismatch")
    assert "more than one" in message_of(report, "signer_mismatch")
    assert report.signer.national_id is None


# -- a sane time ---------------------------------------------------------------------------------


def test_claimed_signing_time_in_the_future(signed_form, trust_policy):
    """A 2031 claim against a decision today is the same as today's claim against a decision in the past."""
    data = signed_form()
    claimed = decide(data, trust_policy).signing_time
    report = decide(data, trust_policy, now=claimed - dt.timedelta(minutes=6))
    rejected_for(report, "signing_time_invalid")
    assert codes(report) == ["signing_time_invalid"]
    accepted(decide(data, trust_policy, now=claimed - dt.timedelta(minutes=4)))  # clock skew


def test_trusted_timestamp_in_the_future(signed_form, trust_policy):
    future = dt.datetime.now(UTC) + dt.timedelta(days=5 * 365)
    report = decide(signed_form(timestamp=True, timestamp_time=future), trust_policy)
    assert report.verdict == "rejected"
    assert "signing_time_invalid" in codes(report), report.to_json()["reasons"]


def test_claimed_time_never_later_than_the_mails_receipt(signed_form, trust_policy):
    data = signed_form()
    claimed = decide(data, trust_policy).signing_time
    received = claimed - dt.timedelta(minutes=2)
    report = decide(data, trust_policy, received_at=received)
    accepted(report)
    assert report.signing_time == received
    assert decide(data, trust_policy, received_at=claimed + dt.timedelta(hours=1)).signing_time == claimed


def test_a_trusted_timestamp_is_signed_at(signed_form, trust_policy):
    from worker.decide import decision_of

    proven = dt.datetime.now(UTC) - dt.timedelta(hours=3)
    report = decide(signed_form(timestamp=True, timestamp_time=proven), trust_policy,
                    received_at=proven - dt.timedelta(hours=1))
    accepted(report)
    assert decision_of(report).signing_time == proven.replace(microsecond=report.timestamp_time.microsecond)


# -- real files this must keep right ------------------------------------------------------------


def test_trailer_encrypt_null_is_an_absent_key(signed_form, pki, trust_policy):
    """In the trailer of an allowed DSS update (pyHanko's signer refuses it before signing)."""
    with_dss = signed_form(revocation_crl=pki.crl([]))
    at = with_dss.rindex(b"trailer") + len(b"trailer")
    at = with_dss.index(b"<<", at) + 2
    with_null = with_dss[:at] + b"\n/Encrypt null" + with_dss[at:]  # after the xref: offsets hold
    report = decide(with_null, trust_policy)
    assert "encrypted_pdf" not in codes(report), report.to_json()["reasons"]
    accepted(report)


from tests.fixtures.realworld import REALWORLD  # noqa: E402

PADES = REALWORLD / "pades"


@pytest.mark.parametrize("name", ["hellopades-lt-sha256-ec256.pdf", "hellopades-lt-sha256-rsa2048-expired.pdf"])
def test_siva_document_timestamp_typed_sig_is_a_document_timestamp(name):
    from verify.policy import Policy

    report = decide((PADES / "siva-ee-lt" / name).read_bytes(), Policy())
    assert report.verdict == "rejected"  # not our form, not our trust roots
    assert "modified_after_signing" not in codes(report), report.to_json()["reasons"]
    assert report.modification_level == "LTA_UPDATES"


def test_dss_spoofing_attack_is_an_integrity_failure_not_encryption():
    from verify.policy import Policy

    report = decide((PADES / "dss" / "pdf-spoofing-attack.pdf").read_bytes(), Policy())
    assert report.reasons[0].code in ("modified_after_signing", "signature_invalid"), report.to_json()["reasons"]
    assert "encrypted_pdf" not in codes(report)
