"""The file ends where its last revision ends (FORM.md, "What the customer saw is what is applied").

pyHanko finds the last revision from the final ``startxref`` and reads what follows the signed
revision only through the xref chain; anything else in the file is invisible to it, yet a viewer
may render it (a viewer that recovers the file from its objects, or that reads the last xref
section it finds). So, outside what the chain explains:

* :func:`trailing_bytes`: bytes after the final ``%%EOF`` beyond one end-of-line (an incremental
  update appended without ``%%EOF`` is exactly that: pyHanko reads it as trailing junk);
* :func:`unreached_after`: after the signed revision, every ``N G obj`` header must be an object
  a later revision's xref section lists at that offset (or a later xref stream), and there must
  be exactly one ``startxref`` per later revision (objects plus an xref appended while the last
  ``startxref`` still points at the signed xref fail both);
* :func:`visible_widget`: a document timestamp's widget must be invisible by direct values: a
  zero-area ``/Rect`` of direct numbers or the Hidden flag in a direct ``/F``. Indirect numbers are
  refused: the object they name can be changed in an update (prepared, unused number objects
  turn a "zero" rectangle into a visible overlay).
"""

from __future__ import annotations

import re

_EOF = b"%%EOF"
_ONE_EOL = (b"", b"\n", b"\r", b"\r\n")
#: An indirect object header; the look-behind keeps "12 0 obj" from matching inside "312 0 obj".
_OBJ_HEADER = re.compile(rb"(?<![0-9])(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj(?![A-Za-z0-9])")
_STARTXREF = re.compile(rb"startxref")
#: Annotation flag bits (ISO 32000-2, 12.5.3): Hidden, NoView.
_HIDDEN, _NOVIEW = 2, 32


def trailing_bytes(data: bytes) -> str | None:
    """Why the bytes after the final ``%%EOF`` are not allowed, or None when at most one EOL follows."""
    end = data.rfind(_EOF)
    if end < 0:
        return "the file has no %%EOF marker"
    rest = data[end + len(_EOF):]
    if rest in _ONE_EOL:
        return None
    return f"{len(rest)} bytes follow the final %%EOF"


def _listed_offsets(reader, first_revision: int) -> set[int]:
    """Offsets of the objects (and xref streams) that revisions ``first_revision``.. write."""
    offsets: set[int] = set()
    for revision in range(first_revision, reader.xrefs.total_revisions):
        data = reader.xrefs.get_xref_data(revision)
        sections = [data] + ([data.hybrid.xref_data] if data.hybrid is not None else [])
        for section in sections:
            offsets.update(offset for _generation, offset in section.standard_xrefs.values())
        metas = [reader.xrefs.get_xref_container_info(revision)]
        if data.hybrid is not None:  # a hybrid file's /XRefStm stream
            metas.append(data.hybrid.meta_info)
        for meta in metas:
            if meta.stream_ref is not None:
                offsets.add(meta.start_location)
                offsets.add(meta.declared_startxref)
    return offsets


def unreached_after(reader, data: bytes, signed_end: int, signed_revision: int) -> str | None:
    """What the bytes after the signed revision hold that the xref chain does not reach, or None."""
    later = reader.xrefs.total_revisions - 1 - signed_revision
    tail = data[signed_end:]
    startxrefs = len(_STARTXREF.findall(tail))
    if startxrefs != later:
        return (
            f"{startxrefs} startxref marker(s) follow the signed revision for {later} update(s) "
            "that the xref chain reaches"
        )
    listed = _listed_offsets(reader, signed_revision + 1)
    stray = [m for m in _OBJ_HEADER.finditer(tail) if signed_end + m.start() not in listed]
    if stray:
        first = stray[0]
        return (
            f"{len(stray)} object(s) after the signed revision that no xref section lists "
            f"(the first: {int(first.group(1))} {int(first.group(2))} obj at byte {signed_end + first.start()})"
        )
    return None


def _is_direct_number(value) -> bool:
    from pyhanko.pdf_utils import generic

    return isinstance(value, (generic.NumberObject, generic.FloatObject)) and not isinstance(value, bool)


def visible_widget(widget) -> str | None:
    """Why a widget may be visible, or None when direct values make it invisible."""
    from pyhanko.pdf_utils import generic

    flags = widget.raw_get("/F") if "/F" in widget else None
    if isinstance(flags, generic.NumberObject) and int(flags) & (_HIDDEN | _NOVIEW):
        return None
    rect = widget.raw_get("/Rect") if "/Rect" in widget else None
    if not isinstance(rect, generic.ArrayObject) or len(rect) != 4:
        return "its /Rect is not a direct array of four numbers"
    raw = [rect.raw_get(i) for i in range(4)]
    if not all(_is_direct_number(v) for v in raw):
        return "its /Rect uses indirect or non-numeric values"
    x1, y1, x2, y2 = (float(v) for v in raw)
    if x1 == x2 or y1 == y2:
        return None
    return "its /Rect has an area and it is not hidden"


def timestamp_widget_problem(sig_field) -> str | None:
    """Why a document timestamp's field may show something, or None."""
    from pyhanko.pdf_utils import generic

    kids = sig_field.raw_get("/Kids") if "/Kids" in sig_field else None
    if kids is None:
        widgets = [sig_field]
    else:
        kids = kids.get_object()
        if not isinstance(kids, generic.ArrayObject):
            return "its /Kids is not an array"
        widgets = [k.get_object() for k in kids]
    for widget in widgets:
        if not isinstance(widget, generic.DictionaryObject):
            return "a widget is not a dictionary"
        why = visible_widget(widget)
        if why:
            return why
    return None
