"""A throw-away test PKI and a PAdES signer, for tests, ``docintake demo`` and the benchmark.

NEVER a production trust anchor: every private key is written to disk in the
clear, next to the certificates.

Layout written by :meth:`DemoPKI.create` (idempotent; :meth:`DemoPKI.load`
reads it back)::

    root.pem / root.key.pem                  Demo Root CA (the trust anchor)
    intermediate.pem / intermediate.key.pem  Demo Qualified Signature CA
    tsa.pem / tsa.key.pem                    Demo TSA (issued by the root)
    other-root.pem / other-root.key.pem      an untrusted root, for "untrusted"
    other-intermediate.pem / ...key.pem      its issuing CA
    persons/<slug>.pem / <slug>.key.pem      person certificates, made on demand

All keys but the TSA's are EC P-256 (keygen takes well under a millisecond), so
creating a person is cheap (pyHanko's in-process DummyTimeStamper needs RSA, so the
TSA has one RSA 2048 key, made once per directory); person certificates are also cached in memory and on disk.

Person certificates follow ETSI EN 319 412-1: the subject ``serialNumber``
carries the semantics identifier ``PNO`` + country + ``-`` + personal code,
e.g. ``PNOLV-320000-12345``. Variants (``variant=``):

==================  ============================================================
``None``            a good signer certificate (nonRepudiation, valid now)
``"bare"``          old Latvian style: serialNumber is the bare code, ``C`` = country
``"idc"``           serialNumber ``IDCLV-...`` (identity card number, not a person code)
``"expired"``       validity ended in 2021
``"not_yet_valid"`` validity starts next year
``"self_signed"``   self-signed, not issued by the demo CA
``"untrusted"``     issued by a CA under a root nobody trusts
``"no_nonrepudiation"``  key usage digitalSignature only
``"sha1"``          the certificate itself is signed with ECDSA-SHA1
``"revoked"``       revoked by the intermediate (see :meth:`DemoPKI.crl`)
``"not_qualified"`` no qualified-certificate statements (an advanced, not a qualified, signature)
==================  ============================================================

Person certificates (but ``not_qualified``) carry the ETSI EN 319 412-5 QCStatements of a
qualified certificate for e-signatures on a QSCD (QcCompliance, QcSSCD, QcType esign).

The test trusted lists (:meth:`DemoPKI.trust_lists`): ``lotl-signer`` signs a LOTL pointing at
an LV list signed by ``tl-signer``, which grants the demo root CA as ``CA/QC`` and the TSA as
``TSA/QTST``; :attr:`DemoPKI.trust_lists_path` is the verified snapshot docintake reads
(``trust-lists/``), :attr:`DemoPKI.lotl_signer_path` the LOTL signer to pin.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DemoPKI", "Identity", "VARIANTS", "sign_pdf"]

VARIANTS = (
    None,
    "bare",
    "idc",
    "expired",
    "not_yet_valid",
    "self_signed",
    "untrusted",
    "no_nonrepudiation",
    "sha1",
    "revoked",
    "not_qualified",
)

_UTC = _dt.timezone.utc
#: Declared in person certificates; never fetched (``.invalid`` cannot resolve).
DEMO_CRL_URL = "http://crl.docintake-demo.invalid/intermediate.crl"
#: CA validity: wide enough that "expired" person certs still nest inside it.
_CA_FROM = _dt.datetime(2019, 1, 1, tzinfo=_UTC)
_CA_UNTIL = _dt.datetime(2045, 1, 1, tzinfo=_UTC)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_UTC).replace(microsecond=0)


@dataclass(frozen=True)
class _Pair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, directory: Path, stem: str) -> None:
        (directory / f"{stem}.pem").write_bytes(self.cert_pem)
        (directory / f"{stem}.key.pem").write_bytes(self.key_pem)

    @classmethod
    def read(cls, directory: Path, stem: str) -> "_Pair":
        cert = x509.load_pem_x509_certificate((directory / f"{stem}.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / f"{stem}.key.pem").read_bytes(), None)
        assert isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
        return cls(cert, key)

    @property
    def asn1_cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        return asn1_keys.PrivateKeyInfo.load(
            self.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@dataclass(frozen=True)
class Identity:
    """A signer: certificate, private key and the chain to present (leaf first, root last)."""

    name: str
    national_id: str | None  # e.g. "LV-32000012345" as the form would state it; None for broken identifiers
    serial_number: str  # the subject serialNumber attribute as written in the certificate
    variant: str | None
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = field(default=())
    #: The DemoPKI that issued it (its TSA serves ``sign_pdf(..., timestamp=True)``).
    pki: "DemoPKI | None" = field(default=None, compare=False, repr=False)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def asn1_cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        return _Pair(self.cert, self.key).asn1_key

    @property
    def asn1_chain(self) -> list[asn1_x509.Certificate]:
        return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in self.chain]


def _name(cn: str, *, org: str = "docintake demo", country: str = "LV") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _serial_for(*parts: object) -> int:
    """Deterministic, positive, 127-bit serial (stable across runs; unique per subject/variant)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:16], "big") >> 1 | 1


