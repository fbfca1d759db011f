"""Template conformance: is the signed revision the bank's blank form, only filled in and signed?

FORM.md, "What the customer saw is what is applied": the signed revision must be the blank of
the ``form_version`` it names plus only what a PDF reader does when a customer fills it in and
what a signing tool does when it signs. Anything else is ``form_altered``, naming what differs.

Structures are compared, not bytes (readers rewrite files): :func:`structure` flattens a document
(as pyHanko's resolver of the signed revision sees it) into ``path -> canonical value``: the
catalog's entries, the AcroForm's entries, every field (by its full name, escaped so that
``"phone "`` and ``"phone\\xa0"`` are not ``"phone"``) with all its keys, every page's entries with
its decoded content and its resources (fonts and XObjects hashed after decoding), and every
page's annotations named by the field they belong to. The published blanks' structures are
committed in ``verify/published/`` (a test renders them again and must get the same), so a
decision never renders a blank and an accidental change of the blank fails a test, not customers.

What may differ from the blank is declared below, each entry measured from a real filler or
signer (see the README, "Template conformance").
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from forms.schema import FIELDS, FORM_VERSION, IDENTITY_FIELDS, SIGNATURE_FIELD

PUBLISHED_DIR = Path(__file__).with_name("published")
#: Every published (form_version, lang) whose blank is accepted; a retired one is removed here.
PUBLISHED: tuple[tuple[str, str], ...] = ((FORM_VERSION, "lv"), (FORM_VERSION, "en"))

#: What a reader writes into a field when the customer fills it in (value, checkbox state,
#: selected option indices /I, a list's scroll position /TI (pdftk), the widget's modification date
#: /M (poppler, Acrobat), regenerated appearance). Which appearances /AP holds may not change (see _field).
FILLED_KEYS = frozenset({"/V", "/AS", "/AP", "/I", "/TI", "/M"})
#: What a signing tool writes into the signature field it signs.
SIGNED_KEYS = frozenset({"/V", "/AP", "/AS", "/Lock", "/SV"})
#: AcroForm entries a reader or signer may set: /NeedAppearances (readers that do not draw),
#: /SigFlags (signers). In /DR a reader may add a font it drew a value with (see _allowed).
ACROFORM_MAY_SET = frozenset({"/NeedAppearances", "/SigFlags"})
#: Catalog entries a reader or signer may add or rewrite: XMP metadata (its /FormId and
#: /FormVersion are checked by forms.rules), DocMDP permissions and the version/extension
#: markers of a PAdES signer.
CATALOG_MAY_SET = frozenset({"/Metadata", "/Perms", "/Version", "/Extensions"})
#: The bank's personal pre-filled variant (issue 13, ``forms.prefill.personal_form``) sets the
#: ReadOnly flag (Ff bit 1) on exactly these identity fields, nothing else.
PREFILLED_READ_ONLY = frozenset({"id_country", "personal_code", "first_name", "last_name", "date_of_birth"})
_READ_ONLY = 1
#: pyHanko's field filler (``populate_static_text_field``) makes a text field read-only and drops its
#: /DA, its drawing being static: neither changes what is shown, which the appearance check compares.
_TEXT_FIELDS = frozenset(f.name for f in FIELDS if f.kind in ("text", "date"))
#: Field types whose values are fixed by the blank (the hidden identity fields).
_FIXED_FIELDS = frozenset(IDENTITY_FIELDS)
_MAX_DEPTH = 40
_MAX_NODES = 20000
_MAX_NAMED = 5  # differences named in the message


class ConformanceError(Exception):
    """The structure cannot be walked (cycles, too deep, too big): never the bank's form."""


@dataclass(frozen=True)
class Difference:
    path: str
    what: str  # "added", "removed", "changed"

    def __str__(self) -> str:
        return f"{self.path} {self.what}"


# -- canonical values ---------------------------------------------------------------------------


