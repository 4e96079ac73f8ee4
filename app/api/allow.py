"""`OPTIONS` and `405 Method Not Allowed` that name every method a path serves.

Starlette matches routes one at a time: a request whose path fits a route but whose method does
not gets that route's 405, listing only that route's methods, although another route of the
same path serves others (`OPTIONS /v1/series` answered `Allow: POST` while the path also serves
GET), and `OPTIONS` itself is a 405. Here the methods of every route whose path fits are
gathered first: `OPTIONS` on a known path answers 204 with them, and a 405 carries all of them.
Unknown paths are left alone (404).
"""

from __future__ import annotations

from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class AllowedMethods:
    """Answers `OPTIONS` on known paths and completes the `Allow` header of every 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The routes are matched only for OPTIONS and 405s, off every other request's path.
        if scope["method"] == "OPTIONS":
            methods = served_methods(scope)
            if methods and "OPTIONS" not in methods:
                response = Response(status_code=204, headers={"Allow": _allow(methods)})
                await response(scope, receive, send)
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = served_methods(scope)
                if methods:
                    MutableHeaders(scope=message)["Allow"] = _allow(methods)
            await send(message)

        await self.app(scope, receive, send_with_allow)


def _allow(methods: set[str]) -> str:
    return ", ".join(sorted({*methods, "OPTIONS"}))


def served_methods(scope: Scope) -> set[str]:
    """The methods of every route of the app whose path matches the request's (any method)."""
    methods: set[str] = set()
    # Route contexts, not the router's routes: those hold each included router as one entry.
    for route in iter_route_contexts(scope["app"].router.routes):
        if route.methods and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods
    return methods
