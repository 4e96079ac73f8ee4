"""The dashboard's pages over HTTP: who gets in, what they see, and what never shows."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from app.auth import DASHBOARD_COOKIE
from tests.dashboard.conftest import ARRIVED, HORIZON, HOSTILE_NAME, Seeded
from tests.fixtures.service import Keys

SVG = "{http://www.w3.org/2000/svg}"
ESCAPED_HOSTILE = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _charts(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)]


def _series_paths(chart: ET.Element) -> dict[str, ET.Element]:
    return {
        path.get("data-label", ""): path
        for path in chart.iter(f"{SVG}path")
        if "series" in path.get("class", "")
    }


@pytest.fixture
def browserless(base_url: str) -> Iterator[httpx.Client]:
    """A client with no key that does not follow redirects."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def _with_cookie(client: httpx.Client, key: str) -> dict[str, str]:
    return {"Cookie": f"{DASHBOARD_COOKIE}={key}"}


def test_pages_need_a_key_and_send_the_browser_to_the_login_form(
    browserless: httpx.Client, seeded: Seeded
) -> None:
    for path in ("/dashboard", f"/dashboard/series/{seeded.series_id}"):
        response = browserless.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login?reason=sign-in"
        assert "set-cookie" not in response.headers
    form = browserless.get("/dashboard/login?reason=sign-in")
    assert form.status_code == 200
    assert "Sign in with an API key" in form.text
    assert 'type="password"' in form.text


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_every_role_may_read_with_the_header_or_the_cookie(
    browserless: httpx.Client, keys: Keys, seeded: Seeded, role: str
) -> None:
    key = getattr(keys, role)
    for headers in ({"Authorization": f"Bearer {key}"}, _with_cookie(browserless, key)):
        response = browserless.get("/dashboard", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert key not in response.text


def test_a_revoked_key_is_no_key_and_its_cookie_is_cleared(
    browserless: httpx.Client, keys: Keys, seeded: Seeded
) -> None:
    for headers in (
        {"Authorization": f"Bearer {keys.revoked}"},
        _with_cookie(browserless, keys.revoked),
        _with_cookie(browserless, "lc_000000000000_not-a-key"),
    ):
        response = browserless.get(f"/dashboard/series/{seeded.series_id}", headers=headers)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login?reason=invalid"
        cleared = response.headers["set-cookie"]
        assert cleared.startswith(f'{DASHBOARD_COOKIE}=""') and "Max-Age=0" in cleared
    message = browserless.get("/dashboard/login?reason=invalid")
    assert "no longer valid" in message.text


def test_the_login_message_is_chosen_never_echoed(browserless: httpx.Client) -> None:
    response = browserless.get("/dashboard/login", params={"reason": "<b>pwned</b>"})
    assert response.status_code == 200
    assert "pwned" not in response.text


def test_login_sets_a_strict_http_only_cookie_that_opens_the_dashboard(
    browserless: httpx.Client, keys: Keys, seeded: Seeded
) -> None:
    response = browserless.post("/dashboard/login", data={"key": keys.read})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{DASHBOARD_COOKIE}={keys.read};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= attributes
    assert "secure" not in attributes  # plain http here; https requests get Secure
    page = browserless.get("/dashboard", headers=_with_cookie(browserless, keys.read))
    assert page.status_code == 200
    # The cookie opens the dashboard only, never the JSON API.
    api = browserless.get("/v1/series", headers=_with_cookie(browserless, keys.read))
    assert api.status_code == 401


@pytest.mark.parametrize(
    ("key", "status", "message"),
    [("", 400, "Enter a key"), ("lc_000000000000_guess", 401, "not valid"), (None, 401, "")],
)
def test_login_refuses_a_bad_key_without_echoing_it(
    browserless: httpx.Client, keys: Keys, key: str | None, status: int, message: str
) -> None:
    sent = keys.revoked if key is None else key
    response = browserless.post("/dashboard/login", data={"key": sent})
    assert response.status_code == status
    assert message in response.text
    assert "set-cookie" not in response.headers
    if sent:
        assert sent not in response.text


def test_forms_posted_from_another_site_are_refused(browserless: httpx.Client, keys: Keys) -> None:
    evil = {"Origin": "https://evil.example"}
    login = browserless.post("/dashboard/login", data={"key": keys.read}, headers=evil)
    assert login.status_code == 403
    assert "set-cookie" not in login.headers
    assert browserless.post("/dashboard/logout", headers=evil).status_code == 403
    # Behind a proxy that rewrites Host, the host the browser saw is X-Forwarded-Host.
    proxied = {"Origin": "https://ops.example", "X-Forwarded-Host": "ops.example"}
    assert browserless.post("/dashboard/logout", headers=proxied).status_code == 303


def test_logout_clears_the_cookie(browserless: httpx.Client, keys: Keys) -> None:
    response = browserless.post("/dashboard/logout", headers=_with_cookie(browserless, keys.read))
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login?reason=signed-out"
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f'{DASHBOARD_COOKIE}=""') and "Max-Age=0" in cleared


