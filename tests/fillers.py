"""Real PDF form fillers run on this machine, each filling the blank as a customer would.

Each ``fill_<tool>(blank, values) -> bytes`` drives one real PDF implementation (pdfium through
pypdfium2's form API, poppler through its GObject binding, pdftk-java (iText), qpdf's appearance
generator, pypdf via forms.fill). The tests sign the results with the test PKI and expect them
accepted: what they write is what the template conformance must allow (verify.conformance).
``python -m tests.fillers`` writes the outputs of the apt-installed tools to tests/data/fillers/.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from forms.schema import FIELDS_BY_NAME

Values = Mapping[str, "str | bool"]
DATA = Path(__file__).resolve().parent / "data" / "fillers"


def _options(blank: bytes) -> dict[str, list[tuple[str, str]]]:
    """Choice field -> [(export value, display text)] in /Opt order."""
    from pypdf import PdfReader

    out = {}
    for name, field in (PdfReader(io.BytesIO(blank)).get_fields() or {}).items():
        opts = field.get("/Opt")
        if opts:
            out[name] = [(str(o[0]), str(o[1])) if isinstance(o, list) else (str(o), str(o)) for o in opts]
    return out


# -- pdfium: type into each field, tick the boxes, pick the list entries ---------------------------


def fill_pdfium(blank: bytes, values: Values) -> bytes:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    options = _options(blank)
    pdf = pdfium.PdfDocument(blank)
    pdf.init_forms()
    form = pdf.formenv.raw
    for page in pdf:
        handle = page.raw
        for i in range(raw.FPDFPage_GetAnnotCount(handle)):
            annot = raw.FPDFPage_GetAnnot(handle, i)
            try:
                name = _annot_name(raw, form, annot)
                if name not in values:
                    continue
                _pdfium_set(raw, form, handle, annot, values[name], options.get(name))
            finally:
                raw.FPDFPage_CloseAnnot(annot)
        raw.FORM_ForceToKillFocus(form)
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def _annot_name(raw, form, annot) -> str:
    size = raw.FPDFAnnot_GetFormFieldName(form, annot, None, 0)
    buf = ctypes.create_string_buffer(size)
    raw.FPDFAnnot_GetFormFieldName(form, annot, ctypes.cast(buf, ctypes.POINTER(raw.FPDF_WCHAR)), size)
    return buf.raw[: size - 2].decode("utf-16-le")


def _pdfium_set(raw, form, page, annot, value, options) -> None:
    rect = raw.FS_RECTF()
    raw.FPDFAnnot_GetRect(annot, rect)
    x, y = (rect.left + rect.right) / 2, (rect.top + rect.bottom) / 2
    if isinstance(value, bool):
        checked = raw.FPDFAnnot_IsChecked(form, annot)
        if bool(checked) != value:  # a click toggles, as the customer's mouse does
            raw.FORM_OnMouseMove(form, page, 0, x, y)
            raw.FORM_OnLButtonDown(form, page, 0, x, y)
            raw.FORM_OnLButtonUp(form, page, 0, x, y)
        return
    raw.FORM_SetFocusedAnnot(form, annot)
    if options is not None:
        index = [export for export, _ in options].index(value)
        raw.FORM_SetIndexSelected(form, page, index, True)
    else:
        raw.FORM_SelectAllText(form, page)
        text = (value + "\x00").encode("utf-16-le")
        raw.FORM_ReplaceSelection(form, page, ctypes.cast(ctypes.c_char_p(text), raw.FPDF_WIDESTRING))
    raw.FORM_ForceToKillFocus(form)


# -- poppler: its GObject form API (the one Evince and Okular's poppler backend use) -----------------

_POPPLER_SCRIPT = r"""
import json, sys
import gi
gi.require_version("Poppler", "0.18")
from gi.repository import Poppler
src, dst, values, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
doc = Poppler.Document.new_from_file("file://" + src, None)
for i in range(doc.get_n_pages()):
    for mapping in doc.get_page(i).get_form_field_mapping():
        field = mapping.field
        name = field.get_name()
        if name not in values:
            continue
        value = values[name]
        kind = field.get_field_type()
        if kind == Poppler.FormFieldType.BUTTON:
            field.button_set_state(bool(value))
        elif kind == Poppler.FormFieldType.CHOICE:
            field.choice_select_item([e for e, _ in options[name]].index(value))
        else:
            field.text_set_text(value)
