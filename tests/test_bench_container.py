"""``docintake bench``'s container stage: the same forms decided as PAdES and as ASiC-E containers."""

from __future__ import annotations

from verify.policy import Policy
from worker.bench.command import TARGETS, bench_container
from worker.bench.corpus import Corpus


class _Bar:
    n = 0

    def update(self, k: int) -> None:
        self.n += k


def test_bench_container_decides_every_container(tmp_path):
    corpus = Corpus(tmp_path / "corpus")
    forms = list(corpus.forms(4))
    bar = _Bar()
    res = bench_container(corpus, forms, Policy.load(trust_lists=corpus.trust_lists), bar)
    assert res["accepted"] == res["forms"] == 4 and bar.n == 4
    assert res["pades"]["n"] == res["container"]["n"] == 4
    assert res["container_vs_pades_ratio"] == round(res["container"]["median_ms"] / res["pades"]["median_ms"], 3)
    assert TARGETS["container_vs_pades_ratio"] == ("<=", 1.5)
