"""`linecast forecast`: forecast the steps after the end of a CSV column with a saved model.

With known covariates, the CSV ends with `horizon` rows whose target is empty and whose known
columns give the plan for the forecast steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from app.cli.common import load_series
from app.errors import UsageError
from model.forecaster import Forecast, Forecaster


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forecast", help="forecast with a saved model", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", required=True, metavar="FILE", help="model file from train")
    parser.add_argument("--csv", required=True, metavar="PATH", help="input CSV file")
    parser.add_argument("--column", required=True, help="target column")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda...")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    path = Path(args.model)
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    try:
        forecaster, extra = Forecaster.load(path, device=args.device)
    except ValueError as error:
        raise UsageError(str(error)) from error
    known = list(extra.get("known", []))
    series = load_series(
        args.csv, args.column, known, list(extra.get("observed", [])), allow_future_rows=bool(known)
    )
    if len(series.arrays) < forecaster.context:
        raise UsageError(
            f"{args.csv} has {len(series.arrays)} rows of {args.column!r}; the "
            f"model reads {forecaster.context}"
        )
    future_known = None
    if known:
        if len(series.future_known) < forecaster.horizon:
            raise UsageError(
                f"the model uses known covariates {known}: end the CSV with "
                f"{forecaster.horizon} rows of them and an empty {args.column!r}"
            )
        future_known = series.future_known.to_numpy()[: forecaster.horizon]
    forecast = forecaster.predict(series.arrays, future_known)
    stamps = _future_stamps(series.index, series.freq or extra.get("freq"), forecaster.horizon)
    if args.json:
        print(json.dumps(forecast_json(forecast, stamps, args.column, forecaster)))
    else:
        print(forecast_table(forecast, stamps))


def _future_stamps(index: pd.Index, freq: str | None, horizon: int) -> list[str] | None:
    if not isinstance(index, pd.DatetimeIndex) or freq is None or len(index) == 0:
        return None
    stamps = pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]
    return [s.isoformat() for s in stamps]


def forecast_json(
    forecast: Forecast, stamps: list[str] | None, column: str, forecaster: Forecaster
) -> dict:
    rows = []
    for step, values in enumerate(forecast.values, start=1):
        row: dict = {"step": step}
        if stamps:
            row["timestamp"] = stamps[step - 1]
        row.update({f"q{q:g}": float(v) for q, v in zip(forecast.quantiles, values, strict=True)})
        rows.append(row)
    return {
        "column": column,
        "horizon": forecaster.horizon,
        "quantiles": list(forecast.quantiles),
        "mode": forecaster.train_config.mode,
        "forecast": rows,
    }


def forecast_table(forecast: Forecast, stamps: list[str] | None) -> str:
    """A plain table: step, time stamp if known, then one column per quantile."""
    header = ["step"] + (["timestamp"] if stamps else []) + [f"q{q:g}" for q in forecast.quantiles]
    lines = ["  ".join(f"{h:>25}" if h == "timestamp" else f"{h:>10}" for h in header)]
    for step, values in enumerate(forecast.values, start=1):
        cells = [f"{step:>10}"] + ([f"{stamps[step - 1]:>25}"] if stamps else [])
        cells += [f"{v:>10.3f}" for v in values]
        lines.append("  ".join(cells))
    return "\n".join(lines)
