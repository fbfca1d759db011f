"""``docintake demo``: a complete demo installation in a data directory, and a round of mails.

What it makes (all inside the data directory, nothing outside it is trusted or touched):

- ``demo-pki/``: a throw-away PKI (:mod:`verify.demo_pki`) with its own test trusted lists (a
  LOTL and an LV list granting the demo CA and TSA as qualified services). They are imported
  into ``trust-lists/`` like a bank imports the EU lists (``docintake trust import``), with the
  demo LOTL signer pinned (``trust/demo-lotl-signer.pem``, named in ``docintake.toml``), so
  demo forms go through the production trust and qualification path. Never use this
  directory's keys for anything real.
- the database (SQLite, schema brought up to date), demo customers imported through the
  profile store, and a back-office user ``demo`` (password in ``demo-credentials.txt``).
- fifteen mails in the Maildir (``mail/``), good and bad, each built from the blank form
  (``forms.blank``), filled (``forms.fill``) and signed (``verify.demo_pki``).

Then it polls the Maildir once and runs two burst workers, in two rounds (the duplicate and
the older form come after the forms they collide with), and prints what became of every mail.
Run it again on the same directory and it changes nothing: mails already delivered are not
delivered again, the customers are already there.

The demo always uses the embedded defaults of its data directory (SQLite, embedded Redis,
Maildir); ``DOCINTAKE_DATABASE_URL`` / ``REDIS_URL`` / ``IMAP_HOST`` / ``MAILDIR`` /
``TRUST_ROOTS`` / ``TRUST_LISTS`` / ``REQUIRE_QUALIFIED`` / ``CONFIG`` (and the other trust
settings) in the environment are ignored, so a demo can never write into a real installation. A data directory with a database that ``demo`` did not make is refused.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import io
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Callable

import click

from forms.samples import sample_values

#: Environment that must not leak into a demo (it could point at a real installation).
_FOREIGN_ENV = ("DATABASE_URL", "REDIS_URL", "IMAP_HOST", "MAILDIR", "TRUST_ROOTS", "TRUST_LISTS",
                "TRUST_LOTL_SIGNER", "TRUST_COUNTRIES", "REQUIRE_QUALIFIED", "CONFIG")
DEMO_USER = "demo"
DEMO_ROLE = "admin"
MESSAGE_DOMAIN = "docintake.demo"


# ---- customers ----------------------------------------------------------------------------------
def _lv_old_code(ddmmyy: str, century: str, serial: str) -> str:
    from forms.personal_codes import lv_check_digit

    for n in range(int(serial), int(serial) + 200):
        digits = f"{ddmmyy}{century}{n % 1000:03d}"
        check = lv_check_digit(digits)
        if check < 10:
            return f"{digits[:6]}-{digits[6:]}{check}"
    raise ValueError("no LV code")  # pragma: no cover


def _baltic_code(prefix7: str, serial: str) -> str:
    from forms.personal_codes import baltic_check_digit

    digits = f"{prefix7}{serial}"
    return digits + str(baltic_check_digit(digits))


@dataclass(frozen=True)
class Customer:
    key: str
    country: str
    code: str
    first_name: str
    last_name: str
    date_of_birth: str
    phone: str
    email: str
    street: str
    city: str
    postcode: str
    known: bool = True  # has a profile in the bank

    def form_values(self, **changes) -> dict:
        """This customer's answers: the shared sample answers with the customer's own identity."""
        own = dict(
            personal_code=self.code,
            first_name=self.first_name,
            last_name=self.last_name,
            date_of_birth=self.date_of_birth,
            phone=self.phone,
            email=self.email,
            address_street=self.street,
            address_city=self.city,
            address_postcode=self.postcode,
            occupation="Inženieris",
            employer="SIA Piemērs",
            marketing_consent=True,
        )
        return sample_values(self.country, **{**own, **changes})

    @property
    def national_id(self) -> str:
        from forms.identity import national_id

        return national_id(self.country, self.code)

    def old_profile(self) -> dict:
        """What the bank knew before the forms came in."""
        return {
            "id_country": self.country,
            "personal_code": self.code,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "date_of_birth": self.date_of_birth,
            # valid (the product's own rules), and not the number the forms bring
            "phone": self.phone[:-3] + ("000" if not self.phone.endswith("000") else "001"),
            "email": f"old.{self.email}",
            "address_street": "(old address)",
            "address_city": self.city,
            "address_country": self.country,
        }


def customers() -> dict[str, Customer]:
    return {c.key: c for c in [
        Customer("anna", "LV", "321000-10017", "Anna", "Bērziņa", "1988-02-14", "+37126123456",
                 "anna.berzina@example.lv", "Brīvības iela 10-2", "Rīga", "LV-1010"),
        Customer("janis", "LV", _lv_old_code("120385", "1", "234"), "Jānis", "Kalniņš", "1985-03-12",
                 "+37129123456", "janis.kalnins@example.lv", "Elizabetes iela 5", "Rīga", "LV-1050"),
        Customer("ruta", "LT", _baltic_code("4850412", "123"), "Rūta", "Kazlauskienė", "1985-04-12",
                 "+37061234567", "ruta.k@example.lt", "Gedimino pr. 9", "Vilnius", "LT-01103"),
        Customer("mari", "EE", _baltic_code("4900101", "234"), "Mari", "Tamm", "1990-01-01",
                 "+37251234567", "mari.tamm@example.ee", "Narva mnt 7", "Tallinn", "10117"),
        Customer("peteris", "LV", "321000-20028", "Pēteris", "Ozols", "1979-11-30", "+37127123456",
                 "peteris.ozols@example.lv", "Lāčplēša iela 20", "Rīga", "LV-1011"),
        Customer("stranger", "LV", "321000-30039", "Ilze", "Liepa", "1992-06-06", "+37128123456",
                 "ilze.liepa@example.lv", "Tērbatas iela 3", "Rīga", "LV-1001", known=False),
    ]}


# ---- mails --------------------------------------------------------------------------------------
@dataclass
class Scenario:
    key: str
    title: str
    expect: str  # "applied", or the main reason of the reject
    round: int
    build: Callable[["Builder"], list[tuple[str, bytes]]]  # (filename, bytes) attachments
    sender: str = "customer@example.lv"


class Builder:
    """Signed (and broken) forms from the blank, the customers and the demo PKI."""

    def __init__(self, pki_dir: Path):
        from verify.demo_pki import DemoPKI

        self.pki = DemoPKI.create(pki_dir)
        self.customers = customers()
        self._blank: bytes | None = None
        self._signed: dict[str, bytes] = {}

    @property
    def blank(self) -> bytes:
        if self._blank is None:
            from forms.blank import render_blank

            self._blank = render_blank("lv")
        return self._blank

    def filled(self, who: str, **changes) -> bytes:
        from forms.fill import fill_form

        return fill_form(self.blank, self.customers[who].form_values(**changes))

    def identity(self, who: str, variant: str | None = None):
        c = self.customers[who]
        return self.pki.person(c.country, c.code, c.first_name, c.last_name, variant=variant)

    def signed(self, who: str, *, signer: str | None = None, variant: str | None = None, memo: str | None = None,
               **changes) -> bytes:
        """A filled form of ``who`` signed by ``signer`` (default: ``who``); memoised by ``memo``."""
        if memo and memo in self._signed:
            return self._signed[memo]
        pdf = self.pki.sign_pdf(self.filled(who, **changes), self.identity(signer or who, variant))
        if memo:
            self._signed[memo] = pdf
        return pdf

    def edoc(self, who: str, **changes) -> bytes:
        """``who``'s filled form inside an ASiC-E container (.edoc, as eParaksts makes), XAdES B-T."""
        from verify.container.demo_sign import make_container

        return make_container({"Anketa.pdf": self.filled(who, **changes)}, [self.identity(who)], level="B-T",
                              pki=self.pki)

    @staticmethod
    def tamper(pdf: bytes, field_name: str = "phone", value: str = "+37129999999") -> bytes:
        """Change a field's value in an incremental update after the signature."""
        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        for ref in writer.root["/AcroForm"]["/Fields"]:
            obj = ref.get_object()
            if obj.get("/T") == field_name:
                obj["/V"] = generic.TextStringObject(value)
                writer.mark_update(ref)
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()


