"""Gradient fidelity on the delayed-copy task (method.md §5).

Measured on seeds 0..9 for (delay, T) = (12, 64), hidden 16, batch 16, at initialisation, with
the update gates initialised to match λ (`model.recurrent._chrono_update_gate`): fixed-λ `dsf`
reached overall cosines of 0.995-0.999 against FT-BPTT's 0.95-0.98, leaving at most 0.13 of
FT-BPTT's gap to the exact gradient (1 - cosine), overall and on the recurrent weights alone;
`dsf-adaptive` did the same. The bounds below leave room for BLAS changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch

from model.diagnostics import (
    FidelityReport,
    delayed_copy_batch,
    diagnostic_network,
    gradient_fidelity,
)
from model.network import NetworkConfig

DELAY, STEPS, HIDDEN, BATCH = 12, 64, 16, 16
MODES = ["dsf", "dsf-adaptive", "ft-bptt", "tbptt:8", "bptt"]
# Measured ratios for dsf-adaptive stayed below 0.13; the bound is looser, as it adapts λ.
MAX_GAP_RATIO = 0.6
# Largest measured ratio for fixed λ was 0.13 (see the module docstring).
MAX_FIXED_GAP_RATIO = 0.3


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """These tensors are tiny: on a shared 2-core machine threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _report(seed: int, modes: list[str] = MODES) -> FidelityReport:
    config = NetworkConfig(horizon=1, hidden=HIDDEN, layers=1, dropout=0.0, observed=1)
    network = diagnostic_network(config, seed=seed)
    batch = delayed_copy_batch(BATCH, STEPS, delay=DELAY, seed=seed)
    return gradient_fidelity(network, batch, modes, loss_warmup=DELAY, seed=seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adaptive_dsf_closes_most_of_ft_bptt_gap(seed: int) -> None:
    report = _report(seed)
    adaptive, ft = report.mode("dsf-adaptive"), report.mode("ft-bptt")
    assert 1 - adaptive.overall < MAX_GAP_RATIO * (1 - ft.overall)
    assert 1 - adaptive.recurrent < MAX_GAP_RATIO * (1 - ft.recurrent)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fixed_dsf_beats_ft_bptt(seed: int) -> None:
    report = _report(seed, ["dsf", "ft-bptt"])
    dsf, ft = report.mode("dsf"), report.mode("ft-bptt")
    assert 1 - dsf.overall < MAX_FIXED_GAP_RATIO * (1 - ft.overall)
    assert 1 - dsf.recurrent < MAX_FIXED_GAP_RATIO * (1 - ft.recurrent)


def test_cosines_are_bounded_and_bptt_matches_itself() -> None:
    report = _report(3)
    for result in report.modes:
        for name, value in result.per_tensor:
            assert -1.0 <= value <= 1.0, (result.mode, name)
        assert -1.0 <= result.overall <= 1.0
    exact = report.mode("bptt")
    assert exact.overall == pytest.approx(1.0, abs=1e-12)
    assert all(value == pytest.approx(1.0, abs=1e-12) for _, value in exact.per_tensor)
    assert exact.norm_ratio == pytest.approx(1.0, abs=1e-12)
    # The head reads the states alone, which every mode computes identically.
    assert report.mode("dsf").cosine("head.weight") == pytest.approx(1.0, abs=1e-12)


def test_diagnosis_leaves_the_network_unchanged() -> None:
    """dsf-adaptive probes λ on a copy: the compared weights and the λ buffers stay as given."""
    config = NetworkConfig(horizon=1, hidden=HIDDEN, layers=2, dropout=0.0, observed=1)
    network = diagnostic_network(config, seed=4)
    before = {name: value.clone() for name, value in network.state_dict().items()}
    batch = delayed_copy_batch(4, 32, delay=8, seed=4)
    report = gradient_fidelity(network, batch, ["dsf-adaptive"], loss_warmup=8)
    for name, value in network.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert report.mode("dsf-adaptive").lam_mean != pytest.approx(
        float(network.stack.feedback(0).mean())
    )


def test_report_serialises_and_formats() -> None:
    report = _report(5, ["dsf", "tbptt:8"])
    data = json.loads(json.dumps(report.to_json()))
    assert [m["mode"] for m in data["modes"]] == ["dsf", "tbptt:8"]
    assert set(data["modes"][0]["per_tensor"]) == set(report.parameters)
    table = report.format_table()
    assert "overall" in table and "tbptt:8" in table and "head.weight" in table


def test_delayed_copy_target_is_the_delayed_input() -> None:
    batch = delayed_copy_batch(2, 20, delay=5, horizon=3, noise_std=0.0, seed=6)
    torch.testing.assert_close(batch.target[:, 5:], batch.observed[:, :-5, 0], rtol=0, atol=0)
    assert batch.future.shape == (2, 20, 3)
    torch.testing.assert_close(batch.future[:, :-1, 0], batch.target[:, 1:], rtol=0, atol=0)
    with pytest.raises(ValueError, match="horizon"):
        delayed_copy_batch(2, 20, delay=2, horizon=3)
