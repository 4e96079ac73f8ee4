"""Executing a global run: one network for a scope, then each member series' own gate.

`execute_global_run` claims the run (`app.jobs`, on `global_runs`), loads every series of the
scope and trains one `GlobalModel` on the readings before each series' gate stretch. A series
with too few readings for a stretch is a cold start: not trained on, served by the network if
the scope's verdict allows (`app.services.global_gate`). Each trained series is then scored on
its stretch against repeating the last value and its active version, exactly as a local run
does (`app.services.backtest`). Everything is stored in one transaction at the end: the global
model, each member's version backed by it (promoted or rejected), the model's verdict for its
scope (the name's previous active version retired when this one becomes active) and the run's
outcome; progress and heartbeats go in their own short transactions, so a failure leaves
nothing half-stored.

Training runs in this process, or in `nproc` local processes (`model.distributed`: DDP with
gloo on the CPU, NCCL on CUDA, one process per GPU). A stop interrupts training in this
process within a step and puts the run back in the queue; spawned processes finish first.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandas.tseries.frequencies import to_offset
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.json_values import json_safe
from app.db.models import GlobalModelVersion, GlobalRun, Series, utcnow
from app.jobs import (
    Heartbeat,
    RunClaim,
    RunInterrupted,
    RunLost,
    claim_run,
    run_claimed,
)
from app.services.backtest import gate_origins
from app.services.forecasting import ModelCache
from app.services.gate_errors import with_gate_errors
from app.services.global_gate import (
    MemberGate,
    ScopeVerdict,
    cold_start_decision,
    gate_member,
    scope_verdict,
)
from app.services.global_models import (
    GlobalOptions,
    backed_version,
    check_scope,
    static_attributes,
)
from app.services.registry import active_version, global_key, series_view
from app.services.series_data import load_frame
from app.services.training import minimum_observations, model_rows
from app.settings import Settings
from model.distributed import device_kind, spawn, train_rank
from model.global_model import FittedGlobalModel, GlobalData, GlobalModel
from preprocessing.regularise import infer_step

log = logging.getLogger(__name__)

# Share of the progress bar for training; scoring and storing take the rest.
_TRAINING_SHARE = 0.8


def execute_global_run(
    run_id: int,
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    stop_event: threading.Event | None = None,
    nproc: int = 1,
) -> None:
    """Claim a queued global run (or go on with one `worker_id` claimed) and take it to its
    outcome; the run's own errors end it as failed, as for a training run (`execute_run`)."""
    claim = claim_run(session_factory, run_id, worker_id, GlobalRun)
    if claim is not None:
        run_claimed(
            session_factory,
            claim,
            settings,
            lambda heartbeat: _execute(
                claim, session_factory, settings, heartbeat, stop_event, nproc
            ),
        )


@dataclass(frozen=True)
class _Member:
    """A series of the scope and its readings; `origins` are its gate's (None: a cold start)."""

    series: Series
    frame: pd.DataFrame
    origins: list[pd.Timestamp] | None


def _execute(
    claim: RunClaim,
    sessions: sessionmaker[Session],
    settings: Settings,
    heartbeat: Heartbeat,
    stop_event: threading.Event | None,
    nproc: int,
) -> None:
    with sessions() as session:
        run = session.get(GlobalRun, claim.run_id)
        assert run is not None  # claimed above
        options = GlobalOptions.model_validate(run.config)
        members = [
            _member(series, load_frame(session=session, series_id=series.id), options)
            for series in check_scope(session=session, options=options)
        ]
    gated = [member for member in members if member.origins is not None]
    cold = [member for member in members if member.origins is None]
    heartbeat.beat(message=f"preparing {len(gated)} series ({len(cold)} cold starts)")
    data = _prepare(gated, options)

    def on_epoch(epoch: int, epochs: int, loss: float) -> None:
        if stop_event is not None and stop_event.is_set():
            raise RunInterrupted
        message = f"epoch {epoch + 1} of {epochs}: validation loss {loss:.4g}"
        heartbeat.beat(progress=_TRAINING_SHARE * (epoch + 1) / epochs, message=message)

    started = time.perf_counter()
    fitted = _fit(data, nproc, on_epoch, stop_event)
    seconds = time.perf_counter() - started
    heartbeat.beat(progress=_TRAINING_SHARE, message="scoring each series on its gate stretch")
    cache, margin = ModelCache(settings.model_cache_bytes), settings.retrain_margin
    with sessions() as session:
        gates = {m.series.id: _gate(session, cache, fitted, m, margin) for m in gated}
    reports = {s.key: s.pipeline.report for s in data.series}
    preprocessing = {
        m.series.id: json_safe(report.to_dict())
        for m in gated
        if (report := reports[global_key(m.series.id)]) is not None
    }
    stored = _stored_model(options, fitted, len(members), len(cold), seconds, nproc)
    scored = _Scored(options, gates, preprocessing, gated, cold, fitted, cache, margin)
    _store(sessions, claim, stored, scored)


