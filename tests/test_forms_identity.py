"""National identities and personal-code check digits."""

import pytest

from forms.identity import (
    format_personal_code,
    mask_code,
    national_id,
    parse_national_id,
)
from forms.personal_codes import (
    InvalidCode,
    baltic_check_digit,
    birth_date,
    lv_check_digit,
)


@pytest.mark.parametrize("text", ["LV-320000-12345", "LV32000012345", "lv-32000012345", " LV-32000012345 "])
def test_parse_national_id_accepts_usual_spellings(text):
    assert parse_national_id(text) == "LV-32000012345"


@pytest.mark.parametrize("text", ["", "LV-", "LV-3200001234", "LV-32000O12345", "XX-32000012345", "PNOLV-32000012345"])
def test_parse_national_id_rejects_others(text):
    with pytest.raises(ValueError):
        parse_national_id(text)


def test_national_id_is_country_hyphen_digits():
    assert national_id("LV", "161175-19997") == "LV-16117519997"
    assert national_id("ee", "37605030299") == "EE-37605030299"


def test_format_personal_code_per_country():
    assert format_personal_code("LV", "16117519997") == "161175-19997"
    assert format_personal_code("LV", "161175-19997") == "161175-19997"
    assert format_personal_code("LT", "33309240064") == "33309240064"
    assert format_personal_code("EE", "376050-30299") == "37605030299"  # a stray hyphen is tolerated
    for country, code in (("EE", "3760503029"), ("LT", "3330924006x"), ("FI", "33309240064"), ("LV", "16-1175-1999")):
        with pytest.raises(ValueError):
            format_personal_code(country, code)


def test_errors_never_show_the_whole_code():
    with pytest.raises(ValueError) as info:
        parse_national_id("LV-161175-1999")
    assert "161175" not in str(info.value)
    assert mask_code("161175-19997") == "16****-****7"


# Published examples: LV 161175-19997, EE 37605030299, LT 33309240064.
@pytest.mark.parametrize("country, code, born", [
    ("LV", "161175-19997", "1975-11-16"),
    ("LV", "16117519997", "1975-11-16"),
    ("EE", "37605030299", "1976-05-03"),
    ("LT", "33309240064", "1933-09-24"),
])
def test_valid_codes_and_their_birth_dates(country, code, born):
    assert birth_date(country, code).isoformat() == born


def test_new_latvian_codes_have_no_check_digit_or_date():
    assert birth_date("LV", "320000-12345") is None
    assert birth_date("LV", "32999999999") is None


@pytest.mark.parametrize("country, code", [
    ("LV", "161175-19998"),   # check digit
    ("LV", "311175-19997"),   # no 31st of November... and the check digit
    ("LV", "161175-39997"),   # century digit 3
    ("LV", "1611751999"),     # too short
    ("EE", "37605030298"),
    ("EE", "97605030299"),    # century digit
    ("LT", "33309240065"),
    ("LT", "33302300068"),    # 30 February
])
def test_invalid_codes(country, code):
    with pytest.raises(InvalidCode) as info:
        birth_date(country, code)
    assert code.replace("-", "") not in str(info.value)


def test_check_digit_algorithms():
    # LV: weights 1,6,3,7,9,10,5,8,4,2; check = (1101 - sum) mod 11 (the same as (1 - sum) mod 11).
    digits = "1611751999"
    weighted = sum(int(d) * w for d, w in zip(digits, (1, 6, 3, 7, 9, 10, 5, 8, 4, 2)))
    assert lv_check_digit(digits) == (1101 - weighted) % 11 == 7
    # EE/LT: the second pass of weights applies when the first gives 10.
    assert baltic_check_digit("3760503029") == 9
    first_pass_10 = next(f"4{n:09d}" for n in range(10**6) if sum(
        int(d) * w for d, w in zip(f"4{n:09d}", (1, 2, 3, 4, 5, 6, 7, 8, 9, 1))) % 11 == 10)
    second = sum(int(d) * w for d, w in zip(first_pass_10, (3, 4, 5, 6, 7, 8, 9, 1, 2, 3))) % 11
    assert baltic_check_digit(first_pass_10) == (0 if second == 10 else second)
