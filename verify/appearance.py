"""Appearance = value: every field must show what it stores (FORM.md, ``appearance_mismatch``).

A text field's normal appearance must draw its ``/V``; a checkbox's ``/AS`` must equal its
``/V`` and its appearance must draw a mark exactly when it is checked; a choice must show the
display text of the export value stored (or the export value itself, which is what pypdf and
other simple fillers draw; both name one option of the blank's unchanged ``/Opt``).

The drawn text is read by pdfminer's interpreter (the one pdfplumber runs) on the appearance
stream, keeping only what a person can see: not in an invisible render mode (``Tr 3``/``7``),
not white on the white form, not smaller than :data:`MIN_SIZE` once the appearance is scaled to
its widget, and inside the appearance's BBox and every clipping rectangle. Text that runs past the
right edge of a one-line box is what a reader does with a long value: the hidden part must only
follow the visible part. A widget without an appearance while ``/NeedAppearances`` is set shows
``/V`` (the viewer draws it): accepted.

Template conformance (verify.conformance) has already fixed everything else a viewer uses: the
widgets' ``/Rect``, ``/F`` flags, ``/MK``, the field tree and the page content.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterator

from pdfminer.converter import PDFLayoutAnalyzer
from pdfminer.pdfinterp import PDFPageInterpreter
from pdfminer.pdftypes import resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import apply_matrix_pt, mult_matrix

from forms.extract import _name, _text
from forms.kept import Kept
from forms.schema import FIELDS_BY_NAME, IDENTITY_FIELDS
from forms.strict_reading import RecoveryRefused
from verify.appearance_fonts import font_trusted
from verify.content_syntax import syntax_problem

#: Smallest text height (points on the page) that counts as shown; the blank's fields use 9 pt.
MIN_SIZE = 3.0
#: A colour this light (0 black .. 1 white) on the blank's near-white boxes is not legible.
MAX_LIGHTNESS = 0.85
#: How far inside the box's right edge a reader's clip may cut a long value (pypdf: 4 pt).
OVERFLOW_MARGIN = 6.0
#: Width of the drop-down button pdfium draws at the right end of a list's box (13 pt there).
LIST_BUTTON = 18.0
_HIDDEN_FLAGS = 0b100010  # /F Hidden (2) and NoView (32)
_MAX_FIELDS = 500


@dataclass(frozen=True)
class Mismatch:
    field: str
    message: str


@dataclass
class _Glyph:
    text: str
    visible: bool
    beyond_right: bool  # hidden only because it runs past the right edge
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x0, y0, x1, y1 in the appearance
    font_trusted: bool = True  # see verify.appearance_fonts
    upright: bool = True  # not turned, mirrored or skewed (a "9" turned over is a "6")


def check(doc: Any, known: dict[int, str] | None = None) -> list[Mismatch]:
    """Fields of a pdfminer document whose appearance does not show their value, in schema order.

    ``known``: object number -> canonical content (verify.conformance), so that a font the
    structure check has already read is looked up in the font cache without walking it again;
    it is also what tells the blank's own fonts (see :mod:`verify.appearance_fonts`): without it, text
    drawn with an embedded font is not trusted.
    """
    acroform = resolve1(doc.catalog.get("AcroForm"))
    if not isinstance(acroform, dict):
        return []
    need_appearances = resolve1(acroform.get("NeedAppearances")) is True
    manager = _fonts_manager(known or {})
    found: list[Mismatch] = []
    for name, node, widgets in _terminal_fields(acroform):
        spec = FIELDS_BY_NAME.get(name)
        if spec is None or name in IDENTITY_FIELDS:
            continue  # unknown fields are form_altered; the identity fields are hidden and fixed
        for widget in widgets:
            problem = _widget_problem(spec, node, widget, need_appearances, acroform, manager)
            if problem:
                found.append(Mismatch(name, f"{name}: {problem}"))
                break
    order = {name: i for i, name in enumerate(FIELDS_BY_NAME)}
    return sorted(found, key=lambda m: order[m.field])


def _terminal_fields(acroform: dict) -> Iterator[tuple[str, dict, list[dict]]]:
    """(full name, field dictionary, its widgets) of every terminal field."""
    count = 0

    def walk(refs: Any, parent: str, depth: int) -> Iterator[tuple[str, dict, list[dict]]]:
        nonlocal count
        refs = resolve1(refs)
        if not isinstance(refs, list) or depth > 32:
            return
        for ref in refs:
            node = resolve1(ref)
            count += 1
            if not isinstance(node, dict) or count > _MAX_FIELDS:
                continue
            partial = _text(node.get("T"))
            name = f"{parent}.{partial}" if parent and partial else (partial or parent)
            kids = [resolve1(k) for k in resolve1(node.get("Kids")) or []] if "Kids" in node else []
            if any(isinstance(k, dict) and "T" in k for k in kids):
                yield from walk(node.get("Kids"), name, depth + 1)
            elif name:
                yield name, node, [k for k in kids if isinstance(k, dict)] or [node]

    yield from walk(acroform.get("Fields"), "", 0)


def _widget_problem(spec: Any, node: dict, widget: dict, need_appearances: bool, acroform: dict,
                    manager: Any) -> str | None:
    if (_int(widget.get("F")) & _HIDDEN_FLAGS) and spec.kind != "checkbox":
        return "the widget that shows the value is hidden"
    normal = resolve1((resolve1(widget.get("AP")) or {}).get("N")) if isinstance(resolve1(widget.get("AP")), dict) else None
    if spec.kind == "checkbox":
        return _checkbox_problem(node, widget, normal, manager)
    expected = _shown_value(spec, node)
    if normal is None:
        if need_appearances or not expected[0]:
            return None  # the viewer draws /V itself
        return f"stores {expected[0]!r} but has no appearance"
    if isinstance(normal, dict) and not hasattr(normal, "get_data"):
        return "a text appearance with states"
    try:
        device = _render(normal, widget, acroform, manager, list_button=spec.kind in ("choice", "country"))
    except RecoveryRefused:
        raise  # the file, not this appearance: verify.as_seen makes it malformed_pdf
    except Exception:
        return "its appearance cannot be read"
    if device.images or not _only_list_button(device, spec.kind):
        return "its appearance paints shapes or images, which can show any text"
    if device.unsafe:
        return f"its appearance {device.unsafe}"
    if device.covered:
        return "its appearance paints over letters it has drawn"
    drawn = device.glyphs
    if any(not g.font_trusted for g in drawn if (g.visible or g.beyond_right) and not _blank(g.text)):
        return "its appearance draws with a font whose shapes need not be the text it maps to " \
               "(an embedded font or a ToUnicode map that is not the blank's, a symbol font or a Type3 font)"
    layout = _layout_problem(drawn)
    if layout:
        return layout
    if _same(drawn, expected):
        return None
    return f"shows {_shown(drawn)!r} but stores {expected[0]!r}"


def _shown_value(spec: Any, node: dict) -> list[str]:
    """The texts that may be drawn for the stored value (a choice: its display text or export value)."""
    value = _text(_inherited(node, "V"))
    if spec.kind not in ("choice", "country") or value is None:
        return [value or ""]
    options = [o for o in map(resolve1, resolve1(_inherited(node, "Opt")) or []) if isinstance(o, list) and len(o) == 2]
    raw = resolve1(_inherited(node, "V"))
    # the same bytes first (the usual case, no decoding of a 250-country list), then decoded text
    same = [o for o in options if raw in (o[0], o[1])] or [o for o in options if value in (_text(o[0]), _text(o[1]))]
    if same:
        return [t for t in (_text(same[0][1]), _text(same[0][0])) if t]  # the display text first
    return [value]


def _checkbox_problem(node: dict, widget: dict, normal: Any, manager: Any) -> str | None:
    value = _name(_inherited(node, "V"))
    state = _name(widget.get("AS"))
    if value is not None and state is not None and value != state:
        return f"stores {value} but shows state {state}"
    checked = (value or state or "Off") != "Off"
    if not isinstance(normal, dict) or hasattr(normal, "get_data"):
        return "its appearance has no states" if checked else None
    stream = resolve1(normal.get(state)) if state else None
    marked = stream is not None and _draws_mark(stream, widget, manager)
    if marked is None:
        return "its appearance cannot be judged: it sets transparency, blending or colour transfer, or paints a shading"
    if marked != checked:
        return "stores checked but is drawn unchecked" if checked else "stores unchecked but is drawn checked"
    return None


# -- reading an appearance with pdfminer --------------------------------------------------------


def _only_list_button(device: Any, kind: str) -> bool:
    """No painted shape, except a list's drop-down button at the right end (pdfium draws one)."""
    if kind not in ("choice", "country"):
        return not device.shapes
    right = device.bbox[2]
    return all(left >= right - LIST_BUTTON for left in device.shapes)


