"""The scheduling page's chart of items synced and errors per day, laid out here and drawn as inline SVG.

Why on the server: a few rectangles need no script library, the page stays within its no-script
Content-Security-Policy, and the layout is a pure function a test reads without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from calsync.services.jobs import DayCounts

WIDTH = 720
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 12, 28


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle: a day's items (``kind="items"``) or errors, with the text a screen reader gets."""

    kind: str
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    """A label on an axis at a position."""

    x: float
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the template draws: the bars, the day labels, the value labels and the plot's frame."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    days: tuple[Tick, ...]
    values: tuple[Tick, ...]
    baseline: float
    left: float
    right: float
    top: float


def layout(counts: Sequence[DayCounts]) -> Chart:
    """Two bars a day (items, errors) on one scale from zero to the largest value, oldest day on the left."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    top = _nice(max([1, *(max(c.items, c.errors) for c in counts)]))
    slot = plot_w / max(1, len(counts))
    bar_w = max(1.0, slot * 0.38)
    baseline = float(_TOP + plot_h)
    bars: list[Bar] = []
    days: list[Tick] = []
    every = max(1, len(counts) // 7)  # at most about seven day labels, so they never overlap
    for index, day in enumerate(counts):
        x = _LEFT + index * slot + slot * 0.1
        for offset, kind, value in ((0.0, "items", day.items), (bar_w, "errors", day.errors)):
            height = plot_h * value / top
            label = f"{day.day.isoformat()}: {value} {'items synced' if kind == 'items' else 'errors'}"
            bars.append(
                Bar(kind, round(x + offset, 1), round(baseline - height, 1), round(bar_w, 1), round(height, 1), label)
            )
        if index % every == 0:
            days.append(Tick(round(x + bar_w, 1), HEIGHT - 8, day.day.strftime("%d %b")))
    values = tuple(Tick(_LEFT - 6, round(baseline - plot_h * v / top, 1), str(v)) for v in (0, top // 2, top))
    return Chart(WIDTH, HEIGHT, tuple(bars), tuple(days), values, baseline, _LEFT, WIDTH - _RIGHT, _TOP)


def _nice(value: int) -> int:
    """The smallest of 1, 2, 5 times 10^k (at least 2, so the middle label is whole) not below ``value``."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= max(2, value):
                return step * scale
        scale *= 10
