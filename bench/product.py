"""What a plant gets: the service's own training path scored on held-out data, beside baselines.

    python bench/product.py [--json] [--datasets etth1,etth1-year,nab,skab,simulated]

For each data set the training rows are stored through the service's ingest, a run is
queued with `TrainingOptions(horizon=H)` (the defaults of `POST /v1/series/{id}/train`) and
executed by `execute_run`, the function a worker runs: cross-validation, gate, calibration and
storage included, on a temporary SQLite database. `train_seconds` is that whole run. The active
version is loaded from the registry and forecasts every held-out origin (stride 1) with the
readings before it, in one batched pass. Baselines forecast the same origins: repeat-last,
seasonal-naive, statsmodels' ETS and `bench/accuracy.py`'s raw GRU (no preprocessing), trained
on the same rows.

Data (from `../shared/data`, never copied; a missing file skips its data set):

* etth1: OT at horizons 24 and 96, the standard protocol: rows [0, 11520) train, the test
  windows start in [11520, 14400), errors on the scale of rows [0, 8640);
* etth1-year: OT rows [0, 8760) at horizon 24, the time target's "year of hourly data",
  scored on the next 2,880 rows;
* nab: machine temperature (5 min), first 70 % train, horizon 12 (an hour);
* skab: the five valve1 runs' Temperature (1 s), each its own series, first 70 % train,
  horizon 10; errors pooled over the runs, each on its own training scale;
* simulated: an hourly line in Europe/Berlin across the spring change to summer time, with
  planned and random stops, 100 days train, 20 test, horizon 24.

Other errors than ETTh1's are on the scale of each series' training rows (mean and standard
deviation). Coverage is the share of held-out readings inside the 0.1-0.9 band.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from accuracy import add_gru_options, fit_raw_gru
from baselines import ets_forecasts, repeat_last, seasonal_naive
from pandas.tseries.frequencies import to_offset

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import Series, TrainingRun
from app.jobs.execution import execute_run
from app.services.observations import Reading, ingest_observations
from app.services.registry import active_version, load_model
from app.services.training import TrainingOptions, request_training
from app.settings import Settings
from app.simulator import LineConfig, simulate_line
from model.config import automatic_context
from model.line_model import FittedLineModel
from model.windows import SeriesArrays
from preprocessing.regularise import RegulariseConfig, regularise

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = ("etth1", "etth1-year", "nab", "skab", "simulated")


@dataclass(frozen=True)
class Case:
    """One series: readings on their grid (NaN at stops), what trains and what is scored."""

    dataset: str
    horizon: int
    values: pd.Series
    train_end: int
    test_end: int
    frequency: str
    scale: tuple[float, float]
    period: int | None
    timezone: str = "UTC"

    @property
    def origins(self) -> np.ndarray:
        """Rows of each test window's first step (stride 1)."""
        return np.arange(self.train_end, self.test_end - self.horizon + 1)


@dataclass
class Scored:
    """Forecasts of one model on one case: median and band (n, H), whether usable (n,)."""

    median: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    usable: np.ndarray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    add_gru_options(parser)
    args = parser.parse_args()
    for name in args.datasets.split(","):
        cases = load(name)
        if not cases:
            print(json.dumps({"dataset": name, "skipped": f"no data at {DATA}"}))
            continue
        for horizon in sorted({case.horizon for case in cases}):
            group = [case for case in cases if case.horizon == horizon]
            rows = evaluate(group, args)
            report(name, horizon, rows, args.json)


