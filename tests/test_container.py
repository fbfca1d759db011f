"""ASiC-E containers (issue 11): valid ones from the test PKI are accepted exactly like PAdES forms,
and every defect class is ``container_invalid`` (or the signature reason) with a message saying which."""

from __future__ import annotations

import io
import os
import warnings
import zipfile

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")

from verify.container import sniff_container
from verify.container.demo_sign import (
    make_container,
    manifest_xml,
    media_type,
    pack,
    signature_document,
)
from verify.decision import decide
from verify.policy import Policy


@pytest.fixture(scope="module")
def form(make_form) -> bytes:
    return make_form()


@pytest.fixture(scope="module")
def customer(person_for):
    return person_for()


@pytest.fixture(scope="module")
def stranger(pki):
    return pki.person("LV", "010101-10006", "Anna", "Ozola")


def _assemble(files: dict[str, bytes], signers, pki, *, manifest: dict[str, str] | None = None, extra=(), **kw) -> bytes:
    entries = list(files.items()) + list(extra)
    entries.append(("META-INF/manifest.xml", manifest_xml(manifest if manifest is not None else {n: media_type(n) for n in files})))
    for i, person in enumerate(signers):
        entries.append((f"META-INF/signatures{i}.xml", signature_document(files, person, sig_id=f"S{i}", pki=pki, **kw)))
    return pack(entries)


def _reasons(report) -> list[tuple[str, str]]:
    return [(r.code, r.message) for r in report.reasons]


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT"])
def test_valid_container_is_accepted_at_each_level(level, pki, trust_policy, form, customer):
    data = make_container({"form.pdf": form}, [customer], level=level, pki=pki)
    assert sniff_container(data[:200])
    report = decide(data, trust_policy)
    assert report.accepted, _reasons(report)
    assert report.level == level
    assert report.signer.national_id == "LV-32000012345"
    assert report.fields["phone"] == "+37120000000"
    assert report.revocation_checked is (level == "B-LT")
    if level != "B-B":
        assert report.timestamp_time is not None
    js = report.to_json()["container"]
    assert js["format"] == "ASiC-E" and js["data_files"] == ["form.pdf"]
    assert js["signatures"] == [
        {"file": "META-INF/signatures0.xml", "id": "S0", "signer": report.signer.to_json(), "level": level,
         "qualified": True, "covers": ["form.pdf"], "valid": True}
    ]


def test_cli_summary_lists_the_container(pki, customer, form, tmp_path):
    from click.testing import CliRunner

    from verify.cli import verify_command

    path = tmp_path / "anketa.edoc"
    path.write_bytes(make_container({"form.pdf": form}, [customer], level="B-T", pki=pki))
    result = CliRunner().invoke(verify_command, [str(path), "--trust-lists", str(pki.trust_lists_path)])
    assert result.exit_code == 0, result.output
    assert "container ASiC-E: form.pdf" in result.output
    assert "signature S0: Jānis Bērziņš, B-T, valid" in result.output


def test_signature_only_needs_no_form(pki, trust_policy, customer):
    data = make_container({"notes.txt": b"hello"}, [customer], level="B-T", pki=pki)
    assert decide(data, trust_policy, signature_only=True).accepted
    report = decide(data, trust_policy)
    assert report.codes == ["container_invalid"] and "not a PDF" in report.reasons[0].message


def test_customer_may_be_any_of_several_signers(pki, trust_policy, form, customer, stranger):
    report = decide(make_container({"form.pdf": form}, [stranger, customer], pki=pki), trust_policy)
    assert report.accepted, _reasons(report)
    assert report.signer.national_id == "LV-32000012345"
    assert len(report.to_json()["container"]["signatures"]) == 2


def test_signer_not_on_form_is_signer_mismatch(pki, trust_policy, form, stranger):
    report = decide(make_container({"form.pdf": form}, [stranger], pki=pki), trust_policy)
    assert report.codes == ["signer_mismatch"]


def test_every_other_signature_must_be_valid_too(pki, trust_policy, form, customer):
    untrusted = pki.person("LV", "010101-10006", "Anna", "Ozola", variant="untrusted")
    report = decide(make_container({"form.pdf": form}, [customer, untrusted], pki=pki), trust_policy)
    assert report.codes == ["untrusted_signer"] and "signature S1" in report.reasons[0].message


