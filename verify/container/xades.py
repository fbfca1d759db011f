"""Verify XAdES signatures (ETSI EN 319 132-1 baseline B, T, LT, LTA) inside an ASiC-E container.

Built on lxml (hardened parsing, canonicalisation) and cryptography (signature values),
the way signxml and pyasice use them; timestamps are RFC 3161 tokens validated by pyHanko
(``generic_cms.validate_tst_signed_data``) under the policy's trust roots; the signer's
certificate is judged by :mod:`verify.container.signer`.

What is checked, per ``ds:Signature``:

* ``ds:SignedInfo``: its canonicalisation and signature method are known; every
  ``ds:Reference`` is either a data file of the container (URI = the file's path) or the
  signature's own ``xades:SignedProperties`` (exactly one); each digest matches.
* the signing certificate: the ``ds:KeyInfo`` certificate whose digest is the one in
  ``xades:SigningCertificate(V2)``; ``ds:SignatureValue`` verifies with its key.
* ``xades:SignatureTimeStamp`` over the canonical ``ds:SignatureValue`` (level T),
  ``xades:CertificateValues`` + ``xades:RevocationValues`` (LT), and
  ``xades141:ArchiveTimeStamp`` over the XAdES 1.4.1 archive input (LTA).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
XADES141 = "http://uri.etsi.org/01903/v1.4.1#"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
#: BDOC 2.1 time-mark signature policy (an OCSP response proves the signing time).
BDOC_TM_POLICY = "1.3.6.1.4.1.10015.1000.3.2.1"

#: canonicalisation URI -> (exclusive, with_comments). C14N 1.1 is serialised as 1.0: they
#: differ only in xml:id / xml:base inheritance, which XAdES documents do not use.
C14N = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    "http://www.w3.org/2006/12/xml-c14n11": (False, False),
    "http://www.w3.org/2006/12/xml-c14n11#WithComments": (False, True),
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
}
DEFAULT_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-256": "sha3_256",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-384": "sha3_384",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-512": "sha3_512",
}
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
#: signature method URI -> (key kind, digest)
SIGNATURE_METHODS = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": ("rsa", "sha1"),
    _MORE + "rsa-sha224": ("rsa", "sha224"),
    _MORE + "rsa-sha256": ("rsa", "sha256"),
    _MORE + "rsa-sha384": ("rsa", "sha384"),
    _MORE + "rsa-sha512": ("rsa", "sha512"),
    _MORE + "ecdsa-sha1": ("ecdsa", "sha1"),
    _MORE + "ecdsa-sha224": ("ecdsa", "sha224"),
    _MORE + "ecdsa-sha256": ("ecdsa", "sha256"),
    _MORE + "ecdsa-sha384": ("ecdsa", "sha384"),
    _MORE + "ecdsa-sha512": ("ecdsa", "sha512"),
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1": ("pss", "sha256"),
    "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1": ("pss", "sha384"),
    "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1": ("pss", "sha512"),
}


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


class XadesFormatError(ValueError):
    """The signature cannot be evaluated at all (a missing element, unknown algorithm, ...)."""


@dataclass
class Timestamp:
    kind: str  # "signature" | "archive"
    time: _dt.datetime | None
    intact: bool  # the token's imprint matches what it must cover
    valid: bool  # the token's own signature verifies
    trusted: bool  # the TSA chains to a trust root


@dataclass
class XadesSignature:
    """What one XAdES signature proves; ``problems`` are ``(reason code, message)`` pairs."""

    file: str
    id: str
    cert: Any = None  # asn1crypto x509.Certificate of the signer
    covers: list[str] = field(default_factory=list)
    mime_types: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    signing_time: _dt.datetime | None = None
    digest: str | None = None
    mechanism: str | None = None
    has_signing_certificate: bool = False
    timestamps: list[Timestamp] = field(default_factory=list)
    certs: list = field(default_factory=list)  # asn1crypto certificates the signature carries
    crls: list = field(default_factory=list)
    ocsps: list = field(default_factory=list)
    policy_oid: str | None = None
    #: verify.signature.CertificateJudgement of ``cert``, once judged (verify.container.signer)
    judgement: Any = None

    def level(self, need_trust: bool) -> str | None:
        """Baseline level: B-B, B-T (a signature timestamp), B-LT (+ certificate and revocation
        values), B-LTA (+ an archive timestamp); only trusted timestamps when ``need_trust``."""
        if not self.has_signing_certificate:
            return None

        def ok(ts: Timestamp) -> bool:
            return ts.intact and ts.valid and (ts.trusted or not need_trust)

        if not any(ok(t) for t in self.timestamps if t.kind == "signature"):
            return "B-B"
        if not (self.ocsps or self.crls):
            return "B-T"
        if any(ok(t) for t in self.timestamps if t.kind == "archive"):
            return "B-LTA"
        return "B-LT"

    @property
    def trusted_time(self) -> _dt.datetime | None:
        times = [t.time for t in self.timestamps if t.kind == "signature" and t.intact and t.valid and t.trusted]
        return min(times) if times else None


def signature_elements(root: etree._Element) -> list[etree._Element]:
    """The ``ds:Signature`` elements of an ASiC ``XAdESSignatures`` document (or a bare signature)."""
    if root.tag == _q(DS, "Signature"):
        return [root]
    return [el for el in root if el.tag == _q(DS, "Signature")]


def c14n(element: etree._Element, algorithm: str) -> bytes:
    if algorithm not in C14N:
        raise XadesFormatError(f"canonicalisation {algorithm} is not supported")
    exclusive, comments = C14N[algorithm]
    return etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=comments)


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise XadesFormatError("a base64 value cannot be decoded") from exc


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def _digest_parts(name: str, parts: list[bytes]) -> bytes:
    h = hashlib.new(name)
    for part in parts:
        h.update(part)
    return h.digest()


#: More timestamps than this in one signature is not a real signature (and would cost time).
MAX_TIMESTAMPS = 16


def _one(parent: etree._Element, path: str, what: str) -> etree._Element:
    found = parent.findall(path, namespaces={"ds": DS, "xades": XADES, "xades141": XADES141})
    if len(found) != 1:
        raise XadesFormatError(f"{what}: expected one, found {len(found)}")
    return found[0]


_NS = {"ds": DS, "xades": XADES, "xades141": XADES141}


def read_signature(file: str, sig: etree._Element, data_files: dict[str, bytes]) -> tuple[XadesSignature, dict]:
    """Check everything that needs no trust decision: references, signing certificate,
    signature value. Returns the result and what the timestamp step needs."""
    from asn1crypto import x509 as asn1_x509

    out = XadesSignature(file=file, id=sig.get("Id") or "(no Id)")
    signed_info = _one(sig, "ds:SignedInfo", "ds:SignedInfo")
    c14n_alg = _one(signed_info, "ds:CanonicalizationMethod", "ds:CanonicalizationMethod").get("Algorithm", "")
    method = _one(signed_info, "ds:SignatureMethod", "ds:SignatureMethod").get("Algorithm", "")
    if method not in SIGNATURE_METHODS:
        raise XadesFormatError(f"signature method {method} is not supported")
    kind, digest = SIGNATURE_METHODS[method]
    out.digest, out.mechanism = digest, f"{kind}-{digest}"

    qp = _qualifying_properties(sig, out.id)
    signed_props = _one(qp, "xades:SignedProperties", "xades:SignedProperties")
    archive_refs: list[bytes] = []  # processed reference data, in order, for the archive timestamp
    ref_ids: dict[str, str] = {}
    props_refs = 0
    for ref in signed_info.findall("ds:Reference", _NS):
        uri = ref.get("URI")
        dm = _one(ref, "ds:DigestMethod", "ds:DigestMethod").get("Algorithm", "")
        if dm not in DIGESTS:
            raise XadesFormatError(f"digest method {dm} is not supported")
        expected = _b64(_one(ref, "ds:DigestValue", "ds:DigestValue").text)
        if DIGESTS[dm] in ("sha1",):
            out.problems.append(("weak_algorithm", f"a reference uses the digest {DIGESTS[dm]}"))
        if ref.get("Type") == SIGNED_PROPERTIES_TYPE or (uri or "").startswith("#"):
            if not uri or uri[1:] != signed_props.get("Id"):
                raise XadesFormatError(f"the reference {uri!r} is not this signature's SignedProperties")
            if _count_ids(sig, uri[1:]) != 1:
                raise XadesFormatError(f"the Id {uri[1:]!r} occurs more than once")
            props_refs += 1
            transforms = [t.get("Algorithm", "") for t in ref.findall("ds:Transforms/ds:Transform", _NS)]
            if len(transforms) > 1 or any(t not in C14N for t in transforms):
                raise XadesFormatError("the SignedProperties reference uses transforms other than one canonicalisation")
            content = c14n(signed_props, transforms[0] if transforms else DEFAULT_C14N)
        else:
            if uri is None or ref.find("ds:Transforms", _NS) is not None:
                raise XadesFormatError("a data reference has no URI or has transforms")
            name = unquote(uri)
            if name.startswith("./"):
                name = name[2:]
            if name in out.covers:  # each one would be hashed again: refused before hashing
                raise XadesFormatError(f"it references {name!r} twice")
            out.covers.append(name)
            if ref.get("Id"):
                ref_ids["#" + ref.get("Id")] = name
            content = data_files.get(name)
            if content is None:
                out.problems.append(("signature_invalid", f"it signs {name!r}, which is not in the container"))
                archive_refs.append(b"")
                continue
        archive_refs.append(content)
        if _digest(DIGESTS[dm], content) != expected:
            what = "its SignedProperties" if uri.startswith("#") else f"the data file {unquote(uri)!r}"
            out.problems.append(("signature_invalid", f"{what} does not match the signed digest"))
    if props_refs != 1:
        raise XadesFormatError("SignedInfo does not reference the SignedProperties exactly once")

    # signed properties: signing time, signing certificate, data object formats, policy
    ssp = signed_props.find("xades:SignedSignatureProperties", _NS)
    if ssp is None:
        raise XadesFormatError("no SignedSignatureProperties")
    st = ssp.find("xades:SigningTime", _NS)
    if st is not None and st.text:
        try:
            out.signing_time = _dt.datetime.fromisoformat(st.text.strip().replace("Z", "+00:00"))
        except ValueError:
            out.problems.append(("signature_invalid", "the SigningTime cannot be read"))
    oid = ssp.find("xades:SignaturePolicyIdentifier/xades:SignaturePolicyId/xades:SigPolicyId/xades:Identifier", _NS)
    if oid is not None and oid.text:
        out.policy_oid = oid.text.strip().removeprefix("urn:oid:")
    for dof in signed_props.findall("xades:SignedDataObjectProperties/xades:DataObjectFormat", _NS):
        name = ref_ids.get(dof.get("ObjectReference") or "")
        mt = dof.find("xades:MimeType", _NS)
        if name is not None and mt is not None and mt.text:
            out.mime_types[name] = mt.text.strip()

    key_certs = [
        asn1_x509.Certificate.load(_b64(el.text)) for el in sig.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)
    ]
    if not key_certs:
        raise XadesFormatError("ds:KeyInfo carries no certificate")
    cert_refs = ssp.findall("xades:SigningCertificateV2/xades:Cert", _NS) + ssp.findall(
        "xades:SigningCertificate/xades:Cert", _NS
    )
    out.has_signing_certificate = bool(cert_refs)
    signer = None
    for ref in cert_refs:
        dm = _one(ref, "xades:CertDigest/ds:DigestMethod", "CertDigest").get("Algorithm", "")
        value = _b64(_one(ref, "xades:CertDigest/ds:DigestValue", "CertDigest").text)
        if dm not in DIGESTS:
            raise XadesFormatError(f"digest method {dm} is not supported")
        signer = next((c for c in key_certs if _digest(DIGESTS[dm], c.dump()) == value), None)
        if signer is not None:
            break
    if cert_refs and signer is None:
        out.problems.append(("signature_invalid", "the signing certificate's digest does not match ds:KeyInfo"))
        signer = key_certs[0]
    elif signer is None:
        signer = key_certs[0]
    out.cert = signer

    signature_value = _one(sig, "ds:SignatureValue", "ds:SignatureValue")
    key_kind = {"rsa": "rsa", "ec": "ecdsa"}.get(signer.public_key.algorithm, signer.public_key.algorithm)
    if key_kind != ("rsa" if kind == "pss" else kind):
        out.problems.append(("signature_invalid", f"the signature method is {kind} but the signer's key is {key_kind}"))
    elif not _verify_value(signer, kind, digest, _b64(signature_value.text), c14n(signed_info, c14n_alg)):
        out.problems.append(("signature_invalid", "the signature value does not verify with the signer's key"))

    # carried validation data
    usp = qp.find("xades:UnsignedProperties/xades:UnsignedSignatureProperties", _NS)
    out.certs = [c for c in key_certs if c is not signer]
    tokens: list[tuple[str, bytes, list[bytes]]] = []  # (kind, token DER, the parts of what it must cover)
    if usp is not None:
        for el in usp.iter(_q(XADES, "EncapsulatedX509Certificate")):
            out.certs.append(asn1_x509.Certificate.load(_b64(el.text)))
        _revocation_values(usp, out)
        preceding: list[etree._Element] = []
        for prop in usp:
            if not isinstance(prop.tag, str):
                continue
            alg = _ts_c14n(prop)
            if prop.tag == _q(XADES, "SignatureTimeStamp"):
                for tok in prop.findall("xades:EncapsulatedTimeStamp", _NS):
                    tokens.append(("signature", _b64(tok.text), [c14n(signature_value, alg)]))
            elif prop.tag == _q(XADES141, "ArchiveTimeStamp"):
                # XAdES 1.4.1 / EN 319 132-1 5.5.2: the references' data, SignedInfo, SignatureValue,
                # KeyInfo, the unsigned properties before this one, other ds:Objects (parts, not a copy)
                parts = list(archive_refs) + [
                    c14n(el, alg) for el in (signed_info, signature_value, sig.find("ds:KeyInfo", _NS)) if el is not None
                ]
                parts += [c14n(el, alg) for el in preceding]
                parts += [c14n(obj, alg) for obj in sig.findall("ds:Object", _NS)
                          if obj.find("xades:QualifyingProperties", _NS) is None]
                for tok in prop.findall("xades:EncapsulatedTimeStamp", _NS):
                    tokens.append(("archive", _b64(tok.text), parts))
            if len(tokens) > MAX_TIMESTAMPS:
                raise XadesFormatError(f"more than {MAX_TIMESTAMPS} timestamps")
            preceding.append(prop)
    return out, {"tokens": tokens}


def _ts_c14n(prop: etree._Element) -> str:
    cm = prop.find("ds:CanonicalizationMethod", _NS)
    return cm.get("Algorithm", DEFAULT_C14N) if cm is not None else DEFAULT_C14N


def _revocation_values(usp: etree._Element, out: XadesSignature) -> None:
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp

    for el in usp.iter(_q(XADES, "EncapsulatedOCSPValue")):
        out.ocsps.append(asn1_ocsp.OCSPResponse.load(_b64(el.text)))
    for el in usp.iter(_q(XADES, "EncapsulatedCRLValue")):
        out.crls.append(asn1_crl.CertificateList.load(_b64(el.text)))


def _qualifying_properties(sig: etree._Element, sig_id: str) -> etree._Element:
    found = sig.findall("ds:Object/xades:QualifyingProperties", _NS)
    if len(found) != 1:
        raise XadesFormatError(f"expected one xades:QualifyingProperties, found {len(found)}")
    target = found[0].get("Target")
    if target != "#" + sig_id:
        raise XadesFormatError("xades:QualifyingProperties does not target this signature")
    return found[0]


def _count_ids(sig: etree._Element, ident: str) -> int:
    root = sig.getroottree().getroot()
    return sum(1 for el in root.iter() if isinstance(el.tag, str) and el.get("Id") == ident)


def _verify_value(cert, kind: str, digest: str, value: bytes, signed: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    algo = {
        "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
        "sha384": hashes.SHA384, "sha512": hashes.SHA512,
    }[digest]()
    try:
        key = _public_key(cert)
        if kind == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(value) % 2:
                return False
            half = len(value) // 2
            der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
            key.verify(der, signed, ec.ECDSA(algo))
        elif kind == "rsa":
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(value, signed, padding.PKCS1v15(), algo)
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(value, signed, padding.PSS(mgf=padding.MGF1(algo), salt_length=padding.PSS.AUTO), algo)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _public_key(cert):
    """The certificate's public key. Estonian ID cards of 2011-2014 carry RSA moduli encoded
    as negative DER integers, which cryptography refuses; those are read as unsigned."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        return load_der_public_key(cert.public_key.dump())
    except ValueError:
        if cert.public_key.algorithm != "rsa":
            raise
        numbers = cert.public_key["public_key"].parsed
        modulus = numbers["modulus"].native
        if modulus < 0:
            modulus += 1 << (8 * len(numbers["modulus"].contents))
        return rsa.RSAPublicNumbers(numbers["public_exponent"].native, modulus).public_key()


