"""Server-side SVG charts for the dashboard: time across, values up, lines, bands and thresholds.

Pure string building, so a page needs no JavaScript and fetches nothing from anywhere. Every
piece of text is escaped here and the result is `Markup`, safe in an autoescaped template.
What a chart guarantees, and the tests check:

- a value that is None, NaN or infinite is a gap: the line lifts its pen there and never
  draws it as zero; a point alone between gaps still shows, as a dot;
- a line of n finite points has exactly n coordinate pairs in its path's `d` (one `M` per
  run of points, `L` for the rest) and says `data-points="n"`;
- an interval band is one polygon per run of points whose lower and upper are both finite;
- a chart with nothing to draw says "no data" in words instead of drawing empty axes;
- the legend names each (label, style) once, however many lines or bands share it (the
  forecast history draws one line and one band per forecast).

`step_chart` draws the same lines over forecast steps (1, 2, ...) instead of time.

Times must be timezone-aware and are labelled in UTC, as the rest of the service speaks UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from itertools import pairwise
from typing import Literal

from markupsafe import Markup

# The styles are CSS class suffixes (see static/dashboard.css), so they are a closed set.
LineStyle = Literal[
    "observed", "median", "actual", "metric", "candidate", "incumbent", "naive", "baseline"
]
BandStyle = Literal["interval"]
ThresholdStyle = Literal["warn", "alert"]

Value = float | None

_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 16, 40, 40
_TARGET_TICKS = 5
_MINUTE, _HOUR, _DAY = 60, 3600, 86400
# Tick spacings a reader counts in without thinking; the smallest giving at most 7 ticks wins.
_TIME_STEPS = (
    _MINUTE,
    5 * _MINUTE,
    15 * _MINUTE,
    30 * _MINUTE,
    _HOUR,
    3 * _HOUR,
    6 * _HOUR,
    12 * _HOUR,
    _DAY,
    2 * _DAY,
    7 * _DAY,
    14 * _DAY,
    28 * _DAY,
    91 * _DAY,
    364 * _DAY,
)
_MAX_TIME_TICKS = 7
_MAX_STEP_TICKS = 12
# A chart with one instant still needs a width of time to place it in.
_LONE_INSTANT_PAD_S = _HOUR
# Width of a legend entry per character of its label, and the swatch before it.
_LEGEND_CHAR_PX, _LEGEND_SWATCH_PX = 7, 22


@dataclass(frozen=True)
class Line:
    """A polyline over time; `markers` draws a dot per point (sparse data such as actuals)."""

    label: str
    points: Sequence[tuple[datetime, Value]]
    style: LineStyle = "observed"
    markers: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded interval over time: (time, lower, upper) per point."""

    label: str
    points: Sequence[tuple[datetime, Value, Value]]
    style: BandStyle = "interval"


@dataclass(frozen=True)
class Threshold:
    """A horizontal reference line, such as a drift metric's warn or alert level."""

    label: str
    value: float
    style: ThresholdStyle = "warn"


