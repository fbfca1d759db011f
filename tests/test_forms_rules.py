"""forms.rules.check_form on extractions built in memory (the PDF round trip is in test_forms_blank)."""

from datetime import date, timedelta

import pytest

from forms.extract import Extraction
from forms.rules import RULES, check_form
from forms.samples import sample_values
from forms.schema import FIELD_NAMES, FIELDS, FORM_ID, FORM_VERSION

IDS = {"info:FormId": FORM_ID, "info:FormVersion": FORM_VERSION, "xmp:FormId": FORM_ID, "xmp:FormVersion": FORM_VERSION}


def extraction(country="LV", form_id=FORM_ID, form_version=FORM_VERSION, metadata=None, **overrides):
    values = sample_values(country, **overrides)
    return Extraction(form_id, form_version, dict(IDS if metadata is None else metadata),
                      {name: values.get(name) for name in FIELD_NAMES})


def problems(**kwargs):
    return [(p.code, p.field) for p in check_form(extraction(**kwargs)).problems]


def only_problem(**kwargs):
    result = check_form(extraction(**kwargs))
    assert len(result.problems) == 1, result.problems
    return result.problems[0]


@pytest.mark.parametrize("country", ["LV", "LT", "EE"])
def test_valid_forms_pass_and_are_stored_normalised(country):
    result = check_form(extraction(country))
    assert result.problems == []
    assert result.values["phone"].startswith("+37")
    assert set(result.values) == set(FIELD_NAMES)


def test_stored_forms():
    values = check_form(extraction("LV", personal_code="16117519997", phone="+371 29 123 456",
                                   email="Janis@EXAMPLE.com", address_postcode="lv-1010")).values
    assert values["personal_code"] == "161175-19997"
    assert values["phone"] == "+37129123456"
    assert values["email"] == "Janis@example.com"
    assert values["address_postcode"] == "LV-1010"
    lt = check_form(extraction("LT", personal_code="333092-40064")).values
    assert lt["personal_code"] == "33309240064"


def test_every_named_rule_exists():
    assert {f.rule for f in FIELDS if f.rule} <= set(RULES)


# --- form identity -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"form_id": None},
    {"form_id": "loan-application"},
    {"form_version": None},
    {"form_version": "2025.1"},
    {"metadata": {**IDS, "info:FormVersion": "2025.1"}},
    {"metadata": {**IDS, "xmp:FormId": "other-form"}},
])
def test_unknown_form_stops_before_fields(kwargs):
    result = check_form(extraction(personal_code="bogus", **kwargs))
    assert [(p.code, p.field) for p in result.problems] == [("unknown_form", None)]


def test_missing_metadata_does_not_contradict_the_fields():
    assert problems(metadata={}) == []


# --- requirements -------------------------------------------------------------------------------------

def test_required_field_missing():
    assert only_problem(phone=None)[:2] == ("field_missing", "phone")
    assert only_problem(occupation="   ".strip() or None)[:2] == ("field_missing", "occupation")


def test_unchecked_confirmation():
    assert only_problem(data_accuracy_confirmation=False)[:2] == ("field_missing", "data_accuracy_confirmation")


@pytest.mark.parametrize("overrides, dependent", [
    ({"source_of_funds": "other"}, "source_of_funds_other"),
    ({"is_pep": True}, "pep_position"),
    ({"pep_relative": True}, "pep_position"),
    ({"tax_residency_country": "DE"}, "tax_id"),
])
def test_conditional_requirements_blame_the_dependent_field(overrides, dependent):
    problem = only_problem(**overrides)
    assert problem[:2] == ("field_missing", dependent)
    filled = {"source_of_funds_other": "Inheritance", "pep_position": "Member of parliament", "tax_id": "DE123"}
    assert problems(**overrides, **{dependent: filled[dependent]}) == []


def test_problems_come_in_schema_order():
    found = problems(email="nope", personal_code="161175-19998", phone=None)
    assert found == [("field_invalid", "personal_code"), ("field_missing", "phone"), ("field_invalid", "email")]


# --- lengths, choices, countries ------------------------------------------------------------------------

def test_max_len_counts_code_points():
    assert problems(first_name="Ā" * 100) == []
    assert only_problem(first_name="Ā" * 101)[:2] == ("field_invalid", "first_name")


def test_choices_and_countries():
    assert only_problem(correspondence_channel="fax")[:2] == ("field_invalid", "correspondence_channel")
    assert only_problem(id_country="FI", tax_residency_country="FI")[:2] == ("field_invalid", "id_country")
    assert only_problem(address_country="XX", address_postcode="12345")[:2] == ("field_invalid", "address_country")
    assert problems(address_country="DE", address_postcode="10115", phone="+49 30 901820") == []


# --- named rules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("country, code, born", [
    ("LV", "320000-12345", "1990-01-01"),  # new format: any birth date
    ("LV", "32999912345", "2001-12-31"),
    ("LV", "161175-19997", "1975-11-16"),
    ("LT", "33309240064", "1933-09-24"),
    ("EE", "37605030299", "1976-05-03"),
])
def test_valid_personal_codes(country, code, born):
    assert problems(country=country, personal_code=code, date_of_birth=born) == []


