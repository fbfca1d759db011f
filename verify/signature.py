"""The customer's signature: which one, is it intact, does it cover the form, who signed, can the
bank trust and rely on it (ETSI EN 319 102-1, with pyHanko's AdES machinery), and is it qualified.

:func:`judge` fills the decision's state with the signature's reasons and facts and returns what
the form step needs (:class:`Signed`). The AdES indication and sub-indication are mapped onto
docintake's reason codes (:data:`SUBINDICATION_CODES`); anything not mapped is
``signature_invalid`` (fail closed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from forms.schema import SIGNATURE_FIELD
from verify.policy import Policy
from verify.report import Signer
from verify.revisions import later_changes

log = logging.getLogger(__name__)

_PADES_SUBFILTER = "/ETSI.CAdES.detached"
#: What pyHanko's validate_pdf_signature accepts for a /Sig (CMS over the ByteRange).
_SIGNATURE_SUBFILTERS = {_PADES_SUBFILTER, "/adbe.pkcs7.detached", "/PBAD.PAdES"}
_DOC_TS_SUBFILTER = "/ETSI.RFC3161"
#: Clock skew tolerated between a signer's (or TSA's) clock and ours.
CLOCK_SKEW = _dt.timedelta(minutes=5)


# -- the signature ------------------------------------------------------------------------------


@dataclass
class Signed:
    """The customer's signature as far as the form step needs it."""

    revision_bytes: bytes | None  # the bytes the signature covers up to its end (the signed revision)
    cert: Any | None  # asn1crypto certificate of the signer
    trusted_for_binding: bool  # only bind a signer whose signature was evaluated
    revision: int | None = None  # pyHanko's number of the signed revision
    #: Other signers who may be the customer (a container's further XAdES signatures).
    alternatives: tuple = ()


def judge(reader, data: bytes, policy: Policy, now: _dt.datetime, state) -> Signed | None:
    state.stage = "signature_invalid"
    try:
        signatures, doc_timestamps = _signatures_and_timestamps(reader)
    except Exception as exc:
        # a /Sig dictionary whose /Contents or /ByteRange cannot be read at all
        state.add("signature_invalid", f"a signature cannot be read: {type(exc).__name__}")
        return Signed(None, None, False)
    if len(signatures) + len(doc_timestamps) > policy.max_signatures:
        state.add("too_large", f"the PDF has more than {policy.max_signatures} signatures")
        return Signed(None, None, False)
    if not signatures:
        state.add("unsigned", "the document carries no signature")
        return None  # the form step reads the whole (unsigned) file, for the back office only
    chosen = next((s for s in signatures if s.field_name == SIGNATURE_FIELD), signatures[0])
    revision_bytes = _signed_revision_bytes(chosen, data)
    try:
        signed_rev = chosen.signed_revision
    except Exception:
        signed_rev = None
    cert = None
    try:
        cert = chosen.signer_cert
    except Exception:
        pass
    if cert is not None:
        state.signer = signer_of(cert)

    subfilter = str(chosen.sig_object.get("/SubFilter", ""))
    if subfilter not in _SIGNATURE_SUBFILTERS:
        state.add("signature_invalid", f"SubFilter {subfilter or 'missing'} is not a PDF signature format")
        return Signed(revision_bytes, cert, False, signed_rev)
    validated = asyncio.run(_validate(chosen, reader, doc_timestamps, policy, now, state))
    if validated is not None:
        state.indication = validated.result.ades_subindic.status.name
        state.subindication = validated.result.ades_subindic.standard_name
    if validated is None or validated.status is None:
        return Signed(revision_bytes, cert, False, signed_rev)
    status = validated.status
    state.validation = (chosen, validated.result)
    judge_time(state, now)

    # integrity and signature value
    if not status.intact or not status.valid:
        what = "the document bytes do not match the signed digest" if not status.intact else "the signature value is wrong"
        state.add("signature_invalid", what)
    # coverage, and nothing beyond the revisions the xref chain reaches
    _judge_coverage(status, state, reader, chosen)
    _judge_file_end(reader, data, chosen, signed_rev, revision_bytes, state)
    # certificate and algorithms, from the AdES indication and the certificate itself
    _judge_certificate(validated, cert, policy, state)
    # qualification (pyHanko's assessor ran at the proven signing time)
    _judge_qualification(validated, policy, state)
    # level
    if state.level is None:
        why = f"SubFilter {subfilter or 'missing'}" if subfilter != _PADES_SUBFILTER else "no signing-certificate attribute"
        state.add("signature_invalid", f"not a PAdES baseline signature ({why}); {policy.min_level} is required")
    elif not policy.level_at_least(validated.proven_level):
        if policy.level_at_least(state.level):
            state.add(
                "signature_invalid",
                f"the timestamps making this {state.level} are not from a trusted TSA; {policy.min_level} is required",
            )
        else:
            state.add("signature_invalid", f"signature level {state.level} is below the required {policy.min_level}")
    return Signed(revision_bytes, cert, True, signed_rev)


