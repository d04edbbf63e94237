"""Contacts of a campaign from a CSV file, with the customer import's rules (``services/crm_import``):
UTF-8 (a byte-order mark is fine), a header naming the columns in any order, unknown or repeated
columns refused, every bad row reported by its line number (the header is line 1), and all or
nothing: one bad row and nothing is imported. Pure: the caller reads the file (off the event loop).

Columns: ``phone`` (required; any format ``normalize_phone`` reads, national numbers in the default
country), ``name``, ``customer_id`` (a CRM customer), ``timezone`` (IANA, e.g. ``Europe/Paris``; empty:
from the number's country), ``reason`` (shown on the agent's card), ``no_marketing`` (``yes``/``1``/
``true``: kept out of marketing campaigns). A number twice in the file is an error.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from callcenter.domain.outbound import ContactDraft, valid_zone
from callcenter.domain.phones import normalize_phone
from callcenter.domain.text import N_

#: messages of the lines below, marked for the translation catalogues (shown via localize)
_MALFORMED_CSV = N_("malformed CSV")
_HEADER_REQUIRED = N_("header required, the first line must name the columns")
_UNKNOWN_COLUMN_S = N_("unknown column(s)")
_REPEATED_COLUMN_S = N_("repeated column(s)")
_TOO_MANY_ROWS_AT_MOST = N_("too many rows, at most")
_FIELD_COUNTS = N_("fields in the row / in the header")
_REPEATED_NUMBER = N_("number repeated, first on row")

COLUMNS = ("phone", "name", "customer_id", "timezone", "reason", "no_marketing")
MAX_ROWS = 100_000
_TRUE = ("1", "yes", "true", "y")
_FALSE = ("", "0", "no", "false", "n")


@dataclass(frozen=True, slots=True)
class CsvError:
    row: int  # line of the file (header = 1); 0 = the file as a whole
    reason: str
    column: str = ""

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{where}: {self.column + ': ' if self.column else ''}{self.reason}"


def parse_contacts(data: bytes, default_country_code: str = "1") -> tuple[list[ContactDraft], list[CsvError]]:
    """The drafts of a CSV file, or every error in it (then the drafts must not be used)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [CsvError(0, N_("not UTF-8 text (save the file as UTF-8 CSV)"))]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[CsvError] = []
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [CsvError(1, f"{_MALFORMED_CSV}: {exc}")]
    if header is None:
        return [], [CsvError(0, N_("empty file"))]
    names = [h.strip().lower() for h in header]
    if "phone" not in names:
        errors.append(CsvError(1, f"{_HEADER_REQUIRED}: {', '.join(COLUMNS)}"))
    unknown = sorted({n for n in names if n not in COLUMNS})
    if unknown:
        errors.append(CsvError(1, f"{_UNKNOWN_COLUMN_S}: {', '.join(unknown)} ({', '.join(COLUMNS)})"))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        errors.append(CsvError(1, f"{_REPEATED_COLUMN_S}: {', '.join(repeated)}"))
    if errors:
        return [], errors
    drafts: list[ContactDraft] = []
    seen: dict[str, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(drafts) + len(errors) >= MAX_ROWS:
                errors.append(CsvError(line, f"{_TOO_MANY_ROWS_AT_MOST}: {MAX_ROWS}"))
                break
            if len(values) != len(names):
                errors.append(CsvError(line, f"{_FIELD_COUNTS}: {len(values)} / {len(names)}"))
                continue
            row = dict(zip(names, (v.strip() for v in values), strict=True))
            draft = _draft(line, row, default_country_code, errors)
            if draft is None:
                continue
            if draft.number in seen:
                errors.append(CsvError(line, f"{_REPEATED_NUMBER}: {seen[draft.number]}", "phone"))
                continue
            seen[draft.number] = line
            drafts.append(draft)
    except csv.Error as exc:
        errors.append(CsvError(reader.line_num, f"{_MALFORMED_CSV}: {exc}"))
    return drafts, errors


def _draft(line: int, row: dict[str, str], cc: str, errors: list[CsvError]) -> ContactDraft | None:
    ok = True
    number = normalize_phone(row.get("phone", ""), cc)
    if number is None or not number.startswith("+"):
        errors.append(CsvError(line, N_("not a phone number"), "phone"))
        ok = False
    customer_id: int | None = None
    raw_id = row.get("customer_id", "")
    if raw_id:
        if raw_id.isdigit() and len(raw_id) <= 9:
            customer_id = int(raw_id)
        else:
            errors.append(CsvError(line, N_("a customer number"), "customer_id"))
            ok = False
    zone = row.get("timezone", "")
    if zone and not valid_zone(zone):
        errors.append(CsvError(line, N_("an IANA time zone such as Europe/Paris"), "timezone"))
        ok = False
    flag = row.get("no_marketing", "").lower()
    if flag not in _TRUE + _FALSE:
        errors.append(CsvError(line, N_("yes or no"), "no_marketing"))
        ok = False
    name, reason = row.get("name", ""), row.get("reason", "")
    if len(name) > 200 or len(reason) > 500:
        errors.append(CsvError(line, N_("name at most 200 characters, reason at most 500")))
        ok = False
    if not ok or number is None:
        return None
    return ContactDraft(number, name, customer_id, zone, reason, flag in _TRUE)
