"""Structural limits, counted in the raw bytes before any parser runs (issue 12, "bounded").

pyHanko's xref reader, pdfminer's and the field walks build Python objects per object, per
xref entry and per field: an xref of 900,000 entries cost 510 MB, 250,000 extra fields 775 MB.
Counting first bounds them all, whatever path a parser takes:

* objects: ``N G obj`` headers, plus the ``/N`` (objects held) of every dictionary, which
  over-counts object streams' contents but never under-counts them (a stream cannot sit in an
  object stream, so every object stream's ``/N`` is in the clear);
* xref entries: classic 20-byte entry lines, plus what xref stream dictionaries declare
  (``/Index`` counts, else ``/Size``), plus the largest ``/Size`` any trailer declares;
* revisions: ``startxref`` markers;
* fields: ``/T`` keys with a string value, in the clear (fields inside object streams are
  bounded by the object count, the decoding limits, and the field walks' own count).

:func:`count_after_open` repeats the counts on what pyHanko actually parsed (xref entries,
revisions), and :func:`verify.decision` bounds the field walks with ``policy.max_fields``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OBJ = re.compile(rb"(?<![0-9])\d{1,10}[ \t\r\n\f\x00]+\d{1,5}[ \t\r\n\f\x00]+obj(?![A-Za-z0-9])")
#: ``/N 12`` but not ``/N 12 0 R`` (an appearance dictionary's normal appearance)
_N = re.compile(rb"/N[ \t\r\n\f\x00]+(\d{1,12})(?![0-9.])(?![ \t\r\n\f\x00]+\d{1,5}[ \t\r\n\f\x00]+R(?![A-Za-z]))")
_XREF_LINE = re.compile(rb"\d{10} \d{5} [nf]")
_SIZE = re.compile(rb"/Size[ \t\r\n\f\x00]+(\d{1,12})")
_INDEX = re.compile(rb"/Index[ \t\r\n\f\x00]*\[([0-9 \t\r\n\f\x00]{0,20000})\]")
_STARTXREF = re.compile(rb"startxref")
#: a /T key with a string value: a field's partial name (or a markup annotation's author)
_T_STRING = re.compile(rb"/T[ \t\r\n\f\x00]*[(<]")


@dataclass(frozen=True)
class Counts:
    objects: int
    xref_entries: int
    revisions: int
    fields: int


def count_raw(data: bytes, policy=None) -> Counts:
    """Upper bounds of what a parser of ``data`` may build.

    With ``policy``, the two patterns that cannot start with a literal (object headers, xref
    lines) are matched only when a cheap literal count says the limit may be near: a form of
    150 KB is counted in about a millisecond instead of seven.
    """
    headers = data.count(b"obj")  # >= the object headers (and their "endobj")
    if policy is None or headers > policy.max_objects // 2:
        headers = _count(_OBJ, data)
    objects = headers + sum(int(m.group(1)) for m in _N.finditer(data))
    declared = 0
    for m in _INDEX.finditer(data):
        numbers = [int(x) for x in m.group(1).split()]
        declared += sum(numbers[1::2])
    sizes = [int(x) for x in _SIZE.findall(data)]
    lines = data.count(b" n") + data.count(b" f")  # >= the 20-byte xref entry lines
    if policy is None or lines > policy.max_xref_entries // 2:
        lines = _count(_XREF_LINE, data)
    entries = lines + declared + (max(sizes) if sizes else 0)
    return Counts(objects=objects, xref_entries=entries, revisions=_count(_STARTXREF, data),
                  fields=_count(_T_STRING, data))


def _count(pattern: re.Pattern, data: bytes) -> int:
    """Matches, without keeping them (an 18 MB xref has 900,000)."""
    return sum(1 for _ in pattern.finditer(data))


def over_limits(counts: Counts, policy) -> str | None:
    """Why ``counts`` exceed ``policy``, or None."""
    for have, limit, what in (
        (counts.revisions, policy.max_revisions, "revisions (startxref markers)"),
        (counts.xref_entries, policy.max_xref_entries, "cross-reference entries"),
        (counts.objects, policy.max_objects, "objects"),
        (counts.fields, policy.max_fields, "named fields (/T)"),
    ):
        if have > limit:
            return f"the PDF has {have} {what}; the limit is {limit}"
    return None


def parsed_entries(reader) -> int:
    """Cross-reference entries pyHanko parsed, over all revisions."""
    total = 0
    for revision in range(reader.xrefs.total_revisions):
        data = reader.xrefs.get_xref_data(revision)
        for section in [data] + ([data.hybrid.xref_data] if data.hybrid is not None else []):
            total += len(section.standard_xrefs) + len(section.xrefs_in_objstm) + len(section.freed)
    return total
