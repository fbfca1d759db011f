"""How fresh the trusted-list snapshot is: for ``docintake trust status``, the dashboard and /metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from intake.config import Settings


def snapshot_dir(settings: Settings) -> Path:
    return settings.trust_lists or settings.data_dir / "trust-lists"


def freshness(settings: Settings, now: dt.datetime | None = None) -> list[dict]:
    """Each list of the snapshot with ``stale`` (past its next update); [] without a snapshot.
    Reads ``snapshot.json`` only (no signature check): for the dashboard and /metrics."""
    from verify.trust import snapshot_meta

    path = snapshot_dir(settings)
    if not (path / "snapshot.json").is_file():
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    lotl, lists = snapshot_meta(path)
    out = []
    for info in [lotl, *lists]:
        row = info.to_json()
        row["territory"] = row["territory"] or "LOTL"
        row["stale"] = info.stale(now)
        out.append(row)
    return out
