"""Phone numbers: normalisation to E.164 (pure, no I/O).

``normalize_phone`` is what the CRM uses as the key of ``customer_phones`` and what the screen pop
uses to look a caller up, so both sides must agree: always normalise through this function.

Rules, in order:

- separators are ignored: spaces, ``-``, ``.``, ``/``, parentheses; a ``tel:`` prefix is dropped;
- ``+CC...`` and ``00CC...`` are international: ``+`` and the digits;
- short internal numbers (1 to ``MAX_EXTENSION_DIGITS`` digits, no prefix) are extensions and come
  back as their digits unchanged (``"1001"`` → ``"1001"``);
- national numbers get the default country code; a trunk ``0`` is dropped (``020 7946 0958`` with
  country code 44 → ``+442079460958``). For the North American plan (country code ``1``) a national
  number is 10 digits, optionally preceded by the trunk ``1``; elsewhere 11 or more digits that
  start with the country code are taken as already international (``442079460958`` → ``+44...``);
- anything else (letters, a lone ``+``, too few or too many digits, Asterisk's ``anonymous`` or
  ``<unknown>``) is ``None``.

E.164 allows at most 15 digits; we ask for at least ``MIN_E164_DIGITS`` so that a truncated number
does not match a customer by accident.
"""

from __future__ import annotations

import re

MAX_EXTENSION_DIGITS = 6
MIN_E164_DIGITS = 8
MAX_E164_DIGITS = 15

_SEPARATORS = re.compile(r"[\s\-./()]+")
_ALLOWED = re.compile(r"\+?[0-9]+")


def normalize_phone(raw: str, default_country_code: str = "1") -> str | None:
    """Return ``raw`` as E.164 (``+15551234567``), an extension's digits, or ``None`` for garbage."""
    if not default_country_code.isdigit() or not 1 <= len(default_country_code) <= 3:
        raise ValueError(f"default_country_code must be 1-3 digits, got {default_country_code!r}")
    text = raw.strip()
    if text[:4].lower() == "tel:":
        text = text[4:]
    compact = _SEPARATORS.sub("", text)
    if not compact or not _ALLOWED.fullmatch(compact):
        return None
    if compact.startswith("+"):
        return _e164(compact[1:])
    if compact.startswith("00"):
        return _e164(compact[2:])
    if len(compact) <= MAX_EXTENSION_DIGITS:
        return compact
    return _national(compact, default_country_code)


def search_digits(query: str, default_country_code: str = "1") -> str:
    """The digits to look for in stored numbers when someone searches for ``query``, whatever format
    either side is in: ``"+1 (202) 550-0156"``, ``"202-550-0156"`` and ``"12025550156"`` all give
    ``"2025550156"`` with country code 1; ``"+86 138 0013 8000"`` and ``"13800138000"`` give
    ``"13800138000"`` with 86. A number of the default country is searched by its national significant
    number (a substring of its E.164, 00-international and national forms); another country's by its
    E.164 digits; a partial number or an extension by its digits; anything else is returned stripped."""
    text = query.strip()
    normalized = normalize_phone(text, default_country_code)
    if normalized is None:
        compact = _SEPARATORS.sub("", text)
        return compact.lstrip("+") if _ALLOWED.fullmatch(compact) else text
    if normalized.startswith("+" + default_country_code):
        return normalized[1 + len(default_country_code) :]
    return normalized.lstrip("+")


def _e164(digits: str) -> str | None:
    if not MIN_E164_DIGITS <= len(digits) <= MAX_E164_DIGITS or digits[0] == "0":
        return None
    if digits[0] == "1" and len(digits) != 11:  # North American numbers are always +1 and 10 digits
        return None
    return "+" + digits


def _national(digits: str, cc: str) -> str | None:
    if cc == "1":
        if len(digits) == 11 and digits[0] == "1":
            digits = digits[1:]
        if len(digits) != 10 or digits[0] in "01":
            return None
        return "+1" + digits
    if digits[0] == "0":
        digits = digits[1:]
        if not digits or digits[0] == "0":
            return None
    elif digits.startswith(cc) and len(digits) >= 11:  # already carries the country code, no prefix
        return _e164(digits)
    return _e164(cc + digits)
