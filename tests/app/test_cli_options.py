"""`linecast --version`, and the one style of every list option: commas, repeatable."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from app.cli import build_parser, main

TRAIN = ["train", "--csv", "line.csv", "--column", "throughput", "--horizon", "12"]


def test_version_is_the_installed_distribution_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as leaving:
        main(["--version"])
    assert leaving.value.code == 0
    assert capsys.readouterr().out == f"linecast {version('linecast')}\n"


@pytest.mark.parametrize(
    "given",
    [
        ["--known", "shift,planned_on", "--known", "setpoint"],
        ["--known", "shift", "--known", "planned_on,setpoint"],
        ["--known", " shift , planned_on,,setpoint"],
    ],
)
def test_commas_and_repeats_mean_the_same(given: list[str]) -> None:
    args = build_parser().parse_args([*TRAIN, "--out", "m.pt", *given])
    assert args.known == ["shift", "planned_on", "setpoint"]


def test_every_list_option_converts_its_items_and_replaces_its_default() -> None:
    args = build_parser().parse_args(
        [
            *TRAIN,
            "--out",
            "m.pt",
            "--shifts",
            "6,14.5",
            "--shifts",
            "22",
            "--periods",
            "24,168",
            "--candidates",
            "gru",
            "--candidates",
            "linear",
            "--observed",
            "motor_current",
        ]
    )
    assert args.shifts == [6.0, 14.5, 22.0]
    assert args.periods == [24, 168]
    assert args.candidates == ["gru", "linear"]  # the default list is replaced, not extended
    assert args.observed == ["motor_current"]
    defaults = build_parser().parse_args([*TRAIN, "--out", "m.pt"])
    assert (defaults.known, defaults.periods, defaults.shifts) == (None, None, None)
    assert defaults.candidates == ["gru", "linear", "ets", "seasonal-naive", "repeat-last"]


@pytest.mark.parametrize(
    "given",
    [["--series", "3,5", "--series", "7"], ["--series", "3", "5", "7"], ["--series", "3", "5,7"]],
)
def test_series_takes_commas_repeats_and_its_old_spaces(given: list[str]) -> None:
    for command in ("drift", "retrain"):
        assert build_parser().parse_args([command, *given]).series == [3, 5, 7]
    assert build_parser().parse_args(["drift"]).series is None


def test_modes_of_diagnose_gradients_are_a_list_too() -> None:
    args = build_parser().parse_args(["diagnose-gradients", "--modes", "dsf", "--modes", "bptt"])
    assert args.modes == ["dsf", "bptt"]


def test_an_item_of_the_wrong_type_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as leaving:
        build_parser().parse_args(["drift", "--series", "3,x"])
    assert leaving.value.code == 2
    assert "argument --series: invalid int value: 'x'" in capsys.readouterr().err
