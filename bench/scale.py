"""Scale: how long the cron requests take when a plant has thousands of series.

    python bench/scale.py [--series 1000,5000] [--days 90] [--json]

On a throwaway PostgreSQL server (`throwaway_postgres.py`, never the shared one), it stores
N hourly series, each with `--days` of readings (COPY) and an active model version holding a
real line model's artifact (trained, by its record, on all but the last week), serves the API
with uvicorn (no in-process training: the runs stay queued, as they would for the workers), and
times the scheduler's two calls: `POST /v1/retrain` for every series (the first call queues N
runs, a repeat finds them all open) and `POST /v1/drift/run`, which judges the last week of
every series. Then the series grow to the next count. Run it with `PYTHONPATH=<an older
checkout>` to measure that code's requests the same way.

What this bench does not measure yet (issue 11): the global model against local ones; workers'
series per minute; forecast throughput; peak RSS.

With `--json`, one line per figure: `metric` (`retrain_request_s`, `retrain_repeat_request_s`,
`drift_request_s`), `series`, `value` (seconds), and what the answer counted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import uvicorn
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from throwaway_postgres import throwaway_cluster

from app.api.main import create_app
from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import ModelVersion, Series, TrainingRun
from app.services.keys import create_api_key
from app.settings import Settings
from app.simulator import LineConfig, simulate_line
from model.config import LineModelConfig
from model.line_model import LineModel

START = datetime(2026, 1, 5, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="1000,5000", help="series counts, ascending")
    parser.add_argument("--days", type=int, default=90, help="days of hourly readings each")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args()
    counts = sorted(int(count) for count in args.series.split(","))
    artifact = _artifact()
    with throwaway_cluster() as cluster:
        upgrade(cluster.url)
        engine = make_engine(cluster.url)
        sessions = session_factory(engine)
        with sessions() as session:
            _, key = create_api_key(session=session, name="bench-cron", role="admin")
        settings = Settings(database_url=cluster.url, in_process_jobs=False, log_level="WARNING")
        stored = 0
        with (
            _served(settings) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600
            ) as client,
        ):
            for count in counts:
                began = time.perf_counter()
                _add_series(engine, sessions, stored, count, args.days, artifact)
                stored = count
                filled = time.perf_counter() - began
                with sessions() as session:
                    session.execute(delete(TrainingRun))  # last count's runs: queue afresh
                    session.commit()
                for metric in ("retrain_request_s", "retrain_repeat_request_s"):
                    seconds, runs = _timed_retrain(client)
                    _report(metric, count, seconds, runs, filled, args.json)
                seconds, judged = _timed_drift(client)
                _report("drift_request_s", count, seconds, judged, filled, args.json)
        engine.dispose()


def _artifact() -> bytes:
    """A real line model's artifact (what every series' active version holds), fitted fast."""
    line = simulate_line(LineConfig(days=30), seed=0)["throughput"].dropna().to_frame("value")
    config = LineModelConfig(horizon=24, hidden=16, epochs=2, steps_per_epoch=20, seed=0)
    return LineModel(config).fit(line).to_bytes()


def _add_series(
    engine: Engine,
    sessions: sessionmaker[Session],
    have: int,
    want: int,
    days: int,
    artifact: bytes,
) -> None:
    """Series have+1..want, each with `days` of hourly readings and an active version."""
    rng = np.random.default_rng(have)
    stamps = [START + timedelta(hours=h) for h in range(days * 24)]
    with sessions() as session:
        ids = session.scalars(
            insert(Series).returning(Series.id),
            [
                {"name": f"plant-{n // 100}/line-{n % 100}/throughput", "frequency": "h"}
                for n in range(have, want)
            ],
        ).all()
        digest = hashlib.sha256(artifact).hexdigest()
        config = {"horizon": 24, "hidden": 16, "epochs": 2, "steps_per_epoch": 20}
        # Trained on all but the last week: the drift monitor judges that week.
        metrics = {"training_end": (START + timedelta(days=days - 7)).isoformat()}
        session.execute(
            insert(ModelVersion),
            [
                {
                    "series_id": series_id,
                    "version": 1,
                    "status": "active",
                    "training_mode": "dsf",
                    "config": config,
                    "preprocessing": {},
                    "metrics": metrics,
                    "artifact": artifact,
                    "artifact_sha256": digest,
                }
                for series_id in ids
            ],
        )
        session.commit()
    raw = engine.raw_connection()
    try:
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY observations (series_id, ts, value) FROM STDIN") as copy,
        ):
            for series_id in ids:
                values = 100 + np.cumsum(rng.normal(0, 1, len(stamps)))
                for stamp, value in zip(stamps, values, strict=True):
                    copy.write_row((series_id, stamp, float(value)))
        raw.commit()
    finally:
        raw.close()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Series)) == want


def _timed_retrain(client: httpx.Client) -> tuple[float, dict[str, int]]:
    began = time.perf_counter()
    answer = client.post("/v1/retrain", json={})
    seconds = time.perf_counter() - began
    answer.raise_for_status()
    runs = answer.json()["runs"]
    created = sum(1 for run in runs if run["created"])
    return seconds, {"created": created, "already_open": len(runs) - created}


def _timed_drift(client: httpx.Client) -> tuple[float, dict[str, int]]:
    began = time.perf_counter()
    answer = client.post("/v1/drift/run", json={})
    seconds = time.perf_counter() - began
    answer.raise_for_status()
    body = answer.json()
    return seconds, {"judged": body["series"], "skipped": len(body["skipped"])}


@contextmanager
def _served(settings: Settings) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        httpx.get(f"{base}/healthz", timeout=60).raise_for_status()
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def _report(
    metric: str, series: int, seconds: float, counts: dict[str, int], filled: float, as_json: bool
) -> None:
    if as_json:
        figure = {"metric": metric, "series": series, "value": round(seconds, 4), **counts}
        print(json.dumps(figure))
        return
    tally = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in counts.items())
    print(
        f"{metric} at {series} series: {seconds:.3f} s ({tally}; stored in {filled:.0f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
