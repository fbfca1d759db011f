"""Read the form's field values from a PDF opened with pdfplumber.

pdfplumber has no form API, so this walks the pdfminer document underneath:
``/AcroForm /Fields`` with its ``/Kids`` hierarchy (full dotted names, inherited
``/FT`` and ``/V``), the ``/Info`` dictionary and the XMP packet. Values are
normalised the same way for every reader that filled the form in: NFC and
trimmed text, checkboxes as booleans, choices as export values.
"""

from __future__ import annotations

import io
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterator

import pdfplumber
from pdfminer.pdftypes import PDFObjRef, PDFStream, resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text

from forms import strict_reading
from forms.schema import FIELDS_BY_NAME, IDENTITY_FIELDS, SIGNATURE_FIELD, XMP_NAMESPACE, Value

strict_reading.install()  # pdfplumber never recovers a damaged file (forms.strict_reading)

#: Metadata keys written next to the identity fields (Info and XMP use the same names).
METADATA_KEYS = {"form_id": "FormId", "form_version": "FormVersion"}
_KNOWN = set(FIELDS_BY_NAME) | set(IDENTITY_FIELDS) | {SIGNATURE_FIELD}
_MAX_DEPTH = 32
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


class ExtractionError(Exception):
    """The PDF's form structures cannot be read (malformed objects, cycles, bad XMP)."""


class RecoveryNeeded(ExtractionError):
    """Reading the form would take a recovery parser (``forms.strict_reading``): the file is damaged."""


@dataclass
class Extraction:
    """What a PDF says about itself; nothing here is validated yet (see forms.rules)."""

    form_id: str | None
    form_version: str | None
    #: "info:FormId", "xmp:FormVersion", ... -> value, for those present.
    metadata_ids: dict[str, str]
    #: every schema field -> normalised value (None when absent or empty).
    values: dict[str, Value]
    #: schema fields the PDF lacks.
    missing: list[str] = field(default_factory=list)
    #: fields the PDF has but the schema does not know, sorted.
    unknown: list[str] = field(default_factory=list)


def extract_from_bytes(data: bytes) -> Extraction:
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception as exc:  # pdfminer raises many unrelated types on garbage
        raise ExtractionError(f"cannot open the PDF: {type(exc).__name__}") from exc
    try:
        return extract_fields(pdf)
    finally:
        try:
            pdf.close()  # pdfplumber's close walks the page tree, which may be what is damaged
        except Exception:
            pass


def extract_fields(pdf: pdfplumber.PDF) -> Extraction:
    """Fields, identity and metadata of an opened document; raises only ExtractionError."""
    try:
        return _extract(pdf.doc)
    except ExtractionError:
        raise
    except strict_reading.RecoveryRefused as exc:
        raise RecoveryNeeded(str(exc)) from exc
    except Exception as exc:
        raise ExtractionError(f"malformed form structures: {type(exc).__name__}: {exc}") from exc


def _extract(doc: Any) -> Extraction:
    raw = dict(_walk_fields(doc))
    identity = {name: _text(raw.get(name)) for name in IDENTITY_FIELDS}
    values = {name: _normalise(raw[name], f.kind) if name in raw else None for name, f in FIELDS_BY_NAME.items()}
    return Extraction(
        form_id=identity["form_id"],
        form_version=identity["form_version"],
        metadata_ids={**_info_ids(doc), **_xmp_ids(doc)},
        values=values,
        missing=[name for name in FIELDS_BY_NAME if name not in raw],
        unknown=sorted(set(raw) - _KNOWN),
    )


