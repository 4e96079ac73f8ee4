"""The OpenAPI contract, checked by schemathesis against the real service on a real database.

Schemathesis reads `/openapi.json` from the served app and sends what the document allows
(positive cases) and what it forbids (negative cases) to every operation, with every check it
has: no 5xx, each status, content type, header and body as documented, forbidden input
refused, allowed input accepted, authentication not ignored. It runs once with an admin key
(everything reachable) and once with a read key (the 403s). The database holds a series with
readings and two model versions (id 1, so the coverage phase's smallest ids reach real rows
and a real model); the app trains nothing itself (`in_process_jobs=False`), so a fuzzed
training request only queues a run.

`make fuzz` runs the same test longer: `CONTRACT_MAX_EXAMPLES` (examples per operation) and
`CONTRACT_SEED` override the bounded defaults of `make test`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.api.main import create_app
from app.settings import Settings
from tests.api.contract import run_schemathesis
from tests.fixtures.service import Keys
from tests.services.conftest import TINY, add_series, add_version

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "5"))
SEED = int(os.environ.get("CONTRACT_SEED", "20260105"))


@pytest.fixture
def app(migrated_url: str) -> FastAPI:
    """The service with its default limits (the contract is the deployed one, not tests/api's
    small limits: a schema-valid 10,000-id retrain is 30 kB), and with a separate worker, so
    training requests only queue runs. Warnings and errors only: a run sends thousands of
    requests, and `make fuzz` shows its output."""
    return create_app(
        Settings(database_url=migrated_url, in_process_jobs=False, log_level="WARNING")
    )


@pytest.fixture
def seeded(db: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes) -> int:
    """Series 1: the simulated line's readings, a retired and an active version of a model."""
    with db() as session:
        series = add_series(session, line, name="plant-a/line-1/throughput")
        for version, status in ((1, "retired"), (2, "active")):
            add_version(
                session,
                series.id,
                tiny_artifact,
                version=version,
                status=status,
                config=TINY.model_dump(),
            )
        return series.id


# The admin key reaches every operation: all four phases, in two runs so that pytest-xdist
# runs them side by side (the coverage phase alone is most of the time). The read key mostly
# meets 403s, so a few generated cases per operation check those (the coverage phase's
# boundary cases would only be refused again, and cost a minute on two cores).
RUNS = {
    "admin-coverage": ("admin", "coverage"),
    "admin-generated": ("admin", "examples,fuzzing,stateful"),
    "read": ("read", "examples,fuzzing"),
}


@pytest.mark.slow
@pytest.mark.parametrize("run_name", sorted(RUNS))
def test_the_service_keeps_its_openapi_contract(
    run_name: str, base_url: str, keys: Keys, seeded: int, tmp_path: Path
) -> None:
    role, phases = RUNS[run_name]
    run = run_schemathesis(
        base_url,
        getattr(keys, role),
        phases=os.environ.get("CONTRACT_PHASES", phases),
        max_examples=MAX_EXAMPLES,
        seed=SEED,
        report=tmp_path / "report.json",
    )
    print(run.output)  # shown by `make fuzz` (pytest -s): operations, test cases, failures
    assert run.returncode == 0, run.failures()
