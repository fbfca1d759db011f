"""Issue 12, "bounded whatever the input": the structural limits and the memory ceiling.

The expensive inputs come from ``worker.bench.adversarial`` (the bench's memory stage measures
all of them); here each is decided in a process of its own, so its peak RSS is its own.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.test_verify_decision import rejected_for
from verify.decision import decide
from verify.limits import count_raw
from verify.policy import Policy, PolicyError

PEAK_MB = 300


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from worker.bench.corpus import Corpus

    return Corpus(tmp_path_factory.mktemp("adversarial"))


def decide_in_child(corpus, path) -> dict:
    """Through the bench's measuring launcher: a child exec'd from this (big) process would
    inherit its high-water mark (see worker.bench.child)."""
    from worker.bench.command import run_measured

    code, peak, stdout, stderr = run_measured(
        [sys.executable, "-m", "worker.bench.child", "decide", str(corpus.trust_lists), str(path)], timeout=120)
    assert code == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])["result"]
    result["process_peak_rss_mb"] = peak
    return result


@pytest.mark.parametrize("name, reason", [
    ("fallback_objstm", "malformed_pdf"),  # was 2.1 GB: pdfminer's fallback decoded an unreferenced 1 GiB
    ("huge_xref", "too_large"),  # was 510 MB: 900,000 xref entries
    ("direct_fields", "too_large"),  # was accepted: 100,000 extra fields
])
def test_adversarial_inputs_refused_under_the_memory_bound(corpus, tmp_path, name, reason):
    from worker.bench.adversarial import ADVERSARIAL

    path = tmp_path / f"{name}.pdf"
    path.write_bytes(ADVERSARIAL[name](corpus))
    result = decide_in_child(corpus, path)
    assert result["accepted"] is False and result["reasons"][0] == reason, result
    assert result["process_peak_rss_mb"] < PEAK_MB, result


def test_counts_of_the_bank_form_are_far_below_the_limits(signed_form):
    counts = count_raw(signed_form())
    policy = Policy()
    assert counts.objects < policy.max_objects / 20
    assert counts.xref_entries < policy.max_xref_entries / 20
    assert counts.revisions == 2
    assert 20 < counts.fields < policy.max_fields / 10


@pytest.mark.parametrize("limit, value", [
    ("max_objects", 50), ("max_xref_entries", 50), ("max_revisions", 1), ("max_fields", 10),
])
def test_each_structural_limit_refuses(signed_form, trust_policy, limit, value):
    import dataclasses

    tight = dataclasses.replace(trust_policy, **{limit: value})
    rejected_for(decide(signed_form(), tight), "too_large")
    assert decide(signed_form(), trust_policy).verdict == "accepted"


def test_memory_ceiling_turns_an_allocation_into_too_large(signed_form, trust_policy, monkeypatch):
    import dataclasses

    import forms.extract

    real = forms.extract.extract_fields

    def greedy(pdf):
        ballast = bytearray(200 * 1024 * 1024)  # beyond a 64 MB ceiling
        return real(pdf), ballast

    monkeypatch.setattr(forms.extract, "extract_fields", greedy)
    report = decide(signed_form(), dataclasses.replace(trust_policy, max_memory_mb=64))
    rejected_for(report, "too_large")
    assert "memory" in report.reasons[0].message


def test_memory_ceiling_is_lifted_after_the_decision(signed_form, trust_policy):
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    decide(signed_form(), trust_policy)
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    bytearray(400 * 1024 * 1024)  # the process may grow again


def test_policy_limits_must_be_positive():
    with pytest.raises(PolicyError):
        Policy(max_objects=0)
    with pytest.raises(PolicyError):
        Policy(max_memory_mb=-1)
    assert Policy(max_memory_mb=0).max_memory_mb == 0
