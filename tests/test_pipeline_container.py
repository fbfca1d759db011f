"""Issue 11 end to end: forms signed into ASiC-E containers (.edoc, .asice) travel from a real
Maildir through ``docintake poll --once`` and ``docintake worker --burst`` (real processes, real
Redis) into the profile store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from intake.queue import stop_embedded_redis
from tests.fixtures.services import run_cli
from tests.test_pipeline import outcomes
from tests.test_pipeline_support import (
    customer_values,
    import_customers,
    national_id_of,
    profile,
    worker_burst,
)
from verify.container.demo_sign import (
    make_container,
    manifest_xml,
    pack,
    signature_document,
)
from worker.bench.corpus import maildir_deliver

COMBOS = [("embedded", "sqlite"), ("redis-server", "postgresql")]


def _mail(key: str, attachments: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    mid = f"<asic-{key}@docintake.test>"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = "c@example.lv", "forms@bank.example", key, mid
    msg.set_content("Pielikumā parakstīta anketa.\n")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mid, msg.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize("redis_kind,backend", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_container_mail_to_profile(redis_kind, backend, make_settings, pki, make_form, person_for):
    settings = make_settings(backend, redis=redis_kind == "redis-server", trust_lists=pki.trust_lists_path)
    known = [customer_values(i) for i in range(4)]
    import_customers(settings, known)
    edoc_values = dict(known[0], phone="+37126111222")
    asice_values = dict(known[1], email="asice@example.lv")
    edoc = make_container({"Anketa.pdf": make_form(edoc_values)}, [person_for(known[0])], level="B-T", pki=pki)
    asice = make_container({"form.pdf": make_form(asice_values)}, [person_for(known[1])], level="B-LT", pki=pki)
    wrong = make_container({"form.pdf": make_form(known[2])}, [person_for(known[1])], pki=pki)
    form3 = make_form(known[3])
    extra = pack([("form.pdf", form3), ("extra.txt", b"x"),
                  ("META-INF/manifest.xml", manifest_xml({"form.pdf": "application/pdf"})),
                  ("META-INF/signatures0.xml", signature_document({"form.pdf": form3}, person_for(known[3]), pki=pki))])
    mails = {
        "edoc": ([("Anketa.edoc", "application/octet-stream", edoc)], ["applied"]),
        "asice": ([("anketa.asice", "application/vnd.etsi.asic-e+zip", asice)], ["applied"]),
        "sniffed": ([("attachment.bin", "application/octet-stream", wrong)], ["signer_mismatch"]),
        "extra-file": ([("anketa.bdoc", "application/zip", extra)], ["container_invalid"]),
    }
    expected = {}
    for n, (key, (attachments, want)) in enumerate(mails.items()):
        mid, raw = _mail(key, attachments)
        maildir_deliver(Path(settings.resolved_maildir), raw, f"asic-{n}.eml")
        expected[mid] = want
    try:
        poll = run_cli(settings, "poll", "--once", timeout=180)
        assert poll.returncode == 0, poll.stdout + poll.stderr
        worker_burst(settings)
        got = outcomes(settings)
        assert {mid: [g.split(":")[-1] for g in v] for mid, v in got.items()} == expected
        assert profile(settings, national_id_of(known[0]))["fields"]["phone"] == "+37126111222"
        assert profile(settings, national_id_of(known[1]))["fields"]["email"] == "asice@example.lv"
        assert profile(settings, national_id_of(known[2]))["version"] == 1
    finally:
        if redis_kind == "embedded":
            stop_embedded_redis(settings)
