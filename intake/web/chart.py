"""The dashboard's 30-day chart as geometry for an inline SVG (drawn by a template, no JavaScript).

Each day is one stacked bar: applied at the bottom (green), then the rejects
stacked by main reason; a dark line with dots marks everything received that
day (the gap above the bar is work still waiting or failed). Colours are fixed
per reason so a spike of ``signer_mismatch`` (red) stands out at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from intake.web.queries import DayStats

APPLIED_COLOUR = "#2e7d32"
RECEIVED_COLOUR = "#1f2d3d"
REASON_COLOURS: dict[str, str] = {
    "signer_mismatch": "#c62828",
    "form_altered": "#b71c1c",
    "appearance_mismatch": "#e53935",
    "modified_after_signing": "#ad1457",
    "signature_invalid": "#8e24aa",
    "unsigned": "#5e35b1",
    "untrusted_signer": "#3949ab",
    "certificate_expired": "#1e88e5",
    "certificate_revoked": "#0d47a1",
    "weak_algorithm": "#00838f",
    "not_for_signing": "#00695c",
    "signing_time_invalid": "#00796b",
    "not_qualified": "#283593",
    "unknown_form": "#6d4c41",
    "field_missing": "#f9a825",
    "field_invalid": "#ef6c00",
    "not_pdf": "#757575",
    "malformed_pdf": "#616161",
    "encrypted_pdf": "#546e7a",
    "too_large": "#8d6e63",
    "container_invalid": "#795548",
    "no_pdf_attachment": "#9e9e9e",
    "unknown_customer": "#d81b60",
    "duplicate": "#b0bec5",
    "stale": "#90a4ae",
    "internal_error": "#424242",
}
OTHER_COLOUR = "#bdbdbd"

WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 34


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str


def colour(reason: str) -> str:
    return REASON_COLOURS.get(reason, OTHER_COLOUR)


def _nice_step(value: int, ticks: int = 4) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... whose ``ticks`` steps reach ``value``."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude * ticks >= value:
                return step * magnitude
        magnitude *= 10


def build(days: list[DayStats]) -> dict:
    """Everything the template needs: bars, the received line, axes and the legend."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = _nice_step(max([d.received for d in days] + [d.applied + d.rejected_total for d in days] + [1]))
    top = step * 4
    slot = plot_w / max(1, len(days))
    bar_w = max(2.0, slot * 0.7)

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    from intake.web.filters import reason_title

    reasons_seen: dict[str, int] = {}
    rects: list[Rect] = []
    points: list[tuple[float, float, str]] = []
    labels: list[tuple[float, str]] = []
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        base = 0
        label = day.day.strftime("%d.%m.")
        if day.applied:
            rects.append(Rect(x, y_of(day.applied), bar_w, y_of(0) - y_of(day.applied), APPLIED_COLOUR,
                              _("%(day)s applied: %(n)s", day=label, n=day.applied)))
            base = day.applied
        for reason, count in sorted(day.rejected.items(), key=lambda rc: list(REASON_COLOURS).index(rc[0])
                                    if rc[0] in REASON_COLOURS else 99):
            reasons_seen[reason] = reasons_seen.get(reason, 0) + count
            rects.append(Rect(x, y_of(base + count), bar_w, y_of(base) - y_of(base + count), colour(reason),
                              _("%(day)s rejected, %(reason)s: %(n)s", day=label, reason=reason_title(reason), n=count)))
            base += count
        points.append((x + bar_w / 2, y_of(day.received), _("%(day)s received: %(n)s", day=label, n=day.received)))
        if i % 5 == (len(days) - 1) % 5:
            labels.append((x + bar_w / 2, label))
    ticks = [(y_of(step * k), step * k) for k in range(5)]
    legend = [(_("received"), RECEIVED_COLOUR, sum(d.received for d in days)),
              (_("applied"), APPLIED_COLOUR, sum(d.applied for d in days))]
    legend += [(_("rejected: %(reason)s", reason=reason_title(r)), colour(r), n) for r, n in sorted(reasons_seen.items(), key=lambda rn: -rn[1])]
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
        "bottom": TOP + plot_h, "rects": rects, "points": points,
        "polyline": " ".join(f"{x:.1f},{y:.1f}" for x, y, _t in points),
        "labels": labels, "ticks": ticks, "legend": legend,
    }
