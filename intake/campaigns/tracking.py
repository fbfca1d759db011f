"""A form that comes back is linked to the campaign by customer and time; no tracking pixels.

The newest campaign that sent this customer a form before the submission arrived, and has not
been answered yet, gets the submission and its verdict (``applied`` or ``rejected``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from intake.store.models import Campaign, CampaignRecipient, Submission, utcnow


def track_verdict(session: Session, *, national_id: str | None, submission_id: int, status: str) -> None:
    """In the verdict's transaction (``worker.jobs.finish``)."""
    if not national_id or status not in ("applied", "rejected"):
        return
    received_at = session.scalar(select(Submission.received_at).where(Submission.id == submission_id))
    target = session.scalar(
        select(CampaignRecipient.id)
        .where(CampaignRecipient.national_id == national_id, CampaignRecipient.sent_at <= received_at,
               CampaignRecipient.status.in_(("sent", "received")))
        .order_by(CampaignRecipient.sent_at.desc()).limit(1))
    if target is None:
        return
    session.execute(update(CampaignRecipient).where(CampaignRecipient.id == target)
                    .values(status=status, submission_id=submission_id, answered_at=utcnow())
                    .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class CampaignStats:
    id: int
    name: str
    sent: int
    received: int
    applied: int
    rejected: int

    @property
    def response_rate(self) -> float:
        """Share of the customers written to who sent a signed form back."""
        return self.received / self.sent if self.sent else 0.0


def stats(session: Session, campaign_id: int | None = None) -> list[CampaignStats]:
    """Per campaign, newest first: sent, received (any verdict), applied, rejected."""
    r = CampaignRecipient
    q = (select(Campaign.id, Campaign.name, func.count(r.id),
                func.count(r.submission_id),
                func.sum(case((r.status == "applied", 1), else_=0)),
                func.sum(case((r.status == "rejected", 1), else_=0)))
         .join(r, r.campaign_id == Campaign.id, isouter=True)
         .group_by(Campaign.id, Campaign.name).order_by(Campaign.id.desc()))
    if campaign_id is not None:
        q = q.where(Campaign.id == campaign_id)
    return [CampaignStats(i, n, int(s or 0), int(rc or 0), int(a or 0), int(rj or 0))
            for i, n, s, rc, a, rj in session.execute(q)]
