"""The blank form as a fillable A4 PDF, laid out from the schema.

reportlab draws the pages and the AcroForm fields (its field appearances only
know the standard 14 fonts, so NeedAppearances asks readers to redraw typed
values); the static text uses the embedded DejaVu Sans so Latvian diacritics
render on machines without any system font. pyHanko then adds the empty
signature field reportlab cannot make, the /Info and XMP identity copies, and
writes everything as a single revision.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

import pycountry
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from forms.schema import FIELDS, FORM_ID, FORM_VERSION, IDENTITY_FIELDS, SECTIONS, SIGNATURE_FIELD, XMP_NAMESPACE, Field

Lang = Literal["lv", "en"]
LANGS: tuple[Lang, ...] = ("lv", "en")
TITLE = {"lv": "Klienta datu anketa", "en": "Customer data form"}
FONT_DIR = Path(__file__).with_name("fonts")
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"

PAGE_W, PAGE_H = A4
MARGIN = 42
CONTENT_W = PAGE_W - 2 * MARGIN
GUTTER = 14
HALF_W = (CONTENT_W - GUTTER) / 2
BOX_H = 17
CHECK = 11

INK = colors.HexColor("#1b2a3a")
MUTED = colors.HexColor("#5f6f80")
BRAND = colors.HexColor("#14406b")
TINT = colors.HexColor("#e9eff6")
RULE = colors.HexColor("#9aaabb")
FIELD_BG = colors.HexColor("#fbfcfe")

INSTRUCTIONS = {
    "lv": (
        "Aizpildiet anketu datorā jebkurā PDF lasītājā. Ar * atzīmētie lauki ir obligāti; ar (*) atzīmētie "
        "ir obligāti, ja to prasa iepriekšējā atbilde.",
        "Parakstiet anketu ar drošu elektronisko parakstu (eParaksts, Smart-ID, Mobile-ID, ID karte) un "
        "nosūtiet to bankai e-pastā. Izdrukāta un skenēta anketa netiek pieņemta.",
    ),
    "en": (
        "Fill in the form on a computer in any PDF reader. Fields marked * are required; fields marked (*) "
        "are required when your answer above calls for them.",
        "Sign the form with a qualified e-signature (eParaksts, Smart-ID, Mobile-ID, ID card) and e-mail it "
        "to the bank. A printed and scanned form is not accepted.",
    ),
}
#: The empty first choice; reportlab's appearance streams only take Latin-1.
PLACEHOLDER = " "
SIGNATURE_LABEL = {"lv": "Klienta paraksts", "en": "Customer's signature"}
SIGNATURE_HINT = {
    "lv": "Drošs elektroniskais paraksts; datums un laiks tiek pievienoti parakstot.",
    "en": "Qualified e-signature; the date and time are added when signing.",
}


def render_blank(lang: Lang = "lv") -> bytes:
    """The blank form with ``lang``'s labels first; bytes of a single-revision PDF."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    drawn, signature_box = _draw(lang)
    return _finish(drawn, signature_box, lang)


def bilingual(obj: object, lang: Lang, sep: str = " / ") -> str:
    """``obj.lv`` and ``obj.en`` with ``lang`` first."""
    first, second = (obj.lv, obj.en) if lang == "lv" else (obj.en, obj.lv)
    return f"{first}{sep}{second}"


