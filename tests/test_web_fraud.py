"""Four eyes on suspected fraud: one supervisor asks, a second one decides; both steps audited.
And the live status: a page that shows something still waiting refreshes itself (meta refresh,
so the CSP keeps ``script-src 'none'``)."""

from __future__ import annotations

from sqlalchemy import select

from intake.store.models import AuditEvent, FraudClearance, Submission
from tests.test_web_support import (  # noqa: F401  (fixtures)
    add_submission,
    add_user,
    app,
    client_for,
    db,
    post,
    staff,
    web_settings,
)


def test_suspected_fraud_needs_a_second_supervisor(app, staff, db):
    sub = add_submission(db, reason="signer_mismatch")
    add_user(db, "sofia", "supervisor")
    db.commit()
    url = f"/backoffice/submissions/{sub.id}"
    sam, sofia = client_for(app, "sam"), client_for(app, "sofia")
    clerk = client_for(app, staff["clerk"])

    response = post(sam, url + "/clear", {"outcome": "suspected_fraud", "note": "husband signed"}, token_from=url)
    assert response.status_code == 303
    db.expire_all()
    assert db.get(Submission, sub.id).status == "rejected"
    body = sam.get(url).get_data(as_text=True)
    assert "waiting for a second supervisor" in body and "Another supervisor must approve" in body
    assert "/fraud/approve" not in body
    # the requester cannot approve their own request, a clerk cannot approve at all; a second request is refused
    assert post(sam, url + "/fraud/approve", {"note": "me again"}, token_from=url).status_code == 403
    assert post(clerk, url + "/fraud/approve", {"note": "ok"}, token_from=url).status_code == 403
    post(sofia, url + "/clear", {"outcome": "suspected_fraud", "note": "twice"}, token_from=url)
    assert len(db.scalars(select(FraudClearance).where(FraudClearance.submission_id == sub.id)).all()) == 1
    db.expire_all()
    assert db.get(Submission, sub.id).status == "rejected"

    assert "/fraud/approve" in sofia.get(url).get_data(as_text=True)
    assert post(sofia, url + "/fraud/approve", {"note": "called the customer: not her"}, token_from=url).status_code == 303
    db.expire_all()
    row = db.get(Submission, sub.id)
    assert row.status == "cleared" and row.clear_outcome == "suspected_fraud" and row.cleared_by == "sofia"
    assert "husband signed" in row.clear_note and "sam" in row.clear_note
    request = db.scalar(select(FraudClearance).where(FraudClearance.submission_id == sub.id))
    assert (request.requested_by, request.decided_by, request.decision) == ("sam", "sofia", "approved")
    trail = [(e.actor, e.action) for e in db.scalars(
        select(AuditEvent).where(AuditEvent.submission_id == sub.id).order_by(AuditEvent.id))]
    assert ("sam", "fraud_clear_requested") in trail and ("sofia", "fraud_clear_approved") in trail
    body = clerk.get(url).get_data(as_text=True)
    assert "Fraud clearance requested" in body and "Fraud clearance approved" in body


def test_a_declined_request_leaves_the_reject_open(app, staff, db):
    sub = add_submission(db, reason="signer_mismatch")
    db.commit()
    url = f"/backoffice/submissions/{sub.id}"
    sam, ada = client_for(app, "sam"), client_for(app, "ada")
    post(sam, url + "/clear", {"outcome": "suspected_fraud", "note": "looks forged"}, token_from=url)
    assert post(ada, url + "/fraud/decline", {"note": "the customer confirmed it"}, token_from=url).status_code == 303
    db.expire_all()
    assert db.get(Submission, sub.id).status == "rejected"
    assert db.scalar(select(FraudClearance.decision).where(FraudClearance.submission_id == sub.id)) == "declined"
    # it can be cleared normally now
    assert post(sam, url + "/clear", {"outcome": "customer_contacted", "note": "confirmed"}, token_from=url).status_code == 303
    db.expire_all()
    assert db.get(Submission, sub.id).status == "cleared"


def test_pending_pages_refresh_themselves_and_decided_ones_do_not(app, staff, db):
    waiting = add_submission(db, status="queued", reason=None)
    decided = add_submission(db, reason="unsigned")
    db.commit()
    clerk = client_for(app, staff["clerk"])
    response = clerk.get(f"/backoffice/submissions/{waiting.id}")
    body = response.get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in body and "updates by itself" in body
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert '<meta http-equiv="refresh"' not in clerk.get(f"/backoffice/submissions/{decided.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in clerk.get("/backoffice/rejects?status=pending").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' not in clerk.get("/backoffice/rejects").get_data(as_text=True)


def test_no_verify_again_for_a_mail_without_a_pdf(app, staff, db):
    sub = add_submission(db, reason="no_pdf_attachment", content=b"", filename=None)
    sub.part_index = -1
    db.commit()
    body = client_for(app, "sam").get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "/reprocess" not in body and "Download original PDF" not in body
    assert "The mail itself: it carried no PDF." in body and "filename: None" not in body
