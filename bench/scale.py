"""Scale: cron requests, drift judging, forecasts and workers when a plant has thousands of series.

    python bench/scale.py [--series 1000,5000] [--days 90] [--retrain-series 8] [--json]

On a throwaway PostgreSQL server (`throwaway_postgres.py`, never the shared one), it stores N
simulated hourly series of four line types (`app.simulator`), each with `--days` of readings
(COPY) and an active version holding a real line model's artifact (the product's default
configuration, trained, by its record, on all but the last week), serves the API with uvicorn
(no in-process jobs: the queue is the workers'), and measures, per series count:

* `retrain_request_s`, `retrain_repeat_request_s`: `POST /v1/retrain` for every series (the
  first call queues N runs, a repeat finds them all open);
* `drift_request_s`: `POST /v1/drift/run` for every series (it queues N drift jobs);

and at the first count only, where the work itself is timed:

* `drift_jobs_per_s`: one worker judging the N queued drift jobs;
* `forecasts_per_s`: `POST /v1/series/{id}/forecast` for every series, one client, once the
  cache holds every model (a first pass loads them);
* `workers1_series_per_min`, `workers2_series_per_min`, `workers2_over_1`: the nightly retrain
  of `--retrain-series` series (each set of its own series, the four line types alike) end to
  end by 1, then 2 worker processes (`python -m app worker`), each capped at one torch
  thread; `worker_peak_rss_mib`: the largest peak RSS of a worker in those runs;
* `global_speedup`, `global_mse_over_local`, `global_mse_over_naive`,
  `global_worker_peak_rss_mib`: one global model of the N series (`POST /v1/global-models`,
  trained by one worker with both cores) against the local models the workers trained, in
  seconds (the local time extrapolated from the workers' seconds per series) and in MSE over
  repeat-last's on each series' gate origins (`_global_vs_local` says how).

Run it with `PYTHONPATH=<an older checkout>` to measure that code the same way.

With `--json`, one line per figure: `metric`, `series`, `value`, and what was counted.
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from scale_workers import peak_rss_mib, wait_until, workers
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from throwaway_postgres import throwaway_cluster

from app.api.main import create_app
from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import OPEN_RUN_STATUSES, DriftJob, ModelVersion, Series, TrainingRun
from app.services.keys import create_api_key
from app.services.training import TrainingOptions
from app.settings import Settings
from app.simulator import LineConfig, Shift, simulate_line
from model.line_model import LineModel

START = datetime(2026, 1, 5, tzinfo=UTC)
HORIZON = 24
# Four kinds of line, assigned in turn: a steady three-shift line, one with a thin night shift
# and a slow weekend, a noisy one, and one that wears fast and stops at random. (A line that
# stops every night has over a quarter of its context missing, which the service refuses to
# forecast from: `model.windows.MAX_PLACEHOLDER_SHARE`.)
LINE_TYPES = (
    LineConfig(),
    LineConfig(
        shifts=(Shift(6.0, 1.0), Shift(14.0, 0.9), Shift(22.0, 0.35)),
        weekend_factor=0.3,
        base_throughput=80.0,
    ),
    LineConfig(noise_std=0.08, noise_corr_per_hour=0.5, base_throughput=200.0),
    LineConfig(wear_per_day=0.02, random_stops_per_week=2.0, base_throughput=60.0),
)
OPEN_DRIFT = ("queued", "running")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="1000,5000", help="series counts, ascending")
    parser.add_argument("--days", type=int, default=90, help="days of hourly readings each")
    parser.add_argument(
        "--retrain-series", type=int, default=8, help="series each worker run retrains"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args()
    counts = sorted(int(count) for count in args.series.split(","))
    options = TrainingOptions(horizon=HORIZON)
    began = time.perf_counter()
    artifact = _artifact(options, args.days)
    print(
        f"# the active versions' model trained in {time.perf_counter() - began:.0f} s", flush=True
    )
    with throwaway_cluster() as cluster:
        upgrade(cluster.url)
        engine = make_engine(cluster.url)
        sessions = session_factory(engine)
        with sessions() as session:
            _, key = create_api_key(session=session, name="bench-cron", role="admin")
        settings = Settings(database_url=cluster.url, in_process_jobs=False, log_level="WARNING")
        report = _Reporter(args.json)
        stored = 0
        with (
            _served(settings) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600
            ) as client,
        ):
            for count in counts:
                began = time.perf_counter()
                _add_series(engine, sessions, stored, count, args.days, artifact, options)
                stored = count
                report.note(f"{count} series stored in {time.perf_counter() - began:.0f} s")
                _clear_queues(sessions)
                for metric in ("retrain_request_s", "retrain_repeat_request_s"):
                    seconds, runs = _timed_retrain(client)
                    report(metric, count, seconds, runs)
                seconds, queued = _timed_drift(client)
                report("drift_request_s", count, seconds, queued)
                if count == counts[0]:
                    _clear_runs(sessions)  # the workers judge the drift jobs alone first
                    _judge_drift(cluster.url, sessions, count, report)
                    _forecasts(client, sessions, count, report)
                    local = _workers(client, cluster.url, sessions, args.retrain_series, report)
                    _global_vs_local(client, cluster.url, sessions, count, local, report)
        engine.dispose()


class _Reporter:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, metric: str, series: int, value: float, counts: dict[str, Any]) -> None:
        if self.as_json:
            figure = {"metric": metric, "series": series, "value": round(value, 4), **counts}
            print(json.dumps(figure), flush=True)
            return
        tally = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items())
        print(f"{metric} at {series} series: {value:.3f} ({tally})", flush=True)

    def note(self, text: str) -> None:
        print(f"# {text}", flush=True)


def _clear_queues(sessions: sessionmaker[Session]) -> None:
    """No runs or drift jobs left from the last count: each count queues afresh."""
    with sessions() as session:
        session.execute(delete(TrainingRun))
        session.execute(delete(DriftJob))
        session.commit()


def _clear_runs(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.execute(delete(TrainingRun))
        session.commit()


def _judge_drift(url: str, sessions: sessionmaker[Session], count: int, report: _Reporter) -> None:
    def judged() -> bool:
        with sessions() as session:
            open_jobs = select(func.count()).where(DriftJob.status.in_(OPEN_DRIFT))
            return not session.scalar(open_jobs.select_from(DriftJob))

    with workers(url, 1, torch_threads=1):
        seconds = wait_until(judged, timeout=3_600)
    with sessions() as session:
        statuses = dict(
            session.execute(select(DriftJob.status, func.count()).group_by(DriftJob.status)).all()
        )
    report("drift_jobs_per_s", count, count / seconds, {"seconds": round(seconds, 1), **statuses})


def _forecasts(
    client: httpx.Client, sessions: sessionmaker[Session], count: int, report: _Reporter
) -> None:
    ids = _series_ids(sessions)[:count]
    began = time.perf_counter()
    for series_id in ids:
        client.post(f"/v1/series/{series_id}/forecast", json={}).raise_for_status()
    cold = time.perf_counter() - began
    began = time.perf_counter()
    for series_id in ids:
        client.post(f"/v1/series/{series_id}/forecast", json={}).raise_for_status()
    warm = time.perf_counter() - began
    report(
        "forecasts_per_s",
        count,
        count / warm,
        {"clients": 1, "warm_s": round(warm, 2), "first_pass_s": round(cold, 2)},
    )


def _series_ids(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(Series.id).order_by(Series.id)))


def _plant(count: int) -> str:
    """The plant of the series stored to reach `count`: the global model's scope."""
    return f"scale-{count}"


