"""The dashboard in a real browser: Debian's headless chromium, driven by Playwright, against the
real service on a seeded PostgreSQL database.

Never Playwright's own downloaded browsers: the test uses /usr/bin/chromium and FAILS when it
is missing (`DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium`, as `make test`
does), because a skipped browser check reads like a passing one. Screenshots go to
tests/dashboard/artifacts/ (ignored by git) for a person, or CI, to look at.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.dashboard.conftest import ARRIVED, HORIZON, HOSTILE_NAME, Seeded
from tests.fixtures.service import Keys

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORT = {"width": 1280, "height": 900}
HISTORY_POINTS = 200


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium with `{INSTALL}` "
            "(this test never downloads a browser)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def _no_dialogs(page: Page) -> list[str]:
    """Messages of every alert/confirm the page opens: an injected script would open one."""
    opened: list[str] = []

    def record(dialog: object) -> None:
        opened.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", record)
    return opened


def _coordinates(d: str) -> int:
    return len(re.findall(r"[ML]-?[\d.]+,-?[\d.]+", d))


def _assert_real_png(path: Path) -> None:
    """A PNG of the viewport's width with real content: not blank, not a sliver."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == VIEWPORT["width"] and height >= VIEWPORT["height"]
    assert len(data) > 20_000, f"{path} is only {len(data)} bytes: a blank page?"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        if data[offset + 4 : offset + 8] == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    assert len(set(pixels)) > 32, "the screenshot has almost no distinct colours"


def test_login_form_then_overview_and_series_page(
    browser: Browser, base_url: str, keys: Keys, seeded: Seeded
) -> None:
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
    page = context.new_page()
    dialogs = _no_dialogs(page)

    page.goto("/dashboard")
    assert page.url == f"{base_url}/dashboard/login?reason=sign-in"
    page.fill("input[name=key]", keys.read)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard")

    (cookie,) = context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        True,
        "Strict",
        "/dashboard",
    )

    row = page.locator(f"tr[data-series-id='{seeded.series_id}']")
    assert row.locator("td.drift .badge").inner_text() == "alert"
    hostile = page.locator(f"tr[data-series-id='{seeded.hostile_id}'] td a")
    assert hostile.inner_text() == HOSTILE_NAME  # shown as text, not run
    assert keys.read not in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)
    _assert_real_png(ARTIFACTS / "overview.png")

    row.locator("a").click()
    page.wait_for_url(f"{base_url}/dashboard/series/{seeded.series_id}")
    assert page.locator(".drift-state .badge").inner_text() == "alert"

    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base_url}/dashboard/login?reason=signed-out")
    assert context.cookies() == []
    page.goto("/dashboard")
    assert "/dashboard/login" in page.url
    assert dialogs == []
    context.close()


def test_series_page_charts_have_the_data(
    browser: Browser, base_url: str, keys: Keys, seeded: Seeded
) -> None:
    context = browser.new_context(
        base_url=base_url,
        viewport=VIEWPORT,
        extra_http_headers={"Authorization": f"Bearer {keys.read}"},
    )
    page = context.new_page()
    dialogs = _no_dialogs(page)
    response = page.goto(f"/dashboard/series/{seeded.series_id}?points={HISTORY_POINTS}")
    assert response is not None and response.status == 200

    history = page.locator("#history svg.chart path.series")
    assert history.get_attribute("data-points") == str(HISTORY_POINTS)
    assert _coordinates(history.get_attribute("d") or "") == HISTORY_POINTS
    # Drawn, and drawn wide: the line spans most of the chart's width on screen.
    chart_box = page.locator("#history svg.chart").bounding_box()
    line_box = history.bounding_box()
    assert chart_box is not None and line_box is not None
    assert line_box["width"] > 0.8 * chart_box["width"] and line_box["height"] > 20

    forecast = page.locator("#forecast svg.chart")
    median = forecast.locator("path.series-median")
    assert median.get_attribute("data-points") == str(HORIZON)
    assert _coordinates(median.get_attribute("d") or "") == HORIZON
    actual = forecast.locator("path.series-actual")
    assert actual.get_attribute("data-points") == str(ARRIVED)
    assert forecast.locator("circle.marker-actual").count() == ARRIVED
    band = forecast.locator("polygon.band-interval")
    assert band.count() == 1
    assert len((band.get_attribute("points") or "").split()) == 2 * HORIZON
    band_box = band.bounding_box()
    assert band_box is not None and band_box["width"] > 0 and band_box["height"] > 0

    # The forecast history: every stored forecast drawn, with its band, over the actuals.
    past = page.locator("#forecast-history svg.chart")
    assert past.locator("path.series-median").count() == seeded.past_forecasts
    assert past.locator("polygon.band-interval").count() == seeded.past_forecasts
    assert past.locator(".legend .legend-label").all_text_contents() == [
        "lower–upper",
        "actual",
        "median forecasts",
    ]
    past_box = past.locator("path.series-observed").bounding_box()
    assert past_box is not None and past_box["width"] > 0 and past_box["height"] > 0

    # The gate's error by forecast step: a line per compared model, a marker per step.
    gate = page.locator("#gate svg.chart")
    lines = gate.locator("path.series")
    assert lines.count() == seeded.gate_models
    for i in range(lines.count()):
        assert lines.nth(i).get_attribute("data-points") == str(HORIZON)
    assert gate.locator("circle.marker").count() == seeded.gate_models * HORIZON
    assert gate.locator("path.series-candidate").get_attribute("data-label") == "v2"
    assert gate.locator(".legend .legend-label").all_text_contents()[:2] == ["v2", "repeat-last"]
    assert gate.locator(".axis-x text.axis-unit").text_content() == "forecast step"
    assert gate.locator(".axis-y text.axis-unit").text_content() == "mean absolute error (t/h)"
    assert page.locator("#gate tbody tr").count() == seeded.gate_models
    gate_box = gate.locator("path.series-candidate").bounding_box()
    assert gate_box is not None and gate_box["width"] > 0.8 * (chart_box["width"] - 80)

    assert page.locator(".drift-state .badge").inner_text() == "alert"
    drift_rows = page.locator("#drift table tbody tr")
    assert drift_rows.count() == seeded.drift_metrics
    assert drift_rows.first.locator(".badge").inner_text() == "alert"
    mae = page.locator("#drift .small-multiples svg").first.locator("path.series-metric")
    assert mae.get_attribute("data-points") == str(seeded.drift_windows)
    assert page.locator("#drift .small-multiples line.threshold-alert").count() >= 1

    assert page.locator("#runs tbody tr").count() == 3
    assert page.locator("#versions tbody tr").count() == 2
    assert page.locator("#versions tr.current .badge").inner_text() == "active"
    # The candidate table behind the active version, its serving row marked.
    candidates = page.locator("#candidates tbody tr")
    assert candidates.count() == seeded.candidates
    assert page.locator("#candidates tr.current td").first.inner_text() == seeded.serving

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "series.png", full_page=True)
    _assert_real_png(ARTIFACTS / "series.png")
    assert dialogs == []
    context.close()
