"""Helpers for the web tests (no tests here): seed rows with realistic reports, sign in, post forms."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import re

import pytest

from intake.store.models import AuditEvent, Mail, Profile, Submission, User
from verify.reasons import CODES

PASSWORD = "correct horse battery staple"
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
NATIONAL_ID = "LV-32000012345"
_seq = itertools.count(1)

CUSTOMER_FIELDS = {
    "id_country": "LV",
    "personal_code": "320000-12345",
    "first_name": "Anna",
    "last_name": "Bērziņa",
    "date_of_birth": "1984-03-12",
    "phone": "+37129123456",
    "email": "anna.berzina@example.lv",
    "address_street": "Brīvības iela 21-4",
    "address_city": "Rīga",
    "address_postcode": "LV-1010",
    "address_country": "LV",
    "correspondence_channel": "email",
    "occupation": "Accountant",
    "employer": "SIA Piemērs",
    "source_of_funds": "salary",
    "account_purpose": "everyday",
    "expected_monthly_turnover": "1000_5000",
    "tax_residency_country": "LV",
    "us_person": False,
    "is_pep": False,
    "pep_relative": False,
    "marketing_consent": False,
    "data_accuracy_confirmation": True,
}


@functools.cache
def _blank() -> bytes:
    from forms.blank import render_blank

    return render_blank("lv")


@functools.cache
def filled_pdf(**changes) -> bytes:
    """A real PDF: the blank form filled in the way a customer's reader does."""
    from forms.fill import fill_form

    return fill_form(_blank(), {**CUSTOMER_FIELDS, **changes})


def report_for(reasons: list[dict], fields: dict | None = None, signer_name: str = "ANNA BĒRZIŅA",
               signer_id: str = NATIONAL_ID, sha: str = "") -> dict:
    return {
        "verdict": "rejected" if reasons else "accepted",
        "reasons": reasons,
        "sha256": sha,
        "signer": {"name": signer_name, "national_id": signer_id,
                   "issuer": "Demo Qualified CA 2026", "serial": "4f:1a:93:0c:22"},
        "signing_time": "2026-11-20T09:14:03+00:00",
        "timestamp_time": "2026-11-20T09:14:05+00:00",
        "level": "B-T",
        "coverage": "ENTIRE_FILE",
        "modification_level": "NONE",
        "form": {"id": "customer-data-update", "version": "2026.1"},
        "fields": dict(CUSTOMER_FIELDS if fields is None else fields),
    }


def add_user(session, name: str, role: str, password: str = PASSWORD, **extra) -> User:
    from intake.web.auth import hash_password

    user = User(name=name, role=role, password_hash=hash_password(password), **extra)
    session.add(user)
    session.flush()
    return user


def add_submission(session, *, status: str = "rejected", reason: str | None = "signer_mismatch",
                   field: str | None = None, fields: dict | None = None, subject: str = "Klienta datu anketa",
                   sender: str = "Anna Bērziņa <anna.berzina@example.lv>", received_at: dt.datetime | None = None,
                   content: bytes | None = None, filename: str = "anketa-parakstita.pdf",
                   national_id: str | None = NATIONAL_ID, signer_name: str = "ANNA BĒRZIŅA",
                   signer_id: str = NATIONAL_ID) -> Submission:
    n = next(_seq)
    received_at = received_at or dt.datetime.now(dt.timezone.utc)
    content = filled_pdf() if content is None else content
    sha = hashlib.sha256(content + str(n).encode()).hexdigest()
    raw = f"Subject: {subject}\r\n\r\nbody".encode()
    mail = Mail(mailbox="maildir:/var/mail/forms", folder="INBOX", uid=str(n),
                message_key=hashlib.sha256(raw + str(n).encode()).hexdigest(), message_id=f"<{n}@example.lv>",
                sender=sender, subject=subject, sent_at=received_at - dt.timedelta(minutes=2),
                received_at=received_at, raw=raw)
    session.add(mail)
    session.flush()
    reasons = [{"code": reason, "field": field, "message": CODES[reason]}] if reason else []
    sub = Submission(
        mail_id=mail.id, part_index=0, filename=filename, sha256=sha, content=content, status=status,
        reasons=reasons, main_reason=reason, report=report_for(reasons, fields, signer_name, signer_id, sha=sha),
        national_id=national_id, received_at=received_at, decided_at=received_at, updated_at=received_at,
    )
    session.add(sub)
    session.flush()
    session.add(AuditEvent(actor="system:worker", action=f"submission_{status}", submission_id=sub.id,
                           detail={"main_reason": reason}, at=received_at))
    return sub


def add_profile(session, national_id: str = NATIONAL_ID, **changes) -> Profile:
    fields = dict(CUSTOMER_FIELDS)
    fields.update(changes)
    profile = Profile(national_id=national_id, fields=fields)
    session.add(profile)
    return profile


_TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf_token(client, url: str = "/backoffice/login") -> str:
    body = client.get(url).get_data(as_text=True)
    match = _TOKEN.search(body)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def login(client, name: str, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/backoffice/login", data={"csrf_token": token, "name": name, "password": password})


def post(client, url: str, data: dict | None = None, token_from: str = "/backoffice/"):
    """POST with a valid CSRF token taken from a page the user can see."""
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **(data or {})})


@pytest.fixture
def web_settings(make_settings, db_backend):
    """A clean database (sqlite and postgresql) with a real Redis."""
    return make_settings(db_backend, redis=True)


@pytest.fixture
def app(web_settings):
    from intake.web import create_app

    app = create_app(web_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def staff(web_settings):
    """Three staff members: clara (clerk), sam (supervisor), ada (admin)."""
    from intake.store.db import session_scope

    with session_scope(web_settings) as session:
        for name, role in (("clara", "clerk"), ("sam", "supervisor"), ("ada", "admin")):
            add_user(session, name, role)
    return {"clerk": "clara", "supervisor": "sam", "admin": "ada"}


@pytest.fixture
def db(web_settings):
    """A session for seeding and checking (commit explicitly)."""
    from intake.store.db import session_factory

    session = session_factory(web_settings)()
    try:
        yield session
    finally:
        session.close()


def client_for(app, name: str | None = None):
    client = app.test_client()
    if name:
        response = login(client, name)
        assert response.status_code == 302, response.get_data(as_text=True)
    return client