class _Canon:
    """Canonical, bounded text for PDF objects; an indirect object's text is computed once.

    With ``file`` (verify.known_objects.FileObjects of the reader's latest revision), the text of
    an indirect object whose every object has the bytes an earlier document had is taken from
    there, and texts computed here are kept for later documents (see :class:`_Frame`).
    """

    def __init__(self, file: Any = None) -> None:
        self.memo: dict[tuple[int, int], str] = {}
        self.nodes = 0
        self.file = file
        self.frames: list[_Frame] = []
        #: per finished indirect object: the objects its text was computed from (None: not keepable,
        #: or known only as part of a kept subtree)
        self.reach: dict[tuple[int, int], frozenset | None] = {}
        #: per finished object of a keepable subtree: (digest of its bytes, text, own nodes, full depth)
        self.info: dict[tuple[int, int], tuple[bytes, str, int, int | None]] = {}

    def __call__(self, obj: Any, depth: int = 0, skip: frozenset[str] = frozenset()) -> str:
        self.nodes += 1
        leaf = _LEAVES.get(type(obj))
        if leaf is not None:  # most objects: names, numbers, strings (a dict lookup, no isinstance chain)
            return leaf(obj)
        if self.nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise ConformanceError("the document's objects nest too deeply or are too many")
        if self.frames:
            self.frames[-1].deepest = max(self.frames[-1].deepest, depth)
        generic = _generic()
        if isinstance(obj, generic.IndirectObject):
            key = (obj.idnum, obj.generation)
            if key in self.memo:
                if self.frames:
                    self._reached(key, depth)
                return self.memo[key]
            if self.file is not None and not skip:
                kept = self._kept(key, depth)
                if kept is not None:
                    return kept
            return self._indirect(obj, key, depth, skip)
        if isinstance(obj, generic.StreamObject):
            head = self._dict(obj, depth, skip | {"/Length", "/Filter", "/DecodeParms", "/DL"})
            data = b"" if not obj.encoded_data else obj.data  # qpdf keeps empty streams "FlateDecode"
            data = _without_font_dates(data) if "/Length1" in obj else data
            return _short(f"stream{head}:{hashlib.sha256(data).hexdigest()}")
        if isinstance(obj, generic.DictionaryObject):
            return _short(self._dict(obj, depth, skip))
        if isinstance(obj, generic.ArrayObject):
            return _short("[" + ",".join([self(v, depth + 1) for v in obj]) + "]")
        if obj is None:
            return "null"
        return ascii(obj)

    def _dict(self, obj: Any, depth: int, skip: frozenset[str]) -> str:
        items = sorted((str(k), obj.raw_get(k)) for k in obj if str(k) not in skip and str(k) not in ("/Parent", "/P"))
        return "{" + ",".join([f"{k}:{self(v, depth + 1)}" for k, v in items]) + "}"

    def _indirect(self, obj: Any, key: tuple[int, int], depth: int, skip: frozenset[str]) -> str:
        self.memo[key] = "<cycle>"
        if self.file is None:
            text = self(obj.get_object(), depth + 1, skip)
            self.memo[key] = text
            return text
        target, keepable = self.file.parse(obj)
        frame = _Frame(key, depth, self.nodes, keepable and not skip)
        self.frames.append(frame)
        try:
            text = self(target, depth + 1, skip)
        finally:
            self.frames.pop()
        self.memo[key] = text
        self._finish(frame, text)
        if self.frames:
            self.frames[-1].inner += self.nodes - frame.start
            self._reached(key, depth)
        return text

    def _finish(self, frame: "_Frame", text: str) -> None:
        """Record what ``frame``'s object was computed from; keep its text if it may be kept."""
        from verify.known_objects import MAX_MEMBERS, Subtree

        digest = self.file.digest(frame.ref) if frame.keepable else None
        if digest is None or any(self.reach.get(c) is None for c in frame.children):
            self.reach[frame.ref] = None
            return
        reach = frozenset({frame.ref}).union(*(self.reach[c] for c in frame.children))
        if len(reach) > MAX_MEMBERS:
            self.reach[frame.ref] = None
            return
        own = self.nodes - frame.start - frame.inner
        full = max([frame.deepest - frame.depth] + [d + self.info[c][3] for c, d in frame.children.items()])
        self.reach[frame.ref] = reach
        self.info[frame.ref] = (digest, text, own, full)
        members = tuple((r, *self.info[r][:3]) for r in sorted(reach))
        self.file.keep_subtree(frame.ref, Subtree(text, members, own, full))

    def _reached(self, key: tuple[int, int], depth: int) -> None:
        """The innermost object being computed refers to ``key`` (finished, or in progress: a cycle)."""
        frame = self.frames[-1]
        if any(f.ref == key for f in self.frames) or self.reach.get(key) is None:
            for f in self.frames:  # a text that depends on where the walk entered a cycle is never kept
                f.keepable = False
            return
        frame.children[key] = max(frame.children.get(key, 0), depth - frame.depth)

    def _kept(self, key: tuple[int, int], depth: int) -> str | None:
        """The kept text of ``key``, when the walk here would compute it without reaching a limit."""
        kept = self.file.subtree(key)
        if kept is None:
            return None
        new = [m for m in kept.members if m[0] not in self.memo]
        added = sum(m[3] for m in new)
        if self.nodes + added > _MAX_NODES or depth + kept.depth > _MAX_DEPTH:
            return None  # walk it: the limits are judged exactly there
        if any(self.memo[m[0]] != m[2] for m in kept.members if m[0] in self.memo):
            return None  # a member in progress here (a cycle): walk it
        for ref, digest, text, own in new:
            self.memo[ref] = text
            self.reach[ref] = None  # what it was computed from is not kept on its own
            self.info[ref] = (digest, text, own, None)
        whole = all(m[0] in self.info for m in kept.members)
        self.reach[key] = frozenset(m[0] for m in kept.members) if whole else None
        self.info[key] = (kept.members_digest(key), kept.text, kept.own, kept.depth)
        self.nodes += added
        if self.frames:
            self.frames[-1].inner += added
            self._reached(key, depth)
        return kept.text


