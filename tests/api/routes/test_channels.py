"""Channels through REST: declared at creation, carried by uploads (JSON and CSV), read back;
undeclared names and bad values refused with nothing stored; plans stored ahead of readings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import Snapshot
from tests.api.covariate_line import CHANNELS


@pytest.fixture
def channel_series(make_series: Callable[..., dict[str, Any]]) -> int:
    return make_series(name="plant-c/line-1/throughput", frequency="h", channels=CHANNELS)["id"]


def _upload(client: httpx.Client, series_id: int, items: Any) -> httpx.Response:
    return client.post(f"/v1/series/{series_id}/observations", json={"items": items})


def test_json_readings_and_plans_are_stored_and_read_back(
    writer: httpx.Client, reader: httpx.Client, channel_series: int
) -> None:
    items = [
        {"ts": "2026-01-05T00:00:00Z", "value": 1.0, "covariates": {"setpoint": 1.5}},
        {"ts": "2026-01-05T01:00:00Z", "value": 2.0},
        {"ts": "2026-01-05T02:00:00Z", "covariates": {"setpoint": 3.0, "shift": 1.0}},
    ]
    answer = _upload(writer, channel_series, items)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"inserted": 2, "updated": 0, "unchanged": 0, "covariates": 2}
    # Merged by name: a later shift plan keeps the setpoint stored at the same stamp.
    later = [{"ts": "2026-01-05T00:00:00Z", "covariates": {"shift": 0.0}}]
    assert _upload(writer, channel_series, later).status_code == 200
    page = reader.get(f"/v1/series/{channel_series}/observations").json()
    # The plan-only stamp is not a reading.
    assert page["items"] == [
        {"ts": "2026-01-05T00:00:00Z", "value": 1.0, "covariates": {"setpoint": 1.5, "shift": 0.0}},
        {"ts": "2026-01-05T01:00:00Z", "value": 2.0},
    ]


def test_csv_channel_columns_and_plan_rows(
    writer: httpx.Client, reader: httpx.Client, channel_series: int
) -> None:
    text = (
        "timestamp,value,setpoint,motor_current\n"
        "2026-01-05T00:00:00Z,1.0,1.5,0.1\n"
        "2026-01-05T01:00:00Z,2.0,,\n"
        "2026-01-05T02:00:00Z,,3.0,\n"
    )
    answer = writer.post(
        f"/v1/series/{channel_series}/observations/csv",
        files={"file": ("line.csv", text.encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"inserted": 2, "updated": 0, "unchanged": 0, "covariates": 2}
    items = reader.get(f"/v1/series/{channel_series}/observations").json()["items"]
    assert items[0]["covariates"] == {"setpoint": 1.5, "motor_current": 0.1}
    assert "covariates" not in items[1]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [
                {"ts": "2026-01-05T00:00:00Z", "value": 1.0},
                {"ts": "2026-01-05T01:00:00Z", "value": 1.0, "covariates": {"speed": 2.0}},
            ],
            "row 1: 'speed' is not a channel of the series",
        ),
        ([{"ts": "2026-01-05T00:00:00Z", "covariates": {"setpoint": "x"}}], "valid number"),
        ([{"ts": "2026-01-05T00:00:00Z", "covariates": {"setpoint": None}}], "valid number"),
        ([{"ts": "2026-01-05T00:00:00Z", "covariates": {"setpoint": 1e300}}], "less than"),
        ([{"ts": "2026-01-05T00:00:00Z", "covariates": {}}], "at least 1 item"),
        ([{"ts": "2026-01-05T00:00:00Z", "value": None}], "valid number"),
    ],
)
def test_undeclared_channels_and_bad_values_are_422_and_store_nothing(
    items: Any,
    message: str,
    writer: httpx.Client,
    channel_series: int,
    snapshot: Callable[[], Snapshot],
) -> None:
    before = snapshot()
    answer = _upload(writer, channel_series, items)
    assert answer.status_code == 422
    assert message in answer.json()["detail"]
    assert snapshot() == before


def test_csv_column_of_an_undeclared_channel_is_422(
    writer: httpx.Client, channel_series: int, snapshot: Callable[[], Snapshot]
) -> None:
    before = snapshot()
    answer = writer.post(
        f"/v1/series/{channel_series}/observations/csv",
        files={"file": ("l.csv", b"timestamp,value,speed\n2026-01-05T00:00:00Z,1,2\n", "text/csv")},
    )
    assert answer.status_code == 422
    assert "column 'speed' is not a channel of the series" in answer.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ([{"name": "value", "role": "known"}], "names the stamp or the target"),
        ([{"name": "a b", "role": "known"}], "should match pattern"),
        ([{"name": "a", "role": "planned"}], "'known' or 'observed'"),
        ([{"name": "a", "role": "known"}, {"name": "a", "role": "observed"}], "declared twice"),
    ],
)
def test_bad_channel_declarations_are_422(
    channels: list[dict[str, str]], message: str, writer: httpx.Client
) -> None:
    answer = writer.post("/v1/series", json={"name": "s", "channels": channels})
    assert answer.status_code == 422
    assert message in answer.json()["detail"]


def test_training_options_must_name_declared_channels_in_their_role(
    writer: httpx.Client, channel_series: int
) -> None:
    for options, message in [
        ({"known": ["speed"]}, "'speed' is not a channel of series"),
        ({"known": ["motor_current"]}, "is declared observed, so it cannot be read as known"),
        ({"observed": ["setpoint"]}, "is declared known, so it cannot be read as observed"),
    ]:
        answer = writer.post(f"/v1/series/{channel_series}/train", json=options)
        assert answer.status_code == 422, answer.text
        assert message in answer.json()["detail"]
