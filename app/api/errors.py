"""The one shape of every error body the service sends: `{"detail", "request_id", ...}`.

Its own module so middleware (body limits, request context) and handlers answer alike without
importing the app factory.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from app.logging import request_id_var


def error_response(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """An error answer naming what to fix, with the current request's id to find its logs."""
    body = {"detail": detail, "request_id": request_id_var.get(), **extra}
    return JSONResponse(body, status_code=status, headers=headers)
