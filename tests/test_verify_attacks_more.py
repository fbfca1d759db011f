"""More attacks on "what the customer saw is what is applied" (issue 9), the way a PDF-signature
researcher builds them: fonts whose text is not their shapes, glyphs placed out of reading order,
and parser differentials below the form. Each file is a pypdf-filled form changed by the
fraudster before the customer signs it with the test PKI (or after, in transit), and each was
accepted before the check named in its test (README, "Attacks and the checks that stop them").
"""

from __future__ import annotations

import pytest
from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, NameObject,
                           NumberObject, TextStringObject)

from tests.test_verify_as_seen import accepted, field, rejected, sign  # noqa: F401 - the fixture

VICTIM = "+37120000000"  # what the customer typed and sees
ATTACKER = "+37129999999"  # what the fraudster wants applied


# -- helpers -------------------------------------------------------------------------------------


def _stream(writer, data: bytes):
    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def _draw(writer, node, content: bytes, font) -> None:
    """Give ``node`` a normal appearance drawing ``content`` with ``font`` as /F1."""
    rect = [float(v) for v in node["/Rect"]]
    stream = DecodedStreamObject()
    stream.set_data(content)
    stream.update({
        NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
        NameObject("/BBox"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(rect[2] - rect[0]),
                                          FloatObject(rect[3] - rect[1])]),
        NameObject("/Resources"): DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}),
    })
    node[NameObject("/AP")] = DictionaryObject({NameObject("/N"): writer._add_object(stream)})


def _line(shown: str, ops: str = "") -> bytes:
    return f"/Tx BMC q BT /F1 9 Tf 0 g {ops} 2 4.8 Td ({shown}) Tj ET Q EMC".encode("latin-1")


def _field_font(writer):
    return writer._root_object["/AcroForm"]["/DR"]["/Font"].raw_get("/DejaVuField")


def _to_unicode(writer, mapping: dict[int, int]):
    pairs = "\n".join(f"<{code:02X}> <{uni:04X}>" for code, uni in mapping.items())
    return _stream(writer, (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Lie def "
        f"1 begincodespacerange <00> <FF> endcodespacerange {len(mapping)} beginbfchar\n{pairs}\nendbfchar "
        "endcmap CMapName currentdict /CMap defineresource pop end end").encode())


def _zero_reads_nine() -> dict[int, int]:
    mapping = {code: code for code in range(32, 127)}
    mapping[ord("0")] = ord("9")
    return mapping


def _helvetica(**extra) -> DictionaryObject:
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica"),
                             NameObject("/Encoding"): NameObject("/WinAnsiEncoding")})
    font.update({NameObject(k): v for k, v in extra.items()})
    return font


def _phone_drawn(writer, content: bytes, font, stored: str = ATTACKER) -> None:
    node = field(writer, "phone")
    _draw(writer, node, content, font)
    node[NameObject("/V")] = TextStringObject(stored)


# -- fonts whose text is not what they paint -------------------------------------------------------


def test_blank_font_program_with_a_lying_tounicode_map(sign):
    """The blank's embedded DejaVu program paints "0"; a new ToUnicode map says "9"."""
    def lie(writer):
        blank = _field_font(writer).get_object()
        font = DictionaryObject({k: blank.raw_get(k) for k in blank})
        font[NameObject("/ToUnicode")] = _to_unicode(writer, _zero_reads_nine())
        _phone_drawn(writer, _line(VICTIM), writer._add_object(font))

    report = sign(lie)
    rejected(report, "appearance_mismatch", "phone")
    assert "font" in report.reasons[0].message


def test_standard_font_with_a_tounicode_map(sign):
    """Helvetica is not embedded: the viewer paints the WinAnsi glyph "0", pdfminer reads the map's "9"."""
    def lie(writer):
        font = _helvetica(**{"/ToUnicode": _to_unicode(writer, _zero_reads_nine())})
        _phone_drawn(writer, _line(VICTIM), writer._add_object(font))

    rejected(sign(lie), "appearance_mismatch", "phone")