async def check_timestamps(result: XadesSignature, tokens: list[tuple[str, bytes, list[bytes]]], context_at) -> None:
    """Validate each RFC 3161 token with pyHanko: its imprint over ``message``, its signature, and
    its TSA's chain at the token's own time (``context_at(moment)`` gives a ValidationContext)."""
    from asn1crypto import cms
    from pyhanko.sign.validation import generic_cms
    from pyhanko.sign.validation.status import TimestampSignatureStatus

    for kind, der, parts in tokens:
        try:
            content = cms.ContentInfo.load(der)
            signed_data = content["content"]
            gen_time = signed_data["encap_content_info"]["content"].parsed["gen_time"].native
            kw = await generic_cms.validate_tst_signed_data(
                signed_data, context_at(gen_time), lambda algo, p=parts: _digest_parts(algo, p)
            )
            status = TimestampSignatureStatus(**kw)
            ts = Timestamp(kind, status.timestamp, bool(status.intact), bool(status.valid), bool(status.trusted))
        except Exception as exc:  # noqa: BLE001 - an unreadable token proves nothing
            result.problems.append(("signature_invalid", f"the {kind} timestamp cannot be read ({type(exc).__name__})"))
            continue
        if not ts.intact:
            result.problems.append(("signature_invalid", f"the {kind} timestamp does not cover this signature"))
        elif not ts.valid:
            result.problems.append(("signature_invalid", f"the {kind} timestamp's signature is wrong"))
        result.timestamps.append(ts)
