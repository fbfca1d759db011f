"""Fuzzing the two parsers that read what strangers send: ``verify.decision.decide`` and
``intake.mailin.parse.parse_mail``.

Inputs are valid signed forms (made here with the demo PKI) and the real-world mails and
PAdES files under ``shared/realworld``, mutated by hypothesis: byte flips, truncations,
splices, appended incremental updates (field edits, new pages, a second signature, a DSS,
junk), and edits of single objects. The properties:

* ``decide`` never raises; its verdict is ``accepted`` or ``rejected`` and every reason code is
  one of ``verify.reasons.CODES``; it keeps to the policy's limits (size, time); and a document
  whose signed byte range was changed is never ``accepted``.
* ``parse_mail`` never raises, and what it returns is consistent (hashes match the bytes, no
  kept part over the size limit, indexes unique).

The default run is bounded and derandomized (CI); ``DOCINTAKE_FUZZ_EXAMPLES=5000`` runs longer
and with fresh randomness. Inputs that break a property are written to
``tests/regressions/`` (``DOCINTAKE_FUZZ_SAVE=1``, on by default in opt-in runs), and
``tests/test_fuzz_regressions.py`` replays every file there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from tests.fixtures.realworld import REALWORLD  # noqa: E402
from verify.reasons import CODES

REGRESSIONS = Path(__file__).with_name("regressions")

LONG_RUN = int(os.environ.get("DOCINTAKE_FUZZ_EXAMPLES", "0") or 0)
SAVE = os.environ.get("DOCINTAKE_FUZZ_SAVE", "1" if LONG_RUN else "0") == "1"
#: Per-decision time limit for the fuzz policy, and the slack on top of it before we call it a breach.
DECISION_SECONDS = 10.0
TIME_SLACK = 20.0
MAX_BYTES = 4 * 1024 * 1024
MAX_PART_BYTES = 2 * 1024 * 1024


def fuzz_settings(default: int):
    """Bounded and reproducible by default; ``DOCINTAKE_FUZZ_EXAMPLES`` for the long opt-in run."""
    return settings(
        max_examples=LONG_RUN or default,
        derandomize=not LONG_RUN,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                               HealthCheck.function_scoped_fixture],
    )


# ---- inputs ---------------------------------------------------------------------------------------
def realworld_files(sub: str, pattern: str) -> list[Path]:
    base = REALWORLD / sub
    return sorted(p for p in base.rglob(pattern) if p.is_file()) if base.is_dir() else []


EML_FILES = realworld_files("eml", "*.eml")
PADES_FILES = [p for p in realworld_files("pades", "*.pdf") if p.stat().st_size <= MAX_BYTES]
DONOR_FILES = PADES_FILES[:12] + realworld_files("forms", "*.pdf")[:4] + realworld_files("attacks", "*.pdf")


class Bases:
    """Signed forms made once per test session: each accepted as it is."""

    def __init__(self, directory: Path):
        from worker.bench.corpus import Corpus

        self.corpus = Corpus(directory)
        self.plain = self.corpus.signed(1).pdf
        self.timestamped = self.corpus.signed(2, timestamp=True).pdf
        self.all = [self.plain, self.timestamped]


@pytest.fixture(scope="session")
def bases(tmp_path_factory) -> Bases:
    return Bases(tmp_path_factory.mktemp("fuzz-pki"))


@pytest.fixture(scope="session")
def policy(bases):
    from verify.policy import Policy

    return Policy.load(trust_lists=bases.corpus.trust_lists, max_bytes=MAX_BYTES,
                       timeout=DECISION_SECONDS)


def _note(text: str) -> None:
    """hypothesis.note inside a property, nothing outside one (the plain tests share the checks)."""
    from hypothesis.control import _current_build_context

    if _current_build_context.value is not None:
        note(text)


# ---- the properties ---------------------------------------------------------------------------------
def report_json(report) -> dict:
    return report.to_json()


def verdict_of(data: dict) -> str:
    return data.get("verdict") or data.get("outcome") or data.get("status")


def reason_codes(data: dict) -> list[str]:
    return [r["code"] if isinstance(r, dict) else r for r in data.get("reasons", [])]


def save_crasher(kind: str, data: bytes, why: str) -> Path | None:
    if not SAVE:
        return None
    REGRESSIONS.mkdir(exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = REGRESSIONS / f"{kind}-{digest}.{'eml' if kind == 'mail' else 'pdf'}"
    path.write_bytes(data)
    path.with_name(path.name + ".json").write_text(json.dumps({"why": why}, indent=1) + "\n")
    return path


def check_decision(data: bytes, policy, *, signed_range_changed: bool = False,
                   must_reject: str | None = None) -> dict:
    """Run decide on ``data`` and assert every property; returns the report JSON."""
    from verify.decision import decide

    started = time.monotonic()
    try:
        report = decide(data, policy)
    except BaseException as exc:  # noqa: BLE001 - that is the finding
        save_crasher("decide", data, f"decide raised {type(exc).__name__}: {exc}")
        raise AssertionError(f"decide raised {type(exc).__name__}: {exc}") from exc
    elapsed = time.monotonic() - started
    out = report_json(report)
    verdict = verdict_of(out)
    codes = reason_codes(out)
    _note(f"verdict={verdict} reasons={codes} elapsed={elapsed:.2f}s")
    problems = []
    if verdict not in ("accepted", "rejected"):
        problems.append(f"verdict {verdict!r}")
    if verdict == "rejected" and not codes:
        problems.append("rejected without a reason")
    if verdict == "accepted" and codes:
        problems.append(f"accepted with reasons {codes}")
    unknown = [c for c in codes if c not in CODES]
    if unknown:
        problems.append(f"reason codes outside the vocabulary: {unknown}")
    if elapsed > DECISION_SECONDS + TIME_SLACK:
        problems.append(f"took {elapsed:.1f}s, the policy allows {DECISION_SECONDS}s")
    if len(data) > MAX_BYTES and verdict == "accepted":
        problems.append("accepted a PDF over the size limit")
    if signed_range_changed and verdict == "accepted":
        problems.append("ACCEPTED a document whose signed byte range was changed")
    if must_reject and verdict == "accepted":
        problems.append(f"ACCEPTED after {must_reject}")
    if problems:
        save_crasher("decide", data, "; ".join(problems))
        raise AssertionError("; ".join(problems))
    return out


# ---- mutations --------------------------------------------------------------------------------------
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def signed_ranges(pdf: bytes) -> list[tuple[int, int]]:
    """The byte ranges the (last) signature covers, as (start, end) pairs."""
    matches = list(_BYTE_RANGE.finditer(pdf))
    assert matches, "a base form without /ByteRange"
    a, b, c, d = map(int, matches[-1].groups())
    return [(a, a + b), (c, c + d)]


def range_changed(original: bytes, mutated: bytes) -> bool:
    return any(mutated[s:e] != original[s:e] for s, e in signed_ranges(original))


# Strategies draw small descriptions of a mutation (printed in a falsifying example), and
# ``apply_mutation`` makes the bytes from them.
@st.composite
def flips(draw, data: bytes) -> tuple:
    n = draw(st.integers(1, 8))
    return ("flip", tuple((draw(st.integers(0, len(data) - 1)), draw(st.integers(1, 255))) for _ in range(n)))


@st.composite
def truncations(draw, data: bytes) -> tuple:
    return ("truncate", draw(st.integers(0, len(data) - 1)))


@st.composite
def splices(draw, data: bytes, donors: list[bytes]) -> tuple:
    d = draw(st.integers(0, len(donors) - 1)) if donors else None
    donor = donors[d] if donors else data
    start = draw(st.integers(0, len(data)))
    cut = draw(st.integers(0, min(4096, len(data) - start)))
    d_start = draw(st.integers(0, max(0, len(donor) - 1)))
    d_len = draw(st.integers(0, min(4096, len(donor) - d_start)))
    return ("splice", d, start, cut, d_start, d_len)


_OBJ = re.compile(rb"(\d+)\s+(\d+)\s+obj\b")
_TOKEN = re.compile(rb"-?\d+(?:\.\d+)?|/[A-Za-z][A-Za-z0-9#._-]*|\((?:[^()\\]|\\.){0,40}\)|true|false|null")
_REPLACEMENTS = [b"0", b"-1", b"99999999999999999999", b"1.5e308", b"/Foo", b"null", b"()", b"<>",
                 b"<< >>", b"[ ]", b"true", b"1 0 R", b"9999 0 R", b"/Type", b"(\xfe\xff\xd8\x00)",
                 b"<< /Length 999999 >>", b"endobj", b"stream\n", b"[" * 64, b"<<" * 64]


def _tokens(data: bytes, obj_start: int) -> list:
    end = data.find(b"endobj", obj_start)
    return list(_TOKEN.finditer(data, obj_start, len(data) if end < 0 else end))


@st.composite
def object_edits(draw, data: bytes) -> tuple:
    """Edit one token inside one indirect object (in place, so offsets may or may not shift)."""
    objs = [m.start() for m in _OBJ.finditer(data)]
    start = draw(st.sampled_from(objs))
    tokens = _tokens(data, start)
    if not tokens:
        return ("none",)
    tok = draw(st.integers(0, len(tokens) - 1))
    repl = draw(st.sampled_from(_REPLACEMENTS) | st.binary(max_size=16))
    how = draw(st.sampled_from(["replace", "delete", "duplicate"]))
    return ("object", start, tok, how, repl)


def apply_mutation(data: bytes, m: tuple, donors: list[bytes] = ()) -> bytes:
    kind = m[0]
    if kind == "flip":
        buf = bytearray(data)
        for pos, xor in m[1]:
            buf[pos] ^= xor
        return bytes(buf)
    if kind == "truncate":
        return data[: m[1]]
    if kind == "splice":
        _, d, start, cut, d_start, d_len = m
        donor = donors[d] if d is not None else data
        return data[:start] + donor[d_start : d_start + d_len] + data[start + cut :]
    if kind == "object":
        _, start, t, how, repl = m
        tok = _tokens(data, start)[t]
        if how == "delete":
            return data[: tok.start()] + data[tok.end() :]
        if how == "duplicate":
            return data[: tok.end()] + b" " + tok.group() + data[tok.end() :]
        return data[: tok.start()] + repl + data[tok.end() :]
    return data


def mutations(data: bytes, donors: list[bytes], kinds=("flip", "truncate", "splice", "object")):
    table = {"flip": flips(data), "truncate": truncations(data), "splice": splices(data, donors),
             "object": object_edits(data)}
    return st.one_of(*(table[k] for k in kinds))


INCREMENTAL_KINDS = ("field_value", "new_page", "info", "acroform_junk", "second_signature", "dss",
                     "orphan_object", "raw_junk", "redefine_catalog", "duplicate_field", "hidden_kid",
                     "no_eof", "stale_startxref", "bytes_after_eof")
#: Incremental updates that change what the customer signed (FORM.md: only a DSS and document
#: timestamps may follow the signature): never accepted. An /Info edit or an orphaned object alone
#: is neither validation data nor a timestamp (verify/revisions.py).
CHANGING_KINDS = {"field_value", "new_page", "second_signature", "redefine_catalog", "acroform_junk",
                  "info", "orphan_object", "duplicate_field", "hidden_kid", "no_eof", "stale_startxref",
                  "bytes_after_eof"}


def append_update(data: bytes, kind: str, text: str, corpus) -> bytes:
    """Append one incremental update of ``kind`` to a signed form."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    if kind == "raw_junk":
        return data + b"\n" + text.encode("utf-8", "replace") + b"\n%%EOF\n"
    if kind == "bytes_after_eof":
        return data + b"\n" + (text.encode("utf-8", "replace") or b"x")
    if kind in ("no_eof", "stale_startxref"):
        from worker.bench.adversarial import hand_update

        updated = hand_update(data, [(900, b"(" + re.sub(rb"[()\\]", b"", text.encode("utf-8", "replace")) + b")")])
        if kind == "no_eof":
            return updated[: -len(b"%%EOF\n")]
        signed_xref = re.findall(rb"startxref\s+(\d+)", data)[-1]
        head, _, _ = updated.rpartition(b"startxref")
        return head + b"startxref\n" + signed_xref + b"\n%%EOF\n"
    if kind == "second_signature":
        from verify.demo_pki import sign_pdf

        return sign_pdf(data, corpus.identity(7), field="Signature2")
    if kind == "dss":
        from pyhanko.sign.validation import DocumentSecurityStore

        out = io.BytesIO(data)
        out.seek(0, 2)
        DocumentSecurityStore.add_dss(out, sig_contents=None, certs=[corpus.pki.intermediate.asn1_cert],
                                      crls=[corpus.pki.crl()], force_write=True)
        return out.getvalue()
    w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    root = w.root
    if kind == "field_value":
        fields = root["/AcroForm"]["/Fields"]
        stack = list(fields)
        target = None
        while stack:
            ref = stack.pop()
            obj = ref.get_object()
            if obj.get("/FT") == "/Tx" and "/V" in obj:
                target = ref
                break
            stack.extend(obj.get("/Kids", []))
        if target is None:
            return data
        obj = target.get_object()
        obj["/V"] = generic.TextStringObject(text or "x")
        w.mark_update(target)
    elif kind == "new_page":
        page = generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        })
        w.insert_page(page)
    elif kind == "info":
        info = w.trailer.raw_get("/Info") if "/Info" in w.trailer else None
        if not isinstance(info, generic.IndirectObject):
            return data
        info_obj = info.get_object()
        info_obj["/Title"] = generic.TextStringObject(text)
        w.mark_update(info)
    elif kind == "acroform_junk":
        af = root.raw_get("/AcroForm")
        af_obj = af.get_object() if isinstance(af, generic.IndirectObject) else root["/AcroForm"]
        af_obj["/NeedAppearances"] = generic.BooleanObject(True)
        af_obj["/DA"] = generic.TextStringObject(text)
        if isinstance(af, generic.IndirectObject):
            w.mark_update(af)
        else:
            w.update_root()
    elif kind == "orphan_object":
        w.add_object(generic.TextStringObject(text))
    elif kind in ("duplicate_field", "hidden_kid"):
        _add_shadow_field(w, text, hidden_kid=kind == "hidden_kid")
    elif kind == "redefine_catalog":
        root["/Lang"] = generic.TextStringObject(text[:10] or "lv")
        root["/OpenAction"] = generic.DictionaryObject({
            generic.NameObject("/S"): generic.NameObject("/JavaScript"),
            generic.NameObject("/JS"): generic.TextStringObject("app.alert(1)"),
        })
        w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _add_shadow_field(w, text: str, *, hidden_kid: bool) -> None:
    """A second ``phone`` with no widget, or a hidden kid widget of ``phone`` carrying its own /V."""
    from pyhanko.pdf_utils import generic

    value = generic.TextStringObject(text or "+37129999999")
    fields_raw = w.root["/AcroForm"].raw_get("/Fields")
    fields = fields_raw.get_object()
    if not hidden_kid:
        dup = w.add_object(generic.DictionaryObject({
            generic.NameObject("/FT"): generic.NameObject("/Tx"),
            generic.NameObject("/T"): generic.TextStringObject("phone"),
            generic.NameObject("/V"): value,
        }))
        fields.append(dup)
    else:
        target = next((r for r in fields if r.get_object().get("/T") == "phone"), None)
        if target is None:
            return
        kid = w.add_object(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/F"): generic.NumberObject(2),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(0)] * 4),
            generic.NameObject("/Parent"): target,
            generic.NameObject("/V"): value,
        }))
        obj = target.get_object()
        obj[generic.NameObject("/Kids")] = generic.ArrayObject([*obj.get("/Kids", []), kid])
        w.mark_update(target)
    if isinstance(fields_raw, generic.IndirectObject):
        w.mark_update(fields_raw)
    else:
        w.update_container(w.root["/AcroForm"])


