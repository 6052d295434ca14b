"""The floor under a rebuild: the work no replay can avoid, done by a raw program in one
process. It reads and decodes every event, as the read-and-decode baseline does, and writes
the rows the rebuild left in its views (every table, taken from the rebuilt scratch views)
into empty copies of the views' tables with their indexes: executemany on SQLite, COPY on
PostgreSQL, a transaction per table. What a replay computes on top (folding cases,
re-segmenting them at standard raises, recomputing payroll, superseding rows it wrote
before) is what the ratio measures."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from api.core.settings import Settings
from projections.storage.database import ViewDatabase
from projections.storage.opening import open_views
from projections.storage.schema import TABLES
from scripts.benchmarks.databases import BenchDatabase
from scripts.benchmarks.figures import Comparison, seconds_of, timed
from scripts.benchmarks.rebuild_child import SCRATCH_SCHEMA

TARGET = 0.5


def compare(db: BenchDatabase, rebuilt: dict[str, float]) -> Comparison:
    """The rebuild (``rebuilt``: its events and seconds, whose views are still in the scratch
    schema) against reading and decoding every event and writing the same view rows."""
    scratch = open_views(Settings(database_url=db.ledger_url).ledger_env(), schema=SCRATCH_SCHEMA)
    raw = db.open_raw()
    raw.create_view_tables()
    events, read_seconds = timed(raw.read_and_decode)
    write_seconds, rows = 0.0, 0
    for table, columns, table_rows in view_rows(scratch):
        write_seconds += seconds_of(raw.write_view_rows, table, columns, table_rows)
        rows += len(table_rows)
    raw.close()
    scratch.close()
    write = "executemany" if db.store == "sqlite" else "COPY"
    return Comparison(
        "full rebuild",
        db.store,
        f"{rebuilt['events']:,.0f} events",
        "events/s",
        rebuilt["events"] / rebuilt["seconds"],
        f"read + decode, and write the final view rows ({write})",
        events / (read_seconds + write_seconds),
        target=TARGET,
        note=(
            f"the floor read and decoded {events:,} events in {read_seconds:.2f} s and wrote "
            f"the rebuild's {rows:,} view rows in {write_seconds:.2f} s; the rebuild took "
            f"{rebuilt['seconds']:.2f} s"
        ),
    )


def view_rows(views: ViewDatabase) -> Iterator[tuple[str, list[str], Sequence[Any]]]:
    """Every views table's name, columns and rows, a table at a time."""
    for table in TABLES:
        columns = _columns(views, table)
        yield table, columns, views.fetchall(f"SELECT {', '.join(columns)} FROM {table}")


def _columns(views: ViewDatabase, table: str) -> list[str]:
    if views.dialect == "sqlite":
        query = "SELECT name FROM pragma_table_info(?) ORDER BY cid"
    else:
        query = (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position"
        )
    return [name for (name,) in views.fetchall(query, (table,))]