def test_overview_lists_every_series_with_its_state(reader: httpx.Client, seeded: Seeded) -> None:
    response = reader.get("/dashboard")
    assert response.status_code == 200
    html = response.text
    row = re.search(rf'<tr class="live" data-series-id="{seeded.series_id}">(.*?)</tr>', html, re.S)
    assert row is not None
    assert f'href="/dashboard/series/{seeded.series_id}"' in row.group(1)
    assert 'class="badge badge-alert"' in row.group(1)
    assert "v2" in row.group(1)
    assert 'class="badge badge-queued"' in row.group(1)  # the last run
    hostile = re.search(rf'<tr class="archived" data-series-id="{seeded.hostile_id}">', html)
    assert hostile is not None


def test_a_hostile_series_name_is_escaped_everywhere(reader: httpx.Client, seeded: Seeded) -> None:
    for path in ("/dashboard", f"/dashboard/series/{seeded.hostile_id}"):
        html = reader.get(path).text
        assert ESCAPED_HOSTILE in html
        assert HOSTILE_NAME not in html
        assert "<script" not in html


def test_the_series_page_draws_history_forecast_and_drift(
    reader: httpx.Client, seeded: Seeded
) -> None:
    response = reader.get(f"/dashboard/series/{seeded.series_id}", params={"points": 100})
    assert response.status_code == 200
    html = response.text
    history, forecast, past, *drift, gate = _charts(html)

    (observed,) = _series_paths(history).values()
    assert observed.get("data-points") == "100"
    assert len(re.findall(r"[ML]", observed.get("d", ""))) == 100

    lines = _series_paths(forecast)
    assert lines["median forecast"].get("data-points") == str(HORIZON)
    assert lines["actual"].get("data-points") == str(ARRIVED)
    assert len(list(forecast.iter(f"{SVG}circle"))) >= ARRIVED
    (band,) = forecast.iter(f"{SVG}polygon")
    assert band.get("data-points") == str(HORIZON)
    assert int(lines["observed before"].get("data-points", "0")) > 0

    # The forecast history: one median line and band per stored forecast, over the actuals.
    medians = [p for p in past.iter(f"{SVG}path") if "series-median" in p.get("class", "")]
    assert [p.get("data-points") for p in medians] == [str(HORIZON)] * seeded.past_forecasts
    assert len(list(past.iter(f"{SVG}polygon"))) == seeded.past_forecasts
    assert int(_series_paths(past)["actual"].get("data-points", "0")) > HORIZON
    legend = [t.text for t in past.iter(f"{SVG}text") if t.get("class") == "legend-label"]
    assert legend == ["lower–upper", "actual", "median forecasts"]  # each named once

    # The gate's error by forecast step: every compared model, a point per step, axes named.
    assert gate.findtext(f"{SVG}title", "").startswith("Gate of v2: error by forecast step")
    steps = _series_paths(gate)
    assert len(steps) == seeded.gate_models
    assert {"v2", "repeat-last"} <= set(steps)
    assert all(path.get("data-points") == str(HORIZON) for path in steps.values())
    labels = ET.tostring(gate, encoding="unicode")
    assert "forecast step" in labels and "mean absolute error (t/h)" in labels

    assert len(drift) == seeded.drift_metrics
    assert drift[0].find(f"{SVG}title").text == "performance · mae"  # type: ignore[union-attr]
    (mae,) = _series_paths(drift[0]).values()
    assert mae.get("data-points") == str(seeded.drift_windows)
    unknown = next(chart for chart in drift if "stationarity" in chart.findtext(f"{SVG}title", ""))
    assert "no data" in ET.tostring(unknown, encoding="unicode")

    assert 'drift <span class="badge badge-alert">alert</span>' in html
    assert "validation loss diverged" in html
    assert "backtest error 3.25 beats v1" in html
    section = html[html.index('id="candidates"') :]
    assert f"v2 serves <strong>{seeded.serving}</strong>" in section
    assert section.count("<tr") == seeded.candidates + 1  # and the header row
    assert f"actuals arrived for <strong>{ARRIVED}</strong>" in html


def test_pages_run_no_script_and_forbid_it(reader: httpx.Client, seeded: Seeded) -> None:
    for path in ("/dashboard", f"/dashboard/series/{seeded.series_id}", "/dashboard/login"):
        response = reader.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text
        # Nothing fetched from elsewhere: the only absolute URL is SVG's namespace name.
        text = response.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text


def test_the_stylesheet_is_served_by_the_app(browserless: httpx.Client) -> None:
    response = browserless.get("/dashboard/static/dashboard.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "@import" not in response.text and "url(" not in response.text


def test_unknown_series_and_bad_parameters(reader: httpx.Client, seeded: Seeded) -> None:
    missing = reader.get("/dashboard/series/999999")
    assert missing.status_code == 404
    assert "Series 999999 not found" in missing.text
    assert reader.get(f"/dashboard/series/{seeded.series_id}?points=5").status_code == 422
    assert reader.get("/dashboard/series/0").status_code == 422
    assert reader.get("/dashboard/series/1099511627776").status_code == 422  # was a 500