def test_type3_font_draws_any_shape(sign):
    """A Type3 glyph is a drawing: each code can look like any digit, whatever it reads as."""
    def type3(writer):
        box = _stream(writer, b"600 0 0 0 600 1000 d1 80 0 m 520 0 l 520 1000 l 80 1000 l h S")
        names = [NameObject(f"/g{c}") for c in range(32, 127)]
        font = DictionaryObject({
            NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type3"),
            NameObject("/FontBBox"): ArrayObject([NumberObject(n) for n in (0, 0, 600, 1000)]),
            NameObject("/FontMatrix"): ArrayObject([FloatObject(v) for v in (0.001, 0, 0, 0.001, 0, 0)]),
            NameObject("/CharProcs"): DictionaryObject({n: box for n in names}),
            NameObject("/Encoding"): DictionaryObject({NameObject("/Differences"): ArrayObject([NumberObject(32), *names])}),
            NameObject("/FirstChar"): NumberObject(32), NameObject("/LastChar"): NumberObject(126),
            NameObject("/Widths"): ArrayObject([NumberObject(600)] * len(names)),
            NameObject("/ToUnicode"): _to_unicode(writer, {c: c for c in range(32, 127)}),
        })
        _phone_drawn(writer, _line(ATTACKER), writer._add_object(font))

    rejected(sign(type3), "appearance_mismatch", "phone")


def test_value_drawn_with_a_standard_font_is_accepted(sign):
    """Nothing embedded, nothing mapped: the viewer and pdfminer take the same glyph names (pdfium,
    pypdf and pdftk draw with Helvetica this way)."""
    accepted(sign(lambda w: _phone_drawn(w, _line(VICTIM), w._add_object(_helvetica()), stored=VICTIM)))


# -- glyphs out of reading order, over each other, squeezed away ------------------------------------


def test_letters_placed_in_another_order(sign):
    """The stream draws "sinaj..." but puts each letter where "janis..." has it: the customer reads
    their own address, pdfminer reads a permutation the fraudster registered."""
    shown, stored = "janis.berzins@example.com", "sinaj.berzins@example.com"

    def permute(writer):
        used: set[int] = set()
        ops = []
        for letter in stored:
            at = next(j for j, c in enumerate(shown) if c == letter and j not in used)
            used.add(at)
            ops.append(f"1 0 0 1 {2 + 6 * at} 4.8 Tm ({letter}) Tj")
        node = field(writer, "email")
        _draw(writer, node, ("/Tx BMC q BT /F1 9 Tf 0 g " + " ".join(ops) + " ET Q EMC").encode(), _field_font(writer))
        node[NameObject("/V")] = TextStringObject(stored)

    rejected(sign(permute), "appearance_mismatch", "email")


def test_digits_drawn_over_each_other(sign):
    """A negative character spacing stacks seven "9"s on one spot: one "9" is seen, seven are read."""
    content = b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (+3712) Tj -5.7 Tc (9999999) Tj ET Q EMC"
    rejected(sign(lambda w: _phone_drawn(w, content, _field_font(w))), "appearance_mismatch", "phone")


def test_digit_squeezed_to_nothing(sign):
    """Horizontal scaling of 1 % leaves a hairline where a digit is read."""
    content = b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (+3712000000) Tj 1 Tz (9) Tj ET Q EMC"
    report = sign(lambda w: _phone_drawn(w, content, _field_font(w), stored="+37120000009"))
    rejected(report, "appearance_mismatch", "phone")
    assert [r.code for r in report.reasons] == ["appearance_mismatch"]


# -- the end of a value painted out of sight: a look pdfminer does not compute ------------------------

SHOWN_EMAIL = "janis.berzins@example.com"
STORED_EMAIL = SHOWN_EMAIL + ".evil.lv"  # a subdomain of the fraudster's domain, its mail theirs


def _function(c0: float, c1: float) -> DictionaryObject:
    return DictionaryObject({
        NameObject("/FunctionType"): NumberObject(2), NameObject("/N"): NumberObject(1),
        NameObject("/Domain"): ArrayObject([NumberObject(0), NumberObject(1)]),
        NameObject("/C0"): ArrayObject([FloatObject(c0)]), NameObject("/C1"): ArrayObject([FloatObject(c1)]),
    })


