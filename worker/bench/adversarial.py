"""Adversarial inputs for the memory stage of ``docintake bench`` and for the fuzzer (issue 12).

Each is a signed form of :class:`worker.bench.corpus.Corpus` made expensive in one way the
issue measured (figures before the fix, this machine, ``decide`` in a fresh process):

=====================  ======================================================  ==================
name                   what                                                    before
=====================  ======================================================  ==================
``fallback_objstm``    an unreferenced Flate object stream, reached only by     1.2 MB -> 2.1 GB
                       pdfminer's fallback parser (an xref header it cannot
                       read: two spaces)
``extra_fields``       100,000 extra text fields (indirect), before signing     477 MB / 14 s
``direct_fields``      100,000 extra fields as direct dictionaries in /Fields   (same class)
``huge_xref``          a revision whose xref section has 900,000 entries        510 MB
=====================  ======================================================  ==================

All of them must now be refused (``too_large`` or ``malformed_pdf``) within the decision's
memory ceiling; :func:`worker.bench.bench_memory` reports each one's peak RSS.
"""

from __future__ import annotations

import re
import zlib
from typing import Callable

#: name -> builder(corpus) -> bytes
ADVERSARIAL: dict[str, Callable] = {}


def _adversarial(fn: Callable) -> Callable:
    ADVERSARIAL[fn.__name__.lstrip("_")] = fn
    return fn


def _last(pattern: bytes, pdf: bytes) -> bytes:
    return re.findall(pattern, pdf)[-1]


def hand_update(pdf: bytes, objects: list[tuple[int, bytes]], *, header_sep: bytes = b" ",
                filler: bytes = b"") -> bytes:
    """An incremental update writing ``objects`` ((number, body) pairs) with a classic xref
    section, one subsection per object; ``header_sep`` separates a subsection header's numbers
    (two spaces: pdfminer cannot read it, pyHanko can); ``filler`` goes, unreferenced, in front."""
    prev = _last(rb"startxref\s+(\d+)", pdf)
    root = _last(rb"/Root\s+(\d+\s+\d+\s+R)", pdf)
    size = int(_last(rb"/Size\s+(\d+)", pdf))
    out = bytearray(pdf)
    if not out.endswith(b"\n"):
        out += b"\n"
    out += filler
    offsets = []
    for number, body in objects:
        offsets.append((number, len(out)))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        size = max(size, number + 1)
    xref_at = len(out)
    out += b"xref\n0" + header_sep + b"1\n0000000000 65535 f \n"
    for number, offset in offsets:
        out += b"%d%s1\n%010d 00000 n \n" % (number, header_sep, offset)
    out += b"trailer\n<< /Size %d /Root %s /Prev %s >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, prev, xref_at)
    return bytes(out)


def _field_ref_list(pdf: bytes) -> tuple[int, bytes]:
    """The AcroForm's object number and its body, from the last definition in the file."""
    acro = int(_last(rb"/AcroForm\s+(\d+)\s+0\s+R", pdf))
    body = re.findall(rb"\n%d 0 obj\s*(<<.*?>>)\s*endobj" % acro, pdf, re.S)[-1]
    return acro, body


@_adversarial
def _fallback_objstm(corpus, i: int = 900_100) -> bytes:
    """~1.2 MB: a 1 GiB object stream of zeros nothing references, and a revision pdfminer can
    only read by scanning the whole file (which decodes every stream it finds)."""
    squeeze = zlib.compressobj(9)
    chunk = b"0" * (1024 * 1024)
    packed = b"".join(squeeze.compress(chunk) for _ in range(1024)) + squeeze.flush()
    bomb = (b"990 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n"
            % len(packed)) + packed + b"\nendstream\nendobj\n"
    filled = corpus.filled(i)
    # in the first revision, before its xref table (the fallback stops at the first "trailer")
    xref_at = int(_last(rb"startxref\s+(\d+)", filled))
    head, xref = filled[:xref_at], filled[xref_at:]
    xref = re.sub(rb"startxref\s+\d+", b"startxref\n%d" % (xref_at + len(bomb)), xref)
    filled = head + bomb + xref
    acro, body = _field_ref_list(filled)
    updated = hand_update(filled, [(acro, body)], header_sep=b"  ")
    return corpus.pki.sign_pdf(updated, corpus.identity(i))


def _fields_update(filled: bytes, count: int, direct: bool) -> bytes:
    acro, body = _field_ref_list(filled)
    size = int(_last(rb"/Size\s+(\d+)", filled))
    fields = re.search(rb"/Fields\s*\[([^\]]*)\]", body)
    widgets = []
    objects = []
    for k in range(count):
        d = b"<< /FT /Tx /T (extra%d) /V (x) >>" % k
        if direct:
            widgets.append(d)
        else:
            objects.append((size + k, d))
            widgets.append(b"%d 0 R" % (size + k))
    new_body = body[: fields.start(1)] + fields.group(1) + b" " + b" ".join(widgets) + body[fields.end(1):]
    return hand_update(filled, objects + [(acro, new_body)])


@_adversarial
def _extra_fields(corpus, i: int = 900_101, count: int = 100_000) -> bytes:
    return corpus.pki.sign_pdf(_fields_update(corpus.filled(i), count, direct=False), corpus.identity(i))


@_adversarial
def _direct_fields(corpus, i: int = 900_102, count: int = 100_000) -> bytes:
    return corpus.pki.sign_pdf(_fields_update(corpus.filled(i), count, direct=True), corpus.identity(i))


@_adversarial
def _huge_xref(corpus, i: int = 900_103, entries: int = 900_000) -> bytes:
    """A signed form followed by a revision whose xref lists 900,000 free entries (18 MB)."""
    signed = corpus.signed(i).pdf
    prev = _last(rb"startxref\s+(\d+)", signed)
    root = _last(rb"/Root\s+(\d+\s+\d+\s+R)", signed)
    xref_at = len(signed)
    lines = b"0000000000 65535 f \n" * entries
    return signed + (b"xref\n0 %d\n" % entries) + lines + (
        b"trailer\n<< /Size %d /Root %s /Prev %s >>\nstartxref\n%d\n%%%%EOF\n" % (entries, root, prev, xref_at))