def _signed_revision_bytes(sig, data: bytes) -> bytes | None:
    try:
        br = [int(x) for x in sig.byte_range]
        if len(br) != 4 or br[0] != 0:
            return None
        end = br[2] + br[3]
        if not (0 < end <= len(data)):
            return None
        return data[:end]
    except Exception:
        return None


def _signatures_and_timestamps(reader) -> tuple[list, list]:
    """pyHanko's signatures, with a ``/Sig`` of SubFilter ``/ETSI.RFC3161`` counted as the document
    timestamp it is (SiVa's and some other tools type document timestamps ``/Sig``)."""
    regular, stamps = [], []
    for sig in reader.embedded_signatures:
        if sig.sig_object_type == "/DocTimeStamp" or str(sig.sig_object.get("/SubFilter", "")) == _DOC_TS_SUBFILTER:
            stamps.append(sig)
        elif sig.sig_object_type == "/Sig":
            regular.append(sig)
    return regular, stamps


def judge_time(state, now: _dt.datetime) -> None:
    """A proven or claimed signing time more than :data:`CLOCK_SKEW` after ``now`` is not believed."""
    for moment, what in ((state.timestamp_time, "the timestamp's time"), (state.signing_time, "the claimed signing time")):
        if moment is None:
            continue
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=_dt.timezone.utc)
        if aware > now + CLOCK_SKEW:
            state.add("signing_time_invalid", f"{what} {moment.isoformat(timespec='seconds')} lies in the future")


def _judge_file_end(reader, data: bytes, sig, signed_rev: int | None, revision_bytes: bytes | None, state) -> None:
    """``verify.fileend``: bytes after the final %%EOF, objects the xref chain does not reach."""
    from verify.fileend import trailing_bytes, unreached_after

    if revision_bytes is None or signed_rev is None or len(revision_bytes) == len(data):
        return  # the whole file is signed (or the signature reasons say what is wrong)
    try:
        problem = trailing_bytes(data) or unreached_after(reader, data, len(revision_bytes), signed_rev)
    except Exception as exc:  # fail closed
        problem = f"the end of the file cannot be checked ({type(exc).__name__})"
    if problem:
        state.add("modified_after_signing", problem)


async def _validate(sig, reader, doc_timestamps, policy: Policy, now: _dt.datetime, state) -> "Validated | None":
    """pyHanko's AdES validation (ETSI EN 319 102-1, :func:`_ades_process`: basic, with-time,
    past-signature and LTA), with proofs of existence from the signature timestamp, the document
    timestamps and the DSS. Revocation data issued after the signature timestamp proves that the
    certificate was not revoked at the time the timestamp proves. Returns None when the signature
    cannot be evaluated at all (a reason is recorded).
    """
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo

    revinfo = _embedded_revinfo(reader, sig)
    timing = ValidationTimingInfo(validation_time=now, best_signature_time=now, point_in_time_validation=False)
    try:
        # coverage + pyHanko's diff analysis under the strict policy (verify.revisions); judged below
        sig.compute_integrity_info(diff_policy=policy.pdf_validation_spec().diff_policy)
        result = await _ades_process(sig, doc_timestamps, revinfo, policy, timing)
    except SignatureValidationError as exc:
        state.add("signature_invalid", f"the signature cannot be evaluated: {exc.failure_message}")
        return None
    status = result.api_status
    if status is None:  # no status at all: the CMS structure could not be evaluated
        state.add("signature_invalid", f"the signature cannot be evaluated: {result.failure_msg or result.ades_subindic.name}")
        return Validated(result, None, revinfo)
    tst = status.timestamp_validity
    trusted_ts = tst is not None and tst.intact and tst.valid and tst.trusted
    if trusted_ts:
        state.timestamp_time = tst.timestamp
    ts_vc = policy.validation_context(now)
    if tst is None:  # AdES dropped a timestamp it could not trust; the level still counts a present one
        from pyhanko.sign.validation import generic_cms

        try:
            tst = (await generic_cms.collect_timing_info(sig.signer_info, ts_vc, raw_digest=sig.compute_digest())
                   ).get("timestamp_validity")
        except Exception:
            tst = None
    state.signing_time = status.signer_reported_dt or sig.self_reported_timestamp
    state.revocation_checked = _revocation_covered(sig.signer_cert, revinfo) or _revocation_covered(
        sig.signer_cert, _used_revinfo(result))
    stamps = await _later_doc_timestamps(sig, doc_timestamps, ts_vc, state)
    state.level, proven = _level(sig, reader, stamps, tst, revinfo)
    return Validated(result, status, revinfo, proven_level=proven, moment=state.timestamp_time or now)


