"""The extractor on foreign, hand-made and broken PDFs."""

import io

import pdfplumber
import pypdf
import pytest
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from forms.blank import render_blank
from forms.extract import (
    Extraction,
    ExtractionError,
    extract_fields,
    extract_from_bytes,
)
from forms.fill import fill_form
from forms.rules import check_form
from forms.samples import sample_values
from forms.schema import FIELD_NAMES
from tests.fixtures.realworld import REALWORLD as REALWORLD_DIR

REALWORLD = sorted((REALWORLD_DIR / "forms").glob("*.pdf"))


@pytest.fixture(scope="module")
def filled() -> bytes:
    return fill_form(render_blank("lv"), sample_values("LV"))


def rewrite(pdf: bytes, change) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def field(writer: pypdf.PdfWriter, name: str) -> DictionaryObject:
    for ref in writer._root_object["/AcroForm"]["/Fields"]:
        if ref.get_object().get("/T") == name:
            return ref.get_object()
    raise KeyError(name)


def test_realworld_forms_are_foreign():
    assert len(REALWORLD) >= 10
    for path in REALWORLD:
        try:
            extraction = extract_from_bytes(path.read_bytes())
        except ExtractionError:
            continue
        assert isinstance(extraction, Extraction)
        assert extraction.missing == list(FIELD_NAMES)
        assert [p.code for p in check_form(extraction).problems] == ["unknown_form"], path.name


def test_full_dotted_names_of_kids_hierarchies():
    path = REALWORLD_DIR / "forms" / "pdfjs__annotation-text-widget.pdf"
    unknown = extract_from_bytes(path.read_bytes()).unknown
    assert "formulier1[0].#subform[0].Tekstveld1[0]" in unknown


def test_extract_fields_takes_an_opened_document(filled):
    with pdfplumber.open(io.BytesIO(filled)) as pdf:
        assert extract_fields(pdf).values["last_name"] == "Bērziņš"


def test_unknown_fields_are_reported_not_guessed(filled):
    def add_field(writer):
        extra = writer._add_object(DictionaryObject({NameObject("/FT"): NameObject("/Tx"),
                                                     NameObject("/T"): TextStringObject("nickname"),
                                                     NameObject("/V"): TextStringObject("Jancis")}))
        writer._root_object["/AcroForm"]["/Fields"].append(extra)
    extraction = extract_from_bytes(rewrite(filled, add_field))
    assert extraction.unknown == ["nickname"]
    assert "nickname" not in extraction.values


def test_missing_fields_are_listed(filled):
    def drop(writer):
        fields = writer._root_object["/AcroForm"]["/Fields"]
        fields[:] = [ref for ref in fields if ref.get_object().get("/T") != "email"]
    extraction = extract_from_bytes(rewrite(filled, drop))
    assert extraction.missing == ["email"] and extraction.values["email"] is None
    assert [(p.code, p.field) for p in check_form(extraction).problems] == [("field_missing", "email")]


def test_values_are_normalised(filled):
    def change(writer):
        field(writer, "first_name")[NameObject("/V")] = TextStringObject("  Ja\u0304nis ")  # decomposed ā
        field(writer, "us_person")[NameObject("/V")] = NameObject("/On")  # any state but Off is checked
        field(writer, "correspondence_channel")[NameObject("/V")] = TextStringObject("E-pasts / E-mail")
        field(writer, "occupation")[NameObject("/V")] = TextStringObject("   ")
    values = extract_from_bytes(rewrite(filled, change)).values
    assert values["first_name"] == "Jānis"
    assert values["us_person"] is True
    assert values["correspondence_channel"] == "email"  # display text -> export value
    assert values["occupation"] is None


def test_utf16_and_pdfdoc_strings(filled):
    def change(writer):
        field(writer, "last_name")[NameObject("/V")] = pypdf.generic.ByteStringObject(
            "\ufeffĶēniņš".encode("utf-16-be"))
        field(writer, "address_city")[NameObject("/V")] = pypdf.generic.ByteStringObject(b"Li\xe8ge")
    values = extract_from_bytes(rewrite(filled, change)).values
    assert values["last_name"] == "Ķēniņš"
    assert values["address_city"] == "Liège"


def test_metadata_contradicting_the_fields_is_unknown_form(filled):
    contradicting = rewrite(filled, lambda w: w.add_metadata({"/FormVersion": "2025.1"}))
    extraction = extract_from_bytes(contradicting)
    assert extraction.metadata_ids["info:FormVersion"] == "2025.1"
    assert [p.code for p in check_form(extraction).problems] == ["unknown_form"]


def test_identity_field_with_another_value_is_unknown_form(filled):
    other = rewrite(filled, lambda w: field(w, "form_id").__setitem__(NameObject("/V"), TextStringObject("x")))
    assert [p.code for p in check_form(extract_from_bytes(other)).problems] == ["unknown_form"]


@pytest.mark.parametrize("breakage", [
    lambda w: w._root_object["/AcroForm"].__setitem__(NameObject("/Fields"), NumberObject(7)),
    lambda w: w._root_object.__setitem__(NameObject("/AcroForm"), NumberObject(7)),
    lambda w: w._root_object["/AcroForm"]["/Fields"].append(NumberObject(3)),
    lambda w: field(w, "phone").__setitem__(NameObject("/V"), ArrayObject([DictionaryObject()])),
    lambda w: field(w, "phone").__setitem__(NameObject("/Kids"), ArrayObject([field(w, "phone").indirect_reference])),
])
def test_malformed_structures_raise_extraction_error(filled, breakage):
    with pytest.raises(ExtractionError):
        extract_from_bytes(rewrite(filled, breakage))


@pytest.mark.parametrize("data", [b"", b"not a pdf", b"%PDF-1.7\n1 0 obj\n<<\n%%EOF"])
def test_garbage_raises_extraction_error(data):
    with pytest.raises(ExtractionError):
        extract_from_bytes(data)


def test_signed_form_extracts_and_checks(pki, filled):
    """The signature field's /V is a signature dictionary, not a value; the XMP copy survives signing."""
    from verify.demo_pki import sign_pdf

    signed = sign_pdf(filled, pki.person("LV", "161175-19997", "Jānis", "Bērziņš"))
    extraction = extract_from_bytes(signed)
    assert extraction.unknown == [] and extraction.metadata_ids["xmp:FormId"] == "customer-data-update"
    assert check_form(extraction).problems == []


def test_text_stream_values(filled):
    def change(writer):
        stream = pypdf.generic.DecodedStreamObject()
        stream.set_data("Rīgas iela 5".encode("utf-16-be").join([b"\xfe\xff", b""]))
        field(writer, "address_street")[NameObject("/V")] = writer._add_object(stream)
    assert extract_from_bytes(rewrite(filled, change)).values["address_street"] == "Rīgas iela 5"
