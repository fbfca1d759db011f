"""Generations (verify.generations): a reference leads to one object for pyHanko and for pdfminer.

poppler writes objects again as generation 1 without freeing generation 0 and leaves them
unreferenced (tests/test_verify_fillers.py accepts its forms). The attack files here make a
reachable reference name another generation than the live one, so that pyHanko (which keeps
generations) and pdfminer (which drops them) read different drawings; each is signed with the
test PKI and refused as ``malformed_pdf``.
"""

from __future__ import annotations

import io

import pdfplumber
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from forms.fill import fill_form
from forms.strict_reading import RecoveryRefused
from tests.fixtures.pki import GOOD_VALUES, _blank
from tests.test_verify_decision import codes, rejected_for
from verify.decision import decide

FIELD = "first_name"
OTHER_NAME = "Pēteris"


def _widget_and_drawing(pdf: bytes) -> tuple[generic.IndirectObject, generic.IndirectObject]:
    """The first_name field's widget (a merged field and widget) and its normal appearance."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    for ref in reader.root["/AcroForm"]["/Fields"]:
        if ref.get_object().get("/T") == FIELD:
            return ref, ref.get_object()["/AP"].raw_get("/N")
    raise KeyError(FIELD)


def _object(pdf: bytes, ref: generic.IndirectObject) -> generic.PdfObject:
    return PdfFileReader(io.BytesIO(pdf), strict=True).get_object(ref.reference)


def _raw_update(pdf: bytes, objects: dict[tuple[int, int], generic.PdfObject]) -> bytes:
    """An incremental update writing ``objects`` under the given (number, generation), with xref
    entries of that generation and no free entries: how poppler's save writes them."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    body, offsets = b"\n", {}
    for (idnum, generation), obj in objects.items():
        offsets[idnum, generation] = len(pdf) + len(body)
        out = io.BytesIO()
        obj.write_to_stream(out, None)
        body += b"%d %d obj\n%s\nendobj\n" % (idnum, generation, out.getvalue())
    xref = b"xref\n0 1\n0000000000 65535 f \n" + b"".join(
        b"%d 1\n%010d %05d n \n" % (idnum, offset, generation) for (idnum, generation), offset in offsets.items()
    )
    size = max(int(reader.trailer["/Size"]), *(idnum + 1 for idnum, _ in objects))
    root = reader.root_ref
    trailer = b"trailer\n<< /Size %d /Root %d %d R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, root.idnum, root.generation, reader.last_startxref, len(pdf) + len(body)
    )
    return pdf + body + xref + trailer


@pytest.fixture(scope="module")
def forms() -> tuple[bytes, bytes]:
    """The customer's filled form, and the same form drawing another first name (same numbering)."""
    blank = _blank("lv")
    return fill_form(blank, GOOD_VALUES), fill_form(blank, dict(GOOD_VALUES, first_name=OTHER_NAME))


def _decided(pdf: bytes, pki, person_for, trust_policy):
    return decide(pki.sign_pdf(pdf, person_for(GOOD_VALUES)), trust_policy)


def test_a_zero_reference_to_an_object_rewritten_as_generation_one(forms, pki, person_for, trust_policy):
    """The widget keeps ``22 0 R``; ``22 1 obj`` draws another name. pyHanko reads generation 0
    (the customer's name), pdfminer and viewers that ignore generations the other one."""
    good, other = forms
    _, drawing = _widget_and_drawing(good)
    attack = _raw_update(good, {(drawing.idnum, 1): _object(other, drawing)})
    report = _decided(attack, pki, person_for, trust_policy)
    rejected_for(report, "malformed_pdf")
    assert f"{drawing.idnum} 0 R" in report.reasons[0].message
    assert FIELD not in report.fields


def test_a_page_rewritten_as_generation_one_is_not_judged_on_the_old_one(forms, pki, person_for, trust_policy):
    """The page keeps ``/Contents N 0 R``; ``N 1 obj`` adds a black box over the form. pyHanko's
    template check reads the bank's page (generation 0) and passes it; pdfium (Chrome's engine)
    draws the box. Only the reference check stops it."""
    import pypdfium2

    good, _ = forms
    page = PdfFileReader(io.BytesIO(good), strict=True).root["/Pages"]["/Kids"][0]
    contents = page.raw_get("/Contents")
    boxed = generic.StreamObject(stream_data=contents.get_object().data + b"\nq 0 0 0 rg 40 600 400 120 re f Q\n")
    attack = _raw_update(good, {(contents.idnum, 1): boxed})
    shown = pypdfium2.PdfDocument(attack)[0].render(scale=1).to_pil().convert("L")
    assert shown.getpixel((240, 842 - 660)) == 0  # what a viewer shows: the box
    report = _decided(attack, pki, person_for, trust_policy)
    rejected_for(report, "malformed_pdf")
    assert f"{contents.idnum} 0 R" in report.reasons[0].message