def _draws_mark(stream: Any, widget: dict, manager: Any) -> bool | None:
    # the blank's checkboxes share their state drawings: each (drawing, widget size) is rendered once
    rect = tuple(resolve1(widget.get("Rect")) or ())
    key = (getattr(stream, "objid", None) or id(stream), tuple(round(float(resolve1(v)), 2) for v in rect[2:]),
           tuple(round(float(resolve1(v)) - float(resolve1(w)), 2) for v, w in zip(rect[2:], rect[:2])))
    if key not in manager.marks:
        try:
            device = _render(stream, widget, {}, manager)
            marked = device.painted or device.images or any(g.visible for g in device.glyphs)
            manager.marks[key] = None if device.unsafe else marked
        except RecoveryRefused:
            raise
        except Exception:
            manager.marks[key] = False
    return manager.marks[key]


@dataclass(frozen=True)
class _Drawing:
    """What an appearance stream draws, as the checks read it (a finished :class:`_Device`)."""

    glyphs: tuple[_Glyph, ...]
    painted: bool
    images: bool
    shapes: tuple[float, ...]
    bbox: tuple[float, float, float, float]
    unsafe: str | None
    covered: bool


#: Drawings by everything they depend on (:func:`_drawing_key`): every filled copy of the blank
#: draws an empty field, a checkbox or the same choice with the same stream, fonts and box.
_DRAWINGS = Kept(1024)  # least recently used dropped first: the blank's own drawings are used by every form
_MAX_DRAWN = 512  # glyphs and shapes of one kept drawing (a field's value is far shorter)