@dataclass(frozen=True)
class _Local:
    """What the workers' nightly retrain measured: the series it retrained and the machine's
    seconds per series with both workers (both cores) busy."""

    series_ids: list[int]
    seconds_per_series: float


def _workers(
    client: httpx.Client,
    url: str,
    sessions: sessionmaker[Session],
    per_run: int,
    report: _Reporter,
) -> _Local:
    """The nightly retrain of `per_run` series by 1 worker, then of as many others by 2."""
    ids = _series_ids(sessions)
    rates, peaks = {}, []
    for count, chosen in ((1, ids[:per_run]), (2, ids[per_run : 2 * per_run])):
        _clear_runs(sessions)
        client.post("/v1/retrain", json={"series_ids": chosen}).raise_for_status()

        def finished() -> bool:
            with sessions() as session:
                open_runs = select(func.count()).where(TrainingRun.status.in_(OPEN_RUN_STATUSES))
                return not session.scalar(open_runs.select_from(TrainingRun))

        with workers(url, count, torch_threads=1) as pids:
            seconds = wait_until(finished, timeout=6 * 3_600, poll=1.0)
            peaks.extend(peak_rss_mib(pid) for pid in pids)
        with sessions() as session:
            outcomes = dict(
                session.execute(
                    select(TrainingRun.status, func.count()).group_by(TrainingRun.status)
                ).all()
            )
        rates[count] = per_run / seconds * 60
        figures = {"workers": count, "seconds": round(seconds, 1), **outcomes}
        report(f"workers{count}_series_per_min", per_run, rates[count], figures)
    report("workers2_over_1", per_run, rates[2] / rates[1], {"torch_threads_each": 1})
    report("worker_peak_rss_mib", per_run, max(peaks), {"workers": len(peaks)})
    return _Local(ids[: 2 * per_run], 60 / rates[2])


