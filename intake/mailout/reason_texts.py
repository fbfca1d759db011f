"""The reject reasons in plain language, with the next step, in Latvian and English.

Keyed by the codes of ``verify.reasons`` (the one vocabulary); a code missing here falls back
to a general text, so a new code never breaks a reply.
"""

from __future__ import annotations

from typing import Mapping

#: step -> {lang: text}; ``{url}`` is the blank form's address, ``{phone}`` the bank's.
STEPS: dict[str, dict[str, str]] = {
    "sign": {
        "lv": "Parakstiet anketu ar kvalificētu e-parakstu (eParaksts, Smart-ID, Mobile-ID vai ID karte) un "
              "nosūtiet to vēlreiz.",
        "en": "Sign the form with a qualified e-signature (eParaksts, Smart-ID, Mobile-ID or an ID card) and "
              "send it again.",
    },
    "form": {
        "lv": "Lejupielādējiet aktuālo anketu ({url}), aizpildiet to, parakstiet un nosūtiet, pēc parakstīšanas "
              "neko nemainot.",
        "en": "Download the current form ({url}), fill it in, sign it and send it without changing it after "
              "signing.",
    },
    "fields": {
        "lv": "Izlabojiet norādītos laukus aktuālajā anketā ({url}), parakstiet to un nosūtiet vēlreiz.",
        "en": "Correct the fields named above in the current form ({url}), sign it and send it again.",
    },
    "signer": {
        "lv": "Anketu jāparaksta pašam klientam, kura dati tajā norādīti.",
        "en": "The form must be signed by the customer whose data it holds.",
    },
    "nothing": {
        "lv": "Jums nekas nav jādara.",
        "en": "You need not do anything.",
    },
    "newer": {
        "lv": "Ja vēlaties mainīt datus, aizpildiet jaunu anketu ({url}).",
        "en": "If you want to change your data, fill in a new form ({url}).",
    },
    "call": {
        "lv": "Lūdzu, zvaniet bankai pa oficiālo tālruni {phone}.",
        "en": "Please call the bank at its official number {phone}.",
    },
    "later": {
        "lv": "Mēs to pārbaudīsim; ja nepieciešams, nosūtiet anketu vēlreiz vēlāk.",
        "en": "We will look into it; if needed, send the form again later.",
    },
}

_SIGN = "sign"
#: code -> (lv, en, step)
TEXTS: dict[str, tuple[str, str, str]] = {
    "not_pdf": ("Pielikums nav PDF fails.", "The attachment is not a PDF file.", "form"),
    "malformed_pdf": ("PDF fails ir bojāts.", "The PDF file is damaged.", "form"),
    "encrypted_pdf": ("PDF fails ir šifrēts.", "The PDF file is encrypted.", "form"),
    "too_large": ("Fails ir pārāk liels.", "The file is too large.", "form"),
    "container_invalid": ("Parakstītais konteiners (.edoc) ir bojāts.", "The signed container (.edoc) is damaged.",
                          "sign"),
    "unsigned": ("Anketa nav parakstīta.", "The form is not signed.", _SIGN),
    "signature_invalid": ("Parakstu nevar pārbaudīt.", "The signature cannot be verified.", _SIGN),
    "modified_after_signing": ("Anketa mainīta pēc parakstīšanas.", "The form was changed after it was signed.",
                               "form"),
    "untrusted_signer": ("Paraksts nav no uzticama sertifikāta.", "The signature does not come from a trusted "
                         "certificate.", _SIGN),
    "certificate_expired": ("Paraksta sertifikāts parakstīšanas brīdī nebija derīgs.",
                            "The signing certificate was not valid when the form was signed.", _SIGN),
    "certificate_revoked": ("Paraksta sertifikāts ir atsaukts.", "The signing certificate is revoked.", _SIGN),
    "weak_algorithm": ("Paraksts izmanto novecojušu algoritmu.", "The signature uses an outdated algorithm.", _SIGN),
    "not_for_signing": ("Sertifikāts nav paredzēts parakstīšanai.", "The certificate is not meant for signing.",
                        _SIGN),
    "signing_time_invalid": ("Parakstīšanas laiks nav ticams.", "The signing time cannot be right.", _SIGN),
    "not_qualified": ("Paraksts nav kvalificēts e-paraksts.", "The signature is not a qualified e-signature.", _SIGN),
    "unknown_form": ("Tā nav bankas aktuālā klienta datu anketa.", "This is not the bank's current customer data "
                     "form.", "form"),
    "form_altered": ("Anketas struktūra ir mainīta.", "The structure of the form was changed.", "form"),
    "appearance_mismatch": ("Kāds lauks rāda citu vērtību, nekā tajā saglabāts.",
                            "A field shows a different value from the one stored in it.", "form"),
    "signer_mismatch": ("Parakstītājs nav anketā norādītais klients.", "The signer is not the customer named on the "
                        "form.", "signer"),
    "field_missing": ("Nav aizpildīts obligāts lauks", "A required field is empty", "fields"),
    "field_invalid": ("Lauka vērtība nav derīga", "A field value is not valid", "fields"),
    "no_pdf_attachment": ("E-pastā nebija PDF anketas.", "The e-mail carried no PDF form.", "form"),
    "unknown_customer": ("Anketu nevarējām sasaistīt ar klienta datiem.", "We could not match the form to a "
                         "customer.", "call"),
    "duplicate": ("Šī anketa jau ir apstrādāta.", "This form was already processed.", "nothing"),
    "stale": ("Jau apstrādāta vēlāk parakstīta anketa.", "A form signed later was already processed.", "newer"),
    "internal_error": ("Anketu neizdevās apstrādāt.", "The form could not be processed.", "later"),
}


def explain(reasons: list[Mapping], lang: str, *, url: str, phone: str, labels: Mapping[str, str]) -> dict:
    """``{"lines": [plain-language reasons], "steps": [next steps, no repeats]}``."""
    idx = 0 if lang == "lv" else 1
    lines: list[str] = []
    steps: list[str] = []
    for reason in reasons or [{"code": "internal_error"}]:
        code = str(reason.get("code"))
        lv, en, step = TEXTS.get(code, TEXTS["internal_error"])
        line = (lv, en)[idx]
        field = reason.get("field")
        if field and code in ("field_missing", "field_invalid"):
            line = f"{line}: {labels.get(field, field)}."
        if line not in lines:
            lines.append(line)
        text = STEPS[step][lang].format(url=url, phone=phone)
        if text not in steps:
            steps.append(text)
    return {"lines": lines, "steps": steps}
