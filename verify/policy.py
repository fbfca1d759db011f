"""The validation policy: what docintake trusts and how much work one document may cost.

A :class:`Policy` is immutable and holds parsed certificates, so one instance can be
built at start-up and shared by every decision (and every thread).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

#: PAdES baseline levels, weakest first.
LEVELS: tuple[str, ...] = ("B-B", "B-T", "B-LT", "B-LTA")
MiB = 1024 * 1024
#: Files considered when a trust-root directory is given.
_CERT_SUFFIXES = {".pem", ".crt", ".cer", ".der", ".cert"}


class PolicyError(ValueError):
    """The trust configuration cannot be read (a missing file, not a certificate, ...)."""


@dataclass(frozen=True)
class Policy:
    """How :func:`verify.decision.decide` judges a document.

    ``trust_roots``: the only anchors a signer (and a timestamp authority) may chain to.
    ``use_system_trust``: also trust the operating system's roots (off: a bank
    configures its qualified CAs explicitly). ``min_level``: the lowest PAdES baseline
    level accepted. ``allow_fetching``: fetch certificates/CRLs/OCSP online (off: only
    what the document embeds is used, revocation soft-fails). ``max_bytes``,
    ``max_pages``, ``timeout`` (seconds of wall-clock per decision): beyond them the
    document is ``too_large``. ``weak_digests``: digest algorithms refused in the
    signature and in the signer's certificate chain.

    Structural limits no parser path escapes (``verify.limits``; beyond them ``too_large``):
    ``max_objects`` (indirect objects, counted in the raw file before any parser runs),
    ``max_xref_entries`` (cross-reference entries), ``max_revisions`` (incremental updates + 1),
    ``max_fields`` (form field nodes), ``max_signatures`` (signatures and document timestamps).
    ``max_memory_mb``: the most address space the decision may add to its process
    (``verify.memory``; 0 turns the ceiling off). The bank's form has ~100 objects, ~40 fields,
    2 revisions once signed; the defaults leave room for real signing tools and 50-page scans.
    """

    trust_roots: tuple[asn1_x509.Certificate, ...] = ()
    use_system_trust: bool = False
    min_level: str = "B-B"
    allow_fetching: bool = False
    max_bytes: int = 20 * MiB
    max_pages: int = 50
    timeout: float = 30.0
    weak_digests: frozenset[str] = field(default_factory=lambda: frozenset({"md5", "sha1"}))
    #: A verified snapshot of the EU trusted lists (verify.trust.TrustedLists), or None.
    trusted_lists: Any = None
    #: FORM.md: the bank requires a qualified electronic signature (QES) and a qualified timestamp.
    require_qualified: bool = True
    max_objects: int = 20_000
    max_xref_entries: int = 50_000
    max_revisions: int = 32
    max_fields: int = 1000
    max_signatures: int = 16
    max_memory_mb: int = 250

    def __post_init__(self) -> None:
        if self.min_level not in LEVELS:
            raise PolicyError(f"min_level must be one of {', '.join(LEVELS)}, not {self.min_level!r}")
        limits = (self.max_bytes, self.max_pages, self.max_objects, self.max_xref_entries, self.max_revisions,
                  self.max_fields, self.max_signatures)
        if min(limits) <= 0 or not self.timeout > 0 or self.max_memory_mb < 0:
            raise PolicyError("limits must be positive")
        object.__setattr__(self, "trust_roots", tuple(self.trust_roots))
        object.__setattr__(self, "weak_digests", frozenset(d.lower() for d in self.weak_digests))

    @classmethod
    def load(
        cls,
        trust_roots: Iterable[str | os.PathLike] = (),
        *,
        trust_lists: str | os.PathLike | None = None,
        countries: Iterable[str] | None = None,
        service_types: Iterable[str] | None = None,
        **kw,
    ) -> "Policy":
        """Read trust roots from PEM or DER files and from directories of them (not recursive), and
        the trusted-list snapshot in ``trust_lists`` (verify.trust), limited to ``countries`` and
        ``service_types``."""
        lists = None
        if trust_lists is not None:
            from verify import trust

            try:
                lists = trust.load_snapshot(
                    trust_lists,
                    countries=tuple(countries or trust.DEFAULT_COUNTRIES),
                    service_types=tuple(service_types or trust.DEFAULT_SERVICE_TYPES),
                )
            except trust.TrustError as exc:
                raise PolicyError(str(exc)) from exc
        kw.setdefault("trusted_lists", lists)
        certs: list[asn1_x509.Certificate] = []
        seen: set[bytes] = set()
        for path in trust_roots:
            for cert in load_certificates(path):
                der = cert.dump()
                if der not in seen:
                    seen.add(der)
                    certs.append(cert)
        return cls(trust_roots=tuple(certs), **kw)

    def level_at_least(self, level: str | None) -> bool:
        return level in LEVELS and LEVELS.index(level) >= LEVELS.index(self.min_level)

    # -- pyHanko's validation specs, built once per policy -----------------------------------
    def _cached(self, name: str, build):
        value = self.__dict__.get(name)
        if value is None:
            value = build()
            object.__setattr__(self, name, value)
        return value

    def cert_validation_spec(self):
        """pyHanko's CertValidationPolicySpec: the trusted lists and the explicit roots as anchors,
        revocation checked where declared (soft: what is not available is said, not fatal), weak
        digests refused."""

        def build():
            from pyhanko_certvalidator.context import CertValidationPolicySpec
            from pyhanko_certvalidator.policy_decl import (
                CertRevTrustPolicy,
                DisallowWeakAlgorithmsPolicy,
                RevocationCheckingPolicy,
                RevocationCheckingRule,
            )

            from verify.trust import trust_manager

            roots = list(self.trust_roots)
            if self.use_system_trust:
                from pyhanko_certvalidator.registry import _system_trust_roots

                roots += _system_trust_roots()
            soft = RevocationCheckingRule.CHECK_IF_DECLARED_SOFT
            return CertValidationPolicySpec(
                trust_manager=trust_manager(self.trusted_lists, roots),
                revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(soft, soft)),
                algorithm_usage_policy=DisallowWeakAlgorithmsPolicy(weak_hash_algos=set(self.weak_digests)),
            )

        return self._cached("_cert_spec", build)

    def pdf_validation_spec(self):
        """pyHanko's PdfSignatureValidationSpec for ``ades_lta_validation``."""

        def build():
            from pyhanko.sign.validation.policy_decl import (
                PdfSignatureValidationSpec,
                RevinfoOnlineFetchingRule,
                RevocationInfoGatheringSpec,
                SignatureValidationSpec,
            )
            from pyhanko.sign.validation.settings import KeyUsageConstraints

            from verify.revisions import STRICT_DIFF_POLICY

            rule = RevinfoOnlineFetchingRule.ALWAYS_FETCH if self.allow_fetching else RevinfoOnlineFetchingRule.LOCAL_ONLY
            return PdfSignatureValidationSpec(
                signature_validation_spec=SignatureValidationSpec(
                    cert_validation_policy=self.cert_validation_spec(),
                    revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=rule),
                    key_usage_settings=KeyUsageConstraints(key_usage={"non_repudiation"}, match_all_key_usages=True),
                ),
                diff_policy=STRICT_DIFF_POLICY(),
            )

        return self._cached("_pdf_spec", build)

    def validation_context(self, now):
        """A ValidationContext built by pyHanko from the spec at ``now`` (for timestamp checks)."""
        from pyhanko.sign.validation.policy_decl import bootstrap_validation_data_handlers
        from pyhanko_certvalidator.ltv.types import ValidationTimingInfo

        spec = self.pdf_validation_spec().signature_validation_spec
        timing = ValidationTimingInfo(validation_time=now, best_signature_time=now, point_in_time_validation=False)
        handlers = bootstrap_validation_data_handlers(spec, timing_info=timing)
        return spec.cert_validation_policy.build_validation_context(timing_info=timing, handlers=handlers)


