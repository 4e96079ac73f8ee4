"""The request's session dependency when the database goes away before it is closed.

FastAPI closes a yield dependency after the answer has started; `bench/faults.py` (PostgreSQL
restarted under ingest) caught the close raising then: the upload was stored and answered 200,
but the connection was dropped mid-answer and an unhandled error logged.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.requests import Request

from app.request_scope import get_session
from tests.fixtures.databases import DatabaseServer


def test_session_closes_quietly_after_its_connection_was_terminated(
    app: FastAPI, postgres_server: DatabaseServer
) -> None:
    dependency = get_session(Request({"type": "http", "app": app}))
    session = next(dependency)
    # A read leaves a transaction open, as the drift check after an upload does.
    pid = session.scalar(text("SELECT pg_backend_pid()"))
    postgres_server.execute(f"SELECT pg_terminate_backend({pid})")
    # What FastAPI does once the answer is on its way: resume the dependency to close it.
    with pytest.raises(StopIteration):
        next(dependency)
    # and the dead connection went back to the pool (to be replaced), not leaked
    assert session.get_bind().pool.checkedout() == 0