def _render(stream: Any, widget: dict, acroform: dict, manager: Any, list_button: bool = False) -> _Drawing:
    bbox = [float(resolve1(v)) for v in resolve1(stream.get("BBox")) or [0, 0, 0, 0]]
    matrix = [float(resolve1(v)) for v in resolve1(stream.get("Matrix")) or [1, 0, 0, 1, 0, 0]]
    rect = [float(resolve1(v)) for v in resolve1(widget.get("Rect")) or [0, 0, 0, 0]]
    resources = resolve1(stream.get("Resources")) or resolve1(acroform.get("DR")) or {}
    key = _drawing_key(stream, resources, rect, manager, list_button)
    drawing = _DRAWINGS.get(key) if key is not None else None
    if drawing is not None:
        return drawing
    scale = _scale(bbox, matrix, rect)
    turned = not (matrix[0] > 0 and matrix[3] > 0 and matrix[1] == 0 and matrix[2] == 0)
    device = _Device(manager, clip=(min(bbox[0], bbox[2]), min(bbox[1], bbox[3]),
                                    max(bbox[0], bbox[2]), max(bbox[1], bbox[3])), scale=scale)
    device.edge = device.bbox[2] - max(OVERFLOW_MARGIN, 0.03 * (device.bbox[2] - device.bbox[0])) \
        - (LIST_BUTTON if list_button else 0.0)
    interpreter = _Interpreter(manager, device)
    interpreter.render_contents(resources, [stream])
    if "OC" in getattr(stream, "attrs", {}):
        device.unsafe = "is optional content, which a viewer may hide"
    if turned:
        device.unsafe = "is turned or mirrored by its /Matrix"
    drawing = _Drawing(tuple(device.glyphs), device.painted, device.images, tuple(device.shapes), device.bbox,
                       device.unsafe, device.covered)
    if key is not None and len(drawing.glyphs) + len(drawing.shapes) <= _MAX_DRAWN:
        _DRAWINGS.put(key, drawing)
    return drawing


def _drawing_key(stream: Any, resources: Any, rect: list[float], manager: Any, list_button: bool) -> str | None:
    """A digest of everything pdfminer's drawing of ``stream`` depends on: its decoded content, its
    dictionary (BBox, Matrix, OC, ...), the resources it is drawn with (each font by the key of the
    font cache, :meth:`Manager.font_key`, which also decides whether the font is trusted; everything
    else by content), the widget's rectangle and whether a list button takes the right edge.
    None when something cannot be keyed (the stream is then drawn, not looked up)."""
    import hashlib

    try:
        digest = hashlib.sha256(b"content:" + hashlib.sha256(stream.get_data()).digest())
        digest.update(b"dict:" + _content_key({k: v for k, v in stream.attrs.items() if k != "Resources"}).encode())
        digest.update(f"rect:{rect!r} list:{list_button}".encode())
        if not isinstance(resources, dict):
            return None
        for category in sorted(resources, key=str):
            entries = resolve1(resources[category])
            if category == "Font" and isinstance(entries, dict):
                for name in sorted(entries, key=str):
                    digest.update(f"font {name!r}:{manager.font_key(entries[name])}".encode())
            else:
                digest.update(f"{category!r}:{_content_key(entries)}".encode())
        return digest.hexdigest()
    except RecoveryRefused:
        raise
    except Exception:
        return None


