"""A hardened XML parser for the XML files inside a container (signatures, manifest).

No DTD is loaded, no entity is resolved, nothing is fetched, and libxml2's huge-document
switch stays off. A document that declares a DTD at all is refused: XAdES and the
manifest never need one, and entity tricks (billion laughs, external entities) need it.
"""

from __future__ import annotations

from lxml import etree

#: Larger signature files are refused (real ones, with certificates and OCSP, are < 100 KB).
MAX_XML_BYTES = 2 * 1024 * 1024


class UnsafeXml(ValueError):
    """The XML is refused; the message says why."""


def parse(data: bytes, what: str) -> etree._Element:
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXml(f"{what} is {len(data)} bytes; the limit is {MAX_XML_BYTES}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXml(f"{what} declares a DTD or entities")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=False,
        remove_pis=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"{what} is not well-formed XML ({exc.msg})") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:  # e.g. a UTF-16 DOCTYPE
        raise UnsafeXml(f"{what} declares a DTD or entities")
    return root
