"""Read one raw e-mail into what intake needs: its headers and every PDF in it.

``parse_mail(raw, max_part_bytes)`` never raises on a broken message: it reads
whatever can be read and lists what it had to work around in ``defects``. ``raw`` is
the mail's bytes or a seekable binary file (the poller's copy on disk), read in slices.

Memory: a mail may carry ten 20 MB PDFs. The stdlib parser would hold every body as
text and we would hold every decoded PDF, about three times the mail. So base64 bodies
larger than ``spool_threshold`` (1 MiB) are not kept by the parser: ``intake.mailin.spool``
hooks the stdlib parser so that such a body's lines go to an anonymous temporary file
(unlinked at once: nothing stays on disk, even after SIGKILL), decoded as they arrive,
and the ``PdfPart`` reads its bytes from that file (``data``, ``chunks()``) until
``ParsedMail.close()``. Which parts exist, their headers, defects, sizes and hashes are
the same as without the spool; anything the spool is unsure of (non-ASCII bytes, base64
that is not strict) is put back and read in memory as before, as are TNEF files and
uuencoded text bodies, which need their whole bytes.

What counts as a PDF (each becomes one submission):

* any leaf part whose decoded bytes carry ``%PDF-`` within the first 1024
  bytes (that is how PDF readers sniff; the declared Content-Type and the file
  name do not matter), attachments and inline parts alike;
* any part that *says* it is a PDF (``application/pdf``, ``application/x-pdf``
  or a ``.pdf`` file name) even though its bytes are not: it still becomes a
  submission, which the decision rejects as ``not_pdf``, so that the customer
  who sent a broken file shows up in the back office instead of vanishing;
* a signed container (ASiC-E: ``.edoc``, ``.asice``, ``.sce``, ``.bdoc``), by its bytes
  (a ZIP whose first entry is ``mimetype`` = ``application/vnd.etsi.asic-e+zip``), its
  Content-Type or its extension: one submission, like a PDF (``PdfPart`` then holds
  the container; the decision opens it);
* PDFs inside nested ``message/rfc822`` parts (forwarded mails), inside
  Outlook's TNEF ``winmail.dat`` (unpacked with ``tnefparse``), and
  uuencoded blocks (``begin 644 form.pdf``) inside text bodies.

A PDF part larger than ``max_part_bytes`` is *not* dropped: it is returned
with ``too_large=True`` (no bytes kept in the part, its SHA-256 computed) and
the mail store records it as a submission rejected with ``too_large``; the
raw mail is kept anyway, so nothing is lost. Every other non-body part is
listed in ``others`` ({"filename", "type", "size", "note"}) for the back
office.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import email.header
import email.utils
import hashlib
import io
import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from typing import BinaryIO

from intake.mailin.spool import (
    FEED_BYTES,
    SPOOL_ATTR,
    Decoded,
    SpoolFailed,
    SpoolingParser,
)
from verify.container import declares_container, sniff_container

log = logging.getLogger(__name__)

#: PDF readers accept the header anywhere in the first 1024 bytes.
SNIFF_BYTES = 1024
PDF_MAGIC = b"%PDF-"
DECLARED_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf", "application/acrobat", "applications/vnd.pdf"})
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
#: Nesting deeper than this (message/rfc822 in message/rfc822 in ...) is not followed.
MAX_DEPTH = 10
#: More leaf parts than this in one mail are not examined (a zip-bomb-like MIME tree).
MAX_PARTS = 1000
HEADER_MAX = 998


@dataclass(frozen=True, init=False, eq=False)
class PdfPart:
    """One PDF found in a mail. ``index`` is stable for the same raw bytes (the part's leaf number).

    Its bytes are in memory, or (``spooled``: a part larger than parse_mail's ``spool_threshold``)
    in an anonymous temporary file owned by the ``ParsedMail``. ``data`` returns them whole either
    way; ``chunks()`` yields them in slices. After ``ParsedMail.close()`` reading a spooled part's
    bytes raises ``ValueError``. Equality compares every field and the bytes.
    """

    index: int
    filename: str | None
    sha256: str
    size: int = 0
    declared_type: str = ""
    #: True when the bytes start like a PDF; False for a part that only claims to be one.
    sniffed: bool = True
    #: Larger than max_part_bytes: recorded, rejected as too_large, bytes not kept here.
    too_large: bool = False
    #: Where it was found, e.g. "attachment", "inline", "message/rfc822", "tnef", "uuencode".
    origin: str = "attachment"

    def __init__(self, index: int, filename: str | None, data: bytes, sha256: str, size: int = 0,
                 declared_type: str = "", sniffed: bool = True, too_large: bool = False,
                 origin: str = "attachment", *, file: BinaryIO | None = None) -> None:
        values = dict(index=index, filename=filename, sha256=sha256, size=size, declared_type=declared_type,
                      sniffed=sniffed, too_large=too_large, origin=origin, _data=data, _file=file)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def spooled(self) -> bool:
        """True when the bytes are in a temporary file rather than in memory."""
        return self._file is not None

    @property
    def data(self) -> bytes:
        """The bytes (empty when too_large)."""
        return self._data if self._file is None else b"".join(self.chunks())

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes in slices of ``size``, without holding them whole."""
        if size <= 0:
            raise ValueError(f"chunk size must be positive, not {size}")
        if self._file is None:
            for start in range(0, len(self._data), size):
                yield self._data[start:start + size]
            return
        offset = 0
        while True:
            if self._file.closed:
                raise ValueError(f"PDF part {self.index}: its bytes were released by ParsedMail.close()")
            self._file.seek(offset)  # by offset: several readers may interleave
            block = self._file.read(size)
            if not block:
                return
            offset += len(block)
            yield block

    def release(self) -> None:
        """Close the temporary file (idempotent); ParsedMail.close() calls it."""
        if self._file is not None:
            self._file.close()

    def _key(self) -> tuple:
        return (self.index, self.filename, self.sha256, self.size, self.declared_type, self.sniffed,
                self.too_large, self.origin)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PdfPart):
            return NotImplemented
        if self._key() != other._key():
            return False
        if self._file is None and other._file is None:
            return self._data == other._data
        return all(a == b for a, b in itertools.zip_longest(self.chunks(), other.chunks()))

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass
class ParsedMail:
    message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    date: dt.datetime | None = None
    pdfs: list[PdfPart] = field(default_factory=list)
    others: list[dict] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    #: Hex SHA-256 of the whole raw mail, computed while it was read (None when not parsed).
    message_key: str | None = None
    raw_size: int = 0

    def close(self) -> None:
        """Release the temporary files of spooled PDF parts (idempotent); their bytes are gone after it."""
        for part in self.pdfs:
            part.release()

    def __enter__(self) -> "ParsedMail":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# text helpers


def clean_text(value: object, limit: int | None = None) -> str | None:
    """A string safe for any database: surrogate-escaped bytes decoded, NULs and controls dropped."""
    if value is None:
        return None
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raw = _text_bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", "replace")
    # lone surrogates of any other kind cannot be encoded to UTF-8
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch for ch in text if ch in "\t" or ch >= " " and ch != "\x7f")
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    text = text.strip()
    if limit is not None:
        text = text[:limit]
    return text or None


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words leniently (broken charsets give U+FFFD, never an error)."""
    if "=?" not in text:
        return text
    try:
        pieces = []
        for chunk, charset in email.header.decode_header(text):
            if isinstance(chunk, bytes):
                try:
                    pieces.append(chunk.decode(charset or "ascii", "replace"))
                except LookupError:
                    pieces.append(chunk.decode("utf-8", "replace"))
            else:
                pieces.append(chunk)
        return "".join(pieces)
    except Exception:  # noqa: BLE001 - a header must never stop the parse
        return text


def _raw_header(part: Message, name: str) -> str | None:
    for key, value in part.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _header(part: Message, name: str, defects: list[str]) -> str | None:
    try:
        value = part.get(name)
        value = None if value is None else str(value)
    except Exception as exc:  # noqa: BLE001 - policy.default can raise on odd header syntax
        defects.append(f"header {name}: {type(exc).__name__}")
        value = "\ufffd"
    if value is not None and "\ufffd" in value:
        # raw 8-bit bytes in a header (not RFC 2047): policy.default turns them into U+FFFD;
        # read them again as UTF-8, else as Windows-1252, like mail clients do
        raw = _raw_header(part, name)
        if raw is not None:
            value = _decode_words(clean_text(raw) or "")
    return value


_PARAM = r"(?:^|;)\s*{name}\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|([^;\s]+))"


def _lenient_param(header_value: str | None, name: str) -> str | None:
    if not header_value:
        return None
    m = re.search(_PARAM.format(name=re.escape(name)), header_value, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def _filename(part: Message) -> str | None:
    name = None
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if not name:
        for header in ("Content-Disposition", "Content-Type"):
            raw = _raw_header(part, header)
            for param in ("filename", "name"):
                name = _lenient_param(raw, param)
                if name:
                    break
            if name:
                break
    if not name:
        return None
    name = _decode_words(name)
    return clean_text(name, 500)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001
        return None


def _cte(part: Message) -> str:
    try:
        return str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    except Exception:  # noqa: BLE001
        return ""


def raw_slices(raw: bytes | BinaryIO, size: int = FEED_BYTES) -> Iterator[bytes]:
    """The raw mail in slices: from memory, or read from offset 0 of a seekable file (left open)."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        view = memoryview(raw)
        for start in range(0, len(view), size):
            yield bytes(view[start:start + size])
        return
    raw.seek(0)
    while block := raw.read(size):
        yield block