@pytest.mark.parametrize("country, code", [
    ("LV", "161175-19998"), ("LV", "331175-19997"), ("LV", "12345"), ("LV", "31000012345"),
    ("LT", "33309240065"), ("EE", "37605030298"), ("EE", "376050302990"),
])
def test_invalid_personal_codes(country, code):
    problem = only_problem(country=country, personal_code=code)
    assert problem[:2] == ("field_invalid", "personal_code")
    assert code not in problem.message and code.replace("-", "") not in problem.message


@pytest.mark.parametrize("country, born", [("LV", "1975-11-17"), ("LV", "1875-11-16"), ("LT", "1933-09-25"),
                                           ("EE", "2076-05-03")])
def test_birth_date_must_agree_with_the_code(country, born):
    assert only_problem(country=country, date_of_birth=born)[:2] == ("field_invalid", "date_of_birth")


@pytest.mark.parametrize("born", ["16.11.1975", "1975-02-30", "1975-1-16", "19751116", str(date.today()),
                                  str(date.today() + timedelta(days=1))])
def test_date_of_birth_format_real_past(born):
    assert only_problem(personal_code="320000-12345", date_of_birth=born)[:2] == ("field_invalid", "date_of_birth")


@pytest.mark.parametrize("country, local, e164", [
    ("LV", "29123456", "+37129123456"),
    ("LV", "67 123 456", "+37167123456"),
    ("LT", "8 612 34567", "+37061234567"),
    ("EE", "5123 4567", "+37251234567"),
    ("LV", "+372 5123 4567", "+37251234567"),  # another country's number, written internationally
])
def test_phone_local_format_to_e164(country, local, e164):
    result = check_form(extraction(country, phone=local))
    assert result.problems == [] and result.values["phone"] == e164


@pytest.mark.parametrize("phone", ["12345", "not a phone", "+371 1234", "+371 90 000 000"])
def test_invalid_phones(phone):
    assert only_problem(phone=phone)[:2] == ("field_invalid", "phone")


@pytest.mark.parametrize("email", ["janis", "janis@", "jānis@@example.com", "a b@example.com"])
def test_invalid_email(email):
    assert only_problem(email=email)[:2] == ("field_invalid", "email")


@pytest.mark.parametrize("email", ["anna@ex\u0430mple.lv", "\u0430nna@example.lv", "anna@bank.\u0435xample.lv",
                                   "p\u0435teris@\u03bfk.lv", "anna@\u0440\u0430\u0443.lv"])
def test_look_alike_email_is_refused(email):
    """A Cyrillic or Greek letter among Latin ones (or a whole Cyrillic label, "рау", under .lv) shows as
    the customer's address, or a familiar one, and is another."""
    code, field, message = only_problem(email=email)[:3]
    assert (code, field) == ("field_invalid", "email") and "look-alike" in message


@pytest.mark.parametrize("email", ["jānis.bērziņš@example.lv", "анна@пример.рф", "pēteris@šķēpi.lv"])
def test_one_script_addresses_stay_valid(email):
    assert problems(email=email) == []


@pytest.mark.parametrize("country, good, bad", [
    ("LV", ["LV-1010", "lv-1010"], ["1010", "LV1010", "LV-101", "LV-10100"]),
    ("LT", ["01103", "LT-01103"], ["0110", "LT01103", "LV-01103"]),
    ("EE", ["10115"], ["EE-10115", "1011", "101150"]),
])
def test_postcodes_per_country(country, good, bad):
    for postcode in good:
        assert problems(country=country, address_postcode=postcode) == [], postcode
    for postcode in bad:
        assert only_problem(country=country, address_postcode=postcode)[:2] == ("field_invalid", "address_postcode")


def test_postcodes_elsewhere():
    for country, postcode in (("GB", "SW1A 1AA"), ("PL", "00-950"), ("US", "10001")):
        assert problems(address_country=country, address_postcode=postcode, phone="+37129123456") == []
    for postcode in ("SW1A_1AA", "12345678901234567890X", "-", "#1"):
        assert only_problem(address_country="GB", address_postcode=postcode, phone="+37129123456")[1] == "address_postcode"


@pytest.mark.parametrize("name", ["Jānis", "Anna-Marija", "O'Brien", "Ļoļa Ķēniņa", "Łukasz", "Ольга", "Zoë"])
def test_person_names(name):
    assert problems(first_name=name) == []


@pytest.mark.parametrize("name", ["J4nis", "Jānis!", "---", "Jānis_B", "R2-D2"])
def test_invalid_person_names(name):
    assert only_problem(last_name=name)[:2] == ("field_invalid", "last_name")


def test_messages_name_the_field():
    for problem in check_form(extraction(email="x", phone=None)).problems:
        assert problem.message.startswith(problem.field)
