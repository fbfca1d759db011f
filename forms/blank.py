"""The blank form as a fillable A4 PDF, laid out from the schema.

reportlab draws the pages (labels in the embedded DejaVu Sans, so Latvian
diacritics render on machines without any system font) and the AcroForm
fields. Field boxes are drawn on the page itself, so they look the same
whatever appearance a reader regenerates. pyHanko then adds what reportlab
cannot: the empty signature field, the Baltic field font (forms.field_font),
the /Info and XMP identity copies, and writes one clean revision.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path
from typing import Iterator, Literal, NamedTuple

import pycountry
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.metadata.model import ExpandedName, XmpStructure, XmpValue
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter, copy_into_new_writer
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from forms.field_font import FIELD_FONT, add_field_font
from forms.schema import (FIELDS, FORM_ID, FORM_VERSION, IDENTITY_FIELDS, SECTIONS, SIGNATURE_FIELD,
                          XMP_NAMESPACE, Field)

Lang = Literal["lv", "en"]
LANGS: tuple[Lang, ...] = ("lv", "en")
FONT_DIR = Path(__file__).with_name("fonts")
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"
FONT_FILES = {REGULAR: FONT_DIR / "DejaVuSans.ttf", BOLD: FONT_DIR / "DejaVuSans-Bold.ttf"}

PAGE_W, PAGE_H = A4
MARGIN = 42
CONTENT_W = PAGE_W - 2 * MARGIN
GUTTER = 14
HALF_W = (CONTENT_W - GUTTER) / 2
BOX_H = 18
CHECK = 11
LINE = 9  # label line pitch
FIELD_TEXT_SIZE = 9

INK = colors.HexColor("#1b2a3a")
MUTED = colors.HexColor("#5f6f80")
BRAND = colors.HexColor("#14406b")
BRAND_LIGHT = colors.HexColor("#c9d7e6")
TINT = colors.HexColor("#e9eff6")
BORDER = colors.HexColor("#8fa0b3")
FIELD_BG = colors.HexColor("#fbfcfe")


class Text(NamedTuple):
    """A text in both languages; ``in_order(lang)`` puts ``lang`` first."""

    lv: str
    en: str

    def in_order(self, lang: Lang) -> tuple[str, str]:
        return (self.lv, self.en) if lang == "lv" else (self.en, self.lv)


TITLE = Text("Klienta datu anketa", "Customer data form")
INSTRUCTIONS = (
    Text("Aizpildiet anketu datorā jebkurā PDF lasītājā. Ar * atzīmētie lauki ir obligāti, ar (*) atzīmētie – "
         "ja to prasa iepriekšējā atbilde.",
         "Fill in the form on a computer in any PDF reader. Fields marked * are required; fields marked (*) "
         "are required when your answer above calls for them."),
    Text("Parakstiet anketu ar drošu elektronisko parakstu (eParaksts, Smart-ID, Mobile-ID, ID karte) un "
         "nosūtiet to bankai e-pastā. Izdrukāta, ar roku parakstīta vai skenēta anketa netiek pieņemta.",
         "Sign the form with a qualified e-signature (eParaksts, Smart-ID, Mobile-ID, ID card) and e-mail it to "
         "the bank. A printed, hand-signed or scanned form is not accepted."),
)
SIGNATURE = Text("Klienta paraksts", "Customer's signature")
SIGNATURE_HINT = Text(
    "Parakstiet ar drošu elektronisko parakstu šajā laukā. Parakstītājam jābūt personai, kuras personas kods "
    "norādīts 1. sadaļā. Parakstīšanas datums un laiks tiek pievienots automātiski.",
    "Sign with a qualified e-signature in this field. The signer must be the person whose personal code is "
    "given in section 1. The date and time of signing are added automatically.",
)
PAGE = Text("lapa", "page")
#: The empty first choice; reportlab fails on choices without an initial value.
PLACEHOLDER = " "


def render_blank(lang: Lang = "lv") -> bytes:
    """The blank form with ``lang``'s labels first, as the bytes of a single-revision PDF."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    drawn, signature_box = _draw(lang)
    return _finish(drawn, signature_box, lang)