def _raw_size(raw: bytes | BinaryIO) -> int:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return memoryview(raw).nbytes
    return raw.seek(0, io.SEEK_END)


def _spool_wanted(part: Message) -> bool:
    """The leaf parts whose body the parser may spool: base64 ones, as ``_payload_bytes`` reads them."""
    return _cte(part) == "base64"


def _parse_stream(raw: bytes | BinaryIO, threshold: int | None, result: ParsedMail) -> tuple[Message, SpoolingParser]:
    """The stdlib feed parser fed in slices (``message_from_bytes`` would split the whole mail
    into lines at once), spooling base64 bodies over ``threshold``; hashes the raw mail on the way."""
    if threshold is not None and threshold >= _raw_size(raw):
        threshold = None  # no body can be that large: the plain stdlib parse
    parser = SpoolingParser(threshold, _spool_wanted)
    digest = hashlib.sha256()
    size = 0
    try:
        for block in raw_slices(raw):
            digest.update(block)
            size += len(block)
            parser.feed(block)
        msg = parser.close()
    except BaseException:
        parser.close_spools()
        raise
    result.message_key, result.raw_size = digest.hexdigest(), size
    return msg, parser


def _text_bytes(text: str) -> bytes:
    """A payload the stdlib decoded to text, back to bytes: its escaped raw bytes as they came,
    any real non-ASCII character (e.g. U+FFFD from a byte mangled in transit) as UTF-8, never an error."""
    return text.encode("utf-8", "surrogateescape")


