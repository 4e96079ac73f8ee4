"""Who is calling: the API's Bearer keys and the dashboard's sign-in cookie, checked in one place.

A handler that declares `WriteKey` runs only for a live key (known, not revoked, not expired)
of role write or admin. Unknown, malformed, revoked and expired keys get one answer, 401
"invalid API key": which of them it was is for the key's owner to find out (`linecast keys
list`), not for whoever is trying keys.

The key is checked before the body is read: `KeyCheckedFirst`, the route class of every API
router, authorises a request that carries a body before FastAPI parses it, so a caller
without a valid key cannot make the service read and parse megabytes of JSON or CSV.

`DashboardKey` is the read check for browsers: the key comes from the header or the
dashboard's login cookie, and a missing or dead key sends the browser to the login page
instead of a 401.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.db.models import ROLES, ApiKey, Role
from app.request_scope import SessionDep
from app.services.keys import authenticate

_ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
BEARER = HTTPBearer(
    auto_error=False,
    bearerFormat="lc_<prefix>_<secret>",
    description="An API key (`linecast keys create`); roles: read < write < admin.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def check_key(session: Session, key: str | None, role: Role) -> ApiKey:
    """The live key row for `key` if its role is `role` or higher; 401 or 403 otherwise."""
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send the header `Authorization: Bearer <key>`",
            headers=_CHALLENGE,
        )
    api_key = authenticate(session=session, key=key)
    if api_key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", headers=_CHALLENGE)
    if _ROLE_RANK[api_key.role] < _ROLE_RANK[role]:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this needs a key of role {role} or higher; this key has role {api_key.role}",
        )
    return api_key


def require_role(role: Role) -> Callable[..., ApiKey]:
    """A dependency admitting a live key of `role` or a higher one, and returning its row."""

    def key_of_role(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> ApiKey:
        return check_key(session, credentials.credentials if credentials else None, role)

    # Read by `KeyCheckedFirst` to authorise before the body is parsed.
    key_of_role.required_role = role  # type: ignore[attr-defined]
    return key_of_role


ReadKey = Annotated[ApiKey, Depends(require_role("read"))]
WriteKey = Annotated[ApiKey, Depends(require_role("write"))]
AdminKey = Annotated[ApiKey, Depends(require_role("admin"))]


class KeyCheckedFirst(APIRoute):
    """An API route that checks the caller's key before FastAPI reads and parses the body.

    FastAPI parses the body before it solves dependencies, so without this a 20 MB upload
    without a key would be read and parsed, then answered 401. The dependency still runs
    after (a cheap second look-up) and hands the handler its key row.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        role = _required_role(self.dependant)
        if role is None:
            return handle

        async def authorise_then_handle(request: Request) -> Response:
            if _carries_a_body(request):
                await run_in_threadpool(_authorise, request, role)
            return await handle(request)

        return authorise_then_handle


def _required_role(dependant: Dependant) -> Role | None:
    """The role a route's dependencies demand (the first found), or None for an open route."""
    for dependency in dependant.dependencies:
        role = getattr(dependency.call, "required_role", None) or _required_role(dependency)
        if role is not None:
            return role
    return None


def _carries_a_body(request: Request) -> bool:
    """Whether a body follows the headers; without one there is nothing to refuse unread, and
    the dependency's check is the only one."""
    length = request.headers.get("content-length", "0")
    return "transfer-encoding" in request.headers or length != "0"


def _authorise(request: Request, role: Role) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    with request.app.state.session_factory() as session:
        check_key(session, key.strip() if scheme.lower() == "bearer" else None, role)


# Browsers cannot send a Bearer header by themselves: the dashboard's login form puts the key
# in this cookie (HttpOnly, SameSite=Strict), which only the dashboard's paths receive.
DASHBOARD_COOKIE = "linecast_dashboard_key"
DASHBOARD_LOGIN_ROUTE = "dashboard-login"


def dashboard_key(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> ApiKey:
    """The live key of the Bearer header or, without one, of the dashboard cookie.

    Every role may read, and the dashboard only reads, so any live key will do. Without a key,
    or with an unknown, revoked or expired one (treated alike, as the API does), the answer is
    a 303 to the login page, whose `reason` says which; a cookie holding a dead key is cleared.
    """
    key = credentials.credentials if credentials is not None else None
    key = key or request.cookies.get(DASHBOARD_COOKIE)
    if not key:
        raise _to_login(request, "sign-in")
    api_key = authenticate(session=session, key=key)
    if api_key is None:
        raise _to_login(request, "invalid", clear_cookie=True)
    return api_key


def dashboard_cookie_path(request: Request) -> str:
    """The path the dashboard cookie is scoped to (behind a prefix proxy, with its prefix)."""
    return request.scope.get("root_path", "") + "/dashboard"


def _to_login(request: Request, reason: str, clear_cookie: bool = False) -> HTTPException:
    login = request.scope.get("root_path", "") + request.app.url_path_for(DASHBOARD_LOGIN_ROUTE)
    headers = {"Location": f"{login}?reason={reason}"}
    if clear_cookie:
        headers["Set-Cookie"] = (
            f'{DASHBOARD_COOKIE}=""; Max-Age=0; Path={dashboard_cookie_path(request)}; '
            "HttpOnly; SameSite=strict"
        )
    return HTTPException(status.HTTP_303_SEE_OTHER, "sign in to see the dashboard", headers)


DashboardKey = Annotated[ApiKey, Depends(dashboard_key)]
