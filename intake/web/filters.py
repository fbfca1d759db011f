"""Jinja filters: times in the office's zone, reason messages, field labels. Autoescape stays on."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask

from verify.reasons import CODES


def local_zone() -> ZoneInfo:
    from intake.web import TIMEZONE_NAME

    return ZoneInfo(TIMEZONE_NAME)


def parse_time(value) -> dt.datetime | None:
    """A datetime, or an ISO string from a report, as an aware datetime (None if unreadable)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def format_time(value, seconds: bool = False) -> str:
    moment = parse_time(value)
    if moment is None:
        return "" if value in (None, "") else str(value)
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def reason_message(code: str | None) -> str:
    return CODES.get(code or "", code or "")


def field_label(name: str) -> str:
    try:
        from forms.schema import FIELDS_BY_NAME
    except ImportError:  # pragma: no cover
        return name
    field = FIELDS_BY_NAME.get(name)
    return field.en if field else name


def field_value(value) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return ""
    return str(value)


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        time=format_time,
        reason_message=reason_message,
        field_label=field_label,
        field_value=field_value,
    )
    app.jinja_env.globals.update(REASON_CODES=list(CODES))
