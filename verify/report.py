"""The outcome of one decision, and its JSON form (what ``docintake verify --json`` prints).

``Report.to_json()`` gives exactly these keys::

    verdict             "accepted" | "rejected"
    reasons             [{"code", "field", "message"}], the main reason first (verify.reasons)
    sha256              hex digest of the submitted bytes
    signer              {"name", "national_id", "issuer", "serial"} | null
    signing_time        ISO 8601, the time the signer's software claims (never later than the mail's
                        receipt when the caller passes ``received_at``), or null
    timestamp_time      ISO 8601, the time a trusted signature timestamp proves, or null
    level               "B-B" | "B-T" | "B-LT" | "B-LTA" | null (not a PAdES signature)
    coverage            "ENTIRE_FILE" | "ENTIRE_REVISION" | ... (pyHanko's SignatureCoverageLevel) | null
    modification_level  "NONE" | "LTA_UPDATES" | "FORM_FILLING" | "ANNOTATIONS" | "OTHER" | null
    form                {"id", "version"} (null values when not read)
    fields              {field name: stored value} read from the signed revision ({} when not read)
    revocation          "checked" (revocation data for the signer's certificate was found and used) |
                        "not_checked" (none embedded, none fetched: FORM.md wants this said) |
                        null (the signature was not evaluated that far)
    container           null for a PDF; for an ASiC-E container {"format", "data_files": [names],
                        "signatures": [{"file", "id", "signer", "level", "qualified", "covers", "valid"}]}
                        (qualified: null until trusted-list qualification is assessed)
    indication          the ETSI EN 319 102-1 main indication: "PASSED" | "FAILED" | "INDETERMINATE" | null
    subindication       its sub-indication as ETSI names it ("OK", "HASH_FAILURE", "NO_CERTIFICATE_CHAIN_FOUND", ...) | null
    qualified           true: a QES (qualified certificate for e-signatures on a QSCD, service granted on the
                        trusted lists at the proven signing time); false: not; null: not assessed
    trust_source        "trusted_list" | "trust_roots" (an explicitly configured root) | null (no trusted path)

The ETSI TS 119 102-2 XML validation report (``Report.etsi_report``) is not in the JSON; it is
stored with the submission and written by ``docintake verify --report FILE``.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any

from verify.reasons import Reason, ranked

ACCEPTED = "accepted"
REJECTED = "rejected"

# LV old/new formats (DDMMYY-NNNNN), LT/EE 11 digits, optionally with a PNOxx-/IDCxx- prefix.
_CODE = re.compile(r"(?<![0-9])(\d{6})-?(\d{5})(?![0-9])")


def mask_codes(text: str) -> str:
    """Personal codes in free text -> ``32****-***45`` (for log lines and exception text)."""
    return _CODE.sub(lambda m: m.group(1)[:2] + "****-***" + m.group(2)[-2:], text)


@dataclass(frozen=True)
class Signer:
    name: str | None
    national_id: str | None  # "LV-32000012345" when the certificate carries a person code, else None
    issuer: str | None
    serial: str | None  # certificate serial number, hex

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "national_id": self.national_id, "issuer": self.issuer, "serial": self.serial}


def _iso(value: _dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.isoformat()


@dataclass
class Report:
    verdict: str
    reasons: list[Reason]
    sha256: str
    signer: Signer | None = None
    signing_time: _dt.datetime | None = None
    timestamp_time: _dt.datetime | None = None
    level: str | None = None
    coverage: str | None = None
    modification_level: str | None = None
    form_id: str | None = None
    form_version: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    #: Whether revocation data for the signer's certificate was found and used (None when the
    #: signature was not evaluated that far). JSON ``revocation``; shown in the human summary.
    revocation_checked: bool | None = None
    #: A signed container's ``{format, data_files, signatures: [{signer, level, qualified, covers}]}``
    #: (verify.container), else None.
    container: dict[str, Any] | None = None
    indication: str | None = None
    subindication: str | None = None
    qualified: bool | None = None
    trust_source: str | None = None
    #: Not in the JSON: the ETSI TS 119 102-2 validation report (XML) of the signature, or None.
    etsi_report: str | None = field(default=None, repr=False)
    #: Not in the JSON: wall-clock seconds the decision took.
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        self.reasons = ranked(self.reasons)
        if self.verdict not in (ACCEPTED, REJECTED):
            raise ValueError(f"verdict must be accepted or rejected, not {self.verdict!r}")
        if self.verdict == ACCEPTED and self.reasons:
            raise ValueError("an accepted report carries no reasons")
        if self.verdict == REJECTED and not self.reasons:
            raise ValueError("a rejected report needs at least one reason")

    @property
    def accepted(self) -> bool:
        return self.verdict == ACCEPTED

    @property
    def main_reason(self) -> Reason | None:
        return self.reasons[0] if self.reasons else None

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": [r.to_json() for r in self.reasons],
            "sha256": self.sha256,
            "signer": self.signer.to_json() if self.signer else None,
            "signing_time": _iso(self.signing_time),
            "timestamp_time": _iso(self.timestamp_time),
            "level": self.level,
            "coverage": self.coverage,
            "modification_level": self.modification_level,
            "form": {"id": self.form_id, "version": self.form_version},
            "fields": _jsonable(self.fields),
            "revocation": _revocation(self.revocation_checked),
            "container": _jsonable(self.container) if self.container is not None else None,
            "indication": self.indication,
            "subindication": self.subindication,
            "qualified": self.qualified,
            "trust_source": self.trust_source,
        }

    def summary(self) -> str:
        """A few human lines (personal codes masked) for ``docintake verify`` without ``--json``."""
        lines = [f"{self.verdict.upper()}  sha256 {self.sha256[:16]}…"]
        if self.signer:
            nid = mask_codes(self.signer.national_id) if self.signer.national_id else "no person code"
            lines.append(f"signer: {self.signer.name} ({nid}), issued by {self.signer.issuer}")
        details = []
        if self.level:
            details.append(f"level {self.level}")
        if self.timestamp_time:
            details.append(f"timestamp {_iso(self.timestamp_time)}")
        elif self.signing_time:
            details.append(f"claimed signing time {_iso(self.signing_time)}")
        if self.coverage:
            details.append(f"coverage {self.coverage}")
        if self.indication:
            details.append(f"ETSI {self.indication}/{self.subindication}")
        if self.qualified is not None:
            details.append("qualified (QES)" if self.qualified else "NOT qualified")
        if self.trust_source:
            details.append(f"trust from {self.trust_source.replace('_', ' ')}")
        if self.revocation_checked is False:
            details.append("revocation NOT checked (no revocation data embedded)")
        elif self.revocation_checked:
            details.append("revocation checked")
        if details:
            lines.append(", ".join(details))
        if self.container is not None:
            files = ", ".join(self.container.get("data_files") or []) or "no data file read"
            lines.append(f"container {self.container.get('format')}: {files}")
            for sig in self.container.get("signatures") or []:
                who = (sig.get("signer") or {}).get("name") or "unreadable signer"
                state = "valid" if sig.get("valid") else "NOT valid"
                lines.append(f"  signature {sig.get('id') or sig.get('file')}: {who}, {sig.get('level') or 'no level'}, {state}")
        if self.form_id:
            lines.append(f"form: {self.form_id} {self.form_version or ''}".rstrip())
        for r in self.reasons:
            where = f" [{r.field}]" if r.field else ""
            lines.append(f"  - {r.code}{where}: {mask_codes(r.message)}")
        return "\n".join(lines)


def _revocation(checked: bool | None) -> str | None:
    if checked is None:
        return None
    return "checked" if checked else "not_checked"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
