"""The command line's reports: aligned tables drawn with rich, CSV and Parquet files.

A table has a title (what it is and as known at which position), numbers right-aligned, and
a total row where summing means something. A file holds the rows only, and says the ledger
position it was drawn at in a way every reader keeps: in CSV a last column,
``known_at_position``, the same on every row (a comment line before the header would trip
many parsers); in Parquet the file's metadata key ``ledger_position``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import click
from rich import box
from rich.console import Console
from rich.table import Table

Cell = object
Format = Literal["table", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("table", "csv", "parquet")
SUFFIXES: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
POSITION_COLUMN = "known_at_position"
PARQUET_POSITION_KEY = b"ledger_position"
UNBOUNDED_WIDTH = 10_000  # a table written to a file or a pipe is never wrapped

MONEY_PRECISION = 18
MONEY_SCALE = 2
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Report:
    """Rows under headers, read at a ledger position; shown with ``title`` and ``total``
    (the total row) as a table."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    position: int
    title: str | None = None
    total: Sequence[Cell] | None = None


def format_for(fmt: Format | None, output: Path | None) -> Format:
    """The format asked for, else the one ``output``'s extension names, else a table."""
    if fmt is not None:
        return fmt
    if output is None:
        return "table"
    found = SUFFIXES.get(output.suffix.lower())
    if found is None:
        raise click.UsageError(
            f"--output {output.name}: name a .csv or .parquet file, or give --format csv or "
            "--format parquet"
        )
    return found


def report(rows: Report, fmt: Format, path: Path | None = None) -> None:
    """Print the rows as a table, or write them to ``path`` as CSV or Parquet. A cell of
    None is empty (null in Parquet)."""
    if fmt == "table":
        echo_table(rows.headers, rows.rows, title=rows.title, total=rows.total)
        return
    if path is None:
        raise ValueError(f"a {fmt} report needs a file to write")
    if fmt == "csv":
        write_csv(path, rows.headers, rows.rows, rows.position)
    else:
        write_parquet(path, rows.headers, rows.rows, rows.position)


def total_row(
    rows: Sequence[Sequence[Cell]], summed: Iterable[int], label: str = "total"
) -> list[Cell]:
    """The total row: ``label`` in the first column, and the sum of each column in
    ``summed`` (None where every row has None there: a month not closed, say)."""
    width = max((len(row) for row in rows), default=0)
    total: list[Cell] = [label, *[None] * (width - 1)] if width else [label]
    for index in summed:
        values = [row[index] for row in rows if row[index] is not None]
        if values and all(isinstance(v, Decimal) for v in values):
            total[index] = sum((v for v in values if isinstance(v, Decimal)), Decimal("0.00"))
        elif values and all(isinstance(v, int) for v in values):
            total[index] = sum(v for v in values if isinstance(v, int))
    return total


def echo_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str | None = None,
    total: Sequence[Cell] | None = None,
) -> None:
    """Print rows under headers on stdout, numbers right-aligned, with a total row below a
    rule when given. Colours only on a terminal; never wrapped when piped."""
    text = [[_text(cell) for cell in row] for row in rows]
    footer = [_text(cell) for cell in total] if total is not None else None
    if footer is not None:  # a total of no rows knows only its label
        footer += [""] * (len(headers) - len(footer))
    table = Table(
        box=box.SIMPLE,
        show_footer=footer is not None,
        header_style="bold",
        footer_style="bold",
    )
    for index, header in enumerate(headers):
        numeric = all(_is_number(r[index]) for r in text if r[index]) and any(
            r[index] for r in text
        )
        table.add_column(
            header,
            footer=footer[index] if footer is not None else "",
            justify="right" if numeric else "left",
            no_wrap=True,
        )
    for row in text:
        table.add_row(*row)
    out = sys.stdout
    console = Console(file=out, highlight=False)
    if not console.is_terminal:
        console = Console(file=out, highlight=False, width=UNBOUNDED_WIDTH)
    with console.capture() as captured:
        if title is not None:  # above the table, not in it: rich would wrap it to its width
            console.print(title, style="bold", soft_wrap=True)
        console.print(table)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    for line in lines:
        click.echo(line)


def write_csv(
    path: Path, headers: Sequence[str], rows: Sequence[Sequence[Cell]], position: int
) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([*headers, POSITION_COLUMN])
        writer.writerows([[*(_text(cell) for cell in row), position] for row in rows])


def write_parquet(
    path: Path, headers: Sequence[str], rows: Sequence[Sequence[Cell]], position: int
) -> None:
    """One Parquet file: a column of Decimals is decimal128(18, 2) (money, never a float),
    of integers int64, anything else a string; the position in the file's metadata."""
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
    schema = pa.schema(fields, metadata={PARQUET_POSITION_KEY: str(position).encode()})
    pq.write_table(pa.Table.from_arrays(columns, schema=schema), path)


def _text(cell: Cell) -> str:
    return "" if cell is None else str(cell)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
