"""The benchmark's campaign stage: ``docintake campaign create`` for N stale customers, as a real
process on an installation of its own (SQLite, embedded Redis): wall time, peak RSS, the rows
and jobs it left. The target: 10,000 personal forms generated and queued in under 2 minutes."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

CAMPAIGN_TARGET_S = 120.0


def bench_campaign(workdir: Path, trust_lists: Path, services, *, customers: int, progress=None) -> dict[str, Any]:
    from sqlalchemy import func, select, update

    from intake.queue import get_queue
    from intake.store.db import session_scope
    from intake.store.models import OutboundMessage, Profile, utcnow
    from worker.bench.command import run_measured
    from worker.bench.corpus import form_values
    from worker.bench.pipeline import Config, Installation
    from worker.profiles import SqlProfileStore

    with Installation(Config("maildir", "sqlite", "embedded"), workdir / "campaign", trust_lists, services) as inst:
        settings = inst.settings
        from forms.identity import national_id

        rows = []
        for i in range(customers):
            values = {k: v for k, v in form_values(i).items() if k != "data_accuracy_confirmation"}
            rows.append((national_id("LV", str(values["personal_code"])), values))
        with session_scope(settings) as session:
            SqlProfileStore().import_rows(session, rows)
            session.execute(update(Profile).values(updated_at=utcnow() - dt.timedelta(days=3 * 365)))
        if progress is not None:
            progress.update(1)
        started = time.perf_counter()
        code, peak, stdout, stderr = run_measured(inst.argv("campaign", "create", "--stale-months", "24"),
                                                  env=inst.full_env(), cwd=str(inst.root))
        wall = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"campaign create failed:\n{stderr[-3000:]}")
        with session_scope(settings) as session:
            queued_rows = session.scalar(select(func.count(OutboundMessage.id))
                                         .where(OutboundMessage.status == "pending")) or 0
            sample = session.scalars(select(OutboundMessage).limit(1)).first()
            import json

            stored = len(json.dumps(sample.payload)) * queued_rows if sample is not None else 0
        jobs = len(get_queue(settings))
        inst.stop_all()
        from intake.queue import stop_embedded_redis

        stop_embedded_redis(settings)  # it saves on the way out; the directory goes right after
        if progress is not None:
            progress.update(1)
    match = re.search(r"(\d+) queued", stdout)
    return {"customers": customers, "queued": int(match.group(1)) if match else None, "pending_rows": queued_rows,
            "rq_jobs": jobs, "seconds": round(wall, 2), "per_s": round(customers / wall, 1) if wall else None,
            "peak_rss_mb": round(peak, 1), "payload_bytes_per_mail": round(stored / max(1, queued_rows)),
            "target": f"< {CAMPAIGN_TARGET_S:.0f} s for 10,000",
            "met": wall < CAMPAIGN_TARGET_S * customers / 10_000 and jobs == customers}