def test_pades_form_inside_container(pki, trust_policy, form, customer):
    signed = pki.sign_pdf(form, customer, timestamp=True)
    assert decide(make_container({"form.pdf": signed}, [customer], pki=pki), trust_policy).accepted
    tampered = signed.replace(b"+37120000000", b"+37129999999") if b"+37120000000" in signed else signed + b"%"
    report = decide(make_container({"form.pdf": tampered}, [customer], pki=pki), trust_policy)
    assert not report.accepted


def test_untrusted_root_and_weak_policy_apply(pki, form, customer):
    report = decide(make_container({"form.pdf": form}, [customer], pki=pki), Policy.load([pki.untrusted_root_pem_path]))
    assert "untrusted_signer" in report.codes
    lt = Policy.load(trust_lists=pki.trust_lists_path, min_level="B-LT")
    report = decide(make_container({"form.pdf": form}, [customer], level="B-T", pki=pki), lt)
    assert report.codes == ["signature_invalid"] and "below the required B-LT" in report.reasons[0].message


def test_tampered_data_file_is_signature_invalid(pki, trust_policy, form, customer):
    files = {"form.pdf": form}
    sig = signature_document(files, customer, pki=pki)
    data = pack([("form.pdf", form + b"\n% changed"), ("META-INF/manifest.xml", manifest_xml({"form.pdf": "application/pdf"})),
                 ("META-INF/signatures0.xml", sig)])
    report = decide(data, trust_policy)
    assert report.codes[0] == "signature_invalid"
    assert "does not match the signed digest" in report.reasons[0].message


def test_forged_signature_value_is_signature_invalid(pki, trust_policy, form, customer):
    sig = signature_document({"form.pdf": form}, customer, pki=pki, level="B-B")
    start = sig.index(b"<ds:SignatureValue")
    start = sig.index(b">", start) + 1
    forged = sig[:start] + (b"A" if sig[start:start + 1] != b"A" else b"B") + sig[start + 1:]
    data = pack([("form.pdf", form), ("META-INF/manifest.xml", manifest_xml({"form.pdf": "application/pdf"})),
                 ("META-INF/signatures0.xml", forged)])
    report = decide(data, trust_policy)
    assert "signature_invalid" in report.codes


# -- defects: container_invalid with the reason ------------------------------------------------

def _zip(entries, *, first_mimetype=True, mimetype_compressed=False, encrypted: str | None = None) -> bytes:
    """A ZIP written as given (``mimetype`` first unless told otherwise); ``encrypted`` names an
    entry whose encryption flag is set."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if first_mimetype:
            zf.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.etsi.asic-e+zip",
                        compress_type=zipfile.ZIP_DEFLATED if mimetype_compressed else zipfile.ZIP_STORED)
        for name, data, *method in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = method[0] if method else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    out = bytearray(buf.getvalue())
    if encrypted is not None:  # zipfile cannot write encrypted entries: set the flag bit in both headers
        local = zipfile.ZipFile(io.BytesIO(bytes(out))).getinfo(encrypted).header_offset
        out[local + 6] |= 0x1
        central = out.index(b"PK\x01\x02")
        while True:
            name_len = int.from_bytes(out[central + 28:central + 30], "little")
            if out[central + 46:central + 46 + name_len] == encrypted.encode():
                out[central + 8] |= 0x1
                break
            extra = int.from_bytes(out[central + 30:central + 32], "little")
            comment = int.from_bytes(out[central + 32:central + 34], "little")
            central += 46 + name_len + extra + comment
    return bytes(out)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#">&lol3;</asic:XAdESSignatures>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#">&xxe;</asic:XAdESSignatures>"""
UTF16_DTD = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode("utf-16")


