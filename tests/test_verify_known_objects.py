"""verify.known_objects: the structure check reuses what it read of earlier documents only for equal bytes."""

from __future__ import annotations

import io
import re

import pytest
from pyhanko.pdf_utils.generic import IndirectObject
from pyhanko.pdf_utils.reader import PdfFileReader

from forms.schema import FORM_VERSION
from tests.fixtures.pki import GOOD_VALUES
from verify import conformance, known_objects


@pytest.fixture(autouse=True)
def empty_cache():
    known_objects.clear()
    yield
    known_objects.clear()


def _walk(data: bytes, kept: bool) -> tuple[dict, dict, PdfFileReader]:
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    objects: dict[int, str] = {}
    file = known_objects.FileObjects.of(reader, data) if kept else None
    return conformance.structure(reader.root, objects, file), objects, reader


def test_kept_texts_are_what_a_fresh_walk_reads(signed_form):
    first = signed_form()
    _walk(first, kept=True)  # fills the cache
    other = signed_form({**GOOD_VALUES, "phone": "+37129999999"})
    fresh, fresh_objects, fresh_reader = _walk(other, kept=False)
    kept, kept_objects, kept_reader = _walk(other, kept=True)
    assert kept == fresh and kept_objects == fresh_objects
    assert conformance.check(kept_reader.root, FORM_VERSION, {}, known_objects.FileObjects.of(kept_reader, other)) == []
    # the blank's fonts, resources and drawings were not parsed again
    assert len(kept_reader.resolved_objects) < len(fresh_reader.resolved_objects) - 20


def test_an_object_whose_child_changed_is_read_again(make_form):
    blank_filled = make_form()
    _walk(blank_filled, kept=True)
    # the field font's descriptor changes, the font dictionary referring to it keeps its bytes
    match = re.search(rb"/StemV 80", blank_filled)
    assert match is not None
    altered = blank_filled[:match.start()] + b"/StemV 81" + blank_filled[match.end():]
    fresh, _, _ = _walk(altered, kept=False)
    kept, _, _ = _walk(altered, kept=True)
    assert kept == fresh
    original, _, _ = _walk(blank_filled, kept=False)
    assert kept["acroform /DR /Font /DejaVuField"] != original["acroform /DR /Font /DejaVuField"]


def _pdf(bodies: dict[int, bytes], inner: dict[int, int] | None = None) -> bytes:
    """A classic PDF of ``bodies``; ``inner``: object number -> offset inside another object's bytes."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = {}
    for num, body in sorted(bodies.items()):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    for num, (host, marker) in (inner or {}).items():
        offsets[num] = out.index(marker, offsets[host])
    size = max(offsets) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


CATALOG = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
           3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 4 0 R >>"}


def test_a_stream_of_indirect_length_is_never_kept():
    data = _pdf({**CATALOG, 4: b"<< /Length 5 0 R >>\nstream\nBT ET\nendstream", 5: b"5"})
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    file = known_objects.FileObjects(reader, data)
    obj, keep = file.parse(IndirectObject(4, 0, reader))
    assert obj.data == b"BT ET" and not keep


def test_a_stream_reaching_past_its_bytes_is_never_kept():
    nested = b"5 0 obj\n(x)\nendobj\n"
    payload = b"AAAA\nendstream\nendobj\n" + nested + b"BBBB"
    body = b"<< /Length %d >>\nstream\n" % len(payload) + payload + b"\nendstream"
    data = _pdf({**CATALOG, 4: body}, inner={5: (4, b"5 0 obj")})
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    file = known_objects.FileObjects(reader, data)
    obj, keep = file.parse(IndirectObject(4, 0, reader))
    assert obj.data == payload and not keep
    start, end = file.span((4, 0))
    assert data[start:end].endswith(b"endobj\n") and end == data.index(b"5 0 obj")


def test_a_plain_object_within_its_bytes_is_kept():
    data = _pdf({**CATALOG, 4: b"<< /Length 5 >>\nstream\nBT ET\nendstream"})
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    file = known_objects.FileObjects(reader, data)
    assert file.parse(IndirectObject(4, 0, reader))[1]
    assert not file.parse(IndirectObject(4, 0, reader))[1]  # from pyHanko's cache: its end is unknown


def test_a_drawing_is_not_reused_with_another_font(signed_form, make_form, pki, person_for, trust_policy):
    """The same appearance streams drawn with a font whose ToUnicode map differs show other text."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    from verify.decision import decide

    assert decide(signed_form(), trust_policy).accepted  # the drawings of the good form are kept
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_form())))
    font = writer._root_object["/AcroForm"]["/DR"]["/Font"]["/DejaVuField"].get_object()
    cmap = font["/ToUnicode"].get_object().get_data()
    swapped = cmap.replace(b"<0030>", b"<0031>")  # the glyph of "0" now reads "1"
    assert swapped != cmap
    stream = DecodedStreamObject()
    stream.set_data(swapped)
    font[NameObject("/ToUnicode")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    report = decide(pki.sign_pdf(out.getvalue(), person_for()), trust_policy)
    assert "appearance_mismatch" in report.codes, report.codes


def test_appearance_keys_tell_which_object_a_repeated_reference_is():
    """The drawing cache's key of a resource dictionary: ``/C`` naming the first object again and
    ``/C`` naming the second one again are different resources (a viewer draws different things)."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    from verify.appearance import _content_key

    writer = PdfWriter()
    x = writer._add_object(TextStringObject("drawn by X"))
    y = writer._add_object(TextStringObject("drawn by Y"))
    again_x = writer._add_object(DictionaryObject({NameObject("/A"): x, NameObject("/B"): y, NameObject("/C"): x}))
    again_y = writer._add_object(DictionaryObject({NameObject("/A"): x, NameObject("/B"): y, NameObject("/C"): y}))
    writer.root_object[NameObject("/Test")] = DictionaryObject({NameObject("/X"): again_x, NameObject("/Y"): again_y})
    out = io.BytesIO()
    writer.write(out)
    doc = PDFDocument(PDFParser(io.BytesIO(out.getvalue())))
    test = resolve1(doc.catalog["Test"])
    assert _content_key(resolve1(test["X"])) != _content_key(resolve1(test["Y"]))