def _ca(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: _Pair | None,
    *,
    path_length: int | None,
    serial: int,
) -> x509.Certificate:
    issuer_name = issuer.cert.subject if issuer else subject
    issuer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_CA_FROM)
        .not_valid_after(_CA_UNTIL)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _resign_sha1(cert: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """The same certificate signed with ECDSA-SHA1 (``cryptography``'s builder refuses SHA-1)."""
    asn1 = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    algo = asn1_x509.SignedDigestAlgorithm({"algorithm": "sha1_ecdsa"})
    tbs = asn1["tbs_certificate"].copy()
    tbs["signature"] = algo
    signature = issuer_key.sign(tbs.dump(force=True), ec.ECDSA(hashes.SHA1()))
    resigned = asn1_x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": algo, "signature_value": signature})
    return x509.load_der_x509_certificate(resigned.dump())


_QC_STATEMENTS_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def _qc_statements() -> bytes:
    """QcCompliance + QcSSCD + QcType esign (ETSI EN 319 412-5), DER."""
    from pyhanko.sign.ades.qualified_asn1 import QcStatements

    return QcStatements(
        [
            {"statement_id": "qc_compliance"},
            {"statement_id": "qc_sscd"},
            {"statement_id": "qc_type", "statement_info": ["qct_esign"]},
        ]
    ).dump()


_STEMS = ("root", "intermediate", "tsa", "other-root", "other-intermediate")
_UNTRUSTED = "nobody trusts this"
#: The CAs, issuers first: (stem, subject, issuer stem or None for a root, path length).
_CAS = (
    ("root", _name("docintake Demo Root CA"), None, 1),
    ("intermediate", _name("docintake Demo Qualified Signature CA"), "root", 0),
    ("other-root", _name("Untrusted Root CA", org=_UNTRUSTED), None, 1),
    ("other-intermediate", _name("Untrusted Signature CA", org=_UNTRUSTED), "other-root", 0),
)


class DemoPKI:
    """A directory of demo CA material. Use :meth:`create` or :meth:`load`."""

    def __init__(self, directory: Path, pairs: dict[str, _Pair]):
        self.directory = Path(directory)
        self.root = pairs["root"]
        self.intermediate = pairs["intermediate"]
        self.tsa = pairs["tsa"]
        self.other_root = pairs["other-root"]
        self.other_intermediate = pairs["other-intermediate"]
        self._persons: dict[tuple, Identity] = {}
        self._lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: str | Path) -> "DemoPKI":
        """Create the CA material in ``directory`` unless it is already there; then load it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if all((directory / f"{s}.pem").exists() and (directory / f"{s}.key.pem").exists() for s in _STEMS):
            return cls.load(directory)
        keys: dict = {s: ec.generate_private_key(ec.SECP256R1()) for s in _STEMS}
        # pyHanko's in-process DummyTimeStamper signs with RSA only; one RSA key per PKI.
        keys["tsa"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pairs: dict[str, _Pair] = {}
        for stem, name, issuer, path_length in _CAS:
            cert = _ca(name, keys[stem], pairs[issuer] if issuer else None, path_length=path_length,
                       serial=_serial_for(stem))
            pairs[stem] = _Pair(cert, keys[stem])
        root = pairs["root"]
        tsa_key = keys["tsa"]
        tsa_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("docintake Demo TSA"))
            .issuer_name(root.cert.subject)
            .public_key(tsa_key.public_key())
            .serial_number(_serial_for("tsa"))
            .not_valid_before(_CA_FROM)
            .not_valid_after(_CA_UNTIL)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
            .sign(root.key, hashes.SHA256())
        )
        pairs["tsa"] = _Pair(tsa_cert, tsa_key)
        # Write keys and certs; the root last, so a half-written directory is recreated next time.
        for stem in reversed(_STEMS):
            pairs[stem].write(directory, stem)
        return cls(directory, pairs)

    @classmethod
    def load(cls, directory: str | Path) -> "DemoPKI":
        directory = Path(directory)
        return cls(directory, {s: _Pair.read(directory, s) for s in _STEMS})

    # -- paths and material ---------------------------------------------------------------------
    @property
    def root_pem_path(self) -> Path:
        """The only file to configure as a trust root (``--trust-roots``)."""
        return self.directory / "root.pem"

    @property
    def root_cert(self) -> x509.Certificate:
        return self.root.cert

    @property
    def intermediate_pem_path(self) -> Path:
        return self.directory / "intermediate.pem"

    @property
    def untrusted_root_pem_path(self) -> Path:
        return self.directory / "other-root.pem"

    # -- persons --------------------------------------------------------------------------------
    def person(
        self,
        country: str,
        code: str,
        given: str,
        surname: str,
        *,
        variant: str | None = None,
    ) -> Identity:
        """A signer certificate for a person; ``code`` as written on the form (hyphen optional).

        Cached in memory and under ``persons/`` so the same call gives the same certificate.
        """
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; one of {VARIANTS}")
        country = country.upper()
        key_ = (country, code, given, surname, variant)
        with self._lock:
            cached = self._persons.get(key_)
            if cached is None:
                cached = self._load_or_make_person(country, code, given, surname, variant)
                self._persons[key_] = cached
            return cached

    def _serial_number_attr(self, country: str, code: str, variant: str | None) -> str:
        if variant == "bare":
            return code
        if variant == "idc":
            return f"IDC{country}-{code}"
        return f"PNO{country}-{code}"

    def _load_or_make_person(
        self, country: str, code: str, given: str, surname: str, variant: str | None
    ) -> Identity:
        digits = "".join(ch for ch in code if ch.isdigit())
        national_id = f"{country}-{digits}"
        serial_attr = self._serial_number_attr(country, code, variant)
        # "qc": person certificates carry QCStatements since the trusted lists (older cached ones do not)
        slug = hashlib.sha256(repr(("qc", country, code, given, surname, variant)).encode()).hexdigest()[:20]
        pdir = self.directory / "persons"
        name = f"{given} {surname}"
        if variant == "self_signed":
            chain_pairs: tuple[_Pair, ...] = ()
        elif variant == "untrusted":
            chain_pairs = (self.other_intermediate, self.other_root)
        else:
            chain_pairs = (self.intermediate, self.root)
        try:
            pair = _Pair.read(pdir, slug)
        except (OSError, ValueError):
            pair = self._make_person(country, given, surname, serial_attr, variant, slug)
            pdir.mkdir(exist_ok=True)
            pair.write(pdir, slug)
        return Identity(
            name=name,
            national_id=national_id,
            serial_number=serial_attr,
            variant=variant,
            cert=pair.cert,
            key=pair.key,
            chain=(pair.cert, *(p.cert for p in chain_pairs)),
            pki=self,
        )

    def _make_person(
        self, country: str, given: str, surname: str, serial_attr: str, variant: str | None, slug: str
    ) -> _Pair:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                x509.NameAttribute(NameOID.SURNAME, surname),
                x509.NameAttribute(NameOID.GIVEN_NAME, given),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_attr),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{given} {surname}"),
            ]
        )
        now = _now()
        not_before, not_after = now - _dt.timedelta(days=30), now + _dt.timedelta(days=3 * 365)
        if variant == "expired":
            not_before, not_after = _dt.datetime(2020, 1, 1, tzinfo=_UTC), _dt.datetime(2021, 1, 1, tzinfo=_UTC)
        elif variant == "not_yet_valid":
            not_before, not_after = now + _dt.timedelta(days=365), now + _dt.timedelta(days=3 * 365)
        if variant == "self_signed":
            issuer_name, issuer_key = subject, key
        elif variant == "untrusted":
            issuer_name, issuer_key = self.other_intermediate.cert.subject, self.other_intermediate.key
        else:
            issuer_name, issuer_key = self.intermediate.cert.subject, self.intermediate.key
        non_rep = variant != "no_nonrepudiation"
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(_serial_for("person", slug))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not non_rep,
                    content_commitment=non_rep,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if variant != "self_signed":
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            ).add_extension(
                # Real qualified certificates declare where revocation data lives; validators only
                # look for CRLs (even embedded ones) when a distribution point is declared.
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(DEMO_CRL_URL)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
        if variant != "not_qualified":
            builder = builder.add_extension(x509.UnrecognizedExtension(_QC_STATEMENTS_OID, _qc_statements()), critical=False)
        cert = builder.sign(issuer_key, hashes.SHA256())
        if variant == "sha1":
            cert = _resign_sha1(cert, issuer_key)
        return _Pair(cert, key)

    # -- revocation -----------------------------------------------------------------------------
    def crl(self, revoked: Iterable[Identity] = (), *, this_update: _dt.datetime | None = None) -> asn1_crl.CertificateList:
        """A CRL of the intermediate CA listing ``revoked`` (as embeddable revocation info), issued
        5 minutes ago, or at ``this_update``."""
        now = (this_update + _dt.timedelta(minutes=5)) if this_update else _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.intermediate.cert.subject)
            .last_update(now - _dt.timedelta(minutes=5))
            .next_update(now + _dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate.key.public_key()),
                critical=False,
            )
        )
        for ident in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(ident.cert.serial_number)
                .revocation_date(now - _dt.timedelta(minutes=10))
                .build()
            )
        der = builder.sign(self.intermediate.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        return asn1_crl.CertificateList.load(der)

    def ocsp_response(self, identity: Identity, *, this_update: _dt.datetime | None = None,
                      validity: _dt.timedelta = _dt.timedelta(hours=1), revoked_at: _dt.datetime | None = None,
                      cert_id=None):
        """An OCSP response about ``identity``'s certificate, signed by its CA (as signing tools embed,
        or as the loopback responder of the tests answers ``cert_id``)."""
        from asn1crypto import algos, core, ocsp

        this_update = this_update or _now()
        issuer = self.intermediate.asn1_cert
        leaf = identity.asn1_cert
        cert_id = cert_id or ocsp.CertId({
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1"}),
            "issuer_name_hash": issuer.subject.sha1,
            "issuer_key_hash": issuer.public_key.sha1,
            "serial_number": leaf.serial_number,
        })
        status = (ocsp.CertStatus(name="good", value=core.Null()) if revoked_at is None else
                  ocsp.CertStatus(name="revoked", value={"revocation_time": revoked_at}))
        tbs = ocsp.ResponseData({
            "responder_id": ocsp.ResponderId(name="by_key", value=issuer.public_key.sha1),
            "produced_at": this_update,
            "responses": [{"cert_id": cert_id, "cert_status": status, "this_update": this_update,
                           "next_update": this_update + validity}],
        })
        signature = self.intermediate.key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
        basic = ocsp.BasicOCSPResponse({
            "tbs_response_data": tbs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        })
        return ocsp.OCSPResponse({
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        })

    def person_with_ocsp(self, country: str, code: str, given: str, surname: str, *, ocsp_url: str | None = None,
                         crl_url: str | None = None) -> Identity:
        """A good person certificate (not cached) whose AIA names ``ocsp_url`` as its OCSP responder
        and/or whose CRL distribution point is ``crl_url``: what an online revocation check fetches."""
        from cryptography.x509.oid import AuthorityInformationAccessOID

        key = ec.generate_private_key(ec.SECP256R1())
        serial_attr = f"PNO{country}-{code}"
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, country), x509.NameAttribute(NameOID.SURNAME, surname),
            x509.NameAttribute(NameOID.GIVEN_NAME, given), x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_attr),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{given} {surname}"),
        ])
        now = _now()
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.intermediate.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate.key.public_key()),
                           critical=False)
            .add_extension(x509.UnrecognizedExtension(_QC_STATEMENTS_OID, _qc_statements()), critical=False)
        )
        if ocsp_url:
            cert = cert.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
        if crl_url:
            cert = cert.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
                crl_issuer=None)]), critical=False)
        cert = cert.sign(self.intermediate.key, hashes.SHA256())
        digits = "".join(ch for ch in code if ch.isdigit())
        return Identity(name=f"{given} {surname}", national_id=f"{country}-{digits}", serial_number=serial_attr,
                        variant=None, cert=cert, key=key, chain=(cert, self.intermediate.cert, self.root.cert), pki=self)

    def add_validation_data(self, pdf: bytes, identity: Identity, *, crls=(), ocsps=()) -> bytes:
        """Append a DSS with validation data (what a signing tool or an archive adds after signing)."""
        from pyhanko.sign.validation import DocumentSecurityStore

        out = io.BytesIO(pdf)
        DocumentSecurityStore.add_dss(out, sig_contents=None, certs=identity.asn1_chain[1:],
                                      crls=list(crls), ocsps=list(ocsps), force_write=True)
        return out.getvalue()

    def timestamper(self, fixed_dt: _dt.datetime | None = None):
        """An in-process RFC 3161 TSA (pyHanko's DummyTimeStamper) with the demo TSA certificate."""
        from pyhanko.sign.timestamps import DummyTimeStamper
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        return DummyTimeStamper(
            tsa_cert=self.tsa.asn1_cert,
            tsa_key=self.tsa.asn1_key,
            certs_to_embed=SimpleCertificateStore.from_certs([self.root.asn1_cert]),
            fixed_dt=fixed_dt,
        )

    def document_timestamp(self, pdf: bytes, *, fixed_dt: _dt.datetime | None = None) -> bytes:
        """Append a PAdES document timestamp (``/DocTimeStamp``) from the demo TSA."""
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers

        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        out = signers.PdfTimeStamper(self.timestamper(fixed_dt)).timestamp_pdf(writer, md_algorithm="sha256")
        return out.getvalue()

    # -- the test trusted lists -----------------------------------------------------------------
    @property
    def lotl_signer_path(self) -> Path:
        return self.directory / "lotl-signer.pem"

    @property
    def trust_lists_path(self) -> Path:
        """The verified snapshot of the test LOTL and LV list (made on first use)."""
        path = self.directory / "trust-lists"
        if not (path / "snapshot.json").is_file():
            with self._lock:
                if not (path / "snapshot.json").is_file():
                    self.publish_trust_lists(self.directory / "trust-lists-src")
                    from verify.trust import import_lists

                    import_lists(self.directory / "trust-lists-src", path, lotl_signer=str(self.lotl_signer_path))
        return path

    def _list_signer(self, stem: str, cn: str) -> _Pair:
        try:
            return _Pair.read(self.directory, stem)
        except (OSError, ValueError):
            key = ec.generate_private_key(ec.SECP256R1())
            name = _name(cn)
            cert = (
                x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(_serial_for(stem)).not_valid_before(_CA_FROM).not_valid_after(_CA_UNTIL)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
                .sign(key, hashes.SHA256())
            )
            pair = _Pair(cert, key)
            pair.write(self.directory, stem)
            return pair

    def publish_trust_lists(self, directory: str | Path, *, base_url: str = "https://tl.docintake-demo.invalid",
                            sequence: int = 1, issued: _dt.datetime | None = None,
                            next_update: _dt.datetime | None = None, qualified_tsa: bool = True) -> Path:
        """Write ``LOTL.xml`` and ``LV.xml`` (the LOTL points at ``base_url``/LV.xml) into ``directory``;
        ``qualified_tsa=False`` leaves the TSA off the list (its timestamps are then not qualified)."""
        from verify import demo_tl

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        lotl_signer = self._list_signer("lotl-signer", "docintake Demo LOTL signer")
        tl_signer = self._list_signer("tl-signer", "docintake Demo TL signer")
        services = [
            # the root, not the issuing CA: pyHanko cannot place a CRL signed by the anchor itself on a path
            demo_tl.ServiceEntry("docintake Demo Root CA", self.root.asn1_cert, "ca", _CA_FROM),
            demo_tl.ServiceEntry("docintake Demo TSA", self.tsa.asn1_cert, "tsa", _CA_FROM),
        ][: 2 if qualified_tsa else 1]
        kw = dict(sequence=sequence, issued=issued, next_update=next_update)
        (directory / "LV.xml").write_bytes(demo_tl.national_list(
            services, territory="LV", signer_cert=tl_signer.asn1_cert, signer_key_pem=tl_signer.key_pem, **kw))
        (directory / "LOTL.xml").write_bytes(demo_tl.list_of_lists(
            [("LV", f"{base_url.rstrip('/')}/LV.xml", tl_signer.asn1_cert)],
            signer_cert=lotl_signer.asn1_cert, signer_key_pem=lotl_signer.key_pem, **kw))
        return directory

    def sign_pdf(self, pdf: bytes, identity: Identity, **kwargs) -> bytes:
        """:func:`sign_pdf` with this PKI's timestamper."""
        kwargs.setdefault("pki", self)
        return sign_pdf(pdf, identity, **kwargs)


def sign_pdf(
    pdf: bytes,
    identity: Identity,
    *,
    field: str = "customer_signature",
    timestamp: bool = False,
    certify: bool = False,
    md_algorithm: str = "sha256",
    pki: DemoPKI | None = None,
    timestamp_time: _dt.datetime | None = None,
    revocation_crl: asn1_crl.CertificateList | None = None,
    reason: str | None = None,
) -> bytes:
    """Sign ``pdf`` as PAdES (ETSI.CAdES.detached) in ``field``, as an incremental update.

    ``timestamp=True`` adds a signature timestamp (PAdES B-T) from the demo TSA of
    ``pki`` (default: the PKI that issued ``identity``); ``timestamp_time`` backdates it. ``certify=True`` makes it a
    certification signature with DocMDP P=2 (form filling allowed).
    ``revocation_crl`` appends a DSS (validation data, an allowed update) carrying that
    CRL: how a ``revoked`` certificate becomes visible without any network.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    pki = pki or identity.pki
    if timestamp and pki is None:
        raise ValueError("timestamp=True needs the DemoPKI (pki=...) for its TSA")
    signer = signers.SimpleSigner(
        signing_cert=identity.asn1_cert,
        signing_key=identity.asn1_key,
        cert_registry=SimpleCertificateStore.from_certs(identity.asn1_chain[1:]),
    )
    timestamper = pki.timestamper(timestamp_time) if (timestamp and pki) else None
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        md_algorithm=md_algorithm,
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=certify,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        reason=reason,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=timestamper)
    out = pdf_signer.sign_pdf(writer)
    if revocation_crl is not None:
        from pyhanko.sign.validation import DocumentSecurityStore

        DocumentSecurityStore.add_dss(
            out, sig_contents=None, certs=identity.asn1_chain[1:], crls=[revocation_crl], force_write=True
        )
    return out.getvalue()
