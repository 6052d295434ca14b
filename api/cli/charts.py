"""Charts for people who would rather look than read: PNG files drawn with matplotlib (Agg).

Two charts, both as known at one ledger position:

- the monthly totals per programme in a year: for a closed month what was paid (the month's
  own amounts on its period's lines, summed over the regions), for a month not closed what
  is entitled as known at the position;
- the roll size (open cases, suspended ones included) per programme in every month from the
  first that has a case to the last.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Literal

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from domain.cases.programmes import Programme
from domain.months import Month
from projections.reads.period_accounts import Accounts
from projections.reads.read_side import CURRENT, ReadSide, Total
from projections.storage.database import ViewDatabase

matplotlib.use("Agg")  # no display: files only

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FIGURE_SIZE = (11.0, 6.0)
DPI = 100
ZERO = Decimal("0.00")

Fill = Literal["full", "none", "left"]


class Basis(StrEnum):
    """What a point of the monthly chart shows."""

    PAID = "paid"  # every region with a figure for the month has closed it
    ENTITLED = "entitled"  # no region has closed the month
    MIXED = "mixed"  # paid where the month is closed, entitled elsewhere


# How each basis is drawn in the monthly chart, and what its legend entry says.
MARKERS: dict[Basis, tuple[Fill, str]] = {
    Basis.PAID: ("full", "paid (month closed)"),
    Basis.ENTITLED: ("none", "entitled (month not closed)"),
    Basis.MIXED: ("left", "paid where closed, entitled elsewhere"),
}


@dataclass(frozen=True)
class YearTotals:
    """Per programme, twelve amounts (January to December) and what each one is."""

    year: int
    position: int
    amounts: dict[str, list[Decimal]]
    bases: dict[str, list[Basis]]


@dataclass(frozen=True)
class RollSizes:
    """Per programme, the open cases in each month of ``months``."""

    position: int
    months: list[Month]
    cases: dict[str, list[int]]


def programme_order(programmes: Iterable[str]) -> list[str]:
    """The programmes in the order the bureau lists them; any other name after, sorted."""
    known = [p.value for p in Programme]
    present = set(programmes)
    return [p for p in known if p in present] + sorted(present - set(known))


def _colour(programme: str) -> str:
    """One colour per programme, the same in every chart."""
    names = [p.value for p in Programme]
    index = names.index(programme) if programme in names else len(names) + sum(map(ord, programme))
    return f"C{index % 10}"


class _TotalsCache:
    """ReadSide.totals, one query per month however often a month is asked for; ``progress``
    is told how many months were read."""

    def __init__(
        self, read: ReadSide, position: int, progress: Callable[[int], None] = lambda _: None
    ) -> None:
        self.read = read
        self.position = position
        self.progress = progress
        self._months: dict[Month, list[Total]] = {}

    def __call__(self, month: Month) -> list[Total]:
        if month not in self._months:
            self._months[month] = self.read.totals(month, self.position)
            self.progress(len(self._months))
        return self._months[month]


def year_totals(
    views: ViewDatabase, year: int, position: int, totals: _TotalsCache | None = None
) -> YearTotals:
    """Paid for each closed month and region, entitled for the others, summed per
    programme for each month of ``year``."""
    totals = totals or _TotalsCache(ReadSide(views), position)
    months = [Month.of(year, m) for m in range(1, 13)]
    paid = {
        (a.programme, a.region, a.month): a.paid
        for a in Accounts(views).closed_months(position)
        if a.month.year == year
    }
    amounts: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * 12)
    closed: dict[str, list[set[bool]]] = defaultdict(lambda: [set() for _ in range(12)])
    for slot, month in enumerate(months):
        seen = set()
        for total in totals(month):
            key = (total.programme, total.region, month)
            seen.add(key)
            is_closed = key in paid
            amounts[total.programme][slot] += paid[key] if is_closed else total.entitled
            closed[total.programme][slot].add(is_closed)
        # A closed month whose cases are all gone since (rescinded, say) still was paid.
        for key, amount in paid.items():
            if key[2] == month and key not in seen:
                amounts[key[0]][slot] += amount
                closed[key[0]][slot].add(True)
    bases = {
        programme: [
            Basis.MIXED if len(flags) > 1 else Basis.PAID if flags == {True} else Basis.ENTITLED
            for flags in closed[programme]
        ]
        for programme in amounts
    }
    return YearTotals(year, position, dict(amounts), bases)


def case_span(views: ViewDatabase, position: int) -> tuple[Month, Month] | None:
    """The first month that has a case, and the last month the ledger had decisions for by
    ``position`` (the month of its record time), as known at ``position``; None when there
    is no case. Months after that hold only what is foreseen (a birthday's band change)."""
    rows = views.fetchall(
        f"SELECT MIN(s.valid_from) FROM segments s WHERE {CURRENT}", (position, position)
    )
    recorded = views.fetchall(
        "SELECT recorded_at_us FROM positions WHERE position <= ? ORDER BY position DESC LIMIT 1",
        (position,),
    )
    if not rows or rows[0][0] is None or not recorded:
        return None
    moment = datetime.fromtimestamp(recorded[0][0] / 1_000_000, UTC)
    return Month(int(rows[0][0])), max(Month(int(rows[0][0])), Month.at(moment))


def roll_sizes(views: ViewDatabase, position: int, totals: _TotalsCache | None = None) -> RollSizes:
    """Open cases per programme in every month of the span that has a case."""
    totals = totals or _TotalsCache(ReadSide(views), position)
    span = case_span(views, position)
    if span is None:
        return RollSizes(position, [], {})
    first, last = span
    months = [first + offset for offset in range(last.index - first.index + 1)]
    cases: dict[str, list[int]] = defaultdict(lambda: [0] * len(months))
    for slot, month in enumerate(months):
        for total in totals(month):
            cases[total.programme][slot] += total.cases
    return RollSizes(position, months, dict(cases))


def _yuan(value: float, _position: float) -> str:
    return f"¥{value:,.0f}"


def _new_figure() -> Figure:
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _legend_outside(figure: Figure, handles: Sequence[Line2D], title: str) -> Legend:
    axes = figure.axes[0]
    return axes.legend(
        handles=list(handles),
        title=title,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize="small",
    )


def _markers(
    xs: Sequence[float], ys: Sequence[float], fill: Fill, colour: str, label: str = ""
) -> Line2D:
    hollow = fill == "none"
    return Line2D(
        xs,
        ys,
        linestyle="none",
        marker="o",
        markersize=6,
        color=colour,
        markerfacecolor="white" if hollow else colour,
        markerfacecoloralt="white",
        fillstyle="full" if hollow else fill,
        label=label,
    )


def totals_figure(data: YearTotals) -> Figure:
    """One line per programme over the twelve months; a filled marker where the amount was
    paid (closed month), a hollow one where it is entitled (month not closed)."""
    figure = _new_figure()
    axes = figure.add_subplot()
    slots = list(range(12))
    handles: list[Line2D] = []
    for programme in programme_order(data.amounts):
        colour = _colour(programme)
        values = [float(v) for v in data.amounts[programme]]
        (line,) = axes.plot(slots, values, color=colour, linewidth=1.8, label=programme)
        handles.append(line)
        for basis, (fill, _text) in MARKERS.items():
            points = [i for i in slots if data.bases[programme][i] is basis]
            if points:
                axes.add_line(_markers(points, [values[i] for i in points], fill, colour))
    shown = {basis for bases in data.bases.values() for basis in bases}
    handles.extend(
        _markers([], [], fill, "0.3", text)
        for basis, (fill, text) in MARKERS.items()
        if basis in shown
    )
    axes.set_title(
        f"Monthly totals per programme, {data.year}: paid for closed months, "
        f"entitled for months not closed\n(as known at ledger position {data.position})"
    )
    axes.set_xlabel(f"month of {data.year}")
    axes.set_ylabel("amount (yuan)")
    axes.set_xticks(slots, list(MONTH_NAMES))
    axes.set_xlim(-0.5, 11.5)
    axes.yaxis.set_major_formatter(FuncFormatter(_yuan))
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", alpha=0.3)
    if not data.amounts:
        axes.text(0.5, 0.5, "no cases", transform=axes.transAxes, ha="center", va="center")
    _legend_outside(figure, handles, "programme")
    return figure


def roll_figure(data: RollSizes) -> Figure:
    """One line per programme: its open cases in each month of the span."""
    figure = _new_figure()
    axes = figure.add_subplot()
    slots = [m.index for m in data.months]
    handles: list[Line2D] = []
    for programme in programme_order(data.cases):
        (line,) = axes.plot(
            slots,
            data.cases[programme],
            color=_colour(programme),
            linewidth=1.8,
            drawstyle="steps-mid",
            label=programme,
        )
        handles.append(line)
    if data.months:
        first, last = data.months[0], data.months[-1]
        span = f"{first} to {last}"
        if len(data.months) <= 24:
            ticks = slots[:: max(1, len(slots) // 12)]
            labels = [str(Month(i)) for i in ticks]
        else:
            ticks = [i for i in slots if Month(i).month == 1] or slots[:1]
            labels = [str(Month(i).year) for i in ticks]
        axes.set_xticks(ticks, labels)
        axes.set_xlim(first.index - 0.5, last.index + 0.5)
    else:
        span = "no month has a case"
        axes.text(0.5, 0.5, "no cases", transform=axes.transAxes, ha="center", va="center")
    axes.set_title(
        f"Roll size per programme: open cases each month, {span}\n"
        f"(as known at ledger position {data.position})"
    )
    axes.set_xlabel("month")
    axes.set_ylabel("open cases")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", alpha=0.3)
    _legend_outside(figure, handles, "programme")
    return figure


def legend_labels(figure: Figure) -> list[str]:
    """The labels of the legend a chart drew."""
    legend = figure.axes[0].get_legend()
    return [] if legend is None else [text.get_text() for text in legend.get_texts()]


@dataclass(frozen=True)
class Chart:
    path: Path
    legend: list[str]  # the labels of the legend drawn in it


def months_to_read(views: ViewDatabase, year: int, position: int) -> int:
    """How many months' totals the charts read: the year's, and the span that has cases."""
    months = {Month.of(year, m) for m in range(1, 13)}
    span = case_span(views, position)
    if span is not None:
        months |= {Month(i) for i in range(span[0].index, span[1].index + 1)}
    return len(months)


def write_charts(
    views: ViewDatabase,
    year: int,
    position: int,
    directory: Path,
    progress: Callable[[int], None] = lambda _: None,
) -> list[Chart]:
    """Draw both charts as known at ``position`` and write them as PNG files in
    ``directory``; ``progress`` is told how many months' totals were read (of
    ``months_to_read``)."""
    directory.mkdir(parents=True, exist_ok=True)
    totals = _TotalsCache(ReadSide(views), position, progress)
    figures = (
        (f"monthly-totals-{year}.png", totals_figure(year_totals(views, year, position, totals))),
        ("roll-size.png", roll_figure(roll_sizes(views, position, totals))),
    )
    charts = []
    for name, figure in figures:
        path = directory / name
        figure.savefig(path, format="png", dpi=DPI)
        charts.append(Chart(path, legend_labels(figure)))
    return charts
