"""Executing a training run, from its claim to a stored outcome.

`execute_run` claims the run, fits the line model (cross-validation chooses among its
candidates, `model.selection`) on the data before the gate's origins, scores it against
repeat-last and the active model there (`app.services.backtest`), calibrates its intervals on
those origins, and stores the outcome in one transaction: a new version, active or rejected,
and the run's final status. Progress and heartbeats are written in their own short
transactions; nothing else is written before that last transaction, so a failure leaves no
half-stored version. Claims, heartbeats and who may write a running run: `app.jobs`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.tseries.frequencies import to_offset
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.json_values import json_safe
from app.db.models import ModelVersion, Series, TrainingRun, utcnow
from app.jobs import (
    Heartbeat,
    RunClaim,
    RunInterrupted,
    RunLost,
    claim_run,
    run_claimed,
)
from app.services.backtest import GateDecision, GateScores, gate_origins, judge, score_for_gate
from app.services.gate_errors import with_gate_errors
from app.services.registry import ServedModel, active_version, load_model, verify_artifact
from app.services.series_data import load_frame
from app.services.training import (
    TrainingOptions,
    channels_read,
    minimum_observations,
    model_rows,
)
from app.settings import Settings
from model.line_model import FittedLineModel, LineModel
from preprocessing.regularise import infer_step

log = logging.getLogger(__name__)

# Share of the progress bar for training; the backtest and storing take the rest.
_TRAINING_SHARE = 0.9
# Tries to store an outcome when another version was promoted while the candidate was scored.
_STORE_TRIES = 3


def execute_run(
    run_id: int,
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    stop_event: threading.Event | None = None,
) -> None:
    """Claim a queued run (or go on with one `worker_id` claimed) and take it to its outcome.

    Never raises for the run's own errors: they end it as failed, with the error's type and
    first line. `stop_event` set during training puts the run back in the queue within a
    training step (milliseconds; an epoch's end could be seconds away, past a container's
    grace period), or, once training is over, after the run is stored.
    """
    claim = claim_run(session_factory, run_id, worker_id)
    if claim is not None:
        run_claimed(
            session_factory,
            claim,
            settings,
            lambda heartbeat: _train(claim, session_factory, settings, heartbeat, stop_event),
        )


@dataclass(frozen=True)
class _Outcome:
    decision: GateDecision
    scores: GateScores
    active: ModelVersion | None


def _train(
    claim: RunClaim,
    sessions: sessionmaker[Session],
    settings: Settings,
    heartbeat: Heartbeat,
    stop_event: threading.Event | None,
) -> None:
    with sessions() as session:
        run = session.get(TrainingRun, claim.run_id)
        assert run is not None  # claimed above
        series = session.get(Series, run.series_id)
        assert series is not None  # the foreign key cascades
        if series.archived_at is not None:
            raise ValueError(f"series {series.id} was archived after the run was queued")
        options = TrainingOptions.model_validate(run.config)
        active = active_version(session=session, series_id=series.id)
        # The active version is scored on the same frame: it needs the channels it reads too.
        read_by_active = channels_read(active.config) if active else []
        columns = list(dict.fromkeys([*options.channels, *read_by_active]))
        frame = load_frame(session=session, series_id=series.id, columns=columns)
    if len(frame) < minimum_observations(options):
        raise ValueError(
            f"series {series.id} has {len(frame)} observations; training needs at least "
            f"{minimum_observations(options)}"
        )
    step = (
        pd.Timedelta(to_offset(series.frequency)) if series.frequency else infer_step(frame.index)
    )
    spare = len(frame) - model_rows(options, step, len(frame))
    origins = gate_origins(frame, options.horizon, spare)

    def on_progress(done: int, planned: int, message: str) -> None:
        if stop_event is not None and stop_event.is_set():
            raise RunInterrupted
        heartbeat.beat(progress=_TRAINING_SHARE * done / max(planned, 1), message=message)

    initial_weights = None
    # A version served by a global model has no weights of its own to start from.
    if options.warm_start and active is not None and active.global_model_id is None:
        verify_artifact(active)
        initial_weights = active.artifact
    # The candidate never sees the gate's stretch, so its backtest is out of sample.
    started = time.perf_counter()
    fitted = LineModel(options.line_config(series)).fit(
        frame.loc[: origins[0]],
        on_progress=on_progress,
        initial_weights=initial_weights,
        stop=stop_event,
    )
    seconds = time.perf_counter() - started
    heartbeat.beat(progress=_TRAINING_SHARE, message="backtesting")
    warm_start = None
    if options.warm_start:
        if active is None:
            warm_start = "warm start not possible: the series has no active model"
        elif active.global_model_id is not None:
            warm_start = "warm start not possible: the active version is a global model's"
        else:
            warm_start = f"{fitted.warm_start} (active v{active.version})"
    for _ in range(_STORE_TRIES):
        active_model = _load_active(sessions, active)
        scores = score_for_gate(fitted, active_model, frame, origins)
        decision = judge(
            scores,
            active_version=active.version if active else None,
            margin=settings.retrain_margin,
        )
        # Intervals from the latest out-of-sample errors: the gate's (`model.intervals`).
        served = fitted.with_serving(decision.serve).recalibrate(frame, origins)
        metrics = _metrics(served, scores, decision, active, settings, warm_start, origins)
        metrics.update(train_seconds=round(seconds, 3), observations=len(frame))
        outcome = _Outcome(decision, scores, active)
        stored, active = _store(sessions, claim, series.id, served, options, outcome, metrics)
        if stored:
            return
    raise RuntimeError("the active model kept changing while this run was being scored")


def _load_active(
    sessions: sessionmaker[Session], active: ModelVersion | None
) -> ServedModel | None:
    """The active version's model; one backed by a global model reads it in a session."""
    if active is None:
        return None
    with sessions() as session:
        return load_model(active, session=session)


