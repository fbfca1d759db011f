"""Judge one XAdES signer's certificate: the container path's single door to certificate validation.

The same pyhanko-certvalidator machinery and :class:`verify.policy.Policy` as PAdES
(trust roots, validation time, embedded revocation data, key usage nonRepudiation,
weak algorithms); the verdict is read by the same ``verify.decision._judge_certificate``.
Once the AdES / trusted-list machinery (qualification) is merged, this is the one
function to route to it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from verify.policy import Policy


async def judge_signer_certificate(
    cert,
    policy: Policy,
    moment: _dt.datetime,
    *,
    certs: list,
    crls: list,
    ocsps: list,
    digest: str | None = None,
    mechanism: str | None = None,
) -> dict[str, Any]:
    """pyHanko-style status keys (``trust_problem_indic``, ``validation_path``,
    ``revocation_details``, ``md_algorithm``, ...) for ``verify.decision._judge_certificate``."""
    from pyhanko.sign.validation.generic_cms import validate_cert_usage
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    from verify.decision import _Revinfo, _validation_context

    # FORM.md: revocation data issued after the signature timestamp proves non-revocation at
    # signing time (LT signatures fetch OCSP right after the timestamp), hence retroactive.
    vc = _validation_context(
        policy, _Revinfo(list(certs), list(crls), list(ocsps), False), moment=moment, retroactive_revinfo=True
    )
    ku = KeyUsageConstraints(key_usage={"non_repudiation"}, match_all_key_usages=True)
    result = await validate_cert_usage(cert, vc, ku, vc.path_builder.async_build_paths_lazy(cert))
    return {
        "trust_problem_indic": result.error_subindic,
        "validation_path": result.success_result or result.error_path,
        "revocation_details": result.revo_details,
        "validation_moment": moment,
        "md_algorithm": digest,
        "pkcs7_signature_mechanism": mechanism,
    }
