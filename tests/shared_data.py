"""The real data sets of `../shared/data/`, read in place (never copied into the repository)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(name: str) -> Path:
    """Path of a shared data file; skips the calling test, naming the path, when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data set not present at {path}")
    return path
