"""CSV import: a good file, bad rows (nothing written, every error with its row), big files, the CLI."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from callcenter import cli
from callcenter.domain.customers import CustomerQuery, Segment
from callcenter.services.crm_import import CustomerImporter
from callcenter.store.crm_records import SqlCrmRecords

HEADER = "name,company,email,phones,segment,value_score,tags,notes\n"


def write(tmp_path: Path, text: str, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_good_file(records: SqlCrmRecords, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeff"  # a spreadsheet's byte-order mark
        + HEADER
        + 'Ann Able,Acme,ann@acme.example,"+1 555 201 0001; (555) 201-0002",VIP,90,"gold,key",Likes e-mail\n'
        + "\n"  # blank lines are skipped
        + "Bob Baker,,,555.201.0003|+44 20 7946 0958,,,,\n"
        + '"Chloé ""CC"" Chen",,,,new,12.5,,\n',
    )
    report = await CustomerImporter(records).import_csv(path)
    assert (report.ok, report.rows, report.imported, report.errors) == (True, 3, 3, [])
    ann = await records.customer_by_phone("5552010002")
    assert ann is not None and ann.segment is Segment.VIP and ann.vip and ann.tags == ("gold", "key")
    assert [(n.author, n.text) for n in await records.list_notes(ann.id)] == [("import", "Likes e-mail")]
    bob = await records.customer_by_phone("+442079460958")
    assert bob is not None and bob.phones == ("+15552010003", "+442079460958") and bob.segment is Segment.NEW
    page = await records.search_customers(CustomerQuery(text='"cc"'))
    assert [c.value_score for c in page.customers] == [12.5]


async def test_bad_rows_write_nothing_and_every_error_is_reported(
    records: SqlCrmRecords, tmp_path: Path
) -> None:
    await CustomerImporter(records).import_csv(
        write(tmp_path, HEADER + "Owner,,,555-201-0009,,,,\n", "a.csv")
    )
    path = write(
        tmp_path,
        HEADER
        + "Good One,,,555-201-0101,,,,\n"  # row 2: fine, but must not be written
        + "Cat,,,not-a-phone,gold,,,\n"  # row 3: bad phone and unknown segment
        + "Dan,,dan@,555-201-0102,new,500,,\n"  # row 4: bad e-mail, score out of range
        + "Eve,,,555 201 0101,,,,\n"  # row 5: same number as row 2
        + "Fay,,,(555) 201-0009,,,,\n"  # row 6: number stored already
        + "Gus,,,,,,bad tag!,\n"  # row 7
        + ",,,,,,,\n"  # blank: skipped
        + " ,x,,,,,,\n"  # row 9: no name
        + "Hal,too,few\n",  # row 10: wrong field count
        "b.csv",
    )
    report = await CustomerImporter(records, batch_size=2).import_csv(path)
    assert report.imported == 0 and report.rows == 8  # the blank line is not a row
    lines = [str(e) for e in report.errors]
    assert lines == [
        "row 3: segment: unknown segment 'gold'; one of vip, regular, new",
        "row 3: phones: bad phone number 'not-a-phone'",
        "row 4: email: not an email address: 'dan@'",
        "row 4: value_score: must be between 0 and 100",
        "row 5: phones: duplicate phone +15552010101: also on row 2",
        "row 6: phones: duplicate phone +15552010009: already belongs to customer #1",
        "row 7: tags: bad tag 'bad tag!': letters, digits, '.', '_' or '-', at most 40 characters",
        "row 9: name: required",
        "row 10: expected 8 fields, found 3",
    ]
    page = await records.search_customers(CustomerQuery())
    assert [c.name for c in page.customers] == ["Owner"]  # nothing of b.csv, not even its good rows


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "row 1: header required: the file is empty"),
        ("Ann,,,5552010001,,,,\n", "row 1: header required: the first line must name the columns"),
        ("name,phone\nAnn,1\n", "row 1: unknown column(s): phone"),
        ("name,name\n", "row 1: repeated column(s): name"),
        (HEADER + 'Ann,"unterminated\n', "malformed CSV"),
    ],
)
async def test_bad_files(records: SqlCrmRecords, tmp_path: Path, text: str, message: str) -> None:
    report = await CustomerImporter(records).import_csv(write(tmp_path, text))
    assert not report.ok and report.imported == 0
    assert any(message in str(e) for e in report.errors), report.errors
    assert (await records.search_customers(CustomerQuery())).total == 0


async def test_not_utf8(records: SqlCrmRecords, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "Zoë,,,5552010001,,,,\n").encode("latin-1"))
    report = await CustomerImporter(records).import_csv(path)
    assert [str(e) for e in report.errors] == ["file: not UTF-8 text (save the file as UTF-8 CSV)"]


async def test_large_file_streams_in_batches(records: SqlCrmRecords, tmp_path: Path) -> None:
    rows = 20_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(
                f"Customer {i},Co {i % 50},c{i}@example.com,+1555{4000000 + i},regular,{i % 100},t{i % 7},\n"
            )
    started = time.perf_counter()
    report = await CustomerImporter(records).import_csv(path)
    elapsed = time.perf_counter() - started
    assert report.ok and report.imported == rows, report.errors[:3]
    assert (await records.search_customers(CustomerQuery(tag="t3", limit=1))).total == len(range(3, rows, 7))
    assert elapsed < 20, f"import took {elapsed:.1f} s"


def test_cli_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    good = write(tmp_path, HEADER + "Ann,,,555-201-0001,vip,,,\n", "good.csv")
    assert cli.main(["import", "customers", str(good)]) == 0
    assert "imported 1 customer(s)" in capsys.readouterr().out
    bad = write(tmp_path, HEADER + "Bob,,,555-201-0002,,,,\nCat,,,555-201-0001,,,,\nDan,,,x,,,,\n", "bad.csv")
    assert cli.main(["import", "customers", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "row 3: phones: duplicate phone +15552010001: already belongs to customer #1" in err
    assert "row 4: phones: bad phone number 'x'" in err
    assert "2 error(s) in 3 row(s): nothing was imported" in err
    assert cli.main(["import", "customers", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err
