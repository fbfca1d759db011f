"""One decision: may the bank apply this signed PDF to the customer's profile?

``decide(data, policy, now=None) -> Report`` never raises and fails closed: a
document is accepted only when every step below ran to its end and found
nothing; any exception becomes the reason code of the step it happened in.

Steps (reasons in ``verify.reasons`` order):

1. the file: size (``too_large``), ``%PDF-`` header (``not_pdf``), objects, xref entries,
   revisions and fields counted in the raw bytes (``verify.limits``, ``too_large``), strict
   parse with pyHanko (``malformed_pdf``), ``/Encrypt`` (``encrypted_pdf``, owner-password
   only included; ``/Encrypt null`` is absent), page count (``too_large``);
2. the signature: the one in ``customer_signature``, else the earliest one
   (``unsigned`` if none); integrity and signature value (``signature_invalid``);
   coverage: the whole file, or the whole signed revision followed only by DSS /
   document-timestamp updates, else ``modified_after_signing``, and nothing after the last
   revision or outside the xref chain, and no document timestamp that is visible or whose token
   is not over its revision (``verify.fileend``, ``modified_after_signing``); a proven or
   claimed signing time in the future (``signing_time_invalid``); the signer's
   certificate chain to the policy's roots at the time a trusted signature
   timestamp proves, else now (``untrusted_signer``, ``certificate_expired``,
   ``certificate_revoked``, ``weak_algorithm``, ``not_for_signing``); the PAdES level
   against ``policy.min_level`` (below it: ``signature_invalid``, see README);
3. the form, read from the bytes of the signed revision only, with pdfplumber once, which
   never recovers a damaged file (``forms.strict_reading``) and must hold the objects pyHanko
   holds for that revision (``verify.one_reading``; ``malformed_pdf``), then
   (``unknown_form``, ``field_missing``, ``field_invalid`` from forms.rules);
4. the binding: the national identity in the certificate's subject serialNumber (exactly one,
   and at most one ``C``) must be the form's ``id_country`` + personal code digits
   (``signer_mismatch``).

A wall-clock limit (``policy.timeout``) and a memory ceiling (``policy.max_memory_mb``,
``verify.memory``) bound the whole decision (``too_large``).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import io
import logging
import re
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from verify.memory import ceiling
from verify.policy import Policy
from verify.reasons import Reason
from verify.report import ACCEPTED, REJECTED, Report, Signer, mask_codes
from verify.revisions import STRICT_DIFF_POLICY, later_changes
from verify.streams import StreamTooLarge, check_pdfminer_streams, decode_limits, stacked_filters

log = logging.getLogger(__name__)

SIGNATURE_FIELD = "customer_signature"
_PDF_MAGIC = b"%PDF-"
#: PDF readers accept the header within the first 1024 bytes (ISO 32000-2 §7.5.2 note).
_HEADER_WINDOW = 1024
_PADES_SUBFILTER = "/ETSI.CAdES.detached"
#: What pyHanko's validate_pdf_signature accepts for a /Sig (CMS over the ByteRange).
_SIGNATURE_SUBFILTERS = {_PADES_SUBFILTER, "/adbe.pkcs7.detached", "/PBAD.PAdES"}
_DOC_TS_SUBFILTER = "/ETSI.RFC3161"


class _Timeout(BaseException):
    """Raised from the SIGALRM handler; a BaseException so no library's ``except Exception`` eats it."""


class _Reject(Exception):
    """Stop the pipeline here with these reasons."""

    def __init__(self, *reasons: Reason):
        super().__init__(", ".join(r.code for r in reasons))
        self.reasons = list(reasons)


