"""What handlers ask for, as `Annotated` aliases: a session, the settings, a checked key, a series.

"Who may do this" and "does this exist" are decided here, once, so a handler that declares
`WriteKey` and `ActiveSeriesDep` can only run for a live key of role write or admin and an
existing, unarchived series; every other case has one answer, from one place. `DashboardKey`
is the read check for browsers: the key comes from the header or the dashboard's login cookie,
and a missing or dead key sends the browser to the login page instead of a 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.db.models import MAX_ID, ROLES, ApiKey, Role, Series
from app.services.keys import authenticate
from app.settings import Settings

_ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
_BEARER = HTTPBearer(
    auto_error=False,
    bearerFormat="lc_<prefix>_<secret>",
    description="An API key (`linecast create-api-key`); roles: read < write < admin.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_session(request: Request) -> Iterator[Session]:
    """A session for this request, closed (and any unfinished transaction rolled back) after."""
    with request.app.state.session_factory() as session:
        yield session


def get_settings(request: Request) -> Settings:
    """The settings the app was built with (not the environment's: tests build several apps)."""
    return request.app.state.settings


def start_in_process(request: Request, run_id: int) -> None:
    """Hand a queued training run to this process's executor, when the app trains in-process;
    otherwise a `linecast worker` claims it from the database."""
    executor = getattr(request.app.state, "executor", None)
    if executor is not None:
        executor.submit(run_id)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def require_role(role: Role) -> Callable[..., ApiKey]:
    """A dependency admitting a live key of `role` or a higher one, and returning its row."""

    def check_key(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> ApiKey:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API key: send the header `Authorization: Bearer <key>`",
                headers=_CHALLENGE,
            )
        api_key = authenticate(session=session, key=credentials.credentials)
        if api_key is None:
            # One answer for unknown, malformed and revoked keys: which one is for the
            # key's owner to find out, not for whoever is trying keys.
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", headers=_CHALLENGE)
        if _ROLE_RANK[api_key.role] < _ROLE_RANK[role]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs a key of role {role} or higher; this key has role {api_key.role}",
            )
        return api_key

    return check_key


ReadKey = Annotated[ApiKey, Depends(require_role("read"))]
WriteKey = Annotated[ApiKey, Depends(require_role("write"))]
AdminKey = Annotated[ApiKey, Depends(require_role("admin"))]

# Browsers cannot send a Bearer header by themselves: the dashboard's login form puts the key
# in this cookie (HttpOnly, SameSite=Strict), which only the dashboard's paths receive.
DASHBOARD_COOKIE = "linecast_dashboard_key"
DASHBOARD_LOGIN_ROUTE = "dashboard-login"


def dashboard_key(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> ApiKey:
    """The live key of the Bearer header or, without one, of the dashboard cookie.

    Every role may read, and the dashboard only reads, so any live key will do. Without a key,
    or with an unknown or revoked one (treated alike, as the API does), the answer is a 303 to
    the login page, whose `reason` says which; a cookie holding a dead key is cleared.
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


def get_series(session: SessionDep, series_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Series:
    """The series named by the path, archived or not; 404 if there is none."""
    series = session.get(Series, series_id)
    if series is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"series {series_id} not found")
    return series


def get_active_series(series: Annotated[Series, Depends(get_series)]) -> Series:
    """The series named by the path, for writing: 409 once it is archived."""
    if series.archived_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"series {series.id} is archived")
    return series


SeriesDep = Annotated[Series, Depends(get_series)]
ActiveSeriesDep = Annotated[Series, Depends(get_active_series)]
