"""Generations: every reference the document uses names one object, the same in pyHanko and pdfminer.

poppler's incremental save (Evince, Okular) writes some objects again as generation 1 (``38 1 obj``,
xref entry ``... 00001 n``) without a free entry for generation 0 first. pyHanko's strict reader
refuses that ("orphaned generation"). Read anyway, the two parsers resolve a reference differently:
pyHanko resolves ``38 0 R`` to the older generation-0 object (a newer entry of another generation
does not match), pdfminer drops generations and takes the newest entry, so a page or widget that
names ``38 0 R`` would be judged on one object and drawn from the other (FORM.md, one reading).
poppler itself leaves those objects unreferenced: the widget is pointed at a new object in the same
update, so they are garbage no reader looks at.

Two parts:

* :func:`orphans_tolerated`: pyHanko's strict reader, with the xref consistency check run on the
  sections without such orphaned generation entries (every other check of pyHanko's unchanged), and
  the orphans recorded as ``(revision, object number, generation)``. The decision refuses them in a
  revision after the signed one (only the signed revision is read for the form).
* :func:`differing_reference`: every reference reachable from the signed revision's trailer (walked
  with pyHanko, which keeps generations) must resolve to the same place, or to nothing, in pyHanko's
  xref sections and in pdfminer's (``doc.xrefs``, newest first, generation ignored). A reference
  whose generation is not its object's live one is ``malformed_pdf``; an orphan nothing names is
  ignored. Bounded by the number of objects (``max_objects``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Any, Iterator

_TOLERATED: contextvars.ContextVar[list | None] = contextvars.ContextVar("orphans_tolerated", default=None)
_INSTALLED = False


class TooManyObjects(Exception):
    """The reference walk reached more objects than the policy allows."""


def _orphans(sections: list) -> list[tuple[int, int, int]]:
    """(revision, object number, generation) of the in-use entries of a generation above 0 that no
    earlier section freed with that next generation: pyHanko's "orphaned generation" condition. In a
    hybrid file's stream section they are left to pyHanko's own check (its special case)."""
    found = []
    freed_before: list[dict[int, int]] = []
    for revision, section in enumerate(sections):
        data = section.xref_data
        if data.hybrid is not None:  # pyHanko checks a section after its own hybrid stream
            freed_before.append(data.hybrid.xref_data.freed)
        for idnum, (generation, _) in data.standard_xrefs.items():
            if generation > 0 and not any(freed.get(idnum) == generation for freed in freed_before):
                found.append((revision, idnum, generation))
        freed_before.append(data.freed)
    return found


def _without(section, hidden: set[tuple[int, int]]):
    """A copy of ``section`` without the ``hidden`` (object number, generation) in-use entries."""
    data = section.xref_data
    kept = {i: entry for i, entry in data.standard_xrefs.items() if (i, entry[0]) not in hidden}
    if len(kept) == len(data.standard_xrefs):
        return section
    copy = type(data)()
    copy.__dict__.update(data.__dict__)
    copy.standard_xrefs = kept
    return dataclasses.replace(section, xref_data=copy)


def install() -> None:
    """Wrap pyHanko's xref consistency check once; it tolerates orphans only inside
    :func:`orphans_tolerated` (every other reader in the process is unchanged)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from pyhanko.pdf_utils import xref

    original = xref._check_xref_consistency

    def check(sections):
        tolerated = _TOLERATED.get()
        if tolerated is None:
            return original(sections)
        orphans = _orphans(sections)
        by_revision: dict[int, set[tuple[int, int]]] = {}
        for revision, idnum, generation in orphans:
            by_revision.setdefault(revision, set()).add((idnum, generation))
        original([_without(s, by_revision.get(i, set())) for i, s in enumerate(sections)])
        tolerated.extend(orphans)

    xref._check_xref_consistency = check
    _INSTALLED = True


@contextlib.contextmanager
def orphans_tolerated() -> Iterator[list[tuple[int, int, int]]]:
    """Inside: pyHanko readers built here tolerate orphaned generations; yields the list they fill."""
    install()
    found: list[tuple[int, int, int]] = []
    token = _TOLERATED.set(found)
    try:
        yield found
    finally:
        _TOLERATED.reset(token)


def _pdfminer_location(doc, idnum: int) -> tuple[int | None, int] | None:
    for xref in doc.xrefs:
        try:
            strmid, index, _ = xref.get_pos(idnum)
        except KeyError:
            continue
        return strmid, index
    return None


def _pyhanko_location(reader, ref, revision: int) -> tuple[int | None, int] | None:
    from pyhanko.pdf_utils.xref import ObjStreamRef

    marker = reader.xrefs.get_historical_ref(ref, revision)
    if marker is None:
        return None
    if isinstance(marker, ObjStreamRef):
        return marker.obj_stream_id, marker.ix_in_stream
    return None, marker


def _references(obj: Any) -> Iterator[Any]:
    """The indirect references directly inside ``obj`` (a direct object tree, streams' dictionaries)."""
    from pyhanko.pdf_utils import generic

    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, generic.IndirectObject):
            yield item.reference
        elif isinstance(item, generic.DictionaryObject):  # a stream is one; its data is never decoded
            stack.extend(item.raw_get(key) for key in item)
        elif isinstance(item, generic.ArrayObject):
            stack.extend(item.raw_get(i) for i in range(len(item)))


def _kept_references(file, view, ref) -> list[Any]:
    """The references inside the object ``ref``, kept by its bytes (verify.known_objects): the
    bank's blank is byte for byte the same in every filled copy, and parsing its fonts, pages and
    drawings again for every form was most of this walk's cost."""
    from pyhanko.pdf_utils import generic

    text = file.own(generic.IndirectObject(ref.idnum, ref.generation, file.reader), "references",
                    lambda obj: " ".join(f"{r.idnum}.{r.generation}" for r in _references(obj)))
    return [generic.Reference(int(n), int(g), view) for n, g in (item.split(".") for item in text.split())]


def differing_reference(reader, revision: int, doc, max_objects: int, file=None) -> str | None:
    """The first reference of ``revision`` (pyHanko's reader of the whole file) that pyHanko and
    pdfminer's ``doc`` (of that revision's bytes) resolve to different objects, as a message.
    ``file``: verify.known_objects.FileObjects of ``reader`` (used only when ``revision`` is the
    latest), so that the references of objects seen before byte for byte are not parsed again."""
    latest = revision == reader.xrefs.total_revisions - 1
    view = reader if latest else reader.get_historical_resolver(revision)
    if not latest:
        file = None
    trailer = view.trailer_view
    pending = [trailer.raw_get(key) for key in trailer if key not in ("/Prev", "/XRefStm")]
    pending = [ref for item in pending for ref in _references(item)]
    seen: set[tuple[int, int]] = set()
    while pending:
        ref = pending.pop()
        key = (ref.idnum, ref.generation)
        if key in seen:
            continue
        seen.add(key)
        if len(seen) > max_objects:
            raise TooManyObjects(f"the document references more than {max_objects} objects")
        ours, theirs = _pyhanko_location(reader, ref, revision), _pdfminer_location(doc, ref.idnum)
        if ours != theirs:
            return (
                f"the reference {ref.idnum} {ref.generation} R names another object for the field reader "
                "than for the signature validator (a generation that is not the object's live one)"
            )
        if ours is not None and file is not None and ours[0] is None:  # not in an object stream
            pending.extend(_kept_references(file, view, ref))
        elif ours is not None:
            pending.extend(_references(view.get_object(ref)))
    return None
