"""False alerts and detections of the drift monitor on simulated lines, calibrated against fixed.

    python bench/drift.py [--seeds 10] [--shift 0.25] [--horizon 6] [--train-days 28] [--json]

Per seed, through the service's own code on a throwaway SQLite database: simulate an hourly
line (`app.simulator`) for `--train-days` plus two weeks, store the first `--train-days`, train
a tiny model on them (hidden 8, one layer, context 24, horizon 6, 2 epochs of 5 steps; the
service trains on the data before its backtest window, so the reference ends two days before
the next week), store the two weeks with the second raised by `--shift` (a level shift: a
recalibrated sensor, a new recipe), and serve a forecast every 6 hours over both weeks from
the data up to its origin, as a client would.
Then judge two windows of one week each (`drift_window_steps` 168):

- quiet: the first week, nothing changed: any metric in alert is a false alert;
- shifted: the second week: at least one metric in alert is a detection.

Each window is judged twice from the same measurements: with thresholds calibrated on the
series' reference (the default) and with the fixed, documented defaults. Figures only, not
pass/fail; the test `tests/services/test_drift.py` asserts a bound on fewer seeds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import Observation, Series, TrainingRun
from app.jobs.execution import execute_run
from app.services.drift import evaluate_drift
from app.services.forecasting import ModelCache, forecast_series
from app.services.training import TrainingOptions, request_training
from app.settings import Settings
from app.simulator import LineConfig, simulate_line
from preprocessing.pipeline import PreprocessingError

FORECAST_EVERY_HOURS = 6


def tiny_options(seed: int, horizon: int) -> TrainingOptions:
    # The GRU alone: the monitor is measured on one kind of model, the one it was tuned on.
    return TrainingOptions(
        horizon=horizon,
        context=24,
        hidden=8,
        layers=1,
        epochs=2,
        steps_per_epoch=5,
        seed=seed,
        candidates=["gru"],
    )


def store(session: Session, series_id: int, readings: pd.Series) -> None:
    rows = [
        {"series_id": series_id, "ts": ts.to_pydatetime(), "value": float(value)}
        for ts, value in readings.items()
    ]
    session.execute(insert(Observation), rows)
    session.commit()


def scenario(
    sessions: sessionmaker[Session], settings: Settings, seed: int, args: argparse.Namespace
) -> tuple[int, pd.Timestamp, pd.Timestamp]:
    """The series of one seed, trained and served; its id and the two windows' ends."""
    days = args.train_days + 14
    readings = simulate_line(LineConfig(days=days), seed=seed)["throughput"].dropna()
    start = readings.index[0]
    train_end = start + pd.Timedelta(days=args.train_days)
    shift_at = start + pd.Timedelta(days=args.train_days + 7)
    later = readings.loc[readings.index >= train_end].copy()
    later.loc[later.index >= shift_at] *= 1 + args.shift
    with sessions() as session:
        series = Series(name=f"bench/line-{seed}", frequency="h")
        session.add(series)
        session.flush()
        store(session, series.id, readings.loc[readings.index < train_end])
        run, _ = request_training(
            session=session,
            series_id=series.id,
            trigger="cli",
            options=tiny_options(seed, args.horizon),
            requested_by="bench",
        )
    execute_run(run.id, session_factory=sessions, settings=settings, worker_id="bench")
    with sessions() as session:
        outcome = session.get(TrainingRun, run.id)
        assert outcome is not None and outcome.status == "succeeded", outcome
        store(session, series.id, later)
        served = pd.concat([readings.loc[readings.index < train_end], later])
        cache = ModelCache()
        stamps = later.index[later.index < later.index[-1]]
        for number, origin in enumerate(stamps[::FORECAST_EVERY_HOURS]):
            try:
                forecast_series(
                    session=session,
                    cache=cache,
                    series=series,
                    context_frame=served.loc[:origin].iloc[-72:].to_frame("value"),
                    request_id=f"bench-{seed}-{number}",
                )
            except PreprocessingError:  # the context lies in a stop: the service answers 422
                continue
    return series.id, shift_at - pd.Timedelta(hours=1), later.index[-1]


def judge(
    sessions: sessionmaker[Session], settings: Settings, series_id: int, now: pd.Timestamp
) -> dict[str, dict[str, list[str]]]:
    """Per threshold scheme, the metrics ("kind/metric") in alert in the window ending at now."""
    alerts: dict[str, dict[str, list[str]]] = {}
    for scheme, calibrate in (("calibrated", True), ("fixed", False)):
        with sessions() as session:
            series = session.get(Series, series_id)
            assert series is not None
            evaluation = evaluate_drift(
                session=session,
                series=series,
                now=now.to_pydatetime(),
                settings=settings.model_copy(update={"drift_calibrate": calibrate}),
            )
        alerting = [f"{m.kind}/{m.metric}" for m in evaluation.measured if m.status == "alert"]
        alerts[scheme] = {"alerts": alerting}
    return alerts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1")
    parser.add_argument("--shift", type=float, default=0.25, help="level shift, as a fraction")
    parser.add_argument("--horizon", type=int, default=6, help="the tiny model's horizon")
    parser.add_argument("--train-days", type=int, default=28, help="days stored before training")
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            url = f"sqlite:///{Path(folder) / f'seed-{seed}.db'}"
            upgrade(url)
            engine = make_engine(url)
            try:
                settings = Settings(database_url=url)
                sessions = session_factory(engine)
                series_id, quiet_end, shift_end = scenario(sessions, settings, seed, args)
                quiet = judge(sessions, settings, series_id, quiet_end)
                shifted = judge(sessions, settings, series_id, shift_end)
            finally:
                engine.dispose()
            results.append({"seed": seed, "quiet": quiet, "shifted": shifted})
            if not args.json:
                print(
                    f"seed {seed}: quiet alerts calibrated {quiet['calibrated']['alerts']} "
                    f"fixed {quiet['fixed']['alerts']}; shifted alerts calibrated "
                    f"{len(shifted['calibrated']['alerts'])} fixed "
                    f"{len(shifted['fixed']['alerts'])}"
                )
    summary = summarise(results, args)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if not args.json:
        for scheme in ("calibrated", "fixed"):
            figures = summary[scheme]
            print(
                f"{scheme:>10}: false-alert rate {figures['false_alert_rate']:.2f} "
                f"({figures['false_alerts']}/{args.seeds} quiet weeks with an alert), "
                f"detection rate {figures['detection_rate']:.2f} "
                f"({figures['detections']}/{args.seeds} shifted weeks), "
                f"false alerts by metric {figures['false_alerts_by_metric']}"
            )
    print(json.dumps(summary))


def summarise(results: list[dict], args: argparse.Namespace) -> dict:
    summary: dict = {"bench": "drift", "seeds": args.seeds, "shift": args.shift, "window": 168}
    for scheme in ("calibrated", "fixed"):
        false_alerts = [r for r in results if r["quiet"][scheme]["alerts"]]
        detections = [r for r in results if r["shifted"][scheme]["alerts"]]
        by_metric = Counter(m for r in results for m in r["quiet"][scheme]["alerts"])
        summary[scheme] = {
            "false_alerts": len(false_alerts),
            "false_alert_rate": len(false_alerts) / len(results),
            "detections": len(detections),
            "detection_rate": len(detections) / len(results),
            "false_alerts_by_metric": dict(by_metric.most_common()),
        }
    return summary


if __name__ == "__main__":
    main()
