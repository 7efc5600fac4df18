"""A bar chart drawn on the server as inline SVG: no chart library, no script, no CDN.

:func:`bar_chart` turns a run of values into bar rectangles in a fixed view box; the template
(``chart.html``) draws them with ``<rect>`` elements (presentation attributes only: the page's
Content-Security-Policy refuses inline styles) and a table beside it says the same in text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 160
# Room under the bars for the first and last day's labels.
LABEL_ROOM = 18
GAP = 0.2  # the share of each slot left empty between bars


@dataclass(frozen=True)
class Bar:
    """One bar: its label (e.g. a day), value and rectangle in the view box."""

    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class BarChart:
    """The bars, the view box and the largest value (the top of the scale)."""

    bars: list[Bar]
    width: int
    height: int
    baseline: float
    top: int


def bar_chart(points: Sequence[tuple[str, int]]) -> BarChart:
    """Bars for ``points`` (label, value >= 0), left to right, scaled to the largest value.

    A zero gets no height (an empty slot); a non-zero value at least one unit, so it shows.
    """
    baseline = HEIGHT - LABEL_ROOM
    top = max((value for _, value in points), default=0)
    slot = WIDTH / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        height = 0.0 if top == 0 or value <= 0 else max(1.0, baseline * value / top)
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(index * slot + slot * GAP / 2, 2),
                y=round(baseline - height, 2),
                width=round(slot * (1 - GAP), 2),
                height=round(height, 2),
            )
        )
    return BarChart(bars=bars, width=WIDTH, height=HEIGHT, baseline=baseline, top=top)
