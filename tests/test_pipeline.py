"""End to end with real services: mails in a real mailbox (dovecot IMAP or a Maildir), ``docintake
poll --once`` and ``docintake worker --burst`` as real processes, a real Redis (server or the
embedded one) and a real database (PostgreSQL or SQLite).

The four runs cover every pair of {Maildir, IMAP} × {Redis server, embedded} × {SQLite,
PostgreSQL}. With the embedded Redis, the poller's process starts it and stops it (saving)
when it exits, and the worker's process starts it again: the queue survives in between.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake.queue import get_queue, stop_embedded_redis
from intake.store.db import session_scope
from intake.store.models import Mail, Submission
from tests.fixtures.services import run_cli
from tests.test_pipeline_support import (
    audit,
    changes,
    customer_values,
    import_customers,
    national_id_of,
    profile,
    worker_burst,
)
from worker.bench.corpus import maildir_deliver, make_mail

COMBOS = [
    ("maildir", "embedded", "sqlite"),
    ("maildir", "redis-server", "postgresql"),
    ("imap", "embedded", "postgresql"),
    ("imap", "redis-server", "sqlite"),
]


def _tamper(pdf: bytes) -> bytes:
    from worker.demo import Builder

    return Builder.tamper(pdf)


def build_mails(signed_form, make_form, person_for) -> tuple[list[tuple[str, bytes]], dict, list[dict]]:
    """(message-id, raw) of every mail, what each should become, and the known customers."""
    known = [customer_values(i) for i in range(4)]
    stranger = customer_values(77)
    twice = signed_form(known[1])
    mails = {
        "valid": ([signed_form(dict(known[0], phone="+37126555444", email="valid@example.lv"))], ["applied"]),
        "twice-1": ([twice], None),
        "twice-2": ([twice], None),  # one of the pair is applied, the other is a duplicate
        "wrong-signer": ([signed_form(known[2], person=person_for(known[1]))], ["signer_mismatch"]),
        "stranger": ([signed_form(stranger)], ["unknown_customer"]),
        "no-pdf": ([], ["no_pdf_attachment"]),
        "not-pdf": ([b"I will send the form tomorrow."], ["not_pdf"]),
        "tampered": ([_tamper(signed_form(known[2]))], ["modified_after_signing"]),
        "two-pdfs": ([signed_form(dict(known[3], occupation="Skolotāja")), make_form(known[3])],
                     ["applied", "unsigned"]),
    }
    raws = []
    expected = {}
    for n, (key, (pdfs, outcome)) in enumerate(mails.items()):
        mid = f"<e2e-{key}@docintake.test>"
        raws.append((mid, make_mail(pdfs, index=n, message_id=mid)))
        expected[mid] = outcome
    return raws, expected, known


def outcomes(settings) -> dict[str, list[str]]:
    """message-id -> [applied | main reason] of its submissions, in part order."""
    out: dict[str, list[str]] = {}
    with session_scope(settings) as session:
        rows = session.execute(
            select(Mail.message_id, Submission.status, Submission.main_reason)
            .join(Submission, Submission.mail_id == Mail.id).order_by(Mail.id, Submission.part_index)
        ).all()
    for mid, status, reason in rows:
        out.setdefault(mid, []).append("applied" if status == "applied" else f"{status}:{reason}")
    return out


@pytest.mark.parametrize("mailbox,redis_kind,backend", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_mail_to_profile_end_to_end(mailbox, redis_kind, backend, make_settings, request, pki, signed_form,
                                    make_form, person_for):
    overrides = {"trust_lists": pki.trust_lists_path}
    account = None
    if mailbox == "imap":
        account = request.getfixturevalue("imap_account")
        overrides.update(imap_host=account.host, imap_port=account.port, imap_user=account.user,
                         imap_password=account.password, imap_security="none")
    settings = make_settings(backend, redis=redis_kind == "redis-server", **overrides)
    raws, expected, known = build_mails(signed_form, make_form, person_for)
    import_customers(settings, known)
    for n, (_mid, raw) in enumerate(raws):
        if account is not None:
            account.append(raw)
        else:
            maildir_deliver(Path(settings.resolved_maildir), raw, f"e2e-{n}.eml")

    try:
        poll = run_cli(settings, "poll", "--once", timeout=180)
        assert poll.returncode == 0, poll.stdout + poll.stderr
        worker_burst(settings)
        got = outcomes(settings)
        assert set(got) == set(expected)
        for mid, want in expected.items():
            if want is not None:
                assert [g.split(":")[-1] for g in got[mid]] == want, (mid, got[mid])
        pair = sorted(got["<e2e-twice-1@docintake.test>"] + got["<e2e-twice-2@docintake.test>"])
        assert pair == ["applied", "rejected:duplicate"]

        # Profiles updated, each with the history row of the document that changed it.
        assert profile(settings, national_id_of(known[0]))["fields"]["phone"] == "+37126555444"
        assert profile(settings, national_id_of(known[3]))["fields"]["occupation"] == "Skolotāja"
        history = changes(settings)
        assert sorted(h["national_id"] for h in history) == sorted(national_id_of(known[i]) for i in (0, 1, 3))
        assert all(h["sha"] and h["submission_id"] for h in history)
        assert profile(settings, national_id_of(known[2]))["version"] == 1  # rejects changed nothing
        decided = {e["submission_id"] for e in audit(settings)}
        with session_scope(settings) as session:
            waiting = session.scalars(select(Submission.id).where(Submission.status.in_(
                ("received", "queued", "processing")))).all()
            worker_ids = set(session.scalars(select(Submission.id).where(Submission.part_index >= 0)).all())
        assert waiting == []
        assert decided == worker_ids  # every PDF got its verdict from the worker, with an audit event

        # Every mail ended processed on the server.
        if account is not None:
            assert account.messages("INBOX") == []
            processed = [f for f in account.folders() if "processed" in f]
            assert len(processed) == 1 and len(account.messages(processed[0])) == len(raws)
        else:
            maildir = Path(settings.resolved_maildir)
            assert list((maildir / "new").iterdir()) == []
            done = list((maildir / "cur").iterdir())
            assert len(done) == len(raws) and all(p.name.split(":2,")[1].count("S") == 1 for p in done)

        queue = get_queue(settings)
        assert len(queue) == 0 and queue.failed_job_registry.count == 0

        # Polling and working again changes nothing.
        assert run_cli(settings, "poll", "--once", timeout=180).returncode == 0
        worker_burst(settings)
        assert outcomes(settings) == got and len(changes(settings)) == 3
    finally:
        if redis_kind == "embedded":
            stop_embedded_redis(settings)
