"""`linecast forecast`: forecast the steps after the end of a CSV column with a saved model.

The answer is in the column's own units: the model forecasts in the preprocessed space and the
fitted pipeline adds the trend and seasons back. With known covariates, the CSV ends with
`horizon` rows whose target is empty and whose known columns give the plan for those steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.common import load_csv
from app.errors import UsageError
from model.forecasts import LineForecast
from model.line_model import FittedLineModel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forecast", help="forecast with a saved model", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", required=True, metavar="FILE", help="model file from train")
    parser.add_argument("--csv", required=True, metavar="PATH", help="input CSV file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda...")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    path = Path(args.model)
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    try:
        model = FittedLineModel.load(path, device=args.device)
    except ValueError as error:
        raise UsageError(str(error)) from error
    config = model.config
    loaded = load_csv(
        args.csv,
        config.target,
        config.known + config.observed,
        allow_future_rows=bool(config.known),
    )
    try:
        forecast = model.forecast(loaded.history(), loaded.future() if config.known else None)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if args.json:
        print(json.dumps(forecast_json(forecast, model)))
    else:
        print(forecast_table(forecast))


def forecast_json(forecast: LineForecast, model: FittedLineModel) -> dict:
    rows = [
        {
            "step": step,
            "timestamp": stamp.isoformat(),
            **{_label(q): float(v) for q, v in zip(forecast.quantiles, row, strict=True)},
        }
        for step, (stamp, row) in enumerate(
            zip(forecast.stamps, forecast.values, strict=True), start=1
        )
    ]
    return {
        "column": model.config.target,
        "horizon": model.horizon,
        "quantiles": list(forecast.quantiles),
        "model": forecast.model,
        "mode": model.mode.used if model.mode else None,
        "origin": forecast.origin.isoformat(),
        "filled_context": forecast.filled_context,
        "forecast": rows,
    }


def forecast_table(forecast: LineForecast) -> str:
    """A plain table: step, time stamp, then one column per quantile."""
    header = ["step", "timestamp", *(_label(q) for q in forecast.quantiles)]
    lines = ["  ".join(f"{h:>25}" if h == "timestamp" else f"{h:>10}" for h in header)]
    for step, (stamp, row) in enumerate(
        zip(forecast.stamps, forecast.values, strict=True), start=1
    ):
        cells = [f"{step:>10}", f"{stamp.isoformat():>25}", *(f"{v:>10.3f}" for v in row)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _label(quantile: float) -> str:
    return f"q{quantile:g}"
