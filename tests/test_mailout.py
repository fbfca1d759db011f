"""Outbound mail piece by piece: the texts customers read (both languages), the loop and flood
rules, masking, the send job (file sender, a refusing SMTP server, retries, failed), the
reconciler after a Redis flush, the back office Messages page and the fraud team's API."""

from __future__ import annotations

import email
import email.policy

import pytest
from sqlalchemy import select

from intake.mailout import compose, jobs, loops, outbox
from intake.mailout.mask import mask_email, mask_phone
from intake.mailout.reason_texts import TEXTS, explain
from intake.store.db import session_scope
from intake.store.models import AuditEvent, ContactAlert, OutboundMessage, utcnow
from tests.test_web_support import app, client_for, db, post, staff, web_settings  # noqa: F401  (fixtures)

CTX = {"bank_name": "Test Bank", "bank_phone": "+371 6700 0000", "blank_form_url": "https://bank.example/f.pdf",
       "intake_address": "forms@bank.example", "lang": "lv"}


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_every_text_a_customer_reads(lang):
    ctx = {**CTX, "lang": lang}
    contexts = {
        "applied": {"changed": [("Tālrunis" if lang == "lv" else "Phone", "+371******44")]},
        "contact_change": {"changed": ["E-pasts"], "when": "2026-11-25 16:00 UTC"},
        "rejected": explain([{"code": "unsigned"}, {"code": "field_missing", "field": "phone"}], lang,
                            url=CTX["blank_form_url"], phone=CTX["bank_phone"], labels={"phone": "Phone"}),
        "neutral": {}, "no_form": {}, "campaign": {"since": "2024-01-01"},
    }
    for kind, extra in contexts.items():
        msg = compose.compose_email(kind, lang, {**ctx, **extra}, to="a@example.lv", sender="noreply@bank.example",
                                    sender_name="Test Bank", message_id="<x@bank.example>")
        raw = msg.as_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        text = parsed.get_body(("plain",)).get_content()
        html = parsed.get_body(("html",)).get_content()
        assert parsed["Auto-Submitted"] == "auto-replied" and parsed["Subject"] and parsed["Content-Language"] == lang
        assert "{{" not in text and "{{" not in html and "+371 6700 0000" in text
        if kind == "contact_change":
            assert "http" not in text and "href" not in html  # never a link in the alarm
        if kind == "rejected":
            assert "https://bank.example/f.pdf" in text
            assert ("parakstiet" in text) if lang == "lv" else ("Sign the form" in text)
    sms = compose.render_sms("contact_change", lang, {**ctx, "changed": ["E-pasts"], "when": "2026-11-25"})
    assert "+371 6700 0000" in sms and "http" not in sms and len(sms) < 320


def test_every_reason_code_has_a_plain_text():
    from verify.reasons import CODES

    assert set(CODES) <= set(TEXTS)


def test_masking():
    assert mask_email("jana.ozola@example.lv") == "j***@example.lv"
    assert mask_phone("+37126555444") == "+371******44"
    assert mask_phone("") == "" and mask_email(None) == ""


@pytest.mark.parametrize("headers,why", [
    ("From: a@example.lv\r\nAuto-Submitted: auto-replied\r\n", "Auto-Submitted"),
    ("From: a@example.lv\r\nAuto-Submitted: no\r\n", None),
    ("From: a@example.lv\r\nPrecedence: bulk\r\n", "Precedence"),
    ("From: a@example.lv\r\nList-Id: <x.example.lv>\r\n", "list"),
    ("From: MAILER-DAEMON@example.lv\r\nReturn-Path: <>\r\n", "bounce"),
    ("From: a@example.lv\r\n", None),
])
def test_loop_rules(headers, why):
    got = loops.automatic(loops.headers_of(headers.encode() + b"\r\nbody"))
    assert (got is None) if why is None else (why.lower() in got.lower())


def _write(settings, to="c@example.lv", key="k1", kind="rejected") -> int:
    with session_scope(settings) as session:
        return outbox.write_email(session, settings, kind=kind, to=to, lang="en", dedupe_key=key,
                                  context=explain([{"code": "unsigned"}], "en", url="u", phone="p", labels={}))


def test_flood_limit_counts_replies_per_address(db_settings):
    settings = db_settings.with_(replies_per_day=2)
    ids = [_write(settings, key=f"k{i}") for i in range(2)]
    assert all(ids)
    with session_scope(settings) as session:
        assert loops.replies_today(session, "C@example.lv") == 2


def test_send_job_file_sender_once_and_reconcile_after_flush(make_settings):
    settings = make_settings("sqlite", redis=True)
    mid = _write(settings)
    assert _write(settings) is None  # the same message twice is written once
    jobs.enqueue_messages(settings, [mid])
    from intake.queue import redis_connection

    redis_connection(settings).flushdb()  # Redis loses the job
    assert jobs.reconcile_messages(settings) == 1
    assert jobs.reconcile_messages(settings) == 0  # a live job is left alone
    assert jobs.run(settings, mid) == "sent"
    assert jobs.run(settings, mid) == "noop"
    (eml,) = settings.outbox_dir.glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    with session_scope(settings) as session:
        row = session.get(OutboundMessage, mid)
        assert row.status == "sent" and row.attempts == 1 and parsed["Message-ID"] == row.message_id


