"""Forecast accuracy on real data: `dsf` against `bptt`, `ft-bptt` and naive baselines.

    python bench/accuracy.py --dataset etth1 --horizon 96 [--json] [--modes dsf,bptt,ft-bptt]

The standard ETTh1 protocol of `../shared/data/README.md`: target OT alone, rows [0, 8640) train,
[8640, 11520) validation, [11520, 14400) test; standardised with the training rows' mean and
standard deviation; context 336; MSE and MAE on that scale over every test window (stride 1)
whose forecast lies in the test rows. Each mode trains the same network from the same seed for
the same budget of epochs and keeps its best validation epoch: with patience-based stopping a
mode that keeps improving would look slower for being better. Training seconds are wall-clock,
validation passes included, one mode after the other. `--tau-max` 48 (two days of hourly data)
had the lower validation loss of 48 and 336 for `dsf` (see the closing note of issue 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from model.forecaster import Forecaster
from model.network import NetworkConfig
from model.trainer import TrainConfig
from model.windows import SeriesArrays

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAIN_END, VALIDATION_END, TEST_END = 8640, 11520, 14400
CONTEXT = 336


def load_etth1() -> np.ndarray:
    """OT, standardised with the training rows (the protocol's scale)."""
    path = DATA / "ETTh1.csv"
    if not path.is_file():
        sys.exit(f"skipped: {path} not found (the shared data folder is absent)")
    ot = pd.read_csv(path)["OT"].to_numpy(dtype=np.float64)[:TEST_END]
    train = ot[:TRAIN_END]
    return (ot - train.mean()) / train.std()


def test_origins(horizon: int) -> np.ndarray:
    """Rows of each test window's first forecast step (stride 1)."""
    return np.arange(VALIDATION_END, TEST_END - horizon + 1)


def actuals(series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    return series[origins[:, None] + np.arange(horizon)]


def repeat_last(series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(series[origins - 1][:, None], horizon, axis=1)


def seasonal_naive(
    series: np.ndarray, origins: np.ndarray, horizon: int, period: int = 24
) -> np.ndarray:
    """Each step repeats the value one (or more) whole days before it, inside the context."""
    steps = np.arange(horizon)
    lag = period * (steps // period + 1)
    return series[origins[:, None] + steps - lag]


def scores(forecast: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    error = forecast - actual
    return {"mse": float(np.mean(error**2)), "mae": float(np.mean(np.abs(error)))}


def train_mode(
    series: np.ndarray, mode: str, horizon: int, args: argparse.Namespace
) -> tuple[dict[str, float], float, Forecaster]:
    forecaster, seconds = fit_raw_gru(
        series[:VALIDATION_END], mode, horizon, CONTEXT, TRAIN_END, args
    )
    origins = test_origins(horizon)
    median = forecaster.forecast_at(SeriesArrays.of(series), origins)[..., 1]
    return scores(median, actuals(series, origins, horizon)), seconds, forecaster


def fit_raw_gru(
    history: np.ndarray,
    mode: str,
    horizon: int,
    context: int,
    validation_start: int,
    args: argparse.Namespace,
    valid: np.ndarray | None = None,
) -> tuple[Forecaster, float]:
    """The GRU on the scaled series itself, no preprocessing: `history` (N,) finite, rows from
    `validation_start` on held out for validation; `valid` marks real readings. Returns the
    fitted forecaster and its training seconds. `bench/product.py` uses it as a baseline."""
    forecaster = Forecaster(
        NetworkConfig(
            horizon=horizon,
            hidden=args.hidden,
            layers=args.layers,
            dropout=args.dropout,
            tau_max=min(args.tau_max, float(context)),
        ),
        TrainConfig(
            mode=mode,
            context=context,
            max_epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            patience=args.patience or args.epochs,
            learning_rate=args.learning_rate,
            loss_warmup=min(args.loss_warmup, context // 4),
            loss_stride=args.loss_stride,
            seed=args.seed,
        ),
        device=args.device,
    )
    started = time.perf_counter()
    forecaster.fit(SeriesArrays.of(history), validation_start=validation_start, valid=valid)
    return forecaster, time.perf_counter() - started


def add_gru_options(parser: argparse.ArgumentParser) -> None:
    """The raw GRU's settings: those at which it matched NLinear on ETTh1 (issue 2's note)."""
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help="stop after this many epochs without improvement (default: never)",
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--loss-warmup", type=int, default=48)
    parser.add_argument(
        "--loss-stride", type=int, default=1, help="score every k-th step of a window"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tau-max",
        type=float,
        default=48.0,
        help="longest DSF time constant, in steps (default 48)",
    )
    parser.add_argument("--device", default="auto")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["etth1"], default="etth1")
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--modes", default="dsf,bptt,ft-bptt")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_gru_options(parser)
    args = parser.parse_args()
    series = load_etth1()
    origins = test_origins(args.horizon)
    truth = actuals(series, origins, args.horizon)
    rows = [
        {
            "model": "repeat-last",
            **scores(repeat_last(series, origins, args.horizon), truth),
            "train_seconds": 0.0,
        },
        {
            "model": "seasonal-naive",
            **scores(seasonal_naive(series, origins, args.horizon), truth),
            "train_seconds": 0.0,
        },
    ]
    for mode in args.modes.split(","):
        result, seconds, forecaster = train_mode(series, mode, args.horizon, args)
        rows.append(
            {
                "model": mode,
                **result,
                "train_seconds": round(seconds, 1),
                "steps": forecaster.report.steps,
                "ms_per_step": round(1e3 * seconds / forecaster.report.steps, 1),
                "best_epoch": forecaster.report.best_epoch + 1,
                "validation_loss": round(forecaster.report.best_validation_loss, 5),
            }
        )
        if not args.json:
            print(
                f"{mode}: test MSE {result['mse']:.4f} MAE {result['mae']:.4f} in {seconds:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    by_name = {row["model"]: row for row in rows}
    summary = {"dataset": args.dataset, "horizon": args.horizon, "test_windows": len(origins)}
    if "dsf" in by_name and "bptt" in by_name:
        dsf, bptt = by_name["dsf"], by_name["bptt"]
        summary.update(
            dsf_mse_over_bptt=round(dsf["mse"] / bptt["mse"], 4),
            dsf_mse_over_repeat_last=round(dsf["mse"] / by_name["repeat-last"]["mse"], 4),
            train_speedup=round(bptt["train_seconds"] / max(dsf["train_seconds"], 1e-9), 3),
        )
    if args.json:
        for row in rows:
            print(json.dumps({"dataset": args.dataset, "horizon": args.horizon, **row}))
        print(json.dumps(summary))
        return
    print(
        f"{'model':>15} {'MSE':>8} {'MAE':>8} {'train s':>8}   (ETTh1 OT, horizon "
        f"{args.horizon}, {len(origins)} test windows)"
    )
    for row in rows:
        print(
            f"{row['model']:>15} {row['mse']:>8.4f} {row['mae']:>8.4f} {row['train_seconds']:>8.1f}"
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
