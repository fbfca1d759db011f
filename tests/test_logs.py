"""intake.logs: personal codes never reach a log line unmasked."""

from __future__ import annotations

import logging

import pytest

from intake.logs import MaskingFilter, mask_codes

CODES = [
    # (text, its masked form)
    ("LV-32000012345", "LV-32****-***45"),  # LV new format, national identity
    ("LV-320000-12345", "LV-32****-***45"),  # ... with the form's hyphen
    ("LV32000012345", "LV32****-***45"),
    ("320000-12345", "32****-***45"),  # the form's stored value
    ("010180-12345", "01****-***45"),  # LV old format (DDMMYY-NNNNN)
    ("01018012345", "01****-***45"),
    ("PNOLV-32000012345", "32****-***45"),  # ETSI serial number of a certificate
    ("PNOLV-320000-12345", "32****-***45"),
    ("LT-38001010000", "LT-38****-***00"),
    ("38001010000", "38****-***00"),
    ("PNOLT-38001010000", "38****-***00"),
    ("EE-49001010000", "EE-49****-***00"),
    ("PNOEE-49001010000", "49****-***00"),
]


@pytest.mark.parametrize("text, masked", CODES, ids=[c[0] for c in CODES])
def test_codes_are_masked(text, masked):
    assert mask_codes(text) == masked
    assert mask_codes(f"signer {text}, form {text}.") == f"signer {masked}, form {masked}."


def test_only_two_leading_and_two_trailing_digits_remain():
    masked = mask_codes("submission 7: LV-32123456789 vs PNOEE-49001019876")
    for fragment in ("123456", "1234567", "3456789", "001019876", "PNOEE"):
        assert fragment not in masked
    assert masked == "submission 7: LV-32****-***89 vs 49****-***76"


@pytest.mark.parametrize("text", ["submission 12345", "sha 0123456789ab", "123456789012", "2026-11-23 13:19:24",
                                  "job submission-1234567"])
def test_other_numbers_are_left_alone(text):
    assert mask_codes(text) == text


def test_masking_filter_masks_the_formatted_message(caplog):
    log = logging.getLogger("tests.logs")
    log.addFilter(MaskingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="tests.logs"):
            log.info("applied %s for %s", "LV-320000-12345", "PNOLT-38001010000")
    finally:
        log.filters.clear()
    assert caplog.messages == ["applied LV-32****-***45 for 38****-***00"]
    assert "320000" not in caplog.text and "38001010000" not in caplog.text


def test_a_logged_traceback_is_masked_too(capsys):
    import logging

    from intake.logs import configure_logging

    configure_logging("INFO")
    try:
        try:
            raise ValueError("no profile for LV-32000012345")
        except ValueError:
            logging.getLogger("docintake.test").exception("could not apply")
        err = capsys.readouterr().err
    finally:
        logging.getLogger().handlers[:] = []
    assert "ValueError: no profile for LV-32****-***45" in err
    assert "32000012345" not in err
