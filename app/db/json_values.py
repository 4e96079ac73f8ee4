"""Values for JSON columns: PostgreSQL's JSONB refuses NaN and infinities, numpy scalars are not
JSON at all, and both turn up in model metrics and test statistics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as null and numpy scalars as plain Python ones."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
