"""Third-party signed PDFs and attack samples (see ../shared/realworld/SOURCES.md).

None of them is our form, so none may ever be accepted: not without trust roots, not with
pyHanko's testing CA as trust roots, not even at 2020-11-01 when that CA's certificates were
valid. Each must end in a verdict with reasons from the vocabulary, within the time limit,
both through decide() and through ``docintake verify --json``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fixtures.realworld import REALWORLD
from verify.cli import verify_command
from verify.decision import decide
from verify.policy import Policy
from verify.reasons import CODES

CERTS = REALWORLD / "certs"
FILES = sorted(
    p for folder in ("pades", "attacks") for p in (REALWORLD / folder).rglob("*") if p.is_file()
)
IDS = [str(p.relative_to(REALWORLD)) for p in FILES]
LIMIT = 30.0
PYHANKO_TEST_TIME = dt.datetime(2020, 11, 1, tzinfo=dt.timezone.utc)


def test_the_corpus_is_there():
    assert len(FILES) >= 90, "the real-world corpus is missing; see ../shared/realworld/SOURCES.md"


@pytest.fixture(scope="module")
def testing_ca_policy() -> Policy:
    # pyHanko's testing CA is an explicit root, never qualified: judged without the QES requirement,
    # as a bank testing with its own CA would (not_qualified would otherwise rank before the form)
    return Policy.load([CERTS], timeout=LIMIT, require_qualified=False)


def _check(report, budget: float = LIMIT) -> None:
    js = report.to_json()
    assert js["verdict"] == "rejected", js
    assert js["reasons"], js
    assert all(r["code"] in CODES for r in js["reasons"]), js["reasons"]
    assert report.elapsed < budget + 2.0


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_decide_never_accepts(path: Path, testing_ca_policy: Policy):
    data = path.read_bytes()
    _check(decide(data, Policy(timeout=LIMIT)))
    _check(decide(data, testing_ca_policy))
    _check(decide(data, testing_ca_policy, now=PYHANKO_TEST_TIME))


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_cli_json_never_accepts(path: Path):
    result = CliRunner().invoke(
        verify_command, ["--json", str(path), "--trust-roots", str(CERTS)], env={"DOCINTAKE_TRUST_ROOTS": ""}
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "rejected"
    assert report["reasons"] and all(r["code"] in CODES for r in report["reasons"])


SAMPLES = [
    "pades/pyhanko/pades-lta-dss-indirect-arrs-test.pdf",
    "pades/dss/pades-signed-filled-form.pdf",
    "pades/dss/encrypted.pdf",
    "attacks/itext-pdfinsecurity/isa-3.pdf",
    "pades/dss/pades_infinite_loop.pdf",
]


@pytest.mark.parametrize("name", SAMPLES)
def test_cli_subprocess(name: str):
    proc = subprocess.run(
        [sys.executable, "-m", "intake.cli", "verify", "--json", str(REALWORLD / name), "--trust-roots", str(CERTS)],
        capture_output=True,
        text=True,
        timeout=LIMIT + 30,
        cwd="/work/main",
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"] == "rejected" and report["reasons"]
    assert all(r["code"] in CODES for r in report["reasons"])


def test_some_files_are_rejected_only_for_not_being_our_form(testing_ca_policy: Policy):
    """With the testing CA trusted at its own time, pyHanko's clean samples pass every
    signature check: the form check is what stops them."""
    main_reasons = {}
    for path in FILES:
        if "pyhanko" in path.parts:
            report = decide(path.read_bytes(), testing_ca_policy, now=PYHANKO_TEST_TIME)
            main_reasons[path.name] = report.reasons[0].code
    assert "unknown_form" in main_reasons.values(), main_reasons