#: Structural mutations of the AcroForm made BEFORE signing (the signer signs what they get):
#: whatever they are, the decision never raises and keeps to its limits.
ACROFORM_MUTATIONS = ("duplicate_field", "hidden_kid", "fields_cycle", "fields_nested", "many_fields",
                      "drop_fields")


def mutate_acroform(data: bytes, kind: str, text: str, count: int) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    acroform = w.root["/AcroForm"]
    if kind in ("duplicate_field", "hidden_kid"):
        _add_shadow_field(w, text, hidden_kid=kind == "hidden_kid")
    else:
        if kind == "fields_cycle":
            parent = w.add_object(generic.DictionaryObject({generic.NameObject("/T"): generic.TextStringObject("loop")}))
            parent.get_object()[generic.NameObject("/Kids")] = generic.ArrayObject([parent])
            new = generic.ArrayObject([*acroform["/Fields"], parent])
        elif kind == "fields_nested":
            wrapper = w.add_object(generic.DictionaryObject({
                generic.NameObject("/T"): generic.TextStringObject(text or "w"),
                generic.NameObject("/Kids"): generic.ArrayObject(list(acroform["/Fields"])),
            }))
            new = generic.ArrayObject([wrapper])
        elif kind == "many_fields":
            extra = [w.add_object(generic.DictionaryObject({
                generic.NameObject("/FT"): generic.NameObject("/Tx"),
                generic.NameObject("/T"): generic.TextStringObject(f"x{k}"),
                generic.NameObject("/V"): generic.TextStringObject(text),
            })) for k in range(count)]
            new = generic.ArrayObject([*acroform["/Fields"], *extra])
        else:  # drop_fields
            new = generic.ArrayObject()
        acroform[generic.NameObject("/Fields")] = new
        raw = w.root.raw_get("/AcroForm")
        if isinstance(raw, generic.IndirectObject):
            w.mark_update(raw)
        else:
            w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


