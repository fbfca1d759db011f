"""End to end, outbound: mails in a Maildir, ``docintake poll`` and ``docintake worker`` as real
processes, a real Redis and database, and a real SMTP server (aiosmtpd) in its own process with
AUTH. Asserts on the bytes the server accepted:

- an applied contact change: the acknowledgement to the new address (values masked), the alarm
  to the old one (no link, the bank's official number) and the SMS to the old phone;
- a rejected form: its reason, to the e-mail on file;
- an unknown sender learns nothing: the same neutral text whether or not the customer exists;
- an auto-reply gets no answer; a mail without a form gets "how to send the form";
- every message exactly once, although the worker was killed while the alarm was on the wire;
- a refresh campaign's personal form, mailed out, ticked, signed with the test PKI and mailed
  back, is applied and counted.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, update

from forms.fill import fill_form
from intake.campaigns.tracking import stats
from intake.queue import stop_embedded_redis
from intake.store.db import session_scope
from intake.store.models import ContactAlert, OutboundMessage, Profile, utcnow
from tests.fixtures.services import run_cli
from tests.test_pipeline_support import (
    cli_env,
    customer_values,
    kill_group,
    national_id_of,
    wait_for,
    worker_burst,
)
from worker.bench.corpus import maildir_deliver, make_mail

COMBOS = [("embedded", "sqlite"), ("redis-server", "postgresql")]


def _tamper(pdf: bytes) -> bytes:
    from worker.demo import Builder

    return Builder.tamper(pdf)


def import_profiles(settings, customers: list[dict]) -> None:
    from worker.profiles import SqlProfileStore

    with session_scope(settings) as session:
        SqlProfileStore().import_rows(session, [(national_id_of(v), dict(v)) for v in customers])


def body_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return msg.get_body(("plain",)).get_content()


def auto_reply(sender: str, index: int) -> bytes:
    raw = make_mail([], index=index, sender=sender, subject="Out of office",
                    message_id=f"<auto-{index}@example.lv>")
    return b"Auto-Submitted: auto-replied\r\n" + raw


@pytest.mark.parametrize("redis_kind,backend", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_outbound_mail_end_to_end(redis_kind, backend, make_settings, smtp_server, pki, signed_form, person_for):
    customers = [customer_values(i, email=f"c{i}@example.lv", phone=f"+3712000000{i}") for i in range(4)]
    stranger = customer_values(77, email="stranger@evil.example")
    settings = make_settings(backend, redis=redis_kind == "redis-server", trust_lists=pki.trust_lists_path,
                             smtp_url=smtp_server.url, mail_from="noreply@bank.example", bank_name="Test Bank",
                             bank_phone="+371 6700 0000", lease_seconds=2, job_timeout=60, retry_backoff=(1,))
    import_profiles(settings, customers)
    c0, c1, c2, c3 = customers
    new_c0 = dict(c0, email="new0@example.lv", phone="+37126555444")
    mails = {
        "applied": make_mail([signed_form(new_c0)], index=1, sender="c0@example.lv"),
        "tampered": make_mail([_tamper(signed_form(c1, lang="en"))], index=2, sender="c1@example.lv"),
        # a stranger: once with a form of an unknown person, once with a known customer's unsigned form
        "stranger-unknown": make_mail([signed_form(stranger)], index=3, sender="stranger@evil.example"),
        "stranger-known": make_mail([_unsigned(c2)],
                                    index=4, sender="stranger2@evil.example"),
        "auto-reply": auto_reply("c3@example.lv", 5),
        "no-form": make_mail([], index=6, sender="c2@example.lv"),
    }
    for n, raw in enumerate(mails.values()):
        maildir_deliver(Path(settings.resolved_maildir), raw, f"out-{n}.eml")

    try:
        assert run_cli(settings, "poll", "--once", timeout=180).returncode == 0
        # The worker sends; the SMTP server hangs on the alarm, and the worker is killed right then.
        smtp_server.stall_on(b"To: c0@example.lv")
        proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "worker"], env=cli_env(settings),
                                cwd=str(settings.data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            wait_for(smtp_server.stalled, 180, what="the SMTP server to hold the alarm")
        finally:
            kill_group(proc)
        with session_scope(settings) as session:
            alarm = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "contact_change",
                                                                  OutboundMessage.channel == "email")).one()
            assert alarm.status == "pending" and alarm.attempts == 1  # the try died with its worker
        time.sleep(settings.lease_seconds + 0.5)
        assert run_cli(settings, "reconcile", timeout=120).returncode == 0
        worker_burst(settings)

        delivered = smtp_server.delivered()
        by_rcpt: dict[str, list[str]] = {}
        ids = Counter()
        for rcpt, raw in delivered:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            ids[msg["Message-ID"]] += 1
            assert msg["Auto-Submitted"] == "auto-replied"
            assert msg.get_body(("html",)) is not None
            for r in rcpt:
                by_rcpt.setdefault(r, []).append(body_text(raw))
        assert all(count == 1 for count in ids.values()), ids  # exactly once, the killed try included

        # applied: acknowledgement to the new address, masked; the alarm to the old one
        (ack,) = by_rcpt["new0@example.lv"]
        assert "Tālrunis: +371******44" in ack and "E-pasts: n***@example.lv" in ack
        assert "+37126555444" not in ack and "new0@example.lv" not in ack
        assert "Vārds" not in ack  # only what changed
        (alarm_text,) = by_rcpt["c0@example.lv"]
        assert "+371 6700 0000" in alarm_text and "http" not in alarm_text and "Tālrunis" in alarm_text
        sms = list((settings.outbox_dir / "sms").glob("*.txt"))
        assert len(sms) == 1 and sms[0].read_text().startswith(f"To: {c0['phone']}")
        with session_scope(settings) as session:
            (mark,) = session.scalars(select(ContactAlert)).all()
            assert mark.national_id == national_id_of(c0) and sorted(mark.fields) == ["email", "phone"]

        # rejected: the reason, in the form's language, to the e-mail on file
        (reason,) = by_rcpt["c1@example.lv"]
        assert "changed after it was signed" in reason and settings.blank_form_url in reason

        # the strangers learn nothing: the same neutral text, no names, codes or addresses
        (n1,) = by_rcpt["stranger@evil.example"]
        (n2,) = by_rcpt["stranger2@evil.example"]
        assert n1 == n2
        for secret in (c2["first_name"], c2["last_name"], c2["personal_code"].replace("-", ""), "c2@example.lv",
                       stranger["first_name"], "unknown"):
            assert secret not in n1

        # no form: how to send it; the auto-reply: nothing at all
        (how,) = by_rcpt["c2@example.lv"]
        assert settings.intake_address in how
        assert "c3@example.lv" not in by_rcpt
        assert set(by_rcpt) == {"new0@example.lv", "c0@example.lv", "c1@example.lv", "stranger@evil.example",
                                "stranger2@evil.example", "c2@example.lv"}
        with session_scope(settings) as session:
            states = Counter(session.scalars(select(OutboundMessage.status)).all())
        assert states == {"sent": 7, "suppressed": 1}, states  # 6 e-mails + 1 SMS; the auto-reply held back

        # Everything again: nothing is sent twice.
        assert run_cli(settings, "reconcile", timeout=120).returncode == 0
        worker_burst(settings)
        assert len(smtp_server.delivered()) == len(delivered)

        # A refresh campaign: customer 3's data is three years old; the personal form goes out by
        # SMTP, comes back ticked and signed with the test PKI, and is applied.
        with session_scope(settings) as session:
            session.execute(update(Profile).where(Profile.national_id == national_id_of(c3))
                            .values(updated_at=utcnow() - dt.timedelta(days=3 * 365)))
        created = run_cli(settings, "campaign", "create", "--stale-months", "24", "--country", "LV", timeout=180)
        assert created.returncode == 0 and "1 selected, 1 queued" in created.stdout, created.stdout + created.stderr
        worker_burst(settings)
        (campaign_mail,) = [raw for rcpt, raw in smtp_server.delivered() if rcpt == ["c3@example.lv"]]
        msg = email.message_from_bytes(campaign_mail, policy=email.policy.default)
        (attachment,) = list(msg.iter_attachments())
        personal = attachment.get_content()
        ticked = fill_form(personal, {"data_accuracy_confirmation": True, "occupation": "Ārste"})
        signed = pki.sign_pdf(ticked, person_for(c3))
        maildir_deliver(Path(settings.resolved_maildir), make_mail([signed], index=7, sender="c3@example.lv"),
                        "out-campaign.eml")
        assert run_cli(settings, "poll", "--once", timeout=180).returncode == 0
        worker_burst(settings)
        with session_scope(settings) as session:
            assert session.get(Profile, national_id_of(c3)).fields["occupation"] == "Ārste"
            (campaign,) = stats(session)
        assert (campaign.sent, campaign.received, campaign.applied) == (1, 1, 1)
        final = smtp_server.delivered()
        assert [rcpt for rcpt, _raw in final[len(delivered):]] == [["c3@example.lv"], ["c3@example.lv"]]  # form, ack
        ids = Counter(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"] for _r, raw in final)
        assert all(count == 1 for count in ids.values())
    finally:
        if redis_kind == "embedded":
            stop_embedded_redis(settings)


def _unsigned(values: dict) -> bytes:
    from forms.blank import render_blank
    from forms.fill import fill_form

    return fill_form(render_blank("lv"), values)