def _shading() -> DictionaryObject:
    return DictionaryObject({
        NameObject("/ShadingType"): NumberObject(2), NameObject("/ColorSpace"): NameObject("/DeviceGray"),
        NameObject("/Coords"): ArrayObject([NumberObject(n) for n in (0, 0, 1, 0)]),
        NameObject("/Function"): _function(1, 1),
    })


def _state(**entries) -> dict:
    return {"/ExtGState": DictionaryObject({NameObject("/GS0"): DictionaryObject(
        {NameObject(f"/{k}"): v for k, v in entries.items()})})}


def _space(space) -> dict:
    return {"/ColorSpace": DictionaryObject({NameObject("/CS0"): space})}


_SUFFIX_HIDERS = {
    "alpha-zero": (b"/GS0 gs", lambda w: _state(ca=FloatObject(0), CA=FloatObject(0))),
    "blend-screen": (b"/GS0 gs", lambda w: _state(BM=NameObject("/Screen"))),
    "transfer-to-white": (b"/GS0 gs", lambda w: _state(TR=_function(1, 1))),
    "indexed-white": (b"/CS0 cs 0 sc", lambda w: _space(ArrayObject([
        NameObject("/Indexed"), NameObject("/DeviceRGB"), NumberObject(0), TextStringObject("\xff\xff\xff")]))),
    "separation-none": (b"/CS0 cs 0 scn", lambda w: _space(ArrayObject([
        NameObject("/Separation"), NameObject("/None"), NameObject("/DeviceGray"), _function(0, 0)]))),
    "pattern": (b"/Pattern cs /P0 scn", lambda w: {"/Pattern": DictionaryObject({NameObject("/P0"): DictionaryObject(
        {NameObject("/PatternType"): NumberObject(2), NameObject("/Shading"): _shading()})})}),
    "default-rgb": (b"", lambda w: {"/ColorSpace": DictionaryObject({NameObject("/DefaultGray"): ArrayObject([
        NameObject("/Indexed"), NameObject("/DeviceRGB"), NumberObject(255), TextStringObject("\xff" * 768)])})}),
}


def _email_drawn(writer, content: bytes, resources: dict) -> None:
    node = field(writer, "email")
    _draw(writer, node, content, _field_font(writer))
    node["/AP"]["/N"].get_object()["/Resources"].update({NameObject(k): v for k, v in resources.items()})
    node[NameObject("/V")] = TextStringObject(STORED_EMAIL)


@pytest.mark.parametrize("how", sorted(_SUFFIX_HIDERS))
def test_end_of_the_email_hidden_by_graphics_state_or_colour(sign, how):
    """The customer sees their own address; the fraudster's subdomain after it is painted
    transparent, blended or mapped to white, or in a colour space pdfminer cannot see into."""
    operators, resources = _SUFFIX_HIDERS[how]
    content = (b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (" + SHOWN_EMAIL.encode() + b") Tj " + operators
               + b" (.evil.lv) Tj ET Q EMC")
    rejected(sign(lambda w: _email_drawn(w, content, resources(w))), "appearance_mismatch", "email")


@pytest.mark.parametrize("cover", [b"1 g 125 0 200 18 re f", b"q 125 0 200 18 re W n /Sh0 sh Q"],
                         ids=["white-box", "shading"])
def test_end_of_the_email_painted_over(sign, cover):
    content = b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (" + STORED_EMAIL.encode() + b") Tj ET Q " + cover + b" EMC"
    report = sign(lambda w: _email_drawn(w, content, {"/Shading": DictionaryObject({NameObject("/Sh0"): _shading()})}))
    rejected(report, "appearance_mismatch", "email")


def test_white_background_under_the_value_is_accepted(sign):
    """Readers paint the box's background first (pdfium): light paint under the letters is fine."""
    content = b"/Tx BMC 1 g 0 0 200 18 re f q BT /F1 9 Tf 0 g 2 4.8 Td (+37120000000) Tj ET Q EMC"
    accepted(sign(lambda w: _phone_drawn(w, content, _field_font(w), stored=VICTIM)))


