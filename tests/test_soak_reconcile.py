"""Regression from the soak: a worker SIGKILLed between RQ marking a job ``started`` and the
work horse claiming the submission leaves the submission ``queued`` with a ``started`` job that
no process will ever run.

The reconciler replaces a ``started`` job only for a ``processing`` submission whose lease
expired, so this one waits until RQ's own registry clean-up notices the dead worker (minutes;
the soak saw it stall past its settle window). ``lease_seconds`` is documented as "a submission
still queued/processing this long after its last move is re-enqueued": a ``queued`` submission
past its lease with a ``started`` job must be re-enqueued too.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update


def _queued_submission(settings) -> int:
    from intake.mailin.parse import parse_mail
    from intake.mailin.record import record_mail
    from intake.store.db import session_scope
    from worker.bench.corpus import make_mail

    raw = make_mail(b"%PDF-1.7\n%not really a form\n", index=1)
    with session_scope(settings) as session:
        [sid] = record_mail(session, mailbox="maildir:/soak", folder="INBOX", uidvalidity=None, uid="1",
                            raw=raw, parsed=parse_mail(raw, 10**6))
    return sid


def test_queued_submission_whose_started_job_died_is_enqueued_again(make_settings):
    from rq.job import JobStatus

    from intake.queue import enqueue_submission, get_queue, job_id_for, redis_connection
    from intake.queue.reconcile import reconcile
    from intake.store.db import session_scope
    from intake.store.models import Status, Submission, utcnow

    settings = make_settings("sqlite", redis=True, lease_seconds=60)
    sid = _queued_submission(settings)
    enqueue_submission(settings, sid)
    conn = redis_connection(settings)
    queue = get_queue(settings, connection=conn)
    job = queue.fetch_job(job_id_for(sid))
    # what RQ's worker does before it forks the horse (dequeue, job hash marked started) ...
    queue.remove(job)
    job.set_status(JobStatus.STARTED)
    # ... then SIGKILL: the horse never claimed it; the lease has long run out
    past = utcnow() - dt.timedelta(seconds=10 * settings.lease_seconds)
    with session_scope(settings) as session:
        session.execute(update(Submission).where(Submission.id == sid).values(updated_at=past))
        assert session.get(Submission, sid).status == Status.queued.value

    assert reconcile(settings, connection=conn) == 1, "the stranded submission was not enqueued again"
    assert queue.fetch_job(job_id_for(sid)).get_status() == JobStatus.QUEUED
    assert job_id_for(sid) in queue.job_ids


def test_queued_submission_whose_job_was_popped_by_a_dead_worker_is_enqueued_again(make_settings):
    """The second shape of the same gap: the worker took the job id off the queue (RQ moves it to
    its intermediate list) and died before marking it started. The job hash still says
    ``queued``, so the reconciler leaves it alone, but no queue holds it any more; RQ's own
    clean-up of the intermediate list runs every 10 minutes and needs two sightings a minute
    apart. Seen in the soak (job ``queued``, submission ``queued``, nothing running it)."""
    from rq.job import JobStatus

    from intake.queue import enqueue_submission, get_queue, job_id_for, redis_connection
    from intake.queue.reconcile import reconcile
    from intake.store.db import session_scope
    from intake.store.models import Submission, utcnow

    settings = make_settings("sqlite", redis=True, lease_seconds=60)
    sid = _queued_submission(settings)
    enqueue_submission(settings, sid)
    conn = redis_connection(settings)
    queue = get_queue(settings, connection=conn)
    job_id = job_id_for(sid)
    # the dequeue: off the queue, onto the intermediate list; then SIGKILL
    conn.lrem(queue.key, 0, job_id)
    conn.rpush(queue.key + ":intermediate", job_id)
    assert queue.fetch_job(job_id).get_status() == JobStatus.QUEUED and job_id not in queue.job_ids
    past = utcnow() - dt.timedelta(seconds=10 * settings.lease_seconds)
    with session_scope(settings) as session:
        session.execute(update(Submission).where(Submission.id == sid).values(updated_at=past))

    assert reconcile(settings, connection=conn) == 1, "the lost job was not replaced"
    assert job_id in queue.job_ids
