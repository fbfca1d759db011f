"""Build signed ETSI TS 119 612 trusted lists for the demo PKI (tests, ``docintake demo``, bench).

A test LOTL pointing at one national list that grants the demo signature CA as a qualified
CA (``CA/QC``) and the demo TSA as a qualified time-stamping service (``TSA/QTST``). Both are
XAdES-signed (signxml, as pyHanko's own tests do) so that docintake reads them through the
production path (:mod:`verify.trust`), not around it. Never production trust.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

_UTC = _dt.timezone.utc


@dataclass(frozen=True)
class ServiceEntry:
    """One service on a list: its certificate, qualified CA or QTST, granted since ``since``."""

    name: str
    cert: asn1_x509.Certificate
    kind: str  # "ca" | "tsa"
    since: _dt.datetime


def _names(text: str):
    from pyhanko.generated.etsi import ts_119612 as t

    return t.InternationalNamesType((t.MultiLangNormStringType(value=text, lang="en"),))


def _scheme(*, territory: str, sequence: int, issued: _dt.datetime, next_update: _dt.datetime,
            tsl_type: str, pointers=None):
    from pyhanko.generated.etsi import ts_119612 as t
    from xsdata.models.datatype import XmlDateTime

    return t.SchemeInformation(
        tslversion_identifier=5,
        tslsequence_number=sequence,
        tsltype=t.TSLType(tsl_type),
        scheme_information_uri=t.SchemeInformationURI(uri=()),
        scheme_territory=t.SchemeTerritory(territory),
        pointers_to_other_tsl=pointers,
        list_issue_date_time=XmlDateTime.from_datetime(issued),
        next_update=t.NextUpdate(XmlDateTime.from_datetime(next_update)),
    )


def _service(entry: ServiceEntry):
    from pyhanko.generated.etsi import ts_119612 as t
    from pyhanko.sign.validation.qualified.eutl_parse import STATUS_GRANTED
    from pyhanko.sign.validation.qualified.tsp import CA_QC_URI, QTST_URI
    from xsdata.models.datatype import XmlDateTime

    return t.TSPService(
        t.ServiceInformation(
            service_type_identifier=t.ServiceTypeIdentifier(CA_QC_URI if entry.kind == "ca" else QTST_URI),
            service_name=_names(entry.name),
            service_digital_identity=t.ServiceDigitalIdentity((t.DigitalIdentityType(x509_certificate=entry.cert.dump()),)),
            service_status=t.ServiceStatus(STATUS_GRANTED),
            status_starting_time=XmlDateTime.from_datetime(entry.since),
        )
    )


def _sign(root, cert: asn1_x509.Certificate, key_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from lxml.etree import fromstring, tostring
    from signxml import SignatureMethod
    from signxml.xades import XAdESSigner
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.formats.dataclass.serializers.config import SerializerConfig

    key = serialization.load_pem_private_key(key_pem, None)
    method = SignatureMethod.ECDSA_SHA256 if isinstance(key, ec.EllipticCurvePrivateKey) else SignatureMethod.RSA_SHA256
    data = XmlSerializer(config=SerializerConfig(indent="  ")).render(root)
    signed = XAdESSigner(signature_algorithm=method).sign(
        fromstring(data.encode("utf-8")), key=key, cert=pem.armor("CERTIFICATE", cert.dump()).decode(),
        always_add_key_value=False,
    )
    return tostring(signed, xml_declaration=True, encoding="UTF-8")


def national_list(entries: list[ServiceEntry], *, territory: str, signer_cert, signer_key_pem: bytes,
                  sequence: int = 1, issued: _dt.datetime | None = None,
                  next_update: _dt.datetime | None = None) -> bytes:
    """A signed national trusted list (TSLType EUgeneric) with these services granted."""
    from pyhanko.generated.etsi import ts_119612 as t

    issued = issued or _dt.datetime.now(_UTC).replace(microsecond=0)
    root = t.TrustServiceStatusList(
        tsltag="http://uri.etsi.org/19612/TSLTag",
        scheme_information=_scheme(
            territory=territory, sequence=sequence, issued=issued,
            next_update=next_update or issued + _dt.timedelta(days=180),
            tsl_type="http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric",
        ),
        trust_service_provider_list=t.TrustServiceProviderList(
            trust_service_provider=(
                t.TrustServiceProvider(
                    tspinformation=t.TSPInformation(tspname=_names("docintake demo TSP")),
                    tspservices=t.TSPServices(tuple(_service(e) for e in entries)),
                ),
            )
        ),
    )
    return _sign(root, signer_cert, signer_key_pem)


def list_of_lists(pointers: list[tuple[str, str, asn1_x509.Certificate]], *, signer_cert, signer_key_pem: bytes,
                  sequence: int = 1, issued: _dt.datetime | None = None,
                  next_update: _dt.datetime | None = None) -> bytes:
    """A signed LOTL; ``pointers`` are ``(territory, url, certificate that signs that list)``."""
    from pyhanko.generated.etsi import MimeType
    from pyhanko.generated.etsi import ts_119612 as t
    from pyhanko.sign.validation.qualified.eutl_parse import ETSI_TSL_MIME_TYPE

    issued = issued or _dt.datetime.now(_UTC).replace(microsecond=0)
    tsl_pointers = tuple(
        t.OtherTSLPointer(
            tsllocation=url,
            service_digital_identities=t.ServiceDigitalIdentities(
                service_digital_identity=(t.ServiceDigitalIdentity((t.DigitalIdentityType(x509_certificate=cert.dump()),)),)
            ),
            additional_information=t.AdditionalInformation(
                other_information=(t.AnyType(content=(t.SchemeTerritory(territory), MimeType(ETSI_TSL_MIME_TYPE))),)
            ),
        )
        for territory, url, cert in pointers
    )
    root = t.TrustServiceStatusList(
        tsltag="http://uri.etsi.org/19612/TSLTag",
        scheme_information=_scheme(
            territory="EU", sequence=sequence, issued=issued,
            next_update=next_update or issued + _dt.timedelta(days=180),
            tsl_type="http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists",
            pointers=t.PointersToOtherTSL(other_tslpointer=tsl_pointers),
        ),
    )
    return _sign(root, signer_cert, signer_key_pem)
