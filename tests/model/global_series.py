"""Series and configurations the global model's tests share: tiny and seeded, since those
tests are about plumbing (what is read, shared, saved), not forecast accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.config import LineModelConfig
from model.global_model import GlobalModelConfig

HORIZON = 6


def daily_series(seed: int, level: float, amplitude: float, rows: int = 240) -> pd.DataFrame:
    """Hourly readings with a daily cycle and noise, in the series' own units."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    values = level + amplitude * (np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.2, rows))
    stamps = pd.date_range("2026-03-01", periods=rows, freq="h", tz="UTC")
    return pd.DataFrame({"value": values}, index=stamps)


def global_config(**line: object) -> GlobalModelConfig:
    """One layer of 8 units, no dropout, two epochs of three steps, a vector of 2 per series."""
    settings = {
        "horizon": HORIZON,
        "context": 24,
        "hidden": 8,
        "dropout": 0.0,
        "epochs": 2,
        "steps_per_epoch": 3,
        "batch_size": 8,
        "seed": 0,
        **line,
    }
    return GlobalModelConfig(LineModelConfig(**settings), embedding=2)
