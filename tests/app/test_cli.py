"""The train and forecast commands end to end, on a simulated line written as CSV."""

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

from app.cli import main
from app.simulator import LineConfig, simulate_line
from tests.shared_data import shared_data

FAST = [
    "--context",
    "48",
    "--hidden",
    "16",
    "--layers",
    "1",
    "--epochs",
    "2",
    "--steps-per-epoch",
    "5",
    "--quiet",
]


@pytest.fixture(scope="module")
def line_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("line") / "line.csv"
    simulate_line(LineConfig(days=20, covariates=True), seed=3).to_csv(path)
    return path


@pytest.fixture(scope="module")
def trained(line_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The model file `train` wrote, and what it printed."""
    out = tmp_path_factory.mktemp("model") / "line.pt"
    argv = ["train", "--csv", str(line_csv), "--column", "throughput", "--horizon", "12"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main([*argv, "--out", str(out), *FAST])
    assert code == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def model_file(trained: tuple[Path, str]) -> Path:
    return trained[0]


@pytest.mark.slow
def test_train_prints_the_candidate_table_and_the_choice(trained: tuple[Path, str]) -> None:
    printed = trained[1]
    assert "candidate" in printed and "status" in printed
    for kind in ("gru:", "linear:", "ets:", "repeat-last"):
        assert kind in printed
    rows = [line for line in printed.splitlines() if line.endswith("  chosen")]
    decision = next(line for line in printed.splitlines() if line.startswith("chosen "))
    name = decision.removeprefix("chosen ").split(": ")[0]
    assert len(rows) == 1 and rows[0].startswith(name)
    assert printed.rstrip().endswith(f"saved {trained[0]}")


@pytest.mark.slow
def test_forecast_prints_json_with_ordered_quantiles(
    model_file: Path, line_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (
        main(
            [
                "forecast",
                "--model",
                str(model_file),
                "--csv",
                str(line_csv),
                "--json",
            ]
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert answer["horizon"] == 12 and answer["quantiles"] == [0.1, 0.5, 0.9]
    assert answer["model"] and answer["mode"] in (None, "dsf", "bptt")
    rows = answer["forecast"]
    assert [row["step"] for row in rows] == list(range(1, 13))
    assert rows[0]["timestamp"] == "2026-01-25T00:00:00+00:00"  # one hour after the last row
    assert answer["origin"] == "2026-01-24T23:00:00+00:00"
    assert all(row["q0.1"] <= row["q0.5"] <= row["q0.9"] for row in rows)
    # A line making ~100 units/h should be forecast in that range, not at zero or 1e6.
    assert all(20 < row["q0.5"] < 250 for row in rows)


@pytest.mark.slow
def test_checkpoint_loads_with_weights_only_and_holds_versions(model_file: Path) -> None:
    payload = torch.load(model_file, weights_only=True, map_location="cpu")
    document = json.loads(payload["document"])
    assert document["versions"]["torch"] == torch.__version__
    assert document["config"]["horizon"] == 12 and document["config"]["mode"] == "auto"
    # The candidate table and the choice travel with the weights.
    selection = document["selection"]
    assert selection["chosen"] == document["serving"]
    assert {row["kind"] for row in selection["candidates"]} >= {"gru", "linear", "repeat-last"}
    networks = [m for m in document["members"] if m["kind"] == "gru"]
    assert networks and networks[0]["forecaster"]["training"]["mode"] in ("dsf", "bptt")
    pipeline = json.loads(document["pipeline"])
    assert pipeline["params"]["freq"] == "h" and pipeline["report"]["recommended_mode"] == "dsf"
    assert payload["state_dict"] and all(
        t.device.type == "cpu" for t in payload["state_dict"].values()
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--csv", "missing.csv"], "file not found: missing.csv"),
        (["--column", "nope"], "column 'nope' not in"),
        (["--horizon", "5000"], "too few"),
        (["--mode", "magic"], "unknown training mode 'magic'"),
        (["--candidates", "gru,prophet"], "candidates must be some of gru, linear"),
    ],
)
def test_train_bad_input_is_one_line_and_exit_2(
    line_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    base = {
        "--csv": str(line_csv),
        "--column": "throughput",
        "--horizon": "12",
        "--mode": "dsf",
        "--out": str(tmp_path / "m.pt"),
    }
    base.update(dict(zip(arguments[::2], arguments[1::2], strict=True)))
    argv = ["train", *[item for pair in base.items() for item in pair], *FAST]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "m.pt").exists()


def test_non_numeric_values_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2026-01-01T00:00Z,1.0\n2026-01-01T01:00Z,oops\n")
    code = main(
        [
            "train",
            "--csv",
            str(path),
            "--column",
            "value",
            "--horizon",
            "2",
            "--out",
            str(tmp_path / "m.pt"),
            *FAST,
        ]
    )
    assert code == 2
    assert "non-numeric value 'oops' at row 3" in capsys.readouterr().err


def test_forecast_rejects_a_file_that_is_not_a_model(
    tmp_path: Path, line_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"not a model")
    assert main(["forecast", "--model", str(fake), "--csv", str(line_csv)]) == 2
    assert "not a linecast model file" in capsys.readouterr().err


def test_analyze_prints_the_report(line_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--csv", str(line_csv), "--column", "throughput"]) == 0
    out = capsys.readouterr().out
    assert "seasonal periods: " in out and "tests before:" in out and "tests after:" in out
    assert out.strip().splitlines()[-1].startswith("verdict: stationary after preprocessing: DSF")


@pytest.mark.slow
def test_analyze_json_on_a_semicolon_file_with_a_given_frequency(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = shared_data("skab/valve1-1.csv")
    code = main(["analyze", "--csv", str(path), "--column", "Temperature", "--freq", "s", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["freq"] == "s" and report["counts"]["input_rows"] > 1000
    assert report["steps"][0]["detail"].startswith("step s (given)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,v\n" + "".join(f"2026-01-01T{h:02d}:00Z,3\n" for h in range(24)), "readings"),
        (
            "timestamp,v\n"
            + "".join(f"2026-01-{d:02d}T{h:02d}:00Z,3\n" for d in (1, 2, 3) for h in range(24)),
            "series is constant",
        ),
        ("v\n1\n2\n", "needs a time column"),
    ],
)
def test_analyze_refuses_short_constant_or_timeless_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "series.csv"
    path.write_text(text)
    assert main(["analyze", "--csv", str(path), "--column", "v"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