def _lenient_b64(text: str) -> bytes:
    """Decode base64 the way mail clients do: skip anything outside the alphabet, mend the padding."""
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", _text_bytes(text))
    if len(data) % 4 == 1:
        data = data[:-1]
    data += b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""


def _encoded_rfc822(part: Message, defects: list[str], where: str) -> bytes:
    """The decoded bytes of a message/rfc822 part that (illegally) carries a transfer encoding."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _payload_bytes(part, defects, where)
    if len(payload) != 1 or payload[0].is_multipart() or not isinstance(payload[0].get_payload(), str):
        return b""
    # the stdlib took the encoded text for a message: put the text back together and decode it
    sub = payload[0]
    headers = list(sub.raw_items())
    text = "".join(f"{k}: {v}\n" for k, v in headers) + ("\n" if headers else "") + sub.get_payload()
    if _cte(part) == "base64":
        return _lenient_b64(text)
    import quopri

    return quopri.decodestring(_text_bytes(text))


def _payload_bytes(part: Message, defects: list[str], where: str) -> bytes:
    if _cte(part) == "base64" and not part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, str):
            stripped = "".join(payload.split())
            try:
                return binascii.a2b_base64(stripped.encode("ascii"), strict_mode=True)
            except (binascii.Error, UnicodeEncodeError, ValueError):
                defects.append(f"{where}: invalid base64 (decoded leniently)")
                return _lenient_b64(payload)
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - e.g. a broken uuencode block
        defects.append(f"{where}: payload not decodable ({type(exc).__name__}); raw bytes kept")
        data = None
    if data is None:
        payload = part.get_payload()
        if isinstance(payload, str):
            data = _text_bytes(payload)
        else:
            data = b""
    return data


def _part_data(part: Message, defects: list[str], where: str) -> bytes | Decoded:
    """A leaf's decoded bytes: in a temporary file when the parser spooled clean base64, else in memory
    (a spooled text that was not clean goes back into the part first, and is read as before)."""
    spool = getattr(part, SPOOL_ATTR, None)
    if spool is not None:
        decoded = spool.decoded()
        if decoded is not None:
            return decoded
        part.set_payload(spool.restore(part.get_payload()))
    return _payload_bytes(part, defects, where)


def _in_memory(data: bytes | Decoded) -> bytes:
    return data.read_all() if isinstance(data, Decoded) else data


def _size(data: bytes | Decoded) -> int:
    return data.size if isinstance(data, Decoded) else len(data)


def sniff_pdf(data: bytes) -> bool:
    return PDF_MAGIC in data[:SNIFF_BYTES]


def _declares_pdf(ctype: str, filename: str | None) -> bool:
    return ctype in DECLARED_PDF_TYPES or bool(filename and filename.lower().rstrip(". ").endswith(".pdf"))


def _is_body_text(part: Message, ctype: str, filename: str | None) -> bool:
    return ctype in ("text/plain", "text/html", "text/enriched") and not filename and _disposition(part) != "attachment"


_UU_BEGIN = re.compile(rb"^begin(?:-base64)? [0-7]{3,4} (.+?)\r?$", re.MULTILINE)


def _uudecode_blocks(text: bytes) -> list[tuple[str, bytes]]:
    """Old mailers put ``begin 644 name`` ... ``end`` blocks straight into a text body."""
    found = []
    for m in _UU_BEGIN.finditer(text):
        name = m.group(1).decode("utf-8", "replace").strip()
        out = bytearray()
        for line in text[m.end():].splitlines()[1:]:
            stripped = line.rstrip(b"\r\n")
            if stripped.strip() == b"end":
                break
            if not stripped:
                continue
            try:
                out += binascii.a2b_uu(stripped)
            except binascii.Error:
                # some encoders pad wrongly: decode by the length byte only
                try:
                    n = (((stripped[0] - 32) & 63) * 4 + 5) // 3
                    out += binascii.a2b_uu(stripped[:n])
                except (binascii.Error, IndexError):
                    break
        found.append((name, bytes(out)))
    return found


# ---------------------------------------------------------------------------
# the walk


class _Walker:
    def __init__(self, max_part_bytes: int, result: ParsedMail) -> None:
        self.max_part_bytes = max_part_bytes
        self.result = result
        self.leaf = 0

    def _next_index(self) -> int:
        index = self.leaf
        self.leaf += 1
        return index

    def defect(self, text: str) -> None:
        if text not in self.result.defects:
            self.result.defects.append(text)

    def note_defects(self, part: Message, where: str) -> None:
        for d in getattr(part, "defects", ()):
            self.defect(f"{where}: {type(d).__name__}")

    def walk(self, part: Message, depth: int = 0, where: str = "message") -> None:
        if self.leaf >= MAX_PARTS:
            self.defect(f"more than {MAX_PARTS} parts: the rest was not examined")
            return
        self.note_defects(part, where)
        if depth > MAX_DEPTH:
            self.defect(f"{where}: nested deeper than {MAX_DEPTH}; not examined")
            self.other(part, None, "nested too deep; not examined", 0)
            return
        ctype = _content_type(part)
        if ctype == "message/rfc822" and _cte(part) in ("base64", "quoted-printable"):
            # RFC 2046 forbids it, some mailers do it; the stdlib then reads the encoded text as headers
            data = _encoded_rfc822(part, self.result.defects, where)
            if data.strip():
                self.defect(f"{where}: encoded message/rfc822 decoded")
                self.walk(email.message_from_bytes(data, policy=policy.default), depth + 1, f"{where}/message")
            return
        if part.is_multipart():
            payload = part.get_payload()
            if ctype.startswith("multipart/") and self._boundary_lost(part):
                repaired = self._repair_boundary(part)
                if repaired is not None:
                    self.defect(f"{where}: boundary re-read leniently")
                    self.walk(repaired, depth + 1, where)
                    return
            for i, sub in enumerate(payload if isinstance(payload, list) else []):
                sub_where = f"{where}/message" if ctype == "message/rfc822" else f"{where}.{i + 1}"
                self.walk(sub, depth + 1, sub_where)
            return
        if ctype.startswith("multipart/"):
            # the parser could not split it at all (no boundary found): try a lenient boundary
            repaired = self._repair_boundary(part)
            if repaired is not None:
                self.defect(f"{where}: boundary re-read leniently")
                self.walk(repaired, depth + 1, where)
                return
        if ctype == "message/rfc822":
            # an rfc822 part with a transfer encoding is not parsed by the stdlib: do it here
            data = _payload_bytes(part, self.result.defects, where)
            if data.strip():
                self.walk(email.message_from_bytes(data, policy=policy.default), depth + 1, f"{where}/message")
            return
        self.leaf_part(part, ctype, where)

    @staticmethod
    def _boundary_lost(part: Message) -> bool:
        from email.errors import (
            MultipartInvariantViolationDefect,
            StartBoundaryNotFoundDefect,
        )

        return any(isinstance(d, (StartBoundaryNotFoundDefect, MultipartInvariantViolationDefect)) for d in part.defects)

    def _repair_boundary(self, part: Message) -> Message | None:
        """Outlook and friends write boundaries with characters RFC 2046 forbids, unquoted; read them as written."""
        raw_ct = _raw_header(part, "Content-Type")
        boundary = _lenient_param(raw_ct, "boundary")
        if not boundary:
            return None
        try:
            current = part.get_boundary()
        except Exception:  # noqa: BLE001
            current = None
        body = part.get_payload()
        if isinstance(body, list):
            return None
        if boundary == current and f"--{boundary}" not in body:
            return None
        if f"--{boundary}" not in body:
            return None
        ctype = _content_type(part)
        head = f'Content-Type: {ctype}; boundary="{boundary}"\r\n\r\n'
        data = _text_bytes(head + body)
        repaired = email.message_from_bytes(data, policy=policy.default)
        if not repaired.is_multipart() or self._boundary_lost(repaired):
            return None
        return repaired

    def leaf_part(self, part: Message, ctype: str, where: str) -> None:
        index = self._next_index()
        filename = _filename(part)
        data = _part_data(part, self.result.defects, where)
        try:
            self._leaf_data(part, ctype, where, index, filename, data)
        finally:
            if isinstance(data, Decoded):
                data.close()  # unless a PdfPart took the file

    def _leaf_data(self, part: Message, ctype: str, where: str, index: int, filename: str | None,
                   data: bytes | Decoded) -> None:
        origin = "inline" if _disposition(part) == "inline" else "attachment"
        if "/message" in where:
            origin = "message/rfc822"
        if ctype in TNEF_TYPES or (filename or "").lower() == "winmail.dat":
            self.tnef(_in_memory(data), filename, ctype, where)
            return
        if self.consider(index, filename, data, ctype, origin):
            return
        if _is_body_text(part, ctype, filename):
            for name, blob in _uudecode_blocks(_in_memory(data)):
                self.consider(self._next_index(), clean_text(name, 500), blob, "application/octet-stream", "uuencode", always=True)
            return
        note = ""
        cte = _cte(part)
        size = _size(data)
        if not size:
            note = "empty part" + (f" ({cte} payload could not be decoded)" if "uu" in cte else "")
        elif size > self.max_part_bytes:
            note = f"larger than the part limit ({size} > {self.max_part_bytes} bytes)"
        elif ctype in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
            note = "S/MIME signature of the mail (not a PDF)"
        self.other(part, filename, note, size, ctype=ctype)

    def consider(
        self, index: int, filename: str | None, data: bytes | Decoded, ctype: str, origin: str, always: bool = False
    ) -> bool:
        """Make a PdfPart if the bytes are a PDF or the part claims to be one. True if taken.
        A spooled part's file goes to the PdfPart (unless too large)."""
        size = _size(data)
        head = data.head if isinstance(data, Decoded) else data
        sniffed = sniff_pdf(head) or sniff_container(head)
        if not sniffed and not (_declares_pdf(ctype, filename) or declares_container(ctype, filename)):
            if always:  # a uuencoded / TNEF file that is not a PDF: list it
                self.result.others.append(
                    {"filename": filename, "type": ctype, "size": size, "note": f"found in {origin}; not a PDF"}
                )
            return False
        digest = data.sha256 if isinstance(data, Decoded) else hashlib.sha256(data).hexdigest()
        too_large = size > self.max_part_bytes
        if too_large:
            self.result.others.append(
                {
                    "filename": filename,
                    "type": ctype,
                    "size": size,
                    "note": f"PDF larger than the part limit ({size} > {self.max_part_bytes} bytes): "
                    "recorded as a submission rejected with too_large",
                }
            )
        elif not sniffed:
            log.info("part %s (%s, %s) claims to be a PDF but is not one; kept for the decision", index, filename, ctype)
        kept, file = b"", None
        if not too_large:
            kept, file = (b"", data.give()) if isinstance(data, Decoded) else (data, None)
        self.result.pdfs.append(
            PdfPart(
                index=index,
                filename=filename,
                data=kept,
                sha256=digest,
                size=size,
                declared_type=ctype,
                sniffed=sniffed,
                too_large=too_large,
                origin=origin,
                file=file,
            )
        )
        return True

    def tnef(self, data: bytes, filename: str | None, ctype: str, where: str) -> None:
        try:
            from tnefparse import TNEF  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - a declared dependency
            self.other(None, filename, "Outlook TNEF (winmail.dat) not unpacked: tnefparse is not installed", len(data), ctype=ctype)
            return
        try:
            tnef = TNEF(data)
            attachments = list(tnef.attachments)
        except Exception as exc:  # noqa: BLE001 - a broken winmail.dat must not stop the mail
            self.defect(f"{where}: TNEF not readable ({type(exc).__name__})")
            self.other(
                None, filename, f"Outlook TNEF (winmail.dat) could not be read ({type(exc).__name__}); check it by hand",
                len(data), ctype=ctype,
            )
            return
        self.result.others.append(
            {
                "filename": filename,
                "type": ctype,
                "size": len(data),
                "note": f"Outlook TNEF (winmail.dat) with {len(attachments)} attachment(s), unpacked",
            }
        )
        for att in attachments:
            try:
                name = att.long_filename() or att.name
            except Exception:  # noqa: BLE001
                name = getattr(att, "name", None)
            if isinstance(name, bytes):
                name = name.decode("cp1252", "replace")
            blob = att.data if isinstance(att.data, bytes) else bytes(att.data or b"")
            self.consider(self._next_index(), clean_text(name, 500), blob, "application/octet-stream", "tnef", always=True)

    def other(self, part: Message | None, filename: str | None, note: str, size: int, ctype: str | None = None) -> None:
        self.result.others.append(
            {
                "filename": filename,
                "type": ctype or (_content_type(part) if part is not None else "application/octet-stream"),
                "size": size,
                "note": note,
            }
        )


