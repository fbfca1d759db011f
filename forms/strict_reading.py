"""pdfminer without its recovery paths: one reading of a PDF, or none (FORM.md, "One reading").

pdfminer recovers silently where pyHanko (strict) refuses, and what it recovers is another
document than the one the signature validator saw:

* an xref section it cannot read (a subsection header with two spaces or a tab) makes
  ``PDFDocument`` scan the whole file for ``obj`` headers (``PDFXRefFallback``): it finds an
  OLDER revision's objects, and it decodes every stream on the way, referenced or not (a 1.2 MB
  file with an unreferenced object stream peaked at 2.1 GB);
* a broken ``/Prev`` section leaves the newer sections read and the older ones missing;
* an object that does not parse at its offset is looked up in the next (older) xref section;
* an offset pointing at another object number is "repaired" by reading on to the next ``obj``;
* an object header naming another generation than its xref entry is read all the same;
* a dictionary that names a key twice keeps the last value in pdfminer (and pdfium), the first in
  pyHanko's lenient reader and in other viewers: which one counts depends on who reads;
* a stream whose ``/Length`` ends before its ``endstream`` is read to ``/Length`` by pdfminer and
  to ``endstream`` by pdfium: the bytes between are drawn by the viewer only.

pdfminer also drops the generation of every reference (``38 0 R`` is object 38, whatever its
generation): ``verify.generations`` checks, before anything is read, that every reachable
reference leads where pyHanko's does.

:class:`StrictPDFDocument` turns each of those into :class:`RecoveryRefused` before anything is
read, and pdfplumber is made to build its documents with it (:func:`install`), so no recovery
parser can decide anything or spend memory, in every pdfplumber use of the process.
"""

from __future__ import annotations

import bisect
import hashlib
from typing import NamedTuple

from pdfminer.pdfdocument import PDFDocument, PDFNoValidXRef, PDFXRef
from pdfminer.pdfexceptions import PDFException
from pdfminer.pdfparser import PDFParser, PDFStreamParser, PDFSyntaxError
from pdfminer.pdftypes import PDFObjRef, PDFStream
from pdfminer.psparser import PSEOF, PSBaseParser, PSLiteral

from forms.kept import Kept


class RecoveryRefused(PDFException):
    """pdfminer would have had to recover a damaged file. Not a PDFSyntaxError on purpose:
    pdfminer catches those to try the next, older, xref section."""


class _EachKeyOnce:
    """A parser that refuses a dictionary naming one key twice (``<< /V (a) /V (b) >>``, also
    spelled ``/#56``): pdfminer would keep the last value where pyHanko keeps the first."""

    def end_type(self, type_):
        pos, objs = super().end_type(type_)
        if type_ == "d":
            keys = [k.name if isinstance(k, PSLiteral) else k for k in objs[0::2]]
            if len(set(keys)) != len(keys):
                raise RecoveryRefused("a dictionary names the same key twice")
        return pos, objs


class _Parser(_EachKeyOnce, PDFParser):
    def do_keyword(self, pos: int, token) -> None:
        super().do_keyword(pos, token)
        if token is self.KEYWORD_STREAM and self.curstack:
            self._stream_ends_at_its_length(pos, self.curstack[-1][1])

    def _stream_ends_at_its_length(self, pos: int, stream) -> None:
        """Only an end of line may lie between the ``/Length`` bytes and ``endstream``: pdfminer
        skips whatever else is there, pdfium draws it."""
        import re

        end = self.bufpos + self.charpos  # pdfminer has moved on to the "endstream" line
        self.fp.seek(pos)
        head = re.match(rb"stream[^\r\n]{0,64}(\r\n|\n|\r)", self.fp.read(96))
        start = pos + (head.end() if head else 0)
        self.fp.seek(start + len(stream.rawdata))
        between = self.fp.read(max(end - start - len(stream.rawdata), 0) + 16)
        PSBaseParser.seek(self, end)  # back where pdfminer was, its object stack kept
        if head is None or not re.match(rb"[\r\n\t \x00\x0c]*endstream", between):
            raise RecoveryRefused("a stream's data does not end at its /Length")


class _StreamParser(_EachKeyOnce, PDFStreamParser):
    pass


