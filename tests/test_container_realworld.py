"""The 23 real ASiC-E / BDOC / EDOC / ADOC files of ../shared/realworld/asic/ (issue 11).

Each is judged with ``docintake verify --signature-only --min-level B-LT`` (the Estonian services
require LT) and ../shared/realworld/trust/ as the trust source (tests/fixtures/realworld.py). The table keeps what the
source project expects (SOURCES.md) next to what docintake answers; where they differ, the
``why`` column says why (README, "Signed containers", has the same table).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fixtures.realworld import REALWORLD, TRUST
from verify.cli import verify_command

ASIC = REALWORLD / "asic"

OK, NO = "accepted", "rejected"
#: file -> (source expects, our verdict, our reason codes, why they differ or "")
TABLE: dict[str, tuple[str, str, set[str], str]] = {
    "sivatest__TEST_ESTEID2018_ASiC-E_XAdES_LT.sce": ("VALID", OK, set(), ""),
    "sivatest__TEST_ESTEID2018_ASiC-E_XAdES_LTA.sce": ("VALID LTA", OK, set(), ""),
    "sigatests__TEST_ESTEID2025_ASiC-E_XAdES_LT+LTA.asice": ("VALID", OK, set(), ""),
    "sivatest__validSidSignatureWithCertWithoutPnoInCn.asice": ("VALID, both signatures", OK, set(), ""),
    "sigatests__LT_sig_and_LT_seal.asice": (
        "signature valid (and seal)", NO, {"not_qualified"},
        "both are valid AdES (the person's is a QES); the company seal is a qualified e-seal, not a "
        "qualified e-signature, and the bank requires QES of every signature in a container"),
    "digidoc4j__latvian_LT_signature_with_7min_difference_between_TS_and_OCSP.asice": (
        "VALID", NO, {"not_qualified"},
        "valid B-LT (the OCSP 7 min after the timestamp proves non-revocation); trust/ has no Latvian "
        "test list, so its CA is an explicit root and QES cannot be assessed: accepted with "
        "--no-require-qualified"),
    "sivatest__24050_short_ecdsa_correct_file_mimetype.bdoc": (
        "VALID (LT_TM)", NO, {"signature_invalid", "weak_algorithm"},
        "BDOC time-mark (no timestamp) is below B-LT here, the 2014 certificate has expired, and its CA "
        "certificate is signed with SHA-1, which the bank's policy refuses"),
    "pyasice__signed-test-mobileid-ee.asice": (
        "OCSP and TS verify (no full validation)", NO, {"signature_invalid", "untrusted_signer"},
        "SignatureMethod says rsa-sha256 but the key is ECDSA; TEST of ESTEID-SK 2015's root is not in trust/"),
    "digidoc4j__signature-level-T.asice": ("not LT: INDETERMINATE", NO, {"signature_invalid"}, ""),
    "libdigidocpp__tsl.asice": (
        "depends on the TSL (withdrawn CA: invalid)", NO, {"weak_algorithm"},
        "refused before any TSL: the TEST of ESTEID-SK 2011 chain is signed with SHA-1"),
    "digidoc4j__invalid-data-file.bdoc": ("INVALID (data file changed)", NO, {"container_invalid"},
                                          "the ZIP is refused first: its mimetype entry is not first"),
    "digidoc4j__one-valid-and-multiple-invalid-signatures.asice": (
        "INVALID; only signatures0 (and 7, a warning) valid", NO,
        {"container_invalid", "signature_invalid", "untrusted_signer"}, ""),
    "digidoc4j__signature_does_not_cover_datafile.asice": ("INVALID", NO, {"container_invalid", "signature_invalid"}, ""),
    "digidoc4j__KS-18_lisatudfail.4.asice": ("INVALID (extra file)", NO, {"container_invalid"}, ""),
    "digidoc4j__KS-18_lisatudfilemanifest.4.asice": (
        "INVALID (extra file in manifest)", NO,
        {"container_invalid", "signature_invalid", "weak_algorithm"}, ""),
    "digidoc4j__zip_misses_file_which_is_in_manifest.asice": ("INVALID (file missing)", NO, {"container_invalid"}, ""),
    "digidoc4j__filename_mismatch_second_signature.asice": ("INVALID (S1 covers part)", NO, {"container_invalid"},
                                                            "the ZIP is refused first: its mimetype entry is not first"),
    "libdigidocpp__forged_lt.asice": ("INVALID (key substitution)", NO, {"signature_invalid"}, ""),
    "digidoc4j__TS-02_23634_TS_wrong_SignatureValue.asice": (
        "INVALID (timestamp imprint)", NO, {"signature_invalid", "weak_algorithm"}, ""),
    "edockit__test-environment-sig-sample.edoc": (
        "crypto VALID, trust INDETERMINATE", NO, {"untrusted_signer", "signature_invalid"}, ""),
    "edockit__terms_of_use_of_private_credit_cards_25052018_RUS.edoc": (
        "VALID via the LV trusted list", NO, {"untrusted_signer", "signature_invalid"},
        "trust/ holds no eParaksts (production) root: needs the EU trusted lists (issue 10)"),
    "edockit__terms_of_Account_Agreement_28062025_ENG.asice": (
        "VALID via the LV trusted list", NO, {"untrusted_signer", "signature_invalid"},
        "trust/ holds no eParaksts / SK production root: needs the EU trusted lists (issue 10)"),
    "dss__container-signed.adoc": ("VALID with warnings (DSS's own test root)", NO, {"container_invalid"},
                                   "an ADOC-2008 (not ASiC-E) container; its trust anchor is not in trust/ either"),
}


def test_the_table_covers_every_file():
    files = {p.name for p in ASIC.iterdir() if p.name != "SOURCES.md"}
    assert files == set(TABLE) and len(files) == 23


@pytest.fixture(scope="module")
def verify(realworld_trust_lists):
    """``docintake verify --signature-only --min-level B-LT`` with the real-world trust source."""

    def run(name: str) -> tuple[int, dict]:
        result = CliRunner().invoke(verify_command, [
            str(ASIC / name), "--signature-only", "--json", "--min-level", "B-LT",
            "--trust-lists", str(realworld_trust_lists), "--country", "EE", "--trust-roots", str(TRUST)])
        return result.exit_code, json.loads(result.stdout)

    return run


@pytest.mark.parametrize("name", sorted(TABLE))
def test_real_container(verify, name: str):
    _expected, verdict, codes, _why = TABLE[name]
    status, report = verify(name)
    assert report["verdict"] == verdict and status == (0 if verdict == OK else 1)
    assert {r["code"] for r in report["reasons"]} == codes, report["reasons"]
    assert report["container"]["format"] == "ASiC-E"


def test_per_signature_results_match_digidoc4j(verify):
    _, report = verify("digidoc4j__one-valid-and-multiple-invalid-signatures.asice")
    valid = {s["file"]: s["valid"] for s in report["container"]["signatures"]}
    assert [f for f, ok in sorted(valid.items()) if ok] == ["META-INF/signatures0.xml", "META-INF/signatures7.xml"]
    assert len(valid) == 9


def test_forged_chain_keeps_the_real_signer(verify):
    _, report = verify("libdigidocpp__forged_lt.asice")
    assert report["signer"]["name"] == "MÖLDER,HUGO MARTIN,38910239121"
    assert any("does not verify" in r["message"] for r in report["reasons"])


def test_test_environment_edoc_is_crypto_valid_but_untrusted(verify):
    _, report = verify("edockit__test-environment-sig-sample.edoc")
    messages = " ".join(r["message"] for r in report["reasons"])
    assert "does not match" not in messages and "does not verify" not in messages
    assert "not from a trusted TSA" in messages
    assert report["container"]["data_files"] == ["Sample File.pdf"]
    assert len(report["container"]["signatures"]) == 2


def test_lta_archive_timestamp_is_verified(verify):
    _, report = verify("sivatest__TEST_ESTEID2018_ASiC-E_XAdES_LTA.sce")
    assert report["level"] == "B-LTA"


def test_latvian_lt_signature_is_valid_once_qualification_is_not_required(realworld_trust_lists):
    """Issue 10's case: the OCSP response is 7 minutes newer than the signature timestamp."""
    result = CliRunner().invoke(verify_command, [
        str(ASIC / "digidoc4j__latvian_LT_signature_with_7min_difference_between_TS_and_OCSP.asice"),
        "--signature-only", "--json", "--min-level", "B-LT", "--no-require-qualified", "--trust-roots", str(TRUST)])
    report = json.loads(result.stdout)
    assert (result.exit_code, report["verdict"], report["level"]) == (0, "accepted", "B-LT"), report["reasons"]
