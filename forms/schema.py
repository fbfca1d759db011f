"""The customer data form, version 2026.1, declared once (see FORM.md).

The blank generator, the extractor and the rules all read this module; adding a
field is one line in FIELDS. Nothing here knows about PDFs, signatures,
queues or databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

FORM_ID = "customer-data-update"
FORM_VERSION = "2026.1"
SIGNATURE_FIELD = "customer_signature"
#: Hidden, read-only identity fields; also written to /FormId and /FormVersion.
IDENTITY_FIELDS = {"form_id": FORM_ID, "form_version": FORM_VERSION}
#: XMP namespace of the identity copy; match the URI, never the prefix.
XMP_NAMESPACE = "https://docintake.example/ns/form/1.0/"

Kind = Literal["text", "date", "choice", "country", "checkbox"]
Value = str | bool | None


@dataclass(frozen=True)
class When:
    """A declarative condition on other field values (for conditional requirements)."""

    test: Callable[[Mapping[str, Value]], bool]
    describe: str

    def __call__(self, values: Mapping[str, Value]) -> bool:
        return self.test(values)

    @staticmethod
    def equals(name: str, value: str) -> "When":
        return When(lambda v: v.get(name) == value, f"{name} is {value}")

    @staticmethod
    def differs(name: str, other: str) -> "When":
        return When(lambda v: bool(v.get(name)) and v.get(name) != v.get(other), f"{name} differs from {other}")

    @staticmethod
    def any_checked(*names: str) -> "When":
        return When(lambda v: any(v.get(n) is True for n in names), " or ".join(names) + " checked")


@dataclass(frozen=True)
class Choice:
    value: str
    lv: str
    en: str


@dataclass(frozen=True)
class Field:
    """One AcroForm field.

    ``rule`` names a check in ``forms.rules.RULES`` applied after normalisation;
    ``countries`` restricts a country field (None: any ISO 3166-1 alpha-2 code);
    ``width`` places it on the blank (None: half for short values, full for free text).
    """

    name: str
    kind: Kind
    section: str
    lv: str
    en: str
    required: bool | When = True
    max_len: int = 200
    choices: tuple[Choice, ...] = ()
    countries: tuple[str, ...] | None = None
    rule: str | None = None
    must_be_checked: bool = False
    width: Literal["half", "full"] | None = None

    def is_required(self, values: Mapping[str, Value]) -> bool:
        return self.required(values) if isinstance(self.required, When) else self.required

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)


@dataclass(frozen=True)
class Section:
    key: str
    lv: str
    en: str


SECTIONS: tuple[Section, ...] = (
    Section("identity", "Personas identifikācija", "Identification"),
    Section("contact", "Kontaktinformācija", "Contact details"),
    Section("kyc", "Darbība un līdzekļu izcelsme", "Occupation and source of funds"),
    Section("tax", "Nodokļu rezidence", "Tax residency"),
    Section("pep", "Politiski nozīmīga persona", "Politically exposed person"),
    Section("consent", "Apliecinājumi", "Declarations"),
)

C = Choice
FIELDS: tuple[Field, ...] = (
    # name, kind, section, Latvian label, English label, ...
    Field("id_country", "country", "identity", "Personas kods izdots", "Personal code issued in",
          countries=("LV", "LT", "EE")),
    Field("personal_code", "text", "identity", "Personas kods", "Personal code", max_len=20, rule="personal_code"),
    Field("first_name", "text", "identity", "Vārds", "First name", max_len=100, rule="person_name"),
    Field("last_name", "text", "identity", "Uzvārds", "Last name", max_len=100, rule="person_name"),
    Field("date_of_birth", "date", "identity", "Dzimšanas datums (GGGG-MM-DD)", "Date of birth (YYYY-MM-DD)",
          max_len=10, rule="date_of_birth"),
    Field("phone", "text", "contact", "Tālrunis", "Phone", max_len=40, rule="phone"),
    Field("email", "text", "contact", "E-pasts", "E-mail", max_len=254, rule="email", width="half"),
    Field("address_street", "text", "contact", "Iela, māja, dzīvoklis", "Street, house, flat"),
    Field("address_city", "text", "contact", "Pilsēta, novads", "City, municipality", width="half"),
    Field("address_postcode", "text", "contact", "Pasta indekss", "Postcode", max_len=20, rule="postcode"),
    Field("address_country", "country", "contact", "Valsts", "Country"),
    Field("correspondence_channel", "choice", "contact", "Saziņas kanāls", "Correspondence channel",
          choices=(C("internet_bank", "Internetbanka", "Internet bank"), C("email", "E-pasts", "E-mail"),
                   C("post", "Pasts", "Post"))),
    Field("occupation", "text", "kyc", "Nodarbošanās", "Occupation"),
    Field("employer", "text", "kyc", "Darba devējs", "Employer", required=False),
    Field("source_of_funds", "choice", "kyc", "Līdzekļu izcelsme", "Source of funds",
          choices=(C("salary", "Darba alga", "Salary"), C("business", "Uzņēmējdarbība", "Business"),
                   C("pension", "Pensija", "Pension"), C("investments", "Ieguldījumi", "Investments"),
                   C("other", "Cits", "Other"))),
    Field("source_of_funds_other", "text", "kyc", "Cits līdzekļu avots", "Other source of funds",
          required=When.equals("source_of_funds", "other"), width="half"),
    Field("account_purpose", "choice", "kyc", "Konta izmantošanas mērķis", "Purpose of the account",
          choices=(C("everyday", "Ikdienas norēķini", "Everyday payments"), C("savings", "Uzkrājumi", "Savings"),
                   C("business", "Uzņēmējdarbība", "Business"), C("other", "Cits", "Other"))),
    Field("expected_monthly_turnover", "choice", "kyc", "Paredzamais mēneša apgrozījums (EUR)",
          "Expected monthly turnover (EUR)",
          choices=(C("lt_1000", "līdz 1 000", "under 1,000"), C("1000_5000", "1 000–5 000", "1,000–5,000"),
                   C("5000_15000", "5 000–15 000", "5,000–15,000"), C("gt_15000", "virs 15 000", "over 15,000"))),
    Field("tax_residency_country", "country", "tax", "Nodokļu rezidences valsts", "Country of tax residence"),
    Field("tax_id", "text", "tax", "Nodokļu maksātāja numurs", "Tax identification number", max_len=50,
          required=When.differs("tax_residency_country", "id_country")),
    Field("us_person", "checkbox", "tax", "Esmu ASV nodokļu maksātājs", "I am a US person", required=False),
    Field("is_pep", "checkbox", "pep", "Esmu politiski nozīmīga persona", "I am a politically exposed person",
          required=False),
    Field("pep_relative", "checkbox", "pep", "Mans ģimenes loceklis vai cieši saistīta persona ir politiski nozīmīga",
          "A family member or close associate of mine is politically exposed", required=False),
    Field("pep_position", "text", "pep", "Amats", "Position held",
          required=When.any_checked("is_pep", "pep_relative")),
    Field("marketing_consent", "checkbox", "consent", "Piekrītu personalizētiem piedāvājumiem",
          "I agree to receive personalised offers", required=False),
    Field("data_accuracy_confirmation", "checkbox", "consent", "Apliecinu, ka sniegtā informācija ir patiesa",
          "I confirm that the information given is true", must_be_checked=True),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
