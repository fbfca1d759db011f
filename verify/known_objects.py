"""Objects an earlier decision has read, found again by their bytes (verify.conformance's cache).

Most of what the structure check reads is the bank's blank, byte for byte the same in every
filled copy: its fonts (one with a 44 KB embedded program and 224 widths), the pages' resources
and contents, the drawings of fields left empty. Nothing else reads them with pyHanko, so
parsing them was most of the check's cost. Here a value computed from an object (its canonical
text, whether it is a stream, its content's digest) is kept with the exact bytes the object was
parsed from; a later document holding the same bytes for the same object number gets the same
value without parsing.

Why equal bytes give the same reading: pyHanko (strict) parses an object at the offset its
entry in the latest xref section gives, from ``N G obj`` to ``endobj``; the result depends on
those bytes only, except for an indirect stream ``/Length`` (such objects are never kept) and
the objects it refers to (kept values of a subtree are used only when every object in it has
its recorded bytes). An object's bytes run from its offset to the next offset at which any
object or xref section of the file starts, and a value is kept only when pyHanko's own parse
of the object ended within them (its stream position afterwards), in a file read in its
latest revision, unencrypted, with offsets (not object streams). Values that depend on where a
walk entered a reference cycle are never kept.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from forms.kept import Kept

#: Values kept per process (least recently used dropped first); the blank needs about 150.
MAX_KEPT = 4096

_KEPT = Kept(MAX_KEPT)
_get, _put, clear = _KEPT.get, _KEPT.put, _KEPT.clear

Ref = tuple[int, int]  # (object number, generation)


#: Longest value of one object kept (the blank's are digests and a few state names).
MAX_OWN_VALUE = 1024
#: Objects one kept text may depend on (the blank's largest, a page's resources, has about 20):
#: bounds what a document of many shared objects can make this keep.
MAX_MEMBERS = 64


@dataclass(frozen=True)
class Subtree:
    """A kept canonical text: every object it was computed from, with its bytes' digest."""

    text: str
    #: (ref, digest of its bytes, its canonical text, nodes of its own) of every object, the root too
    members: tuple[tuple[Ref, bytes, str, int], ...]
    own: int  # the root's own nodes
    depth: int  # deepest non-leaf node below the root's reference, relative to it, walking everything

    def members_digest(self, ref: Ref) -> bytes:
        return next(m[1] for m in self.members if m[0] == ref)


class FileObjects:
    """The objects of one file as pyHanko's reader of its latest revision finds them."""

    def __init__(self, reader: Any, data: bytes):
        self.reader = reader
        self.data = data
        self._bounds: list[int] | None = None
        self._digests: dict[Ref, bytes | None] = {}

    @classmethod
    def of(cls, reader: Any, data: bytes | None) -> "FileObjects | None":
        """None when the file cannot use kept values (no bytes, encrypted)."""
        if data is None:
            return None
        try:
            if reader.encrypted:
                return None
        except Exception:
            return None
        return cls(reader, data)

    def _boundaries(self) -> list[int]:
        if self._bounds is None:
            xrefs = self.reader.xrefs
            points = {len(self.data)}
            for revision in range(xrefs.total_revisions):
                meta = xrefs.get_xref_container_info(revision)
                points.update((meta.start_location, meta.declared_startxref))
                section = xrefs.get_xref_data(revision)
                for part in [section] + ([section.hybrid.xref_data] if section.hybrid is not None else []):
                    points.update(offset for _, offset in part.standard_xrefs.values())
            self._bounds = sorted(p for p in points if isinstance(p, int))
        return self._bounds

    def span(self, ref: Ref) -> tuple[int, int] | None:
        """[offset, next offset) of ``ref`` in the latest revision, or None (object stream, absent)."""
        from pyhanko.pdf_utils.generic import Reference

        try:
            marker = self.reader.xrefs[Reference(ref[0], ref[1])]
        except Exception:
            return None
        if not isinstance(marker, int) or isinstance(marker, bool) or not 0 <= marker < len(self.data):
            return None
        bounds = self._boundaries()
        i = bisect.bisect_right(bounds, marker)
        return (marker, bounds[i]) if i < len(bounds) else None

    def digest(self, ref: Ref) -> bytes | None:
        """SHA-256 of the object's bytes (with its number), or None."""
        if ref not in self._digests:
            span = self.span(ref)
            if span is None:
                self._digests[ref] = None
            else:
                h = hashlib.sha256(b"%d %d:" % ref)
                h.update(memoryview(self.data)[span[0]:span[1]])
                self._digests[ref] = h.digest()
        return self._digests[ref]

    def parse(self, indirect: Any) -> tuple[Any, bool]:
        """``indirect.get_object()``, and whether this parse may be kept: pyHanko read the object
        now (not from its cache), ended within its bytes, and its stream length is direct."""
        from pyhanko.pdf_utils import generic

        ref = (indirect.idnum, indirect.generation)
        fresh = (indirect.get_pdf_handler() is self.reader
                 and self.reader.cache_get_indirect_object(ref[1], ref[0]) is None)
        obj = indirect.get_object()
        if not fresh:
            return obj, False
        end = self.reader.stream.tell()
        span = self.span(ref)
        if span is None or not span[0] < end <= span[1]:
            return obj, False
        if isinstance(obj, generic.StreamObject) and isinstance(obj.raw_get("/Length"), generic.IndirectObject):
            return obj, False
        return obj, True

    def own(self, indirect: Any, what: str, compute: Callable[[Any], str]) -> str:
        """``compute(object)`` for a value that depends on the object alone, kept by its bytes."""
        ref = (indirect.idnum, indirect.generation)
        handler_ok = indirect.get_pdf_handler() is self.reader
        digest = self.digest(ref) if handler_ok else None
        key = (what, ref, digest)
        if digest is not None:
            value = _get(key)
            if value is not None:
                return value
        obj, keep = self.parse(indirect)
        value = compute(obj)
        if keep and digest is not None and len(value) <= MAX_OWN_VALUE:
            _put(key, value)
        return value

    def subtree(self, ref: Ref) -> Subtree | None:
        """The kept canonical text of ``ref`` if every object it was computed from has its bytes here."""
        digest = self.digest(ref)
        if digest is None:
            return None
        kept = _get(("canon", ref, digest))
        if kept is None:
            return None
        for member in kept.members:
            if self.digest(member[0]) != member[1]:
                return None
        return kept

    def keep_subtree(self, ref: Ref, subtree: Subtree) -> None:
        digest = self.digest(ref)
        if digest is not None:
            _put(("canon", ref, digest), subtree)