def _register_fonts() -> None:
    for name, file in ((REGULAR, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf")):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / file)))


@dataclass(frozen=True)
class _Labels:
    first: str
    second: str

    @staticmethod
    def of(obj: object, lang: Lang) -> "_Labels":
        return _Labels(*bilingual(obj, lang, "\0").split("\0"))


def _is_half(f: Field) -> bool:
    return f.kind in ("choice", "country", "date") or (f.kind == "text" and f.max_len <= 100)


def _rows(fields: list[Field]) -> Iterator[list[Field]]:
    """Group a section's fields into rows: two half-width fields side by side, others alone."""
    row: list[Field] = []
    for f in fields:
        if _is_half(f) and (not row or len(row) == 1 and _is_half(row[0])):
            row.append(f)
            if len(row) == 2:
                yield row
                row = []
            continue
        if row:
            yield row
        row = []
        if _is_half(f):
            row = [f]
        else:
            yield [f]
    if row:
        yield row


class _Page:
    """A cursor over the canvas that starts new pages with header and footer."""

    def __init__(self, canvas: Canvas, lang: Lang):
        self.canvas, self.lang, self.number = canvas, lang, 1
        self.y = self._header(first=True)

    def ensure(self, height: float) -> None:
        if self.y - height < MARGIN + 24:
            self._footer()
            self.canvas.showPage()
            self.number += 1
            self.y = self._header(first=False)

    def finish(self) -> None:
        self._footer()
        self.canvas.showPage()

    def _header(self, first: bool) -> float:
        c = self.canvas
        height = 70 if first else 34
        c.setFillColor(BRAND)
        c.rect(0, PAGE_H - height, PAGE_W, height, stroke=0, fill=1)
        c.setFillColor(colors.white)
        title = _Labels.of(_Title, self.lang)
        if first:
            c.setFont(BOLD, 18)
            c.drawString(MARGIN, PAGE_H - 34, title.first)
            c.setFont(REGULAR, 11)
            c.setFillColor(colors.HexColor("#c9d7e6"))
            c.drawString(MARGIN, PAGE_H - 52, title.second)
        else:
            c.setFont(BOLD, 10)
            c.drawString(MARGIN, PAGE_H - 21, f"{title.first} / {title.second}")
        c.setFont(REGULAR, 8)
        c.setFillColor(colors.HexColor("#c9d7e6"))
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - (34 if first else 21), f"{FORM_ID}")
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - (46 if first else 31), f"v{FORM_VERSION}")
        return PAGE_H - height - 18

    def _footer(self) -> None:
        c = self.canvas
        c.setStrokeColor(RULE)
        c.setLineWidth(0.5)
        c.line(MARGIN, MARGIN, PAGE_W - MARGIN, MARGIN)
        c.setFont(REGULAR, 7)
        c.setFillColor(MUTED)
        c.drawString(MARGIN, MARGIN - 11, f"{TITLE['lv']} / {TITLE['en']} · {FORM_ID} {FORM_VERSION}")
        page = {"lv": "lapa", "en": "page"}[self.lang]
        c.drawRightString(PAGE_W - MARGIN, MARGIN - 11, f"{page} {self.number}")


class _Title:
    lv, en = TITLE["lv"], TITLE["en"]


def _draw(lang: Lang) -> tuple[bytes, tuple[int, int, int, int]]:
    _register_fonts()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(bilingual(_Title, lang))
    canvas.setSubject(f"{FORM_ID} {FORM_VERSION}")
    canvas.setCreator("docintake")
    canvas.setAuthor("docintake")
    page = _Page(canvas, lang)
    _instructions(page)
    _identity_fields(canvas)
    countries = _country_options(lang)
    for number, section in enumerate(SECTIONS, 1):
        fields = [f for f in FIELDS if f.section == section.key]
        rows = list(_rows(fields))
        page.ensure(26 + _row_height(rows[0], lang))
        _section_heading(page, number, section, lang)
        for row in rows:
            page.ensure(_row_height(row, lang))
            _draw_row(page, row, lang, countries)
        page.y -= 6
    signature_box = _signature_block(page, lang)
    page.finish()
    canvas.save()
    return out.getvalue(), signature_box


def _instructions(page: _Page) -> None:
    c, lang = page.canvas, page.lang
    other: Lang = "en" if lang == "lv" else "lv"
    lines = [(REGULAR, 8, INK, text) for text in INSTRUCTIONS[lang]]
    lines += [(REGULAR, 7, MUTED, text) for text in INSTRUCTIONS[other]]
    wrapped = [(font, size, color, line) for font, size, color, text in lines
               for line in simpleSplit(text, font, size, CONTENT_W - 20)]
    height = sum(size + 3 for _, size, _, _ in wrapped) + 14
    c.setFillColor(TINT)
    c.setStrokeColor(TINT)
    c.roundRect(MARGIN, page.y - height, CONTENT_W, height, 4, stroke=0, fill=1)
    c.setFillColor(BRAND)
    c.rect(MARGIN, page.y - height, 3, height, stroke=0, fill=1)
    y = page.y - 7
    for font, size, color, line in wrapped:
        y -= size + 1
        c.setFont(font, size)
        c.setFillColor(color)
        c.drawString(MARGIN + 12, y, line)
        y -= 2
    page.y -= height + 16