def test_pep_checkbox_ticked_in_a_transparent_graphics_state(sign):
    """PEP stored as yes, its tick painted with opacity 0: the customer saw an empty box."""
    def ticked(writer):
        node = field(writer, "is_pep")
        for name, state in ((NameObject("/V"), NameObject("/Yes")), (NameObject("/AS"), NameObject("/Yes"))):
            node[name] = state
        yes = node["/AP"]["/N"]["/Yes"].get_object()
        resources = yes.get("/Resources")
        resources = resources.get_object() if resources is not None else DictionaryObject()
        resources.update({NameObject(k): v for k, v in _state(ca=FloatObject(0), CA=FloatObject(0)).items()})
        yes[NameObject("/Resources")] = resources
        yes.set_data(b"/GS0 gs " + yes.get_data())

    rejected(sign(ticked), "appearance_mismatch", "is_pep")


# -- one dictionary, one key: parsers that keep the first or the last of two -----------------------


@pytest.fixture(scope="module")
def sign_patched(pki, person_for, make_form, trust_policy):
    """Like ``sign``, with byte replacements of equal length after pypdf wrote the file (pypdf
    cannot write a key twice): ``/X`` written by pypdf becomes a second ``/V``."""
    import io

    from pypdf import PdfReader, PdfWriter

    from tests.test_verify_decision import assert_well_formed
    from verify.decision import decide

    def run(change, patches: list[tuple[bytes, bytes]]):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_form())))
        change(writer)
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
        for old, new in patches:
            assert len(old) == len(new) and data.count(old) == 1, old
            data = data.replace(old, new)
        report = decide(pki.sign_pdf(data, person_for(None)), trust_policy)
        assert_well_formed(report)
        return report

    return run


def test_field_with_two_values(sign_patched):
    """``<< /V (+37120000000) /V (+37129999999) >>``: pdfminer and pdfium read the second."""
    def two(writer):
        node = field(writer, "phone")
        del node["/V"]
        node[NameObject("/V")] = TextStringObject(VICTIM)
        node[NameObject("/X")] = TextStringObject(ATTACKER)

    report = sign_patched(two, [(b"\n/X (", b"\n/V (")])
    assert report.verdict == "rejected" and report.reasons[0].code in ("signature_invalid", "malformed_pdf")


def test_appearance_resources_with_two_font_maps(sign_patched):
    """Objects only the field reader opens (an appearance's resources): the first /Font map draws
    with the blank's font, the second with one whose "0" is the glyph "nine"."""
    def two(writer):
        stream = field(writer, "phone")["/AP"]["/N"].get_object()
        resources = DictionaryObject(dict(stream["/Resources"].items()))
        nine = _helvetica(**{"/Encoding": DictionaryObject({
            NameObject("/BaseEncoding"): NameObject("/WinAnsiEncoding"),
            NameObject("/Differences"): ArrayObject([NumberObject(ord("0")), NameObject("/nine")])})})
        resources[NameObject("/Fonu")] = DictionaryObject({NameObject("/DejaVuField"): writer._add_object(nine)})
        stream[NameObject("/Resources")] = writer._add_object(resources)

    report = sign_patched(two, [(b"/Fonu", b"/Font")])
    rejected(report, "malformed_pdf")
    # pdfminer's strict reader ("twice") or pyHanko's, when the reference walk reads it first
    assert "twice" in report.reasons[0].message or "Multiple definitions" in report.reasons[0].message


def test_key_spelled_with_a_hex_escape_is_the_same_key(sign_patched):
    """``/#56`` is ``/V`` for every parser: the value it holds is the one judged."""
    def escaped(writer):
        node = field(writer, "phone")
        del node["/V"]
        node[NameObject("/QQQ")] = TextStringObject(ATTACKER)

    rejected(sign_patched(escaped, [(b"\n/QQQ (", b"\n/#56 (")]), "appearance_mismatch", "phone")


def test_field_name_in_utf16_is_the_same_field(sign):
    """``/T <FEFF 0070 0068 ...>`` is "phone" for every reader: the same field, accepted."""
    import codecs

    from pypdf.generic import ByteStringObject

    def utf16(writer):
        field(writer, "phone")[NameObject("/T")] = ByteStringObject(codecs.BOM_UTF16_BE + "phone".encode("utf-16-be"))

    accepted(sign(utf16))