async def _ades_process(sig, doc_timestamps, revinfo: "_Revinfo", policy: Policy, timing):
    """The ETSI EN 319 102-1 process the signature calls for.

    Basic validation (§5.3) without a signature timestamp, validation with time (§5.5) with one,
    both with the validation data the document embeds. When that ends INDETERMINATE and the
    document carries a DSS or later document timestamps, long-term validation (§5.6.3:
    past-signature validation with proofs of existence from the signature and document
    timestamps and the DSS): revocation data issued after the signature timestamp then proves
    that the certificate was not revoked at the proven signing time.
    """
    from pyhanko.sign.ades.report import AdESIndeterminate
    from pyhanko.sign.validation.ades import ades_basic_validation, ades_lta_validation, ades_with_time_validation
    from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
    from pyhanko.sign.validation.status import PdfSignatureStatus

    spec = policy.pdf_validation_spec()
    sig_spec = dataclasses.replace(spec.signature_validation_spec, local_knowledge=_local_knowledge(revinfo))
    integrity = sig.summarise_integrity_info()
    kwargs = dict(timing_info=timing, raw_digest=sig.compute_digest())
    if next(extract_tst_data_iter(sig.signer_info, signed=False), None) is not None:
        result = await ades_with_time_validation(
            sig.signed_data, sig_spec, extra_status_kwargs=integrity, status_cls=PdfSignatureStatus, **kwargs
        )
    else:
        # pyHanko 0.38's basic validation always builds a StandardCMSSignatureStatus: add the PDF part here
        result = await ades_basic_validation(sig.signed_data, sig_spec, **kwargs)
        if result.api_status is not None:
            base = {f.name: getattr(result.api_status, f.name) for f in dataclasses.fields(result.api_status)}
            result = dataclasses.replace(result, api_status=PdfSignatureStatus(**{**base, **integrity}))
    later_stamps = [ts for ts in doc_timestamps if ts.signed_revision > sig.signed_revision]
    if isinstance(result.ades_subindic, AdESIndeterminate) and (revinfo.has_dss or later_stamps):
        # What the document embeds exists now (ETSI EN 319 102-1 POE at the validation time);
        # pyHanko registers no POE for DSS certificates by itself, so a delegated OCSP responder's
        # certificate had none and past-signature validation failed with NO_POE.
        knowledge = sig_spec.local_knowledge
        poes = list(knowledge.assert_existence_known_at(timing.validation_time))
        lta_spec = dataclasses.replace(spec, signature_validation_spec=dataclasses.replace(
            spec.signature_validation_spec, local_knowledge=dataclasses.replace(knowledge, known_poes=poes)))
        return await ades_lta_validation(sig, lta_spec, timing_info=timing)
    return result


def _local_knowledge(revinfo: "_Revinfo"):
    """What the document embeds (DSS, adbe-revocationInfoArchival) as pyHanko's LocalKnowledge."""
    from pyhanko.sign.validation.policy_decl import LocalKnowledge
    from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

    ocsps = []
    for o in revinfo.ocsps:
        try:
            ocsps.extend(OCSPContainer.load_multi(o))
        except Exception:
            continue
    return LocalKnowledge(
        known_crls=[CRLContainer(c) for c in revinfo.crls], known_ocsps=ocsps, known_certs=list(revinfo.certs)
    )


@dataclass
class _Revinfo:
    certs: list
    crls: list
    ocsps: list
    has_dss: bool


def _embedded_revinfo(reader, sig) -> _Revinfo:
    """Certificates, CRLs and OCSP responses the document carries: the DSS and the
    signature's adbe-revocationInfoArchival attribute."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.errors import NoDSSFoundError

    certs: list = []
    crls: list = []
    ocsps: list = []
    has_dss = False
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        has_dss = True
        certs.extend(dss.load_certs())
    except NoDSSFoundError:
        dss = None
    except Exception as exc:
        log.info("unreadable DSS ignored: %s", type(exc).__name__)
        dss = None
    if dss is not None:
        crls.extend(_load_streams(dss.crls, "crl"))
        ocsps.extend(_load_streams(dss.ocsps, "ocsp"))
    try:
        for attr in sig.signer_info["signed_attrs"]:
            if attr["type"].native == "adobe_revocation_info_archival":
                for value in attr["values"]:
                    crls.extend(value["crl"] or [])
                    ocsps.extend(value["ocsp"] or [])
    except Exception:
        pass
    return _Revinfo(certs, crls, ocsps, has_dss)


def _load_streams(refs, kind: str) -> list:
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.pdf_utils.decode_limits import DecodePurpose

    purpose = DecodePurpose.CRL if kind == "crl" else DecodePurpose.OCSP_RESPONSE
    out = []
    for ref in refs:
        try:
            raw = ref.get_object().read_data(purpose)
            out.append(asn1_crl.CertificateList.load(raw) if kind == "crl" else asn1_ocsp.OCSPResponse.load(raw))
        except Exception:
            continue
    return out


def _revocation_covered(cert, revinfo: _Revinfo) -> bool:
    try:
        issuer = cert.issuer
        serial = cert.serial_number
        for c in revinfo.crls:
            if c["tbs_cert_list"]["issuer"] == issuer:
                return True
        for o in revinfo.ocsps:
            basic = o["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                if single["cert_id"]["serial_number"].native == serial:
                    return True
    except Exception:
        return False
    return False


def _used_revinfo(result) -> _Revinfo:
    """The CRLs and OCSP responses pyHanko's validation held (embedded or fetched online)."""
    crls, ocsps = [], []
    try:
        for vo in result.validation_objects:
            kind = getattr(vo.object_type, "name", "")
            if kind == "CRL":
                crls.append(vo.value.crl_data)
            elif kind == "OCSP_RESPONSE":
                ocsps.append(vo.value.ocsp_response_data)
    except Exception:
        pass
    return _Revinfo(certs=[], crls=crls, ocsps=ocsps, has_dss=False)