def _scale(bbox: list[float], matrix: list[float], rect: list[float]) -> float:
    """How much the widget scales the appearance (PDF 32000 12.5.5: BBox x Matrix fitted to Rect)."""
    a, b, c, d, e, f = matrix
    corners = [(x * a + y * c + e, x * b + y * d + f) for x in (bbox[0], bbox[2]) for y in (bbox[1], bbox[3])]
    width = max(p[0] for p in corners) - min(p[0] for p in corners)
    height = max(p[1] for p in corners) - min(p[1] for p in corners)
    if width <= 0 or height <= 0:
        return 0.0
    scale_x = abs(rect[2] - rect[0]) / width
    scale_y = abs(rect[3] - rect[1]) / height
    return min(scale_x * (a * a + b * b) ** 0.5, scale_y * (c * c + d * d) ** 0.5)


class _Device(PDFLayoutAnalyzer):
    """Collects each glyph with whether a person would see it, and whether anything is painted."""

    def __init__(self, manager, clip, scale):
        super().__init__(manager, pageno=1, laparams=None)
        self.glyphs: list[_Glyph] = []
        self.painted = False
        self.images = False
        self.unsafe: str | None = None  # what makes the drawing's look unknowable to pdfminer
        self.covered = False  # a light shape painted over a glyph drawn before it
        self.shapes: list[float] = []  # left edge of each visible painted shape
        self.bbox = clip
        self.clip = clip
        self.scale = scale
        self.edge = clip[2]  # a clip ending left of this is not the box's edge (see _render)
        self.render_mode = 0
        self.begin_page(_Page(clip), (1, 0, 0, 1, 0, 0))

    def render_string(self, textstate, seq, ncs, graphicstate):
        self.render_mode = textstate.render
        if self.render_mode in (4, 5, 6, 7):  # text that clips what follows: pdfminer does not clip
            self.unsafe = "clips with text (render modes 4 to 7), which hides what is drawn after it"
        super().render_string(textstate, seq, ncs, graphicstate)

    def render_char(self, matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate):
        before = len(self.cur_item._objs)
        advance = super().render_char(matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate)
        trusted = self.rsrcmgr.trusted_fonts.get(id(font), False)
        for item in self.cur_item._objs[before:]:
            glyph = self._glyph(item, graphicstate)
            glyph.font_trusted = trusted
            self.glyphs.append(glyph)
        return advance

    def _glyph(self, item, graphicstate) -> _Glyph:
        x0, y0, x1, y1 = self.clip
        cx, cy = (item.x0 + item.x1) / 2, (item.y0 + item.y1) / 2
        stroked = self.render_mode in (1, 5)
        colour = graphicstate.scolor if stroked else graphicstate.ncolor
        space = graphicstate.scs if stroked else graphicstate.ncs
        legible = (self.render_mode not in (3, 7) and item.size * self.scale >= MIN_SIZE
                   and getattr(space, "name", None) in PLAIN_SPACES and _lightness(colour) <= MAX_LIGHTNESS)
        # the whole letter, not only its centre: the lower loop of a large "8" shown through the box
        # looks like a "0" (a quarter of its size may stick out: font boxes are generous)
        slack_y, slack_x = 0.25 * (item.y1 - item.y0), 0.25 * (item.x1 - item.x0)
        whole = item.y0 >= y0 - slack_y and item.y1 <= y1 + slack_y and item.x0 >= x0 - slack_x
        inside = x0 <= cx <= x1 and y0 <= cy <= y1 and whole
        # overflow: cut by the box's own right edge (readers clip a few points inside it), not by a
        # clip or nested form ending mid-box, which would pass a hidden end for a long value's
        beyond_right = legible and cx > x1 and y0 <= cy <= y1 and x1 >= self.edge
        a, b, c, d = item.matrix[:4]
        upright = a > 0 and d > 0 and abs(b) <= 1e-6 * abs(a) and abs(c) <= 1e-6 * abs(d)
        return _Glyph(item.get_text(), legible and inside, beyond_right, (item.x0, item.y0, item.x1, item.y1),
                      upright=upright)

    def paint_path(self, gstate, stroke, fill, evenodd, path):
        colour = gstate.ncolor if fill else gstate.scolor
        space = gstate.ncs if fill else gstate.scs
        if not (stroke or fill):
            return
        points = [apply_matrix_pt(self.ctm, (seg[-2], seg[-1])) for seg in path if len(seg) >= 3]
        if getattr(space, "name", None) in PLAIN_SPACES and _lightness(colour) <= MAX_LIGHTNESS:
            if self._inside(path):
                self.painted = True
                self.shapes.append(min(x for x, _ in points))
        elif points and self._over_glyphs(points, gstate.linewidth if stroke else 0.0):
            self.covered = True  # white (or an unknown colour) over letters already drawn hides them

    def _over_glyphs(self, points, width: float) -> bool:
        pad = abs(width) * max(abs(self.ctm[0]), abs(self.ctm[3]), 1.0) / 2
        x0, x1 = min(x for x, _ in points) - pad, max(x for x, _ in points) + pad
        y0, y1 = min(y for _, y in points) - pad, max(y for _, y in points) + pad
        for g in self.glyphs:
            gx0, gy0, gx1, gy1 = g.box
            if g.visible and gx0 < x1 and x0 < gx1 and gy0 < y1 and y0 < gy1:
                return True
        return False

    def _inside(self, path) -> bool:
        x0, y0, x1, y1 = self.clip
        points = [apply_matrix_pt(self.ctm, (seg[-2], seg[-1])) for seg in path if len(seg) >= 3]
        return any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in points)


