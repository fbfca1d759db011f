"""Check extracted values against the schema and turn them into their stored forms.

``check_form`` first decides whether the PDF is this form at all (a foreign
form gets ``unknown_form`` and nothing else), then walks FIELDS in order:
requirement, length, choice or country membership, then the field's named rule
from RULES. A rule takes the normalised text and all values (some rules look
at other fields, e.g. the postcode at ``address_country``) and returns the
stored value or raises RuleViolation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Callable, Mapping, NamedTuple

import email_validator
import phonenumbers
import pycountry

from forms.extract import METADATA_KEYS, Extraction
from forms.identity import format_personal_code
from forms.personal_codes import InvalidCode, birth_date
from forms.schema import FIELDS, FORM_ID, FORM_VERSION, IDENTITY_FIELDS, Field, Value


class Problem(NamedTuple):
    code: str  # "unknown_form", "field_missing" or "field_invalid"
    field: str | None
    message: str


@dataclass
class CheckResult:
    #: every schema field -> stored value (the normalised input where it is invalid).
    values: dict[str, Value]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


class RuleViolation(ValueError):
    """A value breaks a rule; the message says why without repeating sensitive values."""


Rule = Callable[[str, Mapping[str, Value]], str]
RULES: dict[str, Rule] = {}
ISO_COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(func: Rule) -> Rule:
        RULES[name] = func
        return func

    return register


def check_form(extraction: Extraction) -> CheckResult:
    values = dict(extraction.values)
    identity = _identity_problem(extraction)
    if identity:
        return CheckResult(values, [Problem("unknown_form", None, identity)])
    problems = []
    for f in FIELDS:
        try:
            values[f.name] = _check_field(f, values)
        except RuleViolation as exc:
            problems.append(Problem("field_invalid", f.name, f"{f.name}: {exc}"))
        except _Missing as exc:
            problems.append(Problem("field_missing", f.name, f"{f.name}: {exc}"))
    return CheckResult(values, problems)


def _identity_problem(extraction: Extraction) -> str | None:
    fields = {"form_id": extraction.form_id, "form_version": extraction.form_version}
    for name, expected in IDENTITY_FIELDS.items():
        if fields[name] is None:
            return f"the document has no {name} field; it is not the {FORM_ID} {FORM_VERSION} form"
        if fields[name] != expected:
            return f"{name} is {fields[name]!r}, expected {expected!r}"
        for source in ("info", "xmp"):
            meta = extraction.metadata_ids.get(f"{source}:{METADATA_KEYS[name]}")
            if meta is not None and meta != expected:
                return f"the {source} metadata {METADATA_KEYS[name]} {meta!r} contradicts the {name} field"
    return None


class _Missing(Exception):
    pass


def _check_field(f: Field, values: Mapping[str, Value]) -> Value:
    value = values.get(f.name)
    if f.kind == "checkbox":
        if f.must_be_checked and value is not True:
            raise _Missing("must be checked")
        return value is True
    if value in (None, ""):
        if f.is_required(values):
            condition = f" (because {f.required.describe})" if not isinstance(f.required, bool) else ""
            raise _Missing(f"is required{condition}")
        return None
    value = str(value)
    if len(value) > f.max_len:
        raise RuleViolation(f"is longer than {f.max_len} characters")
    if f.kind == "choice" and value not in f.choice_values:
        raise RuleViolation(f"must be one of {', '.join(f.choice_values)}")
    if f.kind == "country":
        value = value.upper()
        allowed = f.countries or ISO_COUNTRIES
        if value not in allowed:
            raise RuleViolation(f"{value!r} is not " + ("one of " + ", ".join(allowed) if f.countries
                                                        else "an ISO 3166-1 alpha-2 country code"))
    if f.kind == "date":
        value = _parse_date(value).isoformat()
    return RULES[f.rule](value, values) if f.rule else value


def _parse_date(text: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise RuleViolation("must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RuleViolation(f"{text} is not a real date") from None


def _country(values: Mapping[str, Value], name: str) -> str | None:
    """The other field's country code when it is a valid one, else None (it is blamed itself)."""
    country = str(values.get(name) or "").upper()
    return country if country in ISO_COUNTRIES else None