def _member(series: Series, frame: pd.DataFrame, options: GlobalOptions) -> _Member:
    """The series with its gate's origins, or as a cold start when it has too few readings."""
    series_options = options.series_options()
    if len(frame) < minimum_observations(series_options):
        return _Member(series, frame, None)
    step = (
        pd.Timedelta(to_offset(series.frequency)) if series.frequency else infer_step(frame.index)
    )
    spare = len(frame) - model_rows(series_options, step, len(frame))
    try:
        return _Member(series, frame, gate_origins(frame, options.horizon, spare))
    except ValueError:
        return _Member(series, frame, None)


def _prepare(gated: list[_Member], options: GlobalOptions) -> GlobalData:
    """Every trained member's readings before its gate stretch (and its attributes, if
    asked for), prepared for one network."""
    frames = {global_key(m.series.id): m.frame.loc[: m.origins[0]] for m in gated if m.origins}
    attributes = None
    if options.attributes:
        attributes = {
            global_key(m.series.id): static_attributes(m.series, options.attributes) for m in gated
        }
    config = options.global_config(_shared_timezone([m.series for m in gated]))
    return GlobalModel(config).prepare(frames, attributes)


def _shared_timezone(series: list[Series]) -> str:
    """The members' time zone for the calendar features: theirs if they share one, else UTC
    (one network reads one calendar)."""
    zones = {s.timezone for s in series}
    return zones.pop() if len(zones) == 1 else "UTC"


def _fit(
    data: GlobalData,
    nproc: int,
    on_epoch: Callable[[int, int, float], None],
    stop: threading.Event | None,
) -> FittedGlobalModel:
    """Train in this process (progress and stops per epoch and step), or in `nproc` local
    processes, whose rank 0 writes the model for this one to read."""
    epochs = data.config.line.epochs
    if nproc == 1:
        run = GlobalModel(data.config).start(data)
        run.training.run(epochs, on_epoch=on_epoch, stop=stop)
        return run.finish()
    with tempfile.TemporaryDirectory(prefix="linecast-global-") as folder:
        out = Path(folder, "global.pt")
        spawn(nproc, train_rank, (data, out, False), device_kind("auto"))
        return FittedGlobalModel.load(out, device="cpu")


def _gate(
    session: Session,
    cache: ModelCache,
    fitted: FittedGlobalModel,
    member: _Member,
    margin: float,
) -> MemberGate:
    """The member's gate against its active version as it is now (read in `session`)."""
    assert member.origins is not None  # gated members only
    active = active_version(session=session, series_id=member.series.id, with_artifact=False)
    return gate_member(
        series_id=member.series.id,
        view=series_view(session, fitted, member.series.id),
        active=active,
        active_model=cache.get(active) if active is not None else None,
        frame=member.frame,
        origins=member.origins,
        margin=margin,
    )


def _stored_model(
    options: GlobalOptions,
    fitted: FittedGlobalModel,
    members: int,
    cold: int,
    seconds: float,
    nproc: int,
) -> GlobalModelVersion:
    """The global model's row, before its number and verdict are known."""
    artifact = fitted.to_bytes()
    report = fitted.report
    metrics = {
        "series": members,
        "trained_on": len(fitted.keys),
        "cold_starts": cold,
        "horizon": fitted.horizon,
        "context": fitted.context,
        "mode": fitted.config.mode,
        "train_seconds": round(seconds, 3),
        "processes": nproc,
        "validation_loss": report.best_validation_loss if report else None,
        "initial_validation_loss": report.initial_validation_loss if report else None,
        "best_epoch": report.best_epoch if report else None,
        "epochs": len(report.validation_loss) if report else None,
        "steps": report.steps if report else None,
    }
    return GlobalModelVersion(
        name=options.name,
        status="candidate",
        selector=options.selector,
        config={"options": options.model_dump(), "model": fitted.config.to_dict()},
        metrics=json_safe(metrics),
        artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
    )


