"""The customer at the centre: search by national identity, name, phone or e-mail; the customer's
page with the profile, the history with the document behind each change, and every submission."""

from __future__ import annotations

import datetime as dt

from intake.store.models import ContactAlert, OutboundMessage, ProfileChange, utcnow
from tests.test_web_support import (  # noqa: F401  (fixtures)
    CUSTOMER_FIELDS,
    NATIONAL_ID,
    add_profile,
    add_submission,
    app,
    client_for,
    db,
    staff,
    web_settings,
)


def _seed(db):
    add_profile(db)
    add_profile(db, national_id="LV-32111154321", first_name="Jānis", last_name="Ozols",
                phone="+37126111222", email="janis.ozols@example.lv")
    db.flush()
    applied = add_submission(db, status="applied", reason=None, fields={**CUSTOMER_FIELDS, "phone": "+37129123456"})
    db.add(ProfileChange(national_id=NATIONAL_ID, submission_id=applied.id, document_sha256=applied.sha256,
                         before={**CUSTOMER_FIELDS, "phone": "+37120000000", "account_purpose": "savings"},
                         after=dict(CUSTOMER_FIELDS), signed_at=dt.datetime(2026, 11, 20, 9, 14, tzinfo=dt.timezone.utc)))
    rejected = add_submission(db, reason="signer_mismatch", signer_name="ĒRIKS KALNIŅŠ", signer_id="LV-32101187654")
    db.commit()
    return applied, rejected


def test_search_by_id_name_phone_and_email(app, staff, db):
    _seed(db)
    clerk = client_for(app, staff["clerk"])
    # a unique hit goes straight to the customer's page, whatever the spelling of the code
    for query in ("LV-320000-12345", "lv32000012345", "anna.berzina@", "+371 2912 3456", "Bērziņa Anna",
                  "BĒRZIŅA", "ērziņ ann"):  # any case, Latvian letters included, fragments
        response = clerk.get("/backoffice/customers", query_string={"q": query})
        assert response.status_code == 303, query
        assert response.headers["Location"].endswith(f"/backoffice/customers/{NATIONAL_ID}"), query
    body = clerk.get("/backoffice/customers", query_string={"q": "example.lv"}).get_data(as_text=True)
    assert "2 customers found" in body and "LV-32111154321" in body
    body = clerk.get("/backoffice/customers", query_string={"q": "nobody%"}).get_data(as_text=True)
    assert "No customer matches" in body


def test_fragment_search_uses_the_trigram_indexes_on_postgresql(db):
    """On PostgreSQL each searched expression is one a trigram index holds (schema 0008), so a
    fragment does not read every profile; SQLite scans (no such index)."""
    from sqlalchemy import text

    from intake.web.customers import fragment_search


    if db.get_bind().dialect.name != "postgresql":
        assert db.get_bind().dialect.name == "sqlite"
        return
    # the table is small: ask whether the fragment *can* be found without reading every row
    db.execute(text("SET LOCAL enable_seqscan = off"))
    db.execute(text("SET LOCAL enable_indexscan = off"))  # not the primary key's order either
    for query, index in (("ērziņ", "ix_profiles_last_name_trgm"), ("berzina@ex", "ix_profiles_email_trgm"),
                         ("+371 2912", "ix_profiles_phone_trgm")):
        sql = str(fragment_search(db, query).compile(db.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = "\n".join(db.connection().exec_driver_sql("EXPLAIN " + sql).scalars())
        assert index in plan, plan
    db.rollback()


def test_customer_page_shows_profile_history_and_submissions(app, staff, db):
    applied, rejected = _seed(db)
    clerk = client_for(app, staff["clerk"])
    body = clerk.get(f"/backoffice/customers/{NATIONAL_ID}").get_data(as_text=True)
    profile = body[body.index('id="profile"'):body.index('id="history"')]
    assert "Everyday payments" in profile and "+37129123456" in profile
    history = body[body.index('id="history"'):body.index('id="submissions"')]
    # who, what and when, and the signed document behind the change
    assert "form signed by ANNA BĒRZIŅA on 2026-11-20 11:14" in history
    assert f'/backoffice/submissions/{applied.id}/original' in history
    assert "+37120000000" in history and "Savings" in history and "Everyday payments" in history
    assert "First name" not in history  # unchanged fields are not listed
    subs = body[body.index('id="submissions"'):body.index('id="messages"')]
    assert f'/backoffice/submissions/{applied.id}"' in subs and f'/backoffice/submissions/{rejected.id}"' in subs
    assert "Signed by someone else" in subs and "ĒRIKS KALNIŅŠ" in subs
    messages = body[body.index('id="messages"'):]
    assert "None." in messages and "Contact recently changed" not in messages
    assert clerk.get("/backoffice/customers/LV-32000012346x").status_code == 404
    assert clerk.get("/backoffice/customers/LV-39999999999").status_code == 404


def test_applied_submissions_have_a_view(app, staff, db):
    applied, rejected = _seed(db)
    body = client_for(app, staff["clerk"]).get("/backoffice/rejects?status=applied").get_data(as_text=True)
    assert f'/backoffice/submissions/{applied.id}"' in body and f'/backoffice/submissions/{rejected.id}"' not in body
    assert "1 submission" in body


def test_customer_page_lists_messages_with_resend_and_the_contact_mark(app, staff, db):
    applied, _ = _seed(db)
    db.add(OutboundMessage(dedupe_key="t-applied", kind="applied", recipient="anna.berzina@example.lv",
                           national_id=NATIONAL_ID, submission_id=applied.id, message_id="<t-applied@docintake>",
                           subject="Your data were updated", status="sent"))
    db.add(OutboundMessage(dedupe_key="t-alarm", kind="contact_change", recipient="old@example.lv",
                           national_id=NATIONAL_ID, submission_id=applied.id, message_id="<t-alarm@docintake>",
                           subject="Your phone number was changed", status="failed"))
    db.add(ContactAlert(national_id=NATIONAL_ID, submission_id=applied.id, fields=["phone"],
                        until=utcnow() + dt.timedelta(days=30)))
    db.commit()
    body = client_for(app, staff["clerk"]).get(f"/backoffice/customers/{NATIONAL_ID}").get_data(as_text=True)
    messages = body[body.index('id="messages"'):]
    assert "Your data were updated" in messages and "Your phone number was changed" in messages
    assert "Contact recently changed" in messages and "Phone" in messages
    assert messages.count("/retry") == 2 and ">Retry<" in messages and ">Resend<" in messages
