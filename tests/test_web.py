"""The web app on real PostgreSQL and SQLite with a real Redis: access control, CSRF, escaping,
the rejects queue, clear and reprocess, health, metrics and the blank form."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from intake.store.models import AuditEvent, Submission, User
from tests.test_web_support import (  # noqa: F401  (fixtures)
    ESCAPED,
    HOSTILE,
    PASSWORD,
    add_profile,
    add_submission,
    app,
    client_for,
    csrf_token,
    db,
    login,
    post,
    staff,
    web_settings,
)


def _url_for_rule(rule) -> str:
    values = {"submission_id": 1, "number": 1, "user_id": 1, "action": "unlock", "decision": "approve",
              "national_id": "LV-32000012345", "kind": "diff"}
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(r"<(?:[^:<>]+:)?" + arg + r">", str(values[arg]), url)
        url = re.sub(r"<any\([^)]*\):" + arg + ">", str(values[arg]), url)
    return url


def _backoffice_rules(app):
    return [r for r in app.url_map.iter_rules()
            if r.endpoint.startswith("backoffice.") or r.endpoint == "auth.logout"]


# ---- access control ---------------------------------------------------------------------------
def test_every_backoffice_route_refuses_anonymous(app, db):
    add_submission(db)
    db.commit()
    rules = _backoffice_rules(app)
    endpoints = {r.endpoint for r in rules}
    assert {"backoffice.dashboard", "backoffice.rejects", "backoffice.submission", "backoffice.page_image",
            "backoffice.original", "backoffice.clear", "backoffice.reprocess", "backoffice.users",
            "backoffice.user_action", "auth.logout"} <= endpoints
    client = app.test_client()
    token = csrf_token(client)  # a valid token, so only the missing sign-in can refuse
    for rule in rules:
        url = _url_for_rule(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data={"csrf_token": token, "note": "x", "outcome": "resolved"})
            assert response.status_code in (302, 401), (method, url, response.status_code)
            if response.status_code == 302:
                assert response.headers["Location"].startswith("/backoffice/login"), (method, url)
    sub = db.scalar(select(Submission))
    db.refresh(sub)
    assert sub.status == "rejected"


def test_clerk_cannot_do_what_only_a_supervisor_may(app, staff, db):
    sub = add_submission(db)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    url = f"/backoffice/submissions/{sub.id}"
    assert clerk.get(url).status_code == 200
    assert post(clerk, url + "/reprocess", token_from=url).status_code == 403
    response = post(clerk, url + "/clear", {"outcome": "suspected_fraud", "note": "looks forged"}, token_from=url)
    assert response.status_code == 403
    assert clerk.get("/backoffice/users").status_code == 403
    assert post(clerk, "/backoffice/users", {"name": "mallory", "role": "admin", "password": "x" * 20}).status_code == 403
    assert post(clerk, "/backoffice/users/1/unlock").status_code == 403
    db.expire_all()
    assert db.get(Submission, sub.id).status == "rejected"
    assert db.scalar(select(User).where(User.name == "mallory")) is None
    # the clerk's page offers neither reprocessing nor the fraud outcome
    body = clerk.get(url).get_data(as_text=True)
    assert "/reprocess" not in body and 'value="suspected_fraud"' not in body

    supervisor = client_for(app, staff["supervisor"])
    body = supervisor.get(url).get_data(as_text=True)
    assert "/reprocess" in body and 'value="suspected_fraud"' in body
    response = post(supervisor, url + "/clear", {"outcome": "suspected_fraud", "note": "signed by someone else"},
                    token_from=url)
    assert response.status_code == 303
    db.expire_all()
    # four eyes: the first supervisor only asks; the reject stays open (see test_web_fraud.py)
    assert db.get(Submission, sub.id).status == "rejected"
    assert "fraud_clear_requested" in set(db.scalars(select(AuditEvent.action).where(AuditEvent.actor == "sam")))


def test_admin_manages_staff(app, staff, db):
    admin = client_for(app, staff["admin"])
    assert admin.get("/backoffice/users").status_code == 200
    response = post(admin, "/backoffice/users", {"name": "lauris", "role": "clerk", "password": "short"},
                    token_from="/backoffice/users")
    assert response.status_code == 200 and db.scalar(select(User).where(User.name == "lauris")) is None
    response = post(admin, "/backoffice/users", {"name": "lauris", "role": "clerk", "password": PASSWORD},
                    token_from="/backoffice/users")
    assert response.status_code == 303
    user = db.scalar(select(User).where(User.name == "lauris"))
    assert user.role == "clerk" and user.password_hash != PASSWORD and user.password_hash.startswith("scrypt:")
    assert client_for(app, "lauris").get("/backoffice/").status_code == 200
    lauris = client_for(app, "lauris")
    assert post(admin, f"/backoffice/users/{user.id}/deactivate", token_from="/backoffice/users").status_code == 303
    # deactivation ends the running session and refuses new ones
    assert lauris.get("/backoffice/").status_code == 302
    assert login(app.test_client(), "lauris").status_code == 401
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.actor == "ada")))
    assert {"user_created", "user_deactivate"} <= actions


# ---- CSRF, headers, escaping --------------------------------------------------------------------
def test_post_without_csrf_token_fails(app, staff, db):
    sub = add_submission(db)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    response = clerk.post(f"/backoffice/submissions/{sub.id}/clear", data={"outcome": "resolved", "note": "fine"})
    assert response.status_code == 400
    response = clerk.post(f"/backoffice/submissions/{sub.id}/clear",
                          data={"outcome": "resolved", "note": "fine", "csrf_token": "forged"})
    assert response.status_code == 400
    supervisor = client_for(app, staff["supervisor"])
    assert supervisor.post(f"/backoffice/submissions/{sub.id}/reprocess").status_code == 400
    assert clerk.post("/backoffice/logout").status_code == 400
    anonymous = app.test_client()
    assert anonymous.post("/backoffice/login", data={"name": "clara", "password": PASSWORD}).status_code == 400
    db.expire_all()
    assert db.get(Submission, sub.id).status == "rejected"
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "cleared")) == 0


def test_hostile_values_are_escaped(app, staff, db):
    fields = {"first_name": HOSTILE, "last_name": "Bērziņa", "phone": "+37129123456", HOSTILE: "x"}
    sub = add_submission(db, subject=HOSTILE, sender=f"{HOSTILE} <evil@example.com>", fields=fields,
                         filename=f"{HOSTILE}.pdf", signer_name=HOSTILE, national_id=HOSTILE,
                         reason="field_invalid", field="first_name")
    add_profile(db, HOSTILE, first_name=HOSTILE)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    post(clerk, f"/backoffice/submissions/{sub.id}/clear", {"outcome": "resolved", "note": HOSTILE},
         token_from=f"/backoffice/submissions/{sub.id}")
    for url in (f"/backoffice/submissions/{sub.id}", "/backoffice/rejects?status=all", "/backoffice/"):
        body = clerk.get(url).get_data(as_text=True)
        assert HOSTILE not in body, url
        assert "<script" not in body.lower(), url
    body = clerk.get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert body.count(ESCAPED) >= 5  # field, subject, sender, file name, signer, note, audit trail...
    list_body = clerk.get("/backoffice/rejects?status=all").get_data(as_text=True)
    assert ESCAPED in list_body
    original = clerk.get(f"/backoffice/submissions/{sub.id}/original")
    assert "<" not in original.headers["Content-Disposition"]


def test_security_headers_and_cookies(app, staff, web_settings):
    from intake.web import create_app

    client = app.test_client()
    for url in ("/", "/backoffice/login"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        body = response.get_data(as_text=True)
        assert "<script" not in body and " style=" not in body and "onclick" not in body
    assert client.get("/backoffice/login").headers["Cache-Control"] == "no-store"
    response = login(client, staff["clerk"])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # these settings say plain http (tests)
    secure_app = create_app(web_settings.with_(secure_cookies=True))
    secure_client = secure_app.test_client()
    response = login(secure_client, staff["clerk"])
    assert "Secure" in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in response.headers


def test_open_redirect_refused(app, staff):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/backoffice/login?next=//evil.example/x",
                           data={"csrf_token": token, "name": "clara", "password": PASSWORD})
    assert response.headers["Location"] == "/backoffice/"


# ---- rejects queue ------------------------------------------------------------------------------
def test_rejects_filters_counts_and_pagination(app, staff, db):
    now = dt.datetime.now(dt.timezone.utc).replace(hour=10, minute=0, second=0, microsecond=0)
    for i in range(60):
        add_submission(db, reason="signer_mismatch", received_at=now - dt.timedelta(days=i % 3, minutes=i))
    for i in range(15):
        add_submission(db, reason="field_invalid", field="phone", received_at=now - dt.timedelta(days=10, minutes=i))
    for i in range(3):
        add_submission(db, status="failed", reason="internal_error", received_at=now + dt.timedelta(minutes=i))
    for i in range(5):
        add_submission(db, status="cleared", reason="unsigned", received_at=now)
    for i in range(4):
        add_submission(db, status="applied", reason=None, received_at=now)
    db.commit()
    clerk = client_for(app, staff["clerk"])

    def ids(body: str) -> list[int]:
        return [int(x) for x in re.findall(r'<td class="num"><a href="/backoffice/submissions/(\d+)">', body)]

    body = clerk.get("/backoffice/rejects").get_data(as_text=True)
    assert "78 submissions" in body and "page 1 of 2" in body
    first = ids(body)
    assert len(first) == 50
    statuses = [db.get(Submission, i).status for i in first]
    assert statuses[0] == "rejected" and "cleared" not in statuses and "applied" not in statuses
    # open rejects first: every "rejected" row comes before the "failed" ones
    assert statuses == sorted(statuses, key=lambda s: s != "rejected")
    assert re.search(r'data-reason="signer_mismatch">[^<]+<span class="chip-count">60</span>', body)
    assert re.search(r'data-reason="field_invalid">[^<]+<span class="chip-count">15</span>', body)
    assert re.search(r'data-reason="internal_error">[^<]+<span class="chip-count">3</span>', body)
    second = ids(clerk.get("/backoffice/rejects?page=2").get_data(as_text=True))
    assert len(second) == 28 and not set(first) & set(second)
    assert [db.get(Submission, i).status for i in second][-3:] == ["failed"] * 3

    body = clerk.get("/backoffice/rejects?reason=field_invalid").get_data(as_text=True)
    assert len(ids(body)) == 15 and "15 submissions" in body
    assert {db.get(Submission, i).main_reason for i in ids(body)} == {"field_invalid"}

    body = clerk.get("/backoffice/rejects?status=cleared").get_data(as_text=True)
    assert len(ids(body)) == 5
    body = clerk.get("/backoffice/rejects?status=failed").get_data(as_text=True)
    assert len(ids(body)) == 3
    body = clerk.get("/backoffice/rejects?status=all").get_data(as_text=True)
    assert "83 submissions" in body

    local_today = dt.datetime.now(dt.timezone.utc).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Riga")).date()
    day = (now - dt.timedelta(days=10)).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Riga")).date()
    body = clerk.get(f"/backoffice/rejects?from={day}&to={day}").get_data(as_text=True)
    assert len(ids(body)) == 15
    body = clerk.get(f"/backoffice/rejects?from={day + dt.timedelta(days=1)}&reason=signer_mismatch")
    assert len(ids(body.get_data(as_text=True))) == 50
    assert local_today  # the filters are local (Europe/Riga) days

    for bad in ("status=deleted", "reason=nonsense", "from=yesterday", "page=x"):
        assert clerk.get(f"/backoffice/rejects?{bad}").status_code == 400, bad
    # a page beyond the end shows the last page
    assert len(ids(clerk.get("/backoffice/rejects?page=99").get_data(as_text=True))) == 28


def test_reject_page_shows_evidence_fields_and_profile(app, staff, db, web_settings):
    sub = add_submission(db, reason="signer_mismatch", fields={"first_name": "Anna", "phone": "+37120000001",
                                                               "email": "anna.berzina@example.lv"})
    add_profile(db, phone="+37129123456")
    db.commit()
    clerk = client_for(app, staff["clerk"])
    body = clerk.get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "The person who signed is not the customer named on the form." in body  # plain language
    assert "Call the customer on the phone number already on file" in body  # and the next step
    assert "LV-32000012345" in body  # staff see the full national identity
    assert "Demo Qualified CA 2026" in body and "B-T" in body and "the whole file as received" in body
    assert "2026-11-20 11:14:03" in body  # signing time in Riga time
    row = re.search(r'<tr class="changed">\s*<th scope="row">Phone.*?</tr>', body, re.S)
    assert row and "+37120000001" in row.group(0) and "+37129123456" in row.group(0)
    assert not re.search(r'<tr class="changed">\s*<th scope="row">E-mail', body)
    assert "Klienta datu anketa" in body and "anna.berzina@example.lv" in body  # the mail
    # the page image: a PNG rendered on the server, cached
    image = clerk.get(f"/backoffice/submissions/{sub.id}/pages/1.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert image.headers["Content-Type"] == "image/png"
    assert clerk.get(f"/backoffice/submissions/{sub.id}/pages/9.png").status_code == 404
    assert list((web_settings.data_dir / "cache" / "pages").glob("*/page-1.png"))
    # the original, as a download, and the download is on record
    original = clerk.get(f"/backoffice/submissions/{sub.id}/original")
    assert original.status_code == 200 and original.data.startswith(b"%PDF")
    assert original.headers["Content-Disposition"].startswith("attachment;")
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "downloaded", AuditEvent.actor == "clara"))


def test_the_whole_mail_is_a_download_for_old_and_sliced_mails(app, staff, db):
    from intake.mailin.parse import parse_mail
    from intake.mailin.record import record_mail
    from intake.store.mails import RAW_CHUNK

    old = add_submission(db, reason="signer_mismatch")  # a mail kept in mails.raw (before schema 0003)
    raw = b"From: a@example.lv\r\nSubject: no form\r\n\r\n" + os.urandom(RAW_CHUNK + 10).hex().encode()
    record_mail(db, mailbox="m", folder="INBOX", uidvalidity=1, uid="big", raw=raw, parsed=parse_mail(raw, 10))
    db.commit()
    new = db.scalar(select(Submission).where(Submission.main_reason == "no_pdf_attachment"))
    clerk = client_for(app, staff["clerk"])
    page = clerk.get(f"/backoffice/submissions/{new.id}").get_data(as_text=True)
    assert f"/backoffice/submissions/{new.id}/mail.eml" in page and "Download original PDF" not in page
    got = clerk.get(f"/backoffice/submissions/{new.id}/mail.eml")
    assert got.status_code == 200 and got.data == raw and got.headers["Content-Length"] == str(len(raw))
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert clerk.get(f"/backoffice/submissions/{old.id}/mail.eml").data == old.mail.raw
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "downloaded_mail")) == 2
    assert clerk.get("/backoffice/submissions/999999/mail.eml").status_code == 404


def test_reject_without_a_pdf_has_no_preview(app, staff, db):
    sub = add_submission(db, reason="not_pdf", content=b"PK\x03\x04 this is a zip", fields={})
    db.commit()
    body = client_for(app, staff["clerk"]).get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "No preview" in body and "The attachment is not a PDF file" in body


# ---- actions ------------------------------------------------------------------------------------
def test_clear_requires_a_note_and_writes_an_audit_event(app, staff, db):
    sub = add_submission(db)
    other = add_submission(db)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    url = f"/backoffice/submissions/{sub.id}"
    response = post(clerk, url + "/clear", {"outcome": "resolved", "note": ""}, token_from=url)
    assert response.status_code == 303
    db.expire_all()
    assert db.get(Submission, sub.id).status == "rejected"
    response = post(clerk, url + "/clear", {"outcome": "customer_contacted", "note": "Called the customer; "
                                            "she will sign with her own Smart-ID."}, token_from=url)
    assert response.status_code == 303 and response.headers["Location"] == "/backoffice/rejects"
    db.expire_all()
    cleared = db.get(Submission, sub.id)
    assert (cleared.status, cleared.cleared_by, cleared.clear_outcome) == ("cleared", "clara", "customer_contacted")
    assert cleared.clear_note.startswith("Called the customer") and cleared.cleared_at is not None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "cleared", AuditEvent.submission_id == sub.id))
    assert event.actor == "clara" and event.detail["outcome"] == "customer_contacted"
    assert event.detail["previous_status"] == "rejected" and event.at is not None
    # it left the open queue, the other one is still there
    body = clerk.get("/backoffice/rejects").get_data(as_text=True)
    assert f'/backoffice/submissions/{sub.id}"' not in body and f'/backoffice/submissions/{other.id}"' in body
    # clearing twice changes nothing
    post(clerk, url + "/clear", {"outcome": "resolved", "note": "again"}, token_from="/backoffice/")
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "cleared")) == 1
    # the detail page shows the clearance and its trail
    body = clerk.get(url).get_data(as_text=True)
    assert "Cleared</strong> by clara" in body and "Verified and rejected" in body


def test_reprocess_requeues_and_writes_an_audit_event(app, staff, db, web_settings):
    from intake.queue import job_status

    sub = add_submission(db, reason="untrusted_signer")
    db.commit()
    supervisor = client_for(app, staff["supervisor"])
    url = f"/backoffice/submissions/{sub.id}"
    response = post(supervisor, url + "/reprocess", {"note": "trust roots updated"}, token_from=url)
    assert response.status_code == 303
    db.expire_all()
    assert db.get(Submission, sub.id).status == "queued"
    assert job_status(web_settings, sub.id) == "queued"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "reprocess"))
    assert event.actor == "sam" and event.submission_id == sub.id
    assert event.detail == {"previous_status": "rejected", "previous_reason": "untrusted_signer",
                            "note": "trust roots updated"}
    # not twice
    assert post(supervisor, url + "/reprocess", token_from=url).status_code == 303
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "reprocess")) == 1


def test_reprocess_with_redis_down_leaves_it_to_the_reconciler(make_settings, db_backend):
    from intake.store.db import session_scope
    from intake.web import create_app
    from tests.test_web_support import add_user

    settings = make_settings(db_backend, redis_url="redis://127.0.0.1:1/0")
    with session_scope(settings) as session:
        add_user(session, "sam", "supervisor")
        sub_id = add_submission(session, status="failed", reason="internal_error").id
    app = create_app(settings)
    supervisor = client_for(app, "sam")
    url = f"/backoffice/submissions/{sub_id}"
    response = post(supervisor, url + "/reprocess", token_from=url)
    assert response.status_code == 303
    body = supervisor.get(url).get_data(as_text=True)
    assert "queue is unavailable" in body
    with session_scope(settings) as session:
        assert session.get(Submission, sub_id).status == "queued"


# ---- dashboard ----------------------------------------------------------------------------------
def test_dashboard_counts_and_chart(app, staff, db):
    now = dt.datetime.now(dt.timezone.utc)
    for _ in range(7):
        add_submission(db, reason="signer_mismatch", received_at=now)
    for _ in range(2):
        add_submission(db, reason="field_missing", field="phone", received_at=now)
    for _ in range(4):
        add_submission(db, status="applied", reason=None, received_at=now)
    add_submission(db, status="failed", reason="internal_error", received_at=now - dt.timedelta(days=3))
    add_submission(db, reason="unsigned", received_at=now - dt.timedelta(days=40))  # outside the chart
    db.commit()
    body = client_for(app, staff["clerk"]).get("/backoffice/").get_data(as_text=True)

    def tile(label: str) -> str:
        return re.search(label + r'</div><div class="tile-value">(\d+)', body).group(1)

    assert tile("Forms received today") == "13"
    assert tile("Accepted and applied") == "4"
    assert tile("Rejected today") == "9"
    assert tile("Open rejects") == "10"
    assert tile("Failed jobs") == "1"
    assert "Queue depth" in body and "queue down" not in body
    assert '<svg class="chart"' in body and "rejected: Signed by someone else" in body
    assert 'fill="#c62828"' in body  # signer_mismatch in red
    assert re.search(r"rejected, Signed by someone else: 7</title>", body)
    assert re.search(r"received: 13</title>", body)


def test_daily_stats_fold_utc_hours_into_local_days(web_settings, db):
    from intake.web.queries import daily_stats

    riga_midnight = dt.datetime(2026, 7, 10, 0, 30, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Riga"))
    add_submission(db, received_at=riga_midnight.astimezone(dt.timezone.utc))  # 21:30 UTC the day before
    add_submission(db, status="applied", reason=None, received_at=riga_midnight.astimezone(dt.timezone.utc))
    db.commit()
    days = daily_stats(db, 3, today=dt.date(2026, 7, 11))
    assert [d.day for d in days] == [dt.date(2026, 7, 9), dt.date(2026, 7, 10), dt.date(2026, 7, 11)]
    assert (days[1].received, days[1].applied, days[1].rejected) == (2, 1, {"signer_mismatch": 1})
    assert days[0].received == 0


# ---- public pages -------------------------------------------------------------------------------
def test_home_page_explains_and_links_the_form(app, web_settings):
    body = app.test_client().get("/").get_data(as_text=True)
    assert "Klienta datu anketa" in body and "Customer data form" in body
    for word in ("eParaksts", "Smart-ID", "ID", web_settings.intake_address):
        assert word in body
    assert "/form/customer-data-update.pdf?lang=lv" in body and "/form/customer-data-update.pdf?lang=en" in body


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_blank_form_download(app, lang):
    from pypdf import PdfReader

    client = app.test_client()
    response = client.get(f"/form/customer-data-update.pdf?lang={lang}")
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF")
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="customer-data-update-2026.1-{lang}.pdf"'
    assert "max-age" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    fields = PdfReader(io.BytesIO(response.data)).get_fields()
    assert "customer_signature" in fields and fields["form_version"]["/V"] == "2026.1"
    again = client.get(f"/form/customer-data-update.pdf?lang={lang}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    # generated once per version and language
    from intake.web.public import blank_form

    assert blank_form(lang)[0] is blank_form(lang)[0]


def test_blank_form_refuses_unknown_language(app):
    assert app.test_client().get("/form/customer-data-update.pdf?lang=de").status_code == 400


def test_healthz(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_reports_a_missing_redis_and_database(make_settings, db_backend, tmp_path):
    from intake.web import create_app

    settings = make_settings(db_backend, redis_url="redis://127.0.0.1:1/0")
    response = create_app(settings).test_client().get("/healthz")
    assert response.status_code == 503
    data = response.get_json()
    assert data["status"] == "unavailable" and data["database"] == "ok" and data["redis"].startswith("error")
    broken = settings.with_(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    data = create_app(broken).test_client().get("/healthz").get_json()
    assert data["database"].startswith("error") and "nobody" not in json.dumps(data)


def test_metrics_from_several_processes(app, web_settings):
    from intake import metrics

    client = app.test_client()

    def sample(body: str, name: str) -> float:
        match = re.search(r"^" + re.escape(name) + r" ([0-9.e+]+)$", body, re.M)
        return float(match.group(1)) if match else 0.0

    decided = 'docintake_submissions_decided_total{reason="signer_mismatch",status="rejected"}'
    before = client.get("/metrics").get_data(as_text=True)
    metrics.submission_decided("rejected", "signer_mismatch")
    metrics.job_duration(0.42)
    code = ("from intake import metrics; metrics.mail_received(3); "
            "metrics.submission_decided('rejected', 'signer_mismatch'); metrics.submission_decided('weird', 'nope')")
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(metrics.metrics_dir()))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    body = response.get_data(as_text=True)
    assert sample(body, decided) == sample(before, decided) + 2
    assert sample(body, "docintake_mails_received_total") == sample(before, "docintake_mails_received_total") + 3
    assert 'docintake_submissions_decided_total{reason="other",status="other"}' in body
    assert "docintake_job_duration_seconds_bucket" in body
    assert sample(body, "docintake_queue_up") == 1.0 and "docintake_queue_depth 0.0" in body
    assert "docintake_http_requests_total" in body


def test_users_cli(web_settings, run_cli):
    from intake.store.db import session_scope

    result = run_cli(web_settings, "users", "add", "ilze", "--role", "supervisor", "--password-stdin",
                     input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "ilze added as supervisor" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    with session_scope(web_settings) as session:
        user = session.scalar(select(User).where(User.name == "ilze"))
        assert user.role == "supervisor" and user.password_hash.startswith("scrypt:")
    again = run_cli(web_settings, "users", "add", "ilze", "--role", "clerk", "--password-stdin", input=PASSWORD + "\n")
    assert again.returncode != 0 and "exists" in again.stderr
    weak = run_cli(web_settings, "users", "add", "juris", "--role", "clerk", "--password-stdin", input="short\n")
    assert weak.returncode != 0 and "12 characters" in weak.stderr
    bad_role = run_cli(web_settings, "users", "add", "juris", "--role", "root", "--password-stdin", input=PASSWORD)
    assert bad_role.returncode != 0
    listed = run_cli(web_settings, "users", "list")
    assert "ilze\tsupervisor\tactive" in listed.stdout
    assert run_cli(web_settings, "web", "--help").returncode == 0


def test_docintake_web_serves(web_settings, settings_env):
    """`docintake web --port 0` starts, says where, and answers."""
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCINTAKE_")}
    env.update(settings_env(web_settings))
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "web", "--host", "127.0.0.1", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=web_settings.data_dir)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, (line, proc.poll())
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/healthz", timeout=20) as response:
            assert json.load(response)["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()
        proc.stderr.close()