class _LazyFonts(dict):
    """pdfminer's font map, each font parsed when a ``Tf`` first selects it (pdfium lists fonts it
    never uses in every appearance, one of them a whole embedded TrueType program)."""

    def __init__(self, manager: Any, fonts: dict):
        super().__init__()
        self.manager, self.fonts = manager, fonts

    def __missing__(self, fontid: Any) -> Any:
        spec = self.fonts[fontid]  # KeyError: pdfminer's do_Tf handles an unknown font
        objid = getattr(spec, "objid", None)
        font = self.manager.get_font(objid, spec)  # resolved only if no cache has it
        trusted = self.manager.trusted_fonts
        trusted[id(font)] = trusted.get(id(font), False) or self.manager.font_trusted(objid, spec)
        self[fontid] = font
        return font


class _Interpreter(PDFPageInterpreter):
    """pdfminer's interpreter plus rectangular clipping (``re W``), saved and restored by q/Q."""

    def init_resources(self, resources):
        resources = resolve1(resources)
        if not isinstance(resources, dict):
            return super().init_resources(resources)
        fonts = resolve1(resources.get("Font"))
        spaces = resolve1(resources.get("ColorSpace"))
        if isinstance(spaces, dict) and any(str(k).startswith("Default") for k in spaces):
            self.device.unsafe = "remaps the device colours (DefaultGray, DefaultRGB, DefaultCMYK)"
        super().init_resources({k: v for k, v in resources.items() if k != "Font"})
        self.resources = resources
        self.fontmap = _LazyFonts(self.rsrcmgr, fonts if isinstance(fonts, dict) else {})

    def init_state(self, ctm):
        super().init_state(ctm)
        self.clips: list = []

    def do_gs(self, name):
        """pdfminer ignores graphics states; one that makes text transparent, blends it away, maps
        its colour (transfer functions) or sets another font leaves the drawing unknowable."""
        from pdfminer.psparser import literal_name

        states = resolve1((getattr(self, "resources", None) or {}).get("ExtGState"))
        state = resolve1(states.get(literal_name(name))) if isinstance(states, dict) else None
        if not isinstance(state, dict) or not _plain_graphics_state(state):
            self.device.unsafe = "sets transparency, blending, colour transfer or a font through a graphics state"

    def do_sh(self, name):
        self.device.unsafe = "paints a shading, which can cover any text"

    def do_BDC(self, tag, props):
        """Optional content: a viewer that evaluates it (``/OC``, an OCMD ``/AllOff``) hides what
        pdfminer reads; the blank has none (conformance refuses ``/OCProperties``)."""
        from pdfminer.psparser import literal_name

        if isinstance(tag, PSLiteral) and literal_name(tag) == "OC":
            self.device.unsafe = "draws text under optional content, which a viewer may hide"
        super().do_BDC(tag, props)

    def do_q(self):
        self.clips.append(self.device.clip)
        super().do_q()

    def do_Q(self):
        if self.clips:
            self.device.clip = self.clips.pop()
        super().do_Q()

    def do_W(self):
        """Clipping is modelled as rectangles: a clip of another shape (a hole cut with ``W*`` or
        an opposite winding, curves, a rotated rectangle) hides what pdfminer would count as seen."""
        if not _upright_rectangle([apply_matrix_pt(self.ctm, (seg[-2], seg[-1]))
                                   for seg in self.curpath if len(seg) >= 3], [seg[0] for seg in self.curpath]):
            self.device.unsafe = "clips to a shape other than one upright rectangle"
        self._clip_to_path()

    do_W_a = do_W

    def _clip_to_path(self):
        points = [apply_matrix_pt(self.ctm, (seg[-2], seg[-1])) for seg in self.curpath if len(seg) >= 3]
        if not points:
            return
        x0, y0, x1, y1 = self.device.clip
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self.device.clip = (max(x0, min(xs)), max(y0, min(ys)), min(x1, max(xs)), min(y1, max(ys)))

    def dup(self):
        return self.__class__(self.rsrcmgr, self.device)

    def execute(self, streams):
        for stream in streams:
            problem = syntax_problem(getattr(resolve1(stream), "get_data", lambda: b"")())
            if problem:
                self.device.unsafe = problem
        super().execute(streams)

    def do_Do(self, xobjid_arg):
        """A nested form is clipped to its BBox too (pdfminer draws it unclipped); images are noted."""
        from pdfminer.psparser import literal_name

        xobj = resolve1(self.xobjmap.get(literal_name(xobjid_arg)))
        attrs = getattr(xobj, "attrs", {})
        if "OC" in attrs:
            self.device.unsafe = "draws text under optional content, which a viewer may hide"
        if resolve1(attrs.get("Subtype")) is not None and literal_name(resolve1(attrs.get("Subtype"))) == "Image":
            self.device.images = True
        saved = self.device.clip
        bbox = resolve1(attrs.get("BBox"))
        if isinstance(bbox, list) and len(bbox) == 4:
            matrix = [float(resolve1(v)) for v in resolve1(attrs.get("Matrix")) or [1, 0, 0, 1, 0, 0]]
            self.curpath = [("m", float(resolve1(bbox[0])), float(resolve1(bbox[1]))),
                            ("l", float(resolve1(bbox[2])), float(resolve1(bbox[3])))]
            ctm, self.ctm = self.ctm, mult_matrix(matrix, self.ctm)
            if abs(self.ctm[1]) > 1e-6 or abs(self.ctm[2]) > 1e-6:
                self.device.unsafe = "draws a rotated or skewed form, whose box pdfminer cannot clip to"
            self._clip_to_path()
            self.ctm, self.curpath = ctm, []
        try:
            super().do_Do(xobjid_arg)
        finally:
            self.device.clip = saved

    def do_BI(self):
        self.device.images = True
        super().do_BI()