@dataclass
class _State:
    """What the pipeline has learnt so far; becomes the Report."""

    sha256: str
    stage: str = "not_pdf"  # the reason code an unexpected exception in the current step maps to
    reasons: list[Reason] = field(default_factory=list)
    complete: bool = False
    signer: Signer | None = None
    signing_time: _dt.datetime | None = None
    timestamp_time: _dt.datetime | None = None
    level: str | None = None
    coverage: str | None = None
    modification_level: str | None = None
    form_id: str | None = None
    form_version: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    revocation_checked: bool | None = None

    def add(self, code: str, message: str = "", field_name: str | None = None) -> None:
        """Record a reason; a document-level code is recorded once (its first, most specific message)."""
        if field_name is None and any(r.code == code and r.field is None for r in self.reasons):
            return
        self.reasons.append(Reason(code, field_name, mask_codes(message)))

    def report(self, started: float) -> Report:
        reasons = list(self.reasons)
        if not reasons and not self.complete:  # fail closed: nothing is accepted by accident
            reasons.append(Reason("internal_error", None, "the decision did not run to its end"))
        return Report(
            verdict=ACCEPTED if not reasons else REJECTED,
            reasons=reasons,
            sha256=self.sha256,
            signer=self.signer,
            signing_time=self.signing_time,
            timestamp_time=self.timestamp_time,
            level=self.level,
            coverage=self.coverage,
            modification_level=self.modification_level,
            form_id=self.form_id,
            form_version=self.form_version,
            fields=self.fields,
            revocation_checked=self.revocation_checked,
            elapsed=time.monotonic() - started,
        )


# ---------------------------------------------------------------------------------------------
# logging: pyHanko and certvalidator log certificate subjects (with personal codes) and
# tracebacks whose text repeats them. Their records are masked before any handler sees them.


class _MaskLibraryRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message} [{type(exc).__name__}: {exc}]"
            record.msg, record.args = mask_codes(message), None
            record.exc_info = record.exc_text = record.stack_info = None
        except Exception:  # never let logging break a decision
            record.msg, record.args, record.exc_info, record.exc_text = "(unloggable record)", None, None, None
        return True


_MASK = _MaskLibraryRecords()
_LIBRARY_LOGGERS = ("pyhanko", "pyhanko_certvalidator", "pdfminer", "pdfplumber")


def _mask_library_logs() -> None:
    """Attach the mask to every logger of those libraries (filters do not inherit to children)."""
    manager = logging.Logger.manager
    for name in [*_LIBRARY_LOGGERS, *list(manager.loggerDict)]:
        if name.split(".")[0] in _LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            if _MASK not in logger.filters:
                logger.addFilter(_MASK)


# ---------------------------------------------------------------------------------------------
# the public entry point


def decide(
    data: bytes,
    policy: Policy,
    now: _dt.datetime | None = None,
    *,
    received_at: _dt.datetime | None = None,
) -> Report:
    """Judge one document under ``policy``; ``now`` is the time of the decision (default: now).

    ``received_at``: when the mail carrying it was received. Without a trusted timestamp the
    report's ``signing_time`` (the claimed time) is never later than that moment (FORM.md, Time).
    Never raises. Returns within about ``policy.timeout`` seconds.
    """
    started = time.monotonic()
    _mask_library_logs()
    try:
        data = bytes(data)
        state = _State(sha256=hashlib.sha256(data).hexdigest())
    except Exception:  # not bytes-like at all
        state = _State(sha256=hashlib.sha256(b"").hexdigest())
        state.add("not_pdf", "the input is not a byte string")
        return state.report(started)
    now = _aware(now) or _dt.datetime.now(_dt.timezone.utc)
    try:
        with ceiling(policy.max_memory_mb):
            if _can_use_alarm():
                with _alarm(policy.timeout):
                    _run_pipeline(data, policy, now, state)
            else:
                _run_in_thread(data, policy, now, state, policy.timeout)
    except _Timeout:
        state.reasons.append(Reason("too_large", None, f"the decision took longer than {policy.timeout:g} s"))
    except BaseException as exc:  # noqa: BLE001 - fail closed, whatever happened
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        state.reasons.append(_unexpected(state.stage, exc))
    _cap_claimed_time(state, _aware(received_at))
    report = state.report(started)
    log.info(
        "decision %s sha256=%s reasons=%s in %.3fs",
        report.verdict,
        report.sha256[:16],
        ",".join(report.codes) or "-",
        report.elapsed,
    )
    return report


def _aware(moment: _dt.datetime | None) -> _dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=_dt.timezone.utc)
    return moment


#: Clock skew tolerated between a signer's (or TSA's) clock and ours.
CLOCK_SKEW = _dt.timedelta(minutes=5)


def _judge_time(state: _State, now: _dt.datetime) -> None:
    """A proven or claimed signing time more than :data:`CLOCK_SKEW` after ``now`` is not believed."""
    for moment, what in ((state.timestamp_time, "the timestamp's time"), (state.signing_time, "the claimed signing time")):
        if moment is not None and _aware(moment) > now + CLOCK_SKEW:
            state.add("signing_time_invalid", f"{what} {moment.isoformat(timespec='seconds')} lies in the future")


