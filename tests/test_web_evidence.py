"""The evidence panel: the certificate chain from the signature, qualification fields when the
report has them ("not assessed" otherwise), and what changed after signing as a pixel diff of the
signed revision against the file as received (made in the bounded render child)."""

from __future__ import annotations

import io
import re

from PIL import Image

from tests.test_web_support import (  # noqa: F401  (fixtures)
    add_submission,
    app,
    client_for,
    db,
    staff,
    web_settings,
)
from worker.demo import Builder


def overlay(pdf: bytes) -> bytes:
    """After signing, draw a box over part of page 1 (an incremental update): a visible change."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=b"q 0.1 0.1 0.1 rg 60 600 300 40 re f Q")
    ref = writer.add_object(stream)
    original = page.raw_get("/Contents")
    if isinstance(original, generic.IndirectObject) and isinstance(original.get_object(), generic.ArrayObject):
        original = list(original.get_object())
    page["/Contents"] = generic.ArrayObject([*(original if isinstance(original, list) else [original]), ref])
    writer.mark_update(page_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_tampered_form_shows_signed_and_received_pages_with_the_change_in_red(app, staff, db, signed_form,
                                                                            good_values):
    signed = signed_form(good_values)
    tampered = overlay(signed)
    sub = add_submission(db, reason="modified_after_signing", content=tampered, signer_name="ANNA BĒRZIŅA")
    untouched = add_submission(db, reason="signer_mismatch", content=signed)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    body = clerk.get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "What changed after signing" in body
    assert f"covers the first {len(signed)} of {len(tampered)} bytes" in body
    diff_urls = re.findall(r'src="(/backoffice/submissions/\d+/pages/\d+-diff\.png)"', body)
    signed_urls = re.findall(r'src="(/backoffice/submissions/\d+/pages/\d+-signed\.png)"', body)
    assert diff_urls == [f"/backoffice/submissions/{sub.id}/pages/1-diff.png"] and len(signed_urls) == 1
    diff = Image.open(io.BytesIO(clerk.get(diff_urls[0]).data)).convert("RGB")
    raw = diff.tobytes()
    red = sum(1 for i in range(0, len(raw), 3) if raw[i] > 200 and raw[i + 1] < 80 and raw[i + 2] < 80)
    assert red > 200  # the changed phone number is marked
    # a page without changes is not offered as a diff
    assert clerk.get(f"/backoffice/submissions/{sub.id}/pages/2-diff.png").status_code == 404
    # the chain: signer, intermediate and root of the demo PKI, valid at signing
    chain = body[body.index("Certificate chain"):]
    assert chain.count('class="cert"') >= 2 and "valid at signing" in chain
    # a change of a stored value only (no new look) is reported in words, without a diff image
    value_only = add_submission(db, reason="modified_after_signing", content=Builder.tamper(signed))
    db.commit()
    body = clerk.get(f"/backoffice/submissions/{value_only.id}").get_data(as_text=True)
    assert "does not change how the pages look" in body and "-diff.png" not in body
    # an untouched signed form has no revisions section
    body = clerk.get(f"/backoffice/submissions/{untouched.id}").get_data(as_text=True)
    assert "What changed after signing" not in body and "Certificate chain" in body


def test_qualification_fields_are_shown_when_present_and_not_assessed_otherwise(app, staff, db):
    plain = add_submission(db, reason="unsigned")
    qualified = add_submission(db, reason="signer_mismatch")
    qualified.report = {**qualified.report, "qualified": True, "trust_source": "trusted_list",
                        "indication": "PASSED", "subindication": "OK"}
    db.commit()
    clerk = client_for(app, staff["clerk"])
    body = clerk.get(f"/backoffice/submissions/{plain.id}").get_data(as_text=True)
    panel = body[body.index('id="evidence"'):]
    assert panel.count("not assessed") >= 3
    body = clerk.get(f"/backoffice/submissions/{qualified.id}").get_data(as_text=True)
    panel = body[body.index('id="evidence"'):]
    assert "EU trusted list" in panel and "PASSED / OK" in panel


def test_unreadable_signature_data_is_an_error_code_with_a_label(tmp_path):
    """The render child must never fail because of the evidence: it records a code the page explains."""
    from intake.web.evidence import read, write_evidence
    from intake.web.filters import EVIDENCE_ERRORS

    for junk in (b"%PDF-1.7\n garbage", b"", b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n%%EOF"):
        write_evidence(junk, tmp_path, [], 10, 1.5)
        info = read(tmp_path)
        assert info["error"] in EVIDENCE_ERRORS and info["chain"] == [] and not info["later_changes"]
