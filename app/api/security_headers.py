"""`X-Content-Type-Options: nosniff` on every answer, `Cache-Control: no-store` on the dynamic ones.

nosniff: a browser must take a JSON error that echoes client text as JSON, never sniff it into
HTML or script. no-store: answers carry plant data, keys' metadata and dashboard pages shown
behind a login, which no browser or shared cache on the way may keep; a proxy's cache would
even serve one client's answer to another. The dashboard's static files (its stylesheet) hold
nothing private and keep their validators, so browsers may cache them.

Plain ASGI like the app's other middleware (`app.api.main`), added outermost, so every answer
gets the headers: errors, the size limit's 413, the request context's 500, health, metrics.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    """Adds the headers to each response's start; paths under `cacheable_prefix` skip no-store.

    A route that sets a `Cache-Control` of its own keeps it: that is a decision made where the
    answer is known, which a blanket rule here should not undo.
    """

    def __init__(self, app: ASGIApp, cacheable_prefix: str) -> None:
        self.app = app
        self.cacheable_prefix = cacheable_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(self.cacheable_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if not cacheable and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
