"""A version's backtest as people read it: the gate's errors by step and origin, and as CSV.

The training job keeps the breakdown with the version (`app.services.gate_errors`); this module
finds it again for the API and the dashboard. Versions stored before it was kept have none:
they answer with an empty backtest and a message that says why, rather than a 404 that would
read as "no such version".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from app.db.models import ModelVersion
from app.services.gate_errors import BACKTEST_KEY, DOCUMENT_FORMAT

CSV_COLUMNS = ("by", "role", "model", "step", "origin", "mse", "mae")


@dataclass(frozen=True)
class VersionBacktest:
    """A version and its stored gate errors (`document`, None when it has none, and why in
    `message`)."""

    version: ModelVersion
    document: dict[str, Any] | None
    message: str | None


def version_backtest(*, session: Session, series_id: int, version_id: int) -> VersionBacktest:
    """The backtest of the series' version `version_id` (its id); LookupError if the series
    has no such version."""
    version = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.series_id == series_id, ModelVersion.id == version_id)
        .options(defer(ModelVersion.artifact, raiseload=True))
    ).one_or_none()
    if version is None:
        raise LookupError(f"series {series_id} has no model version {version_id}")
    return backtest_of(version)


def backtest_of(version: ModelVersion) -> VersionBacktest:
    """The version's stored gate errors, or why there are none."""
    document = (version.metrics or {}).get(BACKTEST_KEY)
    if isinstance(document, dict) and document.get("format") == DOCUMENT_FORMAT:
        return VersionBacktest(version, document, None)
    if version.metrics.get("cold_start"):
        why = "it serves a global model's cold start, which had no gate stretch to score on"
    else:
        why = "it was stored before per-step and per-origin gate errors were kept; retrain"
    return VersionBacktest(version, None, f"v{version.version} has no backtest breakdown: {why}")


def backtest_csv(backtest: VersionBacktest) -> str:
    """The breakdown as one long table: a row per (model, step) with `by` = step, per (model,
    origin) with `by` = origin, and the overall errors with `by` = all; header only when the
    version has none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    document = backtest.document
    if document is None:
        return out.getvalue()
    for model in document["models"]:
        role, name = model["role"], model["name"]
        writer.writerow(("all", role, name, "", "", _cell(model["mse"]), _cell(model["mae"])))
        by_step = zip(model["step_mse"], model["step_mae"], strict=True)
        for step, (mse, mae) in enumerate(by_step, start=1):
            writer.writerow(("step", role, name, step, "", _cell(mse), _cell(mae)))
        for origin, mse, mae in zip(
            document["origins"], model["origin_mse"], model["origin_mae"], strict=True
        ):
            writer.writerow(("origin", role, name, "", origin, _cell(mse), _cell(mae)))
    return out.getvalue()


def _cell(value: float | None) -> str:
    # repr keeps every digit; an empty cell is a step or origin that had no reading.
    return "" if value is None else repr(float(value))
