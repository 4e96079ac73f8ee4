"""Limits on a request body: its size (413) and the time it may take to arrive (408).

The size limit refuses a declared `Content-Length` over the limit before reading a byte, and
counts a chunked body while it streams. The time limit is a deadline for the whole body,
counted from the request's arrival: a client trickling ten bytes a second never pauses long
enough for a per-read timeout (nginx's `client_body_timeout` measures pauses), yet holds a
connection and a task for as long as it likes. Behind the compose proxy nginx buffers the body
first and hands it over at loopback speed, so the deadline bites only on a bare `linecast serve`.

Both raise `HTTPException` from `receive`: FastAPI re-raises an `HTTPException` from reading
the body, so it reaches the app's error handler and answers in the one error shape.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response


class BodyLimits:
    """413 for a body over `max_bytes`; 408 for one not whole within `max_seconds`."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.too_large = (
            f"request body larger than the limit of {max_bytes} bytes (LINECAST_MAX_REQUEST_BYTES)"
        )
        self.too_slow = (
            f"request body not received within {max_seconds:g} s "
            "(LINECAST_REQUEST_BODY_SECONDS): send it whole, faster"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, self.too_large)(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.max_seconds
        received = 0
        body_complete = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:
                # What follows the body is the disconnect a streaming answer listens for: it
                # may come at any time and is no part of the body's deadline.
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, self.too_slow, headers={"Connection": "close"}) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self.too_large)
                body_complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)
