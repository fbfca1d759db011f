"""Fill the form in the way a customer's PDF reader does (pypdf).

Used by the tests, the demo and the benchmark; the service itself never fills
forms. Checkboxes are set to their own on-state name, read from the widget's
appearance dictionary, so any blank (ours or a reader-edited one) works.
"""

from __future__ import annotations

import io
from typing import Mapping

from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject


def fill_form(pdf: bytes, values: Mapping[str, str | bool]) -> bytes:
    """Return a copy of ``pdf`` with the given fields set; unknown names raise KeyError."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    fields = writer.get_fields() or {}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise KeyError(f"the form has no fields named {', '.join(unknown)}")
    on_states = _checkbox_on_states(writer)
    texts = {name: value for name, value in values.items() if name not in on_states}
    for name, value in values.items():
        if name in on_states:
            texts[name] = on_states[name] if value is True else "/Off"
        elif not isinstance(value, str):
            raise TypeError(f"{name} is a text or choice field; give it a string")
    for page in writer.pages:
        # pypdf draws the appearance streams with the form's field font (as a reader does on edit);
        # auto_regenerate=False keeps NeedAppearances off so viewers show exactly those.
        writer.update_page_form_field_values(page, texts, auto_regenerate=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _checkbox_on_states(writer: PdfWriter) -> dict[str, str]:
    """Checkbox field name -> its on-state (e.g. "/Yes"), from the widgets' /AP /N keys."""
    states: dict[str, str] = {}
    for page in writer.pages:
        for annot in page.get("/Annots") or []:
            widget = annot.get_object()
            field = widget.get("/Parent", widget).get_object() if "/T" not in widget else widget
            if field.get("/FT") != "/Btn" or "/T" not in field:
                continue
            normal = widget.get("/AP", {}).get("/N", {})
            on = [str(k) for k in normal if k != NameObject("/Off")]
            if on:
                states[str(field["/T"])] = on[0]
    return states
