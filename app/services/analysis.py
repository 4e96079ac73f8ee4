"""The preprocessing report of a series' stored readings, stored as an `AnalysisReport`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.db.json_values import json_safe
from app.db.models import AnalysisReport, Series
from app.services.series_data import load_frame
from preprocessing.pipeline import Pipeline, PipelineConfig
from preprocessing.regularise import RegulariseConfig


def analyse_series(
    *, session: Session, series: Series, start: datetime | None, end: datetime | None
) -> AnalysisReport:
    """Fit the pipeline on the readings in [start, end] and store its report.

    ValueError (naming the problem) when there are no readings or the pipeline refuses them
    (too few, constant); nothing is stored then.
    """
    frame = load_frame(session=session, series_id=series.id, start=start, end=end)
    if frame.empty:
        raise ValueError(f"series {series.id} has no observations in the window asked for")
    config = PipelineConfig(regularise=RegulariseConfig(freq=series.frequency))
    report = Pipeline(config).fit(frame["value"]).report
    stored = AnalysisReport(
        series_id=series.id,
        window_start=frame.index[0].to_pydatetime(),
        window_end=frame.index[-1].to_pydatetime(),
        verdict=report.after.verdict,
        report=json_safe(report.to_dict()),
    )
    session.add(stored)
    session.commit()
    return stored