def _defects(form: bytes, sig: bytes, two_sigs: bytes) -> dict[str, tuple[bytes, str]]:
    man = manifest_xml({"form.pdf": "application/pdf"})
    ok = [("form.pdf", form), ("META-INF/manifest.xml", man), ("META-INF/signatures0.xml", sig)]
    inner = pack([("form.pdf", form)])
    return {
        "too many entries": (_zip(ok + [(f"META-INF/x{i}.txt", b"x") for i in range(70)]), "entries; the limit is"),
        "compression ratio": (_zip(ok + [("META-INF/bomb.bin", b"\0" * 5_000_000)]), "a ZIP bomb"),
        "nested container": (_zip([("form.pdf", inner)] + ok[1:]), "nested containers"),
        "nested by extension": (_zip(ok + [("inner.asice", b"x")]), "nested containers"),
        "path traversal": (_zip(ok + [("../evil.pdf", b"x")]), "path traversal"),
        "absolute name": (_zip(ok + [("/etc/evil.pdf", b"x")]), "is absolute"),
        "duplicate names": (_zip(ok + [("form.pdf", form)]), "holds the name 'form.pdf' twice"),
        "encrypted entry": (_zip(ok, encrypted="form.pdf"), "is encrypted"),
        "mimetype compressed": (_zip(ok, mimetype_compressed=True), "mimetype entry is compressed"),
        "mimetype not first": (_zip(ok + [("mimetype", b"application/vnd.etsi.asic-e+zip", zipfile.ZIP_STORED)],
                                    first_mimetype=False), "not the first entry"),
        "no mimetype": (_zip(ok, first_mimetype=False), "no mimetype entry"),
        "entity expansion": (_zip(ok[:2] + [("META-INF/signatures0.xml", BILLION_LAUGHS)]), "DTD or entities"),
        "external entity": (_zip(ok[:2] + [("META-INF/signatures0.xml", EXTERNAL_ENTITY)]), "DTD or entities"),
        "UTF-16 DTD": (_zip(ok[:2] + [("META-INF/signatures0.xml", UTF16_DTD)]), "DTD or entities"),
        "huge XML": (_zip(ok[:2] + [("META-INF/signatures0.xml", b"<a>" + b" " * 3_000_000 + b"</a>", zipfile.ZIP_STORED)]),
                     "the limit is"),
        "deep XML": (_zip(ok[:2] + [("META-INF/signatures0.xml", b"<a>" * 100_000 + b"</a>" * 100_000, zipfile.ZIP_STORED)]),
                     "not well-formed"),
        "unsigned extra file": (_zip(ok + [("readme.txt", b"x")]), "not in the manifest"),
        "extra file in manifest": (_zip([("form.pdf", form), ("readme.txt", b"x"),
                                         ("META-INF/manifest.xml", manifest_xml({"form.pdf": "application/pdf", "readme.txt": "text/plain"})),
                                         ("META-INF/signatures0.xml", sig)]), "does not cover the data file 'readme.txt'"),
        "missing file": (_zip([("META-INF/manifest.xml", manifest_xml({"form.pdf": "application/pdf"})),
                               ("META-INF/signatures0.xml", sig)]), "not in the ZIP"),
        "duplicate manifest entry": (_zip(ok[:1] + [("META-INF/manifest.xml", man.replace(
            b"</manifest:manifest>", b'<manifest:file-entry manifest:full-path="form.pdf" manifest:media-type="application/pdf"/></manifest:manifest>')),
            ok[2]]), "lists 'form.pdf' twice"),
        "no signature": (_zip(ok[:2]), "holds no signature"),
        "too many signatures": (_zip(ok + [(f"META-INF/signatures{i}.xml", sig) for i in range(1, 40)]),
                                "signatures; the limit is 32"),
        "two data files": (two_sigs, "exactly one PDF"),
        "not a zip at all": (b"PK\x03\x04" + b"\0" * 100, "malformed"),
    }


with warnings.catch_warnings():  # building them once for their names writes a duplicate entry
    warnings.simplefilter("ignore")
    DEFECTS = list(_defects(b"", b"", b""))


@pytest.fixture(scope="module")
def defects(pki, form, customer):
    sig = signature_document({"form.pdf": form}, customer, pki=pki)
    two = make_container({"form.pdf": form, "b.pdf": form}, [customer], pki=pki)
    return _defects(form, sig, two)


@pytest.mark.parametrize("name", DEFECTS)
def test_each_defect_is_container_invalid_with_its_reason(name, defects, trust_policy):
    data, says = defects[name]
    report = decide(data, trust_policy)
    assert report.codes[0] == "container_invalid", (name, _reasons(report))
    assert says in report.reasons[0].message, (name, report.reasons[0].message)
    assert report.elapsed < 5