doc.save("file://" + dst)
"""


def fill_poppler(blank: bytes, values: Values) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "blank.pdf"), Path(tmp, "filled.pdf")
        src.write_bytes(blank)
        subprocess.run(["/usr/bin/python3", "-c", _POPPLER_SCRIPT, str(src), str(dst), json.dumps(values),
                        json.dumps(_options(blank))], check=True, env={**os.environ, "PYTHONPATH": ""},
                       capture_output=True, timeout=120)
        return dst.read_bytes()


# -- pdftk-java (iText): fill_form from XFDF, appearances generated ---------------------------------


def fill_pdftk(blank: bytes, values: Values) -> bytes:
    from xml.sax.saxutils import escape, quoteattr

    on_states = _on_states(blank)
    fields = "".join(
        f"<field name={quoteattr(name)}><value>"
        f"{escape((on_states[name] if value else 'Off') if isinstance(value, bool) else value)}</value></field>"
        for name, value in values.items())
    xfdf = ('<?xml version="1.0" encoding="UTF-8"?><xfdf xmlns="http://ns.adobe.com/xfdf/" xml:space="preserve">'
            f"<fields>{fields}</fields></xfdf>")
    with tempfile.TemporaryDirectory() as tmp:
        src, data, dst = Path(tmp, "blank.pdf"), Path(tmp, "data.xfdf"), Path(tmp, "filled.pdf")
        src.write_bytes(blank)
        data.write_text(xfdf, encoding="utf-8")
        subprocess.run(["pdftk", str(src), "fill_form", str(data), "output", str(dst)], check=True,
                       capture_output=True, timeout=120)
        return dst.read_bytes()


def _on_states(blank: bytes) -> dict[str, str]:
    from pypdf import PdfReader

    out = {}
    for name, field in (PdfReader(io.BytesIO(blank)).get_fields() or {}).items():
        states = [str(s) for s in field.get("/_States_", []) if str(s) != "/Off"]
        if states:
            out[name] = states[0].lstrip("/")
    return out


# -- qpdf: values set without appearances, then qpdf --generate-appearances -----------------------


def fill_qpdf(blank: bytes, values: Values) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import BooleanObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(blank)))
    on_states = _on_states(blank)
    for ref in writer._root_object["/AcroForm"]["/Fields"]:
        node = ref.get_object()
        name = node.get("/T")
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, bool):
            state = NameObject("/" + on_states[name] if value else "/Off")
            node[NameObject("/V")] = state
            node[NameObject("/AS")] = state
        else:
            node[NameObject("/V")] = TextStringObject(value)
    writer._root_object["/AcroForm"][NameObject("/NeedAppearances")] = BooleanObject(True)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "values.pdf"), Path(tmp, "filled.pdf")
        writer.write(src)
        subprocess.run(["qpdf", "--generate-appearances", str(src), str(dst)], check=True, capture_output=True,
                       timeout=120)
        return dst.read_bytes()


def fill_pypdf(blank: bytes, values: Values) -> bytes:
    from forms.fill import fill_form

    return fill_form(blank, values)


FILLERS: dict[str, Callable[[bytes, Values], bytes]] = {
    "pypdf": fill_pypdf,
    "pdfium": fill_pdfium,
    "poppler": fill_poppler,
    "pdftk": fill_pdftk,
    "qpdf": fill_qpdf,
}
#: Fillers that need apt packages: their outputs are committed (tests/data/fillers) and signed at test time.
COMMITTED = ("poppler", "pdftk")


def write_committed(values: Values) -> list[Path]:
    from forms.blank import render_blank

    DATA.mkdir(parents=True, exist_ok=True)
    paths = []
    for tool in COMMITTED:
        for lang in ("lv", "en"):
            path = DATA / f"{tool}-{lang}.pdf"
            path.write_bytes(FILLERS[tool](render_blank(lang), values))
            paths.append(path)
    return paths


if __name__ == "__main__":
    from tests.fixtures.pki import GOOD_VALUES

    for written in write_committed(GOOD_VALUES):
        print(written)
