"""Make ASiC-E containers with XAdES signatures from the demo PKI, for tests, the demo and the benchmark.

NEVER for production: the keys are the demo PKI's (see :mod:`verify.demo_pki`).

``make_container(files, signers, level="B-T")`` packs ``files`` (name -> bytes) with one
XAdES signature per signer; ``level`` is B-B, B-T (a signature timestamp from the demo
TSA) or B-LT (+ certificate values and the intermediate's CRL). The lower-level pieces
(``signature_document``, ``manifest_xml``, ``pack``) let tests build broken containers.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import hashlib
import io
import zipfile
from typing import Iterable, Sequence
from urllib.parse import quote

from lxml import etree

from verify.container import ASICE_MIMETYPE
from verify.container.xades import DS, SIGNED_PROPERTIES_TYPE, XADES
from verify.demo_pki import DemoPKI, Identity

ASIC = "http://uri.etsi.org/02918/v1.2.1#"
MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
LEVELS = ("B-B", "B-T", "B-LT")


def _el(parent, ns: str, name: str, text: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}", {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _c14n(el: etree._Element) -> bytes:
    return etree.tostring(el, method="c14n", exclusive=True)


def media_type(name: str) -> str:
    return "application/pdf" if name.lower().endswith(".pdf") else "application/octet-stream"


def signature_document(
    files: dict[str, bytes],
    identity: Identity,
    *,
    sig_id: str = "S0",
    level: str = "B-T",
    pki: DemoPKI | None = None,
    covers: Iterable[str] | None = None,
    signing_time: _dt.datetime | None = None,
) -> bytes:
    """One ``asic:XAdESSignatures`` document with one signature over ``covers`` (default: every file)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    pki = pki or identity.pki
    names = list(files) if covers is None else list(covers)
    when = signing_time or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    root = etree.Element(f"{{{ASIC}}}XAdESSignatures", nsmap={"asic": ASIC, "ds": DS, "xades": XADES})
    sig = _el(root, DS, "Signature", Id=sig_id)
    si = _el(sig, DS, "SignedInfo")
    _el(si, DS, "CanonicalizationMethod", Algorithm=EXC_C14N)
    _el(si, DS, "SignatureMethod", Algorithm=ECDSA_SHA256)
    for i, name in enumerate(names):
        ref = _el(si, DS, "Reference", Id=f"{sig_id}-ref{i}", URI=quote(name))
        _el(ref, DS, "DigestMethod", Algorithm=SHA256)
        _el(ref, DS, "DigestValue", _b64(hashlib.sha256(files.get(name, b"")).digest()))
    props_ref = _el(si, DS, "Reference", Type=SIGNED_PROPERTIES_TYPE, URI=f"#{sig_id}-SignedProperties")
    _el(_el(props_ref, DS, "Transforms"), DS, "Transform", Algorithm=EXC_C14N)
    _el(props_ref, DS, "DigestMethod", Algorithm=SHA256)
    props_digest = _el(props_ref, DS, "DigestValue")
    value = _el(sig, DS, "SignatureValue", Id=f"{sig_id}-SIG")
    cert_der = identity.cert.public_bytes(serialization.Encoding.DER)
    x509_data = _el(_el(sig, DS, "KeyInfo"), DS, "X509Data")
    for der in [cert_der, *(c.dump() for c in identity.asn1_chain[1:-1])]:  # the signer, then its CAs
        _el(x509_data, DS, "X509Certificate", _b64(der))
    qp = _el(_el(sig, DS, "Object"), XADES, "QualifyingProperties", Target=f"#{sig_id}")
    sp = _el(qp, XADES, "SignedProperties", Id=f"{sig_id}-SignedProperties")
    ssp = _el(sp, XADES, "SignedSignatureProperties")
    _el(ssp, XADES, "SigningTime", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    digest = _el(_el(_el(ssp, XADES, "SigningCertificateV2"), XADES, "Cert"), XADES, "CertDigest")
    _el(digest, DS, "DigestMethod", Algorithm=SHA256)
    _el(digest, DS, "DigestValue", _b64(hashlib.sha256(cert_der).digest()))
    sdop = _el(sp, XADES, "SignedDataObjectProperties")
    for i, name in enumerate(names):
        _el(_el(sdop, XADES, "DataObjectFormat", ObjectReference=f"#{sig_id}-ref{i}"), XADES, "MimeType", media_type(name))
    props_digest.text = _b64(hashlib.sha256(_c14n(sp)).digest())
    der = identity.key.sign(_c14n(si), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    size = (identity.key.curve.key_size + 7) // 8
    value.text = _b64(r.to_bytes(size, "big") + s.to_bytes(size, "big"))
    if level != "B-B":
        if pki is None:
            raise ValueError("a timestamp needs the DemoPKI's TSA")
        usp = _el(_el(qp, XADES, "UnsignedProperties"), XADES, "UnsignedSignatureProperties")
        ts = _el(usp, XADES, "SignatureTimeStamp", Id=f"{sig_id}-TS")
        _el(ts, DS, "CanonicalizationMethod", Algorithm=EXC_C14N)
        token = asyncio.run(pki.timestamper().async_timestamp(hashlib.sha256(_c14n(value)).digest(), "sha256"))
        _el(ts, XADES, "EncapsulatedTimeStamp", _b64(token.dump()))
        if level == "B-LT":
            values = _el(usp, XADES, "CertificateValues")
            for cert in identity.asn1_chain[1:]:
                _el(values, XADES, "EncapsulatedX509Certificate", _b64(cert.dump()))
            crls = _el(_el(usp, XADES, "RevocationValues"), XADES, "CRLValues")
            _el(crls, XADES, "EncapsulatedCRLValue", _b64(pki.crl().dump()))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def manifest_xml(entries: dict[str, str]) -> bytes:
    root = etree.Element(f"{{{MANIFEST}}}manifest", {f"{{{MANIFEST}}}version": "1.2"}, nsmap={"manifest": MANIFEST})
    _el(root, MANIFEST, "file-entry", **{f"{{{MANIFEST}}}full-path": "/", f"{{{MANIFEST}}}media-type": ASICE_MIMETYPE})
    for name, mime in entries.items():
        _el(root, MANIFEST, "file-entry", **{f"{{{MANIFEST}}}full-path": name, f"{{{MANIFEST}}}media-type": mime})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def pack(entries: Sequence[tuple[str, bytes]], *, mimetype: bytes | None = ASICE_MIMETYPE.encode(),
         mimetype_compressed: bool = False) -> bytes:
    """A ZIP: ``mimetype`` first (stored unless told otherwise), then ``entries`` deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if mimetype is not None:
            zf.writestr(zipfile.ZipInfo("mimetype"), mimetype,
                        compress_type=zipfile.ZIP_DEFLATED if mimetype_compressed else zipfile.ZIP_STORED)
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def make_container(files: dict[str, bytes], signers: Sequence[Identity], *, level: str = "B-T",
                   pki: DemoPKI | None = None) -> bytes:
    """A well-formed ASiC-E container: ``files``, a manifest, one signature file per signer."""
    entries = list(files.items())
    entries.append(("META-INF/manifest.xml", manifest_xml({n: media_type(n) for n in files})))
    for i, identity in enumerate(signers):
        entries.append((f"META-INF/signatures{i}.xml",
                        signature_document(files, identity, sig_id=f"S{i}", level=level, pki=pki)))
    return pack(entries)
