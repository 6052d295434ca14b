"""Plain-text tables, CSV and Parquet files for the command line's reports."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

import click

Cell = object
Format = Literal["table", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("table", "csv", "parquet")

MONEY_PRECISION = 18
MONEY_SCALE = 2
CENT = Decimal("0.01")


def report(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    fmt: Format,
    path: Path | None = None,
) -> None:
    """Print rows as an aligned table, or write them to ``path`` as CSV or Parquet.

    A cell of None is empty (null in Parquet)."""
    if fmt == "table":
        echo_table(headers, rows)
        return
    if path is None:
        raise ValueError(f"a {fmt} report needs a file to write")
    if fmt == "csv":
        write_csv(path, headers, rows)
    else:
        write_parquet(path, headers, rows)


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """Print rows under headers; numbers right-aligned."""
    text = [[_text(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    numeric = [
        all(_is_number(r[i]) for r in text if r[i]) and any(r[i] for r in text)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    click.echo(line(list(headers)))
    click.echo(line(["-" * w for w in widths]))
    for row in text:
        click.echo(line(row))


def write_csv(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(headers)
        writer.writerows([[_text(cell) for cell in row] for row in rows])


def write_parquet(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """One Parquet file: a column of Decimals is decimal128(18, 2) (money, never a float),
    of integers int64, anything else a string."""
    import pyarrow as pa  # noqa: PLC0415  (only the Parquet reports pay for the import)
    import pyarrow.parquet as pq  # noqa: PLC0415

    columns = []
    fields = []
    for index, name in enumerate(headers):
        values = [row[index] for row in rows]
        present = [v for v in values if v is not None]
        column: list[object]
        if present and all(isinstance(v, Decimal) for v in present):
            kind = pa.decimal128(MONEY_PRECISION, MONEY_SCALE)
            column = [v.quantize(CENT) if isinstance(v, Decimal) else None for v in values]
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            kind = pa.int64()
            column = values
        else:
            kind = pa.string()
            column = [None if v is None else str(v) for v in values]
        fields.append(pa.field(name, kind))
        columns.append(pa.array(column, type=kind))
    pq.write_table(pa.Table.from_arrays(columns, schema=pa.schema(fields)), path)


def _text(cell: Cell) -> str:
    return "" if cell is None else str(cell)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