def test_a_refusing_server_is_retried_then_failed(make_settings):
    settings = make_settings("sqlite", smtp_url="smtp://127.0.0.1:9", mail_max_attempts=2)  # nothing listens
    mid = _write(settings)
    with pytest.raises(jobs.SendFailed):
        jobs.run(settings, mid)
    assert jobs.run(settings, mid) == "failed"
    with session_scope(settings) as session:
        row = session.get(OutboundMessage, mid)
        assert row.status == "failed" and row.attempts == 2 and "ConnectionRefused" in row.note


def test_smtp_with_auth_delivers_the_stored_bytes(make_settings, smtp_server):
    settings = make_settings("sqlite", smtp_url=smtp_server.url)
    mid = _write(settings)
    assert jobs.run(settings, mid) == "sent"
    ((rcpt, raw),) = smtp_server.delivered()
    with session_scope(settings) as session:
        stored = session.get(OutboundMessage, mid).raw
    assert rcpt == ["c@example.lv"] and raw.replace(b"\r\n", b"\n").strip() == stored.replace(b"\r\n", b"\n").strip()
    anonymous = settings.with_(smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")  # the server wants AUTH
    mid2 = _write(anonymous, key="k2")
    with pytest.raises(jobs.SendFailed, match="(?i)auth"):
        jobs.run(anonymous, mid2)
    assert len(smtp_server.delivered()) == 1


def test_messages_page_filters_and_retries_with_csrf_and_audit(app, staff, db, web_settings):
    from tests.test_web_support import NATIONAL_ID

    now = utcnow()
    for n, status in enumerate(("sent", "failed", "suppressed")):
        db.add(OutboundMessage(dedupe_key=f"d{n}", kind="rejected", channel="email", recipient=f"r{n}@example.lv",
                               national_id=NATIONAL_ID if n < 2 else None, lang="lv", message_id=f"<m{n}@x>",
                               subject="s", raw=b"x", status=status, note="boom" if status == "failed" else None,
                               attempts=3, created_at=now, updated_at=now))
    db.commit()
    assert app.test_client().get("/backoffice/messages/").status_code == 302  # login first
    clerk = client_for(app, staff["clerk"])
    page = clerk.get("/backoffice/messages/?status=failed").get_data(as_text=True)
    assert "r1@example.lv" in page and "r0@example.lv" not in page and "boom" in page
    page = clerk.get(f"/backoffice/messages/?customer={NATIONAL_ID}").get_data(as_text=True)
    assert "r0@example.lv" in page and "r2@example.lv" not in page and "Contact recently changed" not in page
    import datetime as dt

    db.add(ContactAlert(national_id=NATIONAL_ID, fields=["email"], changed_at=now, until=now + dt.timedelta(days=3)))
    db.commit()
    page = clerk.get(f"/backoffice/messages/?customer={NATIONAL_ID}").get_data(as_text=True)
    assert "Contact recently changed" in page and "email" in page
    failed_id = db.scalar(select(OutboundMessage.id).where(OutboundMessage.status == "failed"))
    assert clerk.post(f"/backoffice/messages/{failed_id}/retry").status_code == 400  # no CSRF token
    response = post(clerk, f"/backoffice/messages/{failed_id}/retry", token_from="/backoffice/messages/")
    assert response.status_code == 303
    db.expire_all()
    row = db.get(OutboundMessage, failed_id)
    assert row.status == "pending" and row.attempts == 0
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "message_retry"))
    assert event.actor == "clara" and event.detail["message"] == failed_id

    # from the customer's page the clerk comes back to it; a sent message goes out again
    sent_id = db.scalar(select(OutboundMessage.id).where(OutboundMessage.status == "sent"))
    response = post(clerk, f"/backoffice/messages/{sent_id}/retry?back=customer",
                    token_from=f"/backoffice/customers/{NATIONAL_ID}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/backoffice/customers/{NATIONAL_ID}")
    db.expire_all()
    assert db.get(OutboundMessage, sent_id).status == "pending"

    from intake.web.messages import messages_for_customer

    assert [m.recipient for m in messages_for_customer(db, NATIONAL_ID)] == ["r1@example.lv", "r0@example.lv"]