def _identity_fields(canvas: Canvas) -> None:
    """The hidden, read-only form_id / form_version fields."""
    for i, (name, value) in enumerate(IDENTITY_FIELDS.items()):
        canvas.acroForm.textfield(name=name, value=value, x=1 + i * 2, y=1, width=1, height=1, borderWidth=0,
                                  fillColor=None, fieldFlags="readOnly", annotationFlags="hidden",
                                  maxlen=0, fontName="Helvetica", fontSize=1)


def _section_heading(page: _Page, number: int, section: object, lang: Lang) -> None:
    c = page.canvas
    labels = _Labels.of(section, lang)
    c.setFillColor(TINT)
    c.rect(MARGIN, page.y - 17, CONTENT_W, 17, stroke=0, fill=1)
    c.setFillColor(BRAND)
    c.rect(MARGIN, page.y - 17, 17, 17, stroke=0, fill=1)
    c.setFillColor(colors.white)
    c.setFont(BOLD, 9)
    c.drawCentredString(MARGIN + 8.5, page.y - 12, str(number))
    c.setFillColor(BRAND)
    c.drawString(MARGIN + 25, page.y - 12, labels.first)
    c.setFont(REGULAR, 8)
    c.setFillColor(MUTED)
    c.drawString(MARGIN + 29 + pdfmetrics.stringWidth(labels.first, BOLD, 9), page.y - 12, "/ " + labels.second)
    page.y -= 26


def _marker(f: Field) -> str:
    if f.kind == "checkbox":
        return " *" if f.must_be_checked else ""
    return " *" if f.required is True else ("" if f.required is False else " (*)")


def _label_lines(f: Field, lang: Lang, width: float) -> list[tuple[str, str, float, object]]:
    """(text, font, size, color) lines of a field label: chosen language first, the other below."""
    labels = _Labels.of(f, lang)
    first = simpleSplit(labels.first + _marker(f), BOLD, 7.5, width)
    second = simpleSplit(labels.second, REGULAR, 6.5, width)
    return [(t, BOLD, 7.5, INK) for t in first] + [(t, REGULAR, 6.5, MUTED) for t in second]


def _field_width(row: list[Field]) -> float:
    return HALF_W if len(row) == 2 or _is_half(row[0]) and row[0].kind != "checkbox" else CONTENT_W


def _row_height(row: list[Field], lang: Lang) -> float:
    if row[0].kind == "checkbox":
        return max(CHECK, 9 * len(_label_lines(row[0], lang, CONTENT_W - CHECK - 8))) + 8
    return max(9 * len(_label_lines(f, lang, _field_width(row))) for f in row) + BOX_H + 9


