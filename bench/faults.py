"""Faults a plant will see, reproduced against the real service: what it answers, what it keeps.

    python bench/faults.py            # table on stdout; exit 1 if a property does not hold
    python bench/faults.py --json     # one JSON object per scenario
    python bench/faults.py --quick    # shorter outage, one round of opposite-order uploads
    python bench/faults.py --scenarios pg-restart --stop-mode immediate --logs /tmp/faults

Everything runs on a private PostgreSQL server in a temporary directory
(`throwaway_postgres.py`), never on the shared one, behind `linecast serve` in a subprocess
with `LINECAST_IN_PROCESS_JOBS=false`; clients are httpx threads in this process.

* `pg-restart`: client threads upload batches of new readings (distinct stamps) without pause
  while PostgreSQL is stopped, left down for `--down` seconds and started again. A batch answered
  503 is sent again (sooner than Retry-After says, so the outage is probed often), as a client
  would. Holds when every acknowledged (2xx) reading is stored, no answer is a 500 and every 503
  carries Retry-After.
* `opposite-order`: per round, 20 uploads of the same 2,000 readings to one series at once, half
  in ascending and half in descending stamp order (before the fix 13 of 20 deadlocked: 500).
  Holds when no answer is a 500, every 503 carries Retry-After and exactly the 2,000 readings
  are stored.
* `killed-worker`: a small training run is queued over the API, `linecast worker` takes it and
  is SIGKILLed once the run reports training progress; a second worker is started at once. With
  heartbeats every second and runs declared dead after `--stale` seconds of silence, holds when
  the second worker takes the run (attempt 2) and finishes it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from throwaway_postgres import Cluster, StopMode, free_port, throwaway_cluster

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import Observation
from app.services.keys import create_api_key
from app.simulator import LineConfig, simulate_line

ORIGIN = datetime(2020, 1, 1, tzinfo=UTC)
BATCH_ROWS = 100
SAME_ROWS, SAME_UPLOADS = 2_000, 20
HEARTBEAT_SECONDS = 1.0
# Retry sooner than the server's Retry-After (5 s) so that every phase of the outage (shutting
# down, refused, starting up) is asked about, not just its first second.
RETRY_PAUSE_SECONDS = 0.5
TERMINAL = {"succeeded", "rejected", "failed"}
# A small GRU-only run with fixed-λ DSF (no mode check): its screening epochs (4 for each of
# three preprocessings) take 5-10 s on 2 busy cores, a window wide enough to kill it within.
TRAIN_BODY = {
    "horizon": 12,
    "context": 48,
    "mode": "dsf",
    "hidden": 16,
    "candidates": ["gru"],
    "epochs": 5,
    "steps_per_epoch": 40,
}
WORKER_READY = "waiting for training runs"
SCENARIOS = ("pg-restart", "opposite-order", "killed-worker")


@dataclass
class Service:
    """The running API, its admin key, and the database it serves, for checks behind its back."""

    base: str
    key: str
    url: str
    env: dict[str, str]
    logs: Path

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)

    def stored(self, series_id: int) -> dict[datetime, float]:
        """Every reading of the series, read straight from the database."""
        engine = make_engine(self.url)
        try:
            with session_factory(engine)() as session:
                rows = session.execute(
                    select(Observation.ts, Observation.value).where(
                        Observation.series_id == series_id
                    )
                )
                return {ts: value for ts, value in rows}
        finally:
            engine.dispose()

    def new_series(self, name: str, frequency: str) -> int:
        with self.client() as http:
            answer = http.post("/v1/series", json={"name": name, "frequency": frequency})
            answer.raise_for_status()
            return answer.json()["id"]

    def logged_errors(self) -> Counter[str]:
        """The server log's ERROR records, one line each (logger, message and the exception's
        last line), counted: what a 500 or a swallowed failure left behind."""
        found: Counter[str] = Counter()
        for line in self.logs.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # uvicorn's own lines, before the app's logging is set
                if "Traceback" in line or "ERROR" in line:
                    found[line] += 1
                continue
            if record.get("level") in ("ERROR", "CRITICAL"):
                cause = record.get("exception", "").strip().splitlines()[-1:]
                found[f"{record['logger']}: {record['message']} ({''.join(cause)[:160]})"] += 1
        return found


def _wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {seconds:g} s")
        time.sleep(0.2)


def _answers_ok(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def service(cluster: Cluster, folder: Path, stale_seconds: float) -> Iterator[Service]:
    """Migrate the cluster's database, mint an admin key and run `linecast serve` on it."""
    upgrade(cluster.url)
    engine = make_engine(cluster.url)
    with session_factory(engine)() as session:
        _, key = create_api_key(session=session, name="faults", role="admin")
    engine.dispose()
    env = {
        **os.environ,
        "LINECAST_DATABASE_URL": cluster.url,
        "LINECAST_IN_PROCESS_JOBS": "false",
        "LINECAST_LOG_LEVEL": "WARNING",
        "LINECAST_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "LINECAST_STALE_AFTER_SECONDS": str(stale_seconds),
    }
    port = free_port()
    logs = folder / "serve.log"
    with logs.open("w") as sink:
        command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _answers_ok(base), 60, "the server did not start")
        yield Service(base=base, key=key, url=cluster.url, env=env, logs=logs)
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- pg-restart ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    at: float  # monotonic seconds when the answer (or the failure to get one) came
    status: int  # 0: no HTTP answer (connection refused or reset)
    retry_after: bool