def embedded_revocation_time(cert, revinfo: _Revinfo) -> _dt.datetime | None:
    """The earliest revocation of ``cert`` that any embedded CRL or OCSP response states, or None.

    pyHanko's soft revocation checking ignores revocation data that is not fresh at the
    validation time, a "revoked" included. A revocation is final, so docintake reads it here
    too; the data is not verified, which can only reject (fail closed), never accept.
    """
    found: list[_dt.datetime] = []
    try:
        issuer, serial = cert.issuer, cert.serial_number
        for c in revinfo.crls:
            tbs = c["tbs_cert_list"]
            if tbs["issuer"] != issuer:
                continue
            for entry in tbs["revoked_certificates"] or []:
                if entry["user_certificate"].native == serial:
                    found.append(entry["revocation_date"].native)
        for o in revinfo.ocsps:
            basic = o["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cid = single["cert_id"]
                if cid["serial_number"].native != serial or single["cert_status"].name != "revoked":
                    continue
                if cid["hash_algorithm"]["algorithm"].native == "sha1" and cid["issuer_name_hash"].native != issuer.sha1:
                    continue
                found.append(single["cert_status"].chosen["revocation_time"].native)
    except Exception:
        return None
    return min(found) if found else None


async def _later_doc_timestamps(sig, doc_timestamps, ts_vc, state) -> list[tuple[int, bool]]:
    """``(revision, trusted)`` of the document timestamps after the signature.

    FORM.md: one is allowed only with a valid token over its own revision and no visible
    appearance (``verify.fileend.timestamp_widget_problem``); otherwise ``modified_after_signing``.
    """
    from pyhanko.sign.validation import generic_cms
    from pyhanko.sign.validation.status import SignatureCoverageLevel, TimestampSignatureStatus

    from verify.fileend import timestamp_widget_problem

    out: list[tuple[int, bool]] = []
    for ts in doc_timestamps:
        if sig.signed_revision is None or ts.signed_revision <= sig.signed_revision:
            continue
        problem = None
        try:
            coverage = ts.evaluate_signature_coverage()
            if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
                problem = "a document timestamp does not cover its whole revision"
            else:
                kw = await generic_cms.validate_tst_signed_data(ts.signed_data, ts_vc, ts.compute_digest)
                st = TimestampSignatureStatus(**kw)
                if not (st.intact and st.valid):
                    problem = "a document timestamp's token is not over its own revision or its signature is wrong"
                else:
                    why = timestamp_widget_problem(ts.sig_field)
                    if why:
                        problem = f"a document timestamp may be visible: {why}"
                    else:
                        out.append((ts.signed_revision, bool(st.trusted)))
        except Exception as exc:
            problem = f"a document timestamp cannot be evaluated ({type(exc).__name__})"
        if problem:
            state.add("modified_after_signing", problem)
    return out


def _level(sig, reader, doc_ts: list[tuple[int, bool]], tst, revinfo: _Revinfo) -> tuple[str | None, str | None]:
    """PAdES baseline level as ``(present, proven)``.

    B-B: ETSI.CAdES.detached with a signing-certificate attribute; B-T: + a signature
    timestamp or a later document timestamp; B-LT: + a DSS with validation data; B-LTA: + a
    document timestamp after the DSS. ``present`` counts timestamps that are intact and
    cryptographically valid; ``proven`` only those from a trusted TSA.
    """
    if str(sig.sig_object.get("/SubFilter", "")) != _PADES_SUBFILTER:
        return None, None
    try:
        attrs = {a["type"].native for a in sig.signer_info["signed_attrs"]}
    except Exception:
        return None, None
    if not attrs & {"signing_certificate_v2", "signing_certificate"}:
        return None, None
    sig_ts = tst is not None and tst.intact and tst.valid
    sig_ts_trusted = sig_ts and bool(tst.trusted)
    has_lt_data = revinfo.has_dss and bool(revinfo.crls or revinfo.ocsps or revinfo.certs)
    dss_revision = _dss_revision(reader) if has_lt_data else None

    def level(need_trust: bool) -> str:
        stamps = [rev for rev, trusted in doc_ts if trusted or not need_trust]
        if not ((sig_ts_trusted if need_trust else sig_ts) or stamps):
            return "B-B"
        if not has_lt_data:
            return "B-T"
        if dss_revision is not None and any(rev > dss_revision for rev in stamps):
            return "B-LTA"
        return "B-LT"

    return level(False), level(True)


def _dss_revision(reader) -> int | None:
    try:
        ref = reader.root.raw_get("/DSS")
        return reader.xrefs.get_last_change(ref.reference)
    except Exception:
        return None


def _judge_coverage(status, state, reader=None, sig=None) -> None:
    """Coverage and what follows the signed revision (FORM.md: only a DSS and document timestamps).

    pyHanko's diff analysis runs with ``verify.revisions.STRICT_DIFF_POLICY``; on top of its
    verdict, every later revision must be a DSS or document-timestamp revision
    (``verify.revisions.later_changes``), which also names what changed.
    """
    from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    coverage = status.coverage
    diff = status.diff_result
    state.coverage = coverage.name if coverage is not None else None
    if isinstance(diff, DiffResult):
        level = diff.modification_level
    elif diff is not None:
        level = ModificationLevel.OTHER
    elif coverage == SignatureCoverageLevel.ENTIRE_FILE:
        level = ModificationLevel.NONE
    else:
        level = None
    state.modification_level = level.name if level is not None else None
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return
    if coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        try:
            changes = later_changes(reader, sig.signed_revision)
        except Exception as exc:  # fail closed: what cannot be described is not accepted
            changes = f"the updates after the signature cannot be read ({type(exc).__name__})"
        if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES) and not changes:
            return
        if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
            state.modification_level = ModificationLevel.OTHER.name  # beyond what FORM.md allows
        if changes:
            state.add("modified_after_signing", changes)
            return
        what = {
            ModificationLevel.FORM_FILLING: "form fields were filled or another signature was added",
            ModificationLevel.ANNOTATIONS: "annotations were added or changed",
        }.get(level)
        if what is None:
            detail = str(diff)[:200] if diff is not None and not isinstance(diff, DiffResult) else ""
            what = "the document was changed" + (f" ({detail})" if detail else "")
        state.add("modified_after_signing", f"after the signature, {what}")
        return
    if coverage == SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START:
        state.add("modified_after_signing", "bytes were appended after the signed revision")
        return
    state.add("signature_invalid", "the signature's /ByteRange does not cover the document properly")


