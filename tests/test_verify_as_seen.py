"""What the customer saw is what is applied: form_altered and appearance_mismatch (issue 9, items 1-3).

Every attack is a form filled in by pypdf (forms.fill), then changed the way a fraudster's
"pre-filled form" would be, then signed by the customer with the test PKI: the signature is
genuine, the document is not what the customer saw.
"""

from __future__ import annotations

import io
from typing import Callable

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from tests.test_verify_decision import assert_well_formed, codes
from verify.decision import decide

# -- tampering with a filled form before it is signed ------------------------------------------


def tamper(pdf: bytes, change: Callable[[PdfWriter], None]) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def field(writer: PdfWriter, name: str) -> DictionaryObject:
    for ref in writer._root_object["/AcroForm"]["/Fields"]:
        node = ref.get_object()
        if node.get("/T") == name:
            return node
    raise KeyError(name)


def appearance(writer: PdfWriter, node: DictionaryObject, content: bytes) -> None:
    """Give ``node`` a normal appearance drawing ``content`` with the form's field font."""
    rect = [float(v) for v in node["/Rect"]]
    dr_fonts = writer._root_object["/AcroForm"]["/DR"]["/Font"]
    stream = DecodedStreamObject()
    stream.set_data(content)
    stream.update({
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Form"),
        NameObject("/BBox"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(rect[2] - rect[0]),
                                          FloatObject(rect[3] - rect[1])]),
        NameObject("/Resources"): DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/DejaVuField"): dr_fonts.raw_get("/DejaVuField")})}),
    })
    node[NameObject("/AP")] = DictionaryObject({NameObject("/N"): writer._add_object(stream)})


def text(value: str, *, ops: str = "", x: float = 2, size: float = 9) -> bytes:
    """An appearance drawing ``value`` as pypdf does, with extra text-state operators."""
    return (f"/Tx BMC q BT /DejaVuField {size} Tf 0.106 0.165 0.227 rg {ops} {x} 4.8 Td ({value}) Tj ET Q EMC"
            .encode("latin-1"))


@pytest.fixture(scope="module")
def sign(pki, person_for, make_form, trust_policy):
    def run(change: Callable[[PdfWriter], None] | None = None, values=None, *, lang="lv", **sign_kw):
        pdf = make_form(values, lang=lang)
        if change is not None:
            pdf = tamper(pdf, change)
        report = decide(pki.sign_pdf(pdf, person_for(values), **sign_kw), trust_policy)
        assert_well_formed(report)
        return report

    return run


def rejected(report, code: str, field_name: str | None = None) -> None:
    assert report.verdict == "rejected", report.to_json()
    assert code in codes(report), report.to_json()["reasons"]
    if field_name is not None:
        assert any(r.code == code and r.field == field_name for r in report.reasons), report.to_json()["reasons"]


def accepted(report) -> None:
    assert report.verdict == "accepted", report.to_json()["reasons"]


# -- the genuine cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_filled_and_signed_form_is_accepted(sign, lang):
    accepted(sign(lang=lang))


def _viewer_draws(writer):
    for name in ("phone", "email", "first_name"):
        del field(writer, name)["/AP"]
    writer._root_object["/AcroForm"][NameObject("/NeedAppearances")] = BooleanObject(True)


def test_no_appearance_under_need_appearances_is_accepted(sign, monkeypatch):
    """A signing tool that keeps /NeedAppearances (pyHanko clears it; see the next test)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.sign.signers import cms_embedder

    def keep_need_appearances(writer, lock_sig_flags=True):
        form = writer.root["/AcroForm"]
        form["/SigFlags"] = generic.NumberObject(3)
        writer.update_container(form)

    monkeypatch.setattr(cms_embedder, "ensure_sig_flags", keep_need_appearances)
    accepted(sign(_viewer_draws))


def test_need_appearances_cleared_by_the_signer_shows_empty_fields(sign):
    """pyHanko's signer clears /NeedAppearances: a viewer then draws nothing for those fields."""
    report = sign(_viewer_draws)
    rejected(report, "appearance_mismatch", "phone")


def test_no_appearance_without_need_appearances_shows_nothing(sign):
    rejected(sign(lambda w: field(w, "phone").pop("/AP")), "appearance_mismatch", "phone")