#: Fonts parsed by pdfminer, by a digest of everything they are made of (dictionary, widths,
#: encoding, embedded program, ToUnicode map): every filled copy of the blank carries the same
#: field font, and parsing its ToUnicode map is most of an appearance check's cost.
_FONTS: dict[str, Any] = {}
_MAX_FONTS = 64
#: Whether each kept font draws the text pdfminer reads, by the same key.
_FONT_TRUST: dict[str, bool] = {}


def _fonts_manager(known: dict[int, str]):
    """A pdfminer resource manager for one document whose fonts come from :data:`_FONTS`."""
    from pdfminer.pdfinterp import PDFResourceManager

    class Manager(PDFResourceManager):
        def __init__(self):
            super().__init__(caching=True)
            self.marks: dict = {}
            self.known = known
            self.trusted_fonts: dict[int, bool] = {}  # id(pdfminer font) -> _font_trusted
            self._keys: dict = {}

        def font_key(self, spec) -> str:
            """The font cache's key of ``spec`` (a reference or a dictionary); raises if none."""
            objid = getattr(spec, "objid", None)
            if objid is None:
                return _content_key(spec)
            if objid not in self._keys:
                self._keys[objid] = f"known:{known[objid]}" if objid in known else _content_key(spec)
            return self._keys[objid]

        def font_trusted(self, objid, spec) -> bool:
            """:func:`verify.appearance_fonts.font_trusted`, kept by the font's key: the key is the
            font's content (or the blank's canonical text of it), which is all the answer depends on."""
            try:
                key = self.font_key(spec)
            except RecoveryRefused:
                raise
            except Exception:
                return font_trusted(objid, resolve1(spec), known)
            trusted = _FONT_TRUST.get(key)
            if trusted is None:
                trusted = font_trusted(objid, resolve1(spec), known)
                if len(_FONT_TRUST) >= _MAX_FONTS:
                    _FONT_TRUST.pop(next(iter(_FONT_TRUST)))
                _FONT_TRUST[key] = trusted
            return trusted

        def get_font(self, objid, spec):
            """``spec`` may still be a reference: a font the structure check has read (``known``)
            is found in :data:`_FONTS` without pdfminer parsing its dictionary (its /Widths) again."""
            if objid is not None and objid in self._cached_fonts:
                return self._cached_fonts[objid]
            try:
                key = self.font_key(spec)
            except RecoveryRefused:
                raise
            except Exception:
                return super().get_font(objid, resolve1(spec))
            font = _FONTS.get(key)
            if font is None:
                font = super().get_font(None, resolve1(spec))  # objid None: pdfminer parses it
                if len(_FONTS) >= _MAX_FONTS:
                    _FONTS.pop(next(iter(_FONTS)))
                _FONTS[key] = font
            if objid is not None:
                self._cached_fonts[objid] = font
            return font

    return Manager()


