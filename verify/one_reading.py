"""One reading: the fields pdfplumber read are the objects pyHanko's view of the signed revision holds.

The form is read with pdfminer (under pdfplumber), the signature is validated with pyHanko.
Two parsers of one file disagree exactly where an attacker wants them to (a revision one of
them cannot read, an object number defined twice, an offset that points elsewhere). After
``forms.strict_reading`` has removed pdfminer's recovery paths, :func:`disagreement` compares
what both hold for the signed revision:

* the number of revisions (xref sections; a hybrid file's ``/XRefStm`` belongs to its section);
* where every reference reachable from the trailer leads: the same object, or none, in both
  parsers' xref sections (``verify.generations``: pdfminer ignores generations, pyHanko does not);
* every field's fully qualified name and the object number of its dictionary;
* every field's ``/V``, as bytes, names, numbers, references and arrays of them.

Any difference is ``malformed_pdf``. The walks are bounded by ``max_fields`` and ``max_objects``
(``too_large``).
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 32


class TooManyFields(Exception):
    """The field tree has more nodes than the policy allows."""


def _pyhanko_value(value) -> Any:
    from pyhanko.pdf_utils import generic

    if value is None or isinstance(value, generic.NullObject):
        return None
    if isinstance(value, generic.IndirectObject):
        return ("ref", value.reference.idnum)
    if isinstance(value, generic.NameObject):
        return ("name", str(value)[1:])
    if isinstance(value, generic.TextStringObject):
        return ("bytes", bytes(value.original_bytes))
    if isinstance(value, generic.ByteStringObject):
        return ("bytes", bytes(value))
    if isinstance(value, generic.BooleanObject):
        return ("bool", bool(value))
    if isinstance(value, (generic.NumberObject, generic.FloatObject)):
        return ("num", float(value))
    if isinstance(value, generic.ArrayObject):
        return ("array", tuple(_pyhanko_value(value.raw_get(i)) for i in range(len(value))))
    return ("other", type(value).__name__)


def _pdfminer_value(value) -> Any:
    from pdfminer.pdftypes import PDFObjRef
    from pdfminer.psparser import PSLiteral

    if value is None:
        return None
    if isinstance(value, PDFObjRef):
        return ("ref", value.objid)
    if isinstance(value, PSLiteral):
        name = value.name
        return ("name", name.decode("latin-1") if isinstance(name, bytes) else str(name))
    if isinstance(value, (bytes, bytearray)):
        return ("bytes", bytes(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", float(value))
    if isinstance(value, list):
        return ("array", tuple(_pdfminer_value(v) for v in value))
    return ("other", type(value).__name__)


def _pdfminer_fields(doc, max_fields: int) -> dict[str, tuple[int | None, Any]]:
    """Fully qualified name -> (object number of the field dictionary, /V) for every named node."""
    from pdfminer.pdftypes import PDFObjRef, resolve1

    out: dict[str, tuple[int | None, Any]] = {}
    acroform = resolve1(doc.catalog.get("AcroForm"))
    if not isinstance(acroform, dict):
        return out
    top = resolve1(acroform.get("Fields"))
    if not isinstance(top, list):
        return out
    stack: list[tuple[str, Any, int]] = [("", item, 0) for item in reversed(top)]
    seen: set[int] = set()
    nodes = 0
    while stack:
        parent, item, depth = stack.pop()
        nodes += 1
        if nodes > max_fields:
            raise TooManyFields(f"the form has more than {max_fields} field nodes")
        objid = item.objid if isinstance(item, PDFObjRef) else None
        if objid is not None:
            if objid in seen:
                continue
            seen.add(objid)
        node = resolve1(item)
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            continue
        partial = resolve1(node.get("T"))
        name = parent
        if partial is not None:
            text = _pdfminer_text(partial)
            name = f"{parent}.{text}" if parent else text
            out[name] = (objid, _pdfminer_value(node.get("V")))
        kids = resolve1(node.get("Kids"))
        if isinstance(kids, list):
            stack.extend((name, kid, depth + 1) for kid in reversed(kids))
    return out


def _pdfminer_text(value) -> str:
    from pdfminer.utils import decode_text

    return decode_text(value) if isinstance(value, bytes) else str(value)


def _pyhanko_fields(resolver, max_fields: int) -> dict[str, tuple[int | None, Any]]:
    from verify.revisions import fields_of

    fields = fields_of(resolver, max_fields)
    return {
        name: (f.ref.idnum if f.ref is not None else None, _pyhanko_value(f.value))
        for name, f in fields.items()
    }


def _pdfminer_revisions(doc) -> int:
    hybrids = sum(1 for xref in doc.xrefs if "XRefStm" in xref.get_trailer())
    return len(doc.xrefs) - hybrids


def disagreement(reader, revision: int | None, doc, max_fields: int, max_objects: int, file=None) -> str | None:
    """What pyHanko's view of ``revision`` (None: the latest) and pdfminer's ``doc`` disagree on.
    ``file``: see :func:`verify.generations.differing_reference`."""
    from verify.generations import differing_reference

    total = reader.xrefs.total_revisions
    last = total - 1 if revision is None else revision
    mine = _pdfminer_revisions(doc)
    if mine != last + 1:
        return f"the field reader sees {mine} revision(s), the signature validator {last + 1}"
    differing = differing_reference(reader, last, doc, max_objects, file)
    if differing:
        return differing
    ours = _pdfminer_fields(doc, max_fields)  # first: it counts every node against the limit
    view = reader if last == total - 1 else reader.get_historical_resolver(last)
    theirs = _pyhanko_fields(view, max_fields)
    if set(theirs) != set(ours):
        differ = sorted(set(theirs) ^ set(ours))
        return f"the two parsers see different fields ({', '.join(map(repr, differ[:3]))})"
    for name in sorted(theirs):
        (ref_a, value_a), (ref_b, value_b) = theirs[name], ours[name]
        if ref_a != ref_b:
            return f"the field {name!r} is another object for the field reader than for the signature validator"
        if value_a != value_b:
            return f"the field {name!r} has another value for the field reader than for the signature validator"
    return None
