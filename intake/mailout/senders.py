"""Where a message goes: an SMTP server (``DOCINTAKE_SMTP_URL``) or files in the data directory.

``smtp://host:port`` (plain, for a relay on the loopback), ``smtp+starttls://user:pw@host:587``,
``smtps://user:pw@host:465``; user and password are URL-encoded. Unset: each e-mail is written as
``<data_dir>/outbox/<n>.eml`` (named after its Message-ID, so a resend overwrites the same file),
SMS as ``<data_dir>/outbox/sms/<n>.txt``; ``sms_gateway_url`` sends SMS by HTTP instead.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from intake.config import Settings

TIMEOUT = 30


class Sender(Protocol):
    def send(self, *, recipient: str, sender: str, message_id: str, raw: bytes) -> None: ...


def _file_name(message_id: str, ext: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>"))[:200] + ext


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class FileSender:
    """The embedded default: what would have been sent, as .eml files."""

    directory: Path

    def send(self, *, recipient: str, sender: str, message_id: str, raw: bytes) -> None:
        _write_atomically(self.directory / _file_name(message_id, ".eml"), raw)


@dataclass
class SmtpSender:
    url: str
    ca_file: Path | None = None

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def send(self, *, recipient: str, sender: str, message_id: str, raw: bytes) -> None:
        parts = urlsplit(self.url)
        scheme = parts.scheme.lower()
        host = parts.hostname or "localhost"
        if scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=TIMEOUT,
                                                    context=self._tls())
        elif scheme in ("smtp", "smtp+starttls"):
            client = smtplib.SMTP(host, parts.port or (587 if scheme == "smtp+starttls" else 25), timeout=TIMEOUT)
        else:
            raise ValueError(f"DOCINTAKE_SMTP_URL: unknown scheme {scheme!r} (smtp, smtp+starttls, smtps)")
        with client:
            client.ehlo()
            if scheme == "smtp+starttls":
                client.starttls(context=self._tls())
                client.ehlo()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.sendmail(sender, [recipient], raw)


@dataclass
class FileSmsSender:
    directory: Path

    def send(self, *, recipient: str, sender: str, message_id: str, raw: bytes) -> None:
        _write_atomically(self.directory / _file_name(message_id, ".txt"), f"To: {recipient}\n\n".encode() + raw)


@dataclass
class HttpSmsSender:
    """A generic HTTP gateway: POST JSON ``{"to", "text", "id"}`` with a bearer token; the id
    (the stable message id) lets the gateway drop a repeat."""

    url: str
    token: str = ""

    def send(self, *, recipient: str, sender: str, message_id: str, raw: bytes) -> None:
        body = json.dumps({"to": recipient, "text": raw.decode(), "id": message_id.strip("<>")}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - configured URL
            if response.status >= 300:
                raise RuntimeError(f"SMS gateway answered {response.status}")


def sender_for(settings: Settings, channel: str) -> Sender:
    if channel == "sms":
        if settings.sms_gateway_url:
            return HttpSmsSender(settings.sms_gateway_url, settings.sms_gateway_token)
        return FileSmsSender(settings.outbox_dir / "sms")
    if settings.smtp_url:
        return SmtpSender(settings.smtp_url, settings.smtp_ca_file)
    return FileSender(settings.outbox_dir)