@dataclass
class _Frame:
    """An indirect object whose text is being computed."""

    ref: tuple[int, int]
    depth: int  # of its reference
    start: int  # nodes counted before it
    keepable: bool
    inner: int = 0  # nodes of the indirect objects inside it
    deepest: int = 0  # deepest non-leaf node of its own
    children: dict = field(default_factory=dict)  # indirect objects it refers to -> their depth below it

    def __post_init__(self) -> None:
        self.deepest = self.depth


@functools.lru_cache(maxsize=1)
def _generic():
    from pyhanko.pdf_utils import generic

    return generic


def _leaves() -> dict[type, Any]:
    generic = _generic()
    return {
        generic.NameObject: str,
        generic.NumberObject: lambda o: str(int(o)),
        generic.FloatObject: _number,
        generic.TextStringObject: lambda o: ascii(str(o)),
        generic.ByteStringObject: lambda o: f"<{bytes(o).hex()}>",
        generic.BooleanObject: lambda o: "true" if o else "false",
        generic.NullObject: lambda o: "null",
    }


class _ByNumber(dict):
    """The canonical-text memo that also fills ``objects`` (object number -> text)."""

    def __init__(self, objects: dict[int, str]):
        super().__init__()
        self.objects = objects

    def __setitem__(self, key: tuple[int, int], text: str) -> None:
        super().__setitem__(key, text)
        self.objects[key[0]] = text


