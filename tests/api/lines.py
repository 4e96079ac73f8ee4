"""A simulated production line served through the API: settings roomy enough to upload it,
tiny model options so training takes seconds, and waiting for a run's outcome."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pandas as pd

from app.settings import Settings
from app.simulator import LineConfig, simulate_line

# Small and fast: what the tests check is the service's behaviour, not the model's accuracy.
TINY = {
    "horizon": 6,
    "context": 24,
    "hidden": 8,
    "layers": 1,
    "epochs": 2,
    "steps_per_epoch": 5,
}
RUN_TIMEOUT_S = 120


def line_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        max_ingest_rows=5_000,
        max_request_bytes=2_000_000,
        **overrides,
    )


def line_frame(days: int = 20, seed: int = 0) -> pd.DataFrame:
    """Hourly throughput of a simulated line, stops as missing readings."""
    return simulate_line(LineConfig(days=days), seed=seed)[["throughput"]]


def upload_line(client: httpx.Client, series_id: int, frame: pd.DataFrame) -> dict[str, Any]:
    """Upload the line's readings as CSV (stops are simply absent rows)."""
    readings = frame["throughput"].dropna()
    text = "timestamp,value\n" + "".join(
        f"{stamp.isoformat()},{value!r}\n" for stamp, value in readings.items()
    )
    response = client.post(
        f"/v1/series/{series_id}/observations/csv",
        files={"file": ("line.csv", text.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_outcome(client: httpx.Client, run_id: int) -> dict[str, Any]:
    """Poll the run until it leaves queued/running (HTTP offers no event to wait on)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = client.get(f"/v1/training-runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"training run {run_id} still {run['status']} after {RUN_TIMEOUT_S}s")


def judge_drift(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Queue a drift run (admin) and return its progress once every job has finished."""
    response = client.post("/v1/drift/run", json=body)
    assert response.status_code == 202, response.text
    progress = response.json()["progress"]
    assert response.headers["Location"] == progress
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        answer = client.get(progress)
        assert answer.status_code == 200, answer.text
        if answer.json()["finished"]:
            return answer.json()
        time.sleep(0.1)
    raise AssertionError(f"drift run {progress} not finished after {RUN_TIMEOUT_S}s")


def train(client: httpx.Client, series_id: int, **options: Any) -> dict[str, Any]:
    """Ask for a run with the tiny options and return its outcome."""
    response = client.post(f"/v1/series/{series_id}/train", json={**TINY, **options})
    assert response.status_code == 202, response.text
    return wait_for_outcome(client, response.json()["run"]["id"])
