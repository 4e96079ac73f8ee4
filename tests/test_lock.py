"""The lock files (`make lock`): exact pins, in agreement with pyproject.toml and with each other,
and what this test run is running on.

`make install` installs requirements-dev.txt and the Dockerfile requirements.txt; a pin that
drifted from pyproject.toml's ranges, or a runtime pin the tests never ran, would be caught
only in production.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.txt"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(path: Path) -> dict[str, Version]:
    """Package -> version of every requirement line; anything but `name==version` fails."""
    found = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==" and not requirement.extras and not requirement.url, line
        found[canonicalize_name(requirement.name)] = Version(specifier.version)
    return found


def declared(extra: str | None = None) -> list[Requirement]:
    texts = PROJECT["optional-dependencies"][extra] if extra else PROJECT["dependencies"]
    return [Requirement(text) for text in texts]


@pytest.mark.parametrize(("lock", "extra"), [(LOCK, None), (DEV_LOCK, None), (DEV_LOCK, "dev")])
def test_each_declared_dependency_is_pinned_within_its_range(lock: Path, extra: str | None) -> None:
    pinned = pins(lock)
    for requirement in declared(extra):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock.name} lacks {name}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock.name} pins {name}=={pinned[name]}, outside {requirement}: run `make lock`"
        )


def test_the_image_runs_the_versions_the_tests_run() -> None:
    runtime, full = pins(LOCK), pins(DEV_LOCK)
    assert {name: full.get(name) for name in runtime} == runtime


def test_torch_is_the_cpu_build() -> None:
    assert pins(LOCK)["torch"] == Version("2.13.0+cpu")


def test_this_environment_is_the_lock() -> None:
    """`make install` installed exactly the lock; a stale virtualenv is named here."""
    drifted = {
        name: f"{version(name)} installed, {pinned} locked"
        for name, pinned in pins(DEV_LOCK).items()
        if Version(version(name)) != pinned
    }
    assert not drifted, f"run `make install`: {drifted}"
