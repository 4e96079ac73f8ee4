"""Forecast latency and throughput of the REST service on loopback, 1, 8 and 32 clients.

Figures only, not pass/fail. From the repository root:

    python bench/api.py            # table on stdout
    python bench/api.py --json     # one JSON object per concurrency level, then a summary line

It builds a throwaway database (a new PostgreSQL database on LINECAST_TEST_DATABASE_URL's
server, or SQLite with --sqlite), loads 60 days of a simulated hourly line, trains a model for a
96-step forecast from a 336-step context (a single short epoch: latency does not depend on how
well it was trained), starts `uvicorn app.api.main:create_app` in a separate process, and sends
`POST /v1/series/{id}/forecast {"horizon": 96}` from client threads in this process. Each level
is bounded in requests and in seconds. Every request reads its context from the database, runs
the pipeline and the network, and stores 96 prediction rows, as in production.
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
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import Series
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--seconds", type=float, default=30.0, help="per concurrency level")
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite default")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
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


if __name__ == "__main__":
    main()