def _both(text: Text | object, lang: Lang, sep: str = " / ") -> str:
    return sep.join(Text(text.lv, text.en).in_order(lang))


# --- layout -----------------------------------------------------------------------------------------------


def _is_half(f: Field) -> bool:
    if f.width is not None:
        return f.width == "half"
    return f.kind in ("choice", "country", "date") or (f.kind == "text" and f.max_len <= 100)


def _rows(fields: list[Field]) -> Iterator[list[Field]]:
    """A section's fields as rows: consecutive half-width fields pair up, the rest stand alone."""
    pending: Field | None = None
    for f in fields:
        if _is_half(f) and f.kind != "checkbox":
            if pending is None:
                pending = f
                continue
            yield [pending, f]
            pending = None
            continue
        if pending is not None:
            yield [pending]
            pending = None
        yield [f]
    if pending is not None:
        yield [pending]


class Label(NamedTuple):
    text: str
    font: str
    size: float
    color: object


def _marker(f: Field) -> str:
    if f.kind == "checkbox":
        return " *" if f.must_be_checked else ""
    if f.required is True:
        return " *"
    return "" if f.required is False else " (*)"  # (*): a conditional requirement


def _label(f: Field, lang: Lang, width: float) -> list[Label]:
    """A field's label lines: the chosen language in bold, the other below it in grey."""
    first, second = Text(f.lv, f.en).in_order(lang)
    return ([Label(t, BOLD, 7.5, INK) for t in simpleSplit(first + _marker(f), BOLD, 7.5, width)]
            + [Label(t, REGULAR, 6.5, MUTED) for t in simpleSplit(second, REGULAR, 6.5, width)])


def _draw_labels(c: Canvas, labels: list[Label], x: float, top: float) -> None:
    y = top - 7.5
    for label in labels:
        c.setFont(label.font, label.size)
        c.setFillColor(label.color)
        c.drawString(x, y, label.text)
        y -= LINE


# --- drawing ----------------------------------------------------------------------------------------------


class _Pages:
    """A top-down cursor over the canvas; starts a new page (header, footer) when content would not fit."""

    def __init__(self, canvas: Canvas, lang: Lang):
        self.canvas, self.lang, self.number = canvas, lang, 1
        self.y = self._header(first=True)

    def ensure(self, height: float) -> None:
        if self.y - height < MARGIN + 18:
            self.finish_page()
            self.canvas.showPage()
            self.number += 1
            self.y = self._header(first=False)

    def finish_page(self) -> None:
        c = self.canvas
        c.setStrokeColor(BORDER)
        c.setLineWidth(0.5)
        c.line(MARGIN, MARGIN, PAGE_W - MARGIN, MARGIN)
        c.setFont(REGULAR, 7)
        c.setFillColor(MUTED)
        c.drawString(MARGIN, MARGIN - 11, f"{_both(TITLE, self.lang)} · {FORM_ID} {FORM_VERSION}")
        c.drawRightString(PAGE_W - MARGIN, MARGIN - 11, f"{PAGE.in_order(self.lang)[0]} {self.number}")

    def _header(self, first: bool) -> float:
        c = self.canvas
        height = 74 if first else 30
        c.setFillColor(BRAND)
        c.rect(0, PAGE_H - height, PAGE_W, height, stroke=0, fill=1)
        title, subtitle = TITLE.in_order(self.lang)
        if first:
            c.setFillColor(colors.white)
            c.setFont(BOLD, 19)
            c.drawString(MARGIN, PAGE_H - 36, title)
            c.setFont(REGULAR, 11)
            c.setFillColor(BRAND_LIGHT)
            c.drawString(MARGIN, PAGE_H - 54, subtitle)
        else:
            c.setFillColor(colors.white)
            c.setFont(BOLD, 9.5)
            c.drawString(MARGIN, PAGE_H - 19, f"{title} / {subtitle}")
        c.setFont(REGULAR, 7.5)
        c.setFillColor(BRAND_LIGHT)
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - (36 if first else 19), f"{FORM_ID} · {FORM_VERSION}")
        return PAGE_H - height - 18


