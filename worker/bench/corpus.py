"""Signed forms, big forms and mails for the benchmark, the fuzz and the soak tests.

Everything is made here, in a directory the caller owns, with the throw-away
:mod:`verify.demo_pki`: a blank form (``forms.blank``), filled as a customer's
PDF reader would (``forms.fill``), signed as PAdES. One customer per form
(new-format Latvian codes ``32NNNN-NNNNN``), so that no two forms race for one
profile and every form can be applied.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import io
import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Iterable, Iterator

GIVEN = ("Anna", "Jānis", "Līga", "Pēteris", "Ilze", "Mārtiņš", "Inese", "Andris", "Zane", "Kārlis")
SURNAMES = ("Bērziņa", "Kalniņš", "Ozola", "Liepiņš", "Krūmiņa", "Zariņš", "Eglīte", "Vītols", "Jansone", "Celms")


def personal_code(i: int) -> str:
    """A distinct new-format Latvian personal code (``32`` + 9 digits, no check digit)."""
    digits = f"32{i % 10**9:09d}"
    return f"{digits[:6]}-{digits[6:]}"


def form_values(i: int, *, phone_suffix: int | None = None) -> dict[str, str | bool]:
    """Values a customer would type into the form: valid under FORM.md, distinct per ``i``."""
    n = i if phone_suffix is None else phone_suffix
    return {
        "id_country": "LV",
        "personal_code": personal_code(i),
        "first_name": GIVEN[i % len(GIVEN)],
        "last_name": SURNAMES[(i // len(GIVEN)) % len(SURNAMES)],
        "date_of_birth": f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "phone": f"+3712{n % 10**7:07d}",
        "email": f"customer{i}@example.lv",
        "address_street": f"Brīvības iela {1 + i % 300}-{1 + i % 40}",
        "address_city": "Rīga",
        "address_postcode": f"LV-{1001 + i % 900:04d}",
        "address_country": "LV",
        "correspondence_channel": ("email", "internet_bank", "post")[i % 3],
        "occupation": "Inženieris",
        "employer": "SIA Piemērs" if i % 2 else "",
        "source_of_funds": "salary",
        "source_of_funds_other": "",
        "account_purpose": "everyday",
        "expected_monthly_turnover": "1000_5000",
        "tax_residency_country": "LV",
        "tax_id": "",
        "us_person": False,
        "is_pep": False,
        "pep_relative": False,
        "pep_position": "",
        "marketing_consent": bool(i % 2),
        "data_accuracy_confirmation": True,
    }


@dataclass(frozen=True)
class SignedForm:
    index: int
    national_id: str
    values: dict
    pdf: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


class Corpus:
    """A demo PKI in ``directory`` and the forms signed with it."""

    def __init__(self, directory: str | Path):
        from verify.demo_pki import DemoPKI

        self.directory = Path(directory)
        self.pki = DemoPKI.create(self.directory / "pki")
        self._blank: bytes | None = None

    @property
    def trust_lists(self) -> Path:
        """The demo PKI's test trusted lists: the bench trusts (and qualifies) like production."""
        return self.pki.trust_lists_path

    @property
    def blank(self) -> bytes:
        if self._blank is None:
            from forms.blank import render_blank

            self._blank = render_blank("lv")
        return self._blank

    def identity(self, i: int, variant: str | None = None):
        values = form_values(i)
        return self.pki.person("LV", values["personal_code"], values["first_name"], values["last_name"],
                               variant=variant)

    def filled(self, i: int, values: dict | None = None, *, pad_to: tuple[int, int] | None = None) -> bytes:
        from forms.fill import fill_form

        pdf = fill_form(self.blank, values or form_values(i))
        if pad_to is not None:
            pdf = pad_pages(pdf, pages=pad_to[0], total_bytes=pad_to[1])
        return pdf

    def signed(self, i: int, *, values: dict | None = None, variant: str | None = None,
               pad_to: tuple[int, int] | None = None, **sign_kwargs) -> SignedForm:
        values = values or form_values(i)
        ident = self.identity(i, variant)
        pdf = self.pki.sign_pdf(self.filled(i, values, pad_to=pad_to), ident, **sign_kwargs)
        return SignedForm(i, ident.national_id, values, pdf)

    def forms(self, count: int, start: int = 0) -> Iterator[SignedForm]:
        for i in range(start, start + count):
            yield self.signed(i)


def pad_pages(pdf: bytes, *, pages: int, total_bytes: int) -> bytes:
    """``pdf`` with pages appended up to ``pages``, each carrying an incompressible image, so the
    whole file is close to (and not over) ``total_bytes``: what a scanned attachment makes."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    extra = pages - len(writer.pages)
    if extra <= 0:
        return pdf
    budget = total_bytes - len(pdf) - extra * 600  # page, content and image dictionaries
    side = max(16, int((budget / extra) ** 0.5))
    rng = _Rng(side)
    for _ in range(extra):
        page = writer.add_blank_page(595, 842)
        image = DecodedStreamObject()
        image.set_data(rng.block(side * side))
        image.update({
            NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(side), NameObject("/Height"): NumberObject(side),
            NameObject("/ColorSpace"): NameObject("/DeviceGray"), NameObject("/BitsPerComponent"): NumberObject(8),
        })
        content = DecodedStreamObject()
        content.set_data(b"q 500 0 0 500 47 171 cm /Im0 Do Q")
        page[NameObject("/Contents")] = writer._add_object(content)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)})})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class _Rng:
    """Deterministic incompressible bytes (so the big form is the same size every run)."""

    def __init__(self, seed: int):
        self.counter = seed

    def block(self, n: int) -> bytes:
        chunks = []
        while n > 0:
            self.counter += 1
            chunk = hashlib.shake_256(self.counter.to_bytes(8, "big")).digest(min(n, 1 << 20))
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


def make_mail(pdfs: Iterable[bytes] | bytes, *, index: int = 0, sender: str | None = None,
              to: str = "forms@bank.example", subject: str | None = None,
              message_id: str | None = None) -> bytes:
    """An RFC 5322 message with the PDFs attached, as a customer's mail client sends it."""
    if isinstance(pdfs, (bytes, bytearray)):
        pdfs = [bytes(pdfs)]
    msg = EmailMessage()
    msg["From"] = sender or f"customer{index}@example.lv"
    msg["To"] = to
    msg["Subject"] = subject or f"Klienta datu anketa {index}"
    msg["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(idstring=f"bench{index}.{os.getpid()}", domain="example.lv")
    msg.set_content("Labdien, pielikumā parakstīta anketa.\n")
    for n, pdf in enumerate(pdfs):
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"anketa-{index}-{n}.pdf")
    return msg.as_bytes(policy=email.policy.SMTP)


def maildir_deliver(maildir: Path, raw: bytes, name: str) -> Path:
    """Deliver like an MTA: write under ``tmp/``, then rename into ``new/`` (the moment it lands)."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    tmp = maildir / "tmp" / name
    tmp.write_bytes(raw)
    final = maildir / "new" / name
    os.replace(tmp, final)
    return final