# ---- decide: mutated signed forms ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def donors() -> list[bytes]:
    return [p.read_bytes() for p in DONOR_FILES]


def test_base_forms_are_accepted(bases, policy):
    """The harness itself: the unmutated bases pass, so the properties below mean something."""
    for data in bases.all:
        out = check_decision(data, policy)
        assert verdict_of(out) == "accepted", out


@fuzz_settings(150)
@given(data=st.data())
def test_decide_on_mutated_forms(bases, policy, donors, data):
    original = bases.all[data.draw(st.integers(0, len(bases.all) - 1), label="base")]
    mutated = apply_mutation(original, data.draw(mutations(original, donors), label="mutation"), donors)
    assume(mutated != original)
    check_decision(mutated, policy, signed_range_changed=range_changed(original, mutated))


@fuzz_settings(40)
@given(kind=st.sampled_from(INCREMENTAL_KINDS),
       text=st.text(st.characters(codec="utf-8"), min_size=0, max_size=40),
       data=st.data())
def test_decide_on_incremental_updates(bases, policy, kind, text, data):
    original = bases.all[data.draw(st.integers(0, len(bases.all) - 1), label="base")]
    mutated = append_update(original, kind, text, bases.corpus)
    assume(mutated != original)
    # ... and sometimes mutate the appended update itself
    if data.draw(st.booleans(), label="flip the update"):
        tail = len(original)
        buf = bytearray(mutated)
        pos = data.draw(st.integers(tail, len(buf) - 1), label="pos")
        buf[pos] ^= data.draw(st.integers(1, 255), label="xor")
        mutated = bytes(buf)
    check_decision(mutated, policy, signed_range_changed=range_changed(original, mutated),
                   must_reject=f"an incremental update ({kind})" if kind in CHANGING_KINDS else None)


