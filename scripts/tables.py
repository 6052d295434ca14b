"""Plain-text tables and CSV files for the command line's reports."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import click

Cell = object


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """Print rows under headers; numbers right-aligned."""
    text = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in text) and bool(text) for i in range(len(headers))]

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
        writer.writerows([[str(cell) for cell in row] for row in rows])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