@dataclass(frozen=True)
class _Frame:
    """The plot area in pixels and the data ranges it shows; maps data to pixels."""

    width: int
    height: int
    t0: float
    t1: float
    y0: float
    y1: float

    @property
    def left(self) -> float:
        return _MARGIN_LEFT

    @property
    def right(self) -> float:
        return self.width - _MARGIN_RIGHT

    @property
    def top(self) -> float:
        return _MARGIN_TOP

    @property
    def bottom(self) -> float:
        return self.height - _MARGIN_BOTTOM

    def x(self, seconds: float) -> float:
        return self.left + (seconds - self.t0) / (self.t1 - self.t0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def time_chart(
    *,
    title: str,
    lines: Sequence[Line] = (),
    bands: Sequence[Band] = (),
    thresholds: Sequence[Threshold] = (),
    width: int = 760,
    height: int = 260,
    unit: str | None = None,
) -> Markup:
    """An SVG chart of `lines` over `bands` (drawn first, so lines stay visible on top).

    Thresholds widen the value range so they are always in view. `unit` labels the value axis.
    """
    if width <= _MARGIN_LEFT + _MARGIN_RIGHT or height <= _MARGIN_TOP + _MARGIN_BOTTOM:
        raise ValueError(f"a chart of {width}x{height} pixels leaves no room to plot")
    times, values = _extent(lines, bands)
    parts = [_open_svg(title, width, height)]
    if not times:
        parts.append(_text(width / 2, height / 2, "no data", "chart-empty", anchor="middle"))
        parts.append("</svg>")
        return Markup("".join(parts))
    values += [threshold.value for threshold in thresholds if _finite(threshold.value)]
    t0, t1 = _padded(min(times), max(times), _LONE_INSTANT_PAD_S)
    value_ticks = _value_ticks(min(values), max(values))
    frame = _Frame(width, height, t0, t1, value_ticks[0], value_ticks[-1])
    parts += _axes(frame, value_ticks, unit)
    parts += (_band(frame, band) for band in bands)
    parts += (_threshold(frame, threshold) for threshold in thresholds)
    for line in lines:
        parts += _line(frame, line)
    parts.append(_legend(width, lines, bands, thresholds))
    parts.append("</svg>")
    return Markup("".join(parts))


def with_gaps(
    points: Sequence[tuple[datetime, Value]], factor: float = 1.5
) -> list[tuple[datetime, Value]]:
    """`points` (in time order) with a None wherever a spacing exceeds `factor` times the
    median spacing, so a line breaks over a stop of the line instead of bridging it."""
    if len(points) < 3:
        return list(points)
    spacings = sorted((later[0] - earlier[0]) for earlier, later in pairwise(points))
    limit = factor * spacings[len(spacings) // 2]
    gapped: list[tuple[datetime, Value]] = [points[0]]
    for earlier, later in pairwise(points):
        if later[0] - earlier[0] > limit:
            gapped.append((earlier[0] + (later[0] - earlier[0]) / 2, None))
        gapped.append(later)
    return gapped


@dataclass(frozen=True)
class StepLine:
    """A polyline over forecast steps: (step, value) per point, such as an error by step."""

    label: str
    points: Sequence[tuple[int, Value]]
    style: LineStyle = "observed"


def step_chart(
    *,
    title: str,
    lines: Sequence[StepLine],
    value_label: str,
    width: int = 760,
    height: int = 260,
) -> Markup:
    """An SVG chart of `lines` over forecast steps, every point marked (a few steps each);
    `value_label` names the value axis, the step axis is labelled "forecast step"."""
    if width <= _MARGIN_LEFT + _MARGIN_RIGHT or height <= _MARGIN_TOP + _MARGIN_BOTTOM:
        raise ValueError(f"a chart of {width}x{height} pixels leaves no room to plot")
    points = [
        (float(step), value) for line in lines for step, value in line.points if _finite(value)
    ]
    parts = [_open_svg(title, width, height)]
    if not points:
        parts.append(_text(width / 2, height / 2, "no data", "chart-empty", anchor="middle"))
        parts.append("</svg>")
        return Markup("".join(parts))
    steps = [step for step, _ in points]
    values = [value for _, value in points if value is not None]
    s0, s1 = _padded(min(steps), max(steps), 1.0)
    value_ticks = _value_ticks(min(values), max(values))
    frame = _Frame(width, height, s0, s1, value_ticks[0], value_ticks[-1])
    parts += _step_axes(frame, value_ticks, value_label)
    for line in lines:
        parts += _step_line(frame, line)
    parts.append(_legend(width, lines))
    parts.append("</svg>")
    return Markup("".join(parts))


def _step_axes(frame: _Frame, value_ticks: list[float], value_label: str) -> list[str]:
    parts = ['<g class="axis axis-y">']
    decimals = _decimals(value_ticks[1] - value_ticks[0])
    for tick in value_ticks:
        y = frame.y(tick)
        parts.append(_segment(frame.left, y, frame.right, y, "gridline"))
        parts.append(_text(frame.left - 6, y + 4, f"{tick:,.{decimals}f}", "tick", anchor="end"))
    # Along the axis, turned: a label of several words would run into the legend on top.
    middle = (frame.top + frame.bottom) / 2
    parts.append(
        f'<text class="axis-unit" x="12" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {middle:.1f})">{escape(value_label)}</text>'
    )
    parts.append('</g><g class="axis axis-x">')
    parts.append(_segment(frame.left, frame.bottom, frame.right, frame.bottom, "baseline"))
    first, last = math.ceil(frame.t0), math.floor(frame.t1)
    every = max(1, math.ceil((last - first + 1) / _MAX_STEP_TICKS))
    for step in range(first, last + 1, every):
        x = frame.x(step)
        parts.append(_segment(x, frame.bottom, x, frame.bottom + 4, "tick-mark"))
        parts.append(_text(x, frame.bottom + 16, str(step), "tick", anchor="middle"))
    parts.append(_text(frame.right, frame.height - 2, "forecast step", "axis-unit", anchor="end"))
    parts.append("</g>")
    return parts


def _step_line(frame: _Frame, line: StepLine) -> Iterator[str]:
    runs = list(_runs([(float(step), value) for step, value in line.points]))
    label = escape(line.label)
    yield _path(frame, line.style, label, runs)
    for run in runs:
        for t, v in run:
            yield (
                f'<circle class="marker marker-{line.style}" cx="{frame.x(t):.1f}" '
                f'cy="{frame.y(v):.1f}" r="3"><title>{label}: {_number(v)} at step {t:.0f}'
                "</title></circle>"
            )


def _path(frame: _Frame, style: str, label: str, runs: list[list[tuple[float, float]]]) -> str:
    """One line's SVG path: a move to the start of each run of points, lines within it, so
    a gap stays a gap; `label` is escaped already."""
    commands = [
        f"{'L' if i else 'M'}{frame.x(t):.1f},{frame.y(v):.1f}"
        for run in runs
        for i, (t, v) in enumerate(run)
    ]
    count = sum(len(run) for run in runs)
    return (
        f'<path class="series series-{style}" fill="none" data-label="{label}" '
        f'data-points="{count}" d="{" ".join(commands)}"/>'
    )


def _open_svg(title: str, width: int, height: int) -> str:
    # The <title> first child is the image's accessible name (and a hover tooltip).
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
        + _text(_MARGIN_LEFT, 18, title, "chart-title")
    )


def _axes(frame: _Frame, value_ticks: list[float], unit: str | None) -> list[str]:
    parts = ['<g class="axis axis-y">']
    decimals = _decimals(value_ticks[1] - value_ticks[0])
    for tick in value_ticks:
        y = frame.y(tick)
        parts.append(_segment(frame.left, y, frame.right, y, "gridline"))
        parts.append(_text(frame.left - 6, y + 4, f"{tick:,.{decimals}f}", "tick", anchor="end"))
    if unit:
        parts.append(_text(4, frame.top - 8, unit, "axis-unit"))
    parts.append('</g><g class="axis axis-x">')
    parts.append(_segment(frame.left, frame.bottom, frame.right, frame.bottom, "baseline"))
    previous_day = None
    for seconds in _time_ticks(frame.t0, frame.t1):
        x = frame.x(seconds)
        stamp = datetime.fromtimestamp(seconds, UTC)
        parts.append(_segment(x, frame.bottom, x, frame.bottom + 4, "tick-mark"))
        day = stamp.strftime("%d %b")
        lines = [stamp.strftime("%H:%M")]
        if day != previous_day:
            lines.append(day)
        previous_day = day
        parts.append(_text_lines(x, frame.bottom + 16, lines))
    parts.append(_text(frame.right, frame.height - 2, "UTC", "axis-unit", anchor="end"))
    parts.append("</g>")
    return parts


def _line(frame: _Frame, line: Line) -> Iterator[str]:
    runs = list(_runs([(_seconds(ts), value) for ts, value in line.points]))
    label = escape(line.label)
    yield _path(frame, line.style, label, runs)
    for run in runs:
        if line.markers or len(run) == 1:
            # A lone point between gaps has no segment to draw: a dot keeps it visible.
            for t, v in run:
                when = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")
                yield (
                    f'<circle class="marker marker-{line.style}" cx="{frame.x(t):.1f}" '
                    f'cy="{frame.y(v):.1f}" r="3"><title>{label}: {_number(v)} at {when}'
                    "</title></circle>"
                )


def _band(frame: _Frame, band: Band) -> str:
    polygons = []
    for run in _band_runs(band.points):
        upper = [f"{frame.x(t):.1f},{frame.y(high):.1f}" for t, _, high in run]
        lower = [f"{frame.x(t):.1f},{frame.y(low):.1f}" for t, low, _ in reversed(run)]
        polygons.append(
            f'<polygon class="band band-{band.style}" data-label="{escape(band.label)}" '
            f'data-points="{len(run)}" points="{" ".join(upper + lower)}"/>'
        )
    return "".join(polygons)


def _threshold(frame: _Frame, threshold: Threshold) -> str:
    y = frame.y(threshold.value)
    return _segment(frame.left, y, frame.right, y, f"threshold threshold-{threshold.style}")


def _legend(
    width: int,
    lines: Sequence[Line | StepLine],
    bands: Sequence[Band] = (),
    thresholds: Sequence[Threshold] = (),
) -> str:
    entries = [(band.label, f"band-{band.style}") for band in bands]
    entries += [(line.label, f"series-{line.style}") for line in lines]
    entries += [(t.label, f"threshold-{t.style}") for t in thresholds]
    parts, x = ['<g class="legend">'], float(_MARGIN_LEFT)
    for label, style in dict.fromkeys(entries):
        parts.append(f'<rect class="swatch {style}" x="{x:.0f}" y="26" width="14" height="4"/>')
        parts.append(_text(x + 18, 31, label, "legend-label"))
        x += _LEGEND_SWATCH_PX + _LEGEND_CHAR_PX * len(label)
        if x > width - _MARGIN_RIGHT:
            break  # what does not fit is left out rather than drawn over the plot
    parts.append("</g>")
    return "".join(parts)


def _extent(lines: Sequence[Line], bands: Sequence[Band]) -> tuple[list[float], list[float]]:
    """The instants (epoch seconds) and values of every finite point to be drawn."""
    times: list[float] = []
    values: list[float] = []
    for line in lines:
        for t, value in _finite_points(line.points):
            times.append(t)
            values.append(value)
    for band in bands:
        for run in _band_runs(band.points):
            for t, low, high in run:
                times.append(t)
                values += (low, high)
    return times, values


def _finite_points(points: Sequence[tuple[datetime, Value]]) -> Iterator[tuple[float, float]]:
    for ts, value in points:
        if value is not None and math.isfinite(value):
            yield _seconds(ts), value


def _runs(points: list[tuple[float, Value]]) -> Iterator[list[tuple[float, float]]]:
    """Maximal runs of finite values, in time order."""
    run: list[tuple[float, float]] = []
    for t, value in sorted(points, key=lambda point: point[0]):
        if value is not None and math.isfinite(value):
            run.append((t, value))
        elif run:
            yield run
            run = []
    if run:
        yield run


def _band_runs(
    points: Sequence[tuple[datetime, Value, Value]],
) -> Iterator[list[tuple[float, float, float]]]:
    run: list[tuple[float, float, float]] = []
    for ts, low, high in sorted(points, key=lambda point: point[0]):
        if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
            run.append((_seconds(ts), low, high))
        elif run:
            yield run
            run = []
    if run:
        yield run


def _value_ticks(low: float, high: float) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high - low < 1e-12 * max(1.0, abs(high)):
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / _TARGET_TICKS
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [k * step for k in range(first, last + 1)]


def _time_ticks(t0: float, t1: float) -> list[float]:
    step = next((s for s in _TIME_STEPS if (t1 - t0) / s <= _MAX_TIME_TICKS), _TIME_STEPS[-1])
    first = math.ceil(t0 / step) * step
    return [float(t) for t in range(int(first), int(t1) + 1, step)]


def _padded(low: float, high: float, pad: float) -> tuple[float, float]:
    return (low - pad, high + pad) if high == low else (low, high)


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step)))


def _number(value: float) -> str:
    return f"{value:.4g}"


def _seconds(ts: datetime) -> float:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts.isoformat()} in chart data: give it a timezone")
    return ts.timestamp()


def _finite(value: Value) -> bool:
    return value is not None and math.isfinite(value)


def _segment(x1: float, y1: float, x2: float, y2: float, css: str) -> str:
    return f'<line class="{css}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


def _text(x: float, y: float, text: str, css: str, anchor: str = "start") -> str:
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _text_lines(x: float, y: float, lines: list[str]) -> str:
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{"0" if i == 0 else "1.2em"}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text class="tick" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{spans}</text>'