@dataclass(frozen=True)
class Validated:
    """pyHanko's AdES result for the customer's signature, and what docintake derived from it."""

    result: Any  # pyhanko.sign.validation.ades.AdESLTAValidationResult
    status: Any | None  # its PdfSignatureStatus (None: not evaluated)
    revinfo: "_Revinfo"
    proven_level: str | None = None
    moment: _dt.datetime | None = None  # the time the certificate is judged at (a trusted timestamp, else now)

    @property
    def subindication(self):
        return self.result.ades_subindic

    @property
    def best_signature_time(self) -> _dt.datetime | None:
        return getattr(self.result, "best_signature_time", None)


def _subindication_codes() -> dict:
    from pyhanko.sign.ades.report import AdESFailure as F
    from pyhanko.sign.ades.report import AdESIndeterminate as I

    return {
        F.HASH_FAILURE: "signature_invalid",
        F.SIG_CRYPTO_FAILURE: "signature_invalid",
        F.FORMAT_FAILURE: "signature_invalid",
        F.REVOKED: "certificate_revoked",
        F.NOT_YET_VALID: "certificate_expired",
        I.REVOKED_NO_POE: "certificate_revoked",
        I.REVOKED_CA_NO_POE: "certificate_revoked",
        I.EXPIRED: "certificate_expired",
        I.NOT_YET_VALID: "certificate_expired",
        I.OUT_OF_BOUNDS_NO_POE: "certificate_expired",
        I.OUT_OF_BOUNDS_NOT_REVOKED: "certificate_expired",
        I.CRYPTO_CONSTRAINTS_FAILURE: "weak_algorithm",
        I.CRYPTO_CONSTRAINTS_FAILURE_NO_POE: "weak_algorithm",
        I.NO_CERTIFICATE_CHAIN_FOUND: "untrusted_signer",
        I.CHAIN_CONSTRAINTS_FAILURE: "untrusted_signer",
        I.CERTIFICATE_CHAIN_GENERAL_FAILURE: "untrusted_signer",
        I.NO_SIGNING_CERTIFICATE_FOUND: "signature_invalid",
        I.SIG_CONSTRAINTS_FAILURE: "not_for_signing",
        I.TIMESTAMP_ORDER_FAILURE: "signing_time_invalid",
        I.REVOCATION_OUT_OF_BOUNDS_NO_POE: "certificate_revoked",
        I.NO_POE: "untrusted_signer",
        I.TRY_LATER: "untrusted_signer",
        I.SIGNED_DATA_NOT_FOUND: "signature_invalid",
        I.POLICY_PROCESSING_ERROR: "signature_invalid",
        I.SIGNATURE_POLICY_NOT_AVAILABLE: "signature_invalid",
        I.GENERIC: "signature_invalid",
    }


#: AdES sub-indication -> docintake reason code; a sub-indication not listed is ``signature_invalid``.
SUBINDICATION_CODES: dict = {}


def code_for(subindication) -> str | None:
    """The reason code of an AdES sub-indication (None for PASSED), fail closed."""
    from pyhanko.sign.ades.report import AdESPassed

    if subindication == AdESPassed.OK:
        return None
    if not SUBINDICATION_CODES:
        SUBINDICATION_CODES.update(_subindication_codes())
    return SUBINDICATION_CODES.get(subindication, "signature_invalid")