def _ruta_older(b: Builder) -> bytes:
    return b.signed("ruta", memo="ruta-old", phone="+37061111111")


def _ruta_newer(b: Builder) -> bytes:
    """Rūta's newer form: her older one is signed first, so it carries the earlier signing time."""
    _ruta_older(b)
    time.sleep(1.1)
    return b.signed("ruta", memo="ruta", phone="+37062222222")


def scenarios() -> list[Scenario]:
    def one(name: str, fn: Callable[[Builder], bytes]) -> Callable[[Builder], list[tuple[str, bytes]]]:
        return lambda b: [(name, fn(b))]

    return [
        Scenario("lv-new", "valid LV form (new-format code), new phone and address", "applied", 1,
                 one("anketa.pdf", lambda b: b.signed("anna", memo="anna", phone="+37126000111",
                                                      address_street="Krišjāņa Barona iela 1"))),
        Scenario("lv-old", "valid LV form (old-format code, old-style certificate)", "applied", 1,
                 one("anketa.pdf", lambda b: b.signed("janis", variant="bare", email="janis@example.lv"))),
        Scenario("lt", "valid LT form", "applied", 1, one("forma.pdf", _ruta_newer)),
        Scenario("ee", "valid EE form", "applied", 1,
                 one("ankeet.pdf", lambda b: b.signed("mari", address_street="Pärnu mnt 12"))),
        Scenario("edoc", "valid LV form signed into an eParaksts .edoc container", "applied", 1,
                 one("anketa.edoc", lambda b: b.edoc("peteris", email="peteris@example.lv"))),
        Scenario("tampered", "changed after signing (phone rewritten)", "modified_after_signing", 1,
                 one("anketa.pdf", lambda b: b.tamper(b.signed("peteris", phone="+37127000222")))),
        Scenario("wrong-signer", "Pēteris's form signed by Anna", "signer_mismatch", 1,
                 one("anketa.pdf", lambda b: b.signed("peteris", signer="anna"))),
        Scenario("unknown", "valid form of someone who is not a customer", "unknown_customer", 1,
                 one("anketa.pdf", lambda b: b.signed("stranger"))),
        Scenario("no-pdf", "a mail without any attachment", "no_pdf_attachment", 1, lambda b: []),
        Scenario("not-pdf", "a .pdf attachment that is not a PDF", "not_pdf", 1,
                 one("anketa.pdf", lambda b: b"Sveiki! Anketu pievienosu rit.\n")),
        Scenario("unsigned", "filled in but never signed", "unsigned", 1,
                 one("anketa.pdf", lambda b: b.filled("peteris"))),
        Scenario("bad-phone", "an invalid phone number", "field_invalid", 1,
                 one("anketa.pdf", lambda b: b.signed("peteris", phone="12345"))),
        Scenario("untrusted", "signed with a certificate from an untrusted CA", "untrusted_signer", 1,
                 one("anketa.pdf", lambda b: b.signed("peteris", variant="untrusted"))),
        Scenario("expired", "signed with an expired certificate", "certificate_expired", 1,
                 one("anketa.pdf", lambda b: b.signed("peteris", variant="expired"))),
        Scenario("duplicate", "Anna's form sent a second time", "duplicate", 2,
                 one("anketa.pdf", lambda b: b.signed("anna", memo="anna"))),
        Scenario("stale", "Rūta's older form, arriving after the newer one", "stale", 2,
                 one("forma.pdf", _ruta_older)),
    ]