def _draw_row(page: _Page, row: list[Field], lang: Lang, countries: list[tuple[str, str]]) -> None:
    c, form = page.canvas, page.canvas.acroForm
    height = _row_height(row, lang)
    if row[0].kind == "checkbox":
        f = row[0]
        form.checkbox(name=f.name, x=MARGIN, y=page.y - CHECK, size=CHECK, buttonStyle="check",
                      borderColor=RULE, fillColor=FIELD_BG, textColor=BRAND, borderWidth=0.8,
                      fieldFlags="required" if f.must_be_checked else "", tooltip=bilingual(f, lang))
        _draw_lines(c, _label_lines(f, lang, CONTENT_W - CHECK - 8), MARGIN + CHECK + 8, page.y - 8)
        page.y -= height
        return
    width = _field_width(row)
    label_h = height - BOX_H - 9
    for i, f in enumerate(row):
        x = MARGIN + i * (HALF_W + GUTTER)
        _draw_lines(c, _label_lines(f, lang, width), x, page.y - 7.5)
        box_y = page.y - label_h - BOX_H - 2
        common = dict(name=f.name, x=x, y=box_y, width=width, height=BOX_H, borderColor=RULE,
                      fillColor=FIELD_BG, textColor=INK, borderWidth=0.8, fontName="Helvetica", fontSize=9,
                      tooltip=bilingual(f, lang), fieldFlags="required" if f.required is True else "")
        if f.kind in ("choice", "country"):
            # A placeholder option exporting "" leaves the field empty (and works around reportlab
            # failing on choices without an initial value).
            options = [(PLACEHOLDER, ""), *_choice_options(f, lang, countries)]
            form.choice(options=options, value=PLACEHOLDER, maxlen=0, **common)
        else:
            form.textfield(value="", maxlen=f.max_len, **common)
    page.y -= height


def _draw_lines(c: Canvas, lines: list[tuple[str, str, float, object]], x: float, y: float) -> None:
    for text, font, size, color in lines:
        c.setFont(font, size)
        c.setFillColor(color)
        c.drawString(x, y, text)
        y -= 9


def _choice_options(f: Field, lang: Lang, countries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(display, export value) pairs; export values are exactly FORM.md's."""
    if f.kind == "country":
        return [opt for opt in countries if f.countries is None or opt[1] in f.countries]
    return [(bilingual(choice, lang), choice.value) for choice in f.choices]


def _country_options(lang: Lang) -> list[tuple[str, str]]:
    """Every ISO 3166-1 alpha-2 code with its name in ``lang`` (pycountry's iso-codes translations)."""
    names = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
    countries = sorted(pycountry.countries, key=lambda c: c.alpha_2)
    return [(f"{c.alpha_2} – {names.gettext(c.name)}", c.alpha_2) for c in countries]


def _signature_block(page: _Page, lang: Lang) -> tuple[int, int, int, int]:
    c = page.canvas
    page.ensure(100)
    page.y -= 6
    labels = _Labels.of(type("S", (), {"lv": SIGNATURE_LABEL["lv"], "en": SIGNATURE_LABEL["en"]}), lang)
    _draw_lines(c, [(labels.first, BOLD, 8.5, INK), (labels.second, REGULAR, 7, MUTED)], MARGIN, page.y - 8)
    top = page.y - 24
    box = (int(MARGIN), int(top - 60), int(MARGIN + HALF_W), int(top))
    c.setStrokeColor(RULE)
    c.setDash(3, 2)
    c.setLineWidth(0.8)
    c.rect(box[0], box[1], box[2] - box[0], box[3] - box[1], stroke=1, fill=0)
    c.setDash()
    c.setFont(REGULAR, 7)
    c.setFillColor(MUTED)
    for i, line in enumerate(simpleSplit(SIGNATURE_HINT[lang], REGULAR, 7, HALF_W - 20)):
        c.drawString(MARGIN + HALF_W + GUTTER, top - 8 - 9 * i, line)
    page.y = box[1] - 10
    return box


def _finish(drawn: bytes, signature_box: tuple[int, int, int, int], lang: Lang) -> bytes:
    """Add the empty signature field and the identity metadata; write one clean revision."""
    reader = PdfFileReader(io.BytesIO(drawn))
    writer = copy_into_new_writer(reader)
    last_page = int(reader.root["/Pages"]["/Count"]) - 1
    append_signature_field(writer, SigFieldSpec(SIGNATURE_FIELD, on_page=last_page, box=signature_box))
    info = writer._info.get_object() if writer._info is not None else generic.DictionaryObject()
    info[generic.NameObject("/FormId")] = generic.TextStringObject(FORM_ID)
    info[generic.NameObject("/FormVersion")] = generic.TextStringObject(FORM_VERSION)
    writer.set_info(info)
    acroform = writer.root["/AcroForm"]
    acroform[generic.NameObject("/NeedAppearances")] = generic.BooleanObject(True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
