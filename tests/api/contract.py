"""Run the schemathesis CLI against a served app and read back what it found.

The CLI rather than schemathesis' pytest plugin: it runs every phase (examples, coverage,
fuzzing, stateful) in one process against a real HTTP server, prints the summary an engineer
reads (operations, requests, failures), and writes a JSON report we assert on. Its settings
(which checks, which statuses are deliberate) live in `tests/api/schemathesis.toml`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The console script installed next to the interpreter running the tests.
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@dataclass(frozen=True)
class ContractRun:
    """One schemathesis run: its exit code, console output and JSON report."""

    returncode: int
    output: str
    report: dict[str, Any]

    def failures(self) -> str:
        """The console output from its failures section on (all of it if there is none)."""
        start = self.output.find("FAILURES")
        return self.output[start:] if start >= 0 else self.output


def run_schemathesis(
    base_url: str, key: str, *, phases: str, max_examples: int, seed: int, report: Path
) -> ContractRun:
    """Every check of schemathesis in `phases` against `base_url`, sending `key` as the Bearer.

    One worker: schemathesis 4.32 with several failed now and then inside its own generator
    (a `SystemError` from `ast` in concurrent threads), which a test must never do.
    """
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        "--output-truncate",
        "true",
        "--phases",
        phases,
        "--checks",
        "all",
        "--seed",
        str(seed),
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {key}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    loaded = json.loads(report.read_text()) if report.exists() else {}
    return ContractRun(done.returncode, done.stdout + done.stderr, loaded)
