"""Decompression bombs in the streams the decision decodes (verify.streams).

pdfminer (under pdfplumber) decodes without limits: before the cap, a 146 KB form whose XMP was
FlateDecode twice over 1 GiB of zeros took 8 s and 2.1 GB of memory in decide().
"""

from __future__ import annotations

import io
import re
import zlib

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from verify.decision import decide
from verify.streams import stacked_filters

MiB = 1024 * 1024


def zeros(n: int, layers: int = 1) -> bytes:
    c = zlib.compressobj(9)
    data = b"".join(c.compress(b"\0" * MiB) for _ in range(n // MiB)) + c.flush()
    for _ in range(layers - 1):
        data = zlib.compress(data, 9)
    return data


def with_xmp(base: bytes, encoded: bytes, layers: int) -> bytes:
    """A hand-written update pointing /Metadata at ``encoded`` (pyHanko's writer would replace
    the XMP with its own)."""
    r = PdfFileReader(io.BytesIO(base), strict=False)
    root_ref, size = r.root_ref, int(r.trailer_view["/Size"])
    prev = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    root = r.root
    root[generic.NameObject("/Metadata")] = generic.IndirectObject(size, 0, r)
    buf = io.BytesIO()
    root.write_to_stream(buf, None)
    out = bytearray(base if base.endswith(b"\n") else base + b"\n")
    at_xmp = len(out)
    filters = b"[" + b" ".join([b"/FlateDecode"] * layers) + b"]"
    out += b"%d 0 obj\n<< /Type /Metadata /Subtype /XML /Filter %s /Length %d >>\nstream\n" % (
        size, filters, len(encoded)) + encoded + b"\nendstream\nendobj\n"
    at_root = len(out)
    out += b"%d 0 obj\n" % root_ref.idnum + buf.getvalue() + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n" % (root_ref.idnum, at_root, size, at_xmp)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size + 1, root_ref.idnum, prev, xref)
    return bytes(out)


def too_large(report, word: str) -> None:
    assert report.verdict == "rejected"
    assert report.reasons[0].code == "too_large", report.to_json()["reasons"]
    assert word in report.reasons[0].message, report.reasons[0].message


def test_stacked_flate_xmp_is_refused_before_pdfminer_decodes_it(make_form, trust_policy):
    report = decide(with_xmp(make_form(), zeros(64 * MiB, layers=2), layers=2), trust_policy)
    too_large(report, "several compression filters")
    assert report.elapsed < 5


def test_large_xmp_is_refused(make_form, trust_policy):
    report = decide(with_xmp(make_form(), zeros(64 * MiB), layers=1), trust_policy)
    too_large(report, "XMP")


def with_value_bomb(pdf: bytes) -> bytes:
    """``pdf`` with an update making the occupation field's /V an 8 MiB FlateDecode stream."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for ref in writer.root["/AcroForm"]["/Fields"]:
        obj = ref.get_object()
        if obj.get("/T") == "occupation":
            stream = generic.StreamObject(
                {generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")},
                encoded_data=zeros(8 * MiB),
            )
            obj[generic.NameObject("/V")] = writer.add_object(stream)
            writer.mark_update(ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_field_value_stream_bomb_is_refused(make_form, trust_policy):
    too_large(decide(with_value_bomb(make_form()), trust_policy), "field value")


def test_field_value_stream_bomb_in_the_signed_revision_is_refused(pki, make_form, person_for, trust_policy):
    # the signed revision is the latest: the check reads the reader's own objects
    signed = pki.sign_pdf(with_value_bomb(make_form()), person_for())
    too_large(decide(signed, trust_policy), "field value")


def test_field_value_stream_bomb_under_a_later_dss_is_refused(pki, make_form, person_for, trust_policy):
    # the signed revision is not the latest: the check reads it through a historical resolver
    from pyhanko.sign.validation import DocumentSecurityStore

    out = io.BytesIO(pki.sign_pdf(with_value_bomb(make_form()), person_for()))
    out.seek(0, 2)
    DocumentSecurityStore.add_dss(out, sig_contents=None, certs=[pki.intermediate.asn1_cert],
                                  crls=[pki.crl()], force_write=True)
    report = decide(out.getvalue(), trust_policy)
    assert report.coverage == "ENTIRE_REVISION", report.to_json()
    too_large(report, "field value")


def test_stacked_filter_detection():
    assert stacked_filters(b"<< /Filter [/FlateDecode /FlateDecode] /Length 3 >>")
    assert stacked_filters(b"<< /Filter [ /Fl /LZW ] >>")
    assert not stacked_filters(b"<< /Filter [/ASCII85Decode /FlateDecode] >>")
    assert not stacked_filters(b"<< /Filter /FlateDecode >>")


def test_signed_forms_still_pass(signed_form, trust_policy):
    assert decide(signed_form(), trust_policy).verdict == "accepted"
