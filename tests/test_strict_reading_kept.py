"""forms.strict_reading keeps pdfminer's parse of an object by its exact bytes: a later document
gets it again only for the same bytes and generation, with its references bound to itself."""

from __future__ import annotations

import io

import pytest
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1

from forms import strict_reading


def _pdf(objects: dict[int, bytes], generations: dict[int, int] | None = None) -> bytes:
    """A one-revision PDF with a classic xref table of ``objects`` (number -> body)."""
    generations = generations or {}
    out = bytearray(b"%PDF-1.7\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d %d obj\n%s\nendobj\n" % (number, generations.get(number, 0), objects[number])
    start = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d %05d n \n" % (offsets[number], generations.get(number, 0))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, start)
    return bytes(out)


def _doc(data: bytes) -> strict_reading.StrictPDFDocument:
    return strict_reading.StrictPDFDocument(PDFParser(io.BytesIO(data)))


@pytest.fixture(autouse=True)
def empty():
    strict_reading.clear_kept()
    yield
    strict_reading.clear_kept()


def _value(doc) -> bytes:
    return resolve1(resolve1(doc.getobj(2))["K"])


def test_the_same_bytes_are_parsed_once_and_bound_to_each_document():
    first = _pdf({1: b"<< /Type /Catalog >>", 2: b"<< /K 3 0 R /Opt [(a) (b)] >>", 3: b"(alpha)"})
    second = _pdf({1: b"<< /Type /Catalog >>", 2: b"<< /K 3 0 R /Opt [(a) (b)] >>", 3: b"(beta!)"})
    assert _value(_doc(first)) == b"alpha"
    assert any(key[0] == 2 for key in strict_reading._KEPT)
    doc = _doc(second)
    assert _value(doc) == b"beta!"  # object 2 came from the kept parse, its reference from this file
    assert resolve1(doc.getobj(2))["K"].doc is doc


def test_other_bytes_or_another_generation_are_parsed_afresh():
    assert _value(_doc(_pdf({1: b"<< /Type /Catalog >>", 2: b"<< /K 3 0 R >>", 3: b"(alpha)"}))) == b"alpha"
    other = _doc(_pdf({1: b"<< /Type /Catalog >>", 2: b"<< /K 3 0 R /X 1 >>", 3: b"(alpha)"}))
    assert resolve1(other.getobj(2))["X"] == 1
    regenerated = _doc(_pdf({1: b"<< /Type /Catalog >>", 2: b"<< /K 3 0 R >>", 3: b"(alpha)"}, {2: 1}))
    assert _value(regenerated) == b"alpha"
    assert {key[:2] for key in strict_reading._KEPT} >= {(2, 0), (2, 1)}  # one template per generation


def test_a_repeated_key_is_refused_again_however_often_it_comes():
    bad = _pdf({1: b"<< /Type /Catalog >>", 2: b"<< /V (a) /V (b) >>"})
    for _ in range(2):
        with pytest.raises(strict_reading.RecoveryRefused):
            _doc(bad).getobj(2)


def test_a_large_object_is_not_kept():
    """What one file can make the process hold is bounded: objects over MAX_KEPT_BYTES are parsed every time."""
    big = b"[" + b"(x) " * (strict_reading.MAX_KEPT_BYTES // 4 + 1) + b"]"
    doc = _doc(_pdf({1: b"<< /Type /Catalog >>", 2: big}))
    assert len(resolve1(doc.getobj(2))) > strict_reading.MAX_KEPT_BYTES // 4
    assert not any(key[0] == 2 for key in strict_reading._KEPT)