@fuzz_settings(8)
@given(kind=st.sampled_from(ACROFORM_MUTATIONS),
       text=st.text(st.characters(codec="utf-8"), min_size=0, max_size=20),
       count=st.integers(1, 3000))
def test_decide_on_acroform_mutated_before_signing(bases, policy, kind, text, count):
    corpus = bases.corpus
    unsigned = mutate_acroform(corpus.filled(3), kind, text, count)
    signed = corpus.pki.sign_pdf(unsigned, corpus.identity(3))
    out = check_decision(signed, policy)
    if kind in ("fields_cycle", "drop_fields"):
        assert verdict_of(out) == "rejected", out


def test_dss_update_is_still_accepted(bases, policy):
    """A DSS after the signature is validation data, not a change: the positive control."""
    out = check_decision(append_update(bases.plain, "dss", "", bases.corpus), policy)
    assert verdict_of(out) == "accepted", out


# ---- decide: real-world PAdES files ---------------------------------------------------------------
@pytest.mark.parametrize("path", PADES_FILES, ids=lambda p: p.name)
def test_decide_on_realworld_pades(path, policy):
    out = check_decision(path.read_bytes(), policy)
    # none of these is our form, signed by our demo PKI
    assert verdict_of(out) == "rejected", out


@fuzz_settings(60)
@given(data=st.data())
def test_decide_on_mutated_realworld_pades(policy, donors, data):
    if not PADES_FILES:
        pytest.fail(f"no real-world PAdES files under {REALWORLD}")
    path = data.draw(st.sampled_from(PADES_FILES), label="file")
    original = path.read_bytes()
    check_decision(apply_mutation(original, data.draw(mutations(original, donors), label="mutation"), donors),
                   policy)


