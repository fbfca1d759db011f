"""Child processes of the benchmark, so that memory is measured in a process of its own.

``python -m worker.bench.child growth TRUST_ROOT N CHECKPOINTS FILE...``
    decides the files round-robin N times in this one process (the worker's decision path,
    :func:`worker.decide.decide_document`) and prints a JSON line with the resident set
    size (VmRSS) after each checkpoint, e.g. ``10,100,1000``.
``python -m worker.bench.child decide TRUST_ROOT FILE``
    decides one file and prints its verdict, seconds and peak RSS (ru_maxrss).
``python -m worker.bench.child measure OUT -- ARGV...``
    runs ARGV as a child of this small process and writes its exit code and peak RSS (of it and
    the children it reaped, e.g. RQ's work horses) as JSON to OUT. Launched from the big
    benchmark process directly, a child's ru_maxrss would start at the parent's size: Linux
    carries the pre-exec high-water mark over ``exec``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def rss_mb() -> float:
    """Current resident set size of this process, MiB (from /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(trust_lists: str):
    from intake.config import Settings

    return Settings(trust_lists=Path(trust_lists), secret_key="bench")


def growth(trust_lists: str, n: int, checkpoints: list[int], files: list[str]) -> dict:
    from worker.decide import decide_document

    settings = _settings(trust_lists)
    docs = [Path(f).read_bytes() for f in files]
    marks = set(checkpoints)
    out = {"rss_mb": {}, "accepted": 0, "decisions": n, "start_rss_mb": round(rss_mb(), 1)}
    started = time.monotonic()
    for i in range(1, n + 1):
        decision = decide_document(docs[i % len(docs)], settings)
        out["accepted"] += bool(decision.accepted)
        if i in marks:
            out["rss_mb"][str(i)] = round(rss_mb(), 1)
            print(json.dumps({"progress": i}), flush=True)
    out["seconds"] = round(time.monotonic() - started, 2)
    out["peak_rss_mb"] = round(peak_mb(), 1)
    return out


def decide_one(trust_lists: str, file: str) -> dict:
    from worker.decide import decide_document

    settings = _settings(trust_lists)
    data = Path(file).read_bytes()
    started = time.monotonic()
    decision = decide_document(data, settings)
    return {"accepted": decision.accepted, "reasons": [r.get("code") for r in decision.reasons],
            "seconds": round(time.monotonic() - started, 3), "bytes": len(data),
            "peak_rss_mb": round(peak_mb(), 1)}


def measure(out: str, argv: list[str]) -> int:
    import os
    import subprocess

    proc = subprocess.Popen(argv)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    Path(out).write_text(json.dumps({"code": code, "maxrss_mb": round(usage.ru_maxrss / 1024, 1),
                                     "launcher_rss_mb": round(peak_mb(), 1)}))
    return code


def main(argv: list[str]) -> int:
    cmd = argv[0]
    if cmd == "measure":
        return measure(argv[1], argv[3:] if argv[2] == "--" else argv[2:])
    if cmd == "growth":
        result = growth(argv[1], int(argv[2]), [int(x) for x in argv[3].split(",")], argv[4:])
    elif cmd == "decide":
        result = decide_one(argv[1], argv[2])
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    print(json.dumps({"result": result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
