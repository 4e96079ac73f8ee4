"""The preprocessing report: what was repaired, found and removed, and whether DSF may train.

DSF's reverse-time filter assumes the gradient dynamics do not change over time, which holds
for a stationary input and fails for a trending or drifting one. So the training mode follows the
tests on the *preprocessed* series: stationary -> "dsf"; anything else (including conflicting
tests) -> exact "bptt", which assumes nothing. The report is plain JSON so the service can store
it beside the model it shaped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from preprocessing.stationarity import StationarityReport, TestResult

DSF_OK = "stationary after preprocessing: DSF"
DSF_NOT_OK = "still non-stationary: use exact BPTT"
RecommendedMode = Literal["dsf", "bptt"]


def dsf_verdict(after: StationarityReport) -> tuple[str, RecommendedMode]:
    """The suitability verdict and training mode for a preprocessed series' test results."""
    if after.verdict == "stationary":
        return DSF_OK, "dsf"
    return DSF_NOT_OK, "bptt"


@dataclass(frozen=True)
class PreprocessingReport:
    """Counts, periods, trend, tests before and after, the steps taken and the DSF verdict.

    `trend_trials` lists each trend the automatic choice tested with the verdict it got;
    `steps` is the pipeline in order, each with what was done (and, for the trend, why).
    """

    freq: str
    start: str
    end: str
    points: int
    counts: dict[str, Any]
    outliers: dict[str, Any]
    candidate_periods: dict[str, int]
    periods: list[dict[str, Any]]
    dropped_periods: list[dict[str, Any]]
    trend: str
    trend_trials: list[dict[str, str]]
    steps: list[dict[str, str]]
    before: StationarityReport
    after: StationarityReport
    dsf_verdict: str
    recommended_mode: RecommendedMode
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessingReport:
        fields = dict(data)
        for key in ("before", "after"):
            fields[key] = StationarityReport.from_json(json.dumps(data[key]))
        return cls(**fields)

    def render(self) -> str:
        """A plain-text report for a terminal."""
        counts = self.counts
        lines = [
            f"series: {self.points} points every {self.freq}, {self.start} .. {self.end}",
            f"repairs: {counts['duplicates']} duplicates, {counts['non_finite']} NaN/inf, "
            f"{counts['filled_points']} points filled in {counts['gaps'] - counts['long_gaps']} "
            f"short gaps, {counts['long_gaps']} long gaps ({counts['long_gap_points']} points) "
            f"kept, imputed share {counts['imputed_share']:.1%}, "
            f"{self.outliers['count']} outliers ({self.outliers['action']})",
        ]
        periods = ", ".join(
            f"{p['period']} ({p['name']}, {p['strength']:.2f})" for p in self.periods
        )
        lines.append(f"seasonal periods: {periods or 'none'}")
        lines += [f"  dropped {d['period']}: {d['reason']}" for d in self.dropped_periods]
        lines.append("steps:")
        for step in self.steps:
            why = f" -- {step['why']}" if step.get("why") else ""
            lines.append(f"  {step['step']}: {step['detail']}{why}")
        for label, report in (("before", self.before), ("after", self.after)):
            lines.append(f"tests {label}: {report.verdict} ({report.reason})")
            lines += [f"  {_test_line(t)}" for t in _tests(report)]
        lines += [f"note: {note}" for note in self.notes]
        lines.append(f"verdict: {self.dsf_verdict} (mode {self.recommended_mode})")
        return "\n".join(lines)


def _tests(report: StationarityReport) -> list[TestResult]:
    names = ("adf_level", "kpss_level", "adf_trend", "kpss_trend")
    return [t for t in (getattr(report, n) for n in names) if t is not None]


def _test_line(test: TestResult) -> str:
    level = "level" if test.regression == "c" else "trend"
    return (
        f"{test.name.upper()} ({level}): statistic {test.statistic:.3f}, p {test.p_value_text}, "
        f"lags {test.lags}, H0 {test.null_hypothesis}"
    )