@dataclass
class Ingest:
    """Shared by the client threads: the next stamps to send, and what came back."""

    next_row: int = 0
    answers: list[Answer] = field(default_factory=list)
    acknowledged: set[datetime] = field(default_factory=set)
    abandoned_rows: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_batch(self) -> list[dict]:
        with self.lock:
            first, self.next_row = self.next_row, self.next_row + BATCH_ROWS
        return [
            {"ts": (ORIGIN + timedelta(minutes=row)).isoformat(), "value": float(row % 997)}
            for row in range(first, first + BATCH_ROWS)
        ]


def _ingest_client(service: Service, path: str, state: Ingest, stop: threading.Event) -> None:
    """Upload batches until `stop`; a batch answered 503 or not at all is sent again until
    acknowledged or `stop` is a minute old. Any other answer ends the batch."""
    with service.client() as http:
        while not stop.is_set():
            batch = state.take_batch()
            give_up = None
            while True:
                try:
                    answer = http.post(path, json={"items": batch})
                    status, retry_after = answer.status_code, "retry-after" in answer.headers
                except httpx.TransportError:
                    status, retry_after = 0, False
                with state.lock:
                    state.answers.append(Answer(time.monotonic(), status, retry_after))
                    if 200 <= status < 300:
                        state.acknowledged.update(datetime.fromisoformat(r["ts"]) for r in batch)
                if status not in (0, 503):
                    break
                if stop.is_set():
                    give_up = give_up or time.monotonic() + 60
                    if time.monotonic() > give_up:
                        with state.lock:
                            state.abandoned_rows += len(batch)
                        break
                time.sleep(RETRY_PAUSE_SECONDS)


