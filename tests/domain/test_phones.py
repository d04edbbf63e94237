from __future__ import annotations

import pytest

from callcenter.domain.phones import normalize_phone


@pytest.mark.parametrize(
    ("raw", "cc", "expected"),
    [
        # international with +
        ("+1 (555) 123-4567", "1", "+15551234567"),
        ("+44 20 7946 0958", "1", "+442079460958"),
        ("+33.1.23.45.67.89", "44", "+33123456789"),
        ("tel:+49-30-1234567", "1", "+49301234567"),
        # international with 00
        ("0044 20 7946 0958", "1", "+442079460958"),
        ("00 1 555 123 4567", "44", "+15551234567"),
        # North American national numbers
        ("555-123-4567", "1", "+15551234567"),
        ("(555) 123 4567", "1", "+15551234567"),
        ("1 555 123 4567", "1", "+15551234567"),
        ("555.123.4567", "1", "+15551234567"),
        # national numbers with a trunk 0
        ("020 7946 0958", "44", "+442079460958"),
        ("030 1234567", "49", "+49301234567"),
        ("01 23 45 67 89", "33", "+33123456789"),
        # national without trunk 0 (already has the country code)
        ("442079460958", "44", "+442079460958"),
        # short extensions come back as digits
        ("1001", "1", "1001"),
        (" 2001 ", "44", "2001"),
        ("100-1", "1", "1001"),
        ("7", "1", "7"),
        ("123456", "1", "123456"),
    ],
)
def test_normalizes(raw: str, cc: str, expected: str) -> None:
    assert normalize_phone(raw, cc) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "+",
        "abc",
        "anonymous",
        "<unknown>",
        "555-CALL-NOW",
        "12ab34",
        "+1 555 123",  # too short for +1
        "+1234",  # too short
        "+1234567890123456",  # 16 digits
        "00",
        "0000000000",
        "555-1234",  # a 7-digit local number has no area code
        "123-456-7890",  # NANP area codes never start with 0 or 1
        "1*2",
        "++15551234567",
        "+0 123 456 789",
    ],
)
def test_garbage_is_none(raw: str) -> None:
    assert normalize_phone(raw) is None


def test_default_country_code_is_nanp() -> None:
    assert normalize_phone("5551234567") == "+15551234567"


def test_invalid_country_code_rejected() -> None:
    with pytest.raises(ValueError):
        normalize_phone("5551234567", "+1")
    with pytest.raises(ValueError):
        normalize_phone("5551234567", "1234")


def test_idempotent() -> None:
    for raw in ("+442079460958", "+15551234567", "1001"):
        assert normalize_phone(raw, "44") == raw
