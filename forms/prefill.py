"""A customer's personal form: the bank's blank with their current values, identity read-only.

``personal_form(values, lang)`` returns the blank of :func:`forms.blank.render_blank` plus ONE
incremental update, as a PDF reader writes when it saves a filled form: each filled field gets
its value (``/V``; ``/AS`` for checkboxes) and a new appearance stream drawn with the form's own
field font, and the identity fields (``IDENTITY``) get the ReadOnly flag (``/Ff`` bit 1).
Nothing else changes: same objects, same structure, the blank's bytes untouched in front.

Why not :func:`forms.fill.fill_form` (pypdf): it parses and rewrites the whole document and
re-reads the font for every field, about 0.35 s a form; a campaign writes ten thousand. Here
the blank is analysed once and each form is a few kilobytes of text appended to
it (about a millisecond). The tests check that the two agree on every value.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from forms.blank import render_blank
from forms.schema import FIELDS_BY_NAME

#: The fields a customer may not change on a personal form.
IDENTITY = ("id_country", "personal_code", "first_name", "last_name", "date_of_birth")
READ_ONLY = 1  # /Ff bit 1
_CHANGED_KEYS = ("/V", "/AP", "/AS", "/Ff")


@dataclass(frozen=True)
class _Field:
    number: int
    kind: str  # /Tx, /Ch, /Btn
    head: bytes  # the field dictionary without the keys a fill changes, without its closing ">>"
    ap: bytes | None  # a checkbox keeps its /AP as it is
    flags: int
    width: float
    height: float
    da: str
    on_state: str | None


@dataclass(frozen=True)
class _Template:
    blank: bytes
    fields: dict[str, _Field]
    size: int
    root: str
    info: str | None
    first_id: str
    prev: int
    font: str  # "/DejaVuField 103 0 R"


def _serialise(obj) -> bytes:
    out = io.BytesIO()
    obj.write_to_stream(out)
    return out.getvalue()


@lru_cache(maxsize=2)
def blank_for(lang: str) -> bytes:
    """This process's blank (``render_blank`` stamps a new document id and date on every call)."""
    return render_blank(lang)  # type: ignore[arg-type]


@lru_cache(maxsize=8)
def _template(blank: bytes) -> _Template:
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject, NameObject

    from forms.field_font import FIELD_FONT

    reader = PdfReader(io.BytesIO(blank))
    acroform = reader.trailer["/Root"]["/AcroForm"]
    font_ref = acroform["/DR"]["/Font"].raw_get(FIELD_FONT)
    fields: dict[str, _Field] = {}
    for ref in acroform["/Fields"]:
        field = ref.get_object()
        name = str(field.get("/T"))
        kind = str(field.get("/FT"))
        if name not in FIELDS_BY_NAME or kind == "/Sig":
            continue
        keep = DictionaryObject({NameObject(k): v for k, v in field.items() if k not in _CHANGED_KEYS})
        head = _serialise(keep).rstrip()
        assert head.endswith(b">>")
        rect = [float(v) for v in field["/Rect"]]
        on_state = None
        ap = None
        if kind == "/Btn":
            normal = field["/AP"]["/N"]
            on_state = next(str(k) for k in normal if k != "/Off")
            ap = _serialise(field.raw_get("/AP"))
        fields[name] = _Field(ref.idnum, kind, head[:-2], ap, int(field.get("/Ff", 0)), rect[2] - rect[0],
                              rect[3] - rect[1], str(field.get("/DA") or acroform["/DA"]), on_state)
    trailer = reader.trailer
    info = trailer.raw_get("/Info") if "/Info" in trailer else None
    ids = trailer.get("/ID")
    first_id = bytes(ids[0].original_bytes).hex() if ids else hashlib.md5(blank).hexdigest()
    root = trailer.raw_get("/Root")
    return _Template(blank, fields, int(trailer["/Size"]), f"{root.idnum} 0 R",
                     f"{info.idnum} 0 R" if info is not None else None, first_id, _startxref(blank),
                     f"{FIELD_FONT} {font_ref.idnum} 0 R")


def _startxref(pdf: bytes) -> int:
    tail = pdf[-1024:]
    return int(tail[tail.rindex(b"startxref") + 9:].split()[0])


