"""``docintake bench --baseline``: the same forms decided by two checkouts, each in its own process."""

from __future__ import annotations

from pathlib import Path

from worker.bench.command import TARGETS, bench_baseline, render_table
from worker.bench.corpus import Corpus


class _Bar:
    n = 0

    def update(self, k: int) -> None:
        self.n += k


def test_baseline_decides_every_form_in_both_checkouts(tmp_path):
    corpus = Corpus(tmp_path / "corpus")
    forms = list(corpus.forms(3))
    here = Path(__file__).resolve().parent.parent  # this checkout against itself
    bar = _Bar()
    res = bench_baseline(corpus, forms, here, tmp_path / "work", bar)
    assert bar.n == 3
    for side in ("head", "baseline"):
        assert res[side]["accepted"] == 3 and res[side]["trust"] == "trust_lists"
        assert res[side]["decision"]["n"] == res[side]["decision_cpu"]["n"] == 3
    assert res["decision_vs_baseline_ratio"] == round(
        res["head"]["decision"]["median_ms"] / res["baseline"]["decision"]["median_ms"], 3)
    assert res["decision_vs_baseline_cpu_ratio"] > 0
    assert TARGETS["decision_vs_baseline_ratio"] == ("<=", 1.3)
    table = render_table({"baseline": res, "decision_vs_baseline_ratio": res["decision_vs_baseline_ratio"]})
    assert "decision / " in table and "CPU time medians" in table
