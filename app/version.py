"""The installed distribution's version: what `linecast --version` and the OpenAPI document say.

Read from the installed metadata (`importlib.metadata`) rather than written in the code, so the
one number in pyproject.toml is the only one to change at a release.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def distribution_version() -> str:
    """The version of the installed `linecast` distribution; "0+unknown" when run from a source
    tree that was never installed."""
    try:
        return version("linecast")
    except PackageNotFoundError:
        return "0+unknown"
