"""``callcenter import customers FILE.csv``: a CSV file of customers imported all-or-nothing.

Format: UTF-8 (a byte-order mark is fine), comma-separated, a header line naming the columns, in any
order: ``name`` (required), ``company``, ``email``, ``phones`` (several separated by ``;`` or ``|``),
``segment`` (vip | regular | new; empty: new), ``value_score`` (0-100; empty: 0), ``tags`` (separated by
``,``, ``;`` or ``|`` inside the quoted field), ``notes`` (stored as a first note by ``import``).
Unknown or repeated columns are refused: a typo must not drop a column silently.

All or nothing: the whole file is read inside one database transaction, in batches (``batch_size``
rows: one ``INSERT`` per table per batch, so tens of thousands of rows stream through with bounded
memory besides the set of phone numbers seen). Every row is checked (fields, phone numbers repeated in
the file, numbers already stored); after the first bad row nothing more is inserted but checking goes
on, so that *every* error is reported, and at the end the transaction is rolled back if there was any.

Rows are numbered like the file's lines (the header is line 1), which is what a spreadsheet shows.
File reads run in a worker thread: the event loop is never blocked on the disk.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.domain.customers import CustomerDraft, ValidationError, clean_phones
from callcenter.domain.errors import CallcenterError
from callcenter.ports import CrmRecords, CustomerImport
from callcenter.services.crm import customer_draft_from

log = logging.getLogger(__name__)

COLUMNS = ("name", "company", "email", "phones", "segment", "value_score", "tags", "notes")
REQUIRED_COLUMNS = ("name",)
DEFAULT_BATCH = 1000
IMPORT_AUTHOR = "import"


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # line of the file (header = 1); 0 for the file as a whole
    reason: str
    column: str = ""

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{where}: {self.column + ': ' if self.column else ''}{self.reason}"


@dataclass(slots=True)
class ImportReport:
    rows: int = 0  # data rows read
    imported: int = 0  # customers written (0 when anything failed)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRejected(CallcenterError):
    """Raised inside the import transaction to roll it back."""


def check_header(header: list[str]) -> list[RowError]:
    names = [h.strip().lower() for h in header]
    errors: list[RowError] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        errors.append(
            RowError(
                1,
                f"header required: the first line must name the columns ({', '.join(COLUMNS)}); "
                f"missing: {', '.join(missing)}",
            )
        )
    unknown = sorted({n for n in names if n not in COLUMNS})
    if unknown:
        errors.append(RowError(1, f"unknown column(s): {', '.join(unknown)}; known: {', '.join(COLUMNS)}"))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        errors.append(RowError(1, f"repeated column(s): {', '.join(repeated)}"))
    return errors


class _CsvSource:
    """Reads the file in batches in a worker thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: io.TextIOWrapper | None = None
        self._reader: Iterator[list[str]] | None = None
        self._csv: object = None
        self.error: RowError | None = None

    def _open(self) -> None:
        self._file = self._path.open(encoding="utf-8-sig", newline="")
        reader = csv.reader(self._file, strict=True)
        self._csv = reader
        self._reader = reader

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self._open)
        except OSError as error:
            raise CallcenterError(f"cannot read {self._path}: {error.strerror or error}") from error

    def _line(self) -> int:
        return int(getattr(self._csv, "line_num", 0))

    def _read(self, count: int) -> list[tuple[int, list[str]]]:
        assert self._reader is not None
        out: list[tuple[int, list[str]]] = []
        try:
            for values in self._reader:
                if not values or all(not v.strip() for v in values):
                    continue  # blank line
                out.append((self._line(), values))
                if len(out) >= count:
                    break
        except UnicodeDecodeError:
            self.error = RowError(0, "not UTF-8 text (save the file as UTF-8 CSV)")  # decoded by blocks
        except csv.Error as error:
            self.error = RowError(self._line(), f"malformed CSV: {error}")
        return out

    async def read(self, count: int) -> list[tuple[int, list[str]]]:
        if self.error is not None:
            return []
        return await asyncio.to_thread(self._read, count)

    async def close(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)