def _parse_date(msg: Message, defects: list[str]) -> dt.datetime | None:
    value = None
    try:
        header = msg.get("Date")
        value = getattr(header, "datetime", None)
    except Exception:  # noqa: BLE001
        header = None
    if value is None:
        raw = _raw_header(msg, "Date")
        if raw:
            try:
                value = email.utils.parsedate_to_datetime(raw.strip())
            except (TypeError, ValueError, IndexError, OverflowError):
                defects.append("Date header not readable")
                return None
    if value is None:
        return None
    if value.tzinfo is None:  # "-0000": the zone is unknown; RFC 5322 says it is UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    try:
        return value.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        defects.append("Date header out of range")
        return None


def _sender(msg: Message, defects: list[str]) -> str | None:
    value = _header(msg, "From", defects)
    if value is None:
        value = _header(msg, "Sender", defects)
    return clean_text(value, HEADER_MAX)


def parse_mail(raw: bytes | BinaryIO, max_part_bytes: int, *, spool_threshold: int = 1 << 20) -> ParsedMail:
    """Headers, every PDF and a list of the other parts of one raw message. Never raises.

    ``raw`` is the mail's bytes or a seekable binary file, read from offset 0 in slices and left
    open. Base64 bodies larger than ``spool_threshold`` bytes are decoded into anonymous temporary
    files instead of memory (``intake.mailin.spool``); the result is the same either way. Close the
    result (or use it as a context manager) to release the files.
    """
    try:
        return _parse_mail(raw, max_part_bytes, spool_threshold)
    except SpoolFailed:
        log.warning("spooling a mail part failed; parsing the mail in memory instead", exc_info=True)
        return _parse_mail(raw, max_part_bytes, None)