def load_certificates(path: str | os.PathLike) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM/DER file, or in the certificate files of a directory."""
    p = Path(path)
    if p.is_dir():
        out: list[asn1_x509.Certificate] = []
        for child in sorted(p.iterdir()):
            if child.is_file() and child.suffix.lower() in _CERT_SUFFIXES:
                out.extend(_read_file(child, keys_ok=True))
        if not out:
            raise PolicyError(f"no certificates in directory {p}")
        return out
    if not p.is_file():
        raise PolicyError(f"trust root not found: {p}")
    return _read_file(p)


def _read_file(p: Path, keys_ok: bool = False) -> list[asn1_x509.Certificate]:
    """Certificates in one file. In a directory (``keys_ok``) a PEM file holding only other
    blocks (a private key next to its certificate) is skipped; a damaged one is an error."""
    data = p.read_bytes()
    certs: list[asn1_x509.Certificate] = []
    try:
        if pem.detect(data):
            for type_name, _headers, der in pem.unarmor(data, multiple=True):
                if type_name in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                    certs.append(_parse(der))
        else:
            certs.append(_parse(data))
    except PolicyError:
        raise
    except Exception as exc:
        raise PolicyError(f"cannot read certificates from {p}: {exc}") from exc
    if not certs:
        if keys_ok and pem.detect(data):
            return []
        raise PolicyError(f"no certificate in {p}")
    return certs


def _parse(der: bytes) -> asn1_x509.Certificate:
    cert = asn1_x509.Certificate.load(der)
    cert.native  # force a full parse now, not in the middle of a decision
    return cert