# -- optional content inside an appearance -------------------------------------------------------


def _all_off(writer) -> DictionaryObject:
    group = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/OCG"),
                                                 NameObject("/Name"): TextStringObject("decoy")}))
    return DictionaryObject({NameObject("/Type"): NameObject("/OCMD"), NameObject("/OCGs"): ArrayObject([group]),
                             NameObject("/P"): NameObject("/AllOff")})


def _suffix_in_marked_content(writer):
    content = (b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (" + SHOWN_EMAIL.encode()
               + b") Tj /OC /MC0 BDC (.evil.lv) Tj EMC ET Q EMC")
    _email_drawn(writer, content, {"/Properties": DictionaryObject({NameObject("/MC0"): _all_off(writer)})})


def _suffix_in_an_optional_form(writer):
    inner = DecodedStreamObject()
    inner.set_data(b"BT /F1 9 Tf 0 g 130 4.8 Td (.evil.lv) Tj ET")
    inner.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                  NameObject("/BBox"): ArrayObject([FloatObject(v) for v in (0, 0, 240, 18)]),
                  NameObject("/OC"): _all_off(writer),
                  NameObject("/Resources"): DictionaryObject({NameObject("/Font"): DictionaryObject(
                      {NameObject("/F1"): _field_font(writer)})})})
    content = b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (" + SHOWN_EMAIL.encode() + b") Tj ET Q /X0 Do EMC"
    _email_drawn(writer, content, {"/XObject": DictionaryObject({NameObject("/X0"): writer._add_object(inner)})})


def _optional_appearance(writer):
    content = b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (" + STORED_EMAIL.encode() + b") Tj ET Q EMC"
    _email_drawn(writer, content, {})
    field(writer, "email")["/AP"]["/N"].get_object()[NameObject("/OC")] = _all_off(writer)


@pytest.mark.parametrize("hide", [_suffix_in_marked_content, _suffix_in_an_optional_form, _optional_appearance],
                         ids=["marked-content", "nested-form", "whole-appearance"])
def test_text_under_optional_content_that_is_all_off(sign, hide):
    """An OCMD /AllOff needs no /OCProperties in the catalog (conformance refuses those); pdfium
    ignores it and shows the text, a viewer that evaluates it hides the fraudster's subdomain."""
    rejected(sign(hide), "appearance_mismatch", "email")


@pytest.mark.parametrize("base, flags", [("/Wingdings", 4), ("/Arial", 4), ("/Symbol", 32)],
                         ids=["wingdings", "symbolic-flag", "symbol-name"])
def test_non_embedded_symbol_font(sign, base, flags):
    """Nothing embedded, but a viewer draws an installed symbol font's shapes (a folder for "0"), or
    takes a symbolic font's own encoding instead of the /Differences pdfminer reads."""
    def symbol(writer):
        descriptor = writer._add_object(DictionaryObject({
            NameObject("/Type"): NameObject("/FontDescriptor"), NameObject("/FontName"): NameObject(base),
            NameObject("/Flags"): NumberObject(flags), NameObject("/ItalicAngle"): NumberObject(0),
            NameObject("/FontBBox"): ArrayObject([NumberObject(n) for n in (0, -200, 1000, 900)]),
            NameObject("/Ascent"): NumberObject(900), NameObject("/Descent"): NumberObject(-200),
            NameObject("/CapHeight"): NumberObject(700), NameObject("/StemV"): NumberObject(80)}))
        font = DictionaryObject({
            NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/TrueType"),
            NameObject("/BaseFont"): NameObject(base), NameObject("/FontDescriptor"): descriptor,
            NameObject("/FirstChar"): NumberObject(32), NameObject("/LastChar"): NumberObject(126),
            NameObject("/Widths"): ArrayObject([NumberObject(556)] * 95),
            NameObject("/Encoding"): DictionaryObject({NameObject("/Differences"): ArrayObject(
                [NumberObject(ord("0")), NameObject("/nine")])})})
        _phone_drawn(writer, _line(VICTIM), writer._add_object(font))

    rejected(sign(symbol), "appearance_mismatch", "phone")


