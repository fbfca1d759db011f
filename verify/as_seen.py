"""What the customer saw is what is applied: the form step's two checks, as reasons.

``form_altered`` (verify.conformance: the signed revision, as pyHanko's resolver of that revision
sees it, against the published blank of the claimed version) and ``appearance_mismatch``
(verify.appearance: the appearances pdfminer draws against the values pdfplumber read).
Both fail closed: a structure or appearance that cannot be read is ``form_altered``, one that
pdfminer could only read by recovering it (``forms.strict_reading``) is ``malformed_pdf``.
"""

from __future__ import annotations

from typing import Any

from forms.strict_reading import RecoveryRefused
from verify import appearance, conformance, known_objects
from verify.reasons import Reason


def as_seen_reasons(reader: Any, revision: int | None, doc: Any, form_version: str | None,
                    data: bytes | None = None) -> list[Reason]:
    """Reasons why the signed revision is not the bank's form, only filled in, showing its values.

    ``reader`` is pyHanko's reader of the whole file and ``revision`` the signed revision's number
    (None: the latest); ``doc`` is the pdfminer document of the signed revision's bytes. ``data``,
    the bytes ``reader`` reads, lets the structure check reuse what it read of earlier documents
    byte for byte (verify.known_objects; only when the signed revision is the latest).
    """
    reasons: list[Reason] = []
    objects: dict[int, str] = {}  # canonical content by object number, shared with the appearance check
    try:
        latest = revision is None or revision == reader.xrefs.total_revisions - 1
        view = reader if latest else reader.get_historical_resolver(revision)  # the reader's cache is warm
        file = known_objects.FileObjects.of(reader, data) if latest else None
        found = conformance.check(view.root, form_version, objects, file)
    except conformance.ConformanceError as exc:
        found = None
        reasons.append(Reason("form_altered", None, f"the form's structure cannot be compared: {exc}"))
    except Exception as exc:
        found = None
        reasons.append(Reason("form_altered", None, f"the form's structure cannot be read: {type(exc).__name__}"))
    if found:
        reasons.append(Reason("form_altered", None, conformance.describe(found)))
    try:
        mismatches = appearance.check(doc, objects)
    except RecoveryRefused as exc:  # an appearance's object pdfminer would read otherwise than others
        return reasons + [Reason("malformed_pdf", None, f"the signed revision can only be read by recovering it: {exc}")]
    except Exception as exc:
        return reasons + [Reason("appearance_mismatch", None, f"the appearances cannot be read: {type(exc).__name__}")]
    return reasons + [Reason("appearance_mismatch", m.field, m.message) for m in mismatches]
