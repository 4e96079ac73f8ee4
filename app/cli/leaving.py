"""Leaving a long-running command fast: Docker sends SIGKILL 10 s after SIGTERM by default."""

from __future__ import annotations

import gc


def skip_exit_collections() -> None:
    """Spare the interpreter's exit its garbage collections; call just before the process ends.

    At exit CPython collects every generation several times while it tears modules down, over
    the ~350,000 objects torch, pandas and SQLAlchemy leave: 1.6-1.9 s measured on a busy 2-core
    host, 0.6 s with the objects frozen (`gc.freeze` leaves them out of every collection).
    Nothing left in a cycle then needs finalising: the caller has disposed its engine and
    finished its work; the operating system takes the memory back.
    """
    gc.freeze()