@pytest.mark.parametrize("jump", [b"[(%s) -40000 (.evil.lv)] TJ", b"(%s) Tj 400 0 Td (.evil.lv) Tj"], ids=["TJ", "Td"])
def test_end_of_the_email_pushed_past_the_box(sign, jump):
    """A long value runs past the right edge (accepted: readers do that); a short one whose end is
    pushed there by a jump is the customer's address on screen and the fraudster's in the bank."""
    content = b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td " + jump % SHOWN_EMAIL.encode() + b" ET Q EMC"
    rejected(sign(lambda w: _email_drawn(w, content, {})), "appearance_mismatch", "email")


def test_end_of_the_email_cut_by_a_clip_in_mid_box(sign):
    """A clip ending after the customer's address makes the subdomain look like a long value's
    overflow; readers cut overflow at the box's own edge."""
    content = (b"/Tx BMC q 0 0 129 18 re W n BT /F1 9 Tf 0 g 2 4.8 Td (" + STORED_EMAIL.encode()
               + b") Tj ET Q EMC")
    rejected(sign(lambda w: _email_drawn(w, content, {})), "appearance_mismatch", "email")


def test_nested_form_whose_length_ends_before_its_endstream(sign_patched):
    """pdfminer reads a stream to its /Length, pdfium on to ``endstream``: the bytes between (a
    white box over the subdomain) are painted by the viewer only."""
    short = b"BT /F1 9 Tf 0 g 2 4.8 Td (" + STORED_EMAIL.encode() + b") Tj ET"
    extra = b" 1 g 125 0 200 18 re f"

    def nested(writer):
        inner = DecodedStreamObject()
        inner.set_data(short + extra)
        inner.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                      NameObject("/BBox"): ArrayObject([FloatObject(v) for v in (0, 0, 248, 18)]),
                      NameObject("/Resources"): DictionaryObject({NameObject("/Font"): DictionaryObject(
                          {NameObject("/F1"): _field_font(writer)})})})
        _email_drawn(writer, b"/Tx BMC /X0 Do EMC",
                     {"/XObject": DictionaryObject({NameObject("/X0"): writer._add_object(inner)})})

    written = b"/Length %d" % len(short + extra)
    report = sign_patched(nested, [(written, (b"/Length %d" % len(short)).ljust(len(written)))])
    rejected(report, "malformed_pdf")
    # pdfminer's strict reader names the /Length; pyHanko's, when the reference walk reads it first,
    # the missing endstream
    assert "/Length" in report.reasons[0].message or "endstream" in report.reasons[0].message


# -- scripts and XFA that change what a viewer shows on open -----------------------------------------


def _script(code: str) -> DictionaryObject:
    return DictionaryObject({NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject(code)})


def _format_script(writer):
    """A format action: Acrobat shows the customer's number, the field holds the fraudster's."""
    node = field(writer, "phone")
    node[NameObject("/AA")] = DictionaryObject({NameObject("/F"): _script("event.value = '+37120000000';")})
    node[NameObject("/V")] = TextStringObject(ATTACKER)


def _names_tree_script(writer):
    writer._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject("init"), _script("this.getField('phone').value='x';")])})})


def _page_open_script(writer):
    writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): _script("1;")})


