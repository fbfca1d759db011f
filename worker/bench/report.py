"""The benchmark's figures as a table (with each target met or missed) and as a plot."""

from __future__ import annotations

from pathlib import Path

TARGETS = {
    "decision_vs_raw_ratio": ("<=", 1.1),
    "decision_vs_baseline_ratio": ("<=", 1.3),
    "container_vs_pades_ratio": ("<=", 1.5),
    "pipeline_vs_inprocess_ratio": (">=", 0.8),
    "two_vs_one_worker_ratio": (">=", 1.7),
    "peak_rss_mb": ("<", 300),
}


def met(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    op, target = TARGETS[key]
    ok = {"<=": value <= target, ">=": value >= target, "<": value < target}[op]
    return "met" if ok else "MISSED"


def render_table(res: dict) -> str:
    rows: list[tuple[str, str, str]] = []
    dv = res.get("decision")
    if dv:
        rows.append(("decision per form (median / p95)",
                     f"{dv['decision']['median_ms']:.1f} / {dv['decision']['p95_ms']:.1f} ms", ""))
        rows.append(("raw floor per form (median / p95)", f"{dv['raw']['median_ms']:.1f} / {dv['raw']['p95_ms']:.1f} ms", ""))
        rows.append(("decision / raw (medians)", f"{res['decision_vs_raw_ratio']:.3f}",
                     f"<= 1.1 {met('decision_vs_raw_ratio', res['decision_vs_raw_ratio'])}"))
        rows.append(("decision / raw (CPU time medians)", f"{dv['decision_vs_raw_cpu_ratio']:.3f}",
                     f"CPU {dv['decision_cpu']['median_ms']:.1f} / {dv['raw_cpu']['median_ms']:.1f} ms"))
        cv = res.get("container_decision")
        if cv:
            rows.append(("container / PAdES decision (medians)", f"{res['container_vs_pades_ratio']:.3f}",
                         f"<= 1.5 {met('container_vs_pades_ratio', res['container_vs_pades_ratio'])} "
                         f"({cv['container']['median_ms']:.1f} / {cv['pades']['median_ms']:.1f} ms)"))
        rows.append(("in-process decisions", f"{dv['inprocess_throughput_per_s']:.2f} /s", "1 process"))
    bv = res.get("baseline")
    if bv:
        rows.append((f"decision / {bv['commit'] or 'baseline'}'s (medians)", f"{res['decision_vs_baseline_ratio']:.3f}",
                     f"<= 1.3 {met('decision_vs_baseline_ratio', res['decision_vs_baseline_ratio'])} "
                     f"({bv['head']['decision']['median_ms']:.1f} / {bv['baseline']['decision']['median_ms']:.1f} ms)"))
        rows.append((f"decision / {bv['commit'] or 'baseline'}'s (CPU time medians)",
                     f"{bv['decision_vs_baseline_cpu_ratio']:.3f}",
                     f"CPU {bv['head']['decision_cpu']['median_ms']:.1f} / {bv['baseline']['decision_cpu']['median_ms']:.1f} ms"))
    camp = res.get("campaign")
    if camp:
        rows.append((f"campaign: {camp['customers']} personal forms generated and queued", f"{camp['seconds']:.1f} s",
                     f"{camp['per_s']:.0f}/s, {camp['rq_jobs']} jobs, peak {camp['peak_rss_mb']:.0f} MiB, "
                     f"{camp['target']} {'met' if camp['met'] else 'MISSED'}"))
    for run in res.get("pipeline", []):
        tries = "" if len(run.get("tries_per_s", [])) < 2 else \
            ", runs " + "/".join(f"{t:.1f}" for t in run["tries_per_s"])
        if run["mode"] == "overlap":
            rows.append((f"mail->profile {run['config']} x{run['workers']}", f"{run['throughput_per_s']:.2f} /s",
                         f"{run['forms']} forms in {run['seconds']:.1f}s (poll pass {run['poll_seconds']:.1f}s)"
                         + tries))
        else:
            steady = f", steady {run['steady_per_s']:.1f}/s" if run.get("steady_per_s") else ""
            rows.append((f"worker stage {run['config']} x{run['workers']}", f"{run['throughput_per_s']:.2f} /s",
                         f"{run['forms']} queued forms in {run['worker_seconds']:.1f}s{steady}" + tries))
    if res.get("pipeline_vs_inprocess_ratio") is not None:
        rows.append(("pipeline (1 worker) / in-process", f"{res['pipeline_vs_inprocess_ratio']:.3f}",
                     f">= 0.8 {met('pipeline_vs_inprocess_ratio', res['pipeline_vs_inprocess_ratio'])}"))
    if res.get("two_vs_one_worker_ratio") is not None:
        rows.append(("2 workers / 1 worker (mail->profile)", f"{res['two_vs_one_worker_ratio']:.3f}",
                     f">= 1.7 {met('two_vs_one_worker_ratio', res['two_vs_one_worker_ratio'])}, best of "
                     + ", ".join(f"{c} {v:.2f}" for c, v in res["two_vs_one_worker_ratios"].items())))
    for c, v in res.get("worker_stage_two_vs_one_ratios", {}).items():
        rows.append((f"2 workers / 1 worker (worker stage, {c})", f"{v:.3f}", "queue filled first"))
    lat = res.get("latency")
    if lat:
        rows.append((f"latency mail->profile ({lat['config']}, {lat['rate_per_s']:.1f}/s)",
                     f"{lat['median_s']:.2f} / {lat['p95_s']:.2f} s",
                     f"median / p95, poll every {lat['poll_interval_s']}s, {lat['decided']}/{lat['mails']}"))
    mem = res.get("memory")
    if mem:
        big = f"{mem['big_form_bytes'] / 1e6:.0f} MB {mem['big_form_pages']}-page form"
        rows.append((f"worker RSS, {big}", f"{mem['worker_big_form_peak_rss_mb']:.0f} MB",
                     f"< 300 {'met' if mem['worker_big_form_peak_rss_mb'] < 300 else 'MISSED'}"))
        for name, adv in (mem.get("adversarial") or {}).items():
            verdict = "accepted!" if adv["accepted"] else ",".join(adv["reasons"])
            rows.append((f"decision RSS, adversarial {name} ({adv['bytes'] / 1e6:.1f} MB, {verdict})",
                         f"{adv['process_peak_rss_mb']:.0f} MB / {adv['seconds']:.1f} s",
                         f"< 300 {'met' if adv['process_peak_rss_mb'] < 300 and not adv['accepted'] else 'MISSED'}"))
        rows.append((f"poller RSS, mail with {mem['big_mail_attachments']} such PDFs",
                     f"{mem['poller_big_mail_peak_rss_mb']:.0f} MB",
                     f"< 300 {'met' if mem['poller_big_mail_peak_rss_mb'] < 300 else 'MISSED'}"))
        g = mem["growth"]
        marks = ", ".join(f"{k}: {v:.0f} MB" for k, v in g["rss_mb"].items())
        rows.append(("RSS over decisions in one process", marks, f"growth {g['growth_mb']:+.1f} MB ({g['growth_pct']:+.1f}%)"))
    if not rows:
        return "nothing measured"
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    lines = [f"{'measure'.ljust(w1)}  {'value'.ljust(w2)}  target / note", "-" * (w1 + w2 + 30)]
    lines += [f"{a.ljust(w1)}  {b.ljust(w2)}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def draw_plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    by_config: dict[str, list[tuple[int, float]]] = {}
    for run in res.get("pipeline", []):
        label = run["config"] + ("" if run["mode"] == "overlap" else " (worker stage)")
        by_config.setdefault(label, []).append((run["workers"], run["throughput_per_s"]))
    for name, points in sorted(by_config.items()):
        points.sort()
        ax1.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    if "decision" in res:
        inproc = res["decision"]["inprocess_throughput_per_s"]
        ax1.plot([1, 2], [inproc, 2 * inproc], linestyle="--", color="grey", label="in-process x workers (ideal)")
    ax1.set_xlabel("workers")
    ax1.set_ylabel("forms / s")
    ax1.set_xticks([1, 2])
    ax1.set_title("Throughput vs workers")
    ax1.legend(fontsize=7)
    lat = res.get("latency")
    if lat and lat["latencies_s"]:
        ax2.hist(lat["latencies_s"], bins=30, color="tab:blue", alpha=0.8)
        ax2.axvline(lat["median_s"], color="k", linestyle="--", label=f"median {lat['median_s']:.2f}s")
        ax2.axvline(lat["p95_s"], color="r", linestyle=":", label=f"p95 {lat['p95_s']:.2f}s")
        ax2.legend(fontsize=8)
        ax2.set_title(f"Latency mail -> profile at {lat['rate_per_s']:.1f} mails/s ({lat['config']})")
    else:
        ax2.set_title("Latency (not measured)")
    ax2.set_xlabel("seconds")
    ax2.set_ylabel("mails")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
