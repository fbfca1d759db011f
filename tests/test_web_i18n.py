"""The back office in Latvian and English: the catalogue is complete and compiled, every reason is
explained, choices and audit details read as words, invisible characters are shown."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.test_web_support import (  # noqa: F401  (fixtures)
    CUSTOMER_FIELDS,
    add_profile,
    add_submission,
    app,
    client_for,
    csrf_token,
    db,
    staff,
    web_settings,
)

WEB = Path(__file__).resolve().parent.parent / "intake" / "web"
CATALOGUE = WEB / "translations" / "lv" / "LC_MESSAGES"


def _extracted() -> set:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(WEB), method_map, keywords=keywords):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _key(msgid):
    return msgid[0] if isinstance(msgid, (tuple, list)) else msgid


def _text(string):
    return tuple(string) if isinstance(string, (tuple, list)) else string


def test_every_message_has_a_latvian_translation_and_the_mo_is_current():
    po = read_po(io.BytesIO((CATALOGUE / "messages.po").read_bytes()), locale="lv")
    translated = {_key(m.id): _text(m.string) for m in po if m.id}
    missing = sorted(m for m in _extracted() if not translated.get(m))
    assert missing == [], f"untranslated (run the pybabel commands in the README): {missing}"
    mo = read_mo(io.BytesIO((CATALOGUE / "messages.mo").read_bytes()))
    compiled = {_key(m.id): _text(m.string) for m in mo if m.id}
    assert compiled == translated, "messages.mo is older than messages.po: run pybabel compile"


def test_every_reason_code_is_explained_with_a_next_step():
    from intake.web.explain import EXPLANATIONS
    from verify.reasons import CODES

    assert set(CODES) <= set(EXPLANATIONS)
    for code in ("form_altered", "appearance_mismatch", "signing_time_invalid", "not_qualified", "container_invalid"):
        assert str(EXPLANATIONS[code].next_step)


def test_visible_shows_bidi_and_zero_width_characters():
    from intake.web.filters import visible

    assert visible('"Bank Security \u202elv.knab"@evil.example') == '"Bank Security ⟨U+202E⟩lv.knab"@evil.example'
    assert visible("adm\u200bin") == "adm⟨U+200B⟩in"
    assert visible("Bērziņa\tĀ") == "Bērziņa\tĀ"


def test_the_fast_pattern_finds_exactly_the_hidden_characters():
    import sys

    from intake.web.filters import _hidden_pattern, _is_hidden

    pattern = _hidden_pattern()
    assert [cp for cp in range(sys.maxunicode + 1) if bool(pattern.match(chr(cp))) != _is_hidden(chr(cp))] == []


def _lv(client):
    token = csrf_token(client, "/backoffice/")
    response = client.post("/language", data={"csrf_token": token, "lang": "lv", "next": "/backoffice/"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/backoffice/")


def test_language_is_chosen_per_session_and_labels_come_from_the_schema(app, staff, db):
    sub = add_submission(db, reason="field_invalid", field="phone",
                         sender='"Bank Security \u202elv.knab"@evil.example', filename="anketa\u202efdp.exe")
    add_profile(db)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    url = f"/backoffice/submissions/{sub.id}"
    body = clerk.get(url).get_data(as_text=True)
    assert "Why it was refused" in body and "Everyday payments" in body and "1,000–5,000" in body
    assert ">everyday<" not in body and ">1000_5000<" not in body
    assert "⟨U+202E⟩" in body and "\u202e" not in body
    _lv(clerk)
    body = clerk.get(url).get_data(as_text=True)
    assert '<html lang="lv">' in body
    assert "Kāpēc noraidīts" in body and "Nederīga lauka vērtība" in body
    assert "Ikdienas norēķini" in body and "1 000–5 000" in body and "Tālrunis" in body
    # another session keeps its own language
    other = client_for(app, staff["supervisor"])
    assert "Why it was refused" in other.get(url).get_data(as_text=True)


def test_audit_trail_reads_as_sentences(app, staff, db):
    from intake.store.models import AuditEvent

    sub = add_submission(db, reason="no_pdf_attachment")
    db.add(AuditEvent(actor="system:intake", action="received", submission_id=sub.id,
                      detail={"mail_id": 1, "part_index": -1, "filename": None}))
    db.add(AuditEvent(actor="sam", action="cleared", submission_id=sub.id,
                      detail={"reasons": ["signer_mismatch"], "outcome": "customer_contacted"}))
    db.commit()
    body = client_for(app, staff["clerk"]).get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    trail = body[body.index("Audit trail"):]
    assert "part_index" not in trail and " -1<" not in trail and "None" not in trail
    assert "[&#39;signer_mismatch&#39;]" not in trail and "['signer_mismatch']" not in trail
    assert "the mail itself (no PDF attached)" in trail and "Signed by someone else" in trail
    assert "Customer contacted" in trail


def test_form_line_never_says_none(app, staff, db):
    sub = add_submission(db, reason="unknown_form")
    sub.report = {**sub.report, "form": {"id": None, "version": None}}
    db.commit()
    body = client_for(app, staff["clerk"]).get(f"/backoffice/submissions/{sub.id}").get_data(as_text=True)
    assert "None None" not in body and "not recognised" in body


def test_labels_of_literal_field_names_follow_the_language_of_each_request(app, staff, db):
    """Jinja folds a filter on a literal at compile time unless told not to: the first language would stick."""
    add_profile(db)
    add_profile(db, national_id="LV-32111154321", email="janis@example.lv")
    db.commit()
    clerk = client_for(app, staff["clerk"])
    url = "/backoffice/customers?q=example.lv"
    assert "<th>Phone</th>" in clerk.get(url).get_data(as_text=True)
    _lv(clerk)
    body = clerk.get(url).get_data(as_text=True)
    assert "<th>Tālrunis</th>" in body and "<th>Phone</th>" not in body
