"""`train-global`: a long-format CSV in, one global model file out, in one process or in the
processes torchrun starts; or a plant of the service's database, in one process or two; user
errors end in one line and exit code 2."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from app.cli.train_global import main, register, run
from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from model.global_model import FittedGlobalModel
from tests.model.global_series import daily_series
from tests.services.conftest import add_series

REPOSITORY = Path(__file__).resolve().parents[2]


def _long_csv(folder: Path) -> Path:
    """Two series in one file, rows shuffled: one row per series and stamp."""
    frames = {"north": daily_series(0, 10.0, 2.0), "south": daily_series(1, 40.0, 4.0)}
    rows = [
        frame.assign(line=name).rename_axis("stamp").reset_index() for name, frame in frames.items()
    ]
    path = folder / "lines.csv"
    pd.concat(rows).sample(frac=1.0, random_state=0).to_csv(path, index=False)
    return path


def _arguments(csv: Path, out: Path, *extra: str) -> list[str]:
    return [
        *("--csv", str(csv), "--series-column", "line", "--value-column", "value"),
        *("--time-column", "stamp", "--horizon", "6", "--context", "24", "--hidden", "8"),
        *("--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "8", "--embedding", "2"),
        *("--out", str(out), "--quiet", *extra),
    ]


@pytest.mark.slow
def test_a_long_csv_trains_one_model_for_every_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    attributes = tmp_path / "attributes.csv"
    attributes.write_text("line,speed\nsouth,2.0\nnorth,1.0\n")
    out = tmp_path / "global.pt"
    assert main(_arguments(_long_csv(tmp_path), out, "--attributes", str(attributes))) == 0
    model = FittedGlobalModel.load(out, device="cpu")
    assert model.keys == ("north", "south") and model.statics.names == ("speed",)
    assert model.series["south"].attributes == (2.0,)
    assert "2 series, context 24, horizon 6, mode dsf" in capsys.readouterr().out


def test_user_errors_end_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "global.pt"
    assert main(_arguments(tmp_path / "missing.csv", out)) == 2
    assert "file not found" in capsys.readouterr().err
    csv = _long_csv(tmp_path)
    assert main([*_arguments(csv, out), "--series-column", "plant"]) == 2
    assert "column 'plant' not in" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([*_arguments(csv, out), "--nproc", "2"]) == 2
    assert "give the process count to torchrun" in capsys.readouterr().err
    assert not out.exists()


def test_the_subcommand_registers() -> None:
    parser = argparse.ArgumentParser(prog="linecast")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train-global", *_arguments(Path("a.csv"), Path("m.pt"))])
    assert args.handler is run and args.nproc == 1 and args.device == "auto"


@pytest.mark.slow
def test_torchrun_trains_in_two_processes(tmp_path: Path) -> None:
    out = tmp_path / "global.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "-m", "app.cli.train_global"]
    result = subprocess.run(
        [*command, *_arguments(_long_csv(tmp_path), out)],
        cwd=REPOSITORY,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert FittedGlobalModel.load(out, device="cpu").keys == ("north", "south")
    assert result.stdout.count("saved") == 1  # rank 0 alone writes and reports


def _plant_database(folder: Path) -> str:
    """A migrated SQLite database holding two series of plant p1 (ids 1 and 2)."""
    url = f"sqlite:///{folder / 'linecast.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        for seed, level in ((0, 10.0), (1, 40.0)):
            add_series(session, daily_series(seed, level, level / 5), plant="p1")
    engine.dispose()
    return url


def _database_arguments(url: str, *extra: str) -> list[str]:
    return [
        *("--name", "p1", "--plant", "p1", "--database-url", url, "--horizon", "6"),
        *("--context", "24", "--hidden", "8", "--epochs", "1", "--steps-per-epoch", "3"),
        *("--embedding", "2", *extra),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [1, 2])
def test_the_database_mode_trains_a_plant_and_says_what_each_series_got(
    nproc: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _plant_database(tmp_path)
    assert main(_database_arguments(url, "--nproc", str(nproc))) == 0
    out = capsys.readouterr().out
    assert "global model 'p1': run 1 queued" in out
    assert "global run 1 succeeded" in out
    for series_id in (1, 2):
        assert f"series {series_id}: v1 active: first model: gru:global backtest MSE" in out


def test_database_mode_errors_end_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _plant_database(tmp_path)
    cases = [
        (["--name", "p1", "--database-url", url], "give a plant, a line or both"),
        ([*_database_arguments(url), "--csv", "lines.csv"], "--csv: options of the CSV mode"),
        ([*_database_arguments(url)[:-2], "--plant", "p9"], "no unarchived series matches"),
        (["--series-column", "line"], "--csv, --value-column, --time-column, --horizon, --out"),
    ]
    for arguments, words in cases:
        assert main(arguments) == 2
        assert words in capsys.readouterr().err
