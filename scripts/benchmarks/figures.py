"""The benchmark's figures: comparisons with a raw baseline, latencies, and their report
as a markdown table and as JSON."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """``work()``'s result and the seconds it took."""
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def seconds_of(work: Callable[..., object], *args: object) -> float:
    """The seconds ``work(*args)`` took."""
    started = time.perf_counter()
    work(*args)
    return time.perf_counter() - started


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99) of ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class Comparison:
    """The ledger's rate beside the raw baseline's rate for the same work, per second."""

    section: str
    store: str
    work: str
    unit: str
    ours: float
    baseline: str
    raw: float
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.raw if self.raw else math.nan

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ratio >= self.target


@dataclass(frozen=True)
class Measure:
    """A figure with no baseline: a latency, a duration, a memory peak; lower is better."""

    section: str
    store: str
    name: str
    value: float
    unit: str
    limit: float | None = None

    @property
    def met(self) -> bool | None:
        return None if self.limit is None else self.value <= self.limit


@dataclass
class Report:
    quick: bool
    scale: float
    comparisons: list[Comparison] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.machine = self.machine or {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "scale": self.scale,
            "machine": self.machine,
            "comparisons": [
                {**asdict(c), "ratio": _finite(c.ratio), "met": c.met} for c in self.comparisons
            ],
            "measures": [{**asdict(m), "met": m.met} for m in self.measures],
        }

    def to_markdown(self) -> str:
        lines = [
            f"Machine: {self.machine['cpus']} CPUs, Python {self.machine['python']}, "
            f"{self.machine['system']}. Scale {self.scale:g}{' (quick)' if self.quick else ''}.",
            "",
            "| section | store | work | ledger | raw baseline | ratio | target | met |",
            "|---|---|---|---:|---:|---:|---:|---|",
        ]
        for c in self.comparisons:
            target = f"≥ {c.target:g}x" if c.target is not None else ""
            lines.append(
                f"| {c.section} | {c.store} | {c.work} | {c.ours:,.0f} {c.unit} | "
                f"{c.raw:,.0f} ({c.baseline}) | {c.ratio:.2f}x | {target} | {_met(c.met)} |"
            )
        lines += [
            "",
            "| section | store | figure | value | limit | met |",
            "|---|---|---|---:|---:|---|",
        ]
        for m in self.measures:
            limit = f"≤ {m.limit:g} {m.unit}" if m.limit is not None else ""
            lines.append(
                f"| {m.section} | {m.store} | {m.name} | {m.value:,.2f} {m.unit} | {limit} | "
                f"{_met(m.met)} |"
            )
        notes = [f"- {c.section}, {c.store}: {c.note}" for c in self.comparisons if c.note]
        return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
