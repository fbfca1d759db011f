"""What changed after signing, seen: the signed revision's pages next to the file as received,
differences highlighted; and the certificates the signature carries.

Runs inside the bounded render child (:mod:`intake.web.render`, same memory, CPU and time limits),
because it parses the sender's PDF. It writes ``evidence.json`` next to the page images:

- ``signed_bytes`` / ``total_bytes``: the signed revision (the bytes up to the end of the
  signature's /ByteRange) and the file as received; ``later_changes`` when they differ;
- ``signed_pages``: images ``page-N-signed.png`` of the signed revision (only when it differs);
  ``diff_pages``: page numbers where the two renders differ, each with ``page-N-diff.png`` (the
  received page with the changed pixels in red and a box around them); pages added after signing
  count as changed;
- ``chain``: the signer's certificate and its issuers as found in the signature (subject, issuer,
  serial, valid from/until, self-signed; ``name`` is the common name), from the signer upwards;
- ``error``: ``signature_unreadable``, ``certificates_unreadable`` or ``revision_unrenderable``
  (shown to the clerk by :data:`intake.web.filters.EVIDENCE_ERRORS`), else null.

The web only reads these files; trust and qualification come from the stored report.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

EVIDENCE = "evidence.json"
#: A pixel counts as changed above this difference (0-255, any channel): anti-aliasing noise stays out.
THRESHOLD = 40
HIGHLIGHT = (220, 30, 30)


def read(directory: Path) -> dict | None:
    """The evidence written for a rendered document (None: rendered before evidence existed, or failed)."""
    path = directory / EVIDENCE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def image_path(directory: Path, number: int, kind: str, info: dict | None) -> Path | None:
    """``page-N-signed.png`` or ``page-N-diff.png`` if the evidence lists it."""
    if not info:
        return None
    if kind == "signed" and 1 <= number <= int(info.get("signed_pages") or 0):
        return directory / f"page-{number}-signed.png"
    if kind == "diff" and number in (info.get("diff_pages") or []):
        return directory / f"page-{number}-diff.png"
    return None


# ---- in the render child ----------------------------------------------------------------------------
def _signature(data: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    signatures = reader.embedded_regular_signatures
    if not signatures:
        return None
    from forms.schema import SIGNATURE_FIELD

    return next((s for s in signatures if s.field_name == SIGNATURE_FIELD), signatures[0])


def _signed_length(sig, total: int) -> int | None:
    br = [int(x) for x in sig.sig_object["/ByteRange"]]
    end = br[2] + br[3] if len(br) == 4 and br[0] == 0 else 0
    return end if 0 < end <= total else None


def _name(name) -> str:
    try:
        return name.human_friendly
    except Exception:
        return str(name)


def _common_name(name) -> str:
    try:
        return str(name.native.get("common_name") or _name(name))
    except Exception:
        return _name(name)


def _chain(sig) -> list[dict]:
    signer = sig.signer_cert
    pool = list(sig.signed_data["certificates"] or [])
    certs = [c.chosen for c in pool if c.name == "certificate"]
    chain, current = [], signer
    while current is not None and len(chain) < 8:
        self_signed = current.self_signed in ("maybe", "yes")
        chain.append({
            "name": _common_name(current.subject), "subject": _name(current.subject), "issuer": _name(current.issuer),
            "serial": format(current.serial_number, "x"),
            "not_before": current.not_valid_before.isoformat(), "not_after": current.not_valid_after.isoformat(),
            "self_signed": self_signed,
        })
        if self_signed:
            break
        current = next((c for c in certs if c.subject == current.issuer and c is not current), None)
    return chain


def _diff(received, signed, out: Path):
    """The received page with changed pixels in red and a box around them, or None if unchanged."""
    from PIL import Image, ImageChops, ImageDraw, ImageFilter

    a = received.convert("RGB")
    b = signed.convert("RGB").resize(a.size) if signed is not None else Image.new("RGB", a.size, "white")
    mask = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > THRESHOLD else 0)
    box = mask.getbbox()
    if box is None:
        return None
    mask = mask.filter(ImageFilter.MaxFilter(7))  # a changed digit becomes a visible blot
    shown = Image.composite(Image.new("RGB", a.size, HIGHLIGHT), a, mask.point(lambda v: 150 if v else 0))
    draw = ImageDraw.Draw(shown)
    draw.rectangle([box[0] - 6, box[1] - 6, box[2] + 6, box[3] + 6], outline=HIGHLIGHT, width=3)
    shown.save(out, format="PNG", optimize=True)
    return box


def _render(pdfium, data: bytes, out_dir: Path, max_pages: int, scale: float) -> list:
    pdf = pdfium.PdfDocument(data)
    images = []
    try:
        pdf.init_forms()
        for i in range(min(len(pdf), max_pages)):
            page = pdf[i]
            image = page.render(scale=scale, may_draw_forms=True).to_pil()
            image.save(out_dir / f"page-{i + 1}-signed.png", format="PNG", optimize=True)
            images.append(image)
            page.close()
    finally:
        pdf.close()
    return images


def write_evidence(data: bytes, out_dir: Path, received_pages: list, max_pages: int, scale: float) -> None:
    """Called by the render child after it rendered ``received_pages`` (PIL images) of ``data``."""
    import pypdfium2 as pdfium

    info: dict = {"total_bytes": len(data), "signed_bytes": None, "later_changes": False,
                  "signed_pages": 0, "diff_pages": [], "chain": [], "error": None}
    try:
        sig = _signature(data)
    except Exception:
        sig, info["error"] = None, "signature_unreadable"
    if sig is not None:
        try:
            info["chain"] = _chain(sig)
        except Exception:
            info["error"] = "certificates_unreadable"
        try:
            length = _signed_length(sig, len(data))
        except Exception:
            length = None
        info["signed_bytes"] = length
        if length is not None and length < len(data):
            info["later_changes"] = True
            try:
                signed = _render(pdfium, data[:length], out_dir, max_pages, scale)
                info["signed_pages"] = len(signed)
                for i, received in enumerate(received_pages):
                    if _diff(received, signed[i] if i < len(signed) else None, out_dir / f"page-{i + 1}-diff.png"):
                        info["diff_pages"].append(i + 1)
            except Exception:
                info["error"] = "revision_unrenderable"
    (out_dir / EVIDENCE).write_text(json.dumps(info))
