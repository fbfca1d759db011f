"""ETSI (AdES) validation, the trusted lists and qualification (issue 10), on the demo PKI's test lists.

Every signed file is built here with the test PKI: revocation data issued after the signature
timestamp, validation data added days later, revoked certificates, non-qualified signers and TSAs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from lxml import etree

from verify.decision import decide
from verify.policy import Policy, PolicyError
from verify.reasons import CODES

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def signed_days_ago(pki, make_form, person_for):
    """A B-T form whose trusted signature timestamp is three days old, and the time it proves."""
    when = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(days=3)
    return pki.sign_pdf(make_form(), person_for(), timestamp=True, timestamp_time=when), when


def test_b_lt_with_ocsp_issued_after_the_timestamp_is_accepted(pki, person_for, trust_policy, signed_days_ago):
    """The Latvian LT case: the OCSP response is 7 minutes younger than the signature timestamp."""
    signed, when = signed_days_ago
    ocsp = pki.ocsp_response(person_for(), this_update=when + dt.timedelta(minutes=7))
    report = decide(pki.add_validation_data(signed, person_for(), ocsps=[ocsp]), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert (report.level, report.indication, report.subindication) == ("B-LT", "PASSED", "OK")
    assert report.revocation_checked is True and report.timestamp_time == when


def test_b_lt_with_a_crl_issued_after_the_timestamp_is_accepted(pki, person_for, trust_policy, signed_days_ago):
    signed, when = signed_days_ago
    crl = pki.crl([], this_update=when + dt.timedelta(minutes=7))
    report = decide(pki.add_validation_data(signed, person_for(), crls=[crl]), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert report.level == "B-LT"


def test_b_lta_with_validation_data_added_days_later(pki, person_for, trust_policy, signed_days_ago):
    signed, when = signed_days_ago
    later = when + dt.timedelta(days=2)
    with_data = pki.add_validation_data(signed, person_for(), crls=[pki.crl([], this_update=later)])
    lta = pki.document_timestamp(with_data, fixed_dt=later + dt.timedelta(minutes=1))
    report = decide(lta, trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]
    assert (report.level, report.coverage, report.modification_level) == ("B-LTA", "ENTIRE_REVISION", "LTA_UPDATES")
    assert report.qualified is True


def test_revoked_before_the_timestamp_is_revoked_after_it_is_not(pki, person_for, trust_policy, signed_days_ago):
    signed, when = signed_days_ago
    before = pki.ocsp_response(person_for(), this_update=when + dt.timedelta(minutes=7),
                               revoked_at=when - dt.timedelta(days=1))
    report = decide(pki.add_validation_data(signed, person_for(), ocsps=[before]), trust_policy)
    assert report.codes == ["certificate_revoked"], report.to_json()["reasons"]
    # revoked after the proven signing time: the signature was made while the certificate was good
    after = pki.ocsp_response(person_for(), this_update=when + dt.timedelta(days=1),
                              revoked_at=when + dt.timedelta(hours=12))
    report = decide(pki.add_validation_data(signed, person_for(), ocsps=[after]), trust_policy)
    assert report.verdict == "accepted", report.to_json()["reasons"]


def test_a_non_qualified_signer_is_not_qualified(signed_form, trust_policy):
    report = decide(signed_form(variant="not_qualified"), trust_policy)
    assert report.codes == ["not_qualified"], report.to_json()["reasons"]
    assert (report.qualified, report.trust_source, report.indication) == (False, "trusted_list", "PASSED")
    # the requirement can be turned off (a bank testing with its own CA, third-party checks)
    relaxed = dataclasses.replace(trust_policy, require_qualified=False)
    assert decide(signed_form(variant="not_qualified"), relaxed).verdict == "accepted"


def test_explicit_roots_trust_but_do_not_qualify(pki, signed_form):
    roots = Policy.load([pki.root_pem_path])
    report = decide(signed_form(), roots)
    assert report.codes == ["not_qualified"]
    assert (report.qualified, report.trust_source) == (False, "trust_roots")
    report = decide(signed_form(), Policy.load([pki.root_pem_path], require_qualified=False))
    assert report.verdict == "accepted" and report.trust_source == "trust_roots"


def test_the_time_proof_needs_a_qualified_timestamp(pki, signed_form, tmp_path):
    """The demo TSA off the list: its timestamp is trusted (under the listed root), not qualified."""
    from verify.trust import import_lists

    source = pki.publish_trust_lists(tmp_path / "src", qualified_tsa=False)
    import_lists(source, tmp_path / "lists", lotl_signer=str(pki.lotl_signer_path))
    policy = Policy.load(trust_lists=tmp_path / "lists")
    report = decide(signed_form(timestamp=True), policy)
    assert report.codes == ["not_qualified"], report.to_json()["reasons"]
    assert "time-stamping" in report.reasons[0].message
    assert decide(signed_form(), policy).verdict == "accepted"  # no timestamp, no time proof needed


def test_etsi_report_carries_indication_and_qualification(signed_form, trust_policy):
    report = decide(signed_form(), trust_policy)
    root = etree.fromstring(report.etsi_report.encode())
    ns = {"vr": "http://uri.etsi.org/19102/v1.2.1#"}
    status = root.find(".//vr:SignatureValidationStatus/vr:MainIndication", ns)
    assert status.text == "urn:etsi:019102:mainindication:total-passed"
    quality = root.find(".//vr:SignatureQuality/vr:SignatureQualityInformation", ns)
    assert quality.text == "urn:cef:dss:signatureQualification:QESig"
    rejected = decide(signed_form(variant="not_qualified"), trust_policy)
    assert "urn:cef:dss:signatureQualification:AdESig" in rejected.etsi_report
    assert decide(b"%PDF-1.7\n not a pdf", trust_policy).etsi_report is None


def test_every_ades_subindication_maps_onto_a_reason_code():
    from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed

    from verify.signature import code_for

    assert code_for(AdESPassed.OK) is None
    for sub in [*AdESFailure, *AdESIndeterminate]:
        assert code_for(sub) in CODES and code_for(sub) != "internal_error"
    assert code_for(object()) == "signature_invalid"  # anything unknown fails closed


# -- the trusted lists --------------------------------------------------------------------------


def test_import_status_and_country_limits(pki, signed_form, tmp_path):
    from verify.trust import import_lists, snapshot_meta

    source = pki.publish_trust_lists(tmp_path / "src", sequence=7)
    lists = import_lists(source, tmp_path / "lists", lotl_signer=str(pki.lotl_signer_path))
    assert [i.territory for i in lists.lists] == ["LV"] and lists.lists[0].sequence == 7
    lotl, national = snapshot_meta(tmp_path / "lists")
    assert lotl.sequence == 7 and national[0].next_update > dt.datetime.now(UTC)
    # only Estonian lists trusted: the LV list is not read, the demo signer is untrusted
    with pytest.raises(Exception):
        import_lists(source, tmp_path / "ee-only", lotl_signer=str(pki.lotl_signer_path), countries=("EE",))
    policy = Policy.load(trust_lists=tmp_path / "lists", countries=("EE",))
    assert decide(signed_form(), policy).codes[0] == "untrusted_signer"


def test_a_changed_list_or_another_lotl_signer_is_not_trusted(pki, signed_form, tmp_path):
    from verify.trust import TrustError, import_lists

    source = pki.publish_trust_lists(tmp_path / "src")
    # the EU's pinned LOTL signers do not sign the test LOTL
    with pytest.raises(TrustError):
        import_lists(source, tmp_path / "eu", lotl_signer=None)
    lists_dir = tmp_path / "lists"
    import_lists(source, lists_dir, lotl_signer=str(pki.lotl_signer_path))
    tl = lists_dir / "lists" / "LV.xml"
    text = tl.read_text()
    assert "docintake Demo TSA" in text
    tl.write_text(text.replace("docintake Demo TSA", "docintake Demo TSQ"))
    import os

    os.utime(lists_dir / "snapshot.json", ns=(1, 1))  # a new time stamp: re-read, re-verified
    policy = Policy.load(trust_lists=lists_dir)
    assert policy.trusted_lists.errors and not policy.trusted_lists.lists
    assert decide(signed_form(), policy).codes[0] == "untrusted_signer"


def test_a_list_past_its_next_update_is_stale_but_still_used(pki, signed_form, tmp_path):
    from verify.trust import import_lists

    issued = dt.datetime.now(UTC) - dt.timedelta(days=200)
    source = pki.publish_trust_lists(tmp_path / "src", issued=issued, next_update=issued + dt.timedelta(days=180))
    lists = import_lists(source, tmp_path / "lists", lotl_signer=str(pki.lotl_signer_path))
    assert {i.territory for i in lists.stale()} == {"EU", "LV"}
    assert decide(signed_form(), Policy.load(trust_lists=tmp_path / "lists")).verdict == "accepted"


def test_missing_snapshot_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError):
        Policy.load(trust_lists=tmp_path)


def test_judge_certificate_entry_point(pki, person_for, trust_policy):
    """The entry point other signature formats (ASiC-E, issue 11) use for the signer certificate."""
    from verify.signature import judge_certificate

    good = person_for()
    chain = good.asn1_chain[1:]
    j = judge_certificate(good.asn1_cert, trust_policy, other_certs=chain)
    assert (j.indication, j.subindication, j.reasons, j.qualified, j.trust_source) == (
        "PASSED", "OK", (), True, "trusted_list")
    j = judge_certificate(person_for(variant="not_qualified").asn1_cert, trust_policy, other_certs=chain)
    assert [r.code for r in j.reasons] == ["not_qualified"] and j.qualified is False
    j = judge_certificate(person_for(variant="untrusted").asn1_cert, trust_policy,
                          other_certs=person_for(variant="untrusted").asn1_chain[1:])
    assert [r.code for r in j.reasons] == ["untrusted_signer"] and j.indication == "INDETERMINATE"
    expired = person_for(variant="expired")
    assert [r.code for r in judge_certificate(expired.asn1_cert, trust_policy, other_certs=chain).reasons] == [
        "certificate_expired"]
    when = dt.datetime(2020, 6, 1, tzinfo=UTC)
    assert judge_certificate(expired.asn1_cert, trust_policy, other_certs=chain, proof_of_existence=when).reasons == ()
    revoked = person_for(variant="revoked")
    j = judge_certificate(revoked.asn1_cert, trust_policy, other_certs=chain, crls=[pki.crl([revoked])])
    assert "certificate_revoked" in [r.code for r in j.reasons]
