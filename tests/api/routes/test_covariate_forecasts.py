"""A series with two known channels and one observed one, trained and forecast through REST:
the target follows its setpoint plan, so reading the plan must beat the same model on the
target alone over rolling origins; the stored plan serves when a request sends none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from app.settings import Settings
from tests.api.covariate_line import CHANNELS, covariate_line, items
from tests.api.lines import judge_drift, line_settings, wait_for_outcome

# Tiny, but enough steps for the GRU to learn to follow a plan (seconds on two cores).
OPTIONS = {"horizon": 6, "context": 24, "hidden": 16, "epochs": 10, "steps_per_epoch": 30}
KNOWN, OBSERVED = ["setpoint", "shift"], ["motor_current"]
TRAINED_HOURS, ORIGINS = 400, range(408, 468, 12)


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


def _trained(
    writer: httpx.Client, make_series: Callable[..., dict[str, Any]], name: str, **options: Any
) -> int:
    channels = CHANNELS if options else []
    series_id = make_series(name=name, frequency="h", channels=channels)["id"]
    frame = covariate_line().iloc[:TRAINED_HOURS]
    rows = items(frame) if options else [{"ts": i["ts"], "value": i["value"]} for i in items(frame)]
    answer = writer.post(f"/v1/series/{series_id}/observations", json={"items": rows})
    assert answer.status_code == 200, answer.text
    body = {**OPTIONS, "candidates": ["gru"], **options}
    run = writer.post(f"/v1/series/{series_id}/train", json=body)
    assert run.status_code == 202, run.text
    outcome = wait_for_outcome(writer, run.json()["run"]["id"])
    assert outcome["status"] in ("succeeded", "rejected"), outcome
    return series_id


def _forecast_error(reader: httpx.Client, series_id: int, covariates: bool) -> float:
    """MSE of the medians over the rolling origins, each forecast from an inline context."""
    frame, errors = covariate_line(), []
    for origin in ORIGINS:
        context = frame.iloc[origin - 60 : origin]
        ahead = frame.iloc[origin : origin + OPTIONS["horizon"]]
        body: dict[str, Any] = {"context": items(context if covariates else context[["value"]])}
        if covariates:
            body["known"] = [
                {"ts": i["ts"], "values": {k: i["covariates"][k] for k in KNOWN}}
                for i in items(ahead[KNOWN], value=False)
            ]
        answer = reader.post(f"/v1/series/{series_id}/forecast", json=body)
        assert answer.status_code == 200, answer.text
        medians = [step["quantiles"]["0.5"] for step in answer.json()["forecast"]]
        errors.append(np.mean((np.array(medians) - ahead["value"].to_numpy()) ** 2))
    return float(np.mean(errors))


@pytest.mark.slow
def test_reading_the_plan_beats_the_target_alone_on_rolling_origins(
    writer: httpx.Client,
    reader: httpx.Client,
    admin: httpx.Client,
    make_series: Callable[..., dict[str, Any]],
) -> None:
    with_plan = _trained(writer, make_series, "c/with", known=KNOWN, observed=OBSERVED)
    alone = _trained(writer, make_series, "c/alone")
    version = reader.get(f"/v1/series/{with_plan}/models").json()["items"][0]
    assert version["config"]["known"] == KNOWN
    assert version["config"]["observed"] == OBSERVED

    covariate_mse = _forecast_error(reader, with_plan, covariates=True)
    target_mse = _forecast_error(reader, alone, covariates=False)
    assert covariate_mse < 0.5 * target_mse, (covariate_mse, target_mse)

    # Without `known`, the plan stored ahead of the readings is read; once it runs out, a 422
    # names the channel and stamp missing.
    last = reader.post(f"/v1/series/{with_plan}/forecast", json={})
    assert last.status_code == 422
    assert "the stored plan lacks 'setpoint' at 2026-01-21T16:00:00+00:00" in last.json()["detail"]
    plan = covariate_line().iloc[TRAINED_HOURS : TRAINED_HOURS + 6][KNOWN]
    stored = writer.post(
        f"/v1/series/{with_plan}/observations", json={"items": items(plan, value=False)}
    )
    assert stored.json() == {"inserted": 0, "updated": 0, "unchanged": 0, "covariates": 6}
    answer = reader.post(f"/v1/series/{with_plan}/forecast", json={})
    assert answer.status_code == 200, answer.text
    assert answer.json()["covariates"] == [*KNOWN, *OBSERVED]
    assert reader.post(f"/v1/series/{alone}/forecast", json={}).json()["covariates"] == []
    # The plan is not a reading: the target's readings still end where they did.
    stamps = pd.DatetimeIndex(
        [
            i["ts"]
            for i in reader.get(f"/v1/series/{with_plan}/observations?limit=1000").json()["items"]
        ]
    )
    assert len(stamps) == TRAINED_HOURS

    # A batch serves it the same way, from the stored plan; drift judges it with its channels.
    batch = reader.post("/v1/forecasts", json={"series_ids": [with_plan, alone]}).json()
    assert [item["covariates"] for item in batch["items"]] == [[*KNOWN, *OBSERVED], []]
    assert batch["items"][0]["forecast"] == answer.json()["forecast"]
    later = covariate_line().iloc[TRAINED_HOURS : TRAINED_HOURS + 48]
    written = writer.post(f"/v1/series/{with_plan}/observations", json={"items": items(later)})
    assert written.status_code == 200, written.text
    judged = judge_drift(admin, {"series_ids": [with_plan]})
    assert judged["jobs"] == {"done": 1} and judged["metrics"] > 0, judged
