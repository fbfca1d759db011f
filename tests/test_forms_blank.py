"""The blank form: its fields, fonts and identity, and the fill -> extract -> check round trip."""

import io
import re

import pdfplumber
import pypdf
import pytest
from click.testing import CliRunner
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from forms.blank import render_blank
from forms.cli import form
from forms.extract import extract_from_bytes
from forms.fill import fill_form
from forms.rules import check_form
from forms.samples import sample_values
from forms.schema import (
    FIELD_NAMES,
    FIELDS_BY_NAME,
    FORM_ID,
    FORM_VERSION,
    SIGNATURE_FIELD,
)
from tests.fixtures.realworld import REALWORLD

FORM_MD = REALWORLD.parent / "FORM.md"


@pytest.fixture(scope="module", params=["lv", "en"])
def blank(request) -> bytes:
    return render_blank(request.param)


def form_md_field_names() -> set[str]:
    """Every field name in FORM.md's table (first column, in backticks, possibly several per row)."""
    table = FORM_MD.read_text().split("## Fields", 1)[1].split("##", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([a-z_]+)`", row)}


def test_field_names_are_exactly_form_md(blank):
    fields = pypdf.PdfReader(io.BytesIO(blank)).get_fields()
    assert set(fields) == form_md_field_names() | {"form_id", "form_version", SIGNATURE_FIELD}
    assert set(FIELD_NAMES) == form_md_field_names()


def test_choice_export_values_and_country_lists(blank):
    fields = pypdf.PdfReader(io.BytesIO(blank)).get_fields()
    for name, spec in FIELDS_BY_NAME.items():
        if spec.kind == "choice":
            exports = [opt[0] for opt in fields[name]["/Opt"]]
            assert exports == ["", *spec.choice_values], name
    id_countries = [opt[0] for opt in fields["id_country"]["/Opt"]][1:]
    assert id_countries == ["EE", "LT", "LV"]
    address_countries = [opt[0] for opt in fields["address_country"]["/Opt"]][1:]
    assert len(address_countries) == 249 and "DE" in address_countries and "LV" in address_countries


def test_identity_fields_hidden_and_read_only(blank):
    reader = pypdf.PdfReader(io.BytesIO(blank))
    fields = reader.get_fields()
    assert fields["form_id"]["/V"] == FORM_ID and fields["form_version"]["/V"] == FORM_VERSION
    for annot in reader.pages[0]["/Annots"]:
        widget = annot.get_object()
        if widget.get("/T") in ("form_id", "form_version"):
            assert widget["/F"] & 2  # hidden
            assert widget["/Ff"] & 1  # read-only
    extraction = extract_from_bytes(blank)
    assert extraction.metadata_ids == {"info:FormId": FORM_ID, "info:FormVersion": FORM_VERSION,
                                       "xmp:FormId": FORM_ID, "xmp:FormVersion": FORM_VERSION}


def test_one_empty_signature_field_in_a_single_revision(blank):
    reader = PdfFileReader(io.BytesIO(blank))
    assert reader.xrefs.total_revisions == 1
    assert [(name, value) for name, value, _ in enumerate_sig_fields(reader, filled_status=None)] == [
        (SIGNATURE_FIELD, None)]


def test_fonts_embedded_and_latvian_text_extractable(blank):
    reader = pypdf.PdfReader(io.BytesIO(blank))
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if font["/Subtype"] == "/Type1":
                assert font["/BaseFont"] in ("/ZapfDingbats", "/Helvetica")  # reportlab's unused field fonts
                continue
            descriptor = (font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font)
            assert "/FontFile2" in descriptor["/FontDescriptor"], font["/BaseFont"]
    dr_font = reader.trailer["/Root"]["/AcroForm"]["/DR"]["/Font"]["/DejaVuField"].get_object()
    assert "/FontFile2" in dr_font["/FontDescriptor"]
    with pdfplumber.open(io.BytesIO(blank)) as pdf:
        text = "\n".join(page.extract_text() for page in pdf.pages)
    for phrase in ("Personas kods", "Uzvārds", "Klienta datu anketa", "Customer data form", "Nodokļu rezidence"):
        assert phrase in text
    assert 1 <= len(reader.pages) <= 2


def test_language_comes_first():
    def first_words(lang):
        with pdfplumber.open(io.BytesIO(render_blank(lang))) as pdf:
            return pdf.pages[0].extract_text().split("\n")[0]
    assert first_words("lv").startswith("Klienta datu anketa")
    assert first_words("en").startswith("Customer data form")
    with pytest.raises(ValueError):
        render_blank("de")


@pytest.mark.parametrize("country", ["LV", "LT", "EE"])
def test_fill_extract_check_round_trip(blank, country):
    values = sample_values(country, is_pep=True, pep_position="Ministru kabineta loceklis",
                           marketing_consent=True, employer="  Ķekava SIA  ")
    extraction = extract_from_bytes(fill_form(blank, values))
    assert (extraction.form_id, extraction.form_version) == (FORM_ID, FORM_VERSION)
    assert extraction.missing == [] and extraction.unknown == []
    expected = {name: None for name in FIELD_NAMES}
    expected.update({name: False for name, f in FIELDS_BY_NAME.items() if f.kind == "checkbox"})
    expected.update(values)
    expected["employer"] = "Ķekava SIA"  # trimmed
    assert extraction.values == expected
    result = check_form(extraction)
    assert result.problems == []
    assert result.values["phone"].startswith("+")


def test_pdfplumber_reads_back_what_fill_form_wrote(blank):
    filled = fill_form(blank, {"last_name": "Bērziņš", "data_accuracy_confirmation": True,
                               "source_of_funds": "other"})
    with pdfplumber.open(io.BytesIO(filled)) as pdf:
        extraction_values = extract_from_bytes(filled).values
        assert pdf.doc is not None
    assert extraction_values["last_name"] == "Bērziņš"
    assert extraction_values["data_accuracy_confirmation"] is True
    assert extraction_values["source_of_funds"] == "other"
    assert extraction_values["us_person"] is False


def test_fill_form_rejects_unknown_fields(blank):
    with pytest.raises(KeyError):
        fill_form(blank, {"no_such_field": "x"})


def test_empty_blank_checks_as_missing_fields(blank):
    result = check_form(extract_from_bytes(blank))
    codes = {p.code for p in result.problems}
    assert codes == {"field_missing"}
    assert result.problems[0].field == "id_country"


def test_cli_writes_the_blank(tmp_path):
    out = tmp_path / "blank.pdf"
    result = CliRunner().invoke(form, ["blank", "--lang", "en", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert extract_from_bytes(out.read_bytes()).form_id == FORM_ID
    assert CliRunner().invoke(form, ["blank", "--lang", "de", "-o", str(out)]).exit_code != 0
