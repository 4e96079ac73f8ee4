"""Robust standardisation, (x - center) / scale, with parameters that can be stored as JSON.

`center` is the median and `scale` a robust estimate of the standard deviation, so a few
glitches in the training window do not set the scale of every later input. Fitting ignores
non-finite values (NaN, ±inf); `transform` and `inverse_transform` pass NaN through. A fitted
scaler is immutable, and its JSON holds plain floats only (no pickle), so a stored model's
scaler can be read back without running code from disk.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

ScaleSource = Literal["iqr", "mad", "std", "unit"]
ArrayOrSeries = TypeVar("ArrayOrSeries", np.ndarray, pd.Series)

IQR_TO_SIGMA = 1.349  # IQR of a standard normal
MAD_TO_SIGMA = 1.4826  # 1 / (0.75 quantile of a standard normal)


@dataclass(frozen=True)
class RobustScaler:
    """A fitted median/IQR scaler; `scale_source` records which estimate `scale` came from.

    The scale falls back in order, each step only when the previous one is exactly zero:

    - "iqr": IQR / 1.349, the default. It uses the middle half of the data, so up to a quarter
      of bad values at either end cannot move it.
    - "mad": MAD · 1.4826, the other robust estimate. With numpy's default (linear) quantiles a
      zero IQR means more than half the values equal the median, so the MAD is zero too and
      this step does not fire in practice (checked exhaustively on short tied arrays); it stays
      as a guard in case the quantile method changes, since it costs one median.
    - "std": the standard deviation. A line held at a set-point for over half the window has
      IQR = MAD = 0 although it does move; the standard deviation is the only estimate left that
      sees those movements (it is not robust, but nothing robust is non-zero there).
    - "unit": 1.0, for a constant series. Dividing by zero is not an option, and 1.0 turns the
      transform into plain centring, so the constant maps to 0 and back exactly.
    """

    center: float
    scale: float
    scale_source: ScaleSource = "iqr"

    def __post_init__(self) -> None:
        if not math.isfinite(self.center):
            raise ValueError(f"center must be finite, got {self.center!r}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be finite and > 0, got {self.scale!r}")
        if self.scale_source not in ("iqr", "mad", "std", "unit"):
            raise ValueError(
                f"scale_source must be iqr, mad, std or unit, got {self.scale_source!r}"
            )

    @classmethod
    def fit(cls, values: pd.Series | np.ndarray) -> RobustScaler:
        """Median and robust scale of the finite values; ValueError when there are none."""
        x = np.asarray(values, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"values must be one-dimensional, got shape {x.shape}")
        x = x[np.isfinite(x)]
        if x.size == 0:
            raise ValueError("values has no finite entries (all NaN, inf or empty); cannot fit")
        center = float(np.median(x))
        q1, q3 = np.quantile(x, [0.25, 0.75])
        candidates: list[tuple[ScaleSource, float]] = [
            ("iqr", float(q3 - q1) / IQR_TO_SIGMA),
            ("mad", float(np.median(np.abs(x - center))) * MAD_TO_SIGMA),
            ("std", float(np.std(x))),
        ]
        for source, scale in candidates:
            if scale > 0:
                return cls(center=center, scale=scale, scale_source=source)
        return cls(center=center, scale=1.0, scale_source="unit")

    def transform(self, values: ArrayOrSeries) -> ArrayOrSeries:
        """(values - center) / scale; a Series keeps its index and name."""
        return _like(values, (_as_float(values) - self.center) / self.scale)

    def inverse_transform(self, values: ArrayOrSeries) -> ArrayOrSeries:
        """values · scale + center, the inverse of `transform` up to floating-point rounding."""
        return _like(values, _as_float(values) * self.scale + self.center)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RobustScaler:
        data: dict[str, Any] = json.loads(text)
        return cls(
            center=float(data["center"]),
            scale=float(data["scale"]),
            scale_source=data.get("scale_source", "iqr"),
        )


def _as_float(values: np.ndarray | pd.Series) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _like(values: ArrayOrSeries, out: np.ndarray) -> ArrayOrSeries:
    if isinstance(values, pd.Series):
        return pd.Series(out, index=values.index, name=values.name)
    return out
