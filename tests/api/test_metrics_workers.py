"""`/metrics` under `linecast serve --workers 2`: every scrape counts every worker's requests.

Without prometheus_client's multiprocess mode each worker process counts only the requests it
answered, and a scrape shows the share of whichever worker answers it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from app.cli.serve import shared_metrics_dir
from app.db.migrate import upgrade
from app.observability import MULTIPROCESS_DIR_VARIABLE, REQUEST_SECONDS
from tests.api.test_metrics import request_count

REPOSITORY = Path(__file__).resolve().parents[2]
BATCH = 24  # requests sent at a time, 8 at once, each on a new connection
MAX_BATCHES = 20  # enough for both workers to answer some; the kernel picks which accepts


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`linecast serve --workers 2` on a migrated SQLite file: its URL and metrics folder."""
    url = f"sqlite:///{tmp_path / 'linecast.db'}"
    upgrade(url)
    folder = tmp_path / "metrics"
    folder.mkdir()
    # Left by an earlier server: serve must clear it, or its counts would be added.
    (folder / "counter_999999.db").write_bytes(b"stale")
    env = {name: value for name, value in os.environ.items() if not name.startswith("LINECAST_")}
    env.update(
        LINECAST_DATABASE_URL=url,
        LINECAST_LOG_LEVEL="WARNING",
        LINECAST_TORCH_THREADS="1",
        **{MULTIPROCESS_DIR_VARIABLE: str(folder)},
    )
    port = _free_port()
    with (tmp_path / "serve.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
            cwd=REPOSITORY,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server, tmp_path / "serve.log")
        yield base, folder
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not answer within 120 s:\n{log.read_text()}")


def _unauthorised(base: str) -> int:
    # A new connection each: with one kept alive, one worker would answer them all.
    return httpx.get(f"{base}/v1/series", headers={"Connection": "close"}, timeout=30).status_code


def _counts_by_process(folder: Path) -> dict[str, float]:
    """Each worker's own count of the requests above, read from its file in the folder."""
    counts = {}
    for path in folder.glob("histogram_*.db"):
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if (
                    sample.name == f"{REQUEST_SECONDS}_count"
                    and sample.labels.get("route") == "/v1/series"
                ):
                    counts[path.stem] = counts.get(path.stem, 0.0) + sample.value
    return counts


@pytest.mark.slow
def test_metrics_add_up_the_requests_of_every_worker(served: tuple[str, Path]) -> None:
    base, folder = served
    assert not (folder / "counter_999999.db").exists()
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(_counts_by_process(folder)) < 2 and sent < BATCH * MAX_BATCHES:
            assert set(pool.map(_unauthorised, [base] * BATCH)) == {401}
            sent += BATCH

    # A request is counted just after its answer is sent: the last ones may still be on their way.
    shares = _counts_by_process(folder)
    deadline = time.monotonic() + 10
    while sum(shares.values()) < sent and time.monotonic() < deadline:
        time.sleep(0.1)
        shares = _counts_by_process(folder)
    assert len(shares) == 2 and sum(shares.values()) == sent, shares
    # Several scrapes, answered by either worker: each shows the total, not one share.
    for _ in range(6):
        text = httpx.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=30).text
        assert request_count(text, "GET", "/v1/series", "401") == sent


def test_several_workers_get_a_folder_of_their_own_for_as_long_as_they_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR_VARIABLE, raising=False)
    with shared_metrics_dir(workers=1):
        assert MULTIPROCESS_DIR_VARIABLE not in os.environ  # one process counts alone
    with shared_metrics_dir(workers=2):
        folder = Path(os.environ[MULTIPROCESS_DIR_VARIABLE])
        assert folder.is_dir() and not any(folder.iterdir())
    assert MULTIPROCESS_DIR_VARIABLE not in os.environ
    assert not folder.exists()
