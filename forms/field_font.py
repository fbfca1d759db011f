"""An embedded font for what customers type into the form's fields.

Readers redraw field values with the font named in the field's /DA, looked up
in the AcroForm /DR. The standard Helvetica has no ā, ē, ņ, ķ, ... so typed
Latvian names came out as "Brziš". Here DejaVu Sans is embedded as a simple
TrueType font with the Windows Baltic code page (cp1257: Latvian, Lithuanian,
Estonian, Polish letters) expressed as glyph names, which every reader and
pypdf can encode into when regenerating appearances. A simple font, not a
Type0 one, because form-field appearance generation expects 8-bit fonts.
"""

from __future__ import annotations

import io
import logging
import unicodedata
from pathlib import Path

from fontTools import subset
from fontTools.agl import UV2AGL
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import BasePdfFileWriter

#: Resource name of the field font in /DR and in every field's /DA.
FIELD_FONT = "/DejaVuField"
CODE_PAGE = "cp1257"
FIRST_CODE = 32
# The subsetter reports every step at INFO, which floods an application's INFO log.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)


def _code_page() -> dict[int, str]:
    chars = {}
    for code in range(FIRST_CODE, 256):
        try:
            char = bytes([code]).decode(CODE_PAGE)
        except UnicodeDecodeError:
            continue
        if unicodedata.category(char) != "Cc":
            chars[code] = char
    return chars


def add_field_font(writer: BasePdfFileWriter, ttf_path: Path) -> generic.IndirectObject:
    """Embed a cp1257 subset of ``ttf_path`` and return the font dictionary's reference."""
    chars = _code_page()
    font = TTFont(str(ttf_path))
    options = subset.Options()
    options.glyph_names = True
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.drop_tables += ["FFTM", "GSUB", "GPOS", "GDEF", "MATH"]  # simple fonts use no layout tables
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars.values()])
    subsetter.subset(font)
    scale = 1000 / font["head"].unitsPerEm
    cmap = font.getBestCmap()
    widths = [
        round(font["hmtx"][cmap[ord(chars[code])]][0] * scale) if code in chars and ord(chars[code]) in cmap else 0
        for code in range(FIRST_CODE, 256)
    ]
    data = io.BytesIO()
    font.save(data)
    program = generic.StreamObject({generic.pdf_name("/Length1"): generic.NumberObject(len(data.getvalue()))},
                                   stream_data=data.getvalue())
    program.compress()
    head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]
    base_font = generic.pdf_name("/DOCINT+DejaVuSans")
    descriptor = generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/FontDescriptor"),
        generic.pdf_name("/FontName"): base_font,
        generic.pdf_name("/Flags"): generic.NumberObject(32),  # non-symbolic
        generic.pdf_name("/FontBBox"): generic.ArrayObject(
            generic.NumberObject(round(v * scale)) for v in (head.xMin, head.yMin, head.xMax, head.yMax)),
        generic.pdf_name("/ItalicAngle"): generic.NumberObject(0),
        generic.pdf_name("/Ascent"): generic.NumberObject(round(hhea.ascent * scale)),
        generic.pdf_name("/Descent"): generic.NumberObject(round(hhea.descent * scale)),
        generic.pdf_name("/CapHeight"): generic.NumberObject(round(getattr(os2, "sCapHeight", head.yMax) * scale)),
        generic.pdf_name("/StemV"): generic.NumberObject(80),
        generic.pdf_name("/FontFile2"): writer.add_object(program),
    })
    differences = generic.ArrayObject([generic.NumberObject(FIRST_CODE)])
    for code in range(FIRST_CODE, 256):
        name = UV2AGL.get(ord(chars[code]), f"uni{ord(chars[code]):04X}") if code in chars else ".notdef"
        differences.append(generic.pdf_name("/" + name))
    to_unicode = generic.StreamObject(stream_data=_to_unicode_cmap(chars))
    to_unicode.compress()
    return writer.add_object(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Font"),
        generic.pdf_name("/ToUnicode"): writer.add_object(to_unicode),
        generic.pdf_name("/Subtype"): generic.pdf_name("/TrueType"),
        generic.pdf_name("/BaseFont"): base_font,
        generic.pdf_name("/FirstChar"): generic.NumberObject(FIRST_CODE),
        generic.pdf_name("/LastChar"): generic.NumberObject(255),
        generic.pdf_name("/Widths"): generic.ArrayObject(generic.NumberObject(w) for w in widths),
        generic.pdf_name("/FontDescriptor"): writer.add_object(descriptor),
        generic.pdf_name("/Encoding"): generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Encoding"),
            generic.pdf_name("/Differences"): differences,
        }),
    }))


def _to_unicode_cmap(chars: dict[int, str]) -> bytes:
    """A /ToUnicode CMap: text extraction, and readers (pdfium) that encode typed text through it."""
    entries = [f"<{code:02X}> <{ord(char):04X}>" for code, char in chars.items()]
    blocks = [entries[i:i + 100] for i in range(0, len(entries), 100)]  # at most 100 per bfchar block
    body = "\n".join(f"{len(block)} beginbfchar\n" + "\n".join(block) + "\nendbfchar" for block in blocks)
    return f"""/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<00> <FF>
endcodespacerange
{body}
endcmap
CMapName currentdict /CMap defineresource pop
end
end
""".encode("ascii")
