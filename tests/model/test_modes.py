import pytest

from model.modes import TrainingMode


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bptt", TrainingMode("bptt")),
        ("tbptt:32", TrainingMode("tbptt", 32)),
        ("ft-bptt", TrainingMode("ft-bptt")),
        ("DSF", TrainingMode("dsf")),
        ("dsf-adaptive", TrainingMode("dsf-adaptive")),
    ],
)
def test_parse_round_trips(text: str, expected: TrainingMode) -> None:
    mode = TrainingMode.parse(text)
    assert mode == expected
    assert TrainingMode.parse(str(mode)) == mode


@pytest.mark.parametrize("text", ["tbptt", "tbptt:0", "tbptt:x", "dsf:3", "rtrl", ""])
def test_bad_modes_name_the_problem(text: str) -> None:
    with pytest.raises(ValueError, match=r"tbptt|unknown training mode"):
        TrainingMode.parse(text)


def test_feedback_modes() -> None:
    assert [
        m
        for m in ("bptt", "tbptt:4", "ft-bptt", "dsf", "dsf-adaptive")
        if TrainingMode.parse(m).uses_feedback
    ] == ["ft-bptt", "dsf", "dsf-adaptive"]