def _draw(lang: Lang) -> tuple[bytes, tuple[int, int, int, int]]:
    for name, path in FONT_FILES.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path)))
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1, lang=lang)
    canvas.setTitle(_both(TITLE, lang))
    canvas.setSubject(f"{FORM_ID} {FORM_VERSION}")
    canvas.setCreator("docintake")
    canvas.setAuthor("docintake")
    pages = _Pages(canvas, lang)
    _instructions(pages)
    _hidden_identity_fields(canvas)
    countries = _country_options(lang)
    for number, section in enumerate(SECTIONS, 1):
        rows = list(_rows([f for f in FIELDS if f.section == section.key]))
        pages.ensure(26 + _row_height(rows[0], lang))
        _section_heading(pages, number, section)
        for row in rows:
            pages.ensure(_row_height(row, lang))
            _draw_row(pages, row, countries)
        pages.y -= 8
    signature_box = _signature_block(pages)
    pages.finish_page()
    canvas.showPage()
    canvas.save()
    return out.getvalue(), signature_box


def _instructions(pages: _Pages) -> None:
    c, lang = pages.canvas, pages.lang
    lines = [Label(line, REGULAR, size, color)
             for index, size, color in ((0, 8, INK), (1, 6.8, MUTED))
             for text in INSTRUCTIONS
             for line in simpleSplit(text.in_order(lang)[index], REGULAR, size, CONTENT_W - 24)]
    height = sum(label.size + 3.2 for label in lines) + 16
    top = pages.y
    c.setFillColor(TINT)
    c.roundRect(MARGIN, top - height, CONTENT_W, height, 4, stroke=0, fill=1)
    c.setFillColor(BRAND)
    c.rect(MARGIN, top - height, 3, height, stroke=0, fill=1)
    y = top - 8
    for i, label in enumerate(lines):
        if i and label.size != lines[i - 1].size:
            y -= 4  # a little air between the two languages
        y -= label.size + 1.2
        c.setFont(label.font, label.size)
        c.setFillColor(label.color)
        c.drawString(MARGIN + 13, y, label.text)
        y -= 2
    pages.y -= height + 16


def _hidden_identity_fields(canvas: Canvas) -> None:
    """form_id and form_version: hidden, read-only, outside any visible area."""
    for i, (name, value) in enumerate(IDENTITY_FIELDS.items()):
        canvas.acroForm.textfield(name=name, value=value, x=i * 2, y=0, width=1, height=1, borderWidth=0,
                                  fillColor=None, fieldFlags="readOnly", annotationFlags="hidden print",
                                  maxlen=0, fontName="Helvetica", fontSize=1)


def _section_heading(pages: _Pages, number: int, section: object) -> None:
    c = pages.canvas
    first, second = Text(section.lv, section.en).in_order(pages.lang)
    top = pages.y
    c.setFillColor(TINT)
    c.rect(MARGIN, top - 18, CONTENT_W, 18, stroke=0, fill=1)
    c.setFillColor(BRAND)
    c.rect(MARGIN, top - 18, 18, 18, stroke=0, fill=1)
    c.setFillColor(colors.white)
    c.setFont(BOLD, 9)
    c.drawCentredString(MARGIN + 9, top - 12.5, str(number))
    c.setFillColor(BRAND)
    c.drawString(MARGIN + 26, top - 12.5, first)
    c.setFont(REGULAR, 8)
    c.setFillColor(MUTED)
    c.drawString(MARGIN + 30 + pdfmetrics.stringWidth(first, BOLD, 9), top - 12.5, f"/ {second}")
    pages.y -= 27


def _width(row: list[Field]) -> float:
    return HALF_W if all(_is_half(f) for f in row) else CONTENT_W


