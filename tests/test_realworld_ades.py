"""``verify --signature-only`` on the Baltic PAdES corpus with ../shared/realworld/trust/ as trust.

Trust: the Estonian test trusted list (libdigidocpp's TSL.xml pointing at EE_T.xml, the LOTL
signer pinned from TSL.crt) imported like a bank imports the EU lists, plus the test CA
certificates of the folder as explicit roots. Each row keeps what the file's source project
expects (pades/baltic/SOURCES.md, ../shared/realworld/SOURCES.md for pades/siva-ee-lt/) next to
what docintake decides, and why they differ where they do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.realworld import REALWORLD, TRUST
from verify.decision import decide
from verify.policy import Policy

# file: (source expectation, verdict, main reason or None, level, qualified, why it differs / note)
TABLE = {
    "baltic/sivatest__TEST_ESTEID2018_PAdES_B_enveloped.pdf":
        ("PAdES_BASELINE_B, no indication asserted", "accepted", None, "B-B", True, "QES on the EE test list"),
    "baltic/sivatest__TEST_ESTEID2018_PAdES_T_enveloped.pdf":
        ("PAdES_BASELINE_T, timestamp 2024-09-13T14:18:58Z", "accepted", None, "B-T", True, ""),
    "baltic/sivatest__TEST_ESTEID2018_PAdES_LTA_enveloped.pdf":
        ("PAdES_BASELINE_LTA, PASSED", "accepted", None, "B-LTA", True,
         "its invisible document timestamp is an LTA update (verify/revisions.py)"),
    "baltic/sivatest__reason_and_location_Test.pdf":
        ("TOTAL-PASSED, PAdES_BASELINE_LT, QESIG", "accepted", None, "B-LT", True, ""),
    "siva-ee-lt/TEST_ESTEID2018_PAdES_LT_enveloped.pdf":
        ("valid (certificates present)", "accepted", None, "B-LT", True,
         "OCSP by a delegated responder, issued after the timestamp: past-signature validation"),
    "siva-ee-lt/Signature-P-EE_AS-1.pdf":
        ("FAIL", "rejected", "certificate_expired", "B-B", None,
         "2014 plugtest chain: expired, untrusted (not on the list), SHA-1, no nonRepudiation"),
    "siva-ee-lt/Signature-P-LT_MIT-1.pdf":
        ("TOTAL-PASSED (EU plugtest trust)", "rejected", "certificate_expired", "B-B", None,
         "the Lithuanian plugtest trust of 2014 is not in ../shared/realworld/trust"),
    "siva-ee-lt/Signature-P-LT_MIT-2.pdf":
        ("TOTAL-PASSED (EU plugtest trust)", "rejected", "certificate_expired", "B-LT", None,
         "idem (its TSA is not trusted either, so nothing proves a time before expiry); SHA-1 too"),
    "siva-ee-lt/hellopades-lt-sha256-ec256.pdf":
        ("PASS", "rejected", "certificate_expired", "B-LT", False,
         "its document timestamp typed /Sig is read as one; but its TSA is not in trust/ (no proof of "
         "time before the certificate expired), and its CA is SHA-1 signed (weak_digests)"),
    "siva-ee-lt/hellopades-lt-sha256-rsa2048-expired.pdf":
        ("FAIL", "rejected", "certificate_expired", "B-LT", False, "expired"),
    "siva-ee-lt/hellopades-lt-sha256-rsa2048-ocsp-before-ts.pdf":
        ("FAIL (OCSP before TS)", "rejected", "certificate_expired", "B-LT", False, ""),
    "siva-ee-lt/hellopades-lt1-lt2-Serial.pdf":
        ("PASS (serial signatures)", "rejected", "modified_after_signing", "B-LT", False,
         "FORM.md: nothing but validation data and document timestamps may follow the signature"),
    "siva-ee-lt/hellopades-lt1-lt2-wrongDigestValue.pdf":
        ("FAIL (message digest)", "rejected", "modified_after_signing", "B-LT", False, ""),
    "siva-ee-lt/soft-cert-signature.pdf":
        ("AdES valid, INVALID as QES", "rejected", "certificate_expired", "B-LT", None,
         "its CA (EJBCA sample) is not in ../shared/realworld/trust, and it has expired since"),
}


def test_the_table_covers_both_folders():
    on_disk = {f"{p.parent.name}/{p.name}" for folder in ("baltic", "siva-ee-lt")
               for p in (REALWORLD / "pades" / folder).glob("*.pdf")}
    assert on_disk == set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_signature_only_verdicts(realworld_policy, name):
    _expected, verdict, main, level, qualified, _why = TABLE[name]
    report = decide((REALWORLD / "pades" / name).read_bytes(), realworld_policy, signature_only=True)
    got = (report.verdict, report.main_reason.code if report.main_reason else None, report.level, report.qualified)
    assert got == (verdict, main, level, qualified), report.to_json()["reasons"]
    assert report.fields == {}
    if verdict == "accepted":
        assert (report.indication, report.subindication, report.trust_source) == ("PASSED", "OK", "trusted_list")
        assert report.etsi_report and "QESig" in report.etsi_report


def test_the_t_file_carries_sivas_timestamp(realworld_policy):
    data = (REALWORLD / "pades/baltic/sivatest__TEST_ESTEID2018_PAdES_T_enveloped.pdf").read_bytes()
    report = decide(data, realworld_policy, signature_only=True)
    assert report.to_json()["timestamp_time"] == "2024-09-13T14:18:58+00:00"


def test_the_withdrawn_ca_list_removes_the_qualification(tmp_path):
    """libdigidocpp's negative list: the CA service withdrawn -> not trusted through the list."""
    from verify.trust import import_lists

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "TSL.xml").write_bytes((TRUST / "libdigidocpp__TSL.xml").read_bytes())
    (mirror / "EE_T.xml").write_bytes((TRUST / "libdigidocpp__EE_T-CA-withdrawn.xml").read_bytes())
    lists = import_lists(mirror, tmp_path / "lists", lotl_signer=str(TRUST / "libdigidocpp__TSL.crt"),
                         countries=("EE",))
    assert [i.territory for i in lists.lists] == ["EE_T"]  # it verifies, as the source expects
    data = (REALWORLD / "pades/siva-ee-lt/TEST_ESTEID2018_PAdES_LT_enveloped.pdf").read_bytes()
    report = decide(data, Policy.load(trust_lists=tmp_path / "lists", countries=("EE",)), signature_only=True)
    assert report.verdict == "accepted"  # the withdrawal (2016) concerns another CA service, not TEST of ESTEID2018