def _literal(data: bytes) -> bytes:
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _text_string(value: str) -> bytes:
    """A PDF text string: literal for ASCII, UTF-16BE with a BOM otherwise."""
    if value.isascii():
        return _literal(value.encode("ascii"))
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode() + b">"


def _appearance(field: _Field, text: str, font: str) -> bytes:
    """A single-line appearance as pypdf draws one, in the 8-bit field font (cp1257)."""
    da = field.da.split()
    size = float(da[da.index("Tf") - 1]) if "Tf" in da else 9.0
    colour = " ".join(da[da.index("Tf") + 1:]) if "Tf" in da else "0 g"
    y = (field.height - 0.928 * size) / 2
    encoded = text.encode("cp1257", errors="replace")
    content = (b"q\n/Tx BMC \nq\n2 0 %.3f %.3f re\nW\nBT\n%s %.1f Tf %s\n2 %.3f Td\n%s Tj\nET\nQ\nEMC\nQ\n"
               % (field.width - 6, field.height, da[0].encode(), size, colour.encode(), y, _literal(encoded)))
    return (b"<< /Type /XObject /Subtype /Form /BBox [0 0 %.4f %.4f] /FormType 1 /Matrix [1 0 0 1 0 0] "
            b"/Resources << /Font << %s >> >> /Length %d >>\nstream\n%s\nendstream"
            % (field.width, field.height, font.encode(), len(content), content))


def personal_form(values: Mapping[str, str | bool], lang: str = "lv", *, blank: bytes | None = None) -> bytes:
    """The blank in ``lang`` filled with ``values``, identity fields read-only. Unknown names raise
    KeyError; a text or choice field needs a string, a checkbox a bool. ``blank``: that very blank
    (in ``lang``) instead of this process's, so that the same inputs give the same bytes anywhere."""
    t = _template(blank if blank is not None else blank_for(lang))
    unknown = sorted(set(values) - set(t.fields))
    if unknown:
        raise KeyError(f"the form has no fields named {', '.join(unknown)}")
    out = bytearray(t.blank)
    if not out.endswith(b"\n"):
        out += b"\n"
    offsets: dict[int, int] = {}
    next_number = t.size
    for name in sorted(set(values) | set(IDENTITY), key=lambda n: t.fields[n].number):
        field = t.fields[name]
        flags = field.flags | (READ_ONLY if name in IDENTITY else 0)
        parts = [field.head, b"/Ff %d" % flags]
        if name in values:
            value = values[name]
            if field.kind == "/Btn":
                if not isinstance(value, bool):
                    raise TypeError(f"{name} is a checkbox; give it a bool")
                state = field.on_state if value else "/Off"
                parts += [b"/V " + state.encode(), b"/AS " + state.encode(), b"/AP " + field.ap]
            else:
                if not isinstance(value, str):
                    raise TypeError(f"{name} is a text or choice field; give it a string")
                stream_number = next_number
                next_number += 1
                offsets[stream_number] = len(out)
                out += b"%d 0 obj\n%s\nendobj\n" % (stream_number, _appearance(field, value, t.font))
                parts += [b"/V " + _text_string(value), b"/AP << /N %d 0 R >>" % stream_number]
        elif field.kind == "/Btn":
            parts += [b"/AP " + field.ap]
        offsets[field.number] = len(out)
        out += b"%d 0 obj\n%s\n>>\nendobj\n" % (field.number, b"\n".join(parts))
    xref_at = len(out)
    out += b"xref\n"
    numbers = sorted(offsets)
    run: list[int] = []
    for number in numbers + [-1]:
        if run and number != run[-1] + 1:
            out += b"%d %d\n" % (run[0], len(run)) + b"".join(b"%010d 00000 n \n" % offsets[n] for n in run)
            run = []
        run.append(number)
    second_id = hashlib.md5(bytes(out[len(t.blank):])).hexdigest()
    info = b"/Info %s " % t.info.encode() if t.info else b""
    out += (b"trailer\n<< /Size %d /Root %s %s/ID [<%s> <%s>] /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
            % (next_number, t.root.encode(), info, t.first_id.encode(), second_id.encode(), t.prev, xref_at))
    return bytes(out)
