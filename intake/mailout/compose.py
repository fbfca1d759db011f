"""Messages from Jinja2 templates: plain text + HTML e-mail, and SMS text.

``templates/<kind>.<lang>.txt`` (or ``<kind>.txt`` for the bilingual neutral ones) starts with a
``Subject:`` line, then a blank line, then the body; ``<kind>.<lang>.html`` is the HTML
alternative (autoescaped); ``<kind>.<lang>.sms`` an SMS. The Message-ID is given by the
caller (stable per message), so composing again yields the same identity.
"""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Any, Mapping

import jinja2

from intake.store.models import utcnow

LANGS = ("lv", "en")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("intake.mailout", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _template(kind: str, lang: str, ext: str) -> jinja2.Template:
    env = environment()
    return env.select_template([f"{kind}.{lang}.{ext}", f"{kind}.{ext}"])


def render_text(kind: str, lang: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, plain-text body)."""
    text = _template(kind, lang, "txt").render(context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:"):
        raise ValueError(f"template {kind}.{lang}.txt must start with a Subject: line")
    return head[len("Subject:"):].strip(), body.strip() + "\n"


def render_sms(kind: str, lang: str, context: Mapping[str, Any]) -> str:
    return " ".join(_template(kind, lang, "sms").render(context).split())


def compose_email(kind: str, lang: str, context: Mapping[str, Any], *, to: str, sender: str, sender_name: str,
                  message_id: str, in_reply_to: str | None = None,
                  attachments: tuple[tuple[str, bytes], ...] = ()) -> EmailMessage:
    """The whole message: headers (Auto-Submitted: auto-replied), text, HTML, PDF attachments."""
    subject, body = render_text(kind, lang, context)
    html = _template(kind, lang, "html").render(context)
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office answers to this
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    msg.add_alternative(html, subtype="html")
    msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
    for filename, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return msg