def message_id(key: str) -> str:
    return f"<demo-{key}@{MESSAGE_DOMAIN}>"


def make_mail(scenario: Scenario, attachments: list[tuple[str, bytes]], to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = scenario.sender
    msg["To"] = to
    msg["Subject"] = f"Klienta datu anketa ({scenario.key})"
    msg["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = message_id(scenario.key)
    msg.set_content(f"Labdien, pielikumā anketa.\n\n(docintake demo: {scenario.title})\n")
    for name, data in attachments:
        subtype = "vnd.etsi.asic-e+zip" if name.endswith(".edoc") else "pdf"
        msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def _delivered(maildir: Path, key: str) -> bool:
    for sub in ("new", "cur", "tmp"):
        directory = maildir / sub
        if directory.is_dir() and any(p.name.startswith(f"demo-{key}.") for p in directory.iterdir()):
            return True
    return False


def deliver(maildir: Path, key: str, raw: bytes) -> None:
    """Like an MTA: write under tmp/, rename into new/."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    name = f"demo-{key}.{int(time.time())}.{os.getpid()}.docintake-demo"
    tmp = maildir / "tmp" / name
    tmp.write_bytes(raw)
    os.replace(tmp, maildir / "new" / name)


# ---- the installation ---------------------------------------------------------------------------
def _isolate_environment(data_dir: Path) -> list[str]:
    ignored = []
    for name in _FOREIGN_ENV:
        if os.environ.pop("DOCINTAKE_" + name, None) is not None:
            ignored.append("DOCINTAKE_" + name)
    os.environ["DOCINTAKE_DATA_DIR"] = str(data_dir)
    return ignored


def prepare_directory(data_dir: Path) -> Path:
    """The demo PKI, the trust configuration; refuses a directory that holds a real installation."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pki_dir = data_dir / "demo-pki"
    toml = data_dir / "docintake.toml"
    if not pki_dir.exists() and ((data_dir / "docintake.sqlite3").exists() or toml.exists()):
        raise click.ClickException(
            f"{data_dir} holds an installation that `docintake demo` did not make; use an empty directory"
        )
    from verify.demo_pki import DemoPKI
    from verify.trust import import_lists

    pki = DemoPKI.create(pki_dir)
    trust = data_dir / "trust"
    trust.mkdir(exist_ok=True)
    source = pki.publish_trust_lists(pki_dir / "trust-lists-src")
    signer = trust / "demo-lotl-signer.pem"
    signer.write_bytes(pki.lotl_signer_path.read_bytes())
    import_lists(source, data_dir / "trust-lists", lotl_signer=str(signer), countries=("LV",))
    if not toml.exists():
        toml.write_text(
            "# Written by `docintake demo`: a demo installation that trusts ONLY the demo PKI,\n"
            "# through its test trusted lists in trust-lists/ (`docintake trust status`).\n"
            f"trust_lotl_signer = {str(signer)!r}\n"
            "# The demo web UI runs on http://127.0.0.1 (no TLS): plain cookies.\n"
            "secure_cookies = false\n".replace("'", '"')
        )
    return pki_dir


def import_customers(settings) -> int:
    """Import the demo customers that are not there yet (never overwrite what forms changed since)."""
    from sqlalchemy import select

    from intake.store.db import session_scope
    from intake.store.models import Profile
    from worker.profiles import SqlProfileStore

    wanted = {c.national_id: c for c in customers().values() if c.known}
    with session_scope(settings) as session:
        present = set(session.scalars(select(Profile.national_id).where(Profile.national_id.in_(list(wanted)))))
        rows = [(nid, c.old_profile()) for nid, c in wanted.items() if nid not in present]
        if not rows:
            return 0
        result = SqlProfileStore().import_rows(session, rows)
    return result.created


def ensure_staff_user(settings) -> tuple[str, str]:
    """The demo back-office user and its password (kept in ``demo-credentials.txt``, mode 0600)."""
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from intake.store.db import session_scope
    from intake.store.models import AuditEvent, User

    creds = Path(settings.data_dir) / "demo-credentials.txt"
    password = None
    if creds.exists():
        for line in creds.read_text().splitlines():
            if line.startswith("password: "):
                password = line.removeprefix("password: ").strip()
    with session_scope(settings) as session:
        user = session.scalar(select(User).where(User.name == DEMO_USER))
        if user is None or password is None:
            password = password or secrets.token_urlsafe(12)
            try:
                from intake.web.auth import hash_password
            except ImportError:  # pragma: no cover
                hash_password = generate_password_hash
            if user is None:
                session.add(User(name=DEMO_USER, role=DEMO_ROLE, password_hash=hash_password(password)))
                session.add(AuditEvent(actor="system:demo", action="user_created",
                                       detail={"name": DEMO_USER, "role": DEMO_ROLE}))
            else:
                from intake.web import sessions

                user.password_hash = hash_password(password)
                user.failed_logins = 0
                user.locked_until = None
                sessions.end_all(session, user.id)  # a new password ends the old sessions
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"docintake demo back office\nuser: {DEMO_USER}\npassword: {password}\n")
    return DEMO_USER, password


def poll(settings) -> None:
    from intake.mailin.poller import poll_once

    result = poll_once(settings)
    if result.error:
        raise click.ClickException(f"polling the demo Maildir failed: {result.error}")


def work(settings, workers: int = 2) -> None:
    """Burst workers in child processes, until the queue is empty."""
    cmd = [sys.executable, "-m", "intake.cli", "--log-level", "WARNING", "worker", "--burst"]
    procs = [subprocess.Popen(cmd, env=dict(os.environ)) for _ in range(workers)]
    for p in procs:
        p.wait()
    failed = [p.returncode for p in procs if p.returncode]
    if failed:
        raise click.ClickException(f"a worker failed (exit {failed[0]})")


@dataclass
class Row:
    scenario: Scenario
    status: str = "(not seen)"
    reason: str | None = None
    submissions: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "applied" if self.status == "applied" else (self.reason or self.status)

    @property
    def ok(self) -> bool:
        return self.outcome == self.scenario.expect


def results(settings, items: list[Scenario]) -> list[Row]:
    from sqlalchemy import select

    from intake.store.db import session_scope
    from intake.store.models import Mail, Submission

    rows = []
    with session_scope(settings) as session:
        for sc in items:
            row = Row(sc)
            mail_ids = session.scalars(select(Mail.id).where(Mail.message_id == message_id(sc.key))).all()
            if mail_ids:
                subs = session.execute(
                    select(Submission.status, Submission.main_reason)
                    .where(Submission.mail_id.in_(mail_ids)).order_by(Submission.id)
                ).all()
                row.submissions = [(s.status, s.main_reason) for s in subs]
                if subs:
                    row.status, row.reason = subs[-1].status, subs[-1].main_reason
            rows.append(row)
    return rows


def run_demo(data_dir: Path, *, workers: int = 2, echo: Callable[[str], None] = click.echo,
             host: str | None = None, port: int | None = None) -> list[Row]:
    data_dir = data_dir.resolve()
    ignored = _isolate_environment(data_dir)
    if ignored:
        echo(f"(the demo uses its own data directory only; ignoring {', '.join(ignored)})")
    pki_dir = prepare_directory(data_dir)

    from intake.config import load_settings
    from intake.run import prepare_database
    from intake.store.db import store_errors

    with store_errors():
        settings = load_settings()
        note = prepare_database(settings)
    if note:
        echo(note)
    created = import_customers(settings)
    echo(f"customers: {created} imported" if created else "customers: already there")
    user, password = ensure_staff_user(settings)

    maildir = Path(settings.resolved_maildir)
    outbox = data_dir / "demo-outbox"  # mails built but held back for round 2
    items = scenarios()
    todo = [s for s in items if not _delivered(maildir, s.key) and not (outbox / f"{s.key}.eml").exists()]
    if todo:
        builder = Builder(pki_dir)
        outbox.mkdir(exist_ok=True)
        for sc in todo:  # every mail is built now, in order, so the older form is older
            raw = make_mail(sc, sc.build(builder), settings.intake_address)
            tmp = outbox / f".{sc.key}.tmp"
            tmp.write_bytes(raw)
            os.replace(tmp, outbox / f"{sc.key}.eml")
    for round_no in (1, 2):
        sent = 0
        for sc in items:
            held = outbox / f"{sc.key}.eml"
            if sc.round == round_no and held.exists() and not _delivered(maildir, sc.key):
                deliver(maildir, sc.key, held.read_bytes())
                held.unlink()
                sent += 1
        if sent:
            echo(f"round {round_no}: {sent} mail(s) delivered to {maildir}")
        poll(settings)
        work(settings, workers)

    rows = results(settings, items)
    width = max(len(r.scenario.title) for r in rows)
    echo("")
    echo(f"{'mail':<{width}}  {'expected':<24}  outcome")
    echo(f"{'-' * width}  {'-' * 24}  {'-' * 24}")
    for r in rows:
        mark = "ok" if r.ok else "UNEXPECTED"
        echo(f"{r.scenario.title:<{width}}  {r.scenario.expect:<24}  {r.outcome:<24} {mark}")
    applied = sum(1 for r in rows if r.status == "applied")
    rejected = sum(1 for r in rows if r.status == "rejected")
    echo("")
    echo(f"{len(rows)} mails: {applied} applied, {rejected} rejected, "
         f"{sum(1 for r in rows if not r.ok)} unexpected")
    echo(f"data directory: {data_dir}")
    echo(closing_hint(data_dir, host or settings.web_host, port or settings.web_port, user, password,
                      options=bool(host or port)))
    return rows


def closing_hint(data_dir: Path, host: str, port: int, user: str, password: str, *, options: bool) -> str:
    """The command that serves the demo and the address it will be at (the same host and port)."""
    command = f"docintake run --data-dir {data_dir}" + (f" --host {host} --port {port}" if options else "")
    return (f"web UI: start everything with `{command}`, then open http://{host}:{port}/backoffice/ "
            f"(user {user}, password {password}; also in {data_dir / 'demo-credentials.txt'})")


@click.command("demo")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo installation lives (default: DOCINTAKE_DATA_DIR or ./var).")
@click.option("--workers", type=int, default=2, show_default=True, help="Burst workers to process the mails.")
@click.option("--host", default=None, help="The host `docintake run` will serve on (for the closing hint).")
@click.option("--port", type=int, default=None, help="The port `docintake run` will serve on (for the closing hint).")
def demo_command(data_dir: Path | None, workers: int, host: str | None, port: int | None) -> None:
    """Make a demo installation (PKI, customers, staff user, fifteen mails) and process the mails."""
    data_dir = data_dir or Path(os.environ.get("DOCINTAKE_DATA_DIR") or "./var")
    rows = run_demo(data_dir, workers=workers, host=host, port=port)
    if any(not r.ok for r in rows):
        raise SystemExit(1)
