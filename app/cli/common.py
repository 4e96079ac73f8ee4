"""Pieces the train, forecast and demo commands share: options, and reading series."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pandas as pd

from app.errors import UsageError
from model.modes import TrainingMode
from model.network import NetworkConfig
from model.trainer import TrainConfig
from model.windows import SeriesArrays
from preprocessing.loading import InputError, read_csv_column
from preprocessing.regularise import freq_alias, infer_step


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--context", type=int, default=168, help="steps read per forecast")
    parser.add_argument("--hidden", type=int, default=64, help="GRU units per layer")
    parser.add_argument("--layers", type=int, default=2, help="stacked GRU layers")
    parser.add_argument("--epochs", type=int, default=30, help="maximum epochs")
    parser.add_argument("--steps-per-epoch", type=int, default=100, help="batches per epoch")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def network_and_training(
    args: argparse.Namespace, known: int, observed: int
) -> tuple[NetworkConfig, TrainConfig]:
    """Build the configurations, turning their checks into one-line usage errors."""
    try:
        TrainingMode.parse(args.mode)
        network = NetworkConfig(
            horizon=args.horizon,
            hidden=args.hidden,
            layers=args.layers,
            known=known,
            observed=observed,
            tau_max=float(max(args.context, 1)),
        )
        training = TrainConfig(
            mode=args.mode,
            context=args.context,
            max_epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            seed=args.seed,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    return network, training


def _step(index: pd.Index) -> str | None:
    """The series' step as an offset alias ("h", "5min"), or None without enough time stamps."""
    try:
        return freq_alias(infer_step(index))
    except ValueError:
        return None


@dataclass(frozen=True)
class CommandSeries:
    """A loaded series as the model reads it, plus what the command reports about it."""

    arrays: SeriesArrays
    index: pd.Index
    filled: int
    freq: str | None
    future_known: pd.DataFrame


def load_series(
    path: str, column: str, known: list[str], observed: list[str], allow_future_rows: bool = False
) -> CommandSeries:
    try:
        loaded = read_csv_column(path, column, tuple(known + observed), allow_future_rows)
    except InputError as error:
        raise UsageError(str(error)) from error
    history = loaded.history()
    index = history.index
    freq = _step(index)
    arrays = SeriesArrays.of(
        history[column].to_numpy(),
        history[known].to_numpy() if known else None,
        history[observed].to_numpy() if observed else None,
    )
    future = loaded.frame.iloc[len(history) :][known]
    return CommandSeries(arrays, index, loaded.filled, freq, future)
