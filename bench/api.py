"""Forecast latency and throughput of the REST service on loopback: 1, 8 and 32 clients, and
batches of many series in one request.

Figures only, not pass/fail. From the repository root:

    python bench/api.py            # table on stdout
    python bench/api.py --json     # one JSON object per concurrency level, a summary line, then
                                   # the batch figures

It builds a throwaway database (a new PostgreSQL database on LINECAST_TEST_DATABASE_URL's
server, or SQLite with --sqlite), loads 60 days of a simulated hourly line, trains a model for a
96-step forecast from a 336-step context (a single short epoch: latency does not depend on how
well it was trained), starts `uvicorn app.api.main:create_app` in a separate process, and sends
`POST /v1/series/{id}/forecast {"horizon": 96}` from client threads in this process. Each level
is bounded in requests and in seconds. Every request reads its context from the database, runs
the pipeline and the network, and stores 96 prediction rows, as in production.

Then `--batch` series (default 1,000) are added, each with the same readings and its own active
version holding the same artifact, and forecast through the Python client (`app.client`): all
of them in one `POST /v1/forecasts` (after a first call that loads every model into the
cache), against one `POST /v1/series/{id}/forecast` per series, one client, warm models.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import create_engine, func, insert, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.client import Linecast
from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import ModelVersion, Observation, Series
from app.jobs.execution import execute_run
from app.services.keys import create_api_key
from app.services.observations import Reading, ingest_observations
from app.services.registry import active_version
from app.services.training import TrainingOptions, request_training
from app.settings import Settings
from app.simulator import LineConfig, simulate_line

HORIZON, CONTEXT = 96, 336
TARGET_P99_MS = 50.0
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def database(use_sqlite: bool) -> Iterator[str]:
    """A new, empty database's URL, removed afterwards."""
    if use_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    server = make_url(os.environ.get("LINECAST_TEST_DATABASE_URL", DEFAULT_SERVER))
    name = f"linecast_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(url: str) -> tuple[int, str]:
    """Migrate, load a line, train and activate a model; return (series id, read key)."""
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    settings = Settings(database_url=url)
    with sessions() as session:
        series = Series(name="bench/line-1/throughput", frequency="h", unit="units/h")
        session.add(series)
        session.commit()
        values = simulate_line(LineConfig(days=60), seed=0)["throughput"].dropna()
        readings = [
            Reading(i, t.to_pydatetime(), float(v)) for i, (t, v) in enumerate(values.items())
        ]
        ingest_observations(
            session=session, series_id=series.id, readings=readings, max_rows=len(readings)
        )
        _, key = create_api_key(session=session, name="bench", role="read")
        # The GRU alone, trained enough to beat repeat-last at the gate: its forecast is the
        # costliest a version can serve, and the figure stays comparable with earlier runs.
        options = TrainingOptions(
            horizon=HORIZON,
            context=CONTEXT,
            mode="dsf",
            epochs=2,
            steps_per_epoch=50,
            candidates=["gru"],
        )
        run, _ = request_training(
            session=session, series_id=series.id, trigger="cli", options=options, requested_by=None
        )
    execute_run(run.id, session_factory=sessions, settings=settings, worker_id="bench")
    with sessions() as session:
        version = active_version(session=session, series_id=series.id)
        assert version is not None  # a first training always leaves a version serving
        print(f"serving {version.metrics['served']}", file=sys.stderr, flush=True)
    engine.dispose()
    return series.id, key


