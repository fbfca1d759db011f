"""The decision for an ASiC-E container, run by ``verify.decision.decide`` inside its time limit.

1. the ZIP (:mod:`.archive`) and its manifest (:mod:`.manifest`): bounds, names, ``mimetype``,
   manifest = data files (``container_invalid``);
2. every XAdES signature (:mod:`.xades`): references, signature value, timestamps; each must
   cover every data file (``container_invalid``), and each must be valid: integrity
   (``signature_invalid``), level, and its certificate (:mod:`.signer`, the certificate reasons);
3. exactly one data file, a PDF: opened and read by the SAME steps as a PAdES form
   (``verify.decision._open``, ``_form_and_binding``; its own PAdES signature, if any, is
   judged too); the customer is whichever XAdES signer's identity the form names.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from typing import Any

from verify.container.archive import Container, ContainerInvalid, open_container
from verify.container.manifest import read_manifest
from verify.container.signer import judge_signer_certificate, timestamp_context
from verify.container.xades import XadesFormatError, XadesSignature, check_timestamps, read_signature, signature_elements
from verify.container.xmlsafe import UnsafeXml, parse
from verify.policy import Policy
from verify.reasons import Reason
from verify.signature import judge_time
from verify.report import mask_codes

FORMAT = "ASiC-E"
#: Each signature hashes every data file (up to max_bytes): this bounds the work.
MAX_SIGNATURES = 32


def decide_container(data: bytes, policy: Policy, now: _dt.datetime, state) -> None:
    from verify.decision import _Reject

    state.stage = "container_invalid"
    state.container = {"format": FORMAT, "data_files": [], "signatures": []}
    try:
        container = open_container(data, policy.max_bytes)
        state.container["data_files"] = list(container.data_files)
        listed = read_manifest(container.manifest)
        _manifest_agrees(container, listed)
        elements = _signature_elements(container)
    except ContainerInvalid as exc:  # entry names come from the sender: masked like any message
        raise _Reject(Reason("container_invalid", None, mask_codes(str(exc)))) from exc

    state.stage = "signature_invalid"
    results = asyncio.run(_verify_all(elements, container, listed, policy, now, state))
    judge_time(state, now)  # the customer's claimed or proven signing time, as for PAdES
    if not state.signature_only:
        _the_form(container, [r for r in results if r is not None], policy, now, state)


def _manifest_agrees(container: Container, listed: dict[str, str]) -> None:
    for name in container.data_files:
        if name not in listed:
            raise ContainerInvalid(f"the file {name!r} is in the ZIP but not in the manifest")
    for name in listed:
        if name not in container.data_files:
            raise ContainerInvalid(f"the manifest lists {name!r}, which is not in the ZIP")
    if not container.data_files:
        raise ContainerInvalid("the container holds no data file")


def _signature_elements(container: Container) -> list[tuple[str, Any]]:
    out = []
    for name, raw in container.signature_files.items():
        try:
            root = parse(raw, name)
        except UnsafeXml as exc:
            raise ContainerInvalid(str(exc)) from exc
        found = signature_elements(root)
        if not found:
            raise ContainerInvalid(f"{name} holds no XML signature")
        out.extend((name, el) for el in found)
    if not out:
        raise ContainerInvalid("the container holds no signature (META-INF/*signatures*.xml)")
    if len(out) > MAX_SIGNATURES:
        raise ContainerInvalid(f"the container holds {len(out)} signatures; the limit is {MAX_SIGNATURES}")
    return out


async def _verify_all(elements, container: Container, listed: dict[str, str], policy: Policy, now, state):
    results: list[XadesSignature | None] = []
    for file, element in elements:
        results.append(await _verify_one(file, element, container, listed, policy, now, state))
    return results


async def _verify_one(file, element, container: Container, listed, policy: Policy, now, state):
    from verify.decision import _State
    from verify.signature import _Revinfo, _revocation_covered, signer_of

    label = f"signature {element.get('Id') or file}"
    entry: dict[str, Any] = {"file": file, "id": element.get("Id"), "signer": None, "level": None,
                             "qualified": None, "covers": [], "valid": False}
    state.container["signatures"].append(entry)
    try:
        result, extra = read_signature(file, element, container.data_files)
    except (XadesFormatError, ValueError) as exc:
        state.add("signature_invalid", f"{label} cannot be evaluated: {exc}")
        return None
    entry["covers"] = list(result.covers)
    found = _State(sha256="")
    for name in container.data_files:
        if name not in result.covers:
            state.add("container_invalid", f"{label} does not cover the data file {name!r}")
            found.add("container_invalid")
    for name, mime in result.mime_types.items():
        if name in listed and listed[name] and mime != listed[name]:
            state.add("container_invalid", f"{label} says {name!r} is {mime}, the manifest says {listed[name]}")
            found.add("container_invalid")
    revinfo = _Revinfo(result.certs, result.crls, result.ocsps, False)
    await check_timestamps(
        result, extra["tokens"],
        lambda moment: timestamp_context(policy, moment, certs=result.certs, crls=result.crls, ocsps=result.ocsps),
    )
    for code, message in result.problems:  # integrity, then the timestamps'
        found.add(code, message)
    if result.cert is not None:
        entry["signer"] = signer_of(result.cert).to_json()
        moment = result.trusted_time or now
        judgement, reasons = await judge_signer_certificate(
            result.cert, policy, moment, certs=result.certs, crls=result.crls, ocsps=result.ocsps, now=now,
            digest=result.digest, mechanism=result.mechanism,
        )
        result.judgement = judgement
        entry["qualified"] = judgement.qualified
        for reason in reasons:
            found.add(reason.code, reason.message)
    present, proven = result.level(False), result.level(True)
    entry["level"] = present
    if present is None:
        found.add("signature_invalid", "no signing-certificate property: not a XAdES baseline signature")
    elif not policy.level_at_least(proven):
        if policy.level_at_least(present):
            found.add("signature_invalid", f"the timestamps making this {present} are not from a trusted TSA")
        else:
            found.add("signature_invalid", f"signature level {present} is below the required {policy.min_level}")
    for reason in found.reasons:
        if reason.code != "container_invalid":
            state.add(reason.code, f"{label}: {reason.message}")
    entry["valid"] = not found.reasons
    if state.signer is None and result.cert is not None:  # the customer's, until the form names another
        _describe(state, result)
        state.revocation_checked = _revocation_covered(result.cert, revinfo)
    return result


def _describe(state, result: XadesSignature) -> None:
    from verify.signature import signer_of

    state.signer = signer_of(result.cert)
    judgement = getattr(result, "judgement", None)
    if judgement is not None:
        state.indication, state.subindication = judgement.indication, judgement.subindication
        state.qualified, state.trust_source = judgement.qualified, judgement.trust_source
    state.level = result.level(False)
    state.signing_time = result.signing_time
    state.timestamp_time = result.trusted_time


def _the_form(container: Container, results: list[XadesSignature], policy: Policy, now, state) -> None:
    from verify.decision import _form_and_binding, _no_orphans_after, _open, _Reject, _State
    from verify.signature import Signed
    from verify.signature import judge as judge_signature

    if len(container.data_files) != 1:
        raise _Reject(Reason("container_invalid", None,
                             f"the container holds {len(container.data_files)} data files; exactly one PDF is expected"))
    name, pdf = next(iter(container.data_files.items()))
    if b"%PDF-" not in pdf[:1024]:
        raise _Reject(Reason("container_invalid", None, mask_codes(f"the data file {name!r} is not a PDF")))
    reader = _open(pdf, policy, state)
    revision_bytes, revision = pdf, None
    if reader.embedded_regular_signatures:  # a PAdES form inside the container: judged as well
        inner = _State(sha256=state.sha256)
        signed = judge_signature(reader, pdf, policy, now, inner)
        for reason in inner.reasons:
            state.add(reason.code, f"the PDF's own signature: {reason.message}")
        if signed is None or signed.revision_bytes is None:
            return
        _no_orphans_after(reader, signed)
        revision_bytes, revision = signed.revision_bytes, signed.revision
    certs = [r.cert for r in results if r.cert is not None]
    if not certs:
        state.add("signer_mismatch", "no XAdES signer certificate can be read")
        return
    signer_before = state.signer
    _form_and_binding(pdf, reader, Signed(revision_bytes, certs[0], True, revision, alternatives=tuple(certs[1:])), policy, state)
    if state.signer is not signer_before:  # the form named another signer: report that one
        customer = next(r for r in results if r.cert is not None and _serial(r.cert) == state.signer.serial)
        _describe(state, customer)


def _serial(cert) -> str | None:
    try:
        return format(cert.serial_number, "x")
    except Exception:
        return None
