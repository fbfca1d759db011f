"""Large base64 parts of a mail go to temporary files while the stdlib parses the rest.

The stdlib's feed parser keeps every part's body as one ``str``: a mail with ten 20 MB PDFs
is held a second time as base64 text, and decoding it a third time. Re-implementing the
parser's rules to cut the big bodies out first would be a second MIME parser that must agree
with the first on every broken mail; instead, ``SpoolingParser`` IS the stdlib parser, with
one hook: when it has read the headers of a leaf part (not ``multipart/*``, not
``message/*``) whose Content-Transfer-Encoding is base64, the input hands the parser's leaf
loop the part's lines only while they stay under a threshold. Past it, the lines go to an
anonymous temporary file instead (``B64Spool``), are decoded as they arrive (strict base64 in
whole 4-character quanta, into a second temporary file, hashed and sniffed on the way), and
the parser receives one line: the last line's line ending, so that the stdlib's own trimming
of the newline before a boundary still happens and can be replayed (``B64Spool.restore``).
Where the part ends, which lines are boundaries, preamble, epilogue and defects are therefore
decided by the unchanged stdlib code.

The spool is attached to its ``Message`` as a Python attribute (``SPOOL_ATTR``), so nothing a
sender writes can pose as one. When a spooled text is not plain strict base64 (non-ASCII
bytes, stray characters, odd padding) the decoded file is dropped and the caller puts the
text back as the part's payload (``B64Spool.restore``): today's in-memory path then reads it.

Internals used: ``FeedParser._input``, ``_cur``, ``_parse_headers`` and ``BufferedSubFile``'s
``_lines``, ``_eofstack`` and ``_closed`` (unchanged since Python 2.5); ``SUPPORTED`` is False
when they are missing, and the parser then never spools.
"""

from __future__ import annotations

import binascii
import email.feedparser
import hashlib
import tempfile
from email import policy
from email.feedparser import BufferedSubFile, NeedMoreData
from typing import BinaryIO, Callable

#: The attribute of a ``Message`` that holds its ``B64Spool``.
SPOOL_ATTR = "_docintake_spool"
#: Bytes per ``feed()``: each slice becomes lines in the parser's queue at once.
FEED_BYTES = 64 * 1024
#: Characters of captured lines written to the spool at a time.
BATCH_CHARS = 64 * 1024
#: What ``str.split()`` strips from an ASCII payload before the strict decode (bytes.split() knows fewer).
_ASCII_WHITESPACE = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
SNIFF_BYTES = 1024

SUPPORTED = all(hasattr(BufferedSubFile(), name) for name in ("_lines", "_eofstack", "_closed")) and hasattr(
    email.feedparser.FeedParser, "_parse_headers"
)


class SpoolFailed(Exception):
    """A temporary file could not be written: the caller parses the mail again in memory."""


class StrictB64:
    """``binascii.a2b_base64(whole, strict_mode=True)`` fed in pieces (whitespace already removed).

    Only whole quanta before the first ``=`` are decoded early; they decode the same alone as
    inside the whole text. ``ok`` False means "not sure it is valid": the caller then uses the
    whole text as before, so a false alarm costs memory, never a different result."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self.sink = sink
        self.pending = b""
        self.ok = True

    def feed(self, data: bytes) -> None:
        if not self.ok:
            return
        buf = self.pending + data
        pad = buf.find(b"=")
        limit = len(buf) if pad < 0 else pad
        cut = limit - limit % 4
        if cut:
            self._decode(buf[:cut])
        self.pending = buf[cut:]
        if pad >= 0 and len(self.pending) > 8:  # strict base64 ends within a quantum of its first "="
            self.ok = False

    def finish(self) -> None:
        if self.ok and self.pending:
            self._decode(self.pending)
        self.pending = b""

    def _decode(self, quanta: bytes) -> None:
        try:
            out = binascii.a2b_base64(quanta, strict_mode=True)
        except (binascii.Error, ValueError):
            self.ok = False
            return
        self.sink(out)


class Decoded:
    """A spooled part's decoded bytes: an anonymous temporary file, with their size, SHA-256 and head."""

    def __init__(self, file: BinaryIO, size: int, sha256: str, head: bytes) -> None:
        self.file, self.size, self.sha256, self.head = file, size, sha256, head
        self._given = False

    def give(self) -> BinaryIO:
        """Hand the file to a new owner (a PdfPart): ``close()`` leaves it open from then on."""
        self._given = True
        return self.file

    def read_all(self) -> bytes:
        """The whole bytes, for the paths that need them in memory (TNEF, uuencoded text bodies)."""
        self.file.seek(0)
        data = self.file.read()
        self.file.close()
        return data

    def close(self) -> None:
        if not self._given:
            self.file.close()


