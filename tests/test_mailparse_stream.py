"""intake.mailin.parse reading a mail from a file and spooling its large parts (intake.mailin.spool).

The spooling must change memory only: every mail parses the same from bytes with nothing
spooled as from a file with everything spoolable spooled (``assert_same_parse``, also used by
tests/test_mailparse.py and the mail fuzzer in tests/test_fuzz.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
import tracemalloc
from email.mime.application import MIMEApplication
from pathlib import Path

import pytest

from intake.mailin import spool as mailspool
from intake.mailin.parse import ParsedMail, PdfPart, parse_mail
from tests.fixtures.realworld import REALWORLD

REGRESSIONS = Path(__file__).with_name("regressions")
LIMIT = 25 * 1024 * 1024
NEVER = 1 << 62
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def mail_view(parsed: ParsedMail) -> dict:
    """Everything parse_mail reports, PDF bytes included, in a comparable form."""
    return {
        "headers": (parsed.message_id, parsed.sender, parsed.subject, parsed.date),
        "defects": list(parsed.defects),
        "others": list(parsed.others),
        "pdfs": [(p.index, p.filename, p.origin, p.sha256, p.size, p.sniffed, p.too_large, p.declared_type, p.data)
                 for p in parsed.pdfs],
        "key": (parsed.message_key, parsed.raw_size),
    }


def assert_same_parse(raw: bytes, max_part_bytes: int = LIMIT) -> ParsedMail:
    """parse_mail(bytes) spooling nothing == parse_mail(file) spooling every base64 body; returns the first."""
    plain = parse_mail(raw, max_part_bytes, spool_threshold=NEVER)
    assert not any(p.spooled for p in plain.pdfs)
    with parse_mail(io.BytesIO(raw), max_part_bytes, spool_threshold=0) as streamed:
        assert mail_view(streamed) == mail_view(plain)
    return plain


def _realworld_mails() -> list[Path]:
    found = sorted((REALWORLD / "eml").glob("*.eml")) + sorted(REGRESSIONS.glob("*.eml"))
    assert found, f"no mails under {REALWORLD}"
    return found


@pytest.mark.parametrize("path", _realworld_mails(), ids=lambda p: p.name)
def test_file_and_spool_give_the_same_parse(path: Path):
    parsed = assert_same_parse(path.read_bytes())
    assert parsed.message_key == hashlib.sha256(path.read_bytes()).hexdigest()
    assert parsed.raw_size == path.stat().st_size


def _attachment_mail(*payloads: bytes, names=None, text: str = "see attached") -> bytes:
    from tests.test_mailparse import _mail_with

    if len(payloads) == 1:
        part = MIMEApplication(payloads[0], "pdf")
        part.add_header("Content-Disposition", "attachment", filename=(names or ["form.pdf"])[0])
        return _mail_with(part, text)
    from worker.bench.corpus import make_mail

    return make_mail(list(payloads))


def _big_pdf(n: int, seed: int = 0) -> bytes:
    return PDF + hashlib.shake_256(seed.to_bytes(4, "big")).digest(n)


def test_a_large_pdf_from_a_file_is_spooled(tmp_path):
    pdf = _big_pdf(5 * 1024 * 1024)
    path = tmp_path / "mail.eml"
    path.write_bytes(_attachment_mail(pdf))
    with path.open("rb") as f, parse_mail(f, LIMIT) as parsed:
        [part] = parsed.pdfs
        assert part.spooled and part.size == len(pdf) and part.sha256 == hashlib.sha256(pdf).hexdigest()
        assert b"".join(part.chunks(100_000)) == pdf and part.data == pdf
        assert all(len(c) <= 100_000 for c in part.chunks(100_000))
        assert not f.closed and f.tell() == path.stat().st_size  # read to the end, left open
    # small parts stay in memory; the default threshold is 1 MiB
    with parse_mail(_attachment_mail(PDF), LIMIT) as small:
        assert [p.spooled for p in small.pdfs] == [False]


def test_parsing_three_5mb_pdfs_from_a_file_stays_small():
    """tracemalloc's peak, deterministic enough: measured at 5.7 MB (1 MiB of lines held before a
    part is known to be large); parsing from bytes in memory took over 100 MB before the spool."""
    pdfs = [_big_pdf(5 * 1024 * 1024, seed) for seed in range(3)]
    with tempfile.TemporaryFile() as f:
        f.write(_attachment_mail(*pdfs))
        del pdfs
        tracemalloc.start()
        try:
            parsed = parse_mail(f, LIMIT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        with parsed:
            assert [p.spooled for p in parsed.pdfs] == [True, True, True]
            assert [p.size for p in parsed.pdfs] == [5 * 1024 * 1024 + len(PDF)] * 3
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_a_line_that_looks_like_a_spool_is_just_text():
    """Spools are found by a Python attribute of the parsed part, never by its text: a sender who
    writes the attribute's name, or a lone line ending (what the parser keeps of a spooled body),
    gets text."""
    forged = f"{mailspool.SPOOL_ATTR} {'0' * 32}\r\n"
    for body in (forged * 3, "\r\n", ""):
        parsed = assert_same_parse(_attachment_mail(PDF, text=body))
        assert [p.data for p in parsed.pdfs] == [PDF]
    raw = (b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
           + base64.encodebytes(forged.encode() * 1000))
    parsed = assert_same_parse(raw)
    assert parsed.others[0]["size"] == len(forged) * 1000


def test_close_releases_the_files():
    raw = _attachment_mail(_big_pdf(2 * 1024 * 1024))
    parsed = parse_mail(io.BytesIO(raw), LIMIT)
    [part] = parsed.pdfs
    assert part.spooled
    part_file = part._file
    parsed.close()
    parsed.close()  # idempotent
    assert part_file.closed
    with pytest.raises(ValueError, match="released by ParsedMail.close"):
        part.data
    with pytest.raises(ValueError):
        next(part.chunks())
    # metadata stays readable
    assert part.size == 2 * 1024 * 1024 + len(PDF) and part.sha256


def test_parts_compare_by_their_bytes():
    raw = _attachment_mail(_big_pdf(2 * 1024 * 1024))
    with parse_mail(io.BytesIO(raw), LIMIT) as spooled:
        plain = parse_mail(raw, LIMIT, spool_threshold=NEVER)
        assert spooled.pdfs == plain.pdfs and spooled == plain
    made = PdfPart(index=1, filename="a.pdf", data=PDF, sha256=hashlib.sha256(PDF).hexdigest(), size=len(PDF))
    assert made.data == PDF and not made.spooled and list(made.chunks(10))[0] == PDF[:10]
    with pytest.raises(ValueError):
        next(made.chunks(0))
    assert made == PdfPart(1, "a.pdf", PDF, made.sha256, len(PDF)) and "data" not in repr(made)


def test_broken_base64_in_a_large_part_is_read_as_before():
    """Whatever the spool is unsure of goes back to the in-memory path: the same defect, the same bytes."""
    good = base64.encodebytes(_big_pdf(60_000))
    head = (b"From: a@b.lv\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\n"
            b"Content-Type: application/pdf; name=x.pdf; charset=cp037\nContent-Transfer-Encoding: base64\n\n")
    variants = {
        "stray character": good[:5000] + b"!" + good[5000:],
        "non-ascii": good[:5000] + b"\xe9" + good[5000:],
        "padding inside": good[:4000] + b"AA==\n" + good[4000:],
        "single trailing pad": good.rstrip() + b"=\n",
        "no final newline": good.rstrip(),
        "cr line ends": good.replace(b"\n", b"\r"),
        "truncated": good[:-7],
        "whitespace oddities": good.replace(b"\n", b" \x1c\t\n"),
    }
    for name, body in variants.items():
        for tail in (b"--b1--\n", b"\n--b1--\n", b"--b1\nContent-Type: text/plain\n\nx\n--b1--", b""):
            parsed = assert_same_parse(head + body + tail)
            assert len(parsed.pdfs) == 1, name
        # a single-part mail: the stdlib keeps the body's last line ending (no boundary trims it)
        single = b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + body
        assert len(assert_same_parse(single).pdfs) == 1, name


def test_unreadable_spool_falls_back_to_memory(monkeypatch):
    def no_tempfile(*a, **k):
        raise OSError("no space left on device")

    monkeypatch.setattr(mailspool.tempfile, "TemporaryFile", no_tempfile)
    raw = _attachment_mail(_big_pdf(2 * 1024 * 1024))
    parsed = parse_mail(io.BytesIO(raw), LIMIT)
    assert [(p.spooled, p.size) for p in parsed.pdfs] == [(False, 2 * 1024 * 1024 + len(PDF))]
    assert mail_view(parsed) == mail_view(parse_mail(raw, LIMIT, spool_threshold=NEVER))


def test_parts_that_are_not_spooled():
    """multipart/*, message/* and non-base64 bodies are left to the stdlib, as before."""
    inner = _attachment_mail(_big_pdf(100_000))
    raw = (b"From: a@b.lv\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n--o\n"
           b"Content-Type: message/rfc822\n\n" + inner + b"\n--o\nContent-Type: application/pdf\n"
           b"Content-Transfer-Encoding: quoted-printable\n\n" + PDF + b"\n--o\n"
           b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + base64.encodebytes(inner)
           + b"--o--\n")
    parsed = assert_same_parse(raw)
    assert [p.origin for p in parsed.pdfs] == ["message/rfc822", "attachment", "message/rfc822"]


def test_a_file_not_at_offset_zero_is_read_from_the_start():
    raw = _attachment_mail(PDF)
    f = io.BytesIO(raw)
    f.seek(100)
    assert mail_view(parse_mail(f, LIMIT)) == mail_view(parse_mail(raw, LIMIT))


def test_empty_and_tiny_files():
    for raw in (b"", b"\n", b"x", os.urandom(100)):
        assert_same_parse(raw)
        assert parse_mail(io.BytesIO(raw), LIMIT).raw_size == len(raw)


def test_a_spooled_text_body_is_still_searched_for_uuencoded_pdfs():
    import binascii

    uu = b"begin 644 f.pdf\n" + b"".join(binascii.b2a_uu(PDF[i:i + 45]) for i in range(0, len(PDF), 45)) + b"`\nend\n"
    raw = (b"From: a@b.lv\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
           + base64.encodebytes(b"Here it is\n" + uu))
    parsed = assert_same_parse(raw)
    assert [(p.filename, p.data, p.origin) for p in parsed.pdfs] == [("f.pdf", PDF, "uuencode")]


# ---- generated MIME trees: the spool must follow the stdlib on odd structure too -----------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st

_BOUNDARIES = ["b", "b1", "b--", "=_x", "b b"]


@st.composite
def _body_b64(draw) -> list[bytes]:
    data = draw(st.sampled_from([b"", PDF, PDF * 40, b"\x00" * 300])) + draw(st.binary(max_size=300))
    width = draw(st.sampled_from([76, 4, 3, 1000]))
    text = base64.b64encode(data)
    lines = [text[i:i + width] for i in range(0, len(text), width)] or [b""]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from([b"", b" ", b"AA==", b"!!", b"\xe9", b"--b", b"--b--", b"--b1 ",
                                                b"=", b"\x1c", b"QUJD"])))
    return lines


@st.composite
def _part(draw, depth: int = 0) -> list[bytes]:
    kind = draw(st.sampled_from(["leaf", "leaf", "multipart", "rfc822"] if depth < 3 else ["leaf"]))
    if kind == "rfc822":
        return [b"Content-Type: message/rfc822", b""] + draw(_part(depth + 1))
    if kind == "multipart":
        boundary = draw(st.sampled_from(_BOUNDARIES)).encode()
        quoted = draw(st.booleans())
        sub = draw(st.sampled_from([b"mixed", b"digest", b"alternative"]))
        lines = [b"Content-Type: multipart/" + sub + b"; boundary=" + (b'"%s"' % boundary if quoted else boundary), b""]
        if draw(st.booleans()):
            lines.append(b"preamble")
        for _ in range(draw(st.integers(0, 3))):
            lines.append(b"--" + boundary + draw(st.sampled_from([b"", b" ", b"\t"])))
            lines += draw(_part(depth + 1))
        if draw(st.booleans()):
            lines.append(b"--" + boundary + b"--")
            if draw(st.booleans()):
                lines.append(b"epilogue")
        return lines
    ctype = draw(st.sampled_from([b"application/pdf", b"text/plain", b"application/octet-stream", b"image/png",
                                  b"message/delivery-status", b"application/ms-tnef"]))
    cte = draw(st.sampled_from([b"base64", b"BASE64 ", b"quoted-printable", None]))
    headers = [b"Content-Type: " + ctype]
    if cte is not None:
        headers.append(b"Content-Transfer-Encoding: " + cte)
    if draw(st.booleans()):
        headers.append(b'Content-Disposition: attachment; filename="f.pdf"')
    separator = draw(st.sampled_from([[b""], [b""], []]))  # no blank line: the body starts at once
    return headers + separator + draw(_body_b64())


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_generated_mime_trees_parse_the_same_spooled(data):
    lines = [b"From: a@b.lv", b"MIME-Version: 1.0"] + data.draw(_part())
    eol = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    raw = eol.join(lines) + data.draw(st.sampled_from([eol, b""]))
    limit = data.draw(st.sampled_from([LIMIT, 100, 1]))
    plain = assert_same_parse(raw, limit)
    threshold = data.draw(st.integers(0, 400))
    with parse_mail(io.BytesIO(raw), limit, spool_threshold=threshold) as partly:
        assert mail_view(partly) == mail_view(plain)


def test_without_the_parser_internals_nothing_is_spooled(monkeypatch):
    """A Python whose feed parser lacks the internals the spool hooks into parses as before, in memory."""
    monkeypatch.setattr(mailspool, "SUPPORTED", False)
    raw = _attachment_mail(_big_pdf(2 * 1024 * 1024))
    with parse_mail(io.BytesIO(raw), LIMIT, spool_threshold=0) as parsed:
        assert [p.spooled for p in parsed.pdfs] == [False]
        assert mail_view(parsed) == mail_view(parse_mail(raw, LIMIT, spool_threshold=NEVER))