def _xfa(writer):
    stream = DecodedStreamObject()
    stream.set_data(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'><datasets/></xdp:xdp>")
    writer._root_object["/AcroForm"][NameObject("/XFA")] = writer._add_object(stream)


@pytest.mark.parametrize("script, where", [
    (_format_script, "field phone /AA added"),
    (_names_tree_script, "catalog /Names added"),
    (_page_open_script, "page 1 /AA added"),
    (_xfa, "acroform /XFA added"),
], ids=["field-format-action", "names-tree", "page-open-action", "xfa"])
def test_scripts_and_xfa_are_not_the_blank(sign, script, where):
    report = sign(script)
    rejected(report, "form_altered")
    assert where in report.reasons[0].message


def test_white_box_placed_by_a_number_the_readers_split_differently(sign):
    """``18.0.900`` is one number for pdfium (18.0: the box covers the subdomain) and two for
    pdfminer (18.0 and 0.9: a box of 0.9 by 18 at x=200, over nothing)."""
    content = (b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (" + STORED_EMAIL.encode()
               + b") Tj ET Q 1 g 127 0 200 18.0.900 re f EMC")
    rejected(sign(lambda w: _email_drawn(w, content, {})), "appearance_mismatch", "email")


@pytest.mark.parametrize("operators", [b"/F1 xx Tf", b"Tz"], ids=["unknown-operator", "missing-operand"])
def test_operator_whose_operands_the_readers_take_differently(sign, operators):
    """pdfminer keeps an unknown operator's operands for the next one and skips an operator short of
    operands; pdfium clears them at every operator and reads missing ones as 0: after ``/F1 xx Tf``
    pdfium draws the subdomain at no size, pdfminer at 9 pt."""
    content = (b"/Tx BMC q BT /F1 9 Tf 0 g 2 4.8 Td (" + SHOWN_EMAIL.encode() + b") Tj " + operators
               + b" (.evil.lv) Tj ET Q EMC")
    rejected(sign(lambda w: _email_drawn(w, content, {})), "appearance_mismatch", "email")


def test_end_of_the_email_outside_a_clip_made_of_text(sign):
    """Render mode 4 fills the customer's address and makes its letters the clip: the subdomain
    drawn after it in mode 0 falls outside the clip in pdfium; pdfminer does not clip by text."""
    content = (b"/Tx BMC q BT /F1 9 Tf 0 g 4 Tr 2 4.8 Td (" + SHOWN_EMAIL.encode() + b") Tj ET "
               b"BT /F1 9 Tf 0 Tr 0 g 127 4.8 Td (.evil.lv) Tj ET Q EMC")
    rejected(sign(lambda w: _email_drawn(w, content, {})), "appearance_mismatch", "email")


def test_end_of_the_email_in_a_hole_of_the_clip(sign):
    """``W*`` with the box and a second rectangle cuts a hole where the subdomain is drawn; pdfminer's
    clip is the bounding box of the path, which holds it."""
    content = (b"/Tx BMC q 0 0 248 18 re 127 0 121 18 re W* n BT /F1 9 Tf 0 g 2 4.8 Td ("
               + STORED_EMAIL.encode() + b") Tj ET Q EMC")
    rejected(sign(lambda w: _email_drawn(w, content, {})), "appearance_mismatch", "email")


def test_nines_turned_over_read_as_sixes(sign):
    """Each "9" drawn turned by 180 degrees where a "6" stands: the customer sees +37126666666, the
    bank stores +37129999999. The letters are in order and apart, so only their turn tells."""
    digit, plus = 5.73, 7.54  # DejaVu Sans advances at 9 pt
    x = 2 + plus + 4 * digit
    ops = [b"BT /F1 9 Tf 0 g 2 4.8 Td (+3712) Tj ET"]
    for _ in range(7):
        x += digit
        ops.append(b"BT /F1 9 Tf 0 g -1 0 0 -1 %.2f 11.3 Tm (9) Tj ET" % x)
    content = b"/Tx BMC q " + b" ".join(ops) + b" Q EMC"
    report = sign(lambda w: _phone_drawn(w, content, _field_font(w)))
    rejected(report, "appearance_mismatch", "phone")
    assert "turned" in report.reasons[0].message


def test_appearance_turned_by_its_matrix(sign):
    def turned(writer):
        _phone_drawn(writer, _line(VICTIM), _field_font(writer), stored=VICTIM)
        field(writer, "phone")["/AP"]["/N"].get_object()[NameObject("/Matrix")] = ArrayObject(
            [NumberObject(n) for n in (-1, 0, 0, -1, 248, 18)])

    rejected(sign(turned), "appearance_mismatch", "phone")


def test_large_eights_cut_to_their_lower_loops(sign):
    """At 30 pt under a clip at 14 pt only the lower loop of each "8" is seen, an "0"; the centres
    of the letters are inside the clip, the letters are not."""
    content = b"/Tx BMC q 0 0 248 14 re W n BT /F1 30 Tf 0 g 2 3 Td (+37128888888) Tj ET Q EMC"
    rejected(sign(lambda w: _phone_drawn(w, content, _field_font(w), stored="+37128888888")),
             "appearance_mismatch", "phone")