def _without_font_dates(data: bytes) -> bytes:
    """An embedded TrueType program without its 'head' dates and checksums.

    The blank's field font is subset at render time and fontTools stamps the time into 'head';
    copies of the same published blank downloaded at different times differ only there.
    """
    import struct

    if len(data) < 12 or data[:4] not in (b"\x00\x01\x00\x00", b"true"):
        return data
    out = bytearray(data)
    tables = struct.unpack(">H", data[4:6])[0]
    for i in range(min(tables, 64)):
        record = 12 + 16 * i
        if record + 16 > len(data):
            break
        if data[record:record + 4] == b"head":
            offset = struct.unpack(">I", data[record + 8:record + 12])[0]
            out[record + 4:record + 8] = bytes(4)  # the table's checksum
            if offset + 36 <= len(data):
                out[offset + 8:offset + 12] = bytes(4)  # checkSumAdjustment
                out[offset + 20:offset + 36] = bytes(16)  # created, modified
    return bytes(out)


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` dereferenced, or None (pyHanko's ``get`` returns indirect references)."""
    return obj[key] if key in obj else None


def _number(obj: Any) -> str:
    value = round(float(obj), 3)
    return str(int(value)) if value == int(value) else repr(value)


def _short(text: str) -> str:
    """Keep committed fingerprints readable: long values become their digest."""
    return text if len(text) <= 120 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# -- the structure of a document ----------------------------------------------------------------


_LEAVES: dict[type, Any] = {}


def structure(root: Any, objects: dict[int, str] | None = None, file: Any = None) -> dict[str, str]:
    """``path -> canonical value`` of a document's catalog, form and pages (pyHanko objects).

    ``objects``, when given, receives the canonical value of every indirect object walked, by
    object number (verify.appearance keys its font cache with them). ``file``
    (verify.known_objects.FileObjects, only for the reader's latest revision): values of objects
    an earlier document had byte for byte are taken from there instead of being parsed again.
    """
    if not _LEAVES:
        _LEAVES.update(_leaves())
    canon = _Canon(file)
    if objects is not None:
        canon.memo = _ByNumber(objects)
    out: dict[str, str] = {}
    pages = list(_pages(root["/Pages"]))
    page_index = {(ref.idnum, ref.generation): i for i, (ref, _) in enumerate(pages)}
    for key in root:
        if str(key) == "/Metadata":  # dated XMP, rewritten by readers; its ids are forms.rules' business
            out["catalog /Metadata"] = "present"
        elif str(key) not in ("/Pages", "/AcroForm", "/Type"):
            out[f"catalog {key}"] = canon(root.raw_get(key))
    acroform = _get(root, "/AcroForm")
    widgets: dict[tuple[int, int], str] = {}
    if acroform is not None:
        for key in acroform:
            if str(key) == "/DR":
                out.update(_resources(canon, acroform["/DR"]))
            elif str(key) != "/Fields":
                out[f"acroform {key}"] = canon(acroform.raw_get(key))
        seen: dict[str, int] = {}
        for name, ref, node in _fields(acroform.raw_get("/Fields")):
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:  # two fields of one name: the last one read would win
                name = f"{name}#{seen[name]}"
            if ref is not None:
                widgets[(ref.idnum, ref.generation)] = name
            out.update(_field(canon, name, node, page_index, file))
    out["pages"] = str(len(pages))
    for i, (ref, page) in enumerate(pages, start=1):
        for key in page:
            if str(key) in ("/Parent", "/Annots", "/Contents", "/Type"):
                continue
            out[f"page {i} {key}"] = canon(page.raw_get(key))
        out[f"page {i} /Contents"] = _contents(page, file)
        for j, annot in enumerate(_get(page, "/Annots") or []):
            label = _annotation(canon, annot, widgets)
            out[f"page {i} annotation {label}"] = "present" if label in widgets.values() else canon(annot)
    return out


def _resources(canon: _Canon, dr: Any) -> dict[str, str]:
    """The AcroForm's default resources, each font on its own (a reader may add the one it drew with)."""
    out = {"acroform /DR": canon(dr, skip=frozenset({"/Font"}))}
    for name in _get(dr, "/Font") or {}:
        out[f"acroform /DR /Font {name}"] = canon(dr["/Font"].raw_get(name))
    return out


def _pages(node: Any, depth: int = 0) -> Iterator[tuple[Any, Any]]:
    from pyhanko.pdf_utils import generic

    if depth > _MAX_DEPTH:
        raise ConformanceError("the page tree is too deep")
    for ref in node["/Kids"]:
        kid = ref.get_object()
        if _get(kid, "/Type") == "/Pages":
            yield from _pages(kid, depth + 1)
        else:
            if not isinstance(ref, generic.IndirectObject):
                raise ConformanceError("a page is not an indirect object")
            yield ref, kid


def _fields(refs: Any, parent: str = "", depth: int = 0) -> Iterator[tuple[str, Any, Any]]:
    """(full name, reference, dictionary) of every field and widget node, parents first."""
    from pyhanko.pdf_utils import generic

    if depth > _MAX_DEPTH:
        raise ConformanceError("the field tree is too deep")
    refs = refs.get_object() if isinstance(refs, generic.IndirectObject) else refs
    for k, ref in enumerate(refs or []):
        node = ref.get_object()
        partial = _get(node, "/T")
        name = _escaped(partial) if partial is not None else f"{parent}#widget{k}"
        if parent and partial is not None:
            name = f"{parent}.{name}"
        yield name, ref if isinstance(ref, generic.IndirectObject) else None, node
        if "/Kids" in node:
            yield from _fields(node.raw_get("/Kids"), name, depth + 1)


def _escaped(text: Any) -> str:
    """A field name as text with every non-printable-ASCII character escaped (NBSP, trailing space)."""
    name = ascii(str(text))[1:-1]
    return name.replace(" ", "\\x20") if name != name.strip() else name


def _field(canon: _Canon, name: str, node: Any, page_index: dict, file: Any = None) -> dict[str, str]:
    out: dict[str, str] = {f"field {name}": "present"}
    for key in node:
        key = str(key)
        if key in ("/Parent", "/Kids"):
            continue
        if key == "/P":
            page = node.raw_get("/P")
            out[f"field {name} /P"] = f"page {page_index.get((getattr(page, 'idnum', None), getattr(page, 'generation', 0)), '?')}"
        elif key == "/AP":
            # the drawings may be redrawn (verify.appearance reads them); which appearances exist may
            # not change: a rollover (/R) or down (/D) drawing shows a decoy when the mouse is over it
            out[f"field {name} /AP"] = "set"
            out[f"field {name} /AP kinds"] = _states(node["/AP"], file)
        elif key == "/V" and _get(node, "/FT") == "/Sig":
            # a drawing (verify.appearance reads it) or a signature (verify.decision validates it):
            # present or not is all the structure needs, and not parsing them keeps this cheap
            out[f"field {name} {key}"] = "set"
        else:
            out[f"field {name} {key}"] = canon(node.raw_get(key))
    if "/Kids" in node:
        out[f"field {name} /Kids"] = str(len(node["/Kids"]))
    return out


def _states(ap: Any, file: Any = None) -> str:
    """The appearance kinds (/N, /D, /R) and, for a checkbox, each kind's state names, not the drawings."""
    generic = _generic()
    kinds = []
    for kind in sorted(ap):
        raw = ap.raw_get(kind)
        if file is not None and isinstance(raw, generic.IndirectObject):
            states = file.own(raw, "states", functools.partial(_state_names, kind=kind))
        else:
            states = _state_names(ap[kind], kind)
        kinds.append(f"{kind}:{states}" if states else str(kind))
    return ";".join(kinds)


def _state_names(entry: Any, kind: Any) -> str:
    generic = _generic()
    if isinstance(entry, generic.NullObject):
        raise KeyError(kind)  # what the dictionary's lookup raises for a null entry
    return "" if isinstance(entry, generic.StreamObject) else ",".join(sorted(str(s) for s in entry))


def _annotation(canon: _Canon, annot: Any, widgets: dict) -> str:
    ref = (getattr(annot, "idnum", None), getattr(annot, "generation", 0))
    if ref in widgets:
        return widgets[ref]
    return "unnamed:" + hashlib.sha256(canon(annot).encode()).hexdigest()[:12]


def _contents(page: Any, file: Any = None) -> str:
    raw = page.raw_get("/Contents") if "/Contents" in page else None
    if file is not None and isinstance(raw, _generic().IndirectObject):  # one stream, by reference
        try:
            return file.own(raw, "contents", _one_stream_digest)
        except _NotOneStream:
            pass  # an array of streams (its digest depends on other objects) or worse: read as usual
    contents = _get(page, "/Contents")
    return _contents_digest(contents if isinstance(contents, list) else [contents] if contents is not None else [])


class _NotOneStream(Exception):
    pass


def _one_stream_digest(obj: Any) -> str:
    if not isinstance(obj, _generic().StreamObject):
        raise _NotOneStream()
    return _contents_digest([obj])


def _contents_digest(streams: list) -> str:
    digest = hashlib.sha256()
    for stream in streams:
        digest.update(stream.get_object().data)
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


# -- published blanks ---------------------------------------------------------------------------


def published_path(version: str, lang: str) -> Path:
    return PUBLISHED_DIR / f"{version}-{lang}.json"


@functools.lru_cache(maxsize=None)
def published_structure(version: str, lang: str) -> dict[str, str]:
    """The committed structure of a published blank (see :func:`write_published`)."""
    return json.loads(published_path(version, lang).read_text(encoding="utf-8"))


def blank_structure(lang: str) -> dict[str, str]:
    """Today's blank for ``lang``, rendered and flattened (tests and :func:`write_published`)."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    from forms.blank import render_blank

    return structure(PdfFileReader(io.BytesIO(render_blank(lang)), strict=True).root)


def write_published(version: str = FORM_VERSION) -> list[Path]:
    """Record today's blanks as the published ``version`` (run once, when a version is published)."""
    paths = []
    for lang in ("lv", "en"):
        path = published_path(version, lang)
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(blank_structure(lang), indent=1, sort_keys=True, ensure_ascii=True) + "\n",
                        encoding="utf-8")
        paths.append(path)
    return paths


# -- the comparison -----------------------------------------------------------------------------


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[Difference]:
    """What the signed revision changes beyond filling in and signing, in a stable order."""
    signature = f"field {SIGNATURE_FIELD}"
    added_sig = _added_signature_fields(expected, actual)
    out: list[Difference] = []
    for path in sorted(set(expected) | set(actual)):
        old, new = expected.get(path), actual.get(path)
        if old == new or _allowed(path, old, new, signature, added_sig):
            continue
        out.append(Difference(path, "added" if old is None else "removed" if new is None else "changed"))
    return out + _overlays(expected, actual, added_sig)


def _overlays(expected: dict[str, str], actual: dict[str, str], added_sig: set[str]) -> list[Difference]:
    """An added signature widget may not cover a field of the blank: its drawing would hide the value."""
    found = []
    pages_of = _pages_of(expected)
    added_pages = _pages_of(actual)
    for head in sorted(added_sig):
        rect = _rect(actual.get(f"{head} /Rect"))
        if rect is None or rect[0] >= rect[2] or rect[1] >= rect[3]:
            continue  # an invisible signature (zero /Rect)
        for path, value in expected.items():
            if not (path.startswith("field ") and path.endswith(" /Rect")):
                continue
            other, field = _rect(value), path[: -len(" /Rect")]
            if other is not None and pages_of.get(field, set()) & added_pages.get(head, set()) and _intersect(rect, other):
                found.append(Difference(f"{head} /Rect", f"covers {field}"))
                break
    return found


def _pages_of(structure_: dict[str, str]) -> dict[str, set[str]]:
    """field path -> the pages whose /Annots hold its widget (what a viewer draws, whatever /P says)."""
    out: dict[str, set[str]] = {}
    for path in structure_:
        if path.startswith("page ") and " annotation " in path:
            page, name = path.split(" annotation ", 1)
            out.setdefault(f"field {name}", set()).add(page)
    return out


def _rect(text: str | None) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in (text or "").strip("[]").split(","))
    except ValueError:
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _intersect(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _allowed(path: str, old: str | None, new: str | None, signature: str, added_sig: set[str]) -> bool:
    head, _, key = path.rpartition(" ")
    if path.startswith("field "):
        name = path[len("field "):].split(" ")[0]
        if f"field {name}" in added_sig:
            return True
        if head == signature:
            return key in SIGNED_KEYS
        if path.endswith(" /AP kinds"):
            if f"field {name}" == signature:
                return True  # the signing tool's appearance is its own
            return new is None and name not in _FIXED_FIELDS  # no appearance: /NeedAppearances (verify.appearance)
        if key == "/Ff" and (name in PREFILLED_READ_ONLY or name in _TEXT_FIELDS):
            return _read_only_added(old, new)
        if key == "/DA" and name in _TEXT_FIELDS:
            return new is None
        if name in _FIXED_FIELDS:
            return key == "/AP"  # qpdf redraws the hidden identity fields too; their values are fixed
        return key in FILLED_KEYS
    if path.startswith("page ") and " annotation " in path:
        name = path.split(" annotation ", 1)[1]
        return old is None and f"field {name}" in added_sig
    if head == "acroform /DR /Font":
        return old is None  # a font a reader added to draw a value; the blank's fonts never change
    if head == "acroform":
        return key in ACROFORM_MAY_SET
    if head == "catalog":
        return key in CATALOG_MAY_SET
    return False


def _read_only_added(old: str | None, new: str | None) -> bool:
    try:
        return int(new) == int(old or 0) | _READ_ONLY  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _added_signature_fields(expected: dict[str, str], actual: dict[str, str]) -> set[str]:
    """New top-level signature fields a signing tool added (it did not use customer_signature)."""
    added = set()
    for path, value in actual.items():
        if path.startswith("field ") and path.endswith(" /FT") and value == "/Sig":
            head = path[: -len(" /FT")]
            if head not in expected and "." not in head[len("field "):]:
                added.add(head)
    return added


def check(root: Any, claimed_version: str | None, objects: dict[int, str] | None = None,
          file: Any = None) -> list[Difference] | None:
    """Differences between the document and the nearest published blank of its claimed version.

    None when the version is not published (forms.rules reports ``unknown_form`` then).
    ``objects`` receives the canonical values of the objects walked, ``file`` lends kept ones (see
    :func:`structure`).
    Raises :class:`ConformanceError` on a structure that cannot be walked.
    """
    candidates = [lang for version, lang in PUBLISHED if version == claimed_version]
    if not candidates:
        return None
    actual = structure(root, objects, file)
    found = [differences(published_structure(claimed_version, lang), actual) for lang in candidates]
    return min(found, key=len)


def describe(found: Iterable[Difference]) -> str:
    found = list(found)
    named = "; ".join(str(d) for d in found[:_MAX_NAMED])
    more = f" and {len(found) - _MAX_NAMED} more" if len(found) > _MAX_NAMED else ""
    return f"the form differs from the bank's blank: {named}{more}"


if __name__ == "__main__":  # python -m verify.conformance: record the published blanks
    for written in write_published():
        print(written)
