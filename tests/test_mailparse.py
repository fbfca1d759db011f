"""intake.mailin.parse: every real-world mail, TNEF, and the broken cases we make ourselves."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.mailin.parse import parse_mail, sniff_pdf
from tests.fixtures.realworld import REALWORLD
from tests.test_mailparse_stream import assert_same_parse

EML = REALWORLD / "eml"
TNEF = REALWORLD / "tnef"
LIMIT = 25 * 1024 * 1024
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

#: file -> (PDFs as (filename, decoded size, sniffed), other attachments' file names).
#: Taken from SOURCES.md's mail rows (the source projects' own expected parses). imap_tools'
#: "broken.pdf" is a real PDF header on a truncated file; "This is a test.pdf" is declared
#: application/pdf but holds an S/MIME blob, so it is kept for the decision (not_pdf).
EXPECTED: dict[str, tuple[list[tuple[str | None, int, bool]], list[str | None]]] = {
    "flanker__attached-pdf.eml": ([("test.pdf", 6940, True)], []),
    "flanker__enclosed.eml": ([], []),
    "flanker__from-encoding.eml": ([], []),
    "flanker__missing-final-boundary.eml": ([], []),
    "flanker__no-ctype.eml": ([], []),
    "flanker__quoted-printable.eml": ([], []),
    "flanker__russian-attachment-yahoo.eml": (
        [], ["Картинка с очень, очень длинным предлинным именем преименем таким чт\ufffd"]),
    "imap_tools__att_name_in_content_type.eml": ([], ["D09.ZPH.txt"]),
    "imap_tools__attachment_inline1.eml": ([], ["blank.png", "sm-ok.png", "logo.png"]),
    "imap_tools__attachment_message_rfc822.eml": ([("broken.pdf", 1026, True)], []),
    "imap_tools__attachment_nonascii_filename.eml": ([], ["ciële.txt"]),
    "imap_tools__attachment_only_email.eml": ([], ["blah.gz"]),
    "imap_tools__attachment_pdf.eml": ([("broken.pdf", 1026, True)], []),
    "imap_tools__attachment_pdf_lf.eml": ([("broken.pdf", 1026, True)], []),
    "imap_tools__attachment_with_base64_encoded_name.eml": ([("This is a test.pdf", 399, False)], []),
    "imap_tools__attachment_with_encoded_name.eml": ([], ["01 Quien Te Dij\ufffdat. Pitbull.mp3"]),
    "imap_tools__attachment_with_quoted_filename.eml": ([], ["Eelanalüüsi päring.jpg"]),
    "imap_tools__content_transfer_encoding_x_uuencode.eml": ([], ["PGP_Cmts_on_12-14-01_Pkg.doc"]),
    "imap_tools__japanese_attachment_long_name.eml": ([], ["かきくけこかきくけこかきくけこかきくけこかきくけこ.txt"]),
    "imap_tools__raw_email_with_illegal_boundary.eml": ([], []),
    "imap_tools__raw_email_with_nested_attachment.eml": ([], ["truncated.png", "smime.p7s"]),
    "mimekit__tnef_ukr.eml": ([], ["winmail.dat"]),
}


def parse(raw: bytes, limit: int = LIMIT):
    """parse_mail, checked against reading the mail from a file with every base64 body spooled."""
    return assert_same_parse(raw, limit)


def test_every_realworld_mail_is_listed():
    assert sorted(p.name for p in EML.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_realworld_mail(name):
    raw = (EML / name).read_bytes()
    parsed = parse(raw, LIMIT)
    pdfs, others = EXPECTED[name]
    assert [(p.filename, p.size, p.sniffed) for p in parsed.pdfs] == pdfs
    assert [o["filename"] for o in parsed.others] == others
    for p in parsed.pdfs:
        assert p.sha256 == hashlib.sha256(p.data).hexdigest()
        assert len(p.data) == p.size
    assert len({p.index for p in parsed.pdfs}) == len(parsed.pdfs)
    # the same bytes give the same answer (part indexes are stable across polls)
    assert parse_mail(raw, LIMIT) == parsed


def test_realworld_headers():
    p = parse((EML / "imap_tools__attachment_pdf.eml").read_bytes(), LIMIT)
    assert p.subject == "Another PDF with 🎉 Unicode chars in it 🍿"
    assert p.message_id == "<xxxx@xxxx.com>"
    assert p.date == dt.datetime(2005, 5, 10, 17, 26, 39, tzinfo=dt.timezone.utc)
    # raw 8-bit Latin-1 in From (flanker's expectation)
    p = parse((EML / "flanker__from-encoding.eml").read_bytes(), LIMIT)
    assert "Ingo Lütkebohle" in p.sender and "<ingo@blank.pages.de>" in p.sender
    p = parse((EML / "imap_tools__attachment_with_quoted_filename.eml").read_bytes(), LIMIT)
    assert p.subject == "Eelanalüüsi päring"


def test_broken_mails_note_their_defects():
    p = parse((EML / "flanker__missing-final-boundary.eml").read_bytes(), LIMIT)
    assert any("CloseBoundaryNotFound" in d for d in p.defects)
    p = parse((EML / "imap_tools__raw_email_with_illegal_boundary.eml").read_bytes(), LIMIT)
    assert "message: boundary re-read leniently" in p.defects
    p = parse((EML / "flanker__no-ctype.eml").read_bytes(), LIMIT)
    assert any("no Content-Type" in d for d in p.defects)


def _mail_with(part: MIMEBase, text: str = "see attached") -> bytes:
    msg = MIMEMultipart()
    msg["From"] = "Jānis Bērziņš <janis@example.lv>"
    msg["Message-ID"] = "<t@example.lv>"
    msg["Subject"] = "Veidlapa"
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0200"
    msg.attach(MIMEText(text))
    msg.attach(part)
    return msg.as_bytes()


def _tnef_mail(tnef: bytes) -> bytes:
    part = MIMEApplication(tnef, "ms-tnef")
    part.add_header("Content-Disposition", "attachment", filename="winmail.dat")
    return _mail_with(part)


def test_tnef_with_a_pdf_is_unpacked():
    data = (TNEF / "mimekit__MAPI_ATTACH_DATA_OBJ.winmail.dat").read_bytes()
    p = parse(_tnef_mail(data), LIMIT)
    assert [(x.filename, x.size, x.origin) for x in p.pdfs] == [("VIA_Nytt_1402.pdf", 213685, "tnef")]
    assert p.pdfs[0].data.startswith(b"%PDF-")
    names = [o["filename"] for o in p.others]
    assert names == ["winmail.dat", "VIA_Nytt_1402.doc", "VIA_Nytt_14021.htm"]
    assert "TNEF" in p.others[0]["note"]


def test_tnef_without_a_pdf():
    data = (TNEF / "mimekit__winmail.winmail.dat").read_bytes()
    p = parse(_tnef_mail(data), LIMIT)
    assert p.pdfs == []
    assert [o["filename"] for o in p.others] == ["winmail.dat", "Untitled Attachment", "Untitled Attachment"]


def test_broken_tnef_is_noted_not_fatal():
    p = parse(_tnef_mail(b"not a TNEF stream at all"), LIMIT)
    assert p.pdfs == []
    assert "could not be read" in p.others[0]["note"]


def test_type_is_sniffed_not_declared():
    # a PDF declared as an image, inline: still a PDF
    part = MIMEBase("image", "png")
    part.set_payload(PDF)
    from email import encoders

    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "inline", filename="scan.png")
    p = parse(_mail_with(part), LIMIT)
    assert [(x.filename, x.sniffed, x.origin, x.declared_type) for x in p.pdfs] == [
        ("scan.png", True, "inline", "image/png")]
    # junk before the header, within 1024 bytes: readers open it, so do we
    part = MIMEApplication(b"\x00" * 1000 + PDF, "octet-stream")
    p = parse(_mail_with(part), LIMIT)
    assert len(p.pdfs) == 1 and p.pdfs[0].filename is None
    # too far in: not a PDF
    part = MIMEApplication(b"\x00" * 1100 + PDF, "octet-stream")
    p = parse(_mail_with(part), LIMIT)
    assert p.pdfs == [] and p.others[0]["size"] == 1100 + len(PDF)


def test_declared_pdf_that_is_not_one_is_kept_for_the_decision():
    part = MIMEApplication(b"PK\x03\x04 a zip", "pdf")
    part.add_header("Content-Disposition", "attachment", filename="forma.pdf")
    p = parse(_mail_with(part), LIMIT)
    assert [(x.filename, x.sniffed) for x in p.pdfs] == [("forma.pdf", False)]


def test_pdf_in_text_body_part_and_many_pdfs():
    msg = MIMEMultipart()
    msg.attach(MIMEText("hello"))
    for i in range(3):
        a = MIMEApplication(PDF + str(i).encode(), "pdf")
        a.add_header("Content-Disposition", "attachment", filename=f"f{i}.pdf")
        msg.attach(a)
    p = parse(msg.as_bytes(), LIMIT)
    assert [x.filename for x in p.pdfs] == ["f0.pdf", "f1.pdf", "f2.pdf"]
    assert len({x.sha256 for x in p.pdfs}) == 3
    assert [x.index for x in p.pdfs] == [1, 2, 3]


def test_oversized_pdf_is_flagged_not_dropped():
    part = MIMEApplication(PDF + b"x" * 5000, "pdf")
    part.add_header("Content-Disposition", "attachment", filename="big.pdf")
    p = parse(_mail_with(part), 1000)
    assert len(p.pdfs) == 1
    big = p.pdfs[0]
    assert big.too_large and big.data == b"" and big.size == len(PDF) + 5000
    assert big.sha256 == hashlib.sha256(PDF + b"x" * 5000).hexdigest()
    assert "too_large" in p.others[0]["note"]


def test_nested_rfc822_even_when_base64_encoded():
    inner = _mail_with(MIMEApplication(PDF, "pdf"))
    outer = MIMEMultipart()
    outer.attach(MIMEText("fwd"))
    fwd = MIMEBase("message", "rfc822")
    fwd.set_payload(base64.encodebytes(inner).decode())
    fwd["Content-Transfer-Encoding"] = "base64"
    outer.attach(fwd)
    p = parse(outer.as_bytes(), LIMIT)
    assert [(x.sniffed, x.origin) for x in p.pdfs] == [(True, "message/rfc822")]
    assert p.pdfs[0].data == PDF


def test_uuencoded_pdf_in_the_text_body():
    lines = [binascii.b2a_uu(PDF[i:i + 45]) for i in range(0, len(PDF), 45)]
    body = b"Here it is\n\nbegin 644 veidlapa.pdf\n" + b"".join(lines) + b"`\nend\n"
    raw = b"From: a@b.lv\nSubject: uu\nMIME-Version: 1.0\nContent-Type: text/plain\n\n" + body
    p = parse(raw, LIMIT)
    assert [(x.filename, x.data, x.origin) for x in p.pdfs] == [("veidlapa.pdf", PDF, "uuencode")]


def test_x_uuencode_transfer_encoding():
    body = b"begin 644 f.pdf\n" + b"".join(binascii.b2a_uu(PDF[i:i + 45]) for i in range(0, len(PDF), 45)) + b"`\nend\n"
    raw = (b"From: a@b.lv\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n"
           b"Content-Type: text/plain\n\nhi\n--XX\nContent-Type: application/octet-stream; name=f.pdf\n"
           b"Content-Transfer-Encoding: x-uuencode\n\n" + body + b"--XX--\n")
    p = parse(raw, LIMIT)
    assert [(x.filename, x.data) for x in p.pdfs] == [("f.pdf", PDF)]


def test_missing_final_boundary_keeps_the_pdf():
    b64 = base64.encodebytes(PDF)
    raw = (b"From: a@b.lv\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"
           b"Content-Type: text/plain\n\nhi\n--b1\nContent-Type: application/pdf; name=\"x.pdf\"\n"
           b"Content-Transfer-Encoding: base64\n\n" + b64)
    p = parse(raw, LIMIT)
    assert [(x.filename, x.data) for x in p.pdfs] == [("x.pdf", PDF)]
    assert any("CloseBoundaryNotFound" in d for d in p.defects)


def test_illegal_unquoted_boundary_keeps_the_pdf():
    b64 = base64.encodebytes(PDF)
    raw = (b"From: a@b.lv\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=----=_Part_1_2.3\n\n"
           b"------=_Part_1_2.3\nContent-Type: text/plain\n\nhi\n------=_Part_1_2.3\n"
           b"Content-Type: application/pdf; name=\"x.pdf\"\nContent-Transfer-Encoding: base64\n\n" + b64
           + b"------=_Part_1_2.3--\n")
    p = parse(raw, LIMIT)
    assert [(x.filename, x.data) for x in p.pdfs] == [("x.pdf", PDF)]


def test_single_part_pdf_mail_without_headers_of_note():
    raw = b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + base64.encodebytes(PDF)
    p = parse(raw, LIMIT)
    assert [x.data for x in p.pdfs] == [PDF]
    assert p.message_id is None and p.sender is None and p.date is None


def test_bad_base64_and_bad_headers_do_not_crash():
    raw = (b"From: =?utf-8?B?broken?= <x@y>\nDate: yesterday-ish\nSubject: a\x00b =?x-unknown?Q?z?=\n"
           b"Message-ID: <\xff\xfe@x>\nMIME-Version: 1.0\nContent-Type: application/pdf; name=a.pdf\n"
           b"Content-Transfer-Encoding: base64\n\n" + base64.b64encode(PDF)[:-3] + b"!!\n")
    p = parse(raw, LIMIT)
    assert p.date is None
    assert "\x00" not in (p.subject or "")
    assert len(p.pdfs) == 1 and p.pdfs[0].data.startswith(b"%PDF-")


def test_naive_date_is_utc_and_offsets_are_converted():
    raw = b"Date: Mon, 02 Mar 2026 10:00:00 -0000\nSubject: x\n\nbody"
    assert parse(raw, LIMIT).date == dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone.utc)
    raw = b"Date: Mon, 02 Mar 2026 10:00:00 +0200\nSubject: x\n\nbody"
    assert parse(raw, LIMIT).date == dt.datetime(2026, 3, 2, 8, tzinfo=dt.timezone.utc)


def test_sniff():
    assert sniff_pdf(b"%PDF-1.4") and not sniff_pdf(b"PDF-1.4") and not sniff_pdf(b"")


_SEEDS = [(EML / n).read_bytes() for n in sorted(EXPECTED)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(_SEEDS))), st.data())
def test_mangled_mails_never_crash(seed, data):
    raw = bytearray(_SEEDS[seed][:20000])
    for _ in range(data.draw(st.integers(0, 8))):
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        action = data.draw(st.sampled_from(["cut", "flip", "insert"]))
        if action == "cut":
            del raw[pos:pos + data.draw(st.integers(1, 400))]
        elif action == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        else:
            raw[pos:pos] = data.draw(st.binary(max_size=40))
    parsed = parse(bytes(raw), LIMIT)
    for p in parsed.pdfs:
        assert p.sha256 and p.index >= 0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(raw):
    parse(raw, LIMIT)
