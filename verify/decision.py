"""One decision: may the bank apply this signed PDF to the customer's profile?

``decide(data, policy, now=None) -> Report`` never raises and fails closed: a
document is accepted only when every step below ran to its end and found
nothing; any exception becomes the reason code of the step it happened in.

Steps (reasons in ``verify.reasons`` order):

1. the file: size (``too_large``), ``%PDF-`` header (``not_pdf``), objects, xref entries,
   revisions and fields counted in the raw bytes (``verify.limits``, ``too_large``), strict
   parse with pyHanko (``malformed_pdf``; objects re-written in a generation never freed, as
   poppler saves them, are tolerated up to the signed revision: ``verify.generations``),
   ``/Encrypt`` (``encrypted_pdf``, owner-password
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
   holds for that revision, every reachable reference leading to the same object in both
   (``verify.one_reading``, ``verify.generations``; ``malformed_pdf``), then
   (``unknown_form``, ``field_missing``, ``field_invalid`` from forms.rules); the bank's blank,
   only filled in, each field showing its value (``form_altered``, ``appearance_mismatch``,
   verify.as_seen);
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

from verify.as_seen import as_seen_reasons
from verify.etsi_report import etsi_report
from verify.memory import ceiling
from verify.policy import Policy
from verify.reasons import Reason
from verify.report import ACCEPTED, REJECTED, Report, Signer, mask_codes
from verify.signature import Signed, certificate_national_id, signer_of
from verify.signature import judge as judge_signature
from verify.streams import (
    StreamTooLarge,
    check_pdfminer_streams,
    decode_limits,
    stacked_filters,
)

log = logging.getLogger(__name__)

_PDF_MAGIC = b"%PDF-"
#: PDF readers accept the header within the first 1024 bytes (ISO 32000-2 §7.5.2 note).
_HEADER_WINDOW = 1024


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
    container: dict[str, Any] | None = None  # verify.container: format, data files, signatures
    signature_only: bool = False  # judge the signatures, not the form (``verify --signature-only``)
    indication: str | None = None
    subindication: str | None = None
    qualified: bool | None = None
    trust_source: str | None = None
    #: (EmbeddedPdfSignature, AdES result) of the customer's signature, for the ETSI report
    validation: tuple | None = None

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
            container=self.container,
            indication=self.indication,
            subindication=self.subindication,
            qualified=self.qualified,
            trust_source=self.trust_source,
            etsi_report=etsi_report(self.validation, self.qualified),
            elapsed=time.monotonic() - started,
        )


# ---------------------------------------------------------------------------------------------
# logging: pyHanko and certvalidator log certificate subjects (with personal codes) and
# tracebacks whose text repeats them. Their records are masked before any handler sees them.


#: A natural person's name as asn1crypto's ``Name.human_friendly`` writes it (pyHanko's "cert
#: context", path-building errors). A person's certificate has a given name or a surname; a CA's
#: has neither, so CA names stay readable for the operator.
_PERSON_NAME = re.compile(r"\b(Given Name|Surname|Common Name|Pseudonym): [^,\]\n]*")


def _redact_person_names(message: str) -> str:
    if "Given Name: " not in message and "Surname: " not in message:
        return message
    return _PERSON_NAME.sub(lambda m: f"{m.group(1)}: (redacted)", message)


class _MaskLibraryRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message} [{type(exc).__name__}: {exc}]"
            record.msg, record.args = _redact_person_names(mask_codes(message)), None
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
    signature_only: bool = False,
    received_at: _dt.datetime | None = None,
) -> Report:
    """Judge one document under ``policy``; ``now`` is the time of the decision (default: now).

    A signed container (ASiC-E) is decided by ``verify.container.decide`` inside the same
    time limit. ``signature_only``: judge the file and the signatures (validity, level,
    qualification) of any signed PDF or container, without reading the form or binding the signer
    (``docintake verify --signature-only``). ``received_at``: when the mail carrying it was
    received. Without a trusted timestamp the report's ``signing_time`` (the claimed time) is
    never later than that moment (FORM.md, Time).
    Never raises. Returns within about ``policy.timeout`` seconds.
    """
    started = time.monotonic()
    _mask_library_logs()
    try:
        data = bytes(data)
        state = _State(sha256=hashlib.sha256(data).hexdigest(), signature_only=signature_only)
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
    "container_invalid": "the signed container could not be read",
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
    inner = _State(sha256=state.sha256, signature_only=state.signature_only)
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
    from verify.container import looks_like_zip

    try:
        if looks_like_zip(data) and _PDF_MAGIC not in data[:_HEADER_WINDOW]:
            from verify.container.decide import decide_container

            decide_container(data, policy, now, state)
            state.complete = True
            return
        reader = _open(data, policy, state, state.signature_only)
        signed = judge_signature(reader, data, policy, now, state)
        _no_orphans_after(reader, signed)
        if not state.signature_only:
            _form_and_binding(data, reader, signed, policy, state)
        state.complete = True
    except _Reject as stop:
        state.reasons.extend(stop.reasons)


def _open(data: bytes, policy: Policy, state: _State, signature_only: bool = False):
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
    if signature_only and reader.xrefs.hybrid_xrefs_present:
        # A hybrid-reference file (a classic table plus an XRefStm, e.g. from Word's PDF export) may
        # read differently in readers that ignore the stream: never for a form (FORM.md, one
        # reading), but its signature alone can be judged, as other validators (SiVa, DSS) do.
        reader = _reader_class()(io.BytesIO(data), strict=False, decode_limits=decode_limits())
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
    7.3.7: a dictionary entry whose value is null is equivalent to an absent entry), and tolerating
    orphaned generations (``verify.generations``: refused after the signed revision, and no
    reachable reference may name another generation than the live one), reading object streams
    in linear time (``verify.object_streams``)."""
    global _READER_CLASS
    if _READER_CLASS is None:
        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.reader import PdfFileReader

        from verify.generations import orphans_tolerated
        from verify.object_streams import IndexedObjectStreams

        class Reader(IndexedObjectStreams, PdfFileReader):
            #: (revision, object number, generation) of objects re-written in a generation never
            #: freed (poppler's incremental save; verify.generations), which strict pyHanko refuses
            orphaned_generations: list[tuple[int, int, int]] = []

            def __init__(self, *args, **kwargs):
                with orphans_tolerated() as orphans:
                    super().__init__(*args, **kwargs)
                self.orphaned_generations = orphans

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


