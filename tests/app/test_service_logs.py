"""`linecast migrate` and `linecast worker`, run as real commands, log JSON lines on stderr at
`LINECAST_LOG_LEVEL`, as the API does; stdout keeps their plain answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from app.db.engine import make_engine, session_factory
from app.db.migrate import head_revision
from app.db.models import utcnow
from app.jobs import MAX_ATTEMPTS
from tests.factories import new_series, new_training_run

REPOSITORY = Path(__file__).resolve().parents[2]


def linecast(*arguments: str, database_url: str, level: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LINECAST_")}
    env.update(LINECAST_DATABASE_URL=database_url, LINECAST_LOG_LEVEL=level)
    return subprocess.run(
        [sys.executable, "-m", "app", *arguments],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def json_lines(stderr: str) -> list[dict[str, object]]:
    """Every line of `stderr` as JSON: one that is not fails the test."""
    records = [json.loads(line) for line in stderr.splitlines()]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
    return records


@pytest.mark.slow
def test_migrate_logs_each_step_as_json_at_info(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'linecast.db'}"

    done = linecast("migrate", database_url=url, level="INFO")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{url}: no revision -> {head_revision()}\n"
    steps = [
        str(record["message"])
        for record in json_lines(done.stderr)
        if record["logger"] == "alembic.runtime.migration"
        and str(record["message"]).startswith("Running upgrade")
    ]
    # "Running upgrade 0008 -> 0009, what it does": one line a revision, the last to the head.
    assert steps and steps[-1].split(",")[0].endswith(f"-> {head_revision()}")


@pytest.mark.slow
def test_worker_logs_json_at_the_level_asked_for(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'linecast.db'}"
    assert linecast("migrate", database_url=url, level="WARNING").stderr == ""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            abandoned, empty = new_series(), new_series()
            session.add_all([abandoned, empty])
            session.flush()
            silent_since = utcnow() - timedelta(hours=1)
            # A run whose worker died on its last attempt (a warning when given up), and one of
            # a series with no readings (executed at INFO, failed with an ERROR and traceback).
            session.add_all(
                [
                    new_training_run(
                        abandoned.id,
                        status="running",
                        worker_id="gone:1",
                        attempts=MAX_ATTEMPTS,
                        started_at=silent_since,
                        heartbeat_at=silent_since,
                    ),
                    new_training_run(empty.id),
                ]
            )
            session.commit()
    finally:
        engine.dispose()

    done = linecast("worker", "--once", database_url=url, level="WARNING")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"series {empty.id}: run ")  # the answer, in plain text
    records = json_lines(done.stderr)
    assert {record["level"] for record in records} <= {"WARNING", "ERROR", "CRITICAL"}
    assert any(
        record["logger"] == "app.jobs" and "giving up" in str(record["message"])
        for record in records
    )
