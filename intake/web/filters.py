"""Jinja filters: times in the office's zone, plain-language reasons, labels, visible control characters.

Autoescape stays on. Every string printed with ``{{ }}`` also passes through :func:`visible`
(the environment's ``finalize``), so a right-to-left override or a zero-width character in a
sender, subject, file name or certificate name is shown as ``⟨U+202E⟩``, never obeyed.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from zoneinfo import ZoneInfo

from babel import Locale
from flask import Flask
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from markupsafe import Markup

from forms.schema import FIELDS_BY_NAME, SECTIONS
from intake.web.explain import explain
from intake.web.i18n import current_language
from verify.reasons import CODES

#: Kept as they are although they are format (Cf) or control (Cc) characters.
_HARMLESS = {"\t", "\n", "\r"}

STATUS_LABELS = {
    "received": _l("received"), "queued": _l("queued"), "processing": _l("processing"),
    "applied": _l("applied"), "rejected": _l("rejected"), "failed": _l("failed"), "cleared": _l("cleared"),
}
ROLE_LABELS = {"clerk": _l("clerk"), "supervisor": _l("supervisor"), "admin": _l("admin")}
OUTCOME_LABELS = {
    "resolved": _l("Resolved"), "customer_contacted": _l("Customer contacted"),
    "suspected_fraud": _l("Suspected fraud"),
}

COVERAGE = {
    "ENTIRE_FILE": _l("the whole file as received"),
    "ENTIRE_REVISION": _l("the signed revision; more was added after signing"),
    "CONTIGUOUS_BLOCK_FROM_START": _l("only the start of the file"),
    "UNCLEAR": _l("unclear"),
}
MODIFICATIONS = {
    "NONE": _l("nothing"),
    "LTA_UPDATES": _l("only validation data and timestamps (harmless)"),
    "FORM_FILLING": _l("form fields were filled in after signing"),
    "ANNOTATIONS": _l("annotations were added after signing"),
    "OTHER": _l("the content was changed after signing"),
}
REVOCATION = {
    "checked": _l("checked: the certificate was not revoked at signing"),
    "not_checked": _l("not checked: the signature carries no revocation data"),
}
MESSAGE_STATUSES = {
    "pending": _l("waiting to be sent"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "suppressed": _l("held back"),
}
MESSAGE_KINDS = {
    "applied": _l("update confirmed"),
    "contact_change": _l("contact change alarm"),
    "rejected": _l("form refused"),
    "neutral": _l("neutral reply"),
    "no_form": _l("no form in the mail"),
    "campaign": _l("refresh campaign"),
}

EVIDENCE_ERRORS = {
    "signature_unreadable": _l("The signature in the file could not be read."),
    "certificates_unreadable": _l("The certificates in the signature could not be read."),
    "revision_unrenderable": _l("The signed revision could not be shown."),
}


def _labelled(table: dict, value) -> str:
    if value in (None, ""):
        return "—"
    label = table.get(value)
    return str(label) if label is not None else str(value)


def coverage_text(value) -> str:
    return _labelled(COVERAGE, value)


def modification_text(value) -> str:
    return _labelled(MODIFICATIONS, value)


def evidence_error(value) -> str:
    return _labelled(EVIDENCE_ERRORS, value)


def revocation_text(value) -> str:
    if value is True:
        value = "checked"
    elif value is False:
        value = "not_checked"
    return _labelled(REVOCATION, value) if value is not None else str(_l("not assessed"))


def message_status(value) -> str:
    return _labelled(MESSAGE_STATUSES, value)


def message_kind(value) -> str:
    return _labelled(MESSAGE_KINDS, value)


def valid_at(cert: dict, moment) -> bool:
    """Whether ``moment`` lies within a certificate's validity (chain entries of evidence.json)."""
    at, start, end = parse_time(moment), parse_time(cert.get("not_before")), parse_time(cert.get("not_after"))
    return bool(at and start and end and start <= at <= end)


def local_zone() -> ZoneInfo:
    from intake.web import TIMEZONE_NAME

    return ZoneInfo(TIMEZONE_NAME)


