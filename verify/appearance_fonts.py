"""Which fonts draw the text pdfminer reads from them (verify.appearance).

pdfminer reads a glyph's text from the font's ``/ToUnicode`` map, or from the glyph name its
encoding gives; a viewer paints the glyph the font program (or a font of its own) has for the
code. Where the two can differ, the text read is not the text seen.
"""

from __future__ import annotations

import functools
from typing import Any

from pdfminer.pdftypes import resolve1

from forms.extract import _name

#: Font types whose glyphs a viewer finds by the encoding's glyph names in a font of its own.
_SIMPLE_FONTS = frozenset({"Type1", "MMType1", "TrueType"})
_FONT_FILES = ("FontFile", "FontFile2", "FontFile3")


def font_trusted(objid: Any, spec: Any, known: dict[int, str]) -> bool:
    """Whether the text pdfminer reads from this font is the text a viewer paints with it.

    An embedded program draws whatever shape it has for a code, a ``/ToUnicode`` map names any
    text for it, and a Type3 glyph is any drawing: pdfminer then reads one number while the
    viewer paints another. Only two kinds of font are safe: the blank's own fonts (the same
    content as a published blank's ``/DR`` font; conformance keeps those unchanged), and fonts
    that embed nothing and map nothing, whose glyphs the viewer picks by the same glyph names
    pdfminer reads (what pdfium, pypdf and pdftk draw values with: Helvetica, Chrome's sans).
    """
    if objid is not None and known.get(objid) in _blank_fonts():
        return True
    if not isinstance(spec, dict) or "ToUnicode" in spec or _symbolic(spec):
        return False
    subtype = _name(spec.get("Subtype"))
    if subtype in _SIMPLE_FONTS:
        return not _embeds(spec)
    if subtype == "Type0":
        descendants = resolve1(spec.get("DescendantFonts"))
        encoding = resolve1(spec.get("Encoding"))
        return (_name(encoding) is not None and isinstance(descendants, list) and len(descendants) == 1
                and isinstance(resolve1(descendants[0]), dict) and not _embeds(resolve1(descendants[0])))
    return False  # Type3, or no type at all


#: Fonts whose glyphs for letters and digits are symbols: the viewer's installed Wingdings draws a
#: folder where pdfminer reads "0", and a symbolic font's own encoding may be used, not /Differences.
_SYMBOL_FAMILIES = ("Symbol", "ZapfDingbats", "Dingbats", "Wingdings", "Webdings", "Marlett")
_SYMBOLIC_FLAG = 4


def _symbolic(spec: dict) -> bool:
    base = (_name(spec.get("BaseFont")) or "").split("+")[-1]
    descriptor = resolve1(spec.get("FontDescriptor"))
    flags = resolve1(descriptor.get("Flags")) if isinstance(descriptor, dict) else 0
    return base.startswith(_SYMBOL_FAMILIES) or (isinstance(flags, int) and bool(flags & _SYMBOLIC_FLAG))


def _embeds(spec: dict) -> bool:
    descriptor = resolve1(spec.get("FontDescriptor"))  # none: a standard 14 font, nothing embedded
    return isinstance(descriptor, dict) and any(key in descriptor for key in _FONT_FILES)


@functools.lru_cache(maxsize=1)
def _blank_fonts() -> frozenset[str]:
    """The canonical contents (verify.conformance) of every published blank's /DR fonts."""
    from verify import conformance

    return frozenset(value for version, lang in conformance.PUBLISHED
                     for path, value in conformance.published_structure(version, lang).items()
                     if path.startswith("acroform /DR /Font "))
