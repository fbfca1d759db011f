"""National identities of customers: ``LV-32000012345`` (country, hyphen, digits).

The form stores an LV personal code with a hyphen after the sixth digit and
LT/EE codes as 11 bare digits; a national identity is always the bare digits,
so that the form and the signer's certificate compare as plain strings.
"""

from __future__ import annotations

import re

#: Countries whose personal codes the form accepts, and their code length.
CODE_DIGITS: dict[str, int] = {"LV": 11, "LT": 11, "EE": 11}

_NATIONAL_ID = re.compile(r"([A-Za-z]{2})-?([0-9][0-9-]*)")


def code_digits(country: str, code: str) -> str:
    """The code's digits, accepting at most the LV hyphen after the sixth digit."""
    country = country.upper()
    digits = code.replace("-", "", 1) if code[6:7] == "-" else code
    if country not in CODE_DIGITS or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a personal code of {country}: {mask_code(code)}")
    if len(digits) != CODE_DIGITS[country]:
        raise ValueError(f"a personal code of {country} has {CODE_DIGITS[country]} digits: {mask_code(code)}")
    return digits


def format_personal_code(country: str, code: str) -> str:
    """The stored form: ``DDMMYY-NNNNN`` / ``32NNNN-NNNNN`` for LV, 11 digits for LT and EE."""
    digits = code_digits(country, code)
    return f"{digits[:6]}-{digits[6:]}" if country.upper() == "LV" else digits


def national_id(country: str, code: str) -> str:
    """``national_id("LV", "320000-12345") == "LV-32000012345"``."""
    return f"{country.upper()}-{code_digits(country, code)}"


def parse_national_id(text: str) -> str:
    """Canonical national identity from ``LV-320000-12345``, ``LV32000012345``, ``lv-32000012345``."""
    match = _NATIONAL_ID.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a national identity: {mask_code(text)}")
    return national_id(match.group(1), match.group(2))


def mask_code(code: str) -> str:
    """A personal code safe for logs and exception messages: ``32****-****5``."""
    code = str(code)
    if len(code) <= 4:
        return "*" * len(code)
    return code[:2] + "".join("-" if c == "-" else "*" for c in code[2:-1]) + code[-1]
