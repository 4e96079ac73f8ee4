"""`linecast train-global --name N --plant P [--line L] [--nproc K]`: the database mode.

Trains a global model on the service's series of a scope, through the path the API's
`POST /v1/global-models` queues: the run is queued (trigger "cli") and executed here at once,
in this process or in `--nproc` local processes (`model.distributed`), then every series of
the scope has a version backed by the model, promoted or rejected by its own gate. A worker
or the API's executor may take the queued run first; this process then leaves it to them.
"""

from __future__ import annotations

import argparse

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.cli.worker import add_database_option, service_settings
from app.db.engine import make_engine, session_factory
from app.db.models import GlobalRun
from app.errors import UsageError
from app.jobs.global_execution import execute_global_run
from app.jobs.worker import default_worker_id
from app.services.global_models import GlobalOptions, global_members, request_global_training

# The CSV mode's options, which this mode does not read (argparse's destinations).
CSV_ONLY = ("csv", "series_column", "value_column", "time_column", "out", "attributes")


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """The database mode's own options of `train-global`."""
    group = parser.add_argument_group("database mode (instead of --csv)")
    group.add_argument("--name", help="global model to train: the service's series of a scope")
    group.add_argument("--plant", help="the scope's plant (with --name)")
    group.add_argument("--line", help="the scope's line (with --name)")
    add_database_option(parser)


def train_from_database(args: argparse.Namespace) -> None:
    """Queue the scope's run, execute it here and print what every series got."""
    given = [name for name in CSV_ONLY if getattr(args, name) is not None]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(f"{flags}: options of the CSV mode, not of --name")
    settings = service_settings(args.database_url)
    try:
        options = GlobalOptions(
            name=args.name,
            plant=args.plant,
            line=args.line,
            horizon=args.horizon or settings.default_horizon,
            context=args.context or settings.default_context,
            embedding=args.embedding,
            mode=args.mode,
            hidden=args.hidden,
            layers=args.layers,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            seed=args.seed,
        )
    except ValidationError as error:
        raise UsageError("; ".join(detail["msg"] for detail in error.errors())) from error
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            try:
                run, created = request_global_training(
                    session=session,
                    options=options,
                    trigger="cli",
                    requested_by="linecast train-global",
                )
            except ValueError as error:
                raise UsageError(str(error)) from error
        state = "queued" if created else f"already {run.status}"
        print(f"global model {options.name!r}: run {run.id} {state}")
        execute_global_run(
            run.id,
            session_factory=sessions,
            settings=settings,
            worker_id=f"{default_worker_id()}:train-global",
            nproc=args.nproc,
        )
        with sessions() as session:
            print(_outcome(session, run.id))
    finally:
        engine.dispose()


def _outcome(session: Session, run_id: int) -> str:
    """The run's outcome and each member's version, as printed lines; a failed run is a
    usage error (its message says what to fix)."""
    run = session.get(GlobalRun, run_id)
    assert run is not None  # runs are never deleted
    if run.status == "failed":
        raise UsageError(f"global run {run.id} failed: {run.error}")
    if run.global_model_id is None:
        return f"global run {run.id} is {run.status} elsewhere: {run.message}"
    lines = [f"global run {run.id} {run.status}: {run.message}"]
    for version in global_members(session=session, global_model_id=run.global_model_id):
        lines.append(
            f"series {version.series_id}: v{version.version} {version.status}: "
            f"{version.status_reason}"
        )
    return "\n".join(lines)