#: Colour spaces whose colours are what pdfminer's numbers say (Indexed, Separation, ICC profiles,
#: patterns can paint anything, /None paints nothing).
PLAIN_SPACES = frozenset({"DeviceGray", "DeviceRGB", "DeviceCMYK"})
#: Graphics state entries that change lines and rendering details only, not what colour text has.
_PLAIN_STATE = frozenset({"Type", "LW", "LC", "LJ", "ML", "D", "RI", "FL", "SM", "SA"})
_OPAQUE_NORMAL = {"BM": ("Normal", "Compatible"), "SMask": ("None",)}


def _plain_graphics_state(state: dict) -> bool:
    for key, value in state.items():
        key, value = str(key), resolve1(value)
        if key in _PLAIN_STATE:
            continue
        if key in ("CA", "ca"):
            if not isinstance(value, (int, float)) or value < 1:
                return False
        elif key in ("BM", "SMask"):
            names = value if isinstance(value, list) else [value]
            if not names or any(_name(n) not in _OPAQUE_NORMAL[key] for n in names):
                return False
        else:
            return False
    return True


def _content_key(obj: Any) -> str:
    import hashlib

    digest = hashlib.sha256()
    seen: dict[int, int] = {}  # object number -> the order it was first met in

    def feed(o: Any, depth: int) -> None:
        if depth > 12:
            raise ValueError("too deep")
        if hasattr(o, "objid") and not hasattr(o, "get_data"):  # a reference
            if o.objid in seen:  # which object it is again, not just "one seen before"
                digest.update(f"<seen {seen[o.objid]}>".encode())
                return
            seen[o.objid] = len(seen)
            o = resolve1(o)
        if hasattr(o, "get_data"):  # a stream: its dictionary and decoded data
            feed(o.attrs, depth + 1)
            digest.update(b"stream" + hashlib.sha256(o.get_data()).digest())
        elif isinstance(o, dict):
            digest.update(b"{")
            for k in sorted(o, key=str):
                digest.update(repr(k).encode() + b":")
                feed(o[k], depth + 1)
            digest.update(b"}")
        elif isinstance(o, list):
            digest.update(b"[")
            for v in o:
                feed(v, depth + 1)
            digest.update(b"]")
        else:
            digest.update(repr(o).encode() + b",")

    feed(obj, 0)
    return digest.hexdigest()


def _upright_rectangle(points: list, ops: list) -> bool:
    """One closed path of four corners (``re``, or m l l l h) whose sides are upright on the page."""
    if [op for op in ops if op != "h"] != ["m", "l", "l", "l"] or len(points) != 4:
        return False
    xs = sorted({round(x, 3) for x, _ in points})
    ys = sorted({round(y, 3) for _, y in points})
    return len(xs) <= 2 and len(ys) <= 2


class _Page:
    """What PDFLayoutAnalyzer.begin_page reads from a page."""

    def __init__(self, box):
        self.mediabox = self.cropbox = box
        self.pageid = 0
        self.rotate = 0


def _lightness(colour: Any) -> float:
    """Luminance, 0 black .. 1 white (yellow on white is as unreadable as white on white)."""
    values = colour if isinstance(colour, (list, tuple)) else [colour]
    try:
        nums = [min(max(float(v), 0.0), 1.0) for v in values]
    except (TypeError, ValueError):
        return 1.0  # a pattern or named colour: not known to be visible
    if len(nums) == 1:
        return nums[0]
    if len(nums) == 4:  # CMYK, naively
        c, m, y, k = nums
        nums = [(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)]
    if len(nums) == 3:
        r, g, b = nums
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.0


# -- comparing ----------------------------------------------------------------------------------


