"""The published blanks' committed structures, and what the comparison allows (verify.conformance)."""

from __future__ import annotations

import pytest

from forms.schema import FORM_VERSION
from verify import conformance


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_published_blank_is_todays_render(lang):
    """A change to the blank must be a new form_version, not a silent rejection of every customer."""
    committed = conformance.published_structure(FORM_VERSION, lang)
    today = conformance.blank_structure(lang)
    assert conformance.differences(committed, today) == []
    assert today == committed, "re-rendered blank differs from verify/published; publish a new form_version"


def test_render_is_structurally_deterministic():
    assert conformance.blank_structure("lv") == conformance.blank_structure("lv")


def test_every_published_version_has_both_languages():
    assert {lang for version, lang in conformance.PUBLISHED if version == FORM_VERSION} == {"lv", "en"}
    for version, lang in conformance.PUBLISHED:
        assert conformance.published_path(version, lang).is_file()


BLANK = {
    "catalog /Lang": "'lv'",
    "acroform /SigFlags": "1",
    "field phone": "present",
    "field phone /V": "''",
    "field phone /Ff": "0",
    "field phone /Rect": "[1,2,3,4]",
    "field phone /P": "page 1",
    "field personal_code": "present",
    "field personal_code /Ff": "0",
    "field form_version": "present",
    "field form_version /V": "'2026.1'",
    "field customer_signature": "present",
    "field customer_signature /FT": "/Sig",
    "field customer_signature /Rect": "[0,0,9,9]",
    "page 1 annotation phone": "present",
}


@pytest.mark.parametrize("change", [
    {"field phone /V": "'+37120000000'", "field phone /AP": "x", "acroform /NeedAppearances": "true"},
    {"field customer_signature /V": "sig", "field customer_signature /AP": "x", "acroform /SigFlags": "3"},
    {"field personal_code /Ff": "1"},
    {"catalog /Metadata": "x", "catalog /Perms": "y"},
    {"field Signature1": "present", "field Signature1 /FT": "/Sig", "field Signature1 /Rect": "[0,0,0,0]",
     "page 1 annotation Signature1": "present"},
], ids=["filled", "signed", "prefilled-read-only", "metadata", "added-signature-field"])
def test_what_readers_and_signers_do_is_allowed(change):
    assert conformance.differences(BLANK, {**BLANK, **change}) == []


def test_pyhanko_static_text_filling_is_allowed_on_text_fields():
    """pyHanko's populate_static_text_field: ReadOnly set and /DA dropped on the text field it fills."""
    blank = {**BLANK, "field phone /DA": "'/DejaVuField 9 Tf'"}
    filled = {k: v for k, v in blank.items() if k != "field phone /DA"}
    assert conformance.differences(blank, {**filled, "field phone /Ff": "1", "field phone /V": "'+37120000000'"}) == []


@pytest.mark.parametrize("change, path", [
    ({"field phone /Ff": "4097"}, "field phone /Ff"),
    ({"field phone /DA": "'/Helv 0 Tf'"}, "field phone /DA"),
    ({"field personal_code /Ff": "3"}, "field personal_code /Ff"),
    ({"field phone /Rect": "[0,0,0,0]"}, "field phone /Rect"),
    ({"field form_version /V": "'2025.1'"}, "field form_version /V"),
    ({"field customer_signature /Rect": "[0,0,900,900]"}, "field customer_signature /Rect"),
    ({"field phone\\xa0": "present"}, "field phone\\xa0"),
    ({"field phone#2": "present"}, "field phone#2"),
    ({"field Signature1 /FT": "/Tx"}, "field Signature1 /FT"),
    ({"catalog /OCProperties": "x"}, "catalog /OCProperties"),
    ({"acroform /XFA": "x"}, "acroform /XFA"),
    ({"page 1 annotation unnamed:abc": "x"}, "page 1 annotation unnamed:abc"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_anything_else_is_named(change, path):
    found = conformance.differences(BLANK, {**BLANK, **change})
    assert [d.path for d in found] == [path]
    assert path in conformance.describe(found)


def test_removed_field_is_named():
    actual = {k: v for k, v in BLANK.items() if not k.startswith("field phone")}
    assert "field phone removed" in conformance.describe(conformance.differences(BLANK, actual))


def test_added_signature_widget_may_not_cover_a_field():
    added = {"field Signature1": "present", "field Signature1 /FT": "/Sig", "page 1 annotation Signature1": "present"}
    covering = {**BLANK, **added, "field Signature1 /Rect": "[0,0,10,10]"}
    assert [str(d) for d in conformance.differences(BLANK, covering)] == ["field Signature1 /Rect covers field phone"]
    elsewhere = {**BLANK, **added, "field Signature1 /Rect": "[100,100,200,200]"}
    assert conformance.differences(BLANK, elsewhere) == []