def _cap_claimed_time(state: _State, received_at: _dt.datetime | None) -> None:
    """Without a trusted timestamp, the signature was made before the mail arrived, whatever it claims."""
    if received_at is None or state.timestamp_time is not None or state.signing_time is None:
        return
    if _aware(state.signing_time) > received_at:
        state.signing_time = received_at


def _unexpected(stage: str, exc: BaseException) -> Reason:
    if isinstance(exc, MemoryError):
        return Reason("too_large", None, "the decision needed more memory than its ceiling (verify.memory)")
    if _is_decode_limit(exc):
        return Reason("too_large", None, "a stream in the PDF expands beyond the decoding limits")
    log.warning("unexpected %s during %s: %s", type(exc).__name__, stage, mask_codes(str(exc))[:300])
    return Reason(stage, None, mask_codes(f"{_STAGE_MESSAGES.get(stage, 'processing failed')}: {type(exc).__name__}"))


def _is_decode_limit(exc: BaseException | None) -> bool:
    """pyHanko's PdfDecodeLimitError, also when another exception wraps it."""
    from pyhanko.pdf_utils.misc import PdfDecodeLimitError

    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, (PdfDecodeLimitError, StreamTooLarge)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


_STAGE_MESSAGES = {
    "not_pdf": "the file could not be read",
    "too_large": "the PDF's streams could not be checked",
    "malformed_pdf": "the PDF could not be parsed",
    "signature_invalid": "the signature could not be evaluated",
    "unknown_form": "the form could not be read",
    "signer_mismatch": "the signer could not be bound to the form",
}


# ---------------------------------------------------------------------------------------------
# time limit


def _can_use_alarm() -> bool:
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False  # inside a running event loop: asyncio.run() is impossible here, use a thread


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """SIGALRM after ``seconds``; any outer timer (RQ's job timeout) is saved and restored.

    If the outer timer would fire first, ours fires at that moment instead, and the
    outer one is re-armed to fire right after we return, so its owner still sees it.
    The handler raises only while armed, and the restoration runs even if the alarm
    lands in the middle of leaving the block.
    """
    armed = [True]

    def on_alarm(signum, frame):  # noqa: ARG001
        if armed[0]:
            armed[0] = False
            raise _Timeout()

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, 0)
    begun = time.monotonic()
    ours = seconds if not outer_delay else min(seconds, outer_delay)
    try:
        signal.setitimer(signal.ITIMER_REAL, max(ours, 1e-6))
        yield
    finally:
        try:
            armed[0] = False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler if previous_handler is not None else signal.SIG_DFL)
            if outer_delay:
                remaining = outer_delay - (time.monotonic() - begun)
                signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), outer_interval)