def test_references_kept_from_earlier_forms_do_not_hide_a_rewritten_generation(forms, pki, person_for,
                                                                               trust_policy):
    """The walk keeps the references of objects it has read by their bytes (verify.known_objects):
    after the genuine form has been decided twice (every object of the blank kept), the page
    attack's new generation is still found, and the genuine form still passes."""
    from verify import known_objects

    good, _ = forms
    known_objects.clear()
    for _ in range(2):
        assert _decided(good, pki, person_for, trust_policy).verdict == "accepted"
    page = PdfFileReader(io.BytesIO(good), strict=True).root["/Pages"]["/Kids"][0]
    contents = page.raw_get("/Contents")
    boxed = generic.StreamObject(stream_data=contents.get_object().data + b"\nq 0 0 0 rg 40 600 400 120 re f Q\n")
    report = _decided(_raw_update(good, {(contents.idnum, 1): boxed}), pki, person_for, trust_policy)
    rejected_for(report, "malformed_pdf")
    assert f"{contents.idnum} 0 R" in report.reasons[0].message
    assert any(key[0] == "references" for key in known_objects._KEPT)  # the walk did keep references


def test_a_one_reference_whose_object_is_rewritten_as_generation_zero(forms, pki, person_for, trust_policy):
    """The reverse: the widget names ``22 1 R`` (written in one update, drawing the right name), and a
    later update writes ``22 0 obj`` drawing another. pyHanko reads generation 1, pdfminer the newest."""
    good, other = forms
    widget, drawing = _widget_and_drawing(good)
    changed = _object(good, widget)
    changed["/AP"] = generic.DictionaryObject(
        {generic.NameObject("/N"): generic.IndirectObject(drawing.idnum, 1, None)}
    )
    first = _raw_update(good, {(widget.idnum, 0): changed, (drawing.idnum, 1): _object(good, drawing)})
    attack = _raw_update(first, {(drawing.idnum, 0): _object(other, drawing)})
    report = _decided(attack, pki, person_for, trust_policy)
    rejected_for(report, "malformed_pdf")
    assert f"{drawing.idnum} 1 R" in report.reasons[0].message


def test_a_reference_to_a_generation_that_was_never_written(forms, pki, person_for, trust_policy):
    """``22 1 R`` while only ``22 0 obj`` exists: null for pyHanko, the drawing for pdfminer."""
    good, _ = forms
    widget, drawing = _widget_and_drawing(good)
    changed = _object(good, widget)
    changed["/AP"] = generic.DictionaryObject(
        {generic.NameObject("/N"): generic.IndirectObject(drawing.idnum, 1, None)}
    )
    report = _decided(_raw_update(good, {(widget.idnum, 0): changed}), pki, person_for, trust_policy)
    rejected_for(report, "malformed_pdf")
    assert f"{drawing.idnum} 1 R" in report.reasons[0].message


def test_an_unreferenced_rewritten_generation_before_the_signature_is_ignored(forms, pki, person_for, trust_policy):
    """What poppler does: ``22 1 obj`` that nothing names is garbage no reader looks at."""
    good, other = forms
    _, drawing = _widget_and_drawing(good)
    spare = int(PdfFileReader(io.BytesIO(good), strict=True).trailer["/Size"])
    garbage = _raw_update(good, {(spare, 1): _object(other, drawing)})
    report = _decided(garbage, pki, person_for, trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.fields[FIELD] == GOOD_VALUES[FIELD]


def test_a_rewritten_generation_after_the_signature(forms, pki, person_for, trust_policy):
    """After the signature, ``22 1 obj`` drawing another name: viewers that ignore generations show
    it, pyHanko's diff analysis sees an unreferenced object. Refused whatever else the update is."""
    good, other = forms
    _, drawing = _widget_and_drawing(good)
    signed = pki.sign_pdf(good, person_for(GOOD_VALUES))
    report = decide(_raw_update(signed, {(drawing.idnum, 1): _object(other, drawing)}), trust_policy)
    assert report.verdict == "rejected"
    assert "malformed_pdf" in codes(report), report.to_json()["reasons"]


def test_pdfminer_refuses_an_object_header_of_another_generation(forms):
    """pyHanko refuses an object whose header is not its xref entry's generation; pdfminer read it."""
    good, other = forms
    _, drawing = _widget_and_drawing(good)
    update = _raw_update(good, {(drawing.idnum, 0): _object(other, drawing)})
    header = b"\n%d 0 obj\n" % drawing.idnum
    at = update.rindex(header)
    lying = update[:at] + b"\n%d 1 obj\n" % drawing.idnum + update[at + len(header):]
    with pdfplumber.open(io.BytesIO(lying)) as pdf, pytest.raises(RecoveryRefused, match="generation"):
        pdf.doc.getobj(drawing.idnum)
