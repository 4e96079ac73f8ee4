"""What every web surface (the API and the dashboard) takes from a request: a session and the
settings the app was built with.

Its own module, under neither `app/api` nor `app/dashboard`, so that neither surface imports
the other's dependencies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.settings import Settings

logger = logging.getLogger(__name__)


def get_session(request: Request) -> Iterator[Session]:
    """A session for this request, closed (and any unfinished transaction rolled back) after.

    FastAPI closes it once the answer has started. If the database went away meanwhile the
    rollback fails; raising then would cut off an answer already on its way (a stored upload's
    200) for nothing, since the server has dropped the transaction with the connection.
    """
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        try:
            session.close()
        except (OperationalError, InterfaceError) as error:
            logger.warning("session not closed cleanly: %s", str(error).strip().splitlines()[0])


def get_settings(request: Request) -> Settings:
    """The settings the app was built with (not the environment's: tests build several apps)."""
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
