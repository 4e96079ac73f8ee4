"""The Python client against the real app over HTTP: every family of endpoint, pagination,
errors named, and retries through a real database outage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pandas as pd
import pytest
from fastapi import FastAPI

from app.api.main import create_app
from app.client import Linecast, LinecastError
from app.settings import Settings
from tests.api.lines import TINY, line_frame, line_settings
from tests.fixtures.databases import DatabaseServer
from tests.fixtures.service import Keys


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


@pytest.fixture
def api(base_url: str, keys: Keys) -> Iterator[Linecast]:
    with Linecast(base_url, keys.admin, retries=0) as client:
        yield client


def test_a_plant_s_whole_round_trip_through_the_client(
    api: Linecast, keys: Keys, base_url: str
) -> None:
    line = line_frame(days=20, seed=4)["throughput"].dropna()
    series = api.create_series("plant-c/line-1/throughput", frequency="h", unit="units/h")
    others = [api.create_series(f"plant-c/line-{n}/throughput", frequency="h") for n in (2, 3)]
    # Pages of one series: the iterator walks them all.
    assert [s.id for s in api.iter_series(page_size=1)] == [series.id, *(o.id for o in others)]

    stored = api.upload(series.id, line.iloc[:-24])
    assert stored.inserted == len(line) - 24
    csv = "timestamp,value\n" + "".join(
        f"{ts.isoformat()},{v}\n" for ts, v in line.iloc[-24:].items()
    )
    assert api.upload_csv(series.id, csv).inserted == 24
    assert api.upload(series.id, line.iloc[:5]).unchanged == 5  # re-sending is safe
    scan = api.upload_scans([(line.index[0], {series.name: float(line.iloc[0])})])
    assert (scan.series, scan.unchanged) == (1, 1)
    readings = api.observations(series.id)
    pd.testing.assert_series_equal(
        readings, line.rename("value").rename_axis("ts"), check_freq=False, check_index_type=False
    )
    # Small pages: the cursor is followed to the end.
    assert len(list(api.iter_observations(series.id, page_size=100))) == len(line)
    window = list(api.iter_observations(series.id, start=line.index[10], end=line.index[20]))
    assert [row.ts for row in window] == list(line.index[10:20])

    assert api.analyse(series.id).verdict
    assert len(api.analyses(series.id)) == 1

    run = api.wait_for_run(api.train(series.id, **TINY).run.id, timeout=120, poll=0.2)
    assert run.status == "succeeded", run.error
    (version,) = api.models(series.id)
    assert (version.status, version.id) == ("active", run.model_version_id)
    forecast = api.forecast(series.id, horizon=3, quantiles=[0.5])
    assert (len(forecast.forecast), forecast.model_version_id) == (3, version.id)
    inline = api.forecast(series.id, context=line.iloc[-48:])
    assert inline.origin == line.index[-1]
    assert [run.id for run in api.training_runs(series.id)] == [run.id]
    batch = api.forecast_many(series_ids=[series.id, others[0].id], horizon=2)
    assert [item.series_id for item in batch.items] == [series.id]
    assert [entry.series_id for entry in batch.skipped] == [others[0].id]

    retired = api.retire(series.id, version.id)
    assert retired.status == "retired"
    assert api.promote(series.id, version.id, reason="back").status_reason == "back"

    drift = api.wait_for_drift(api.run_drift([series.id]).batch_id, timeout=120, poll=0.2)
    assert drift.finished and drift.jobs.keys() <= {"done", "skipped"}
    assert api.drift_summary().items
    assert api.drift(series.id, limit=5).limit == 5
    retrain = api.retrain([series.id])
    assert retrain.queued == 1

    made = api.create_key("integration", "read")
    assert api.key(made.id).status == "active"
    with Linecast(base_url, made.key, retries=0) as reader:
        assert reader.series(series.id).name == series.name
        with pytest.raises(LinecastError) as refused:
            reader.archive_series(series.id)
        assert refused.value.status_code == 403 and "role admin" in refused.value.detail
    assert api.revoke_key(made.id).status == "revoked"
    assert made.id in {key.id for key in api.keys().items}
    assert api.archive_series(others[0].id).archived_at is not None
    assert api.delete_observations(series.id, start=line.index[0], end=line.index[3]).deleted == 3


def test_refusals_raise_with_the_service_s_reason(api: Linecast) -> None:
    with pytest.raises(LinecastError) as missing:
        api.series(999_999)
    assert missing.value.status_code == 404
    assert missing.value.detail == "series 999999 not found"
    assert "GET /v1/series/999999: 404" in str(missing.value)
    # Checked by the service's own schema before anything is sent.
    with pytest.raises(ValueError, match="horizon"):
        api.train(1, horizon=0)


def test_the_client_rides_out_a_database_outage(
    api_settings: Settings,
    keys: Keys,
    postgres_server: DatabaseServer,
    migrated_url: str,
    serve: Callable[[FastAPI], AbstractContextManager[str]],
) -> None:
    name = migrated_url.rsplit("/", 1)[1]
    with serve(create_app(api_settings)) as base_url:
        with Linecast(base_url, keys.admin, retries=0) as impatient:
            assert impatient.create_series("before/the/outage").id
        postgres_server.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        postgres_server.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        with Linecast(base_url, keys.admin, retries=0) as impatient:
            with pytest.raises(LinecastError) as down:
                impatient.create_series("during/the/outage")
            assert down.value.status_code == 503

        def recover() -> None:
            time.sleep(1.0)
            postgres_server.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

        back = threading.Thread(target=recover)
        back.start()
        try:
            with Linecast(base_url, keys.admin, retries=10, max_wait=0.5) as patient:
                began = time.monotonic()
                created = patient.create_series("during/the/outage")
                waited = time.monotonic() - began
        finally:
            back.join()
        assert created.name == "during/the/outage"
        assert waited >= 0.9, "the series was stored only once the database was back"
