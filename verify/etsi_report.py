"""The ETSI TS 119 102-2 validation report (XML) of the customer's signature, stored with each submission.

pyHanko builds the report (``pyhanko.sign.validation.report.tools``); its SignatureQuality (QESig /
AdESig, as the EU's DSS validator names them) is filled in here, since pyHanko does not assess it.

pyHanko's ``generate_report`` serialises with a new xsdata context each time, which rebuilds the
metadata of every XML class it meets: three quarters of the report's cost. Here one serialiser
(and its context) serves every decision, and the quality goes into the report before it is
serialised, not into a re-parsed copy. If pyHanko's building blocks change, the public
``generate_report`` is used and the quality added to its XML.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading

log = logging.getLogger(__name__)

#: ETSI TS 119 102-2 names for a signature's quality (as the EU's DSS validator writes them).
QUALITY_URIS = {True: "urn:cef:dss:signatureQualification:QESig", False: "urn:cef:dss:signatureQualification:AdESig"}
_VR_NS = "http://uri.etsi.org/19102/v1.2.1#"
_LOCK = threading.Lock()  # xsdata's context fills its class cache while serialising


def etsi_report(validation: tuple | None, qualified: bool | None) -> str | None:
    """The report of ``validation`` = (pyHanko's EmbeddedPdfSignature, its AdES result), or None.

    Never raises: the report is evidence, never a reason to crash the decision.
    """
    if validation is None:
        return None
    sig, result = validation
    try:
        try:
            from pyhanko.sign.validation.report import tools
            from pyhanko.generated.etsi import ts_11910202

            build, package = tools._generate_report, tools._package_validation_object
        except (ImportError, AttributeError):
            return _with_quality(_public_report(sig, result), qualified)
        single = build(sig, result)
        if qualified is not None:
            single = dataclasses.replace(single, signature_quality=ts_11910202.SignatureQualityType(
                signature_quality_information=(QUALITY_URIS[qualified],)))
        report = ts_11910202.ValidationReport(
            signature_validation_report=(single,),
            signature_validation_objects=ts_11910202.ValidationObjectListType(
                tuple(package(vo) for vo in result.validation_objects)),
        )
        with _LOCK:
            return _serializer().render(report, ns_map=tools.NAMESPACES)
    except Exception as exc:
        log.warning("no ETSI report: %s", type(exc).__name__)
        return None


@functools.lru_cache(maxsize=1)
def _serializer():
    """The serialiser pyHanko's ``generate_report`` uses (two-space indent), made once."""
    from xsdata.formats.dataclass.context import XmlContext
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.formats.dataclass.serializers.config import SerializerConfig

    return XmlSerializer(config=SerializerConfig(indent="  "), context=XmlContext())


def _public_report(sig, result) -> str:
    from pyhanko.sign.validation.report.tools import generate_report

    return generate_report(sig, result)


def _with_quality(xml: str, qualified: bool | None) -> str:
    """Insert SignatureQuality before each SignatureValidationProcess of pyHanko's XML."""
    if qualified is None:
        return xml
    from lxml import etree

    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    for report in root.iter(f"{{{_VR_NS}}}SignatureValidationReport"):
        process = report.find(f"{{{_VR_NS}}}SignatureValidationProcess")
        quality = etree.Element(f"{{{_VR_NS}}}SignatureQuality")
        etree.SubElement(quality, f"{{{_VR_NS}}}SignatureQualityInformation").text = QUALITY_URIS[qualified]
        if process is not None:
            process.addprevious(quality)
        else:
            report.append(quality)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
