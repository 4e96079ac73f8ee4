"""Notes a session keeps of the work its transaction queued, for the dispatcher to read after
the commit (`app.jobs.dispatch`).

Most queued work is counted by watching what the session flushes or bulk-inserts; a statement
the database fills itself (INSERT ... SELECT) shows no rows to count, so the code that runs it
notes the count here. A module of its own, with no imports from the services or the jobs,
so both sides can use it without an import cycle.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

QueuedKind = Literal["runs", "drift"]


def note_queued(session: Session, kind: QueuedKind, count: int) -> None:
    """Add `count` queued items of `kind` to what this session's transaction queued."""
    if count:
        key = _key(kind)
        session.info[key] = session.info.get(key, 0) + count


def take_queued(session: Session, kind: QueuedKind) -> int:
    """What the session's transaction queued of `kind`, forgotten as it is read."""
    return session.info.pop(_key(kind), 0)


def _key(kind: QueuedKind) -> str:
    return f"linecast.queued.{kind}"