@dataclass(frozen=True)
class _Scored:
    """What `_store` writes: the gates by series, the trained members' preprocessing
    reports, the members, the model, and what a gate scored again there needs (the cache the
    active versions were loaded into, the margin)."""

    options: GlobalOptions
    gates: dict[int, MemberGate]
    preprocessing: dict[int, dict]
    gated: list[_Member]
    cold: list[_Member]
    fitted: FittedGlobalModel
    cache: ModelCache
    margin: float


def _store(
    sessions: sessionmaker[Session],
    claim: RunClaim,
    stored: GlobalModelVersion,
    scored: _Scored,
) -> None:
    """The global model, every member's version, the verdict and the run's outcome, in one
    transaction. A member whose active version changed since it was scored is scored again
    here, against the new one, under its series' lock."""
    with sessions.begin() as session:
        run = session.get(GlobalRun, claim.run_id, with_for_update=True, populate_existing=True)
        if run is None or not claim.matches(run):
            raise RunLost
        number = session.scalar(
            select(func.max(GlobalModelVersion.version)).where(
                GlobalModelVersion.name == stored.name
            )
        )
        stored.version = (number or 0) + 1
        session.add(stored)
        session.flush()
        gates = []
        for member in scored.gated:
            gate = _current_gate(session, scored, member)
            gates.append(gate)
            backed_version(
                session=session,
                series_id=gate.series_id,
                stored=stored,
                promote=gate.promote,
                reason=gate.reason,
                metrics=with_gate_errors(gate.metrics, gate.scores.errors),
                preprocessing=scored.preprocessing.get(gate.series_id),
                backtest_error=gate.scores.candidate.mse,
            )
        verdict = scope_verdict(gates)
        needs = minimum_observations(scored.options.series_options())
        cold_served = _store_cold(session, stored, scored.cold, verdict, needs)
        _conclude(session, run, stored, verdict, gates, cold_served)


def _current_gate(session: Session, scored: _Scored, member: _Member) -> MemberGate:
    series_id = member.series.id
    session.get(Series, series_id, with_for_update=True)
    gate = scored.gates[series_id]
    current = active_version(session=session, series_id=series_id, with_artifact=False)
    if (current.id if current else None) == gate.active_id:
        return gate
    return _gate(session, scored.cache, scored.fitted, member, scored.margin)


def _store_cold(
    session: Session,
    stored: GlobalModelVersion,
    cold: list[_Member],
    verdict: ScopeVerdict,
    needs: int,
) -> int:
    """Each cold start's version, served by the model or not (`cold_start_decision`); how
    many it serves. `needs`: the readings a gate stretch needs."""
    served = 0
    for member in cold:
        series_id = member.series.id
        session.get(Series, series_id, with_for_update=True)
        current = active_version(session=session, series_id=series_id, with_artifact=False)
        promote, reason = cold_start_decision(
            verdict=verdict, current=current, observations=len(member.frame), needs=needs
        )
        backed_version(
            session=session,
            series_id=series_id,
            stored=stored,
            promote=promote,
            reason=reason,
            metrics={"cold_start": True, "observations": len(member.frame), "needs": needs},
        )
        served += promote
    return served


def _conclude(
    session: Session,
    run: GlobalRun,
    stored: GlobalModelVersion,
    verdict: ScopeVerdict,
    gates: list[MemberGate],
    cold_served: int,
) -> None:
    """The model's status for its scope (retiring the name's active version when this one
    becomes active) and the run's outcome."""
    now = utcnow()
    promoted = sum(gate.promote for gate in gates)
    stored.metrics = {
        **stored.metrics,
        "beats_repeat_last": verdict.beats,
        "gated": verdict.gated,
        "promoted": promoted,
        "rejected": len(gates) - promoted,
        "cold_starts_served": cold_served,
    }
    if verdict.fit:
        previous = session.scalars(
            select(GlobalModelVersion).where(
                GlobalModelVersion.name == stored.name,
                GlobalModelVersion.status == "active",
                GlobalModelVersion.id != stored.id,
            )
        ).one_or_none()
        if previous is not None:
            previous.status, previous.retired_at = "retired", now
            session.flush()  # before the new active row: one active version per name
        stored.status, stored.promoted_at = "active", now
    else:
        stored.status = "rejected"
    stored.status_reason = (
        f"{verdict.reason}; {promoted} of {len(gates)} trained series chose it by their own "
        f"gate, {cold_served} cold starts served"
    )
    run.status = "succeeded" if verdict.fit else "rejected"
    run.message, run.metrics, run.progress = stored.status_reason, stored.metrics, 1.0
    run.finished_at, run.heartbeat_at, run.global_model_id = now, now, stored.id