def parse_time(value) -> dt.datetime | None:
    """A datetime, or an ISO string from a report, as an aware datetime (None if unreadable)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def format_time(value, seconds: bool = False) -> str:
    moment = parse_time(value)
    if moment is None:
        return "" if value in (None, "") else str(value)
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _is_hidden(char: str) -> bool:
    return char not in _HARMLESS and unicodedata.category(char) in ("Cf", "Cc", "Co", "Cs", "Zl", "Zp")


#: Where format and control characters live (BMP, SMP and the tag plane); private use and
#: surrogates are whole blocks, added as ranges.
_SCANNED = (range(0, 0x20000), range(0xE0000, 0xE1000))
_BLOCKS = ((0xD800, 0xDFFF), (0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))


@functools.cache
def _hidden_pattern() -> re.Pattern:
    """One character class of every hidden code point (built once: every printed string is searched)."""
    ranges = [f"\\U{a:08x}-\\U{b:08x}" for a, b in _BLOCKS]
    for span in _SCANNED:
        start = None
        for cp in (*span, None):
            hidden = cp is not None and not (0xD800 <= cp <= 0xF8FF) and _is_hidden(chr(cp))
            if hidden and start is None:
                start = cp
            elif not hidden and start is not None:
                ranges.append(f"\\U{start:08x}-\\U{(cp if cp is not None else span.stop) - 1:08x}")
                start = None
    return re.compile("[" + "".join(ranges) + "]")


def visible(value):
    """Bidi overrides, zero-width and other invisible characters as ``⟨U+202E⟩``; other text unchanged."""
    if value is None or isinstance(value, Markup) or not isinstance(value, str):
        return value
    return _hidden_pattern().sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", value)


def _finalize(value):
    return visible(value) if isinstance(value, str) else value


def reason_title(code: str | None) -> str:
    return str(explain(code).title)


def reason_meaning(code: str | None) -> str:
    return str(explain(code).meaning)


def reason_next(code: str | None) -> str:
    return str(explain(code).next_step)


def reason_message(code: str | None) -> str:
    """The title and what it means, in the current language (for lists and tooltips)."""
    return f"{reason_title(code)}: {reason_meaning(code)}" if code in CODES else reason_title(code)


def field_label(name: str) -> str:
    field = FIELDS_BY_NAME.get(name or "")
    if field is None:
        return name
    return field.lv if current_language() == "lv" else field.en


def section_label(key: str) -> str:
    for section in SECTIONS:
        if section.key == key:
            return section.lv if current_language() == "lv" else section.en
    return key


def country_name(code: str) -> str:
    name = Locale(current_language()).territories.get(code.upper()) if isinstance(code, str) else None
    return f"{name} ({code})" if name else code


def field_value(value, name: str | None = None) -> str:
    """A stored value as the clerk reads it: choices by their label, countries by name, yes/no."""
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if value is None:
        return ""
    field = FIELDS_BY_NAME.get(name or "")
    if field is not None and isinstance(value, str):
        for choice in field.choices:
            if choice.value == value:
                return choice.lv if current_language() == "lv" else choice.en
        if field.kind == "country":
            return country_name(value)
    return str(value)


def status_label(status: str | None) -> str:
    return str(STATUS_LABELS.get(status or "", status or ""))


def role_label(role: str | None) -> str:
    return str(ROLE_LABELS.get(role or "", role or ""))


def outcome_label(outcome: str | None) -> str:
    return str(OUTCOME_LABELS.get(outcome or "", outcome or ""))


def _per_request(fn):
    """Never folded into the compiled template: Jinja evaluates a filter on a literal (``'phone'|field_label``)
    once at compile time unless it takes the template context, and the language changes per request."""

    @pass_context
    def filter_(_context, *args, **kwargs):
        return fn(*args, **kwargs)

    return filter_


def register(app: Flask) -> None:
    from intake.web import audit_text

    _hidden_pattern()  # built now, not on the first request
    app.jinja_env.finalize = _finalize
    app.jinja_env.filters.update(visible=visible, valid_at=valid_at)
    app.jinja_env.filters.update({name: _per_request(fn) for name, fn in dict(
        time=format_time,
        reason_message=reason_message,
        reason_title=reason_title,
        reason_meaning=reason_meaning,
        reason_next=reason_next,
        field_label=field_label,
        section_label=section_label,
        field_value=field_value,
        status_label=status_label,
        coverage_text=coverage_text,
        modification_text=modification_text,
        revocation_text=revocation_text,
        evidence_error=evidence_error,
        message_status=message_status,
        message_kind=message_kind,
        outcome_label=outcome_label,
        role_label=role_label,
        audit_action=audit_text.action_label,
        audit_details=audit_text.details,
    ).items()})
    app.jinja_env.globals.update(REASON_CODES=list(CODES), explain=explain)