# ---- parse_mail ------------------------------------------------------------------------------------
def check_mail(raw: bytes, max_part_bytes: int = MAX_PART_BYTES):
    from intake.mailin.parse import parse_mail

    try:
        parsed = parse_mail(raw, max_part_bytes)
    except BaseException as exc:  # noqa: BLE001
        save_crasher("mail", raw, f"parse_mail raised {type(exc).__name__}: {exc}")
        raise AssertionError(f"parse_mail raised {type(exc).__name__}: {exc}") from exc
    problems = []
    # the same parse from a file with every base64 body spooled (intake.mailin.spool): memory, not results, differ
    from tests.test_mailparse_stream import NEVER, mail_view

    try:
        plain = parse_mail(raw, max_part_bytes, spool_threshold=NEVER)
        with parse_mail(io.BytesIO(raw), max_part_bytes, spool_threshold=0) as streamed:
            views = {"spooled": mail_view(streamed), "default": mail_view(parsed)}
            for name, view in views.items():
                differ = [k for k, v in mail_view(plain).items() if view[k] != v]
                if differ:
                    problems.append(f"the {name} parse differs from the in-memory one in {differ}")
    except BaseException as exc:  # noqa: BLE001
        save_crasher("mail", raw, f"parse_mail (file, spooled) raised {type(exc).__name__}: {exc}")
        raise AssertionError(f"parse_mail (file, spooled) raised {type(exc).__name__}: {exc}") from exc
    swallowed = [d for d in parsed.defects if d.startswith("parts after a")]
    if swallowed:
        # parse_mail did not raise, but an exception stopped the walk: the PDFs after it are lost
        problems.append(f"an internal error dropped parts: {swallowed}")
    indexes = [p.index for p in parsed.pdfs]
    if len(set(indexes)) != len(indexes):
        problems.append(f"part indexes repeat: {indexes}")
    for part in parsed.pdfs:
        if part.too_large:
            if part.data or part.size <= max_part_bytes:
                problems.append(f"part {part.index}: too_large with {len(part.data)} bytes kept, size {part.size}")
        else:
            if len(part.data) > max_part_bytes:
                problems.append(f"part {part.index}: {len(part.data)} bytes kept over the limit")
            if part.sha256 != hashlib.sha256(part.data).hexdigest():
                problems.append(f"part {part.index}: sha256 does not match its bytes")
    for name in ("message_id", "sender", "subject"):
        value = getattr(parsed, name)
        if value is not None and (not isinstance(value, str) or "\x00" in value):
            problems.append(f"{name} is {value!r}")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"{name} cannot be stored as UTF-8")
    if problems:
        save_crasher("mail", raw, "; ".join(problems))
        raise AssertionError("; ".join(problems))
    return parsed