def _parse_mail(raw: bytes | BinaryIO, max_part_bytes: int, threshold: int | None) -> ParsedMail:
    result = ParsedMail()
    try:
        msg, parser = _parse_stream(raw, threshold, result)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is very lenient; belt and braces
        if threshold is not None:
            raise SpoolFailed(f"{type(exc).__name__}: {exc}") from exc  # the plain stdlib parse decides
        result.defects.append(f"message not parseable ({type(exc).__name__})")
        _hash_only(raw, result)
        return result
    try:
        _read_message(msg, max_part_bytes, result)
    except SpoolFailed:
        result.close()
        raise
    finally:
        parser.close_spools()  # the spools no PdfPart took
    return result


def _hash_only(raw: bytes | BinaryIO, result: ParsedMail) -> None:
    digest, size = hashlib.sha256(), 0
    try:
        for block in raw_slices(raw):
            digest.update(block)
            size += len(block)
    except Exception:  # noqa: BLE001 - an unreadable file: no key
        return
    result.message_key, result.raw_size = digest.hexdigest(), size


def _read_message(msg: Message, max_part_bytes: int, result: ParsedMail) -> None:
    d = result.defects
    try:
        mid = _header(msg, "Message-ID", d)
        result.message_id = clean_text(mid, HEADER_MAX)
        result.sender = _sender(msg, d)
        result.subject = clean_text(_header(msg, "Subject", d), 10_000)
        result.date = _parse_date(msg, d)
    except Exception as exc:  # noqa: BLE001
        d.append(f"headers: {type(exc).__name__}")
    if not any(k.lower() == "content-type" for k in msg.keys()):
        d.append("no Content-Type header (read as text/plain)")
    try:
        _Walker(max_part_bytes, result).walk(msg)
    except SpoolFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - keep what was found so far
        log.exception("mail walk failed; keeping the parts read so far")
        d.append(f"parts after a {type(exc).__name__} were not examined")