def _judge_certificate(v: Validated, cert, policy: Policy, state) -> None:
    """Certificate reasons from the AdES sub-indication, cross-checked by reading the certificate."""
    status = v.status
    moment: _dt.datetime = v.best_signature_time or v.moment or _dt.datetime.now(_dt.timezone.utc)
    indic = status.trust_problem_indic
    path = status.validation_path
    found: list[tuple[str, str]] = []

    # algorithms: the signature's digest and mechanism, and every certificate signature in the chain
    md = str(status.md_algorithm or "").lower()
    mechanism = str(status.pkcs7_signature_mechanism or "").lower()
    if md in policy.weak_digests:
        found.append(("weak_algorithm", f"the signature uses the digest {md}"))
    elif any(w in mechanism for w in policy.weak_digests):
        found.append(("weak_algorithm", f"the signature mechanism {mechanism} is not allowed"))
    chain = list(path) if path is not None else ([cert] if cert is not None else [])
    for c in chain:
        try:
            if c.self_signed == "maybe" or c.self_signed == "yes":
                continue  # a root's self-signature proves nothing either way
            hash_algo = c["signature_algorithm"].hash_algo
        except Exception:
            continue
        if hash_algo in policy.weak_digests:
            found.append(("weak_algorithm", f"a certificate in the chain is signed with {hash_algo}"))
            break

    # validity at the proven signing time (a trusted timestamp), else at the time of the decision
    if cert is not None:
        try:
            validity = cert["tbs_certificate"]["validity"]
            not_before = validity["not_before"].native
            not_after = validity["not_after"].native
            when = "the signature timestamp" if state.timestamp_time else "the time of the decision"
            if moment < not_before:
                found.append(("certificate_expired", f"the signer's certificate was not yet valid at {when}"))
            elif moment > not_after:
                found.append(("certificate_expired", f"the signer's certificate had expired at {when}"))
        except Exception:
            pass
    if status.revocation_details is not None:
        found.append(("certificate_revoked", "the signer's certificate (or its CA) is revoked"))
    revoked_at = embedded_revocation_time(cert, v.revinfo) if cert is not None else None
    if revoked_at is not None and revoked_at <= moment:
        found.append(("certificate_revoked", "the embedded revocation data says the certificate was revoked "
                                             "before the proven signing time"))

    # key usage: nonRepudiation (contentCommitment) is what a qualified e-signature certificate asserts
    if cert is not None:
        try:
            usages = set(cert.key_usage_value.native) if cert.key_usage_value is not None else set()
        except Exception:
            usages = set()
        if "non_repudiation" not in usages:
            found.append(("not_for_signing", "the certificate's key usage lacks nonRepudiation"))

    # the AdES verdict (ETSI EN 319 102-1), mapped onto the reason codes; fail closed
    for sub in (v.subindication, indic):
        code = code_for(sub) if sub is not None else None
        if code is None or any(c == code for c, _ in found):
            continue
        if code == "untrusted_signer" and found:
            continue  # a more specific certificate reason already explains the missing trust
        if code == "signature_invalid" and not (status.intact and status.valid):
            continue  # already said above
        message = {
            "untrusted_signer": "the signer's certificate does not chain to a configured trust anchor"
            if path is None else f"the certificate chain is not acceptable ({sub.name})",
            "certificate_expired": "a certificate in the chain was not valid at the proven signing time",
            "certificate_revoked": "the signer's certificate (or its CA) is revoked",
            "weak_algorithm": "an algorithm in the signature or its chain is not allowed",
        }.get(code, f"AdES validation: {sub.name}" + (f" ({v.result.failure_msg[:200]})" if v.result.failure_msg else ""))
        found.append((code, message))
    for code, message in found:
        state.add(code, message)


def _judge_qualification(v: Validated, policy: Policy, state) -> None:
    """QES: a qualified certificate for e-signatures on a QSCD, from a service granted on the trusted
    lists at the proven signing time (pyHanko's qualification assessor); and, when required, a
    qualified time-stamping service for the time proof."""
    from pyhanko.sign.validation.qualified.tsp import QcCertType
    from verify.trust import trust_source

    status = v.status
    state.trust_source = trust_source(status.validation_path, policy.trusted_lists)
    qr = getattr(status, "qualification_result", None)
    qualified = bool(
        qr is not None and qr.status.qualified and qr.status.qc_type == QcCertType.QC_ESIGN
        and qr.status.qc_key_security.is_qscd
    )
    state.qualified = qualified if status.validation_path is not None else None
    if not policy.require_qualified:
        return
    if status.validation_path is None:
        return  # untrusted: that reason says it
    if not qualified:
        if qr is None or not qr.status.qualified:
            why = "the certificate is not a qualified certificate from a service on the trusted lists"
        elif qr.status.qc_type != QcCertType.QC_ESIGN:
            why = f"the qualified certificate is not for e-signatures ({qr.status.qc_type.name})"
        else:
            why = "the private key is not on a qualified signature creation device"
        state.add("not_qualified", why)
    tst = status.timestamp_validity
    if state.timestamp_time is not None and tst is not None and not _qualified_tsa(tst, policy):
        state.add("not_qualified", "the signature timestamp is not from a qualified time-stamping service")