def test_personal_prefilled_variant_read_only_identity_is_accepted(sign):
    def read_only(writer):
        for name in ("id_country", "personal_code", "first_name", "last_name", "date_of_birth"):
            node = field(writer, name)
            node[NameObject("/Ff")] = NumberObject(int(node.get("/Ff", 0)) | 1)

    accepted(sign(read_only))


def test_signature_in_an_added_field_is_accepted(sign):
    accepted(sign(field="Signature1"))


# -- value differs from its appearance (prepared before signing) ----------------------------------


def test_text_value_differs_from_its_appearance(sign):
    def other_phone(writer):
        field(writer, "phone")[NameObject("/V")] = TextStringObject("+37129999999")

    report = sign(other_phone)
    rejected(report, "appearance_mismatch", "phone")
    assert codes(report) == ["appearance_mismatch"]


@pytest.mark.parametrize("ops, what", [
    ("3 Tr", "invisible render mode"),
    ("1 1 1 rg", "white on white"),
], ids=["Tr3", "white"])
def test_stored_value_drawn_invisibly_next_to_a_decoy(sign, ops, what):
    def decoy(writer):
        node = field(writer, "phone")
        appearance(writer, node, text("+37120000000") + b" " + text("+37129999999", ops=ops, x=120))
        node[NameObject("/V")] = TextStringObject("+3712000000029999999")

    rejected(sign(decoy), "appearance_mismatch", "phone")


@pytest.mark.parametrize("content", [
    text("+37129999999", size=0.5),
    text("+37129999999", x=-400),
    b"q 0 0 1 1 re W n " + text("+37129999999") + b" Q",
], ids=["tiny", "outside-bbox", "clipped"])
def test_value_drawn_where_nobody_sees_it(sign, content):
    def hide(writer):
        node = field(writer, "phone")
        appearance(writer, node, content)
        node[NameObject("/V")] = TextStringObject("+37129999999")

    rejected(sign(hide), "appearance_mismatch", "phone")


def test_long_value_running_past_the_box_is_what_a_reader_draws(sign):
    long = "Ļoti garā iela " * 8 + "1-2"

    def overflow(writer):
        node = field(writer, "address_street")
        appearance(writer, node, text(long.encode("latin-1", "replace").decode("latin-1")))

    values = {**_good(), "address_street": long}
    # pypdf draws the same text the way readers do: one line, clipped at the box
    accepted(sign(values=values))
    assert overflow  # the hand-drawn variant is not needed: pypdf already overflows the box


def _good():
    from tests.fixtures.pki import GOOD_VALUES

    return dict(GOOD_VALUES)


def test_confirmation_drawn_unchecked_but_stored_given(sign):
    def unchecked(writer):
        field(writer, "data_accuracy_confirmation")[NameObject("/AS")] = NameObject("/Off")

    rejected(sign(unchecked), "appearance_mismatch", "data_accuracy_confirmation")


def test_confirmation_state_on_but_its_drawing_is_empty(sign):
    def swapped(writer):
        node = field(writer, "data_accuracy_confirmation")
        states = node["/AP"]["/N"]
        states[NameObject("/Yes")], states[NameObject("/Off")] = states.raw_get("/Off"), states.raw_get("/Yes")

    rejected(sign(swapped), "appearance_mismatch", "data_accuracy_confirmation")


def test_marketing_consent_drawn_checked_but_stored_refused(sign):
    def refused(writer):
        field(writer, "marketing_consent")[NameObject("/V")] = NameObject("/Off")

    report = sign(refused)
    rejected(report, "appearance_mismatch", "marketing_consent")


def test_pep_stored_but_drawn_empty(sign):
    def pep(writer):
        field(writer, "is_pep")[NameObject("/V")] = NameObject("/Yes")
        field(writer, "pep_position")[NameObject("/V")] = TextStringObject("Saeimas deputāts")

    report = sign(pep)
    rejected(report, "appearance_mismatch", "is_pep")
    rejected(report, "appearance_mismatch", "pep_position")


# -- two fields that read as one name ---------------------------------------------------------


