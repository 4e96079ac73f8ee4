"""`linecast drift`: the cron job's command line, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from tests.factories import new_series


@pytest.fixture
def database(tmp_path: Path) -> tuple[str, int]:
    """A migrated SQLite database holding one series that has no model yet."""
    url = f"sqlite:///{tmp_path / 'linecast.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        series = new_series()
        session.add(series)
        session.commit()
        series_id = series.id
    engine.dispose()
    return url, series_id


def test_drift_reports_each_series_and_the_totals(
    database: tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, series_id = database
    assert main(["drift", "--database-url", url, "--series", str(series_id)]) == 0
    assert capsys.readouterr().out == (
        f"series {series_id}: skipped: series {series_id} has no active model\n"
        "judged 0 series: 0 metrics (none)\n"
    )
    assert main(["drift", "--database-url", url]) == 0
    assert capsys.readouterr().out == "judged 0 series: 0 metrics (none)\n"


def test_an_unknown_series_is_a_one_line_error(
    database: tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = database
    assert main(["drift", "--database-url", url, "--series", "404"]) == 2
    assert capsys.readouterr().err == "linecast drift: error: series 404 not found\n"


def test_a_database_behind_the_schema_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    assert main(["drift", "--database-url", url]) == 2
    error = capsys.readouterr().err
    assert error.startswith("linecast drift: error: ") and "linecast migrate" in error
    assert error.count("\n") == 1