def _qualified_tsa(tst, policy: Policy) -> bool:
    from pyhanko.sign.validation.qualified.tsp import QTSTServiceInformation
    from pyhanko_certvalidator.authority import AuthorityWithCert

    lists = policy.trusted_lists
    if lists is None or tst.signing_cert is None:
        return False
    try:
        services = lists.registry.applicable_service_definitions(AuthorityWithCert(tst.signing_cert), tst.timestamp)
        if any(isinstance(s, QTSTServiceInformation) for s in services):
            return True
        path = tst.validation_path
        if path is not None:
            return any(isinstance(s, QTSTServiceInformation)
                       for s in lists.registry.applicable_tsps_on_path(path, tst.timestamp))
    except Exception:
        return False
    return False


def signer_of(cert) -> Signer:
    subject = _name_attrs(cert.subject)
    name = subject.get("common_name") or " ".join(
        x for x in (subject.get("given_name"), subject.get("surname")) if x
    ) or None
    issuer = _name_attrs(cert.issuer)
    try:
        serial = format(cert.serial_number, "x")
    except Exception:
        serial = None
    national, _why = certificate_national_id(cert)
    return Signer(
        name=name,
        national_id=national,
        issuer=issuer.get("common_name") or issuer.get("organization_name"),
        serial=serial,
    )


def _name_attrs(name) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for rdn in name.chosen:
            for atv in rdn:
                key = atv["type"].native
                value = atv["value"].native
                if isinstance(value, str) and key not in out:
                    out[key] = value
    except Exception:
        pass
    return out


_ETSI_ID = re.compile(r"([A-Z]{3})([A-Z]{2}):?-(.+)")


def _name_attr_counts(name) -> dict[str, int]:
    """How often each attribute type occurs in a name, over all its RDNs (multi-valued ones too)."""
    out: dict[str, int] = {}
    for rdn in name.chosen:
        for atv in rdn:
            key = atv["type"].native
            out[key] = out.get(key, 0) + 1
    return out


def certificate_national_id(cert) -> tuple[str | None, str]:
    """The national identity a certificate asserts, ``("LV-32000012345", "")``, or ``(None, why)``.

    ETSI EN 319 412-1 semantics identifier in the subject serialNumber: ``PNOLV-320000-12345``
    (country from the identifier, digits from the rest). A bare code (older Latvian
    certificates) takes its country from the subject's ``C``. Other identifier types
    (``IDC``, ``PAS``, ``TIN``, ...) identify a document, not a person's national code.
    """
    counts = _name_attr_counts(cert.subject)
    if counts.get("serial_number", 0) > 1 or counts.get("country_name", 0) > 1:
        # which one would a verifier bind? Any choice is an attacker's choice (FORM.md: one identity)
        return None, "the certificate's subject has more than one serialNumber or country (C)"
    attrs = _name_attrs(cert.subject)
    raw = (attrs.get("serial_number") or "").strip()
    if not raw:
        return None, "the certificate carries no subject serialNumber"
    m = _ETSI_ID.fullmatch(raw.upper())
    if m:
        kind, country, rest = m.groups()
        if kind != "PNO":
            return None, f"the certificate identifies the signer by {kind}, not by a personal code"
        code = rest
    elif re.fullmatch(r"[0-9][0-9-]*", raw):
        country = (attrs.get("country_name") or "").upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            return None, "the certificate's bare serialNumber has no subject country"
        code = raw
    else:
        return None, "the certificate's serialNumber is not a personal code"
    digits = code.replace("-", "")
    if not (digits.isascii() and digits.isdigit()) or code.count("-") > 1:
        return None, "the certificate's serialNumber is not a personal code"
    return f"{country}-{digits}", ""




# -- the public entry point for other signature formats (ASiC-E / XAdES, issue 11) ---------------


@dataclass(frozen=True)
class CertificateJudgement:
    """How docintake judges a signer certificate: the AdES view and docintake's reasons."""

    indication: str  # "PASSED" | "FAILED" | "INDETERMINATE"
    subindication: str  # ETSI name, "OK" when passed
    reasons: tuple  # verify.reasons.Reason, ranked; empty when the certificate is acceptable
    qualified: bool | None  # QES certificate (qualified, for e-signatures, QSCD) at the proof-of-existence time
    trust_source: str | None  # "trusted_list" | "trust_roots" | None
    validation_path: Any = None  # pyhanko_certvalidator ValidationPath, when one was found


def judge_certificate(
    cert,
    policy: Policy,
    *,
    other_certs=(),
    crls=(),
    ocsps=(),
    proof_of_existence: _dt.datetime | None = None,
    now: _dt.datetime | None = None,
) -> CertificateJudgement:
    """Judge a signer certificate as the PDF path does, for signatures pyHanko cannot read itself.

    ``cert`` (asn1crypto) with the certificates, CRLs and OCSP responses the signature embeds,
    judged at ``proof_of_existence`` (the time a trusted, qualified timestamp proves; else
    ``now``) against ``policy``'s trusted lists and explicit roots, revocation soft-checked
    as for PDFs (a revocation stated before the proven time rejects), key usage
    nonRepudiation, weak digests refused, and pyHanko's qualification assessor for QES.
    The caller checks the signature value and its timestamps. Never raises: any error is
    ``signature_invalid`` (fail closed).
    """
    return asyncio.run(judge_certificate_async(cert, policy, other_certs=other_certs, crls=crls, ocsps=ocsps,
                                               proof_of_existence=proof_of_existence, now=now))