def load(name: str) -> list[Case]:
    if name in ("etth1", "etth1-year"):
        path = DATA / "ETTh1.csv"
        if not path.is_file():
            return []
        frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
        ot = frame["OT"].tz_localize("UTC")
        scale = (ot.iloc[:8640].mean(), ot.iloc[:8640].std())
        if name == "etth1":
            return [Case(name, h, ot.iloc[:14400], 11520, 14400, "h", scale, 24) for h in (24, 96)]
        return [Case(name, 24, ot.iloc[:11640], 8760, 11640, "h", scale, 24)]
    if name == "nab":
        path = DATA / "nab_machine_temperature.csv"
        if not path.is_file():
            return []
        raw = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")["value"]
        return [_split(name, raw.tz_localize("UTC"), "5min", 12, 288)]
    if name == "skab":
        paths = sorted((DATA / "skab").glob("valve1-*.csv"))
        cases = []
        for path in paths:
            raw = pd.read_csv(path, sep=";", parse_dates=["datetime"], index_col="datetime")
            cases.append(_split(name, raw["Temperature"].tz_localize("UTC"), "s", 10, None))
        return cases
    if name == "simulated":
        line = simulate_line(
            LineConfig(days=120, start="2026-01-05", timezone="Europe/Berlin"), seed=0
        )["throughput"]
        case = _split(name, line, "h", 24, 24, train_share=100 / 120)
        return [Case(**{**case.__dict__, "timezone": "Europe/Berlin"})]
    raise SystemExit(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")


def _split(
    name: str,
    raw: pd.Series,
    frequency: str,
    horizon: int,
    period: int | None,
    train_share: float = 0.7,
) -> Case:
    values, _ = regularise(raw, RegulariseConfig(freq=frequency))
    train_end = int(len(values) * train_share)
    train = values.iloc[:train_end]
    scale = (float(train.mean()), float(train.std()))
    return Case(name, horizon, values, train_end, len(values), frequency, scale, period)


def evaluate(cases: list[Case], args: argparse.Namespace) -> list[dict]:
    """Every model's errors pooled over the cases (one case but for SKAB's five runs)."""
    pooled: dict[str, list] = {}
    for case in cases:
        product, seconds, description = train_product(case)
        models = {"product": (score_product(product, case), seconds)}
        truth = case.values.to_numpy(float)
        origins = case.origins
        naive = repeat_last(truth, origins, case.horizon)
        models["repeat-last"] = (Scored(naive, None, None, _all(origins)), 0.0)
        if case.period is not None:
            forecast = seasonal_naive(truth, origins, case.horizon, case.period)
            models["seasonal-naive"] = (Scored(forecast, None, None, _all(origins)), 0.0)
        started = time.perf_counter()
        forecast, ets_name = ets_forecasts(
            truth, case.train_end, origins, case.horizon, case.period
        )
        models["ets"] = (Scored(forecast, None, None, _all(origins)), time.perf_counter() - started)
        models["raw-gru"] = raw_gru(case, args)
        usable = np.logical_and.reduce([scored.usable for scored, _ in models.values()])
        actual = truth[origins[:, None] + np.arange(case.horizon)]
        std = case.scale[1]
        case_errors = {
            name: float(np.nanmean(((scored.median[usable] - actual[usable]) / std) ** 2))
            for name, (scored, _) in models.items()
        }
        print(
            f"  {case.dataset} h={case.horizon} product={description}: "
            + ", ".join(f"{name} {mse:.4f}" for name, mse in case_errors.items()),
            file=sys.stderr,
            flush=True,
        )
        for name, (scored, seconds) in models.items():
            entry = pooled.setdefault(name, [[], [], [], 0.0, set()])
            error = (scored.median[usable] - actual[usable]) / std
            entry[0].append(error[np.isfinite(error)])
            if scored.lower is not None:
                real = np.isfinite(actual[usable])
                inside = (actual[usable] >= scored.lower[usable]) & (
                    actual[usable] <= scored.upper[usable]
                )
                entry[1].append(inside[real])
            entry[2].append(int(usable.sum()))
            entry[3] += seconds
            entry[4].add(description if name == "product" else ets_name if name == "ets" else name)
    rows = []
    for name, (errors, inside, origins, seconds, chosen) in pooled.items():
        error = np.concatenate(errors)
        rows.append(
            {
                "model": name,
                "mse": float(np.mean(error**2)),
                "mae": float(np.mean(np.abs(error))),
                "coverage": float(np.concatenate(inside).mean()) if inside else None,
                "train_seconds": round(seconds, 1),
                "origins": sum(origins),
                "chosen": sorted(chosen) if name == "product" else None,
            }
        )
    return rows


def train_product(case: Case) -> tuple[FittedLineModel, float, str]:
    """Store the training rows and run the service's training: the active model, the seconds
    the run took, and what it serves."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        settings = Settings(database_url=url, data_dir=Path(folder))
        try:
            with sessions() as session:
                series = Series(
                    name=f"{case.dataset}-{case.values.index[0].isoformat()}",
                    frequency=case.frequency,
                    timezone=case.timezone,
                )
                session.add(series)
                session.commit()
                train = case.values.iloc[: case.train_end].dropna()
                readings = [
                    Reading(row, stamp.to_pydatetime(), float(value))
                    for row, (stamp, value) in enumerate(train.items())
                ]
                ingest_observations(
                    session=session, series_id=series.id, readings=readings, max_rows=len(readings)
                )
                run, _ = request_training(
                    session=session,
                    series_id=series.id,
                    trigger="cli",
                    options=TrainingOptions(horizon=case.horizon),
                    requested_by="bench",
                )
            started = time.perf_counter()
            execute_run(run.id, session_factory=sessions, settings=settings, worker_id="bench")
            seconds = time.perf_counter() - started
            with sessions() as session:
                outcome = session.get(TrainingRun, run.id)
                version = active_version(session=session, series_id=series.id)
                if version is None:
                    raise SystemExit(f"{case.dataset}: no active model: {outcome.message}")
                model = load_model(version)
                print(
                    f"{case.dataset} h={case.horizon}: run {outcome.status}: {outcome.message}",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            engine.dispose()
    return model, seconds, model.serving


def score_product(model: FittedLineModel, case: Case) -> Scored:
    frame = case.values.dropna().to_frame("value")
    stamps = case.values.index[case.origins - 1]
    many = model.forecast_many(frame, stamps)
    return Scored(many.median, many.values[..., 0], many.values[..., -1], many.usable)


def raw_gru(case: Case, args: argparse.Namespace) -> tuple[Scored, float]:
    """`bench/accuracy.py`'s GRU on the standardised series (stops read as 0, never scored),
    context as the product chose it for the case's step, validation on the last 20 % of the
    training rows (the protocol's split for ETTh1)."""
    mean, std = case.scale
    scaled = ((case.values - mean) / std).to_numpy(float)
    valid = np.isfinite(scaled)
    filled = np.nan_to_num(scaled)
    step = pd.Timedelta(to_offset(case.frequency))
    context = automatic_context(case.horizon, step, case.train_end)
    validation_start = 8640 if case.dataset == "etth1" else int(case.train_end * 0.8)
    history = filled[: case.train_end]
    forecaster, seconds = fit_raw_gru(
        history, "dsf", case.horizon, context, validation_start, args, valid[: case.train_end]
    )
    origins = case.origins
    usable = origins >= context
    median = np.full((len(origins), case.horizon), np.nan)
    forecast = forecaster.forecast_at(SeriesArrays.of(filled), origins[usable])
    median[usable] = forecast[..., forecaster.network_config.quantiles.index(0.5)] * std + mean
    return Scored(median, None, None, usable), seconds


def _all(origins: np.ndarray) -> np.ndarray:
    return np.ones(len(origins), dtype=bool)


def report(dataset: str, horizon: int, rows: list[dict], as_json: bool) -> None:
    by_model = {row["model"]: row for row in rows}
    product, naive = by_model["product"], by_model["repeat-last"]
    baselines = [row for row in rows if row["model"] != "product"]
    best = min(baselines, key=lambda row: row["mse"])
    summary = {
        "dataset": dataset,
        "horizon": horizon,
        "summary": True,
        "product_mse_over_repeat_last": round(product["mse"] / naive["mse"], 4),
        "product_mse_over_best_baseline": round(product["mse"] / best["mse"], 4),
        "best_baseline": best["model"],
    }
    if as_json:
        for row in rows:
            print(json.dumps({"dataset": dataset, "horizon": horizon, **row}), flush=True)
        print(json.dumps(summary), flush=True)
        return
    print(f"\n{dataset}, horizon {horizon} ({product['origins']} origins)")
    print(f"{'model':>15} {'MSE':>8} {'MAE':>8} {'cover':>6} {'train s':>8}  chosen")
    for row in rows:
        cover = f"{row['coverage']:.3f}" if row["coverage"] is not None else "-"
        chosen = ", ".join(row["chosen"]) if row["chosen"] else ""
        print(
            f"{row['model']:>15} {row['mse']:>8.4f} {row['mae']:>8.4f} {cover:>6} "
            f"{row['train_seconds']:>8.1f}  {chosen}"
        )
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
