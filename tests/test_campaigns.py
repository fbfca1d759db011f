"""Refresh campaigns: the personal pre-filled form, the selection, the mails, the tracking."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io

import pdfplumber
import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from forms.blank import render_blank
from forms.extract import extract_fields
from forms.fill import fill_form
from forms.prefill import IDENTITY, personal_form
from intake.campaigns.create import Criteria, create_campaign, form_values
from intake.campaigns.tracking import stats, track_verdict
from intake.mailout import jobs
from intake.store.db import session_scope
from intake.store.models import OutboundMessage, Profile, utcnow
from tests.test_pipeline_support import customer_values, national_id_of


def _plain(value):
    from pypdf.generic import IndirectObject

    if isinstance(value, IndirectObject):
        return ("ref", value.idnum)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fields(pdf: bytes) -> dict[str, dict]:
    reader = PdfReader(io.BytesIO(pdf))
    return {str(r.get_object()["/T"]): {k: _plain(v) for k, v in r.get_object().items()}
            for r in reader.trailer["/Root"]["/AcroForm"]["/Fields"]}


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_personal_form_is_the_blank_with_values_and_read_only_identity(lang):
    values = customer_values(5, first_name="Jānis", address_city="Rīga (centrs)")
    values.pop("data_accuracy_confirmation")
    blank = render_blank(lang)
    pdf = personal_form(values, lang, blank=blank)
    assert personal_form(values, lang, blank=blank) == pdf  # deterministic
    assert pdf.startswith(blank)  # the blank's bytes untouched, one update appended
    before, after = _fields(blank), _fields(pdf)
    assert set(before) == set(after)
    for name in before:
        b, a = before[name], after[name]
        assert {k: v for k, v in b.items() if k not in ("/V", "/AP", "/AS", "/Ff")} == \
            {k: v for k, v in a.items() if k not in ("/V", "/AP", "/AS", "/Ff")}, name
        flag_change = int(a.get("/Ff", 0)) ^ int(b.get("/Ff", 0))
        assert flag_change == (1 if name in IDENTITY else 0), name
    # the same values as the reader-style fill, read by the service's own extractor
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        mine = extract_fields(doc)
    with pdfplumber.open(io.BytesIO(fill_form(blank, values))) as doc:
        reference = extract_fields(doc)
    assert mine.values == reference.values and mine.form_id == reference.form_id
    reader = PdfReader(io.BytesIO(pdf))
    shown = {str(r.get_object()["/T"]): r.get_object()["/AP"]["/N"].get_object()
             for r in reader.trailer["/Root"]["/AcroForm"]["/Fields"] if r.get_object().get("/FT") == "/Tx"}
    assert "(Jānis) Tj" in shown["first_name"].get_data().decode("cp1257")  # the appearance shows the value
    assert "(Rīga \\(centrs\\)) Tj" in shown["address_city"].get_data().decode("cp1257")


def test_personal_form_refuses_unknown_fields():
    with pytest.raises(KeyError):
        personal_form({"nope": "x"})


def test_signed_personal_form_is_accepted(pki, trust_policy, person_for):
    from verify.decision import decide

    values = customer_values(6)
    pdf = personal_form({k: v for k, v in values.items() if k != "data_accuracy_confirmation"})
    ticked = fill_form(pdf, {"data_accuracy_confirmation": True})  # what the customer's reader does
    report = decide(pki.sign_pdf(ticked, person_for(values)), trust_policy)
    assert report.to_json()["verdict"] == "accepted", report.to_json()["reasons"]


def _import(settings, customers, *, age_days: dict[int, int]):
    from worker.profiles import SqlProfileStore

    with session_scope(settings) as session:
        SqlProfileStore().import_rows(session, [(national_id_of(v), dict(v)) for v in customers])
    with session_scope(settings) as session:
        for i, days in age_days.items():
            session.execute(update(Profile).where(Profile.national_id == national_id_of(customers[i]))
                            .values(updated_at=utcnow() - dt.timedelta(days=days)))


def test_campaign_selects_writes_sends_and_tracks(db_settings):
    customers = [customer_values(i, email=f"k{i}@example.lv") for i in range(5)]
    customers[3].pop("employer")
    customers[4]["email"] = ""
    _import(db_settings, customers, age_days={0: 800, 1: 900, 4: 1000})
    result = create_campaign(db_settings, "stale", Criteria(stale_months=24))
    assert (result.selected, result.queued, result.skipped_no_email) == (3, 2, 1)
    with session_scope(db_settings) as session:
        rows = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        assert [r.recipient for r in rows] == ["k0@example.lv", "k1@example.lv"]
        assert all(r.raw is None and r.payload and r.raw_sha256 for r in rows)
    assert jobs.run(db_settings, rows[0].id) == "sent"
    (eml,) = db_settings.outbox_dir.glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    (attachment,) = list(msg.iter_attachments())
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF") and _fields(pdf)["personal_code"]["/Ff"] & 1
    with session_scope(db_settings) as session:
        from intake.campaigns.create import campaign_blank

        sent = session.get(OutboundMessage, rows[0].id)
        expected = personal_form(sent.payload["values"], sent.payload["lang"],
                                 blank=campaign_blank(session, result.campaign_id, sent.payload["lang"]))
    assert pdf == expected  # the skeleton with the PDF put in is a proper MIME message around it
    assert msg["To"] == "k0@example.lv" and msg["Message-ID"] == sent.message_id
    assert "pielikumā" in msg.get_body(("plain",)).get_content().lower()

    missing = create_campaign(db_settings, "employer", Criteria(missing=("employer",), country="LV"))
    assert missing.queued >= 1
    with session_scope(db_settings) as session:
        assert {r.national_id for r in session.scalars(select(OutboundMessage).where(
            OutboundMessage.campaign_id == missing.campaign_id))} >= {national_id_of(customers[3])}

    # a signed form back from customer 1 (in the first campaign only), after it: received and applied
    from tests.test_pipeline_support import add_submission

    sid = add_submission(db_settings, b"%PDF-1.7 stand-in")
    with session_scope(db_settings) as session:
        track_verdict(session, national_id=national_id_of(customers[1]), submission_id=sid, status="applied")
    with session_scope(db_settings) as session:
        (first,) = [c for c in stats(session) if c.id == result.campaign_id]
    assert (first.sent, first.received, first.applied, first.rejected) == (2, 1, 1, 0)
    assert first.response_rate == 0.5


def test_form_values_from_a_profile():
    values = form_values("LV-32000012345", {"first_name": "Anna", "correspondence_channel": "fax",
                                            "us_person": True, "unknown": "x"})
    assert values == {"id_country": "LV", "personal_code": "320000-12345", "first_name": "Anna", "us_person": True}