async def judge_certificate_async(
    cert,
    policy: Policy,
    *,
    other_certs=(),
    crls=(),
    ocsps=(),
    proof_of_existence: _dt.datetime | None = None,
    now: _dt.datetime | None = None,
) -> CertificateJudgement:
    """:func:`judge_certificate` for callers already inside an event loop (the container path)."""
    from verify.reasons import Reason, ranked

    now = now or _dt.datetime.now(_dt.timezone.utc)
    moment = proof_of_existence or now
    try:
        return await _judge_certificate_async(cert, policy, list(other_certs), list(crls), list(ocsps), moment, now)
    except Exception as exc:  # noqa: BLE001 - fail closed
        return CertificateJudgement("INDETERMINATE", "GENERIC", tuple(ranked([Reason(
            "signature_invalid", None, f"the certificate could not be judged: {type(exc).__name__}")])), None, None)


def embedded_validation_context(policy: Policy, moment: _dt.datetime, *, certs=(), crls=(), ocsps=(),
                                now: _dt.datetime | None = None):
    """pyHanko's ValidationContext from ``policy``'s spec, judging at ``moment`` and knowing the
    certificates and revocation data a signature embeds (for its certificate and its timestamps)."""
    from pyhanko.sign.validation.policy_decl import bootstrap_validation_data_handlers
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo

    revinfo = _Revinfo(certs=list(certs), crls=list(crls), ocsps=list(ocsps), has_dss=False)
    spec = policy.pdf_validation_spec().signature_validation_spec
    point_in_time = now is not None and moment != now
    if point_in_time:
        # ETSI EN 319 102-1 / FORM.md: revocation data issued after the proven time (an LT signature's
        # OCSP fetched right after its timestamp) proves the certificate was not revoked then.
        cert_policy = spec.cert_validation_policy
        spec = dataclasses.replace(spec, cert_validation_policy=dataclasses.replace(
            cert_policy, revinfo_policy=dataclasses.replace(cert_policy.revinfo_policy, retroactive_revinfo=True)))
    spec = dataclasses.replace(spec, local_knowledge=_local_knowledge(revinfo))
    timing = ValidationTimingInfo(validation_time=moment, best_signature_time=moment,
                                  point_in_time_validation=point_in_time)
    handlers = bootstrap_validation_data_handlers(spec, timing_info=timing)
    vc = spec.cert_validation_policy.build_validation_context(timing_info=timing, handlers=handlers)
    vc.certificate_registry.register_multiple(list(certs))
    return vc, spec, revinfo


async def _judge_certificate_async(cert, policy, other_certs, crls, ocsps, moment, now) -> CertificateJudgement:
    from pyhanko.sign.ades.report import AdESPassed
    from pyhanko.sign.validation import generic_cms
    from pyhanko.sign.validation.qualified.assess import QualificationAssessor
    from pyhanko.sign.validation.qualified.tsp import QcCertType

    from verify.reasons import Reason, ranked
    from verify.trust import trust_source

    vc, spec, revinfo = embedded_validation_context(policy, moment, certs=other_certs, crls=crls, ocsps=ocsps, now=now)
    op = await generic_cms.validate_cert_usage(cert, vc, spec.key_usage_settings,
                                               vc.path_builder.async_build_paths_lazy(cert))
    path = op.success_result or op.error_path
    sub = AdESPassed.OK if op.success_result is not None else (op.error_subindic or AdESPassed.OK)
    reasons: list = []
    code = code_for(sub)
    if code is not None:
        reasons.append(Reason(code, None, f"AdES validation: {sub.name}"))
    revoked_at = embedded_revocation_time(cert, revinfo)
    if revoked_at is not None and revoked_at <= moment:
        reasons.append(Reason("certificate_revoked", None, "the revocation data says the certificate was revoked "
                                                           "before the proven signing time"))
    qualified = None
    if op.success_result is not None:
        qualified = False
        if policy.trusted_lists is not None:
            qr = QualificationAssessor(policy.trusted_lists.registry).check_entity_cert_qualified(path, moment)
            qualified = bool(qr.status.qualified and qr.status.qc_type == QcCertType.QC_ESIGN
                             and qr.status.qc_key_security.is_qscd)
        if policy.require_qualified and not qualified:
            reasons.append(Reason("not_qualified", None, "the certificate is not a qualified certificate for "
                                                         "e-signatures on a QSCD from a service on the trusted lists"))
    return CertificateJudgement(
        indication=sub.status.name, subindication=sub.standard_name, reasons=tuple(ranked(reasons)),
        qualified=qualified, trust_source=trust_source(op.success_result, policy.trusted_lists), validation_path=path,
    )
