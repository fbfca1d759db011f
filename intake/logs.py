"""Logging set-up. Personal codes never reach a log line unmasked."""

from __future__ import annotations

import logging
import os
import re

# LV old (DDMMYY-NNNNN) and new (32NNNN-NNNNN) formats, LT/EE 11 digits, optionally with PNOxx- prefix.
_CODE = re.compile(r"(?<![0-9])(?:PNO[A-Z]{2}-)?(\d{6})-?(\d{5})(?![0-9])")


def mask_codes(text: str) -> str:
    """``LV-32000012345`` -> ``LV-32****-***45``: enough to tell two customers apart, not to identify one."""
    return _CODE.sub(lambda m: m.group(1)[:2] + "****-***" + m.group(2)[-2:], text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_codes(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


#: Terminal colour codes: RQ colours parts of its messages when stdout is a terminal, even when
#: the log (stderr) goes to a file.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class MaskingFormatter(logging.Formatter):
    """Masks the whole formatted record (a traceback can quote a value too) and drops colour codes."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_codes(_ANSI.sub("", super().format(record)))


def configure_logging(level: str | None = None) -> None:
    level = (level or os.environ.get("DOCINTAKE_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic narrates every plugin and migration step at INFO; our own line says what changed.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
