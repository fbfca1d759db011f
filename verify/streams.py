"""Decompression bombs: bound what the decision decodes.

pyHanko 0.38 decodes under ``DecodeLimits`` (per stream, per purpose, per document); the
decision opens its reader with the tighter :data:`DECODE_LIMITS`. pdfminer (under pdfplumber,
which reads the form from the signed revision) decodes with no limit at all: a 146 KB PDF whose
XMP is FlateDecode twice over 1 GiB of zeros took 8 s and 2.1 GB of memory in ``decide`` (one
more layer: about 1 TB). Without patching pdfminer, :func:`check_pdfminer_streams` decodes,
through pyHanko's bounded decoders and before pdfminer sees them, every stream pdfminer's normal
path decodes for the form: the xref and object streams of the revisions it reads, the XMP
``/Metadata``, stream values in ``/Info`` and stream field values (``/V``). Those are refused
above small caps (a form's XMP is a few KB, a field value at most 200 characters). pdfminer's
fallback parser (for an xref it cannot read) scans the whole file and may expand streams nothing
references; :func:`stacked_filters` refuses the only way to reach gigabytes from under 20 MB
with them, two or more expanding filters on one stream. A single Flate layer is still up to
~1032:1 (20 MB -> ~20 GB) on such an unreferenced stream reached only by that fallback path.
"""

from __future__ import annotations

import re

MiB = 1024 * 1024
#: XMP metadata pdfminer may decode (the form's is a few KB; signing tools add little).
MAX_XMP = 4 * MiB
#: A field value or an /Info entry kept in a stream.
MAX_VALUE_STREAM = 1 * MiB
#: Object and xref streams of the revision the form is read from.
MAX_STRUCTURE_STREAM = 64 * MiB


class StreamTooLarge(Exception):
    """A stream the decision would decode expands beyond its cap."""


def decode_limits():
    """pyHanko's defaults tightened for one decision of a PDF of at most tens of MB."""
    from pyhanko.pdf_utils.decode_limits import (
        DEFAULT_PURPOSE_LIMITS,
        DecodeLimits,
        DecodePurpose,
        DocumentDecodeBudget,
        StreamDecodeLimits,
    )

    return DecodeLimits(
        per_stream=StreamDecodeLimits(max_ratio=1100, ratio_floor=MiB, max_output_size=MAX_STRUCTURE_STREAM),
        per_purpose={
            **DEFAULT_PURPOSE_LIMITS,
            DecodePurpose.XMP_METADATA: StreamDecodeLimits(max_ratio=100, ratio_floor=MiB, max_output_size=MAX_XMP),
        },
        document_budget=DocumentDecodeBudget(base_allowance=256 * MiB, max_ratio=20),
    )


_EXPANDING = {b"/FlateDecode", b"/Fl", b"/LZWDecode", b"/LZW", b"/RunLengthDecode", b"/RL"}
_FILTER_ARRAY = re.compile(rb"/Filter\s*\[([^\]]{0,400})\]")
_NAME = re.compile(rb"/[A-Za-z0-9]+")


def stacked_filters(data: bytes) -> bool:
    """Whether any stream dictionary in ``data`` applies two or more expanding filters."""
    for m in _FILTER_ARRAY.finditer(data):
        if sum(1 for n in _NAME.findall(m.group(1)) if n in _EXPANDING) >= 2:
            return True
    return False


def _decoded_size(obj, purpose, cap: int, what: str) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.misc import PdfDecodeLimitError

    if not isinstance(obj, generic.StreamObject):
        return
    try:
        size = len(obj.read_data(purpose))
    except PdfDecodeLimitError as exc:
        raise StreamTooLarge(f"{what} expands beyond the decoding limits") from exc
    if size > cap:
        raise StreamTooLarge(f"{what} decodes to {size} bytes; the limit is {cap}")


def _get(d, key):
    """``d[key]`` through the raw reference (a historical view's ``__getitem__`` copies streams)."""
    from pyhanko.pdf_utils import generic

    if key not in d:
        return None
    raw = d.raw_get(key)
    return raw.get_object() if isinstance(raw, generic.IndirectObject) else raw


def check_pdfminer_streams(reader, revision: int | None) -> None:
    """Decode, bounded, what pdfminer will decode when reading the form from ``revision``
    (None: the latest). Raises :class:`StreamTooLarge`; other errors are the caller's.

    When ``revision`` is the latest, the objects are the reader's own: pyHanko has parsed the
    catalog and the field tree already (listing the signatures), so this walk is dictionary
    look-ups, and nothing is copied. A historical resolver, which copies every object it
    returns (and whose copies a later collection of the cyclic garbage has to walk), is used
    only for an earlier revision; the reader caches it, and :func:`verify.revisions.later_changes`
    has walked the same revision's fields through it already.
    """
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.decode_limits import DecodePurpose

    latest = reader.xrefs.total_revisions - 1
    last = latest if revision is None else revision
    # the reader resolves every reference as of the latest revision, as the historical resolver
    # of the latest revision would (every object's last change is at or before it)
    view = reader if last == latest else reader.get_historical_resolver(last)
    # object streams of the revisions pdfminer reads (xref streams pyHanko decoded when parsing)
    for rev in range(0, last + 1):
        for ref in reader.xrefs.object_streams_used_in(rev):
            _decoded_size(view.get_object(ref), DecodePurpose.OBJECT_STREAM, MAX_STRUCTURE_STREAM, "an object stream")
    root = view.root
    _decoded_size(_get(root, "/Metadata"), DecodePurpose.XMP_METADATA, MAX_XMP, "the XMP metadata")
    info = _get(view.trailer_view, "/Info")
    if isinstance(info, generic.DictionaryObject):
        for key in list(info.keys())[:200]:
            _decoded_size(_get(info, key), DecodePurpose.GENERIC, MAX_VALUE_STREAM, f"the /Info entry {key}")
    acroform = _get(root, "/AcroForm")
    fields = _get(acroform, "/Fields") if isinstance(acroform, generic.DictionaryObject) else None
    stack = list(fields) if isinstance(fields, generic.ArrayObject) else []
    seen: set = set()
    while stack and len(seen) < 5000:
        item = stack.pop()
        key = item.reference if isinstance(item, generic.IndirectObject) else id(item)
        if key in seen:
            continue
        seen.add(key)
        node = item.get_object()
        if not isinstance(node, generic.DictionaryObject):
            continue
        _decoded_size(_get(node, "/V"), DecodePurpose.GENERIC, MAX_VALUE_STREAM, "a field value")
        kids = _get(node, "/Kids")
        if isinstance(kids, generic.ArrayObject):
            stack.extend(kids)
