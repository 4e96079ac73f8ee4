"""Rows for tests: valid by default, so a test names only the fields it is about."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pandas as pd

from app.db.models import ModelVersion, Observation, Series, TrainingRun
from model.config import LineModelConfig
from model.line_model import FittedLineModel, LineModel

_numbers = count(1)


def new_series(**fields: Any) -> Series:
    return Series(**{"name": f"line-{next(_numbers)}/throughput", "frequency": "h", **fields})


def new_observation(series_id: int, hour: int, **fields: Any) -> Observation:
    ts = datetime(2026, 1, 1, hour, tzinfo=UTC)
    return Observation(**{"series_id": series_id, "ts": ts, "value": 1.0, **fields})


def new_model_version(series_id: int, **fields: Any) -> ModelVersion:
    artifact = b"weights"
    return ModelVersion(
        **{
            "series_id": series_id,
            "version": next(_numbers),
            "training_mode": "dsf",
            "config": {"horizon": 24},
            "preprocessing": {"scale": 1.0},
            "artifact": artifact,
            "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
            **fields,
        }
    )


def new_training_run(series_id: int, **fields: Any) -> TrainingRun:
    return TrainingRun(**{"series_id": series_id, "trigger": "api", **fields})


def tiny_line_model(frame: pd.DataFrame, **fields: Any) -> FittedLineModel:
    """A line model of `frame`'s "value" column fitted in about a second (8 units, one
    epoch of five steps): for tests about what is stored and served, not forecast quality."""
    config = LineModelConfig(
        **{
            "horizon": 6,
            "context": 24,
            "hidden": 8,
            "epochs": 1,
            "steps_per_epoch": 5,
            "seed": 0,
            **fields,
        }
    )
    return LineModel(config, device="cpu").fit(frame)