def test_fraud_api_needs_its_token(app, db, web_settings):
    from tests.test_web_support import NATIONAL_ID

    client = app.test_client()
    assert client.get("/api/contact-alerts").status_code == 404  # no token configured: no API
    from intake.web import create_app

    app2 = create_app(web_settings.with_(fraud_api_token="t0ken"))
    client = app2.test_client()
    now = utcnow()
    import datetime as dt

    db.add(ContactAlert(national_id=NATIONAL_ID, fields=["phone"], changed_at=now, until=now + dt.timedelta(days=30)))
    db.commit()
    assert client.get("/api/contact-alerts").status_code == 401
    assert client.get("/api/contact-alerts", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.get(f"/api/contact-alerts/{NATIONAL_ID}", headers={"Authorization": "Bearer t0ken"})
    assert ok.status_code == 200 and ok.json["contact_recently_changed"] is True
    assert ok.json["alerts"][0]["fields"] == ["phone"]
    listing = client.get("/api/contact-alerts", headers={"Authorization": "Bearer t0ken"}).json
    assert [a["national_id"] for a in listing["alerts"]] == [NATIONAL_ID]


@pytest.mark.parametrize("tls", ["starttls", "smtps"])
def test_smtp_over_tls_checks_the_certificate(make_settings, tmp_path, tls):
    from tests.fixtures.smtp import start_smtp_server, stop_smtp_server

    server = start_smtp_server(tmp_path / "smtp", tls)
    try:
        untrusted = make_settings("sqlite", smtp_url=server.url)  # the system CAs do not know the test one
        mid = _write(untrusted)
        with pytest.raises(jobs.SendFailed, match="(?i)certificate"):
            jobs.run(untrusted, mid)
        trusted = untrusted.with_(smtp_ca_file=server.ca_file)
        assert jobs.run(trusted, mid) == "sent"
        ((rcpt, _raw),) = server.delivered()
        assert rcpt == ["c@example.lv"]
    finally:
        stop_smtp_server(server)


def test_form_language_is_read_without_parsing(make_form):
    from intake.mailout.replies import form_language

    assert form_language(make_form(lang="en")) == "en" and form_language(make_form(lang="lv")) == "lv"
    assert form_language(b"%PDF-1.7\n" + b"\0" * 1_000_000) is None and form_language(None) is None


def _mail_with_submission(settings, sender: str, n: int, headers: str = "") -> tuple[int, int]:
    import hashlib

    from intake.store.models import Mail, Submission

    raw = f"From: {sender}\r\n{headers}Subject: x\r\nMessage-ID: <m{n}@example.lv>\r\n\r\nbody {n}".encode()
    with session_scope(settings) as session:
        mail = Mail(mailbox="test", folder="INBOX", uid=str(n), message_key=hashlib.sha256(raw).hexdigest(),
                    raw=raw, sender=sender, message_id=f"<m{n}@example.lv>")
        session.add(mail)
        session.flush()
        sub = Submission(mail_id=mail.id, part_index=0, status="rejected")
        session.add(sub)
        session.flush()
        return mail.id, sub.id


def test_replies_flood_limit_unknown_senders_and_auto_replies(db_settings):
    from intake.mailout.replies import MailFacts, for_rejected
    from tests.test_web_support import add_profile

    settings = db_settings.with_(replies_per_day=2)
    with session_scope(settings) as session:
        add_profile(session, email="anna@example.lv")
    reasons = [{"code": "unsigned"}]
    owed = []
    for n in range(3):
        mail_id, sid = _mail_with_submission(settings, "Anna@example.lv", n)
        with session_scope(settings) as session:
            facts = MailFacts.load(session, mail_id)
            owed.append(for_rejected(session, settings, submission_id=sid, reasons=reasons, national_id=None,
                                     facts=facts, form_lang=None))
    assert owed[0] and owed[1] and owed[2] is None  # the third reply of the day is held back
    with session_scope(settings) as session:
        held = session.scalars(select(OutboundMessage).where(OutboundMessage.status == "suppressed")).one()
        assert "2 replies" in held.note and held.recipient == "anna@example.lv"

    # a stranger: neutral reply, or none at all; an auto-reply: nothing
    for n, (sender, policy, headers, expect) in enumerate([
            ("who@evil.example", "neutral", "", "pending"),
            ("who2@evil.example", "none", "", "suppressed"),
            ("who3@evil.example", "neutral", "Auto-Submitted: auto-replied\r\n", "suppressed")], start=10):
        mail_id, sid = _mail_with_submission(settings, sender, n, headers)
        with session_scope(settings) as session:
            for_rejected(session, settings.with_(reply_unknown_sender=policy), submission_id=sid, reasons=reasons,
                         national_id=None, facts=MailFacts.load(session, mail_id), form_lang=None)
            row = session.scalars(select(OutboundMessage).where(OutboundMessage.submission_id == sid)).one()
            assert (row.status, row.kind) == (expect, "neutral"), sender


def test_http_sms_gateway(make_settings):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.headers["Authorization"], json.loads(body)))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = make_settings("sqlite", sms_gateway_url=f"http://127.0.0.1:{server.server_port}/sms",
                                 sms_gateway_token="gw")
        with session_scope(settings) as session:
            mid = outbox.write_sms(session, settings, kind="contact_change", to="+37120000001", lang="en",
                                   context={"changed": ["Phone"], "when": "2026-11-25"}, dedupe_key="sms1")
        assert jobs.run(settings, mid) == "sent"
    finally:
        server.shutdown()
    ((auth, payload),) = got
    assert auth == "Bearer gw" and payload["to"] == "+37120000001" and "call the bank" in payload["text"]
    assert payload["id"].startswith("docintake.")
