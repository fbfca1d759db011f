"""The fixed vocabulary of reason codes, in the order FORM.md ranks them.

A verdict's first reason is its main one, so reasons are always sorted by
``RANK`` (field reasons keep the schema's field order among themselves).
Later stages (worker, intake) add their pipeline-level codes from here too, so
the back office and the README see one list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

#: code -> default human message. The order of this dict is the rank.
CODES: dict[str, str] = {
    "not_pdf": "The file is not a PDF.",
    "malformed_pdf": "The PDF is damaged or cannot be parsed.",
    "encrypted_pdf": "The PDF is encrypted.",
    "too_large": "The PDF exceeds the size, page or time limit.",
    "container_invalid": "The signed container (ASiC-E: .edoc, .asice, .bdoc, .sce) is malformed or breaks the container rules.",
    "unsigned": "The form carries no signature.",
    "signature_invalid": "The signature does not match the document or cannot be read.",
    "modified_after_signing": "The document was changed after it was signed.",
    "untrusted_signer": "The signer's certificate does not chain to a trusted root.",
    "certificate_expired": "The signer's certificate was not valid at the signing time.",
    "certificate_revoked": "The signer's certificate is revoked.",
    "weak_algorithm": "The signature uses an algorithm that is no longer allowed.",
    "not_for_signing": "The certificate is not meant for qualified e-signatures (non-repudiation).",
    "signing_time_invalid": "The signing time lies in the future or cannot be believed.",
    "not_qualified": "The signature is not a qualified electronic signature (QES).",
    "unknown_form": "The document is not the customer data form 2026.1.",
    "form_altered": "The signed form is not the bank's form: its structure was changed.",
    "appearance_mismatch": "A field shows a different value from the one stored in it.",
    "signer_mismatch": "The signer is not the customer named on the form.",
    "field_missing": "A required field is empty.",
    "field_invalid": "A field value is not valid.",
    # pipeline-level
    "no_pdf_attachment": "The e-mail carried no PDF.",
    "unknown_customer": "No customer profile exists for this national identity.",
    "duplicate": "This document was already applied.",
    "stale": "A form signed later has already been applied for this customer.",
    "internal_error": "The form could not be processed; see the log.",
}
RANK: dict[str, int] = {code: i for i, code in enumerate(CODES)}


@dataclass(frozen=True)
class Reason:
    code: str
    field: str | None = None
    message: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown reason code {self.code!r}")
        if not self.message:
            object.__setattr__(self, "message", CODES[self.code])

    def to_json(self) -> dict:
        return asdict(self)


def ranked(reasons: Iterable[Reason]) -> list[Reason]:
    """Sort by rank, stable, so field reasons keep the schema's order; drop exact repeats."""
    seen: set[Reason] = set()
    unique = [r for r in reasons if not (r in seen or seen.add(r))]
    return sorted(unique, key=lambda r: RANK[r.code])