def _store(
    sessions: sessionmaker[Session],
    claim: RunClaim,
    series_id: int,
    model: FittedLineModel,
    options: TrainingOptions,
    outcome: _Outcome,
    metrics: dict[str, Any],
) -> tuple[bool, ModelVersion | None]:
    """Store the version and the run's outcome in one transaction; (False, the now active
    version) when the active version is no longer the one the candidate was scored against."""
    artifact = model.to_bytes()
    report = model.pipeline.report
    assert report is not None  # set by fit
    with sessions.begin() as session:
        # The series lock orders this against registry changes for the same series.
        session.get(Series, series_id, with_for_update=True)
        run = session.get(TrainingRun, claim.run_id, with_for_update=True, populate_existing=True)
        if run is None or not claim.matches(run):
            raise RunLost
        current = active_version(session=session, series_id=series_id)
        expected = outcome.active.id if outcome.active else None
        if (current.id if current else None) != expected:
            return False, current
        number = session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.series_id == series_id)
        )
        now = utcnow()
        promote, reason = outcome.decision.promote, outcome.decision.reason
        if promote and current is not None:
            current.status, current.retired_at = "retired", now
            session.flush()  # before the new active row: one active version at a time
        version = ModelVersion(
            series_id=series_id,
            version=(number or 0) + 1,
            status="active" if promote else "rejected",
            training_mode=model.training_mode,
            config=options.model_dump(),
            preprocessing=json_safe(report.to_dict()),
            metrics=with_gate_errors(metrics, outcome.scores.errors),
            selection=json_safe(model.describe()),
            backtest_error=outcome.scores.candidate.mse,
            artifact=artifact,
            artifact_sha256=hashlib.sha256(artifact).hexdigest(),
            promoted_at=now if promote else None,
            status_reason=reason,
            training_run_id=run.id,
        )
        session.add(version)
        session.flush()
        run.status = "succeeded" if promote else "rejected"
        run.message, run.metrics, run.progress = reason, metrics, 1.0
        run.finished_at, run.heartbeat_at, run.model_version_id = now, now, version.id
    return True, version


def _metrics(
    model: FittedLineModel,
    scores: GateScores,
    decision: GateDecision,
    active: ModelVersion | None,
    settings: Settings,
    warm_start: str | None,
    origins: list[pd.Timestamp],
) -> dict[str, Any]:
    network = model.network
    report = network.forecaster.report if network is not None else None
    chosen = model.selection.score(model.selection.chosen)
    return json_safe(
        {
            "served": model.serving,
            "chosen": model.selection.chosen,
            "fallback": model.fallback,
            "validation_mse": chosen.mse,
            "validation_mae": chosen.mae,
            "validation_loss": report.best_validation_loss if report else None,
            "best_epoch": report.best_epoch if report else None,
            "epochs": len(report.validation_loss) if report else None,
            "steps": report.steps if report else None,
            "context": model.context,
            "training_end": origins[0].isoformat(),
            "backtest_origins": scores.origins,
            "backtest_steps": scores.steps,
            "backtest_mse": scores.candidate.mse,
            "backtest_mae": scores.candidate.mae,
            "naive_backtest_mse": scores.naive.mse,
            "naive_backtest_mae": scores.naive.mae,
            "fallback_backtest_mse": scores.fallback.mse if scores.fallback else None,
            "active_backtest_mse": scores.active.mse if scores.active else None,
            "active_backtest_mae": scores.active.mae if scores.active else None,
            "backtest_coverage": scores.coverage,
            "interval_coverage": model.calibrations[model.serving].coverage,
            "active_version": active.version if active else None,
            "active_version_id": active.id if active else None,
            "retrain_margin": settings.retrain_margin,
            "mode_requested": model.config.mode,
            "mode_used": model.training_mode,
            "mode_reason": model.mode.reason if model.mode else None,
            "gate": decision.reason,
            "warm_start": warm_start,
        }
    )