def _run_in_thread(data: bytes, policy: Policy, now: _dt.datetime, state: _State, timeout: float) -> None:
    """Fallback outside the main thread: run the pipeline in a daemon thread, wait at most ``timeout``.

    Python cannot stop a thread, so on time-out the work is abandoned (it ends on its own
    later); the caller gets ``too_large`` in time either way. The worker fills a private
    state which is copied back only when it finished in time.
    """
    inner = _State(sha256=state.sha256)
    error: list[BaseException] = []

    def target() -> None:
        try:
            _run_pipeline(data, policy, now, inner)
        except BaseException as exc:  # noqa: BLE001
            error.append(exc)

    worker = threading.Thread(target=target, name="docintake-decide", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _Timeout()
    state.__dict__.update(inner.__dict__)
    if error:
        raise error[0]


# ---------------------------------------------------------------------------------------------
# the pipeline


def _run_pipeline(data: bytes, policy: Policy, now: _dt.datetime, state: _State) -> None:
    import pdfplumber  # noqa: F401  # import the libraries now, so their loggers exist and get masked
    import pyhanko.sign.validation  # noqa: F401

    _mask_library_logs()
    try:
        reader = _open(data, policy, state)
        signed = _signature(reader, data, policy, now, state)
        _form_and_binding(data, reader, signed, policy, state)
        state.complete = True
    except _Reject as stop:
        state.reasons.extend(stop.reasons)


def _open(data: bytes, policy: Policy, state: _State):
    state.stage = "too_large"
    if len(data) > policy.max_bytes:
        raise _Reject(Reason("too_large", None, f"the file has {len(data)} bytes; the limit is {policy.max_bytes}"))
    state.stage = "not_pdf"
    if _PDF_MAGIC not in data[:_HEADER_WINDOW]:
        raise _Reject(Reason("not_pdf", None, "the file does not start with a PDF header"))

    from verify.limits import count_raw, over_limits, parsed_entries

    too_much = over_limits(count_raw(data, policy), policy)
    if too_much:
        raise _Reject(Reason("too_large", None, too_much))

    state.stage = "malformed_pdf"
    try:
        reader = _reader_class()(io.BytesIO(data), strict=True, decode_limits=decode_limits())
    except Exception as exc:
        if _is_decode_limit(exc) or isinstance(exc, MemoryError):
            raise _Reject(Reason("too_large", None, "a stream in the PDF expands beyond the decoding limits")) from exc
        if _looks_encrypted(data):
            raise _Reject(Reason("encrypted_pdf", None, "the PDF is encrypted")) from exc
        raise _Reject(Reason("malformed_pdf", None, f"the PDF cannot be parsed: {type(exc).__name__}")) from exc
    if parsed_entries(reader) > policy.max_xref_entries or reader.xrefs.total_revisions > policy.max_revisions:
        raise _Reject(Reason("too_large", None, "the PDF has too many cross-reference entries or revisions"))
    try:
        encrypted = reader.encrypt_dict is not None or reader.encrypted
    except Exception:
        encrypted = True  # an /Encrypt entry pyHanko cannot even read
    if encrypted:
        raise _Reject(Reason("encrypted_pdf", None, "the PDF is encrypted (a password, or permissions only)"))
    try:
        pages = reader.root["/Pages"]["/Count"]
        pages = int(pages)
    except Exception as exc:
        raise _Reject(Reason("malformed_pdf", None, "the PDF has no readable page tree")) from exc
    if pages > policy.max_pages:
        raise _Reject(Reason("too_large", None, f"the PDF has {pages} pages; the limit is {policy.max_pages}"))
    if pages < 1:
        raise _Reject(Reason("malformed_pdf", None, "the PDF has no pages"))
    return reader


_READER_CLASS = None


def _reader_class():
    """pyHanko's reader, reading a trailer ``/Encrypt null`` as the absent key it is (ISO 32000-2
    7.3.7: a dictionary entry whose value is null is equivalent to an absent entry)."""
    global _READER_CLASS
    if _READER_CLASS is None:
        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.reader import PdfFileReader

        class Reader(PdfFileReader):
            @property
            def encrypt_dict(self):
                try:
                    raw = self.trailer.raw_get("/Encrypt")
                except KeyError:
                    return None
                if isinstance(raw, generic.NullObject) or (
                    isinstance(raw, generic.IndirectObject) and isinstance(raw.get_object(), generic.NullObject)
                ):
                    return None
                return super().encrypt_dict

        _READER_CLASS = Reader
    return _READER_CLASS


def _looks_encrypted(data: bytes) -> bool:
    tail = data[-4096:]
    return b"/Encrypt" in tail or re.search(rb"trailer\s*<<[^>]*/Encrypt", data[-65536:]) is not None


# -- the signature ------------------------------------------------------------------------------


@dataclass
class _Signed:
    """The customer's signature as far as the form step needs it."""

    revision_bytes: bytes | None  # the bytes the signature covers up to its end (the signed revision)
    cert: Any | None  # asn1crypto certificate of the signer
    trusted_for_binding: bool  # only bind a signer whose signature was evaluated
    revision: int | None = None  # pyHanko's number of the signed revision


def _signature(reader, data: bytes, policy: Policy, now: _dt.datetime, state: _State) -> _Signed | None:
    state.stage = "signature_invalid"
    try:
        signatures, doc_timestamps = _signatures_and_timestamps(reader)
    except Exception as exc:
        # a /Sig dictionary whose /Contents or /ByteRange cannot be read at all
        state.add("signature_invalid", f"a signature cannot be read: {type(exc).__name__}")
        return _Signed(None, None, False)
    if not signatures:
        state.add("unsigned", "the document carries no signature")
        return None  # the form step reads the whole (unsigned) file, for the back office only
    chosen = next((s for s in signatures if s.field_name == SIGNATURE_FIELD), signatures[0])
    revision_bytes = _signed_revision_bytes(chosen, data)
    if len(signatures) + len(doc_timestamps) > policy.max_signatures:
        raise _Reject(Reason("too_large", None, f"the PDF has more than {policy.max_signatures} signatures"))
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
        state.signer = _signer_of(cert)

    subfilter = str(chosen.sig_object.get("/SubFilter", ""))
    if subfilter not in _SIGNATURE_SUBFILTERS:
        state.add("signature_invalid", f"SubFilter {subfilter or 'missing'} is not a PDF signature format")
        return _Signed(revision_bytes, cert, False, signed_rev)
    status = asyncio.run(_validate(chosen, reader, doc_timestamps, policy, now, state))
    _judge_time(state, now)
    if status is None:
        return _Signed(revision_bytes, cert, False, signed_rev)

    # integrity and signature value
    if not status["intact"] or not status["valid"]:
        what = "the document bytes do not match the signed digest" if not status["intact"] else "the signature value is wrong"
        state.add("signature_invalid", what)
    # coverage, and nothing beyond the revisions the xref chain reaches
    _judge_coverage(status, state, reader, chosen)
    _judge_file_end(reader, data, chosen, signed_rev, revision_bytes, state)
    # certificate and algorithms
    _judge_certificate(status, cert, policy, state)
    # level
    if state.level is None:
        why = f"SubFilter {subfilter or 'missing'}" if subfilter != _PADES_SUBFILTER else "no signing-certificate attribute"
        state.add("signature_invalid", f"not a PAdES baseline signature ({why}); {policy.min_level} is required")
    elif not policy.level_at_least(status.get("proven_level")):
        if policy.level_at_least(state.level):
            state.add(
                "signature_invalid",
                f"the timestamps making this {state.level} are not from a trusted TSA; {policy.min_level} is required",
            )
        else:
            state.add("signature_invalid", f"signature level {state.level} is below the required {policy.min_level}")
    return _Signed(revision_bytes, cert, True, signed_rev)


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


def _judge_file_end(reader, data: bytes, sig, signed_rev: int | None, revision_bytes: bytes | None,
                    state: _State) -> None:
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


async def _validate(sig, reader, doc_timestamps, policy: Policy, now: _dt.datetime, state: _State) -> dict | None:
    """pyHanko's validate_pdf_signature, in the same steps, with our validation time.

    The signature timestamp is validated first; a trusted one fixes the time at which the
    signer's certificate is judged (else ``now``). Returns the PdfSignatureStatus kwargs,
    or None when the signature cannot be evaluated (a reason is recorded).
    """
    from pyhanko.sign.validation import generic_cms
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    revinfo = _embedded_revinfo(reader, sig)
    ts_vc = _validation_context(policy, revinfo, moment=None if now is None else now)
    try:
        # coverage + pyHanko's diff analysis under the strict policy (verify.revisions); judged below
        sig.compute_integrity_info(diff_policy=STRICT_DIFF_POLICY())
        kwargs = sig.summarise_integrity_info()
        timing = await generic_cms.collect_timing_info(
            sig.signer_info, ts_vc, raw_digest=sig.compute_digest
        )
    except SignatureValidationError as exc:
        state.add("signature_invalid", f"the signature cannot be evaluated: {exc.failure_message}")
        return None
    kwargs.update(timing)
    tst = kwargs.get("timestamp_validity")
    trusted_ts = tst is not None and tst.intact and tst.valid and tst.trusted
    if trusted_ts:
        state.timestamp_time = tst.timestamp
    claimed = kwargs.get("signer_reported_dt") or sig.self_reported_timestamp
    state.signing_time = claimed
    moment = tst.timestamp if trusted_ts else now
    signer_vc = _validation_context(policy, revinfo, moment=moment)
    ku = KeyUsageConstraints(key_usage={"non_repudiation"}, match_all_key_usages=True)
    try:
        kwargs = await generic_cms.cms_basic_validation(
            sig.signed_data,
            raw_digest=sig.compute_digest(),
            validation_context=signer_vc,
            status_kwargs=kwargs,
            key_usage_settings=ku,
        )
    except SignatureValidationError as exc:
        state.add("signature_invalid", f"the signature cannot be evaluated: {exc.failure_message}")
        return None
    kwargs["validation_moment"] = moment
    state.revocation_checked = _revocation_covered(sig.signer_cert, revinfo)
    stamps = await _later_doc_timestamps(sig, doc_timestamps, ts_vc, state)
    state.level, kwargs["proven_level"] = _level(sig, reader, stamps, tst, revinfo)
    return kwargs


async def _later_doc_timestamps(sig, doc_timestamps, ts_vc, state: _State) -> list[tuple[int, bool]]:
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


def _validation_context(policy: Policy, revinfo: _Revinfo, moment: _dt.datetime | None):
    from pyhanko_certvalidator import ValidationContext

    kwargs: dict[str, Any] = dict(
        other_certs=list(revinfo.certs),
        crls=list(revinfo.crls),
        ocsps=list(revinfo.ocsps),
        allow_fetching=policy.allow_fetching,
        revocation_mode="soft-fail",
        weak_hash_algos=set(policy.weak_digests),
    )
    if policy.use_system_trust:
        kwargs["extra_trust_roots"] = list(policy.trust_roots)
    else:
        kwargs["trust_roots"] = list(policy.trust_roots)
    if moment is not None and not policy.allow_fetching:
        kwargs["moment"] = moment
    return ValidationContext(**kwargs)


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


def _judge_coverage(status: dict, state: _State, reader=None, sig=None) -> None:
    """Coverage and what follows the signed revision (FORM.md: only a DSS and document timestamps).

    pyHanko's diff analysis runs with ``verify.revisions.STRICT_DIFF_POLICY``; on top of its
    verdict, every later revision must be a DSS or document-timestamp revision
    (``verify.revisions.later_changes``), which also names what changed.
    """
    from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    coverage = status.get("coverage")
    diff = status.get("diff_result")
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


_EXPIRY_INDICS = {"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED", "NOT_YET_VALID"}
_WEAK_INDICS = {"CRYPTO_CONSTRAINTS_FAILURE", "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"}
_REVOKED_INDICS = {"REVOKED", "REVOKED_NO_POE", "REVOKED_CA_NO_POE"}


def _judge_certificate(status: dict, cert, policy: Policy, state: _State) -> None:
    """Certificate reasons from pyHanko's verdict, cross-checked by reading the certificate."""
    moment: _dt.datetime = status.get("validation_moment") or _dt.datetime.now(_dt.timezone.utc)
    indic = status.get("trust_problem_indic")
    indic_name = getattr(indic, "name", None)
    path = status.get("validation_path")
    found: list[tuple[str, str]] = []

    # algorithms: the signature's digest and mechanism, and every certificate signature in the chain
    md = str(status.get("md_algorithm") or "").lower()
    mechanism = str(status.get("pkcs7_signature_mechanism") or "").lower()
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
    if indic_name in _WEAK_INDICS and not any(code == "weak_algorithm" for code, _ in found):
        found.append(("weak_algorithm", "an algorithm in the signature or its chain is not allowed"))

    # validity at the validation time
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
    if indic_name in _EXPIRY_INDICS and not any(code == "certificate_expired" for code, _ in found):
        found.append(("certificate_expired", "a certificate in the chain was not valid at the validation time"))

    if status.get("revocation_details") is not None or indic_name in _REVOKED_INDICS:
        found.append(("certificate_revoked", "the signer's certificate (or its CA) is revoked"))

    # key usage: nonRepudiation (contentCommitment) is what a qualified e-signature certificate asserts
    if cert is not None:
        try:
            usages = set(cert.key_usage_value.native) if cert.key_usage_value is not None else set()
        except Exception:
            usages = set()
        if "non_repudiation" not in usages:
            found.append(("not_for_signing", "the certificate's key usage lacks nonRepudiation"))

    # trust
    trusted = indic is None and path is not None
    if not trusted and not found:
        if indic_name == "NO_CERTIFICATE_CHAIN_FOUND" or path is None:
            found.append(("untrusted_signer", "the signer's certificate does not chain to a configured trust root"))
        else:
            found.append(("untrusted_signer", f"the certificate chain is not acceptable ({indic_name})"))
    elif indic_name == "NO_CERTIFICATE_CHAIN_FOUND":
        found.append(("untrusted_signer", "the signer's certificate does not chain to a configured trust root"))
    for code, message in found:
        state.add(code, message)


def _signer_of(cert) -> Signer:
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


def _name_attr_counts(name) -> dict[str, int]:
    """How often each attribute type occurs in a name, over all its RDNs (multi-valued ones too)."""
    out: dict[str, int] = {}
    for rdn in name.chosen:
        for atv in rdn:
            key = atv["type"].native
            out[key] = out.get(key, 0) + 1
    return out


_ETSI_ID = re.compile(r"([A-Z]{3})([A-Z]{2}):?-(.+)")


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


# -- the form -----------------------------------------------------------------------------------


def _form_and_binding(data: bytes, reader, signed: _Signed | None, policy: Policy, state: _State) -> None:
    if signed is not None and signed.revision_bytes is None:
        return  # no signed revision to read; the signature reasons say why
    revision = data if signed is None else signed.revision_bytes
    # pdfminer decodes without any limit: bound what it will decode first (verify.streams)
    state.stage = "too_large"
    if stacked_filters(revision):
        state.add("too_large", "a stream applies several compression filters on top of each other")
        return
    try:
        check_pdfminer_streams(reader, None if signed is None else signed.revision)
    except StreamTooLarge as exc:
        state.add("too_large", str(exc))
        return
    state.stage = "malformed_pdf"
    import pdfplumber

    from forms.extract import ExtractionError, RecoveryNeeded, extract_fields
    from forms.rules import check_form

    try:
        pdf = pdfplumber.open(io.BytesIO(revision))
    except Exception as exc:
        state.add("malformed_pdf", f"the signed revision cannot be opened: {type(exc).__name__}")
        return
    try:
        problem = _one_reading(reader, signed, pdf, policy)
        if problem and not (problem[0] == "malformed_pdf" and _integrity_failed(state)):
            state.add(*problem)
            return
        state.stage = "unknown_form"
        try:
            extraction = extract_fields(pdf)
        except RecoveryNeeded as exc:
            state.add("malformed_pdf", f"the signed revision can only be read by recovering it: {exc}")
            return
        except ExtractionError as exc:
            state.add("unknown_form", f"the form structures cannot be read: {exc}")
            return
    finally:
        try:
            pdf.close()
        except Exception:
            pass
    state.form_id = extraction.form_id
    state.form_version = extraction.form_version
    result = check_form(extraction)
    problems = list(result.problems)
    state.fields = dict(result.values)
    for p in problems:
        state.add(p.code, p.message, p.field)
    if signed is None or any(p.code == "unknown_form" for p in problems):
        return

    # the binding
    state.stage = "signer_mismatch"
    if signed.cert is None:
        state.add("signer_mismatch", "the signer's certificate cannot be read")
        return
    cert_id, why = certificate_national_id(signed.cert)
    if cert_id is None:
        state.add("signer_mismatch", why)
        return
    form_id = _form_national_id(extraction.values, result.values)
    if form_id is None:
        state.add("signer_mismatch", "the form names no valid national identity to compare with the signer")
    elif form_id != cert_id:
        state.add("signer_mismatch", "the signer's personal code is not the one on the form")


def _integrity_failed(state: _State) -> bool:
    """The signature does not cover its revision: the bytes read are not a revision, the parsers'
    disagreement on them says nothing the signature reasons have not said."""
    return any(r.code in ("signature_invalid", "modified_after_signing") for r in state.reasons)


def _one_reading(reader, signed: _Signed | None, pdf, policy: Policy) -> tuple[str, str] | None:
    """``verify.one_reading``: pdfplumber's document holds what pyHanko's signed revision holds."""
    from forms.strict_reading import RecoveryRefused
    from verify.one_reading import TooManyFields, disagreement

    try:
        problem = disagreement(reader, None if signed is None else signed.revision, pdf.doc, policy.max_fields)
    except TooManyFields as exc:
        return "too_large", str(exc)
    except RecoveryRefused as exc:
        return "malformed_pdf", f"the signed revision can only be read by recovering it: {exc}"
    except Exception as exc:  # fail closed
        return "malformed_pdf", f"the two parsers' views cannot be compared ({type(exc).__name__})"
    if problem:
        return "malformed_pdf", problem
    return None


def _form_national_id(raw: dict, checked: dict) -> str | None:
    from forms.identity import national_id

    for values in (checked, raw):
        country, code = values.get("id_country"), values.get("personal_code")
        if isinstance(country, str) and isinstance(code, str) and country and code:
            try:
                return national_id(country, code)
            except ValueError:
                continue
    return None