def _checkbox_label_width() -> float:
    return CONTENT_W - CHECK - 8


def _row_height(row: list[Field], lang: Lang) -> float:
    if row[0].kind == "checkbox":
        return max(CHECK + 2, LINE * len(_label(row[0], lang, _checkbox_label_width()))) + 7
    return max(LINE * len(_label(f, lang, _width(row))) for f in row) + BOX_H + 10


def _draw_row(pages: _Pages, row: list[Field], countries: list[tuple[str, str]]) -> None:
    c, lang = pages.canvas, pages.lang
    height = _row_height(row, lang)
    top = pages.y
    if row[0].kind == "checkbox":
        _checkbox(c, row[0], MARGIN, top - CHECK - 0.5, lang)
        _draw_labels(c, _label(row[0], lang, _checkbox_label_width()), MARGIN + CHECK + 8, top)
    else:
        width = _width(row)
        box_y = top - height + 10
        for i, f in enumerate(row):
            x = MARGIN + i * (HALF_W + GUTTER)
            _draw_labels(c, _label(f, lang, width), x, top)
            _input(c, f, x, box_y, width, lang, countries)
    pages.y -= height


def _box(c: Canvas, x: float, y: float, width: float, height: float) -> None:
    c.setFillColor(FIELD_BG)
    c.setStrokeColor(BORDER)
    c.setLineWidth(0.7)
    c.rect(x, y, width, height, stroke=1, fill=1)


def _checkbox(c: Canvas, f: Field, x: float, y: float, lang: Lang) -> None:
    _box(c, x, y, CHECK, CHECK)
    c.acroForm.checkbox(name=f.name, x=x, y=y, size=CHECK, buttonStyle="check", borderWidth=0, fillColor=None,
                        borderColor=None, textColor=BRAND, tooltip=_both(f, lang),
                        fieldFlags="required" if f.must_be_checked else "")


def _input(c: Canvas, f: Field, x: float, y: float, width: float, lang: Lang,
           countries: list[tuple[str, str]]) -> None:
    _box(c, x, y, width, BOX_H)
    common = dict(name=f.name, x=x, y=y, width=width, height=BOX_H, borderWidth=0, fillColor=None, textColor=INK,
                  fontName="Helvetica", fontSize=FIELD_TEXT_SIZE, tooltip=_both(f, lang),
                  fieldFlags="required" if f.required is True else "")
    if f.kind in ("choice", "country"):
        _drop_down_arrow(c, x + width - 11, y + BOX_H / 2)
        options = [(PLACEHOLDER, ""), *_choice_options(f, lang, countries)]
        c.acroForm.choice(options=options, value=PLACEHOLDER, maxlen=0, **common)
    else:
        c.acroForm.textfield(value="", maxlen=f.max_len, **common)


def _drop_down_arrow(c: Canvas, x: float, y: float) -> None:
    """A printed hint that the box is a list; readers draw their own button only on focus."""
    c.setFillColor(MUTED)
    path = c.beginPath()
    path.moveTo(x - 3.5, y + 1.8)
    path.lineTo(x + 3.5, y + 1.8)
    path.lineTo(x, y - 2.2)
    path.close()
    c.drawPath(path, stroke=0, fill=1)


