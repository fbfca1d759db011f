"""Open a container's ZIP without trusting it: bounds, names, encryption, ``mimetype``.

Every check raises :class:`ContainerInvalid` with a message saying which rule broke.
Limits: at most ``MAX_ENTRIES`` entries; the uncompressed total at most the policy's
``max_bytes`` (the PDF limit, 20 MB by default); no entry expanding more than
``MAX_RATIO`` times. Sizes are enforced while inflating too, not only read from the
headers, so a lying header cannot make us inflate more.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from dataclasses import dataclass

from verify.container import ASICE_MIMETYPE, EXTENSIONS, looks_like_zip

MAX_ENTRIES = 64
MAX_RATIO = 200
_CHUNK = 64 * 1024
META_INF = "META-INF/"


class ContainerInvalid(ValueError):
    """The container breaks a rule; ``str(exc)`` says which (the ``container_invalid`` message)."""


@dataclass(frozen=True)
class Container:
    mimetype: str
    #: name -> bytes of every file outside META-INF (the signed data objects), in ZIP order.
    data_files: dict[str, bytes]
    #: name -> bytes of META-INF/*signatures*.xml
    signature_files: dict[str, bytes]
    manifest: bytes | None


def open_container(data: bytes, max_bytes: int) -> Container:
    if len(data) > max_bytes:
        raise ContainerInvalid(f"the container has {len(data)} bytes; the limit is {max_bytes}")
    if not looks_like_zip(data):
        raise ContainerInvalid("the container is not a ZIP file")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ContainerInvalid(f"the ZIP is malformed ({exc})") from exc
    _check_directory(infos, max_bytes)
    _check_mimetype(infos, data)
    budget = [max_bytes]  # bytes we may still inflate
    mimetype = _read(zf, infos[0], budget).decode("ascii", "replace").strip()
    if mimetype != ASICE_MIMETYPE:
        raise ContainerInvalid(f"the mimetype entry is {mimetype[:80]!r}, not {ASICE_MIMETYPE}")
    data_files: dict[str, bytes] = {}
    signatures: dict[str, bytes] = {}
    manifest = None
    for info in infos[1:]:
        if info.is_dir():
            continue
        name = info.filename
        if name.startswith(META_INF):
            base = name[len(META_INF):]
            if name == META_INF + "manifest.xml":
                manifest = _read(zf, info, budget)
            elif "signatures" in base.lower() and base.lower().endswith(".xml") and "/" not in base:
                signatures[name] = _read(zf, info, budget)
            continue  # other META-INF files are not data objects
        content = _read(zf, info, budget)
        if looks_like_zip(content) or name.lower().endswith(EXTENSIONS):
            raise ContainerInvalid(f"the data file {name!r} is itself a container (nested containers are refused)")
        data_files[name] = content
    return Container(mimetype, data_files, signatures, manifest)


def _check_directory(infos: list[zipfile.ZipInfo], max_bytes: int) -> None:
    if not infos:
        raise ContainerInvalid("the ZIP is empty")
    if len(infos) > MAX_ENTRIES:
        raise ContainerInvalid(f"the ZIP has {len(infos)} entries; the limit is {MAX_ENTRIES}")
    total = 0
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise ContainerInvalid(f"the entry {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ContainerInvalid(f"the entry {name!r} uses compression method {info.compress_type}")
        _check_name(info.orig_filename)
        if name in seen:
            raise ContainerInvalid(f"the ZIP holds the name {name!r} twice")
        seen.add(name)
        total += info.file_size
        if total > max_bytes:
            raise ContainerInvalid(f"the ZIP expands to more than {max_bytes} bytes")
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > _CHUNK:
            raise ContainerInvalid(
                f"the entry {name!r} expands {info.file_size // max(info.compress_size, 1)} times (a ZIP bomb)"
            )


def _check_name(name: str) -> None:
    if not name or "\\" in name or "\x00" in name:
        raise ContainerInvalid(f"the entry name {name!r} is not a plain relative path")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ContainerInvalid(f"the entry name {name!r} is absolute")
    parts = name.split("/")
    if ".." in parts or posixpath.normpath(name).startswith(".."):
        raise ContainerInvalid(f"the entry name {name!r} leaves the container (path traversal)")


def _check_mimetype(infos: list[zipfile.ZipInfo], data: bytes) -> None:
    first = infos[0]
    if first.filename != "mimetype" or first.header_offset != 0:
        if any(i.filename == "mimetype" for i in infos):
            raise ContainerInvalid("the mimetype entry is not the first entry of the ZIP")
        raise ContainerInvalid("the ZIP has no mimetype entry")
    if first.compress_type != zipfile.ZIP_STORED:
        raise ContainerInvalid("the mimetype entry is compressed (it must be stored)")


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> bytes:
    """Inflate one entry, never beyond its declared size nor the remaining ``budget[0]`` (decreased)."""
    limit = budget[0]
    if info.file_size > limit:
        raise ContainerInvalid(f"the ZIP expands to more than the size limit at {info.filename!r}")
    out = bytearray()
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) > info.file_size or len(out) > limit:
                    raise ContainerInvalid(f"the entry {info.filename!r} expands beyond its declared size")
    except ContainerInvalid:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ContainerInvalid(f"the entry {info.filename!r} cannot be read ({exc})") from exc
    budget[0] -= len(out)
    return bytes(out)


def contained_pdf(data: bytes, max_bytes: int = 20 * 1024 * 1024) -> bytes | None:
    """The one PDF inside a container, for a preview; None unless it is exactly that.
    Opened with every check above; nothing is verified."""
    try:
        container = open_container(data, max_bytes)
    except ContainerInvalid:
        return None
    files = list(container.data_files.values())
    return files[0] if len(files) == 1 and b"%PDF-" in files[0][:1024] else None
