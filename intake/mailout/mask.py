"""Contact values as a message may show them: enough to recognise, not enough to use."""

from __future__ import annotations


def mask_email(value: str | None) -> str:
    """``jana.ozola@example.lv`` -> ``j***@example.lv``."""
    if not value:
        return ""
    local, at, domain = str(value).partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def mask_phone(value: str | None) -> str:
    """``+37126555444`` -> ``+371*****44`` (country code and the last two digits)."""
    if not value:
        return ""
    text = str(value)
    keep_head = 4 if text.startswith("+") else 0
    if len(text) <= keep_head + 2:
        return "***"
    return text[:keep_head] + "*" * (len(text) - keep_head - 2) + text[-2:]


def mask_contact(field: str, value) -> str:
    if field == "email":
        return mask_email(value)
    if field == "phone":
        return mask_phone(value)
    return "" if value is None else str(value)