@rule("personal_code")
def personal_code(text: str, values: Mapping[str, Value]) -> str:
    country = _country(values, "id_country")
    if country not in ("LV", "LT", "EE"):
        return text  # id_country is blamed; no code can be judged without it
    try:
        birth_date(country, text)
    except InvalidCode as exc:
        raise RuleViolation(str(exc)) from None
    return format_personal_code(country, text)


@rule("date_of_birth")
def date_of_birth(text: str, values: Mapping[str, Value]) -> str:
    born = date.fromisoformat(text)
    if born >= date.today():
        raise RuleViolation("must be a date in the past")
    country, code = _country(values, "id_country"), values.get("personal_code")
    if country in ("LV", "LT", "EE") and isinstance(code, str):
        try:
            encoded = birth_date(country, code)
        except (InvalidCode, ValueError):
            return text  # personal_code is blamed itself
        if encoded is not None and encoded != born:
            raise RuleViolation("does not agree with the birth date in the personal code")
    return text


_PHONE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


@rule("phone")
def phone(text: str, values: Mapping[str, Value]) -> str:
    region = _country(values, "address_country")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if region is None and exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return text  # a local number needs address_country, which is blamed itself
        raise RuleViolation("is not a phone number (write it with the country code, e.g. +371 ...)") from None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _PHONE_TYPES:
        raise RuleViolation("is not a valid mobile or fixed-line phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: Scripts whose letters look alike (a Cyrillic "а" is a Latin "a" on screen).
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})


def _mixed_scripts(part: str) -> set[str]:
    """The look-alike scripts whose letters ``part`` mixes (empty: one script, or none of them)."""
    scripts = {unicodedata.name(ch, "?").split()[0] for ch in part if unicodedata.category(ch).startswith("L")}
    mixed = scripts & _CONFUSABLE_SCRIPTS
    return mixed if len(mixed) > 1 else set()


@rule("email")
def email(text: str, values: Mapping[str, Value]) -> str:
    """A valid address, and no look-alike of another one: a prepared form may carry the customer's
    address with one Latin letter swapped for its Cyrillic twin, which the customer sees as their
    own while the mail goes to a domain the fraudster registered."""
    try:
        address = email_validator.validate_email(text, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as exc:
        raise RuleViolation(f"is not a valid e-mail address ({exc})") from None
    if mixed := _mixed_scripts(address):  # a whole Cyrillic label under .lv ("рау.lv") too
        raise RuleViolation(f"mixes {' and '.join(sorted(s.title() for s in mixed))} letters "
                            f"(a look-alike of another address)")
    return address


#: address_country -> (pattern, description); other countries use _OTHER_POSTCODE.
_POSTCODES = {
    "LV": (r"LV-\d{4}", "LV-NNNN"),
    "LT": (r"(LT-)?\d{5}", "5 digits, optionally preceded by LT-"),
    "EE": (r"\d{5}", "5 digits"),
}
_OTHER_POSTCODE = (r"[^\W_](?:[^\W_]|[ -])*", "1 to 20 letters, digits, spaces or hyphens")


@rule("postcode")
def postcode(text: str, values: Mapping[str, Value]) -> str:
    country = _country(values, "address_country")
    pattern, description = _POSTCODES.get(country or "", _OTHER_POSTCODE)
    stored = text.upper()
    if not re.fullmatch(pattern, stored) or len(stored) > 20:
        raise RuleViolation(f"must be {description} for {country or 'this country'}")
    return stored


@rule("person_name")
def person_name(text: str, values: Mapping[str, Value]) -> str:
    """Letters of any script (with combining marks), spaces, hyphens and apostrophes."""
    allowed = all(unicodedata.category(c)[0] in "LM" or c in " -'" for c in text)
    if not allowed or not any(unicodedata.category(c)[0] == "L" for c in text):
        raise RuleViolation("may contain only letters, spaces, hyphens and apostrophes")
    return text