def _no_orphans_after(reader, signed: Signed | None) -> None:
    """An object re-written in a generation never freed is tolerated up to the signed revision
    (the one the form is read from, where every reference to it is checked); after it, a revision
    may only add validation data and timestamps, and pyHanko's diff analysis assumes consistent
    generations."""
    last = reader.xrefs.total_revisions - 1
    signed_revision = last if signed is None or signed.revision is None else signed.revision
    later = sorted({idnum for revision, idnum, _ in reader.orphaned_generations if revision > signed_revision})
    if later:
        raise _Reject(Reason(
            "malformed_pdf", None,
            f"a revision after the signature re-writes object(s) {', '.join(map(str, later[:3]))} "
            "in a generation that was never freed",
        ))


def _looks_encrypted(data: bytes) -> bool:
    tail = data[-4096:]
    return b"/Encrypt" in tail or re.search(rb"trailer\s*<<[^>]*/Encrypt", data[-65536:]) is not None


# -- the form -----------------------------------------------------------------------------------


def _form_and_binding(data: bytes, reader, signed: Signed | None, policy: Policy, state: _State) -> None:
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
        problem = _one_reading(reader, signed, pdf, policy, data)
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
        state.form_id = extraction.form_id
        state.form_version = extraction.form_version
        result = check_form(extraction)
        problems = list(result.problems)
        state.fields = dict(result.values)
        for p in problems:
            state.add(p.code, p.message, p.field)
        if signed is None or any(p.code == "unknown_form" for p in problems):
            return
        # what the customer saw: the bank's blank, only filled in, showing its values (verify.as_seen)
        state.stage = "form_altered"
        for reason in as_seen_reasons(reader, signed.revision, pdf.doc, extraction.form_version, data):
            state.add(reason.code, reason.message, reason.field)
    finally:
        try:
            pdf.flush_cache()
            pdf.stream.close()  # not pdf.close(): it builds every page first, only to close them
        except Exception:
            pass

    # the binding
    state.stage = "signer_mismatch"
    if signed.cert is None:
        state.add("signer_mismatch", "the signer's certificate cannot be read")
        return
    form_id = _form_national_id(extraction.values, result.values)
    why = ""
    for cert in (signed.cert, *signed.alternatives):
        cert_id, why = certificate_national_id(cert)
        if cert_id is not None and cert_id == form_id:
            if cert is not signed.cert:
                state.signer = signer_of(cert)
            return
    if len(signed.alternatives) == 0 and certificate_national_id(signed.cert)[0] is None:
        state.add("signer_mismatch", why)
    elif form_id is None:
        state.add("signer_mismatch", "the form names no valid national identity to compare with the signer")
    else:
        state.add("signer_mismatch", "the signer's personal code is not the one on the form")


def _integrity_failed(state: _State) -> bool:
    """The signature does not cover its revision: the bytes read are not a revision, the parsers'
    disagreement on them says nothing the signature reasons have not said."""
    return any(r.code in ("signature_invalid", "modified_after_signing") for r in state.reasons)


def _one_reading(reader, signed: Signed | None, pdf, policy: Policy, data: bytes) -> tuple[str, str] | None:
    """``verify.one_reading``: pdfplumber's document holds what pyHanko's signed revision holds."""
    from pyhanko.pdf_utils.misc import PdfReadError

    from forms.strict_reading import RecoveryRefused
    from verify import known_objects
    from verify.generations import TooManyObjects
    from verify.one_reading import TooManyFields, disagreement

    try:
        problem = disagreement(
            reader, None if signed is None else signed.revision, pdf.doc, policy.max_fields, policy.max_objects,
            known_objects.FileObjects.of(reader, data),
        )
    except (TooManyFields, TooManyObjects) as exc:
        return "too_large", str(exc)
    except RecoveryRefused as exc:
        return "malformed_pdf", f"the signed revision can only be read by recovering it: {exc}"
    except PdfReadError as exc:  # the generations walk reads objects nothing had read before
        return "malformed_pdf", f"the signed revision breaks the PDF rules: {exc}"
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
