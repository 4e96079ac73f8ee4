"""Time the preprocessing pipeline's fit on dirty synthetic lines of 10k, 100k and 1M points.

Figures only, not pass/fail. From the repository root:

    python bench/preprocess.py            # table on stdout
    python bench/preprocess.py --json     # one JSON object per line

Each series is hourly or minute data with a wear trend, daily and weekly cycles, AR(1) noise,
1 % spikes, stops (gaps of 2 to 30 steps) and repeated stamps, so every stage has work to do.
Beside each fit, in the same process, the same data are decomposed with statsmodels' MSTL at
its defaults (jump 1), where that finishes in reasonable time, to show what the loess jumps
and the `max_points` tail fit buy; and a year of hourly data is timed on its own, the figure
the issue asks to stay well under 2 seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from statsmodels.tsa.seasonal import MSTL

from preprocessing.pipeline import Pipeline

MSTL_DEFAULT_MAX_POINTS = 20_000  # beyond this statsmodels' defaults take minutes


def dirty_line(points: int, freq: str, seed: int = 0) -> pd.Series:
    """A production-line-like series with the flaws the pipeline repairs."""
    rng = np.random.default_rng(seed)
    step = pd.Timedelta(to_offset(freq))
    per_day = int(pd.Timedelta(days=1) / step)
    k = np.arange(points)
    noise = np.empty(points)
    noise[0] = 0.0
    shocks = rng.normal(scale=0.5, size=points)
    for i in range(1, points):  # a loop: a few ms per 100k points, run once per size
        noise[i] = 0.6 * noise[i - 1] + shocks[i]
    values = (
        100.0
        + 5.0 * k / points
        + 8.0 * np.sin(2 * np.pi * k / per_day)
        + 3.0 * np.sin(2 * np.pi * k / (7 * per_day))
        + noise
    )
    spikes = rng.random(points) < 0.01
    values[spikes] += rng.choice([-40.0, 40.0], size=spikes.sum())
    for start in rng.integers(0, points - 30, size=max(1, points // 2000)):
        values[start : start + rng.integers(2, 30)] = np.nan
    index = pd.date_range("2025-01-01", periods=points, freq=freq, tz="UTC")
    series = pd.Series(values, index=index)
    repeated = series.iloc[rng.integers(0, points, size=points // 1000)]
    return pd.concat([series, repeated])


def seconds(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--freqs", nargs="+", default=["h", "min"])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)

    year = dirty_line(8760, "h", seed=1)
    Pipeline().fit(year)  # warm imports and caches
    year_s = seconds(lambda: Pipeline().fit(year), repeats=5)
    rows = [{"series": "one year hourly", "points": 8760, "fit_s": round(year_s, 3)}]
    for freq in args.freqs:
        for points in args.sizes:
            series = dirty_line(points, freq)
            repeats = 3 if points <= 100_000 else 1
            fit_s = seconds(lambda s=series: Pipeline().fit(s), repeats)
            pipeline = Pipeline().fit(series)
            report = pipeline.report
            row = {
                "series": f"{freq} x {points}",
                "points": points,
                "fit_s": round(fit_s, 3),
                "transform_s": round(
                    seconds(lambda p=pipeline, s=series: p.transform(p.clean(s)), repeats), 3
                ),
                "periods": [p["period"] for p in report.periods],
                "trend": report.trend,
                "verdict": report.recommended_mode,
            }
            if points <= MSTL_DEFAULT_MAX_POINTS and report.periods:
                filled = pipeline.clean(series).interpolate(limit_area="inside").to_numpy()
                periods = sorted(p["period"] for p in report.periods)
                mstl_s = seconds(lambda f=filled, ps=periods: MSTL(f, periods=ps).fit(), 1)
                row["statsmodels_mstl_defaults_s"] = round(mstl_s, 3)
                row["fit_speedup_vs_mstl_defaults"] = round(mstl_s / fit_s, 2)
            rows.append(row)

    for row in rows:
        if args.json:
            print(json.dumps(row))
            continue
        extra = ""
        if "fit_speedup_vs_mstl_defaults" in row:
            extra = (
                f"  MSTL defaults alone {row['statsmodels_mstl_defaults_s']:.2f}s "
                f"({row['fit_speedup_vs_mstl_defaults']:.1f}x our whole fit)"
            )
        detail = ""
        if "trend" in row:
            detail = (
                f"  transform {row['transform_s']:.3f}s  periods {row['periods']} "
                f"trend {row['trend']} -> {row['verdict']}"
            )
        print(f"{row['series']:>16}: fit {row['fit_s']:.3f}s{detail}{extra}")


if __name__ == "__main__":
    main()