def _add_field(writer: PdfWriter, name: str, value: str, *, widget: bool) -> DictionaryObject:
    node = DictionaryObject({
        NameObject("/FT"): NameObject("/Tx"),
        NameObject("/T"): TextStringObject(name),
        NameObject("/V"): TextStringObject(value),
    })
    if widget:
        node.update({NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
                     NameObject("/Rect"): ArrayObject([NumberObject(0)] * 4), NameObject("/F"): NumberObject(2)})
    ref = writer._add_object(node)
    writer._root_object["/AcroForm"]["/Fields"].append(ref)
    if widget:
        writer.pages[0]["/Annots"].append(ref)
    return node


@pytest.mark.parametrize("name", ["phone", "phone ", "phone\u00a0"], ids=["same", "trailing-space", "nbsp"])
def test_second_phone_field(sign, name):
    report = sign(lambda w: _add_field(w, name, "+37129999999", widget=False))
    rejected(report, "form_altered")
    assert report.reasons[0].code == "form_altered"


def test_nbsp_name_is_named_escaped(sign):
    report = sign(lambda w: _add_field(w, "phone\u00a0", "+37129999999", widget=True))
    rejected(report, "form_altered")
    assert "phone\\xa0" in report.reasons[0].message


def test_real_field_in_an_optional_content_group_that_is_off(sign):
    def ocg(writer):
        group = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/OCG"),
                                                     NameObject("/Name"): TextStringObject("real")}))
        writer._root_object[NameObject("/OCProperties")] = DictionaryObject({
            NameObject("/OCGs"): ArrayObject([group]),
            NameObject("/D"): DictionaryObject({NameObject("/OFF"): ArrayObject([group])}),
        })
        field(writer, "phone")[NameObject("/OC")] = group

    report = sign(ocg)
    rejected(report, "form_altered")
    assert "/OCProperties" in report.reasons[0].message


def test_hidden_kid_widget_with_its_own_value(sign):
    def hidden_kid(writer):
        parent = field(writer, "phone")
        kid = writer._add_object(DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/Rect"): ArrayObject([NumberObject(0)] * 4), NameObject("/F"): NumberObject(2),
            NameObject("/T"): TextStringObject("x"), NameObject("/V"): TextStringObject("+37129999999"),
            NameObject("/Parent"): parent.indirect_reference,
        }))
        parent[NameObject("/Kids")] = ArrayObject([kid])

    rejected(sign(hidden_kid), "form_altered")


def test_extra_annotation_over_the_form(sign):
    def sticker(writer):
        annot = writer._add_object(DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/FreeText"),
            NameObject("/Rect"): ArrayObject([NumberObject(n) for n in (42, 500, 290, 520)]),
            NameObject("/Contents"): TextStringObject("+37129999999"),
        }))
        writer.pages[0]["/Annots"].append(annot)

    rejected(sign(sticker), "form_altered")


def test_page_content_changed(sign):
    def scribble(writer):
        writer.pages[0].merge_transformed_page(writer.pages[1], (1, 0, 0, 1, 0, 0))

    rejected(sign(scribble), "form_altered")


def test_javascript_action(sign):
    def script(writer):
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
            NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})

    rejected(sign(script), "form_altered")


# -- a choice's /Opt pairs remapped --------------------------------------------------------------


def test_choice_options_remapped(sign):
    def remap(writer):
        node = field(writer, "correspondence_channel")
        options = node["/Opt"]
        for i, option in enumerate(options):
            pair = option.get_object()
            if pair[0] == "email":
                options[i] = ArrayObject([TextStringObject("post"), pair[1]])
        node[NameObject("/V")] = TextStringObject("post")

    report = sign(remap)
    rejected(report, "form_altered")
    assert "field correspondence_channel /Opt changed" in report.reasons[0].message


def test_choice_shows_another_option(sign):
    def other(writer):
        field(writer, "correspondence_channel")[NameObject("/V")] = TextStringObject("post")

    rejected(sign(other), "appearance_mismatch", "correspondence_channel")


