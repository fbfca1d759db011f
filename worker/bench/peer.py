"""A decision process the benchmark drives line by line, for comparing two checkouts of docintake.

Run as a script (``python worker/bench/peer.py ...``) with ``PYTHONPATH`` pointing at the checkout
to measure: it imports ``verify`` from there and uses only what every version has
(``verify.policy.Policy.load`` and ``verify.decision.decide``), so the same script serves an old
commit and this one. Each trusts what it ships with: the demo's trusted lists when its
``Policy.load`` takes ``trust_lists``, else the demo's root as an explicit trust root.

    python worker/bench/peer.py --roots PEM --lists DIR FILE...

It decides the first three files (warm-up) and prints ``{"ready": true, "trust": ...}``; then, for
every index ``i`` read from standard input, it decides ``FILE[i]`` and prints one JSON line: wall
and CPU seconds, accepted, reason codes.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roots", required=True)
    parser.add_argument("--lists", required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # one line per decision would cost time of its own

    from verify.decision import decide
    from verify.policy import Policy

    if "trust_lists" in inspect.signature(Policy.load).parameters:
        policy, trust = Policy.load(trust_lists=args.lists), "trust_lists"
    else:
        policy, trust = Policy.load(trust_roots=[args.roots]), "trust_roots"
    documents = []
    for path in args.files:
        with open(path, "rb") as f:
            documents.append(f.read())
    for data in documents[:3]:
        decide(data, policy)
    print(json.dumps({"ready": True, "trust": trust}), flush=True)
    clock, cpu = time.perf_counter, time.process_time
    for line in sys.stdin:
        i = int(line)
        t, c = clock(), cpu()
        report = decide(documents[i], policy)
        wall, used = clock() - t, cpu() - c
        print(json.dumps({"wall": wall, "cpu": used, "accepted": report.accepted, "codes": list(report.codes)}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
