"""Replays every input kept under ``tests/regressions/``: crashers the fuzzers found.

Each ``NAME.pdf`` / ``NAME.eml`` may have a ``NAME.pdf.json`` beside it: ``why`` it was kept and
optional expectations (``expect_pdfs``: how many PDFs parse_mail must find; ``verdict``;
``main_reason``). PDFs made from a form signed by a kept demo PKI are judged with its root,
``demo-root.pem``, trusted as well (the fuzz session's own root is trusted too).
A kept PDF is a mutated form, so besides the fuzz properties it must not be accepted
(unless its ``.json`` says ``"verdict": "accepted"``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_fuzz import bases, check_decision, check_mail, policy, verdict_of  # noqa: F401 - fixtures

REGRESSIONS = Path(__file__).with_name("regressions")
DEMO_ROOT = REGRESSIONS / "demo-root.pem"
FILES = sorted(p for p in REGRESSIONS.glob("*") if p.suffix in (".pdf", ".eml"))


def expectations(path: Path) -> dict:
    meta = path.with_name(path.name + ".json")
    return json.loads(meta.read_text()) if meta.exists() else {}


def test_regressions_are_kept():
    assert FILES, f"no regression inputs under {REGRESSIONS}"


@pytest.mark.parametrize("path", [p for p in FILES if p.suffix == ".eml"], ids=lambda p: p.name)
def test_mail_regression(path):
    expect = expectations(path)
    parsed = check_mail(path.read_bytes(), expect.get("max_part_bytes", 25 * 1024 * 1024))
    if "expect_pdfs" in expect:
        assert len(parsed.pdfs) == expect["expect_pdfs"], (expect.get("why"), parsed.pdfs, parsed.defects)


@pytest.mark.parametrize("path", [p for p in FILES if p.suffix == ".pdf"] or [None],
                         ids=lambda p: p.name if p else "none")
def test_pdf_regression(path, request):
    if path is None:  # none kept yet (no empty parameter set: that would be reported as a skip)
        return
    from verify.policy import Policy

    base = request.getfixturevalue("policy")
    policy = Policy(trust_roots=base.trust_roots + tuple(Policy.load(trust_roots=[DEMO_ROOT]).trust_roots),
                    max_bytes=base.max_bytes, timeout=base.timeout)
    expect = expectations(path)
    out = check_decision(path.read_bytes(), policy)
    assert verdict_of(out) == expect.get("verdict", "rejected"), (expect.get("why"), out)
    if "main_reason" in expect:
        assert out["reasons"][0]["code"] == expect["main_reason"], (expect.get("why"), out["reasons"])
