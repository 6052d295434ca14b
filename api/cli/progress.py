"""Progress bars for the long commands: an import, and the demo's steps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from api.core.bootstrap import Runtime
from api.demo.decade import Advance
from api.services.importing import (
    MAX_REPORTED,
    BadFileError,
    ImportResult,
    import_file,
    numbered_lines,
)


@contextmanager
def bar(label: str, total: int, unit: str | None = None) -> Iterator[Advance]:
    """A bar over ``total`` units, with the time left and, given a ``unit``, the rate."""
    started = time.perf_counter()
    done = 0

    def rate(_: int | None) -> str:
        return f"{done / max(time.perf_counter() - started, 1e-9):,.0f} {unit}/s"

    with click.progressbar(
        range(total), label=label, show_eta=True, item_show_func=rate if unit else None
    ) as shown:

        def advance(reached: int) -> None:
            nonlocal done
            done, step = reached, reached - done
            shown.update(step, reached)

        yield advance


def import_with_bar(runtime: Runtime, path: Path) -> ImportResult:
    """Import a decisions file, showing the lines imported."""
    lines = sum(1 for _ in numbered_lines(path))
    with bar("Importing decisions", lines) as advance:
        return import_file(runtime.ledger, runtime.views, path, advance)


def refused_file(bad: BadFileError) -> click.ClickException:
    """List a refused file's bad lines (number and reason) on stderr; the exception to raise
    says that nothing was stored."""
    for line in bad.bad:
        click.echo(f"line {line.number}: {line.reason}", err=True)
    if len(bad.bad) == MAX_REPORTED:  # where the check stops for lines out of time order
        return click.ClickException(
            f"{len(bad.bad)} bad lines are listed and the check stopped there, so there may be "
            "more; nothing was stored"
        )
    return click.ClickException(str(bad))
