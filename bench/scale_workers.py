"""Worker processes for `bench/scale.py`: started as a plant deploys them, timed, measured.

Each worker is `python -m app worker` in its own process with `LINECAST_TORCH_THREADS`, as
compose's `worker` service runs it, so the figures include claiming, loading and storing, not
just training. Peak RSS is read from /proc (Linux) while the process still runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


@contextmanager
def workers(database_url: str, count: int, torch_threads: int) -> Iterator[list[int]]:
    """`count` worker processes on `database_url`; their pids. Stopped with SIGTERM after."""
    env = {
        **os.environ,
        "LINECAST_DATABASE_URL": database_url,
        "LINECAST_TORCH_THREADS": str(torch_threads),
        "LINECAST_LOG_LEVEL": "WARNING",
        "LINECAST_WORKER_POLL_SECONDS": "0.2",
        # An older checkout given on PYTHONPATH (to measure its code) goes first.
        "PYTHONPATH": os.pathsep.join(
            filter(None, [os.environ.get("PYTHONPATH"), str(REPOSITORY)])
        ),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env=env,
            cwd=REPOSITORY,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def wait_until(done: Callable[[], bool], timeout: float, poll: float = 0.5) -> float:
    """Seconds until `done()` holds; TimeoutError past `timeout`."""
    began = time.perf_counter()
    while not done():
        if time.perf_counter() - began > timeout:
            raise TimeoutError(f"not done after {timeout:.0f} s")
        time.sleep(poll)
    return time.perf_counter() - began