def _choice_options(f: Field, lang: Lang, countries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(display, export value) pairs; the export values are exactly FORM.md's."""
    if f.kind == "country":
        return [option for option in countries if f.countries is None or option[1] in f.countries]
    return [(_both(choice, lang), choice.value) for choice in f.choices]


def _country_options(lang: Lang) -> list[tuple[str, str]]:
    """Every ISO 3166-1 alpha-2 code, named in ``lang`` (pycountry ships the iso-codes translations)."""
    names = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
    countries = sorted(pycountry.countries, key=lambda country: country.alpha_2)
    return [(f"{c.alpha_2} - {names.gettext(c.name)}", c.alpha_2) for c in countries]


def _signature_block(pages: _Pages) -> tuple[int, int, int, int]:
    c, lang = pages.canvas, pages.lang
    pages.ensure(110)
    first, second = SIGNATURE.in_order(lang)
    _draw_labels(c, [Label(first + " *", BOLD, 8.5, INK), Label(second, REGULAR, 7, MUTED)], MARGIN, pages.y)
    top = pages.y - 24
    box = (int(MARGIN), int(top - 64), int(MARGIN + HALF_W), int(top))
    c.setFillColor(FIELD_BG)
    c.setStrokeColor(BORDER)
    c.setDash(3, 2)
    c.setLineWidth(0.8)
    c.rect(box[0], box[1], box[2] - box[0], box[3] - box[1], stroke=1, fill=1)
    c.setDash()
    hint_x, hint_w = MARGIN + HALF_W + GUTTER, HALF_W
    y = top - 8
    for size, color, text in ((7.2, INK, SIGNATURE_HINT.in_order(lang)[0]),
                              (6.5, MUTED, SIGNATURE_HINT.in_order(lang)[1])):
        c.setFont(REGULAR, size)
        c.setFillColor(color)
        for line in simpleSplit(text, REGULAR, size, hint_w):
            c.drawString(hint_x, y, line)
            y -= size + 2.5
        y -= 4
    pages.y = box[1] - 10
    return box


# --- what reportlab cannot do -------------------------------------------------------------------------------


def _finish(drawn: bytes, signature_box: tuple[int, int, int, int], lang: Lang) -> bytes:
    """Signature field, field font, identity metadata; written as one revision."""
    reader = PdfFileReader(io.BytesIO(drawn))
    writer = copy_into_new_writer(reader)
    last_page = int(reader.root["/Pages"]["/Count"]) - 1
    append_signature_field(writer, SigFieldSpec(SIGNATURE_FIELD, on_page=last_page, box=signature_box))
    _use_field_font(writer)
    _add_identity_metadata(writer, lang)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _use_field_font(writer: BasePdfFileWriter) -> None:
    """Point every text and choice field's /DA at the embedded Baltic font.

    NeedAppearances stays off: every widget has an appearance stream, readers
    draw a new one when the customer edits a field, and pdfium's bulk redraw
    on NeedAppearances loses letters such as ā that the field font does have.
    """
    acroform = writer.root["/AcroForm"]
    resources = acroform.setdefault(generic.pdf_name("/DR"), generic.DictionaryObject())
    fonts = resources.setdefault(generic.pdf_name("/Font"), generic.DictionaryObject())
    fonts[generic.pdf_name(FIELD_FONT)] = add_field_font(writer, FONT_FILES[REGULAR])
    appearance = f"{FIELD_FONT} {FIELD_TEXT_SIZE} Tf {_rgb(INK)} rg"
    acroform[generic.pdf_name("/DA")] = generic.TextStringObject(appearance)
    for ref in acroform["/Fields"]:
        field = ref.get_object()
        if field.get("/FT") in ("/Tx", "/Ch"):
            field[generic.pdf_name("/DA")] = generic.TextStringObject(appearance)


def _rgb(color: colors.Color) -> str:
    return " ".join(f"{v:.3f}" for v in color.rgb())


def _add_identity_metadata(writer: BasePdfFileWriter, lang: Lang) -> None:
    """/FormId and /FormVersion in /Info, and the same in XMP under schema.XMP_NAMESPACE."""
    info = writer._info.get_object() if writer._info is not None else generic.DictionaryObject()
    for key, value in (("/FormId", FORM_ID), ("/FormVersion", FORM_VERSION)):
        info[generic.pdf_name(key)] = generic.TextStringObject(value)
    writer.set_info(info)
    meta = writer.document_meta
    meta.title = _both(TITLE, lang)
    meta.xmp_extra = [XmpStructure.of(
        (ExpandedName(XMP_NAMESPACE, "FormId"), XmpValue(FORM_ID)),
        (ExpandedName(XMP_NAMESPACE, "FormVersion"), XmpValue(FORM_VERSION)),
    )]
