"""Valid example answers for the tests, the demo and the benchmark (fictitious people)."""

from __future__ import annotations

from forms.schema import Value

#: country -> (personal code, date of birth, phone in local format, postcode, first name, last name)
_PEOPLE = {
    "LV": ("161175-19997", "1975-11-16", "29 123 456", "LV-1010", "Jānis", "Bērziņš"),
    "LT": ("33309240064", "1933-09-24", "8 612 34567", "LT-01103", "Ona", "Žemaitė"),
    "EE": ("37605030299", "1976-05-03", "5123 4567", "10115", "Mart", "Tamm"),
}
_CITIES = {"LV": ("Brīvības iela 1-2", "Rīga"), "LT": ("Gedimino pr. 1", "Vilnius"), "EE": ("Narva mnt 5", "Tallinn")}


def sample_values(country: str = "LV", **overrides: Value) -> dict[str, str | bool]:
    """A complete, valid set of field values for a resident of ``country`` (LV, LT or EE)."""
    code, born, phone, postcode, first, last = _PEOPLE[country]
    street, city = _CITIES[country]
    values: dict[str, str | bool] = {
        "id_country": country,
        "personal_code": code,
        "first_name": first,
        "last_name": last,
        "date_of_birth": born,
        "phone": phone,
        "email": f"customer.{country.lower()}@example.com",
        "address_street": street,
        "address_city": city,
        "address_postcode": postcode,
        "address_country": country,
        "correspondence_channel": "email",
        "occupation": "Engineer",
        "employer": "Example SIA",
        "source_of_funds": "salary",
        "account_purpose": "everyday",
        "expected_monthly_turnover": "1000_5000",
        "tax_residency_country": country,
        "us_person": False,
        "is_pep": False,
        "pep_relative": False,
        "marketing_consent": False,
        "data_accuracy_confirmation": True,
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}