def _global_vs_local(
    client: httpx.Client,
    url: str,
    sessions: sessionmaker[Session],
    count: int,
    local: _Local,
    report: _Reporter,
) -> None:
    """One global model for the `count` series, asked for over the API and trained by one
    worker with both cores (what the two local workers had together), against the local
    models the workers trained: seconds, and MSE on the same gate origins of each series.

    Training 1,000 local models takes hours here, so their time is the workers' measured
    seconds per series times `count` (local runs are independent: time grows linearly), and
    their accuracy is that of the series they retrained. MSE is divided by each series'
    repeat-last MSE on the same origins, so series of different scales weigh alike.
    """
    body = {"name": "scale", "plant": _plant(count), "horizon": HORIZON}
    answer = client.post("/v1/global-models", json=body)
    answer.raise_for_status()
    path = f"/v1/global-runs/{answer.json()['run']['id']}"

    def finished() -> bool:
        return client.get(path).json()["status"] not in OPEN_RUN_STATUSES

    with workers(url, 1, torch_threads=2) as (pid,):
        seconds = wait_until(finished, timeout=6 * 3_600, poll=2.0)
        peak = peak_rss_mib(pid)
    run = client.get(path).json()
    if run["global_model_id"] is None:
        raise RuntimeError(f"the global run ended {run['status']}: {run['error']}")
    local_seconds = count * local.seconds_per_series
    report(
        "global_speedup",
        count,
        local_seconds / seconds,
        {
            "global_s": round(seconds, 1),
            "local_s_extrapolated": round(local_seconds),
            "local_s_per_series": round(local.seconds_per_series, 1),
            "global_status": run["status"],
        },
    )
    report("global_worker_peak_rss_mib", count, peak, {"torch_threads": 2})
    scores = _relative_mse(sessions, local.series_ids, run["global_model_id"])
    local_mean = sum(s[0] for s in scores.values()) / len(scores)
    global_mean = sum(s[1] for s in scores.values()) / len(scores)
    report(
        "global_mse_over_local",
        len(scores),
        global_mean / local_mean,
        {
            "local_mse_over_naive": round(local_mean, 4),
            "global_mse_over_naive": round(global_mean, 4),
        },
    )
    every = _relative_mse(
        sessions, _series_ids(sessions)[:count], run["global_model_id"], local=False
    )
    global_all = [s[1] for s in every.values()]
    report(
        "global_mse_over_naive",
        len(global_all),
        sum(global_all) / len(global_all),
        {"series_beating_naive": sum(1 for r in global_all if r < 1)},
    )


def _relative_mse(
    sessions: sessionmaker[Session], series_ids: list[int], global_model_id: int, local: bool = True
) -> dict[int, tuple[float, float]]:
    """Per series, (local, global) gate MSE over repeat-last's on the same origins; the local
    one is NaN where `local` is false."""
    with sessions() as session:
        # Version 1 is the stand-in every series starts with; the workers' retrain stored the
        # later local ones.
        versions = session.scalars(
            select(ModelVersion).where(
                ModelVersion.series_id.in_(series_ids),
                ModelVersion.version > 1,
                ModelVersion.global_model_id.is_(None),
            )
        ).all()
        global_versions = session.scalars(
            select(ModelVersion).where(
                ModelVersion.series_id.in_(series_ids),
                ModelVersion.global_model_id == global_model_id,
            )
        ).all()
    glob = {
        v.series_id: v.metrics["backtest_mse"] / v.metrics["naive_backtest_mse"]
        for v in global_versions
    }
    if not local:
        return {i: (float("nan"), glob[i]) for i in glob}
    own = {
        v.series_id: v.metrics["backtest_mse"] / v.metrics["naive_backtest_mse"] for v in versions
    }
    return {i: (own[i], glob[i]) for i in own if i in glob}


def _artifact(options: TrainingOptions, days: int) -> bytes:
    """A line model of the product's default configuration, trained on a simulated line of
    `days` less a week: the artifact every series' active version holds."""
    line = simulate_line(LineConfig(days=days - 7), seed=0)["throughput"]
    series = Series(name="bench", frequency="h", timezone="UTC")
    model = LineModel(options.line_config(series)).fit(line.dropna().to_frame("value"))
    return model.to_bytes()


def _add_series(
    engine: Engine,
    sessions: sessionmaker[Session],
    have: int,
    want: int,
    days: int,
    artifact: bytes,
    options: TrainingOptions,
) -> None:
    """Series have+1..want, each with `days` of hourly readings and an active version."""
    with sessions() as session:
        ids = session.scalars(
            insert(Series).returning(Series.id),
            [
                {
                    "name": f"plant-{n // 100}/line-{n % 100}/throughput",
                    "frequency": "h",
                    "plant": _plant(want),
                }
                for n in range(have, want)
            ],
        ).all()
        digest = hashlib.sha256(artifact).hexdigest()
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
                    "config": options.model_dump(),
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
            for n, series_id in enumerate(ids, start=have):
                kind = LINE_TYPES[n % len(LINE_TYPES)]
                line = simulate_line(replace(kind, days=days, start=START), seed=n)
                for stamp, value in line["throughput"].dropna().items():
                    copy.write_row((series_id, stamp.to_pydatetime(), float(value)))
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
    return seconds, {"queued": body["queued"], "already_queued": body["already_queued"]}


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


if __name__ == "__main__":
    main()
