"""Find the seasonal periods a series really shows, split them off, and continue them forward.

Input to every function here must be finite: NaN would silently poison STL's loess fits, so
`decompose` refuses it with a ValueError and the caller fills short gaps first (`regularise`).

Phase convention: index 0 of the array passed in has phase 0 for detection and decomposition;
`seasonal_profile` takes the phases explicitly (the pipeline's are wall-clock phases), and the
pipeline continues a profile by the phase of each forecast step.

Period fit rule (shared by detection and decomposition, and the one MSTL applies itself): a
period is usable only if the series holds *more than two* full cycles (N > 2 * period); with
fewer, every phase is seen at most twice and a seasonal shape cannot be told from noise.

Speed: MSTL runs with statsmodels' defaults (`iterate=2`, seasonal windows 7, 11, ...) and
non-robust STL, but with loess jumps as in R's stl (`_jumps`), so each pass is O(N). One year of
hourly data (8760 points, periods 24 and 168) decomposes in about 0.1 s. For very long inputs
`decompose` fits only the last `max_points` points (default 100_000: about 10 weekly cycles of
minute data, ~5 s; MSTL shares one set of jumps, set for the shortest period, so the longest
period costs most) and carries the seasonal shapes back over the earlier part by phase; the
earlier trend is a centred rolling median of what remains. `Decomposition.notes` says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import MSTL, STL

DEFAULT_MAX_POINTS = 100_000
PROFILE_CYCLES = 4  # few enough to follow a drifting shape, enough to average out noise


@dataclass(frozen=True)
class DetectedPeriod:
    """A seasonal period the series shows. `strength` is the noise-adjusted variance share
    explained by the period's phase-mean profile (see `seasonal_strength`), in [0, 1]."""

    name: str
    period: int
    strength: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class DroppedPeriod:
    """A requested period `decompose` could not fit, and why."""

    period: int
    reason: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Decomposition:
    """values = trend + sum(seasonal.values()) + residual, each of shape (N,), read-only.

    `periods` are those fitted (ascending); `dropped` those requested but not fitted.
    """

    trend: np.ndarray
    seasonal: dict[int, np.ndarray]
    residual: np.ndarray
    periods: tuple[int, ...]
    dropped: tuple[DroppedPeriod, ...]
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        """The report part (no arrays): what was fitted, what was dropped and why."""
        return json.dumps(
            {
                "periods": list(self.periods),
                "dropped": [asdict(d) for d in self.dropped],
                "notes": list(self.notes),
            }
        )


def _finite_1d(values: np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {x.shape}")
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise ValueError(
            f"values contain {bad} NaN/inf; fill short gaps before seasonal analysis "
            "(statsmodels' STL would spread them over the whole fit)"
        )
    return x


def _fits(n: int, period: int) -> str | None:
    """Why `period` cannot be fitted on `n` points, or None if it can."""
    if period < 2:
        return f"period {period} < 2 steps is not a seasonal lag"
    if n <= 2 * period:
        return f"needs more than two full cycles ({2 * period + 1} points), series has {n}"
    return None


def _centred_mean(x: np.ndarray, period: int) -> np.ndarray:
    """Classical 2xp (even p) or p (odd p) centred moving average: removes period-p seasonality
    exactly, so what is left of x around it is seasonal + noise. Edges use shorter windows."""
    s = pd.Series(x)
    ma = s.rolling(period, center=True, min_periods=1).mean()
    if period % 2 == 0:
        ma = ma.rolling(2, min_periods=1).mean().shift(-1).fillna(ma)
    return ma.to_numpy()


def _phase_means(x: np.ndarray, period: int, origin: int = 0) -> np.ndarray:
    """Mean per phase over the last whole cycles of x, whose x[0] sits at index `origin` of
    the series (so has phase origin % period). Entry k of the result is phase k."""
    m = len(x) - len(x) % period
    block = x[len(x) - m :].reshape(-1, period).mean(axis=0)  # (C, P) -> (P,)
    return np.roll(block, (origin + len(x) - m) % period)


def seasonal_strength(x: np.ndarray, period: int) -> tuple[float, np.ndarray]:
    """Noise-adjusted share of the detrended variance explained by the phase-mean profile.

    Detrend with a centred moving average over one period, take the mean per phase (the
    profile, centred) and compute R2 = var(profile tiled) / var(detrended). Pure noise with
    c = N / period cycles still scores about 1 / c, so report (R2 - 1/c) / (1 - 1/c), clipped to
    [0, 1] (the adjusted R2 of a one-way ANOVA on phase). Returns (strength, profile).
    """
    d = x - _centred_mean(x, period)
    profile = _phase_means(d, period)
    profile = profile - profile.mean()
    total = float(np.var(d))
    if total <= 0.0:
        return 0.0, profile
    tiled = profile[np.arange(len(x)) % period]
    r2 = float(np.var(tiled)) / total
    chance = period / len(x)
    return float(np.clip((r2 - chance) / (1.0 - chance), 0.0, 1.0)), profile


def detect_periods(
    values: np.ndarray,
    candidates: dict[str, int],
    *,
    min_strength: float = 0.1,
    max_periods: int = 3,
) -> list[DetectedPeriod]:
    """Keep the candidates the series shows with `seasonal_strength` >= `min_strength`.

    Candidates are tested shortest first, and each accepted profile is subtracted before the
    next test: a daily pattern repeats every week too, so without this the weekly test would
    credit the daily pattern to the week. Candidates needing more than the series holds
    (see `_fits`) are skipped. Periodogram peaks are *not* added: candidates come from the
    sampling interval (`periods_for`) and name physical cycles, while free peaks on noisy plant
    data are mostly harmonics or leakage that would make the model's inputs unstable from run to
    run. The strongest `max_periods` are returned, strongest first.
    """
    x = _finite_1d(values)
    found: list[DetectedPeriod] = []
    rest = x.copy()
    for name, period in sorted(candidates.items(), key=lambda kv: kv[1]):
        if _fits(len(x), period) is not None:
            continue
        strength, profile = seasonal_strength(rest, period)
        if strength >= min_strength:
            found.append(DetectedPeriod(name, int(period), round(strength, 6)))
            rest = rest - profile[np.arange(len(x)) % period]
    found.sort(key=lambda d: -d.strength)
    return found[:max_periods]


def _rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(x)))
    return pd.Series(x).rolling(window, center=True, min_periods=1).median().to_numpy()


