"""The back office reject page shows a signed container's files and every signature (issue 11)."""

from __future__ import annotations

from intake.store.models import Submission
from tests.test_web_support import (  # noqa: F401 (fixtures)
    add_submission,
    app,
    client_for,
    db,
    staff,
    web_settings,
)


def test_reject_page_lists_container_files_and_signatures(app, staff, db):
    sub = add_submission(db, reason="container_invalid", filename="anketa.edoc", content=b"PK\x03\x04 container")
    container = {
        "format": "ASiC-E",
        "data_files": ["Anketa.pdf", "extra.txt"],
        "signatures": [
            {"file": "META-INF/signatures0.xml", "id": "S0", "level": "B-LT", "qualified": None, "valid": True,
             "covers": ["Anketa.pdf"], "signer": {"name": "ANNA BĒRZIŅA", "national_id": "LV-32000012345",
                                                  "issuer": "Demo CA", "serial": "01"}},
            {"file": "META-INF/signatures1.xml", "id": "S1", "level": "B-T", "qualified": False, "valid": False,
             "covers": ["Anketa.pdf", "extra.txt"], "signer": {"name": "<b>JĀNIS</b>", "national_id": None,
                                                               "issuer": "Other CA", "serial": "02"}},
        ],
    }
    db.query(Submission).filter_by(id=sub.id).update({"report": dict(sub.report, container=container)})
    db.commit()
    body = client_for(app, staff["clerk"]).get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "Signed container (ASiC-E)" in body
    assert "Anketa.pdf" in body and "extra.txt" in body
    assert "B-LT" in body and "not assessed" in body and "Anketa.pdf, extra.txt" in body
    assert "&lt;b&gt;JĀNIS&lt;/b&gt;" in body and "<b>JĀNIS</b>" not in body  # escaped
    assert body.count('<tr class="changed">') >= 1  # the invalid signature stands out


def test_pdf_reject_page_has_no_container_section(app, staff, db):
    sub = add_submission(db, reason="signer_mismatch")
    db.commit()
    body = client_for(app, staff["clerk"]).get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "Signed container" not in body


def test_container_preview_shows_the_contained_pdf(app, staff, db, pki, make_form, person_for):
    from verify.container.demo_sign import make_container

    data = make_container({"Anketa.pdf": make_form()}, [person_for()], level="B-B", pki=pki)
    sub = add_submission(db, reason="signer_mismatch", filename="anketa.edoc", content=data)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    body = clerk.get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "No preview" not in body
    image = clerk.get(f"/backoffice/submissions/{sub.id}/pages/1.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