class StrictPDFDocument(PDFDocument):
    """pdfminer's document, reading objects only where the xref chain says they are."""

    def __init__(self, parser, password: str = "", caching: bool = True, fallback: bool = False) -> None:
        self._bounds: list[int] | None = None
        if type(parser) is PDFParser:  # not from pdfplumber (install() gives it _Parser): refuse repeated keys
            parser.__class__ = _Parser  # works, but CPython reads the attributes of such an object slower
        super().__init__(parser, password=password, caching=caching, fallback=False)
        if parser.fallback:  # nothing above sets it; never read streams by scanning for endstream
            raise RecoveryRefused("pdfminer's fallback parser was switched on")

    def find_xref(self, parser) -> int:
        try:
            return super().find_xref(parser)
        except PDFNoValidXRef as exc:
            raise RecoveryRefused(f"no readable startxref: {exc}") from exc

    def read_xref_from(self, parser, start: int, xrefs) -> None:
        try:
            super().read_xref_from(parser, start, xrefs)
            for xref in xrefs:
                trailer = xref.get_trailer()
                if "Encrypt" in trailer and trailer["Encrypt"] is None:
                    del trailer["Encrypt"]  # ISO 32000: a null value is an absent key (pyHanko agrees)
        except PDFNoValidXRef as exc:
            raise RecoveryRefused(f"an xref section cannot be read: {exc}") from exc
        except (PSEOF, PDFSyntaxError) as exc:
            raise RecoveryRefused(f"an xref section cannot be read: {type(exc).__name__}") from exc

    def _getobj_parse(self, pos: int, objid: int) -> object:
        parser = self._parser
        try:
            parser.seek(pos)
            (_, objid1) = parser.nexttoken()
            (_, _genno) = parser.nexttoken()
            (_, kwd) = parser.nexttoken()
        except PSEOF as exc:
            raise RecoveryRefused(f"object {objid} is not at the offset its xref entry gives") from exc
        if objid1 != objid or kwd is not self.KEYWORD_OBJ:
            raise RecoveryRefused(f"object {objid} is not at the offset its xref entry gives")
        if _genno != self._live_generation(objid):
            # pyHanko refuses an object whose header names another generation than its entry
            raise RecoveryRefused(f"object {objid}'s header names another generation than its xref entry")
        key = self._bytes_key(pos, objid)
        kept = _get_kept(key) if key is not None else None
        if kept is not None:
            return _bind(kept, self)
        try:
            (_, obj) = parser.nextobject()
        except (PSEOF, PDFSyntaxError) as exc:
            raise RecoveryRefused(f"object {objid} cannot be parsed: {type(exc).__name__}") from exc
        if key is not None and parser.bufpos + parser.charpos <= key[3] and key[3] - pos <= MAX_KEPT_BYTES:
            _keep(key, obj)
        return obj

    def _bytes_key(self, pos: int, objid: int) -> tuple | None:
        """(object number, its live generation, the SHA-256 of its bytes, where they end): its bytes
        run from ``pos`` to the next offset any xref entry of the file gives (or the end)."""
        data = getattr(self._parser.fp, "getvalue", None)
        if data is None:
            return None
        if self._bounds is None:
            if not all(type(xref) is PDFXRef for xref in self.xrefs):  # xref streams: no offsets to cut at
                self._bounds = []
            else:
                self._data = data()
                offsets = {at for xref in self.xrefs for (strmid, at, _gen) in xref.offsets.values() if strmid is None}
                self._bounds = sorted(offsets | {len(self._data)})
        if not self._bounds:
            return None
        i = bisect.bisect_right(self._bounds, pos)
        end = self._bounds[i] if i < len(self._bounds) else len(self._data)
        digest = hashlib.sha256(memoryview(self._data)[pos:end]).digest()
        return objid, self._live_generation(objid), digest, end

    def _live_generation(self, objid: int) -> int | None:
        """The generation of the newest xref entry of ``objid`` (the one ``getobj`` reads)."""
        for xref in self.xrefs:
            try:
                return xref.get_pos(objid)[2]
            except KeyError:
                continue
        return None

    def _get_objects(self, stream):
        """pdfminer's own, with the object stream read by a parser that refuses repeated keys."""
        from pdfminer.pdfdocument import LITERAL_OBJSTM

        if stream.get("Type") is not LITERAL_OBJSTM or not isinstance(stream.get("N"), int):
            raise RecoveryRefused("an object stream without /Type /ObjStm or /N")
        parser = _StreamParser(stream.get_data())
        parser.set_document(self)
        objs: list[object] = []
        try:
            while True:
                objs.append(parser.nextobject()[1])
        except PSEOF:
            pass
        return objs, stream["N"]

    def _getobj_objstm(self, stream, index: int, objid: int) -> object:
        try:
            return super()._getobj_objstm(stream, index, objid)
        except (PSEOF, PDFSyntaxError) as exc:
            raise RecoveryRefused(f"object {objid} cannot be read from its object stream") from exc


# ---- objects read before, found again by their bytes --------------------------------------------------
# The bank's blank is byte for byte the same in every filled copy: its country lists (two fields of
# 250 UTF-16 names written as octal escapes) were most of what pdfminer parsed for every form. An
# object that is not a stream, whose parse ended within its bytes, is kept as a template by
# (number, live generation, digest of its bytes); a later document with the same bytes there gets
# a copy whose references are bound to it. A stream is never kept (its /Length may be indirect).

#: Templates kept per process (least recently used dropped first); the blank has about 100 objects.
MAX_KEPT = 2048
#: Largest object kept, in bytes (a country list is 10 KB): what a hostile file can make this hold.
MAX_KEPT_BYTES = 64 * 1024
_KEPT = Kept(MAX_KEPT)


class _KeptRef(NamedTuple):
    objid: int


def _template(obj: object, depth: int = 0) -> object:
    if depth > 32:
        raise ValueError("too deep to keep")
    if isinstance(obj, PDFObjRef):
        return _KeptRef(obj.objid)
    if isinstance(obj, list):
        return [_template(item, depth + 1) for item in obj]
    if isinstance(obj, dict):
        return {key: _template(value, depth + 1) for key, value in obj.items()}
    if isinstance(obj, PDFStream):
        raise ValueError("streams are not kept")
    return obj  # numbers, bytes, bools, None, pdfminer's interned literals and keywords


def _bind(template: object, doc: PDFDocument) -> object:
    if isinstance(template, _KeptRef):
        return PDFObjRef(doc, template.objid)
    if isinstance(template, list):
        return [_bind(item, doc) for item in template]
    if isinstance(template, dict):
        return {key: _bind(value, doc) for key, value in template.items()}
    return template


def _get_kept(key: tuple) -> object | None:
    return _KEPT.get(key[:3])


def _keep(key: tuple, obj: object) -> None:
    try:
        template = _template(obj)
    except ValueError:
        return
    _KEPT.put(key[:3], template)


def clear_kept() -> None:
    _KEPT.clear()


def install() -> None:
    """Make pdfplumber (``pdfplumber.open``) build every document with :class:`StrictPDFDocument`
    on a parser that refuses repeated keys and streams longer than their ``/Length``."""
    import pdfplumber.pdf

    pdfplumber.pdf.PDFDocument = StrictPDFDocument
    pdfplumber.pdf.PDFParser = _Parser
