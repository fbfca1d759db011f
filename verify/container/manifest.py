"""``META-INF/manifest.xml`` (OpenDocument manifest, as ASiC-E uses it): file name -> media type."""

from __future__ import annotations

from verify.container.archive import ContainerInvalid
from verify.container.xmlsafe import UnsafeXml, parse

_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"


def read_manifest(data: bytes | None) -> dict[str, str]:
    """The listed files (the root entry ``/`` left out). Duplicate entries are refused."""
    if data is None:
        raise ContainerInvalid("the container has no META-INF/manifest.xml")
    try:
        root = parse(data, "META-INF/manifest.xml")
    except UnsafeXml as exc:
        raise ContainerInvalid(str(exc)) from exc
    if root.tag != f"{{{_NS}}}manifest":
        raise ContainerInvalid("META-INF/manifest.xml is not an OpenDocument manifest")
    out: dict[str, str] = {}
    for entry in root.iter(f"{{{_NS}}}file-entry"):
        path = entry.get(f"{{{_NS}}}full-path")
        if path is None:
            raise ContainerInvalid("a manifest entry has no full-path")
        if path == "/":
            continue
        if path in out:
            raise ContainerInvalid(f"the manifest lists {path!r} twice")
        out[path] = entry.get(f"{{{_NS}}}media-type") or ""
    return out