#: A glyph may overlap the one before it by this share of the earlier glyph's width (kerning).
MAX_OVERLAP = 0.3
#: A glyph narrower than this share of its height is squeezed out of sight (``Tz``, zero /Widths).
MIN_WIDTH = 0.1
#: The widest gap between two letters, in letter heights: a word space and a left-out letter fit,
#: a jump that pushes the end of a value past the box (``TJ``, ``Td``) does not.
MAX_GAP = 1.5


def _layout_problem(glyphs: list[_Glyph]) -> str | None:
    """The glyphs read in the order a person reads them, each one where it can be seen.

    pdfminer reads glyphs in the order the stream draws them; a viewer shows them where they
    land. Glyphs placed back to front (``Tm``, ``Td``) make another string of the same letters,
    glyphs drawn over each other (a negative ``Tc``) or squeezed to nothing (``Tz``, zero widths)
    show fewer letters than are read, and a jump between two letters pushes the end of a short
    value past the box, where it passes for overflow. A field is one line, drawn left to right.
    """
    shown = [g for g in glyphs if (g.visible or g.beyond_right) and not _blank(g.text)]
    previous = None
    for g in shown:
        x0, y0, x1, y1 = g.box
        height = y1 - y0
        if not g.upright:
            return "its appearance draws a letter turned, mirrored or slanted (a 9 turned over is a 6)"
        # a glyph without Unicode ("(cid:N)", pdftk's stand-in for a letter its font lacks) reads as
        # no letter at all (see _drawn_as): its width does not matter
        if height <= 0 or (x1 - x0 < MIN_WIDTH * height and not g.text.startswith("(cid:")):
            return "its appearance squeezes a letter out of sight"
        if previous is not None:
            px0, py0, px1, py1 = previous.box
            if abs(y0 - py0) > 0.3 * (py1 - py0):
                return "its appearance draws the value on more than one line"
            if x0 < px1 - MAX_OVERLAP * (px1 - px0):
                return "its appearance draws letters over or before the ones drawn earlier"
            if x0 - px1 > MAX_GAP * (py1 - py0):
                return "its appearance leaves a gap between letters that pushes the rest out of sight"
        previous = g
    return None


def _same(glyphs: list[_Glyph], expected: list[str]) -> bool:
    """The drawn text is one of the expected texts, and no hidden glyph precedes a visible one."""
    drawn = [g for g in glyphs if g.visible or g.beyond_right]
    if any(not g.visible and not g.beyond_right for g in glyphs if not _blank(g.text)):
        return False  # an invisible, tiny, white or clipped glyph that is not just overflow
    seen_overflow = False
    for g in drawn:
        if g.beyond_right:
            seen_overflow = True
        elif seen_overflow and not _blank(g.text):
            return False
    text = _squeeze("".join(g.text for g in drawn))
    return any(_drawn_as(text, _squeeze(e)) for e in expected)


def _drawn_as(drawn: str, value: str) -> bool:
    """``drawn`` is ``value``, except that a letter outside ASCII may be missing or a placeholder.

    Readers draw with the field's 8-bit font: pdfium leaves out a letter it cannot encode, qpdf
    draws "?", pdftk (iText) a glyph without a Unicode mapping (pdfminer's "(cid:N)"). Every
    other character (digits, ASCII letters, @ + . -) must be drawn exactly.
    """
    if drawn == value:
        return True
    if not drawn:
        return False
    tokens = re.findall(r"\(cid:\d+\)|.", drawn, flags=re.S)
    # reachable[j]: the value so far can be drawn as tokens[:j] (a linear-time matcher, no backtracking)
    reachable = {0}
    for c in value:
        loose = ord(c) > 127 and c.isalpha()
        step = {j + 1 for j in reachable if j < len(tokens)
                and (tokens[j] == c or (loose and (tokens[j] == "?" or tokens[j].startswith("(cid:"))))}
        reachable = step | reachable if loose else step
        if not reachable:
            return False
    return len(tokens) in reachable


def _shown(glyphs: list[_Glyph]) -> str:
    return unicodedata.normalize("NFC", "".join(g.text for g in glyphs if g.visible)).strip()


def _squeeze(text: str) -> str:
    """NFC and trimmed, as forms.rules normalise, and without spaces (readers kern words apart)."""
    return "".join(unicodedata.normalize("NFC", text).split())


def _blank(text: str) -> bool:
    return not text.strip()


def _inherited(node: dict, key: str) -> Any:
    for _ in range(32):
        if not isinstance(node, dict):
            return None
        if key in node:
            return node[key]
        node = resolve1(node.get("Parent"))
    return None


def _int(obj: Any) -> int:
    obj = resolve1(obj)
    return obj if isinstance(obj, int) else 0