@pytest.fixture(scope="session")
def emls() -> list[bytes]:
    if not EML_FILES:
        pytest.fail(f"no real-world mails under {REALWORLD / 'eml'}")
    return [p.read_bytes() for p in EML_FILES]


@pytest.mark.parametrize("path", EML_FILES, ids=lambda p: p.name)
def test_parse_mail_on_realworld(path):
    check_mail(path.read_bytes())


@st.composite
def mail_mutations(draw, emls: list[bytes]) -> bytes:
    raw = draw(st.sampled_from(emls))
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "boundary", "header", "nest", "crlf", "binary"]))
    if kind in ("flip", "truncate", "splice"):
        return apply_mutation(raw, draw(mutations(raw, emls, kinds=(kind,))), emls)
    if kind == "boundary":
        m = re.search(rb'boundary="?([^";\r\n]+)', raw)
        if not m:
            return raw
        repl = draw(st.sampled_from([b"", b"x", m.group(1) * 3, b'"', b"--", m.group(1)[:-1]]))
        count = draw(st.integers(0, 3))
        return raw.replace(m.group(1), repl, count or -1)
    if kind == "header":
        name = draw(st.sampled_from([b"Content-Type", b"Content-Transfer-Encoding", b"Content-Disposition",
                                     b"Message-ID", b"From", b"Date", b"Subject", b"MIME-Version"]))
        value = draw(st.binary(max_size=200) | st.sampled_from([
            b"multipart/mixed; boundary=", b"base64", b"quoted-printable", b"x-uuencode", b"8bit",
            b"attachment; filename*=utf-8''%FF%FE.pdf", b"=?utf-8?b?////?=", b"application/pdf; name=\"a.pdf\"",
            b"message/rfc822", b"a" * 5000, b"Thu, 31 Dec 9999 99:99:99 +9999", b"<>" * 100,
        ]))
        at = draw(st.sampled_from([0, raw.find(b"\n\n") + 1 if b"\n\n" in raw else 0]))
        return raw[:at] + name + b": " + value + b"\r\n" + raw[at:]
    if kind == "nest":
        depth = draw(st.integers(1, 60))
        out = raw
        for i in range(depth):
            out = (b"Content-Type: message/rfc822\r\nMIME-Version: 1.0\r\n\r\n" + out)
        return out
    if kind == "crlf":
        return raw.replace(b"\r\n", b"\n") if b"\r\n" in raw else raw.replace(b"\n", b"\r\n")
    return draw(st.binary(max_size=4096))


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"From: x\r\n", b"\x00" * 100], ids=repr)
def test_parse_mail_on_degenerate_input(raw):
    check_mail(raw)


@fuzz_settings(200)
@given(data=st.data())
def test_parse_mail_on_mutated_mails(emls, data):
    check_mail(data.draw(mail_mutations(emls)), data.draw(st.sampled_from([MAX_PART_BYTES, 1, 100, 10_000])))


@fuzz_settings(40)
@given(data=st.data())
def test_parse_mail_with_signed_forms(bases, data):
    """Our own mails, with a signed form attached, mutated: the form is found or the parse degrades."""
    from worker.bench.corpus import make_mail

    pdf = bases.all[data.draw(st.integers(0, len(bases.all) - 1), label="base")]
    count = data.draw(st.integers(1, 3), label="attachments")
    raw = make_mail([pdf] * count, index=3)
    clean = check_mail(raw)
    assert [p.sha256 for p in clean.pdfs] == [hashlib.sha256(pdf).hexdigest()] * count
    mutated = apply_mutation(raw, data.draw(mutations(raw, [raw], kinds=("flip", "truncate", "splice"))), [raw])
    check_mail(mutated, data.draw(st.sampled_from([MAX_PART_BYTES, len(pdf) - 1, len(pdf)])))
