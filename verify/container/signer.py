"""Judge one XAdES signer's certificate: the container path's single door to certificate validation.

XAdES has no trust model of its own: the certificate goes through the same pyHanko AdES
machinery, trusted lists, explicit roots and qualification assessor as a PAdES signer
(:func:`verify.signature.judge_certificate_async`). Only what pyHanko cannot see here is
added: the weak-digest check of the XAdES signature's own digest and signature method.
"""

from __future__ import annotations

import datetime as _dt

from verify.policy import Policy
from verify.reasons import Reason
from verify.signature import CertificateJudgement, embedded_validation_context, judge_certificate_async


async def judge_signer_certificate(
    cert,
    policy: Policy,
    moment: _dt.datetime,
    *,
    certs: list,
    crls: list,
    ocsps: list,
    now: _dt.datetime,
    digest: str | None = None,
    mechanism: str | None = None,
) -> tuple[CertificateJudgement, list[Reason]]:
    """The judgement of ``cert`` at ``moment`` (a trusted timestamp's time, else ``now``), and the
    reasons to record: the judgement's, plus a weak digest in the XAdES signature itself."""
    judgement = await judge_certificate_async(
        cert, policy, other_certs=certs, crls=crls, ocsps=ocsps, proof_of_existence=moment, now=now
    )
    reasons = list(judgement.reasons)
    md, mech = (digest or "").lower(), (mechanism or "").lower()
    if md in policy.weak_digests:
        reasons.append(Reason("weak_algorithm", None, f"the signature uses the digest {md}"))
    elif any(w in mech for w in policy.weak_digests):
        reasons.append(Reason("weak_algorithm", None, f"the signature mechanism {mech} is not allowed"))
    return judgement, reasons


def timestamp_context(policy: Policy, moment: _dt.datetime, *, certs: list, crls: list, ocsps: list):
    """The ValidationContext a timestamp authority's chain is judged in, at the token's own time."""
    return embedded_validation_context(policy, moment, certs=certs, crls=crls, ocsps=ocsps)[0]