@contextmanager
def server(url: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "LINECAST_DATABASE_URL": url,
        "LINECAST_LOG_LEVEL": "WARNING",
        "LINECAST_IN_PROCESS_JOBS": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "app.api.main:create_app", "--factory"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def load(base: str, key: str, path: str, clients: int, requests: int, seconds: float) -> dict:
    """`requests` forecasts shared by `clients` threads, stopping early after `seconds`."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    remaining = [requests]
    stop_at = time.monotonic() + seconds
    body = {"horizon": HORIZON}

    def client() -> None:
        nonlocal failures
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            while time.monotonic() < stop_at:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                start = time.perf_counter()
                response = http.post(path, json=body)
                elapsed = (time.perf_counter() - start) * 1e3
                with lock:
                    latencies.append(elapsed)
                    failures += response.status_code != 200

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(latencies),
        "failures": failures,
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "rps": round(len(latencies) / wall, 1),
    }


def add_copies(url: str, series_id: int, count: int) -> list[int]:
    """`count` more series, each with the readings and a copy of the active version of
    `series_id`; their ids. Set-based: a thousand copies take seconds."""
    engine = make_engine(url)
    with session_factory(engine)() as session:
        ids = session.scalars(
            insert(Series).returning(Series.id),
            [{"name": f"bench/copy-{n}/throughput", "frequency": "h"} for n in range(count)],
        ).all()
        copies = select(Series.id).where(Series.id.in_(ids)).subquery()
        session.execute(
            insert(Observation).from_select(
                ["series_id", "ts", "value"],
                select(copies.c.id, Observation.ts, Observation.value)
                .select_from(copies)
                .join(Observation, Observation.series_id == series_id),
            )
        )
        active = select(ModelVersion).where(
            ModelVersion.series_id == series_id, ModelVersion.status == "active"
        )
        version = session.scalars(active).one()
        columns = ["training_mode", "config", "preprocessing", "metrics", "selection"]
        columns += ["backtest_error", "artifact", "artifact_sha256"]
        session.execute(
            insert(ModelVersion).from_select(
                ["series_id", "version", "status", *columns],
                select(
                    copies.c.id,
                    literal(1),
                    literal("active"),
                    *(getattr(ModelVersion, name) for name in columns),
                )
                .select_from(copies)
                .join(ModelVersion, ModelVersion.id == version.id),
            )
        )
        session.commit()
        stored = session.scalar(select(func.count()).where(ModelVersion.series_id.in_(ids)))
        assert stored == count, stored
    engine.dispose()
    return list(ids)


def batch_figures(base: str, key: str, ids: list[int]) -> list[dict]:
    """Series forecast per second: one batch request for all of `ids`, and one request each."""
    with Linecast(base, key, timeout=600) as api:
        began = time.perf_counter()
        warm = api.forecast_many(series_ids=ids)
        cold = time.perf_counter() - began
        assert not warm.skipped, warm.skipped[:3]
        timings = []
        for _ in range(3):
            began = time.perf_counter()
            served = api.forecast_many(series_ids=ids)
            timings.append(time.perf_counter() - began)
            assert len(served.items) == len(ids)
        began = time.perf_counter()
        for series_id in ids:
            api.forecast(series_id)
        one_each = time.perf_counter() - began
    batched = min(timings)
    return [
        {
            "metric": "batch_forecast_series_per_s",
            "series": len(ids),
            "value": round(len(ids) / batched, 1),
            "seconds": round(batched, 3),
            "first_call_s": round(cold, 2),
            "horizon": HORIZON,
        },
        {
            "metric": "single_requests_series_per_s",
            "series": len(ids),
            "value": round(len(ids) / one_each, 1),
            "seconds": round(one_each, 2),
            "clients": 1,
        },
        {
            "metric": "batch_over_single_requests",
            "series": len(ids),
            "value": round(one_each / batched, 2),
        },
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--seconds", type=float, default=30.0, help="per concurrency level")
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite default")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser.add_argument("--batch", type=int, default=1_000, help="series of the batch figures")
    args = parser.parse_args(argv)

    with database(args.sqlite) as url:
        series_id, key = prepare(url)
        path = f"/v1/series/{series_id}/forecast"
        with server(url) as base:
            load(base, key, path, clients=1, requests=20, seconds=30)  # warm-up: model, pools
            rows = [
                load(base, key, path, clients, args.requests, args.seconds)
                for clients in args.clients
            ]
            batches = batch_figures(base, key, add_copies(url, series_id, args.batch))
    backend = "sqlite" if args.sqlite else "postgresql"
    single = rows[0]
    summary = {
        "backend": backend,
        "horizon": HORIZON,
        "context": CONTEXT,
        "p99_single_client_ms": single["p99_ms"],
        "p99_vs_target": round(single["p99_ms"] / TARGET_P99_MS, 2),
        "rps_ratio_vs_single": {r["clients"]: round(r["rps"] / single["rps"], 2) for r in rows},
    }
    if args.json:
        for row in rows:
            print(json.dumps({"backend": backend, **row}))
        print(json.dumps(summary))
        for figure in batches:
            print(json.dumps({"backend": backend, **figure}))
        return
    print(f"{backend}: POST {path} horizon {HORIZON}, context {CONTEXT}, 2-core loopback")
    for row in rows:
        print(
            f"{row['clients']:>3} clients: {row['requests']:>4} requests ({row['failures']} failed)"
            f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  {row['rps']:7.1f} req/s"
        )
    print(
        f"single-client p99 / {TARGET_P99_MS:g} ms target: {summary['p99_vs_target']}; "
        f"throughput vs one client: {summary['rps_ratio_vs_single']}"
    )
    for figure in batches:
        print(f"{figure['metric']} ({figure['series']} series): {figure['value']}")


if __name__ == "__main__":
    main()
