"""``docintake bench``: what one decision costs, what the pipeline carries, how much memory it takes.

A benchmark, not a test: it makes its own signed forms with :mod:`verify.demo_pki` in a
temporary directory, runs, prints a table and (``--json``) writes every figure.

1. Decision cost per form (median, p95) next to the raw floor measured in the same run on the
   same files: pyHanko's validation of the signature (``PdfFileReader`` +
   ``validate_pdf_signature`` with the same trust and validation-context settings as the
   decision) plus pdfplumber's reading of the fields (``forms.extract.extract_fields``), nothing
   else. Runs are interleaved (raw, decision, decision, raw, ...) so that drift cancels.
   ``decision_vs_raw_ratio`` = median decision / median raw (target <= 1.1).
   The same filled forms signed into ASiC-E containers (XAdES B-B, the same signer, like the
   PAdES B-B forms) are decided interleaved with their PAdES twins:
   ``container_vs_pades_ratio`` = median container decision / median PAdES decision (<= 1.5).
   With ``--baseline TREE`` (a checkout of an older commit, e.g. ``git worktree add ../base50
   50291fd``), the same forms are decided by this checkout and by that one, each in its own
   process (``worker/bench/peer.py`` with ``PYTHONPATH`` at the tree), alternately:
   ``decision_vs_baseline_ratio`` = median decision here / median decision there (wall and CPU
   time; target <= 1.3 against 50291fd, issue 9).
2. End-to-end throughput, mail to profile, through the real pipeline (``docintake poll`` and
   ``docintake worker --burst`` processes) over a matrix of mailbox (Maildir, IMAP on a private
   dovecot), database (SQLite, PostgreSQL) and Redis (embedded, server), with 1 and 2 workers,
   next to the in-process decision throughput. ``pipeline_vs_inprocess_ratio`` = best 1-worker
   pipeline / in-process (target >= 0.8); ``two_vs_one_worker_ratio`` on the same
   configuration (target >= 1.7 on 2 cores).
3. Latency from a mail landing to its profile updated (median, p95) at a steady load below
   capacity, with ``docintake poll`` looping and two workers running.
4. Peak resident memory of a worker deciding a 20 MB, 50-page signed form and of the poller on
   a mail with ten of them (target < 300 MB each), and RSS after 100 and 1,000 decisions in
   one process (must not grow).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import click

from worker.bench.report import TARGETS, draw_plot, render_table

BIG_FORM_BYTES = 20_000_000  # "20 MB", under the default 20 MiB limit
BIG_FORM_PAGES = 50


# ---- small helpers ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary_ms(seconds: Sequence[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
            "mean_ms": round(statistics.fmean(ms), 2), "min_ms": round(min(ms), 2)}


def run_measured(argv: list[str], env: dict | None = None, timeout: float = 1800,
                 cwd: str | None = None) -> tuple[int, float, str, str]:
    """Run a child through the small ``bench_child measure`` launcher: (exit code, peak RSS MiB of
    the child and the children it reaped, stdout, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "rusage.json"
        launcher = [sys.executable, "-m", "worker.bench.child", "measure", str(result), "--", *argv]
        with open(Path(tmp) / "out", "wb") as out, open(Path(tmp) / "err", "wb") as err:
            try:
                subprocess.run(launcher, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                               timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{' '.join(argv)} took longer than {timeout}s") from None
        stdout = (Path(tmp) / "out").read_text(errors="replace")
        stderr = (Path(tmp) / "err").read_text(errors="replace")
        if not result.exists():
            raise RuntimeError(f"the measuring launcher failed:\n{stderr[-3000:]}")
        usage = json.loads(result.read_text())
        return usage["code"], usage["maxrss_mb"], stdout, stderr


def _last_json(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON from the child:\n{stdout[-2000:]}")


# ---- 1. decision vs the raw floor ----------------------------------------------------------------------
def raw_floor(data: bytes, policy) -> None:
    """pyHanko's validation of the signature plus pdfplumber's extraction of the fields, nothing else."""
    import pdfplumber
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko_certvalidator import ValidationContext

    from forms.extract import extract_fields

    reader = PdfFileReader(io.BytesIO(data), strict=True)
    sig = reader.embedded_signatures[0]
    roots = [a.certificate for a in policy.trusted_lists.registry.known_certificate_authorities]
    vc = ValidationContext(trust_roots=list(policy.trust_roots) + roots, allow_fetching=False,
                           revocation_mode="soft-fail", weak_hash_algos=set(policy.weak_digests))
    status = validate_pdf_signature(
        sig, signer_validation_context=vc,
        key_usage_settings=KeyUsageConstraints(key_usage={"non_repudiation"}, match_all_key_usages=True))
    if not (status.intact and status.valid and status.trusted):
        raise RuntimeError(f"the raw floor does not validate a bench form: {status.summary()}")
    with _plain_pdfminer(), pdfplumber.open(io.BytesIO(data)) as pdf:
        extract_fields(pdf)


@contextlib.contextmanager
def _plain_pdfminer():
    """pdfplumber on pdfminer's own document and parser: the decision makes every pdfplumber of the
    process strict (forms.strict_reading.install), whose kept parses would flatter the raw floor."""
    import pdfminer.pdfdocument
    import pdfminer.pdfparser
    import pdfplumber.pdf

    saved = pdfplumber.pdf.PDFDocument, pdfplumber.pdf.PDFParser
    pdfplumber.pdf.PDFDocument, pdfplumber.pdf.PDFParser = pdfminer.pdfdocument.PDFDocument, pdfminer.pdfparser.PDFParser
    try:
        yield
    finally:
        pdfplumber.pdf.PDFDocument, pdfplumber.pdf.PDFParser = saved


def bench_decision(forms, policy, progress) -> dict:
    from verify.decision import decide

    # warm-up: imports, caches
    for f in forms[:3]:
        raw_floor(f.pdf, policy)
        decide(f.pdf, policy)
    raw_t: list[float] = []
    dec_t: list[float] = []
    raw_cpu: list[float] = []
    dec_cpu: list[float] = []
    accepted = 0
    reasons: dict[str, int] = {}
    clock, cpu = time.perf_counter, time.process_time
    for i, f in enumerate(forms):
        order = ("raw", "decide") if i % 2 == 0 else ("decide", "raw")
        for what in order:
            t, c = clock(), cpu()
            if what == "raw":
                raw_floor(f.pdf, policy)
                raw_t.append(clock() - t)
                raw_cpu.append(cpu() - c)
            else:
                report = decide(f.pdf, policy)
                dec_t.append(clock() - t)
                dec_cpu.append(cpu() - c)
                if report.accepted:
                    accepted += 1
                for code in report.codes:
                    reasons[code] = reasons.get(code, 0) + 1
        progress.update(1)
    d, r = summary_ms(dec_t), summary_ms(raw_t)
    dc, rc = summary_ms(dec_cpu), summary_ms(raw_cpu)
    paired = [a / b for a, b in zip(dec_t, raw_t)]
    return {
        "decision": d,
        "raw": r,
        "decision_cpu": dc,
        "raw_cpu": rc,
        "accepted": accepted,
        "forms": len(forms),
        "reasons": reasons,
        "decision_vs_raw_ratio": round(d["median_ms"] / r["median_ms"], 3),
        "decision_vs_raw_paired_median": round(statistics.median(paired), 3),
        "decision_vs_raw_cpu_ratio": round(dc["median_ms"] / rc["median_ms"], 3),
        "inprocess_throughput_per_s": round(1000 / d["mean_ms"], 3),
    }


def bench_container(corpus, forms, policy, progress) -> dict:
    """Decide each form as PAdES and as an ASiC-E container of the same filled form, interleaved."""
    from verify.container.demo_sign import make_container
    from verify.decision import decide

    containers = [make_container({"form.pdf": corpus.filled(f.index)}, [corpus.identity(f.index)], level="B-B",
                                 pki=corpus.pki) for f in forms]
    for f, c in list(zip(forms, containers))[:3]:  # warm-up
        decide(f.pdf, policy), decide(c, policy)
    pades_t: list[float] = []
    cont_t: list[float] = []
    accepted = 0
    for i, (f, c) in enumerate(zip(forms, containers)):
        for what in (("pades", "container") if i % 2 == 0 else ("container", "pades")):
            t = time.perf_counter()
            report = decide(f.pdf if what == "pades" else c, policy)
            (pades_t if what == "pades" else cont_t).append(time.perf_counter() - t)
            if what == "container" and report.accepted:
                accepted += 1
        progress.update(1)
    p, c = summary_ms(pades_t), summary_ms(cont_t)
    return {"pades": p, "container": c, "accepted": accepted, "forms": len(forms),
            "container_vs_pades_ratio": round(c["median_ms"] / p["median_ms"], 3)}


def bench_baseline(corpus, forms, baseline: Path, workdir: Path, progress) -> dict:
    """The same forms decided by this checkout and by ``baseline``, each in its own process, alternately.

    Both processes run ``worker/bench/peer.py`` of this checkout with ``PYTHONPATH`` at their tree, so
    each imports its own ``verify`` and trusts what it ships with (the demo's trusted lists, or its
    root for a checkout without them). CPU time is the steadier figure on a shared machine.
    """
    files = []
    for f in forms:
        path = workdir / "baseline-forms" / f"form-{f.index}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.pdf)
        files.append(str(path))
    here = Path(__file__).resolve().parents[2]  # the checkout: worker/bench/command.py
    peer = Path(__file__).resolve().with_name("peer.py")
    trust = ["--roots", str(corpus.pki.root_pem_path), "--lists", str(corpus.trust_lists)]
    procs: dict[str, subprocess.Popen] = {}
    ready: dict[str, dict] = {}
    try:
        for name, tree in (("head", here), ("baseline", baseline.resolve())):
            env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
            procs[name] = subprocess.Popen([sys.executable, str(peer), *trust, *files], env=env, cwd=str(tree),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = procs[name].stdout.readline()
            if not line.startswith("{"):
                raise RuntimeError(f"the {name} decision process ({tree}) did not start")
            ready[name] = json.loads(line)
        runs: dict[str, list[dict]] = {"head": [], "baseline": []}
        for i in range(len(files)):
            for name in (("head", "baseline") if i % 2 == 0 else ("baseline", "head")):
                procs[name].stdin.write(f"{i}\n")
                procs[name].stdin.flush()
                line = procs[name].stdout.readline()
                if not line:
                    raise RuntimeError(f"the {name} decision process ended early")
                runs[name].append(json.loads(line))
            progress.update(1)
    finally:
        for proc in procs.values():
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=60)
    out: dict[str, Any] = {"tree": str(baseline), "commit": _commit_of(baseline), "head_commit": _commit_of(here)}
    for name, measured in runs.items():
        out[name] = {"decision": summary_ms([m["wall"] for m in measured]),
                     "decision_cpu": summary_ms([m["cpu"] for m in measured]),
                     "accepted": sum(bool(m["accepted"]) for m in measured), "trust": ready[name]["trust"]}
    out["decision_vs_baseline_ratio"] = round(
        out["head"]["decision"]["median_ms"] / out["baseline"]["decision"]["median_ms"], 3)
    out["decision_vs_baseline_cpu_ratio"] = round(
        out["head"]["decision_cpu"]["median_ms"] / out["baseline"]["decision_cpu"]["median_ms"], 3)
    return out


def _commit_of(tree: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30).stdout.strip() or None
    except Exception:
        return None


def profile_decisions(forms, policy, out_path: Path, count: int = 40) -> str:
    """A pyinstrument profile of ``count`` decisions; writes text (and HTML next to it)."""
    from pyinstrument import Profiler

    from verify.decision import decide

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for f in forms[:count]:
        decide(f.pdf, policy)
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    out_path.write_text(text)
    out_path.with_suffix(".html").write_text(profiler.output_html())
    return text


# ---- 4. memory ------------------------------------------------------------------------------------------
def bench_memory(corpus, workdir: Path, forms, services, *, growth_n: int, quick: bool, progress) -> dict:
    from worker.bench.corpus import make_mail
    from worker.bench.pipeline import Config, Installation, poll_once_args

    out: dict[str, Any] = {}
    pages, size = (5, 2_000_000) if quick else (BIG_FORM_PAGES, BIG_FORM_BYTES)
    big = corpus.signed(900_000, pad_to=(pages, size))
    out["big_form_pages"] = pages
    big_path = workdir / "big-form.pdf"
    big_path.write_bytes(big.pdf)
    out["big_form_bytes"] = len(big.pdf)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # the decision alone, in a fresh process
    code, peak, stdout, stderr = run_measured(
        [sys.executable, "-m", "worker.bench.child", "decide", str(corpus.trust_lists), str(big_path)], env=env)
    if code != 0:
        raise RuntimeError(f"bench_child decide failed:\n{stderr[-3000:]}")
    out["big_form_decision"] = _last_json(stdout)["result"]
    out["big_form_decision"]["process_peak_rss_mb"] = round(peak, 1)
    out["adversarial"] = bench_adversarial(corpus, workdir, env)
    progress.update(1)

    # a real worker (``docintake worker --burst``, fork class: peak of the worker and its horse)
    with Installation(Config("maildir", "sqlite", "embedded"), workdir / "mem-worker", corpus.trust_lists,
                      services) as inst:
        inst.import_customers([big])
        inst.deliver(make_mail(big.pdf, index=big.index), "big.mail")
        inst.cli(*poll_once_args(), check=True)
        code, peak, _, stderr = run_measured(inst.argv("worker", "--burst"), env=inst.full_env(), cwd=str(inst.root))
        if code != 0:
            raise RuntimeError(f"worker --burst failed:\n{stderr[-3000:]}")
        out["worker_big_form_peak_rss_mb"] = round(peak, 1)
        out["worker_big_form_counts"] = inst.counts()
        code, peak, _, stderr = run_measured(inst.argv("worker", "--burst", "--worker-class", "simple"),
                                             env=inst.full_env(), cwd=str(inst.root))
        out["worker_idle_peak_rss_mb"] = round(peak, 1)
    progress.update(1)

    # the poller on one mail with ten such attachments
    attachments = 2 if quick else 10
    with Installation(Config("maildir", "sqlite", "embedded"), workdir / "mem-poll", corpus.trust_lists,
                      services) as inst:
        raw = make_mail([big.pdf] * attachments, index=big.index)
        out["big_mail_bytes"] = len(raw)
        out["big_mail_attachments"] = attachments
        inst.deliver(raw, "big10.mail")
        del raw
        code, peak, _, stderr = run_measured(inst.argv(*poll_once_args()), env=inst.full_env(), cwd=str(inst.root))
        if code != 0:
            raise RuntimeError(f"poll failed:\n{stderr[-3000:]}")
        out["poller_big_mail_peak_rss_mb"] = round(peak, 1)
        out["poller_big_mail_counts"] = inst.counts()
    progress.update(1)

    # RSS after 100 and 1,000 decisions in one process
    files = []
    for f in forms[:50]:
        p = workdir / "growth" / f"form-{f.index}.pdf"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(f.pdf)
        files.append(str(p))
    first_mark = 100 if growth_n >= 200 else growth_n // 2
    checkpoints = sorted({10, first_mark, growth_n})
    code, peak, stdout, stderr = run_measured(
        [sys.executable, "-m", "worker.bench.child", "growth", str(corpus.trust_lists), str(growth_n),
         ",".join(map(str, checkpoints)), *files], env=env, timeout=3600)
    if code != 0:
        raise RuntimeError(f"bench_child growth failed:\n{stderr[-3000:]}")
    growth = _last_json(stdout)["result"]
    rss = growth["rss_mb"]
    first = rss[str(first_mark)]
    last = rss[str(growth_n)]
    growth["growth_mb"] = round(last - first, 1)
    growth["growth_pct"] = round(100 * (last - first) / first, 1)
    out["growth"] = growth
    progress.update(1)
    out["peak_rss_mb"] = max(out["worker_big_form_peak_rss_mb"], out["poller_big_mail_peak_rss_mb"])
    return out


def bench_adversarial(corpus, workdir: Path, env: dict) -> dict:
    """Each input of ``worker.bench.adversarial`` decided in a fresh process: verdict and peak RSS."""
    from worker.bench.adversarial import ADVERSARIAL

    out: dict[str, Any] = {}
    for name, build in ADVERSARIAL.items():
        path = workdir / f"adversarial-{name}.pdf"
        path.write_bytes(build(corpus))
        code, peak, stdout, stderr = run_measured(
            [sys.executable, "-m", "worker.bench.child", "decide", str(corpus.trust_lists), str(path)], env=env)
        if code != 0:
            raise RuntimeError(f"bench_child decide {name} failed:\n{stderr[-3000:]}")
        result = _last_json(stdout)["result"]
        result["process_peak_rss_mb"] = round(peak, 1)
        out[name] = result
    return out


# ---- the command ------------------------------------------------------------------------------------------
STAGES = ("decision", "pipeline", "latency", "memory", "campaign")
#: (mailbox, database, redis, worker counts, modes)
QUICK_MATRIX = [("maildir", "sqlite", "embedded", (1, 2), ("overlap",))]
SUBSET_MATRIX = [
    ("maildir", "sqlite", "embedded", (1, 2), ("overlap", "staged")),
    ("maildir", "postgresql", "server", (1, 2), ("overlap", "staged")),
    ("imap", "postgresql", "server", (1, 2), ("overlap",)),
    ("imap", "sqlite", "embedded", (1,), ("overlap",)),
]
FULL_MATRIX = [(m, d, r, (1, 2), ("overlap", "staged")) for m in ("maildir", "imap")
               for d in ("sqlite", "postgresql") for r in ("embedded", "server")]


@click.command("bench")
@click.option("--forms", "n_forms", type=click.IntRange(1), default=200, show_default=True,
              help="Signed forms to decide (and to send through each pipeline run).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every figure as JSON to this file ('-' for standard output).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw throughput vs workers and the latency distribution (PNG).")
@click.option("--quick", is_flag=True,
              help="Small mode for tests: one pipeline configuration (Maildir, SQLite, embedded Redis; 1 and 2 "
                   "workers), no latency run, a 2 MB 5-page form, a 2-attachment mail and 50 decisions for the "
                   "memory figures.")
@click.option("--matrix", type=click.Choice(["subset", "full"]), default="subset", show_default=True,
              help="Pipeline configurations: a subset covering every dimension, or all 8.")
@click.option("--repeat", type=click.IntRange(1), default=None,
              help="Runs of each pipeline configuration; the best is kept, all are in the JSON "
                   "(default 2; 1 with --quick). Other processes on the machine only ever slow a run down.")
@click.option("--growth", "growth_n", type=click.IntRange(10), default=None,
              help="Decisions for the RSS growth check (default 1000; 50 with --quick).")
@click.option("--latency-mails", type=click.IntRange(1), default=None,
              help="Mails fed at a steady rate for the latency figures (default: --forms, at most 150).")
@click.option("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", show_default=True,
              help="PostgreSQL to create a throw-away database on (libpq URL of any database there).")
@click.option("--redis", "redis_server", default="redis://127.0.0.1:6379", show_default=True,
              help="Redis server; a free db number 1..15 is reserved and flushed.")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also profile 40 decisions with pyinstrument (text here, HTML next to it).")
@click.option("--stage", "stages", type=click.Choice(STAGES), multiple=True,
              help="Run only these stages (repeatable; default: all). The ratios that need a stage left out "
                   "are not given; latency without the pipeline stage runs at half the in-process rate.")
@click.option("--baseline", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="With the decision stage: also decide the forms with this checkout of docintake (e.g. a "
                   "git worktree of an older commit), alternately with this one, and give the ratio.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the generated forms and installations here (default: a temp dir, removed).")
def bench_command(n_forms: int, json_path: Path | None, plot_path: Path | None, quick: bool, matrix: str,
                  repeat: int | None, growth_n: int | None, latency_mails: int | None, postgres: str, redis_server: str,
                  profile_path: Path | None, stages: tuple[str, ...], baseline: Path | None,
                  workdir: Path | None) -> None:
    """Benchmark the decision, the pipeline and memory on forms it signs itself."""
    from tqdm import tqdm

    from verify.policy import Policy
    from worker.bench.corpus import Corpus
    from worker.bench.pipeline import Config, Installation, Services, run_latency, run_throughput

    # one INFO line per decision and per migration would drown the progress bars
    for name in ("verify", "intake", "worker", "alembic", "rq"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    services = Services(postgres_admin=postgres, redis_server=redis_server)
    growth_n = growth_n or (50 if quick else 1000)
    repeat = repeat or (1 if quick else 2)
    configs = QUICK_MATRIX if quick else (FULL_MATRIX if matrix == "full" else SUBSET_MATRIX)
    stack = contextlib.ExitStack()
    if workdir is None:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="docintake-bench-")))
    workdir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "version": 1,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_at_start": list(os.getloadavg())},
        "forms": n_forms,
        "quick": quick,
        "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
    }
    with stack:
        corpus = Corpus(workdir / "corpus")
        forms = [f for f in tqdm(corpus.forms(n_forms), total=n_forms, desc="signing forms", unit="form",
                                 file=sys.stderr)]
        policy = Policy.load(trust_lists=corpus.trust_lists)

        stages = tuple(stages) or STAGES
        res["stages"] = list(stages)
        if "decision" in stages:
            with tqdm(total=n_forms, desc="decision vs raw", unit="form", file=sys.stderr) as bar:
                res["decision"] = bench_decision(forms, policy, bar)
            res["decision_vs_raw_ratio"] = res["decision"]["decision_vs_raw_ratio"]
            with tqdm(total=n_forms, desc="container vs PAdES", unit="form", file=sys.stderr) as bar:
                res["container_decision"] = bench_container(corpus, forms, policy, bar)
            res["container_vs_pades_ratio"] = res["container_decision"]["container_vs_pades_ratio"]
            if baseline is not None:
                with tqdm(total=n_forms, desc="decision vs baseline", unit="form", file=sys.stderr) as bar:
                    res["baseline"] = bench_baseline(corpus, forms, baseline, workdir, bar)
                res["decision_vs_baseline_ratio"] = res["baseline"]["decision_vs_baseline_ratio"]
        if profile_path:
            profile_decisions(forms, policy, profile_path)

        runs = []
        if "pipeline" not in stages:
            configs = []
        total = sum(len(w) * len(m) for *_, w, m in configs) * n_forms * repeat
        with tqdm(total=total, desc="pipeline runs", unit="form", file=sys.stderr) as bar:
            for mailbox, database, redis_kind, worker_counts, modes in configs:
                for mode in modes:
                    for workers in worker_counts:
                        cfg = Config(mailbox, database, redis_kind)
                        tries = []
                        for attempt in range(repeat):
                            bar.set_postfix_str(f"{cfg.name} x{workers} {mode} #{attempt + 1}")
                            with Installation(cfg, workdir / f"run-{cfg.name}-{workers}-{mode}-{attempt}",
                                              corpus.trust_lists, services) as inst:
                                tries.append(run_throughput(inst, forms, workers, mode=mode, progress=bar))
                        best = max(tries, key=lambda r: r["throughput_per_s"])
                        best["tries_per_s"] = [r["throughput_per_s"] for r in tries]
                        runs.append(best)
        res["pipeline"] = runs
        res["pipeline_repeat"] = repeat
        inproc = res["decision"]["inprocess_throughput_per_s"] if "decision" in res else None
        e2e = [r for r in runs if r["mode"] == "overlap"]
        ones = {r["config"]: r for r in e2e if r["workers"] == 1}
        twos = {r["config"]: r for r in e2e if r["workers"] == 2}
        best1 = max(ones.values(), key=lambda r: r["throughput_per_s"]) if ones else None
        res["pipeline_vs_inprocess_ratio"] = round(best1["throughput_per_s"] / inproc, 3) if best1 and inproc else None
        res["pipeline_vs_inprocess_config"] = best1["config"] if best1 else None
        res["pipeline_vs_inprocess_ratios"] = {c: round(r["throughput_per_s"] / inproc, 3)
                                               for c, r in ones.items()} if inproc else {}
        ratios = {c: round(twos[c]["throughput_per_s"] / ones[c]["throughput_per_s"], 3) for c in ones if c in twos}
        res["two_vs_one_worker_ratios"] = ratios
        res["two_vs_one_worker_ratio"] = max(ratios.values()) if ratios else None
        staged = [r for r in runs if r["mode"] == "staged"]
        s1 = {r["config"]: r for r in staged if r["workers"] == 1}
        s2 = {r["config"]: r for r in staged if r["workers"] == 2}
        res["worker_stage_two_vs_one_ratios"] = {
            c: round(s2[c]["throughput_per_s"] / s1[c]["throughput_per_s"], 3) for c in s1 if c in s2}
        res["worker_stage_vs_inprocess_ratios"] = {
            c: round(r["throughput_per_s"] / inproc, 3) for c, r in s1.items()} if inproc else {}

        if not quick and "latency" in stages:
            if e2e:
                capacity = twos.get("maildir+sqlite+embedded", best1 or e2e[0])["throughput_per_s"]
            else:
                capacity = inproc or 4.0
            rate = round(0.5 * capacity, 2)
            n_lat = latency_mails or min(n_forms, 150)
            lat_forms = list(corpus.forms(n_lat, start=100_000))
            with tqdm(total=n_lat, desc=f"latency at {rate}/s", unit="mail", file=sys.stderr) as bar, \
                    Installation(Config("maildir", "sqlite", "embedded"), workdir / "latency", corpus.trust_lists,
                                 services) as inst:
                lat = run_latency(inst, lat_forms, rate, workers=2, progress=bar)
            values = lat["latencies_s"]
            lat["median_s"] = round(statistics.median(values), 3) if values else None
            lat["p95_s"] = round(percentile(values, 95), 3) if values else None
            res["latency"] = lat

        if "memory" in stages:
            with tqdm(total=4, desc="memory", unit="step", file=sys.stderr) as bar:
                res["memory"] = bench_memory(corpus, workdir, forms, services, growth_n=growth_n, quick=quick,
                                             progress=bar)
            res["peak_rss_mb"] = res["memory"]["peak_rss_mb"]
        if "campaign" in stages:
            from worker.bench.campaign import bench_campaign

            with tqdm(total=2, desc="campaign", unit="step", file=sys.stderr) as bar:
                res["campaign"] = bench_campaign(workdir, corpus.trust_lists, services,
                                                 customers=1000 if quick else 10_000, progress=bar)
        res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        res["machine"]["loadavg_at_end"] = list(os.getloadavg())

    click.echo(render_table(res))
    if plot_path:
        draw_plot(res, plot_path)
        click.echo(f"plot: {plot_path}")
    if json_path:
        text = json.dumps(res, indent=1, default=str)
        if str(json_path) == "-":
            click.echo(text)
        else:
            json_path.write_text(text + "\n")
            click.echo(f"json: {json_path}")
