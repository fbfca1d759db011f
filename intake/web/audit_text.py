"""Audit events as sentences for the back office: no Python lists, no ``None``, no ``-1``.

The stored detail stays as it was written (machine-readable JSON); this only decides how it reads.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from verify.reasons import CODES

ACTIONS = {
    "received": _l("Received from the mailbox"),
    "intake_rejected": _l("Refused on arrival"),
    "submission_applied": _l("Verified and applied to the profile"),
    "submission_rejected": _l("Verified and rejected"),
    "submission_failed": _l("Processing failed"),
    "downloaded": _l("Original PDF downloaded"),
    "downloaded_mail": _l("Mail downloaded"),
    "viewed": _l("Viewed"),
    "cleared": _l("Reject cleared"),
    "reprocess": _l("Sent for verification again"),
    "fraud_clear_requested": _l("Fraud clearance requested (needs a second supervisor)"),
    "fraud_clear_approved": _l("Fraud clearance approved"),
    "fraud_clear_declined": _l("Fraud clearance declined"),
    "login": _l("Signed in"),
    "logout": _l("Signed out"),
    "login_failed": _l("Sign-in failed"),
    "login_refused": _l("Sign-in refused"),
    "user_created": _l("Staff account created"),
}

KEYS = {
    "mail_id": _l("mail"), "mailbox": _l("mailbox"), "folder": _l("folder"), "uid": _l("mailbox UID"),
    "part_index": _l("part"), "filename": _l("file name"), "message_id": _l("Message-ID"),
    "reason": _l("reason"), "main_reason": _l("main reason"), "reasons": _l("reasons"),
    "previous_reason": _l("previous reason"), "previous_status": _l("previous status"),
    "outcome": _l("outcome"), "note": _l("note"), "change_id": _l("profile change"), "job": _l("job"),
    "defects": _l("mail defects"), "requested_by": _l("requested by"), "name": _l("name"), "role": _l("role"),
    "ip": _l("address"), "why": _l("why"), "locked": _l("locked"), "until": _l("until"),
}
_REASON_KEYS = {"reason", "main_reason", "reasons", "previous_reason"}


def action_label(action: str) -> str:
    label = ACTIONS.get(action)
    return str(label) if label is not None else action.replace("_", " ")


def _value(key: str, value) -> str:
    from intake.web.filters import outcome_label, reason_title, status_label

    if key == "part_index":
        return _("the mail itself (no PDF attached)") if value == -1 else _("attachment %(n)s", n=int(value) + 1)
    if key in _REASON_KEYS:
        codes = value if isinstance(value, list) else [value]
        return ", ".join(reason_title(c) if c in CODES else str(c) for c in codes)
    if key == "previous_status":
        return status_label(value)
    if key == "outcome":
        return reason_title(value) if value in CODES else outcome_label(value) if value != "applied" \
            else status_label(value)
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, ""))
    return str(value)


def details(detail: dict | None) -> list[tuple[str, str]]:
    """(label, text) for each detail that says something; empty values are left out."""
    rows = []
    for key, value in (detail or {}).items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        label = KEYS.get(key)
        rows.append((str(label) if label is not None else key.replace("_", " "), _value(key, value)))
    return rows
