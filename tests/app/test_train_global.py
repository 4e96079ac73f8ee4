"""`train-global`: a long-format CSV in, one global model file out, in one process or in the
processes torchrun starts; user errors end in one line and exit code 2."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from app.cli.train_global import main, register, run
from model.global_model import FittedGlobalModel
from tests.model.global_series import daily_series

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
