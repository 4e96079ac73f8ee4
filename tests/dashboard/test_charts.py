"""The SVG charts: what they draw for empty, single, gapped and hostile data."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from app.dashboard.charts import Band, Line, Threshold, time_chart, with_gaps

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 1, 5, tzinfo=UTC)


def _hours(values: list[float | None]) -> list[tuple[datetime, float | None]]:
    return [(START + timedelta(hours=i), value) for i, value in enumerate(values)]


def _parse(svg: str) -> ET.Element:
    # Well-formed XML: a stray unescaped character would fail here.
    return ET.fromstring(svg)


def _paths(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{SVG}path")


def _coordinates(path: ET.Element) -> list[tuple[str, float, float]]:
    return [
        (command, float(x), float(y))
        for command, x, y in re.findall(r"([ML])(-?[\d.]+),(-?[\d.]+)", path.get("d", ""))
    ]


def test_empty_data_says_so_instead_of_drawing_axes() -> None:
    for chart in (
        time_chart(title="nothing"),
        time_chart(title="all missing", lines=[Line("x", _hours([None, float("nan")]))]),
    ):
        root = _parse(chart)
        assert _paths(root) == []
        assert root.findall(f".//{SVG}line") == []
        texts = [element.text for element in root.iter(f"{SVG}text")]
        assert "no data" in texts


def test_one_point_is_a_move_and_a_dot() -> None:
    root = _parse(time_chart(title="one", lines=[Line("x", _hours([42.0]))]))
    (path,) = _paths(root)
    assert [command for command, _, _ in _coordinates(path)] == ["M"]
    assert path.get("data-points") == "1"
    (dot,) = root.findall(f".//{SVG}circle")
    # The lone point sits inside the plot, not on an edge or outside it.
    assert 64 < float(dot.get("cx", "0")) < 760 - 16
    assert 40 < float(dot.get("cy", "0")) < 260 - 40


def test_nan_and_none_are_gaps_not_zeros() -> None:
    values = [10.0, 11.0, float("nan"), 12.0, 13.0, None, 14.0, 15.0, float("inf"), 16.0]
    root = _parse(time_chart(title="gaps", lines=[Line("x", _hours(values))]))
    (path,) = _paths(root)
    coordinates = _coordinates(path)
    finite = [value for value in values if value is not None and math.isfinite(value)]
    assert path.get("data-points") == str(len(finite)) == str(len(coordinates))
    # A new run starts after each gap: M for 10, 12, 14 and 16.
    assert [command for command, _, _ in coordinates].count("M") == 4
    # Zero is below every value: a gap drawn as zero would be the lowest point of the line.
    ys = [y for _, _, y in coordinates]
    lowest_value_y = ys[0]  # 10.0 is the smallest value
    assert max(ys) == pytest.approx(lowest_value_y)
    # The lone 16.0 after the infinite value gets a dot of its own.
    assert len(root.findall(f".//{SVG}circle")) == 1


def test_points_are_placed_in_time_order_and_scale() -> None:
    root = _parse(time_chart(title="ramp", lines=[Line("x", _hours([0.0, 1.0, 2.0, 3.0]))]))
    coordinates = _coordinates(_paths(root)[0])
    xs, ys = [x for _, x, _ in coordinates], [y for _, _, y in coordinates]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert ys == sorted(ys, reverse=True)  # larger values are higher up: smaller y
    steps = [b - a for a, b in pairwise(xs)]
    assert max(steps) - min(steps) < 0.2  # evenly spaced hours, evenly spaced pixels


def test_band_is_one_polygon_per_run_and_lines_have_markers() -> None:
    median = _hours([5.0, 6.0, 7.0, 8.0])
    band = [(ts, value - 1, value + 1) for ts, value in median]
    band[2] = (band[2][0], None, 9.0)
    actual = _hours([5.5, None, None, None])
    root = _parse(
        time_chart(
            title="forecast",
            lines=[Line("median", median, "median"), Line("actual", actual, "actual", True)],
            bands=[Band("interval", band)],
            thresholds=[Threshold("alert", 20.0, "alert")],
        )
    )
    polygons = root.findall(f".//{SVG}polygon")
    assert [polygon.get("data-points") for polygon in polygons] == ["2", "1"]
    assert len(polygons[0].get("points", "").split()) == 4  # upper there, lower back
    assert len(root.findall(f".//{SVG}circle")) == 1
    # The threshold is in view although no data come near it.
    (threshold,) = [e for e in root.iter(f"{SVG}line") if "threshold" in e.get("class", "")]
    assert float(threshold.get("y1", "-1")) >= 40


def test_time_axis_labels_hours_and_days() -> None:
    root = _parse(time_chart(title="two days", lines=[Line("x", _hours([1.0] * 48))]))
    labels = [span.text for span in root.iter(f"{SVG}tspan")]
    assert "00:00" in labels and "12:00" in labels
    assert "05 Jan" in labels and "06 Jan" in labels
    assert "UTC" in [element.text for element in root.iter(f"{SVG}text")]


def test_hostile_labels_are_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    chart = time_chart(title=hostile, lines=[Line(hostile, _hours([1.0, 2.0]), markers=True)])
    assert "<script>" not in chart
    root = _parse(chart)
    assert root.find(f"{SVG}title").text == hostile  # type: ignore[union-attr]
    assert _paths(root)[0].get("data-label") == hostile


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        time_chart(title="naive", lines=[Line("x", [(datetime(2026, 1, 1), 1.0)])])


def test_with_gaps_breaks_the_line_over_a_stop() -> None:
    points = _hours([1.0, 2.0, 3.0, 4.0])
    stopped = points[:2] + [(ts + timedelta(hours=5), value) for ts, value in points[2:]]
    gapped = with_gaps(stopped)
    assert [value for _, value in gapped] == [1.0, 2.0, None, 3.0, 4.0]
    assert with_gaps(points) == points
    root = _parse(time_chart(title="stop", lines=[Line("x", gapped)]))
    commands = [command for command, _, _ in _coordinates(_paths(root)[0])]
    assert commands == ["M", "L", "M", "L"]
