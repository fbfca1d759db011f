"""Signed containers (ASiC-E with XAdES: ``.edoc``, ``.asice``, ``.sce``, ``.bdoc``).

A container is decided like a PAdES form (FORM.md, "Signatures from the customers' real
tools"): :mod:`.archive` opens the ZIP safely, :mod:`.manifest` reads ``META-INF/manifest.xml``,
:mod:`.xades` verifies each XAdES signature (B, T, LT, LTA), :mod:`.signer` judges a signer's
certificate under the same :class:`verify.policy.Policy` as PAdES, and :mod:`.decide` runs the
steps and hands the one contained PDF to the form stage of :mod:`verify.decision`.
Everything that breaks the container rules is ``container_invalid``.
"""

from __future__ import annotations

#: The ``mimetype`` entry of an ASiC-E container (ETSI EN 319 162-1).
ASICE_MIMETYPE = "application/vnd.etsi.asic-e+zip"
#: File name extensions that say "ASiC-E container" (Latvian eParaksts, Estonian DigiDoc).
EXTENSIONS = (".edoc", ".asice", ".sce", ".bdoc")
#: Content types that say so.
MEDIA_TYPES = frozenset({ASICE_MIMETYPE, "application/vnd.etsi.asic-e", "application/x-edoc", "application/x-bdoc"})

_ZIP_MAGIC = b"PK\x03\x04"


def sniff_container(head: bytes) -> bool:
    """True when the bytes begin like an ASiC-E container: a ZIP whose first entry is
    ``mimetype`` holding the ASiC-E media type (stored, so it is readable at a fixed offset)."""
    if not head.startswith(_ZIP_MAGIC) or len(head) < 30:
        return False
    name_len = int.from_bytes(head[26:28], "little")
    extra_len = int.from_bytes(head[28:30], "little")
    if head[30 : 30 + name_len] != b"mimetype":
        return False
    start = 30 + name_len + extra_len
    return head[start : start + len(ASICE_MIMETYPE)] == ASICE_MIMETYPE.encode()


def looks_like_zip(data: bytes) -> bool:
    """Any ZIP (a container with a broken ``mimetype`` is still judged as a container)."""
    return data[:4] == _ZIP_MAGIC


def declares_container(ctype: str, filename: str | None) -> bool:
    name = (filename or "").lower().rstrip(". ")
    return ctype in MEDIA_TYPES or name.endswith(EXTENSIONS)
