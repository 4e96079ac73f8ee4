"""`linecast migrate` end to end on SQLite files, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.db import migrate


def test_migrate_upgrades_shows_and_downgrades(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    head = migrate.head_revision()
    assert main(["migrate", "--database-url", sqlite_url]) == 0
    assert capsys.readouterr().out == f"{sqlite_url}: no revision -> {head}\n"
    assert migrate.is_at_head(sqlite_url)

    assert main(["migrate", "--database-url", sqlite_url, "--show"]) == 0
    assert capsys.readouterr().out == f"{sqlite_url}: at {head}; newest is {head}\n"

    assert main(["migrate", "--database-url", sqlite_url, "--downgrade", "base"]) == 0
    assert capsys.readouterr().out == f"{sqlite_url}: {head} -> no revision\n"
    assert migrate.current_revision(sqlite_url) is None


def test_migrate_defaults_to_the_settings_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINECAST_DATA_DIR", str(tmp_path / "var"))
    assert main(["migrate"]) == 0
    assert migrate.is_at_head(f"sqlite:///{tmp_path / 'var' / 'linecast.db'}")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--database-url", "not a url"],
            # SQLAlchemy's own words, which end differently from one release to another.
            "--database-url: Could not parse SQLAlchemy URL from",
        ),
        (
            ["--database-url", "postgres://nobody@127.0.0.1:1/none"],
            "postgresql+psycopg://nobody@127.0.0.1:1/none: connection failed: ",
        ),
        (["--revision", "0099"], ": Can't locate revision identified by '0099'"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    arguments: list[str],
    message: str,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if "--database-url" not in arguments:
        arguments = ["--database-url", sqlite_url, *arguments]
    assert main(["migrate", *arguments]) == 2
    # The error is the last line; before it, only the JSON log lines of the steps that ran.
    *logged, error = capsys.readouterr().err.splitlines()
    assert error.startswith("linecast migrate: error: ")
    assert message in error
    assert all(json.loads(line)["level"] == "INFO" for line in logged)


def test_settings_refused_in_production_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LINECAST_ENVIRONMENT", "production")
    assert main(["migrate"]) == 2
    assert capsys.readouterr().err == (
        "linecast migrate: error: Value error, LINECAST_DATA_DIR must be set in production "
        "(the default ./var depends on the directory the process starts in)\n"
    )