def _walk_fields(doc: Any) -> Iterator[tuple[str, Any]]:
    """Yield (full dotted name, /V or the widget's /AS for buttons) of every terminal field."""
    acroform = resolve1(doc.catalog.get("AcroForm"))
    if acroform is None:
        return
    if not isinstance(acroform, dict):
        raise ExtractionError("/AcroForm is not a dictionary")
    seen: set[int] = set()

    def walk(refs: Any, parent_name: str, inherited: dict, depth: int) -> Iterator[tuple[str, Any]]:
        refs = resolve1(refs)
        if not isinstance(refs, list):
            raise ExtractionError("/Fields or /Kids is not an array")
        if depth > _MAX_DEPTH:
            raise ExtractionError("the field hierarchy is too deep")
        for ref in refs:
            if isinstance(ref, PDFObjRef):
                if ref.objid in seen:
                    raise ExtractionError("the field hierarchy has a cycle")
                seen.add(ref.objid)
            node = resolve1(ref)
            if node is None:  # a dangling reference is null (PDF 32000 7.3.10)
                continue
            if not isinstance(node, dict):
                raise ExtractionError("a form field is not a dictionary")
            partial = _text(node.get("T"))
            name = f"{parent_name}.{partial}" if parent_name and partial else (partial or parent_name)
            here = {**inherited, **{k: node[k] for k in ("FT", "V") if k in node}}
            kids = resolve1(node.get("Kids"))
            named_kids = isinstance(kids, list) and any(
                isinstance(resolve1(k), dict) and "T" in resolve1(k) for k in kids
            )
            if named_kids:
                yield from walk(kids, name, here, depth + 1)
            elif name:
                yield name, _value(node, here, kids)

    yield from walk(acroform.get("Fields", []), "", {}, 0)


def _value(node: dict, inherited: dict, kids: Any) -> Any:
    field_type = _name(inherited.get("FT"))
    if field_type == "Sig":
        return None  # its /V is the signature dictionary, which is verify's business
    value = resolve1(inherited.get("V"))
    if isinstance(value, PDFStream):  # a text field may keep a long value in a text stream
        value = value.get_data()
    if value is None and field_type == "Btn":
        widgets = kids if isinstance(kids, list) else [node]
        states = [_name(resolve1(w).get("AS")) for w in widgets if isinstance(resolve1(w), dict)]
        value = next((PSLiteral(s) for s in states if s and s != "Off"), None)
    if isinstance(value, list):  # multi-select choice: take the first (our choices are single)
        value = resolve1(value[0]) if value else None
    if value is not None and not isinstance(value, (bytes, str, PSLiteral)):
        raise ExtractionError(f"unexpected field value type {type(value).__name__}")
    return _export_value(value, resolve1(node.get("Opt")))


def _export_value(value: Any, options: Any) -> Any:
    """Map a choice's display text to its export value when /Opt pairs them."""
    if not isinstance(options, list) or value is None:
        return value
    text = _text(value)
    for option in map(resolve1, options):
        if isinstance(option, list) and len(option) == 2 and _text(option[1]) == text:
            return resolve1(option[0])
    return value


def _name(obj: Any) -> str | None:
    obj = resolve1(obj)
    if isinstance(obj, PSLiteral):
        name = obj.name
        return name.decode("latin-1") if isinstance(name, bytes) else str(name)
    return None


def _text(obj: Any) -> str | None:
    """A PDF string or name as NFC, trimmed text; None when empty."""
    obj = resolve1(obj)
    if isinstance(obj, PSLiteral):
        text = _name(obj)
    elif isinstance(obj, bytes):
        text = decode_text(obj)  # UTF-16BE with BOM, else PDFDocEncoding
    elif isinstance(obj, str):
        text = obj
    else:
        return None
    text = unicodedata.normalize("NFC", text).strip()
    return text or None


def _normalise(raw: Any, kind: str) -> Value:
    if kind == "checkbox":
        state = _name(raw) if isinstance(raw, PSLiteral) else _text(raw)
        return state is not None and state != "Off"
    return _text(raw)


def _info_ids(doc: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    for info in doc.info:  # one dict per trailer, newest revision first
        info = resolve1(info)
        if not isinstance(info, dict):
            continue
        for key in METADATA_KEYS.values():
            text = _text(info.get(key))
            if text is not None:
                ids.setdefault(f"info:{key}", text)
    return ids


def _xmp_ids(doc: Any) -> dict[str, str]:
    stream = resolve1(doc.catalog.get("Metadata"))
    if not isinstance(stream, PDFStream):
        return {}
    data = stream.get_data()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ExtractionError("XMP metadata with a DTD is refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ExtractionError(f"unreadable XMP metadata: {exc}") from exc
    ids: dict[str, str] = {}
    for key in METADATA_KEYS.values():
        qualified = f"{{{XMP_NAMESPACE}}}{key}"
        for desc in root.iter(f"{{{_RDF}}}Description"):
            value = desc.get(qualified)
            element = desc.find(qualified)
            if value is None and element is not None:
                value = element.text
            text = _text(value)
            if text is not None:
                ids[f"xmp:{key}"] = text
    return ids
