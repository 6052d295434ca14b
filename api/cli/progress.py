"""Progress bars for the long commands (an import, the demo's steps, a rebuild, a
verification, the charts), drawn with rich on stderr when it is a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from api.core.bootstrap import Runtime
from api.demo.decade import Advance
from api.services.importing import (
    MAX_REPORTED,
    BadFileError,
    ImportResult,
    import_file,
    numbered_lines,
)
from projections.engine.workers import projected_by_workers


class RateColumn(ProgressColumn):
    """Units per second, once there is a rate to show."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else "")


@contextmanager
def bar(label: str, total: int, unit: str | None = None) -> Iterator[Advance]:
    """A bar over ``total`` units on stderr, with the time left and, given a ``unit``, the
    rate; drawn only when stderr is a terminal (a pipe or a log file gets nothing)."""
    console = Console(stderr=True)
    if not console.is_terminal or total <= 0:
        yield lambda _: None
        return
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    if unit is not None:
        columns.append(RateColumn(unit))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=total)

        def advance(reached: int) -> None:
            progress.update(task, completed=min(reached, total))

        yield advance
        progress.update(task, completed=total)


def catch_up_with_bar(runtime: Runtime, label: str) -> int:
    """Bring the views up to date a batch at a time, showing the events projected; where
    projection workers keep them, they do, and nothing is projected here."""
    projector = runtime.projector  # creates the views where there are none yet
    if projected_by_workers(runtime.views):
        return 0
    behind = max(runtime.ledger.position - projector.position, 0)
    done = 0
    with bar(label, behind, "events") as advance:
        while projected := projector.run_batch():
            done += projected
            advance(done)
    return done


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