class B64Spool:
    """One captured base64 body: its text in a temporary file, decoded into another as it arrives."""

    def __init__(self) -> None:
        try:
            self._text: BinaryIO | None = tempfile.TemporaryFile()
            self._data: BinaryIO | None = tempfile.TemporaryFile()
        except OSError as exc:
            self.close()
            raise SpoolFailed(str(exc)) from exc
        self._sha = hashlib.sha256()
        self._size = 0
        self._head = b""
        self._decoder = StrictB64(self._emit)
        #: True while the text is ASCII and strict base64 (the decoded file is then the part's bytes).
        self.clean = True
        #: The line ending of the last captured line: the one line the parser got instead of the body.
        self.last_eol = ""

    def write(self, lines: list[str]) -> None:
        text = "".join(lines)
        raw = text.encode("ascii", "surrogateescape")
        try:
            self._text.write(raw)
            if self.clean:
                if not text.isascii():
                    self._unclean()
                else:
                    self._decoder.feed(raw.translate(None, _ASCII_WHITESPACE))
                    if not self._decoder.ok:
                        self._unclean()
        except OSError as exc:
            raise SpoolFailed(str(exc)) from exc

    def finish(self, last_line: str) -> None:
        self.last_eol = last_line[len(last_line.rstrip("\r\n")):]
        if self.clean:
            self._decoder.finish()
            if not self._decoder.ok:
                self._unclean()
        if self.clean:
            self._text.close()
            self._text = None

    def decoded(self) -> Decoded | None:
        """The decoded bytes (the caller owns the file from now on), or None when the text must be read as before."""
        if not self.clean or self._data is None:
            return None
        data, self._data = self._data, None
        return Decoded(data, self._size, self._sha.hexdigest(), self._head)

    def restore(self, payload: str) -> str:
        """The payload the stdlib would have kept: the spooled text with ``payload`` (what the parser
        left of the ``last_eol`` line it got) in place of the last line ending."""
        if self._text is None:
            raise SpoolFailed("spooled text already released")
        try:
            self._text.seek(0)
            text = self._text.read().decode("ascii", "surrogateescape")
        except OSError as exc:
            raise SpoolFailed(str(exc)) from exc
        self.close()
        return text[: len(text) - len(self.last_eol)] + payload

    def close(self) -> None:
        for name in ("_text", "_data"):
            f = getattr(self, name, None)
            if f is not None:
                f.close()
                setattr(self, name, None)

    def _emit(self, out: bytes) -> None:
        self._sha.update(out)
        if len(self._head) < SNIFF_BYTES:
            self._head += out[: SNIFF_BYTES - len(self._head)]
        self._size += len(out)
        self._data.write(out)

    def _unclean(self) -> None:
        self.clean = False
        if self._data is not None:
            self._data.close()
            self._data = None


class _CapturingInput(BufferedSubFile):
    """The parser's line queue; while capturing, a leaf's lines are held back and, past the threshold, spooled."""

    def __init__(self, threshold: int, spools: list[B64Spool]) -> None:
        super().__init__()
        self._threshold = threshold
        self._spools = spools
        self._target = None

    def capture(self, msg) -> None:
        self._target = msg
        self._held: list[str] = []
        self._held_chars = 0
        self._room = self._threshold  # held characters allowed before the next spool write
        self._spool: B64Spool | None = None
        self._last = ""

    def readline(self):
        if self._target is None:
            return super().readline()
        # BufferedSubFile.readline's boundary test, then hold the line instead of returning it
        lines, eofs, held = self._lines, self._eofstack[::-1], self._held
        chars = self._held_chars
        while lines:
            line = lines.popleft()
            for ateof in eofs:
                if ateof(line):
                    lines.appendleft(line)
                    return self._end_capture()
            held.append(line)
            chars += len(line)
            if chars > self._room:
                self._overflow()
                chars = 0
        self._held_chars = chars
        return self._end_capture() if self._closed else NeedMoreData

    def _overflow(self) -> None:
        if self._spool is None:
            self._spool = B64Spool()
            self._spools.append(self._spool)
            self._room = BATCH_CHARS
        self._flush()

    def _flush(self) -> None:
        if self._held:
            self._last = self._held[-1]
            self._spool.write(self._held)
            self._held.clear()

    def _end_capture(self):
        target, self._target = self._target, None
        if self._spool is None:
            # a small body: hand its lines to the parser after all (they matched no boundary before)
            self._lines.extendleft(reversed(self._held))
            self._held = []
            return super().readline()
        self._flush()
        self._spool.finish(self._last)
        setattr(target, SPOOL_ATTR, self._spool)
        return self._spool.last_eol or super().readline()


class SpoolingParser(email.feedparser.BytesFeedParser):
    """``BytesFeedParser(policy=policy.default)`` that spools the leaf bodies ``wants(msg)`` picks
    once they exceed ``threshold`` characters; ``threshold=None`` spools nothing."""

    def __init__(self, threshold: int | None, wants: Callable[[object], bool]) -> None:
        super().__init__(policy=policy.default)
        self.spools: list[B64Spool] = []
        self._wants = wants
        self._spooling = threshold is not None and SUPPORTED
        if self._spooling:
            self._input = _CapturingInput(threshold, self.spools)

    def _parse_headers(self, lines):
        super()._parse_headers(lines)
        if self._spooling and not self._headersonly:
            try:
                wanted = self._cur.get_content_maintype() not in ("multipart", "message") and self._wants(self._cur)
            except Exception:  # noqa: BLE001 - an odd header: leave the part to the stdlib
                wanted = False
            if wanted:
                self._input.capture(self._cur)

    def close_spools(self) -> None:
        for spool in self.spools:
            spool.close()
