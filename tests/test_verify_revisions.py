"""What may follow the customer's signature (FORM.md): a DSS and document timestamps, nothing else.

pyHanko's default diff policy rates AcroForm /DA and /NeedAppearances changes, /Info and XMP
edits and empty signature fields as LTA_UPDATES; verify.revisions judges every later revision
strictly. Positive controls: a DSS, a document timestamp, both (B-LTA).
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic

from tests.test_verify_decision import append_update
from verify.decision import decide


def add_dss(pdf: bytes, pki) -> bytes:
    from pyhanko.sign.validation import DocumentSecurityStore

    out = io.BytesIO(pdf)
    out.seek(0, 2)
    DocumentSecurityStore.add_dss(out, sig_contents=None, certs=[pki.intermediate.asn1_cert],
                                  crls=[pki.crl()], force_write=True)
    return out.getvalue()


def acroform_set(key: str, value):
    def mutate(writer) -> None:
        af = writer.root.raw_get("/AcroForm")
        if isinstance(af, generic.IndirectObject):
            af.get_object()[generic.NameObject(key)] = value
            writer.mark_update(af)
        else:
            writer.root["/AcroForm"][generic.NameObject(key)] = value
            writer.update_root()

    return mutate


def rejected_modified(report, *words: str) -> None:
    assert report.verdict == "rejected", report.to_json()
    assert report.reasons[0].code == "modified_after_signing", report.to_json()["reasons"]
    message = report.reasons[0].message
    for word in words:
        assert word in message, message


# -- allowed ----------------------------------------------------------------------------------


def test_document_timestamp_after_the_signature_is_accepted(pki, signed_form, trust_policy):
    report = decide(pki.document_timestamp(signed_form()), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.coverage == "ENTIRE_REVISION"
    assert report.modification_level == "LTA_UPDATES"
    assert report.level == "B-T"  # a later document timestamp proves the time too


def test_dss_then_document_timestamp_then_dss_is_accepted(pki, signed_form, trust_policy):
    lta = pki.document_timestamp(add_dss(signed_form(timestamp=True), pki))
    report = decide(lta, trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.level == "B-LTA"
    report = decide(add_dss(lta, pki), trust_policy)  # validation data for the timestamp itself
    assert report.verdict == "accepted", report.to_json()["reasons"]


def test_dss_update_is_accepted(pki, signed_form, trust_policy):
    report = decide(add_dss(signed_form(), pki), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]


# -- refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, word",
    [
        ("/DA", generic.TextStringObject("/Helv 30 Tf 1 0 0 rg"), "/DA"),
        ("/NeedAppearances", generic.BooleanObject(True), "/NeedAppearances"),
        ("/Q", generic.NumberObject(2), "/Q"),
    ],
)
def test_acroform_change_after_signing(signed_form, trust_policy, key, value, word):
    report = decide(append_update(signed_form(), acroform_set(key, value)), trust_policy)
    rejected_modified(report, word, "AcroForm")


def test_acroform_change_after_a_valid_document_timestamp(pki, signed_form, trust_policy):
    data = pki.document_timestamp(signed_form())
    data = append_update(data, acroform_set("/NeedAppearances", generic.BooleanObject(True)))
    rejected_modified(decide(data, trust_policy), "/NeedAppearances", "update 2 of the 2")


def test_a_dss_does_not_excuse_other_changes_in_its_revision(pki, signed_form, trust_policy):
    """The DSS and a /DA change written in one update: still refused."""
    from pyhanko.sign.validation import DocumentSecurityStore

    def mutate(writer) -> None:
        acroform_set("/DA", generic.TextStringObject("/Helv 0 Tf 0 g"))(writer)
        DocumentSecurityStore.supply_dss_in_writer(writer, sig_contents=None, certs=[pki.intermediate.asn1_cert])

    rejected_modified(decide(append_update(signed_form(), mutate), trust_policy), "/DA")


def test_metadata_only_update_is_refused(signed_form, trust_policy):
    """pyHanko's writer refreshes /Info (and the XMP) on every update: an update carrying nothing
    else is an edit of the document's metadata, not validation data."""

    def mutate(writer) -> None:
        info = writer.trailer.raw_get("/Info")
        info.get_object()[generic.NameObject("/Title")] = generic.TextStringObject("changed")
        writer.mark_update(info)

    rejected_modified(decide(append_update(signed_form(), mutate), trust_policy), "/Info")


def test_orphan_object_update_is_refused(signed_form, trust_policy):
    data = append_update(signed_form(), lambda w: w.add_object(generic.TextStringObject("hello")))
    rejected_modified(decide(data, trust_policy))


def test_empty_signature_field_added_after_signing(signed_form, trust_policy):
    from pyhanko.sign import fields

    data = append_update(signed_form(), lambda w: fields.append_signature_field(w, fields.SigFieldSpec("later")))
    rejected_modified(decide(data, trust_policy), "later")


def test_catalog_entry_added_after_signing(signed_form, trust_policy):
    def mutate(writer) -> None:
        writer.root[generic.NameObject("/OpenAction")] = generic.DictionaryObject({
            generic.NameObject("/S"): generic.NameObject("/JavaScript"),
            generic.NameObject("/JS"): generic.TextStringObject("app.alert(1)"),
        })
        writer.update_root()

    rejected_modified(decide(append_update(signed_form(), mutate), trust_policy), "/OpenAction", "catalog")


def test_second_signature_is_named(pki, signed_form, trust_policy):
    other = pki.person("LV", "010101-10006", "Anna", "Ozola")
    data = pki.sign_pdf(signed_form(), other, field="bank_signature")
    rejected_modified(decide(data, trust_policy))
