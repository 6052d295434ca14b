"""Charts drawn on the server as SVG, in the page itself: no script, no library, and their
text set in the page's own fonts (a CJK font from the system's packages draws the Chinese).

A chart is lines over the twelve months of a year, one per programme; a point is filled
where its figure is final (the month is closed and the amount is what was paid) and hollow
where it is not, as the command line's ``ledger report`` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 16, 40
# One colour per programme, in the bureau's order of programmes (Tableau 10).
COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Decimal | int]
    final: Sequence[bool]  # per point: filled (final) or hollow


def _nice_top(largest: float) -> float:
    if largest <= 0:
        return 1.0
    step = 10 ** (len(str(int(largest))) - 1)
    return float(((int(largest) // step) + 1) * step)


def _tick(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def line_chart(title: str, x_labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """An accessible SVG chart: its title names it to a screen reader, and the same figures
    are in the table beside it."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    # Plotting positions only: the figures shown are the Decimal ones in the page's table.
    largest = max((float(v) for s in series for v in s.values), default=0.0)
    top = _nice_top(largest)
    count = max(len(x_labels), 1)

    def x(slot: int) -> float:
        return LEFT + plot_width * (slot + 0.5) / count

    def y(value: float) -> float:
        return TOP + plot_height * (1 - value / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 28 * len(series)}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for step in range(5):
        value = top * step / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#d0d4da" stroke-width="1"/>'
            f'<text x="{LEFT - 8}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="12">{_tick(value)}</text>'
        )
    for slot, label in enumerate(x_labels):
        parts.append(
            f'<text x="{x(slot):.1f}" y="{HEIGHT - BOTTOM + 20}" text-anchor="middle" '
            f'font-size="12">{escape(label)}</text>'
        )
    for index, line in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(float(v)):.1f}" for i, v in enumerate(line.values))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for i, amount in enumerate(line.values):
            fill = colour if line.final[i] else "#ffffff"
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(float(amount)):.1f}" r="4" fill="{fill}" '
                f'stroke="{colour}" stroke-width="2"><title>{escape(line.label)} '
                f"{escape(x_labels[i])}: {escape(str(amount))}</title></circle>"
            )
        legend_y = HEIGHT + 28 * index + 14
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + 28}" y1="{legend_y}" y2="{legend_y}" '
            f'stroke="{colour}" stroke-width="3"/>'
            f'<text x="{LEFT + 36}" y="{legend_y + 5}" font-size="14" '
            f"data-series={quoteattr(line.label)}>{escape(line.label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
