"""A seeded line whose target follows its setpoint plan: the signal is in a known channel, so
a model that reads the plan can forecast what one reading only the target cannot."""

from __future__ import annotations

import numpy as np
import pandas as pd

CHANNELS = [
    {"name": "setpoint", "role": "known", "unit": "parts/h"},
    {"name": "shift", "role": "known", "unit": None},
    {"name": "motor_current", "role": "observed", "unit": "A"},
]


def covariate_line(hours: int = 480, seed: int = 0) -> pd.DataFrame:
    """Hourly readings: the setpoint jumps to a random level every 2 to 5 hours, the target
    follows it with a little noise, the motor current follows the target."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=hours, freq="h", tz="UTC")
    levels, setpoint = rng.uniform(50, 150, hours), np.empty(hours)
    start = 0
    while start < hours:
        length = int(rng.integers(2, 6))
        setpoint[start : start + length] = levels[start]
        start += length
    value = setpoint + rng.normal(0, 2, hours)
    return pd.DataFrame(
        {
            "value": value,
            "setpoint": setpoint,
            "shift": (index.hour // 8).astype(float),
            "motor_current": 0.05 * value + rng.normal(0, 0.2, hours),
        },
        index=index,
    )


def items(frame: pd.DataFrame, *, value: bool = True) -> list[dict[str, object]]:
    """Upload or context items: the target (unless `value` is false: a plan) and every
    channel column of the frame as covariates."""
    channels = [c for c in frame.columns if c != "value"]
    return [
        {
            "ts": stamp.isoformat(),
            **({"value": float(row["value"])} if value else {}),
            **({"covariates": {name: float(row[name]) for name in channels}} if channels else {}),
        }
        for stamp, row in frame.iterrows()
    ]