def test_a_signature_referencing_a_file_twice_or_with_many_timestamps_is_refused_cheaply(pki, trust_policy, form,
                                                                                          customer):
    files = {"form.pdf": form}
    sig = signature_document(files, customer, pki=pki, level="B-B")
    ref = sig[sig.index(b"<ds:Reference "):sig.index(b"</ds:Reference>") + len(b"</ds:Reference>")]
    doubled = sig.replace(ref, ref * 2, 1)
    data = pack([("form.pdf", form), ("META-INF/manifest.xml", manifest_xml({"form.pdf": "application/pdf"})),
                 ("META-INF/signatures0.xml", doubled)])
    report = decide(data, trust_policy)
    assert report.codes[0] == "signature_invalid" and "twice" in report.reasons[0].message
    stamped = signature_document(files, customer, pki=pki, level="B-T")
    ts = stamped[stamped.index(b"<xades:SignatureTimeStamp"):stamped.index(b"</xades:SignatureTimeStamp>") + 27]
    many = stamped.replace(ts, ts * 20, 1)
    data = pack([("form.pdf", form), ("META-INF/manifest.xml", manifest_xml({"form.pdf": "application/pdf"})),
                 ("META-INF/signatures0.xml", many)])
    report = decide(data, trust_policy)
    assert report.codes[0] == "signature_invalid" and "more than 16 timestamps" in report.reasons[0].message


def test_a_timestamp_over_other_bytes_is_signature_invalid(pki, trust_policy, form, customer):
    """The token of another signature, also when the container has another defect to report."""
    import re

    files = {"form.pdf": form}
    mine = signature_document(files, customer, pki=pki, level="B-T")
    other = signature_document({"form.pdf": form + b" "}, customer, pki=pki, level="B-T")
    token = re.compile(rb"(<xades:EncapsulatedTimeStamp>)([^<]+)(<)")
    swapped = token.sub(lambda m: m.group(1) + token.search(other).group(2) + m.group(3), mine)
    for extra in ([], [("extra.txt", b"x")]):
        listed = {"form.pdf": "application/pdf", **({"extra.txt": "text/plain"} if extra else {})}
        data = pack([("form.pdf", form), *extra, ("META-INF/manifest.xml", manifest_xml(listed)),
                     ("META-INF/signatures0.xml", swapped)])
        report = decide(data, trust_policy)
        assert "signature_invalid" in report.codes
        assert any("timestamp does not cover this signature" in r.message for r in report.reasons)
        assert ("container_invalid" in report.codes) == bool(extra)


def test_total_uncompressed_size_is_bounded(pki):
    big = os.urandom(40_000).hex().encode()  # ~2x compressible: no ratio alarm, but a large total
    data = _zip([(f"META-INF/pad{i}.bin", big) for i in range(3)])
    policy = Policy.load([pki.root_pem_path], max_bytes=150_000)
    assert len(data) < 150_000
    report = decide(data, policy)
    assert report.codes == ["container_invalid"] and "expands to more than 150000" in report.reasons[0].message


def test_bomb_is_refused_before_inflating(trust_policy):
    """A 200 MB zero entry in a ~200 KB ZIP: refused from the directory, nothing inflated."""
    import tracemalloc

    data = _zip([("form.pdf", b"\0" * 200_000_000)])
    tracemalloc.start()
    report = decide(data, trust_policy)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.codes == ["container_invalid"]
    assert peak < 20 * 1024 * 1024


def test_lying_size_header_is_not_inflated_beyond_it(trust_policy):
    data = bytearray(_zip([("form.pdf", b"%PDF-" + b"\0" * 100_000)]))
    # shrink the declared size of form.pdf in its central directory entry (uncompressed size field)
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (1000).to_bytes(4, "little")
    report = decide(bytes(data), trust_policy)
    assert report.codes[0] == "container_invalid"


def test_policy_size_limit_applies_to_containers(pki, form, customer):
    data = make_container({"form.pdf": form}, [customer], pki=pki)
    report = decide(data, Policy.load([pki.root_pem_path], max_bytes=len(data) - 1))
    assert report.codes == ["container_invalid"] and "limit" in report.reasons[0].message
