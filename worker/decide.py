"""The worker's decision: the very same ``verify.decision.decide`` as ``docintake verify``,
under a :class:`verify.policy.Policy` built from the installation's settings.

The policy (parsed trust roots) is built once per process and settings, then shared.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from intake.config import Settings

_LOCK = threading.Lock()
_POLICIES: dict[tuple, Any] = {}


#: Settings passed to the Policy under their own names (structural limits and the memory ceiling).
POLICY_LIMITS = ("max_objects", "max_xref_entries", "max_revisions", "max_fields", "max_signatures", "max_memory_mb")


def _snapshot_stamp(path) -> int | None:
    try:
        return (path / "snapshot.json").stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def _policy_key(settings: Settings) -> tuple:
    return (
        tuple(str(p) for p in settings.trust_roots),
        str(settings.resolved_trust_lists),
        _snapshot_stamp(settings.resolved_trust_lists),  # a refreshed snapshot makes a new policy
        settings.trust_countries,
        settings.trust_service_types,
        settings.require_qualified,
        settings.min_level,
        settings.allow_fetching,
        settings.max_pdf_bytes,
        settings.max_pages,
        settings.decision_timeout,
        *(getattr(settings, name) for name in POLICY_LIMITS),
    )


def policy_for(settings: Settings):
    """The :class:`verify.policy.Policy` of these settings (cached per process)."""
    key = _policy_key(settings)
    with _LOCK:
        policy = _POLICIES.get(key)
        if policy is None:
            from verify.policy import Policy

            policy = Policy.load(
                trust_roots=list(settings.trust_roots),
                trust_lists=settings.resolved_trust_lists,
                countries=settings.trust_countries,
                service_types=settings.trust_service_types,
                require_qualified=settings.require_qualified,
                min_level=settings.min_level,
                allow_fetching=settings.allow_fetching,
                max_bytes=settings.max_pdf_bytes,
                max_pages=settings.max_pages,
                timeout=settings.decision_timeout,
                **{name: getattr(settings, name) for name in POLICY_LIMITS},
            )
            _POLICIES[key] = policy
        return policy


@dataclass(frozen=True)
class Decision:
    """What the worker needs of a report, read from its JSON (the same object ``verify --json`` prints)."""

    accepted: bool
    #: Ranked reasons ``[{"code", "field", "message"}]``, the first being the main one.
    reasons: list[dict]
    report: dict
    national_id: str | None
    signing_time: dt.datetime | None
    fields: dict
    #: The ETSI TS 119 102-2 validation report (XML) of the signature, stored with the submission.
    validation_report: str | None = None

    @property
    def main_reason(self) -> str | None:
        return self.reasons[0]["code"] if self.reasons else None


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        out = value
    else:
        try:
            out = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if out.tzinfo is None:
        out = out.replace(tzinfo=dt.timezone.utc)
    return out.astimezone(dt.timezone.utc)


def _reason_json(reason: Any) -> dict:
    if isinstance(reason, dict):
        data = dict(reason)
    elif hasattr(reason, "to_json"):
        data = reason.to_json()
    else:
        data = {"code": getattr(reason, "code", str(reason)), "field": getattr(reason, "field", None),
                "message": getattr(reason, "message", "")}
    return {"code": data.get("code"), "field": data.get("field"), "message": data.get("message") or ""}


def decision_of(report: Any) -> Decision:
    """Read the verdict, reasons, signer, signing time and field values off a ``Report``."""
    data = report.to_json() if hasattr(report, "to_json") else dict(report)
    verdict = data.get("verdict") or getattr(report, "verdict", None)
    verdict = getattr(verdict, "value", verdict)
    reasons = [_reason_json(r) for r in (data.get("reasons") or getattr(report, "reasons", None) or [])]
    signer = data.get("signer") or {}
    national_id = signer.get("national_id") if isinstance(signer, dict) else None
    if national_id is None:
        national_id = getattr(getattr(report, "signer", None), "national_id", None)
    # The time a trusted timestamp proves, else the one the signer's software claims.
    signing_time = _parse_time(data.get("timestamp_time") or data.get("signing_time")
                               or getattr(report, "timestamp_time", None) or getattr(report, "signing_time", None))
    fields = data.get("fields") or getattr(report, "fields", None) or {}
    accepted = verdict == "accepted" and not reasons
    if verdict == "accepted" and reasons:  # never apply a form that carries a reason
        accepted = False
    return Decision(accepted, reasons, data, national_id, signing_time, dict(fields),
                    getattr(report, "etsi_report", None))


def decide_document(content: bytes, settings: Settings, now: dt.datetime | None = None,
                    received_at: dt.datetime | None = None) -> Decision:
    """``verify.decision.decide(content, policy)`` and its reading; may raise only on a bug.

    ``received_at`` (the mail's receipt) bounds a claimed signing time: it becomes ``signed_at``.
    """
    from verify.decision import decide

    return decision_of(decide(content, policy_for(settings), now=now, received_at=received_at))
