"""`linecast retrain` and `linecast worker` against a real database."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.cli import main
from app.db.models import TrainingRun
from app.services.registry import list_versions
from tests.services.conftest import TINY, add_series, add_version


def test_retrain_with_wait_trains_with_the_active_options_and_prints_the_outcome(
    sessions: sessionmaker[Session],
    migrated_url: str,
    line: pd.DataFrame,
    tiny_artifact: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        add_version(
            session, series.id, tiny_artifact, version=1, status="active", config=TINY.model_dump()
        )

    code = main(["retrain", "--series", str(series.id), "--wait", "--database-url", migrated_url])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    with sessions() as session:
        versions = list_versions(session=session, series_id=series.id)
        run = session.get(TrainingRun, versions[0].training_run_id)
    assert run.config == TINY.model_dump() and run.trigger == "cli"
    assert out[0] == f"series {series.id}: run {run.id} queued"
    assert out[1] == f"series {series.id}: run {run.id} {run.status}: {run.message}"
    assert run.status in ("succeeded", "rejected") and len(versions) == 2


def test_worker_once_with_nothing_queued_says_so(
    migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "--once", "--database-url", migrated_url]) == 0
    assert capsys.readouterr().out == "no queued training run\n"


def test_retrain_of_an_unknown_series_is_a_usage_error(
    migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retrain", "--series", "999", "--database-url", migrated_url]) == 2
    assert capsys.readouterr().err == "linecast retrain: error: series 999 not found\n"


def test_an_unmigrated_database_is_refused(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "--once", "--database-url", postgres_url]) == 2
    assert "is not at the newest schema revision; run `linecast migrate`" in (
        capsys.readouterr().err
    )