def pg_restart(
    service: Service, cluster: Cluster, clients: int, before: float, down: float, mode: StopMode
) -> dict:
    series_id = service.new_series("faults/pg-restart", "min")
    path = f"/v1/series/{series_id}/observations"
    state, stop = Ingest(), threading.Event()
    threads = [
        threading.Thread(target=_ingest_client, args=(service, path, state, stop))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(before)
    stop_at = time.monotonic()
    cluster.stop(mode)
    time.sleep(down)
    cluster.start()
    up_at = time.monotonic()
    _wait_until(lambda: _answers_ok(service.base), 60, "the service did not recover")
    time.sleep(before)
    stop.set()
    for thread in threads:
        thread.join()
    stored = service.stored(series_id)
    outage = [a for a in state.answers if stop_at <= a.at <= up_at]
    first_ok = min(
        (a.at for a in state.answers if a.at > up_at and 200 <= a.status < 300), default=None
    )
    server_errors = sum(a.status >= 500 and a.status != 503 for a in state.answers)
    unavailable = [a for a in state.answers if a.status == 503]
    row = {
        "scenario": "pg-restart",
        "stop_mode": mode,
        "clients": clients,
        "down_s": down,
        "acknowledged_rows": len(state.acknowledged),
        "stored_rows": len(stored),
        "lost_rows": len(state.acknowledged - stored.keys()),
        "unacknowledged_stored_rows": len(stored.keys() - state.acknowledged),
        "abandoned_rows": state.abandoned_rows,
        "answers": _by_status(state.answers),
        "outage_answers": _by_status(outage),
        "server_errors": server_errors,
        "503_without_retry_after": sum(not a.retry_after for a in unavailable),
        "first_2xx_after_start_s": None if first_ok is None else round(first_ok - up_at, 2),
    }
    row["holds"] = (
        row["lost_rows"] == 0
        and server_errors == 0
        and row["503_without_retry_after"] == 0
        and row["acknowledged_rows"] > 0
    )
    return row


def _by_status(answers: list[Answer]) -> dict[str, int]:
    """Counts by status; "none" for no HTTP answer at all."""
    counts = Counter("none" if a.status == 0 else str(a.status) for a in answers)
    return dict(sorted(counts.items()))


# --- opposite-order -----------------------------------------------------------------------


def _same_upload_round(
    service: Service, name: str, readings: list[dict]
) -> tuple[list[Answer], int]:
    """`SAME_UPLOADS` uploads of `readings` released together, every other one reversed;
    returns their answers and the series' id."""
    series_id = service.new_series(name, "min")
    path = f"/v1/series/{series_id}/observations"
    start, lock = threading.Barrier(SAME_UPLOADS), threading.Lock()
    answers: list[Answer] = []

    def upload(items: list[dict]) -> None:
        with service.client() as http:
            start.wait()
            answer = http.post(path, json={"items": items})
        with lock:
            answers.append(
                Answer(time.monotonic(), answer.status_code, "retry-after" in answer.headers)
            )

    threads = [
        threading.Thread(target=upload, args=(readings if i % 2 else readings[::-1],))
        for i in range(SAME_UPLOADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, series_id


def opposite_order(service: Service, rounds: int) -> dict:
    readings = [
        {"ts": (ORIGIN + timedelta(minutes=row)).isoformat(), "value": float(row)}
        for row in range(SAME_ROWS)
    ]
    expected = {datetime.fromisoformat(r["ts"]): r["value"] for r in readings}
    answers: list[Answer] = []
    wrong_rounds = 0
    for round_ in range(rounds):
        got, series_id = _same_upload_round(service, f"faults/opposite-order-{round_}", readings)
        answers += got
        wrong_rounds += service.stored(series_id) != expected
    server_errors = sum(a.status >= 500 and a.status != 503 for a in answers)
    row = {
        "scenario": "opposite-order",
        "rounds": rounds,
        "uploads": len(answers),
        "rows_per_upload": SAME_ROWS,
        "answers": _by_status(answers),
        "server_errors": server_errors,
        "503_without_retry_after": sum(a.status == 503 and not a.retry_after for a in answers),
        "rounds_not_exactly_stored": wrong_rounds,
    }
    row["holds"] = server_errors == 0 and row["503_without_retry_after"] == 0 and wrong_rounds == 0
    return row


# --- killed-worker ------------------------------------------------------------------------


def _start_worker(service: Service, folder: Path, name: str) -> subprocess.Popen:
    with (folder / f"{name}.log").open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env=service.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _training(run: dict) -> bool:
    """The run is past its first epoch and not yet done training: the moment to kill."""
    return run["status"] == "running" and run["progress"] > 0


def _kill_mid_training(service: Service, folder: Path, run: Callable[[], dict]) -> dict:
    """Start a worker, SIGKILL it once the run is training; the run's state at the kill."""
    first = _start_worker(service, folder, "worker-1")
    try:
        _wait_until(lambda: _training(run()), 120, "the first worker did not start training")
        killed = run()
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    return killed


def _watch_recovery(service: Service, folder: Path, run: Callable[[], dict]) -> dict:
    """Start a second worker and time, from now, its start, the run's second claim and end."""
    killed_at = time.monotonic()
    second = _start_worker(service, folder, "worker-2")

    def since(moment: float | None) -> float | None:
        return None if moment is None else round(moment - killed_at, 1)

    try:
        log = folder / "worker-2.log"
        _wait_until(lambda: WORKER_READY in log.read_text(), 120, "the second worker did not start")
        ready_at, recovered_at, finished_at = time.monotonic(), None, None
        state = run()
        while time.monotonic() < killed_at + 180 and finished_at is None:
            state = run()
            if recovered_at is None and state["attempts"] >= 2:
                recovered_at = time.monotonic()
            if state["status"] in TERMINAL:
                finished_at = time.monotonic()
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    return {
        "second_worker_ready_s": since(ready_at),
        "recovered": recovered_at is not None,
        "recovery_s": since(recovered_at),
        "finished_s": since(finished_at),
        "final_status": state["status"],
        "attempts": state["attempts"],
        "error": state["error"],
    }


def killed_worker(service: Service, folder: Path, stale: float) -> dict:
    series_id = service.new_series("faults/killed-worker", "h")
    values = simulate_line(LineConfig(days=30), seed=0)["throughput"].dropna()
    items = [{"ts": ts.isoformat(), "value": float(v)} for ts, v in values.items()]
    with service.client() as http:
        http.post(f"/v1/series/{series_id}/observations", json={"items": items}).raise_for_status()
        answer = http.post(f"/v1/series/{series_id}/train", json=TRAIN_BODY)
        run_path = f"/v1/training-runs/{answer.raise_for_status().json()['run']['id']}"

        def run() -> dict:
            return http.get(run_path).raise_for_status().json()

        killed = _kill_mid_training(service, folder, run)
        outcome = _watch_recovery(service, folder, run)
    row = {
        "scenario": "killed-worker",
        "stale_after_s": stale,
        "killed_at_progress": round(killed["progress"], 3),
        "killed_during": killed["message"],
        **outcome,
    }
    row["holds"] = row["recovered"] and row["final_status"] in {"succeeded", "rejected"}
    return row


# --- report -------------------------------------------------------------------------------


def _print_table(rows: list[dict]) -> None:
    for row in rows:
        verdict = "holds" if row["holds"] else "DOES NOT HOLD"
        print(f"{row['scenario']}: {verdict}")
        for name, value in row.items():
            if name not in ("scenario", "holds"):
                print(f"    {name:<28} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser.add_argument("--quick", action="store_true", help="shorter outage, one round")
    parser.add_argument("--clients", type=int, default=4, help="ingesting threads (pg-restart)")
    parser.add_argument("--down", type=float, default=None, help="seconds PostgreSQL is down")
    parser.add_argument(
        "--stop-mode",
        choices=["fast", "immediate"],
        default="fast",
        help="pg_ctl's shutdown: fast (clean) or immediate (a crash)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="opposite-order rounds")
    parser.add_argument(
        "--stale", type=float, default=4.0, help="LINECAST_STALE_AFTER_SECONDS for the workers"
    )
    parser.add_argument(
        "--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="which to run"
    )
    parser.add_argument(
        "--logs", type=Path, help="keep the server's and workers' logs here (default: removed)"
    )
    args = parser.parse_args(argv)
    down = args.down if args.down is not None else (3.0 if args.quick else 6.0)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    before = 2.0 if args.quick else 4.0

    with tempfile.TemporaryDirectory(prefix="linecast-faults-") as name, throwaway_cluster() as pg:
        folder = args.logs or Path(name)
        folder.mkdir(parents=True, exist_ok=True)
        with service(pg, folder, args.stale) as api:
            scenarios = {
                "pg-restart": lambda: pg_restart(
                    api, pg, args.clients, before, down, args.stop_mode
                ),
                "opposite-order": lambda: opposite_order(api, rounds),
                "killed-worker": lambda: killed_worker(api, folder, args.stale),
            }
            rows = [scenarios[name]() for name in args.scenarios]
            errors = api.logged_errors()
    for line, count in errors.most_common():
        print(f"server log, {count} x ERROR: {line}", file=sys.stderr)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        _print_table(rows)
    return 0 if all(row["holds"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
