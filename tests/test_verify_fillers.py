"""Forms filled by real PDF implementations, then signed, are accepted (issue 9, item 1).

pypdf, pdfium (pypdfium2's form API: typing, clicking, picking) and qpdf's appearance generator
fill the blank at test time; pdftk-java and poppler (apt packages) have committed outputs made by
``python -m tests.fillers``, and a test runs those tools again so the outputs stay theirs. Every one
of them, filled and signed with the test PKI, is accepted with its values.
"""

from __future__ import annotations

import io

import pdfplumber
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from forms.extract import extract_from_bytes
from tests.fillers import COMMITTED, DATA, FILLERS
from tests.fixtures.pki import GOOD_VALUES, _blank
from tests.test_verify_decision import assert_well_formed
from verify import appearance, conformance
from verify.decision import decide


def _decided(pdf: bytes, pki, person_for, trust_policy):
    report = decide(pki.sign_pdf(pdf, person_for(GOOD_VALUES)), trust_policy)
    assert_well_formed(report)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert {k: report.fields[k] for k in GOOD_VALUES} == GOOD_VALUES
    return report


@pytest.mark.parametrize("lang", ["lv", "en"])
@pytest.mark.parametrize("tool", ["pypdf", "pdfium", "qpdf"])
def test_filled_at_test_time_and_signed_is_accepted(tool, lang, pki, person_for, trust_policy):
    _decided(FILLERS[tool](_blank(lang), GOOD_VALUES), pki, person_for, trust_policy)


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_pdftk_filled_and_signed_is_accepted(lang, pki, person_for, trust_policy):
    _decided((DATA / f"pdftk-{lang}.pdf").read_bytes(), pki, person_for, trust_policy)


def _as_seen_problems(pdf: bytes, *, strict: bool = True) -> list[str]:
    root = PdfFileReader(io.BytesIO(pdf), strict=strict).root
    objects: dict[int, str] = {}  # what tells the appearance check which fonts are the blank's
    found = [str(d) for d in conformance.check(root, "2026.1", objects)]
    with pdfplumber.open(io.BytesIO(pdf)) as opened:
        found += [m.message for m in appearance.check(opened.doc, objects)]
    return found


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_poppler_filled_and_signed_is_accepted(lang, pki, person_for, trust_policy):
    """poppler's save writes objects again as generation 1 without freeing generation 0, and points
    the widgets at new objects in the same update: nothing names the rewritten ones, so they are
    tolerated (verify.generations; the attacks that do name them are in test_verify_generations)."""
    pdf = (DATA / f"poppler-{lang}.pdf").read_bytes()
    orphans = PdfFileReader(io.BytesIO(pdf), strict=False).xrefs.explicit_refs_in_revision(1)
    assert any(ref.generation == 1 for ref in orphans)  # still the poppler output this test is about
    _decided(pdf, pki, person_for, trust_policy)
    assert _as_seen_problems(pdf, strict=False) == []
    assert {k: v for k, v in extract_from_bytes(pdf).values.items() if k in GOOD_VALUES} == GOOD_VALUES


@pytest.mark.parametrize("tool", COMMITTED)
def test_committed_fillers_still_write_what_is_committed(tool):
    """The apt tools must be installed (apt-get install pdftk-java gir1.2-poppler-0.18 python3-gi)."""
    today = FILLERS[tool](_blank("lv"), GOOD_VALUES)
    committed = (DATA / f"{tool}-lv.pdf").read_bytes()
    strict = tool != "poppler"
    assert _as_seen_problems(today, strict=strict) == []
    old = conformance.structure(PdfFileReader(io.BytesIO(committed), strict=strict).root)
    new = conformance.structure(PdfFileReader(io.BytesIO(today), strict=strict).root)
    assert sorted(old) == sorted(new), "the tool now writes other keys: refresh with python -m tests.fillers"