def test_pyhanko_static_text_filling_is_accepted(pki, person_for, trust_policy, make_form):
    """pyHanko's field filler (issue 9's list of real fillers) makes the text field read-only and
    drops its /DA, its drawing being static: neither changes what is shown, so the form is accepted
    with the value its appearance draws."""
    from pyhanko.pdf_utils.form_tools import populate_static_text_field
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle

    values = {k: v for k, v in _good().items() if k not in ("employer", "occupation")}
    writer = IncrementalPdfFileWriter(io.BytesIO(make_form(values)))
    populate_static_text_field(writer, "employer", TextBoxStyle(), "SIA Piemers")
    populate_static_text_field(writer, "occupation", TextBoxStyle(), "Accountant")
    out = io.BytesIO()
    writer.write(out)
    report = decide(pki.sign_pdf(out.getvalue(), person_for(values)), trust_policy)
    assert report.verdict == "accepted", report.reasons
    assert (report.fields["employer"], report.fields["occupation"]) == ("SIA Piemers", "Accountant")


def test_read_only_and_a_dropped_da_are_allowed_on_text_fields_only(sign):
    """The tolerance is pyHanko's filler's, no wider: a choice made read-only is form_altered."""
    def read_only_choice(writer):
        node = field(writer, "correspondence_channel")
        node[NameObject("/Ff")] = NumberObject(int(node.get("/Ff", 0)) | 1)

    report = sign(read_only_choice)
    rejected(report, "form_altered")
    assert "field correspondence_channel /Ff changed" in report.reasons[0].message


def test_prepared_signature_field_drawing_over_the_phone(sign):
    """A second signature field whose drawing covers the phone box shows another number."""
    def overlay(writer):
        phone = field(writer, "phone")
        node = _add_field(writer, "Signature1", "", widget=True)
        node[NameObject("/FT")] = NameObject("/Sig")
        del node["/V"]
        node[NameObject("/F")] = NumberObject(4)
        node[NameObject("/Rect")] = ArrayObject([FloatObject(float(v)) for v in phone["/Rect"]])
        node[NameObject("/P")] = phone["/P"]
        appearance(writer, node, text("+37129999999"))

    report = sign(overlay)
    rejected(report, "form_altered")
    assert "field Signature1 /Rect covers field phone" in report.reasons[0].message


def _form_xobject(writer: PdfWriter, content: bytes, bbox: list[float]) -> object:
    dr_fonts = writer._root_object["/AcroForm"]["/DR"]["/Font"]
    inner = DecodedStreamObject()
    inner.set_data(content)
    inner.update({
        NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
        NameObject("/BBox"): ArrayObject([FloatObject(v) for v in bbox]),
        NameObject("/Resources"): DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/DejaVuField"): dr_fonts.raw_get("/DejaVuField")})}),
    })
    return writer._add_object(inner)


def test_stored_value_in_a_nested_form_clipped_to_nothing(sign):
    """The decoy is a painted shape (any text can be drawn as outlines); the value sits in a form
    XObject whose BBox clips it away."""
    def nested(writer):
        node = field(writer, "phone")
        appearance(writer, node, b"q 0 0 0 rg 2 2 100 10 re f Q /Fm0 Do")
        stream = node["/AP"]["/N"].get_object()
        stream["/Resources"][NameObject("/XObject")] = DictionaryObject(
            {NameObject("/Fm0"): _form_xobject(writer, text("+37129999999"), [0, 0, 0.1, 0.1])})
        node[NameObject("/V")] = TextStringObject("+37129999999")

    rejected(sign(nested), "appearance_mismatch", "phone")


def test_value_in_a_nested_form_inside_its_box_is_accepted(sign):
    def nested(writer):
        node = field(writer, "phone")
        appearance(writer, node, b"/Fm0 Do")
        stream = node["/AP"]["/N"].get_object()
        stream["/Resources"][NameObject("/XObject")] = DictionaryObject(
            {NameObject("/Fm0"): _form_xobject(writer, text("+37120000000"), [0, 0, 240, 18])})

    accepted(sign(nested))


def test_rollover_appearance_shows_a_decoy_under_the_mouse(sign):
    def rollover(writer):
        node = field(writer, "phone")
        normal = node["/AP"].raw_get("/N")
        appearance(writer, node, text("+37129999999"))
        node["/AP"][NameObject("/R")] = node["/AP"].raw_get("/N")
        node["/AP"][NameObject("/N")] = normal

    report = sign(rollover)
    rejected(report, "form_altered")
    assert "field phone /AP kinds changed" in report.reasons[0].message
