"""The reports: tables, CSV and Parquet files (money as decimals), and the PNG charts."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import matplotlib.image
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from api.cli import main
from api.cli.charts import Basis, roll_sizes, write_charts, year_totals
from api.core.bootstrap import opened
from domain.application.recording import SaveAt
from domain.months import Month
from projections.reads.read_side import CURRENT
from tests.integration.test_read_side import record_a_small_history
from tests.support import QIBIN, at, identity_number, ledger_at, set_reference_standards

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The applicant of the small history's dibao case (see record_a_small_history).
DIBAO_APPLICANT = identity_number(date(1980, 1, 1), 71)
# The small history as known now: the nursing case was rescinded, so it has no month.
PROGRAMMES = {"dibao-urban", "tekun", "elderly-allowance", "temporary-relief"}


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small history, with March and April 2020 of urban dibao and March 2020 of tekun
    closed through the command line."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    ledger = ledger_at(f"sqlite:///{path}")
    set_reference_standards(ledger, uow=SaveAt(ledger, at("2019-01-02 09:00")))
    record_a_small_history(ledger)
    ledger.close()
    for programme, month in (
        ("dibao-urban", "2020-03"),
        ("dibao-urban", "2020-04"),
        ("tekun", "2020-03"),
    ):
        ok(["close-period", programme, QIBIN, month, "--actor", "finance-1"])
    return path


def ok(arguments: list[str]) -> Result:
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    return result


def table_rows(result: Result) -> list[list[str]]:
    """The rows of a printed table (between the rule under its header and the rule above its
    total row), split on spaces."""
    lines = result.stdout.splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip() and set(line.strip()) <= {"─"}]
    end = rules[1] if len(rules) > 1 else len(lines)
    return [line.split() for line in lines[rules[0] + 1 : end] if line.strip()]


# The charts.


def test_report_writes_two_png_charts(ledger_file: Path, tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    result = ok(["report", "--year", "2020", "--output-dir", str(charts)])
    written = sorted(charts.iterdir())
    assert [p.name for p in written] == ["monthly-totals-2020.png", "roll-size.png"]
    for path in written:
        assert f"wrote {path}" in result.output
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = matplotlib.image.imread(path)
        height, width = pixels.shape[:2]
        assert height >= 400 and width >= 800
        assert pixels.std() > 0.05  # drawn on, not a blank canvas


def test_every_programme_with_a_case_is_in_both_legends(ledger_file: Path, tmp_path: Path) -> None:
    with opened() as runtime:
        position = runtime.read_side.position
        present = {
            programme
            for (programme,) in runtime.views.fetchall(
                f"SELECT DISTINCT programme FROM segments s WHERE {CURRENT}", (position, position)
            )
        }
        totals, roll = write_charts(runtime.views, 2020, position, tmp_path)
    assert present == PROGRAMMES
    assert present <= set(totals.legend)
    assert present <= set(roll.legend)
    assert {"paid (month closed)", "entitled (month not closed)"} <= set(totals.legend)
    assert "disability-nursing" not in totals.legend  # rescinded: never had a month


def test_closed_months_show_what_was_paid_and_the_others_what_is_entitled(
    ledger_file: Path,
) -> None:
    with opened() as runtime:
        position = runtime.read_side.position
        data = year_totals(runtime.views, 2020, position)
    march, april, july = 2, 3, 6
    assert data.bases["dibao-urban"][march] is Basis.PAID
    assert data.bases["dibao-urban"][april] is Basis.PAID
    assert data.bases["dibao-urban"][july] is Basis.ENTITLED
    assert data.bases["tekun"][march] is Basis.PAID
    assert data.bases["tekun"][april] is Basis.ENTITLED
    assert data.amounts["dibao-urban"][march] == Decimal("899.00")
    # July as known now: the raise to 650, corrected to 640, for two people with 150.50.
    assert data.amounts["dibao-urban"][july] == Decimal("979.00")
    assert data.amounts["temporary-relief"][march] == Decimal("900.00")
    assert data.amounts["elderly-allowance"] == [Decimal("0.00")] * 2 + [Decimal("200.00")] * 10


def test_roll_sizes_span_the_months_up_to_the_latest_decision(ledger_file: Path) -> None:
    with opened() as runtime:
        data = roll_sizes(runtime.views, runtime.read_side.position)
        latest = runtime.ledger.latest_recorded_time()
    assert latest is not None
    assert data.months[0] == Month.parse("2020-03")
    # The last decisions are the closes made just now; the elderly allowance's band change
    # foreseen for January 2030, when its holder turns 100, does not stretch the chart.
    assert data.months[-1] == Month.at(latest)
    assert len(data.months) == data.months[-1].index - data.months[0].index + 1
    july = data.months.index(Month.parse("2020-07"))
    assert data.cases["dibao-urban"][july] == 1
    assert data.cases["tekun"][july] == 1  # suspended, still open
    assert data.cases["temporary-relief"][july] == 0
    assert data.cases["dibao-urban"][data.months.index(Month.parse("2020-09"))] == 0


# Tables, CSV and Parquet.


def test_roll_as_csv_and_as_known_before_the_raise(ledger_file: Path, tmp_path: Path) -> None:
    now, before = tmp_path / "now.csv", tmp_path / "before.csv"
    ok(
        [
            "roll",
            "dibao-urban",
            QIBIN,
            "--as-of",
            "2020-07",
            "--format",
            "csv",
            "--output",
            str(now),
        ]
    )
    ok(
        [
            "roll",
            "dibao-urban",
            QIBIN,
            "--as-of",
            "2020-07",
            "--known-at",
            "2020-08-01",
            "--format",
            "csv",
            "--output",
            str(before),
        ]
    )
    for path, amount in ((now, "979.00"), (before, "899.00")):
        with path.open(encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
        assert [(r["amount"], r["status"]) for r in rows] == [(amount, "paying")]


def test_totals_as_csv_leave_paid_empty_for_a_month_not_closed(
    ledger_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "totals.csv"
    result = ok(["totals", "--as-of", "2020-04", "--format", "csv", "--output", str(target)])
    assert f"wrote 3 rows to {target}" in result.output
    with target.open(encoding="utf-8") as file:
        rows = {r["programme"]: r for r in csv.DictReader(file)}
    assert set(rows) == {"dibao-urban", "tekun", "elderly-allowance"}
    assert (rows["dibao-urban"]["entitled"], rows["dibao-urban"]["paid"]) == ("899.00", "899.00")
    assert (rows["tekun"]["cases"], rows["tekun"]["entitled"]) == ("1", "1080.00")
    assert rows["tekun"]["paid"] == rows["tekun"]["outstanding"] == ""


def test_totals_as_parquet_keep_money_as_decimals_equal_to_the_table(
    ledger_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "totals.parquet"
    ok(["totals", "--as-of", "2020-04", "--format", "parquet", "--output", str(target)])
    table = pq.read_table(target)
    money = pa.decimal128(18, 2)
    assert [(f.name, f.type) for f in table.schema] == [
        ("programme", pa.string()),
        ("region", pa.string()),
        ("region_name", pa.string()),
        ("cases", pa.int64()),
        ("entitled", money),
        ("paid", money),
        ("settled", money),
        ("outstanding", money),
    ]
    from_parquet = table.to_pylist()
    printed = table_rows(ok(["totals", "--as-of", "2020-04"]))
    assert len(from_parquet) == len(printed) == 3
    for row, cells in zip(from_parquet, printed, strict=True):
        assert [row["programme"], row["region"], row["region_name"]] == [
            cells[0],
            cells[1],
            " ".join(cells[2:4]),
        ]
        assert [row["cases"], row["entitled"]] == [int(cells[4]), Decimal(cells[5])]
        assert isinstance(row["entitled"], Decimal)
        closed = [row["paid"], row["settled"], row["outstanding"]]
        assert closed == ([Decimal(c) for c in cells[6:]] if len(cells) > 6 else [None] * 3)
    assert from_parquet[0]["paid"] == Decimal("899.00")


def test_reconcile_as_parquet(ledger_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "reconciliation.parquet"
    ok(["reconcile", "--year", "2020", "--format", "parquet", "--output", str(target)])
    rows = pq.read_table(target).to_pylist()
    assert [(r["programme"], r["year"], r["paid"]) for r in rows] == [
        ("dibao-urban", 2020, Decimal("1798.00")),
        ("tekun", 2020, Decimal("1080.00")),
    ]


def test_a_report_file_defaults_to_a_name_it_prints(
    ledger_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = ok(["roll", "tekun", QIBIN, "--as-of", "2020-03", "--format", "parquet"])
    assert "wrote 1 rows to roll-tekun-410611-2020-03.parquet" in result.output
    rows = pq.read_table(tmp_path / "roll-tekun-410611-2020-03.parquet").to_pylist()
    assert rows == [{"case": rows[0]["case"], "amount": Decimal("1080.00"), "status": "paying"}]


def test_output_needs_a_file_format(ledger_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["totals", "--as-of", "2020-04", "--output", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "--output x: name a .csv or .parquet file, or give --format csv" in result.output
    table = CliRunner().invoke(
        main, ["totals", "--as-of", "2020-04", "--format", "table", "--output", "t.csv"]
    )
    assert table.exit_code == 2
    assert "--output needs --format csv or parquet" in table.output


# Entitlements by identity number.


def test_entitlements_of_a_person_never_print_the_identity_number(
    ledger_file: Path, tmp_path: Path
) -> None:
    table = ok(["entitlements", DIBAO_APPLICANT, "--as-of", "2020-07"])
    assert [row[1:] for row in table_rows(table)] == [
        ["dibao-urban", QIBIN, "Qibin", "District", "979.00", "paying"]
    ]
    before = ok(["entitlements", DIBAO_APPLICANT, "--as-of", "2020-07", "--known-at", "2020-08-01"])
    assert [row[5] for row in table_rows(before)] == ["899.00"]
    target = tmp_path / "entitlements.csv"
    written = ok(
        [
            "entitlements",
            DIBAO_APPLICANT,
            "--as-of",
            "2020-09",
            "--format",
            "csv",
            "--output",
            str(target),
        ]
    )
    assert "wrote 0 rows" in written.output  # the case exited in September
    for text in (table.output, before.output, written.output, target.read_text("utf-8")):
        assert DIBAO_APPLICANT not in text


def test_a_mistyped_identity_number_is_refused_without_echoing_it(ledger_file: Path) -> None:
    mistyped = DIBAO_APPLICANT[:-1] + ("0" if DIBAO_APPLICANT[-1] != "0" else "1")
    result = CliRunner().invoke(main, ["entitlements", mistyped, "--as-of", "2020-07"])
    assert result.exit_code == 2
    assert "check character is wrong" in result.output
    assert mistyped not in result.output


# Payroll as known at a position.


def test_payroll_as_known_before_the_close_has_no_period(ledger_file: Path) -> None:
    runner = CliRunner()
    now = runner.invoke(main, ["payroll", "tekun", QIBIN, "2020-03"])
    assert now.exit_code == 0, now.output
    assert table_rows(now)[0][2:] == ["1080.00", "0.00", "0.00", "1080.00", "0.00"]  # none held
    before = runner.invoke(main, ["payroll", "tekun", QIBIN, "2020-03", "--known-at", "2020-12-31"])
    assert before.exit_code == 1
    assert "tekun 410611 2020-03 is not closed as known at position" in before.output


# What a person expects of the tables and files.


def test_the_totals_table_names_regions_and_ends_in_a_total_row(ledger_file: Path) -> None:
    result = ok(["totals", "--as-of", "2020-04"])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Totals of 2020-04, as known at position ")
    rows = table_rows(result)
    assert [row[:4] for row in rows] == [
        ["dibao-urban", QIBIN, "Qibin", "District"],
        ["elderly-allowance", QIBIN, "Qibin", "District"],
        ["tekun", QIBIN, "Qibin", "District"],
    ]
    (total,) = [line.split() for line in lines if line.split()[:1] == ["total"]]
    cases = sum(int(row[4]) for row in rows)
    entitled = sum(Decimal(row[5]) for row in rows)
    assert total[:3] == ["total", str(cases), str(entitled)]
    assert total[3] == "899.00"  # only dibao-urban has closed April: the paid total is its


def test_the_output_extension_chooses_the_format_and_the_file_says_its_position(
    ledger_file: Path, tmp_path: Path
) -> None:
    as_csv, as_parquet = tmp_path / "totals.csv", tmp_path / "totals.parquet"
    written = ok(["totals", "--as-of", "2020-04", "--output", str(as_csv)])
    position = int(written.stdout.split()[-1])
    assert f"wrote 3 rows to {as_csv}, as known at position {position}" in written.stdout
    with as_csv.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["known_at_position"] for row in rows] == [str(position)] * 3
    assert rows[0]["region_name"] == "Qibin District"
    ok(["totals", "--as-of", "2020-04", "--known-at-position", "5", "--output", str(as_parquet)])
    table = pq.read_table(as_parquet)
    assert table.schema.metadata[b"ledger_position"] == b"5"
    assert "known_at_position" not in table.column_names


def test_version_names_the_installed_package() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ledger, version {version('social-assistance-ledger')}"


def test_a_person_with_no_entitlement_gets_an_empty_table_with_its_total(
    ledger_file: Path,
) -> None:
    nobody = identity_number(date(1985, 3, 7), 987)
    result = CliRunner().invoke(main, ["entitlements", nobody, "--as-of", "2020-07"])
    assert result.exit_code == 0, result.output
    assert "total: 0 entitlements" in result.stdout
