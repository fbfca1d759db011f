"""verify.object_streams reads objects in object streams exactly as pyHanko's strict reader does."""

from __future__ import annotations

import io
import random
import subprocess
import tempfile
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.fixtures.pki import _blank
from verify.object_streams import IndexedObjectStreams


class _Indexed(IndexedObjectStreams, PdfFileReader):
    pass


def _canonical(obj):
    if isinstance(obj, generic.DictionaryObject):
        return tuple(sorted((k, _canonical(obj.raw_get(k))) for k in obj))
    if isinstance(obj, generic.ArrayObject):
        return tuple(_canonical(obj.raw_get(i)) for i in range(len(obj)))
    if isinstance(obj, generic.IndirectObject):
        return ("ref", obj.idnum, obj.generation)
    if isinstance(obj, generic.NullObject):
        return ("null",)
    return type(obj).__name__, repr(obj)


def _read(reader, idnum, loc):
    try:
        return _canonical(reader._get_object_from_stream(idnum, loc.obj_stream_id, loc.ix_in_stream))
    except Exception as exc:
        return "error", type(exc).__name__, str(exc)


@pytest.fixture(scope="module")
def compressed() -> bytes:
    """The blank form with its objects in object streams (qpdf)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.pdf"), Path(tmp, "out.pdf")
        src.write_bytes(_blank("lv"))
        subprocess.run(["qpdf", "--object-streams=generate", str(src), str(dst)], check=True, timeout=60)
        return dst.read_bytes()


def _entries(pdf: bytes):
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    entries = list(reader.xrefs.get_xref_data(reader.xrefs.total_revisions - 1).xrefs_in_objstm.items())
    assert len(entries) > 50
    return entries


def test_every_object_is_the_one_pyhanko_reads(compressed):
    plain, indexed = PdfFileReader(io.BytesIO(compressed), strict=True), _Indexed(io.BytesIO(compressed), strict=True)
    for idnum, loc in _entries(compressed):
        assert _read(indexed, idnum, loc) == _read(plain, idnum, loc)


def test_damaged_headers_fail_where_pyhanko_fails(compressed):
    entries = _entries(compressed)
    stream_id = entries[0][1].obj_stream_id
    data = PdfFileReader(io.BytesIO(compressed), strict=True).get_object(generic.Reference(stream_id, 0)).data
    rnd = random.Random(9)
    outcomes = set()
    for _ in range(60):
        damaged = bytearray(data)
        for _ in range(rnd.randint(1, 3)):
            damaged[rnd.randrange(min(len(damaged), 300))] = rnd.choice(b"0123456789 \n/<>[]()R%x")
        readers = [PdfFileReader(io.BytesIO(compressed), strict=True), _Indexed(io.BytesIO(compressed), strict=True)]
        for reader in readers:  # the decoded data both read from
            reader.get_object(generic.Reference(stream_id, 0))._data = bytes(damaged)
        for idnum, loc in rnd.sample([e for e in entries if e[1].obj_stream_id == stream_id], 10):
            plain, indexed = (_read(reader, idnum, loc) for reader in readers)
            assert indexed == plain
            outcomes.add(plain[0] == "error")
    assert outcomes == {True, False}  # both reads and refusals were compared