class CustomerImporter:
    def __init__(
        self,
        records: CrmRecords,
        *,
        default_country_code: str = "1",
        batch_size: int = DEFAULT_BATCH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records = records
        self._cc = default_country_code
        self._batch = max(1, batch_size)
        self._clock = clock

    async def import_csv(self, path: Path) -> ImportReport:
        """Import the file; the report lists every error (then nothing was written)."""
        report = ImportReport()
        source = _CsvSource(path)
        await source.open()
        try:
            header_rows = await source.read(1)
            if source.error is not None:
                report.errors.append(source.error)
                return report
            if not header_rows:
                report.errors.append(
                    RowError(1, f"header required: the file is empty ({', '.join(COLUMNS)})")
                )
                return report
            header = [h.strip().lower() for h in header_rows[0][1]]
            report.errors.extend(check_header(header))
            if report.errors:
                return report
            try:
                async with self._records.customer_import() as tx:
                    await self._rows(source, header, tx, report)
                    if report.errors:
                        raise ImportRejected(f"{len(report.errors)} error(s)")
            except ImportRejected:
                report.imported = 0
        finally:
            await source.close()
        report.errors.sort(key=lambda e: e.row)  # stable: a row's errors keep their order
        log.info(
            "customer import finished",
            extra={
                "file": str(path),
                "rows": report.rows,
                "imported": report.imported,
                "errors": len(report.errors),
            },
        )
        return report

    async def _rows(
        self, source: _CsvSource, header: list[str], tx: CustomerImport, report: ImportReport
    ) -> None:
        seen: dict[str, int] = {}  # phone number -> first row that has it
        now = self._clock()
        while True:
            batch = await source.read(self._batch)
            if not batch:
                break
            report.rows += len(batch)
            checked: list[tuple[int, CustomerDraft | None, tuple[str, ...]]] = []
            for line, values in batch:
                checked.append((line, *self._draft(line, values, header, seen, report)))
            taken = await tx.taken_phones([n for _, _, phones in checked for n in phones])
            good: list[CustomerDraft] = []
            for line, draft, phones in checked:
                clash = [n for n in phones if n in taken]
                for number in clash:
                    report.errors.append(
                        RowError(
                            line,
                            f"duplicate phone {number}: already belongs to customer #{taken[number]}",
                            "phones",
                        )
                    )
                if draft is not None and not clash:
                    good.append(draft)
            if not report.errors and good:
                report.imported += await tx.add_customers(good, author=IMPORT_AUTHOR, now=now)
        if source.error is not None:
            report.errors.append(source.error)

    def _draft(
        self,
        line: int,
        values: list[str],
        header: list[str],
        seen: dict[str, int],
        report: ImportReport,
    ) -> tuple[CustomerDraft | None, tuple[str, ...]]:
        """The row's draft (None when invalid) and its valid phone numbers (checked against the
        database even when another field of the row is wrong, so that every error is reported)."""
        if len(values) != len(header):
            report.errors.append(RowError(line, f"expected {len(header)} fields, found {len(values)}"))
            return None, ()
        data = dict(zip(header, values, strict=True))
        draft: CustomerDraft | None
        try:
            draft = customer_draft_from(data, self._cc)
            phones = draft.phones
        except ValidationError as error:
            for column, reason in error.fields.items():
                report.errors.append(RowError(line, reason, column))
            draft = None
            try:
                phones = () if "phones" in error.fields else clean_phones(data.get("phones", ""), self._cc)
            except ValueError:
                phones = ()
        for number in phones:
            first = seen.setdefault(number, line)
            if first != line:
                report.errors.append(
                    RowError(line, f"duplicate phone {number}: also on row {first}", "phones")
                )
                draft = None
        return draft, phones