def _jumps(period: int) -> dict[str, int]:
    """Loess jumps as R's stl: about a tenth of the trend (~1.9 p) and low-pass (~p) windows.

    statsmodels defaults to jump 1, i.e. one local regression per point: 0.6 s for a single
    period-168 STL on 8760 points. Interpolating between fits a tenth of a window apart costs
    nothing visible (the smoothers are far wider than the jump). MSTL shares one set of STL
    options, so the jumps follow the shortest period, which is safe for the longer ones.
    """
    return {"trend_jump": math.ceil(0.19 * period), "low_pass_jump": math.ceil(0.1 * (period + 1))}


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def decompose(
    values: np.ndarray, periods: list[int], *, max_points: int = DEFAULT_MAX_POINTS
) -> Decomposition:
    """Split values into trend, one seasonal component per usable period, and residual.

    STL for one usable period, MSTL for several. Unusable periods (see `_fits`) go to
    `dropped` with the reason. With none usable, STL cannot run: trend is a centred rolling
    median over the shortest requested period (so a cycle too long to fit is smoothed out of
    the trend rather than kept in it; 3 steps when none was requested), a median because one
    spike should not bend the trend; seasonal is empty and residual = values - trend.
    """
    x = _finite_1d(values)
    n = len(x)
    requested = sorted({int(p) for p in periods})
    used: list[int] = []
    dropped: list[DroppedPeriod] = []
    for p in requested:
        why = _fits(n, p)
        if why is None:
            used.append(p)
        else:
            dropped.append(DroppedPeriod(p, why))
    notes: list[str] = []
    if not used:
        window = requested[0] if requested and requested[0] >= 2 else 3
        trend = _rolling_median(x, window)
        notes.append(f"no usable period: trend is a centred rolling median over {window} steps")
        return Decomposition(
            _readonly(trend), {}, _readonly(x - trend), (), tuple(dropped), tuple(notes)
        )

    start = max(0, n - max_points) if n > max_points else 0
    if start:
        # Keep whole cycles of the longest period so phase 0 stays phase 0.
        start -= start % used[-1]
        notes.append(f"fitted on the last {n - start} of {n} points (max_points={max_points})")
    tail = x[start:]
    if len(used) == 1:
        res = STL(tail, period=used[0], **_jumps(used[0])).fit()
        seasonal_tail = {used[0]: np.asarray(res.seasonal)}
    else:
        res = MSTL(tail, periods=used, stl_kwargs=_jumps(used[0])).fit()
        s = np.asarray(res.seasonal).reshape(len(tail), -1)  # (T, P)
        seasonal_tail = {p: s[:, i] for i, p in enumerate(used)}
    trend_tail = np.asarray(res.trend)

    seasonal: dict[int, np.ndarray] = {}
    for p, comp in seasonal_tail.items():
        full = np.empty(n)
        full[start:] = comp
        if start:
            # Before the fitted stretch, repeat the earliest cycles' shape by phase.
            first = _phase_means(comp[: PROFILE_CYCLES * p], p, origin=start)
            full[:start] = first[np.arange(start) % p]
        seasonal[p] = _readonly(full)
    trend = np.empty(n)
    trend[start:] = trend_tail
    if start:
        deseason = x[:start] - sum(s[:start] for s in seasonal.values())
        trend[:start] = _rolling_median(deseason, used[-1])
    residual = x - trend - sum(seasonal.values())
    return Decomposition(
        _readonly(trend), seasonal, _readonly(residual), tuple(used), tuple(dropped), tuple(notes)
    )


def seasonal_profile(
    component: np.ndarray, phases: np.ndarray, period: int, cycles: int = PROFILE_CYCLES
) -> np.ndarray:
    """Mean value per phase over the last `cycles` cycles of a seasonal component.

    (N,), (N,) -> (period,): entry j averages the values whose phase is j mod `period`. The
    phases are the caller's: the pipeline passes wall-clock phases, so a DST change, where MSTL
    (which works by position) sees the plant's hours move, does not smear the shape. Averaging
    a few recent cycles rather than taking the last one keeps one odd day from being repeated
    forever, and rather than all of them lets a slowly changing shape be followed.
    """
    c = _finite_1d(component)
    if period < 1 or len(c) < period or len(phases) != len(c):
        raise ValueError(f"component of length {len(c)} holds no full cycle of period {period}")
    keep = min(len(c), cycles * period)
    slots = np.mod(np.asarray(phases[-keep:], dtype=np.int64), period)
    sums = np.bincount(slots, weights=c[-keep:], minlength=period)
    counts = np.bincount(slots, minlength=period)
    return np.divide(sums, counts, out=np.zeros(period), where=counts > 0)
