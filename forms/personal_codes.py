"""Check digits and birth dates of Latvian, Lithuanian and Estonian personal codes.

Messages never contain the code itself: they end up in logs and reject reasons.
"""

from __future__ import annotations

from datetime import date

from forms.identity import code_digits

#: Old Latvian codes DDMMYY-CNNNN: C is the century (0: 1800s, 1: 1900s, 2: 2000s).
_LV_CENTURY = {"0": 1800, "1": 1900, "2": 2000}
#: LV old-format weights (2**10 .. 2**1 mod 11); check = (1 - sum) mod 11.
_LV_WEIGHTS = (1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: LT/EE first digit -> century (odd: male, even: female).
_BALTIC_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000, "7": 2100, "8": 2100}


class InvalidCode(ValueError):
    """A personal code that fails its country's format or check digit."""


def lv_check_digit(digits: str) -> int:
    """Check digit of an old-format LV code (10 digits in), 10 meaning no valid code exists."""
    return (1 - sum(int(d) * w for d, w in zip(digits[:10], _LV_WEIGHTS))) % 11


def baltic_check_digit(digits: str) -> int:
    """The Estonian isikukood / Lithuanian asmens kodas check digit (two passes of weights)."""
    for weights in ((1, 2, 3, 4, 5, 6, 7, 8, 9, 1), (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)):
        check = sum(int(d) * w for d, w in zip(digits[:10], weights)) % 11
        if check != 10:
            return check
    return 0


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidCode("the personal code does not contain a real birth date") from None


def birth_date(country: str, code: str) -> date | None:
    """Birth date encoded in a valid code; None for new-format LV codes, which carry none.

    Raises InvalidCode when the code is malformed or its check digit is wrong.
    """
    country = country.upper()
    try:
        digits = code_digits(country, code)
    except ValueError:
        raise InvalidCode(f"a personal code of {country} must have 11 digits") from None
    if country == "LV":
        if digits.startswith("32"):
            return None
        if digits[6] not in _LV_CENTURY:
            raise InvalidCode("the 7th digit of an old-format LV personal code must be 0, 1 or 2")
        born = _date(_LV_CENTURY[digits[6]] + int(digits[4:6]), int(digits[2:4]), int(digits[:2]))
        if lv_check_digit(digits) != int(digits[10]):
            raise InvalidCode("the check digit of the LV personal code is wrong")
        return born
    if digits[0] not in _BALTIC_CENTURY:
        raise InvalidCode(f"the first digit of a {country} personal code must be 1 to 8")
    born = _date(_BALTIC_CENTURY[digits[0]] + int(digits[1:3]), int(digits[3:5]), int(digits[5:7]))
    if baltic_check_digit(digits) != int(digits[10]):
        raise InvalidCode(f"the check digit of the {country} personal code is wrong")
    return born
