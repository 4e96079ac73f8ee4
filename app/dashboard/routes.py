"""`/dashboard`: the read-only ops dashboard, server-rendered HTML with inline SVG charts.

Pages need a live key of any role (`DashboardKey`): a Bearer header, or the cookie that the
login form sets, because a browser cannot send a header by itself. The pages run no script,
and their Content-Security-Policy allows none: styles come from this app's own static file and
forms post only here. The key is never written into a page or a URL, and the access log
records route templates, never bodies or query strings.

Cross-site requests: the cookie is SameSite=Strict, so another site's link or form never
arrives signed in; the two forms (login, logout) also refuse a post whose Origin is another
site's, so nobody can sign a browser in with their own key.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from app.auth import (
    DASHBOARD_COOKIE,
    DASHBOARD_LOGIN_ROUTE,
    DashboardKey,
    dashboard_cookie_path,
)
from app.dashboard import queries
from app.dashboard.charts import (
    Band,
    Line,
    LineStyle,
    StepLine,
    Threshold,
    step_chart,
    time_chart,
    with_gaps,
)
from app.db.models import MAX_ID, utcnow
from app.request_scope import SessionDep
from app.services.backtest_report import VersionBacktest
from app.services.keys import authenticate

STATIC_DIR = FilePath(__file__).parent / "static"
STATIC_ROUTE = "dashboard-static"
TEMPLATES_DIR = FilePath(__file__).parent / "templates"

HISTORY_POINTS = 500
DRIFT_ROWS = 2_000
DRIFT_CHARTS = 12
RUNS_LISTED = 20
# The cookie holds the key itself: a working day, then the form again.
COOKIE_MAX_AGE_S = 12 * 3600

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
# Fixed texts chosen by a code in the URL: nothing from the URL is echoed into the page.
_LOGIN_MESSAGES = {
    "sign-in": "Sign in with an API key to see the dashboard.",
    "invalid": "That key is no longer valid (unknown or revoked): sign in with another.",
    "signed-out": "Signed out.",
}

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    seconds = (now - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.0f} {unit} ago" if seconds > 0 else "in the future"
    return "just now"


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f} %"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined
    )
    environment.filters.update(when=_when, ago=_ago, number=_number, percent=_percent)
    return environment


def _paths(request: Request) -> dict[str, Any]:
    """`path(name, **params)` in templates: a route's path, relative to the host, so links
    keep working behind a proxy whatever scheme and host it shows the browser."""
    root = request.scope.get("root_path", "")

    def path(name: str, **params: Any) -> str:
        return root + request.app.url_path_for(name, **params)

    return {"path": path}


templates = Jinja2Templates(env=_environment(), context_processors=[_paths])


def _same_origin(request: Request) -> None:
    """403 for a form posted from another site; browsers send Origin with every POST.

    The host the browser saw is the Host header or, behind a proxy that rewrites it, the
    proxy's X-Forwarded-Host: a cross-site form can set neither, so trusting both is safe here.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    forwarded = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
    if urlsplit(origin).netloc not in {request.headers.get("host"), forwarded} - {""}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site form posts are refused")


@router.get("", name="dashboard-overview")
def overview(request: Request, _key: DashboardKey, session: SessionDep) -> HTMLResponse:
    """Every series at a glance."""
    rows = queries.overview(session=session)
    return _page(request, "overview.html", rows=rows)


@router.get("/series/{series_id}", name="dashboard-series")
def series(
    request: Request,
    _key: DashboardKey,
    session: SessionDep,
    series_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    points: Annotated[int, Query(ge=10, le=5_000)] = HISTORY_POINTS,
) -> HTMLResponse:
    """One series: history, latest forecast, drift, training runs and model versions."""
    page = queries.series_page(
        session=session,
        series_id=series_id,
        points=points,
        drift_rows=DRIFT_ROWS,
        runs=RUNS_LISTED,
    )
    if page is None:
        return _page(request, "not_found.html", status.HTTP_404_NOT_FOUND, series_id=series_id)
    return _page(
        request,
        "series.html",
        page=page,
        points=points,
        history_chart=_history_chart(page),
        forecast_chart=_forecast_chart(page),
        past_chart=_past_forecasts_chart(page),
        gate_chart=_gate_chart(page),
        gate_labels=gate_labels(page.gate) if page.gate else {},
        drift_charts=_drift_charts(page),
        version_numbers={version.id: version.version for version in page.versions},
    )


@router.get("/login", name=DASHBOARD_LOGIN_ROUTE)
def login_form(request: Request, reason: str = "") -> HTMLResponse:
    """The sign-in form; `reason` picks one of a few fixed messages."""
    return _page(request, "login.html", message=_LOGIN_MESSAGES.get(reason))


@router.post("/login", dependencies=[Depends(_same_origin)])
def login(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Check the key; if it is live, keep it in the dashboard cookie and go to the overview."""
    key = key.strip()
    if not key:
        return _page(request, "login.html", status.HTTP_400_BAD_REQUEST, message="Enter a key.")
    if authenticate(session=session, key=key) is None:
        message = "That key is not valid: unknown, malformed or revoked."
        return _page(request, "login.html", status.HTTP_401_UNAUTHORIZED, message=message)
    response = RedirectResponse(
        _path(request, "dashboard-overview"), status_code=status.HTTP_303_SEE_OTHER
    )
    response.set_cookie(
        DASHBOARD_COOKIE,
        key,
        max_age=COOKIE_MAX_AGE_S,
        path=dashboard_cookie_path(request),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout", name="dashboard-logout", dependencies=[Depends(_same_origin)])
def logout(request: Request) -> RedirectResponse:
    """Forget the key (clear the cookie) and show the sign-in form."""
    response = RedirectResponse(
        _path(request, DASHBOARD_LOGIN_ROUTE) + "?reason=signed-out",
        status_code=status.HTTP_303_SEE_OTHER,
    )
    response.delete_cookie(
        DASHBOARD_COOKIE,
        path=dashboard_cookie_path(request),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _page(
    request: Request, template: str, status_code: int = status.HTTP_200_OK, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"now": utcnow(), **context},
        status_code=status_code,
        headers=_SECURITY_HEADERS,
    )


def _path(request: Request, name: str) -> str:
    return request.scope.get("root_path", "") + request.app.url_path_for(name)


def _history_chart(page: queries.SeriesPage) -> Markup:
    return time_chart(
        title=f"Last {len(page.history)} readings",
        lines=[Line("observed", with_gaps(page.history))],
        unit=page.series.unit,
    )


def _forecast_chart(page: queries.SeriesPage) -> Markup:
    steps = page.forecast
    return time_chart(
        title="Latest forecast and the actuals that arrived",
        lines=[
            Line("observed before", with_gaps(page.forecast_context)),
            Line("median forecast", [(step.ts, step.median) for step in steps], "median"),
            Line("actual", [(step.ts, step.actual) for step in steps], "actual", markers=True),
        ],
        bands=[Band("lower–upper", [(step.ts, step.lower, step.upper) for step in steps])],
        unit=page.series.unit,
    )


def _past_forecasts_chart(page: queries.SeriesPage) -> Markup:
    """The latest forecasts over what happened: one median line and band per forecast."""
    forecasts: dict[str, list[queries.ForecastVsActualRow]] = {}
    for row in page.past_forecasts:
        forecasts.setdefault(row.forecast_id, []).append(row)
    return time_chart(
        title=f"The last {len(forecasts)} forecasts against the actuals",
        lines=[
            Line("actual", with_gaps(page.past_actuals)),
            *(
                Line("median forecasts", [(row.ts, row.median) for row in steps], "median")
                for steps in forecasts.values()
            ),
        ],
        bands=[
            Band("lower–upper", [(row.ts, row.lower, row.upper) for row in steps])
            for steps in forecasts.values()
        ],
        unit=page.series.unit,
    )


# How each model the gate compared is drawn; the active role is the incumbent it faced.
_GATE_STYLES: dict[str, LineStyle] = {
    "candidate": "candidate",
    "active": "incumbent",
    "repeat-last": "naive",
    "fallback": "baseline",
}


def gate_labels(gate: VersionBacktest) -> dict[str, str]:
    """Short names of the gate's roles for the legend (members' names run to a line of text;
    the table under the chart gives them): the versions by number, the baselines by kind."""
    faced = gate.version.metrics.get("active_version")
    return {
        "candidate": f"v{gate.version.version}",
        "active": f"v{faced}" if faced else "active model",
        "repeat-last": "repeat-last",
        "fallback": "statistical baseline",
    }


def _gate_chart(page: queries.SeriesPage) -> Markup | None:
    """Mean absolute error by forecast step of every model of the active version's latest
    gate (see `SeriesPage.gate`); None without one."""
    gate = page.gate
    if gate is None or gate.document is None:
        return None
    labels = gate_labels(gate)
    unit = f" ({page.series.unit})" if page.series.unit else ""
    return step_chart(
        title=f"Gate of v{gate.version.version}: error by forecast step "
        f"over {len(gate.document['origins'])} origins",
        lines=[
            StepLine(
                labels[model["role"]],
                list(enumerate(model["step_mae"], start=1)),
                _GATE_STYLES[model["role"]],
            )
            for model in gate.document["models"]
        ],
        value_label=f"mean absolute error{unit}",
    )


def _drift_charts(page: queries.SeriesPage) -> list[Markup]:
    """One small chart per metric, worst latest status first, with its latest thresholds."""
    history: dict[tuple[str, str], list[tuple[datetime, float | None]]] = {}
    for row in page.drift_history:
        history.setdefault((row.kind, row.metric), []).append((row.window_end, row.value))
    charts = []
    for latest in page.latest_drift[:DRIFT_CHARTS]:
        thresholds = [
            Threshold(f"{style} {latest.direction} {_number(value)}", value, style)
            for style, value in (("warn", latest.warn_threshold), ("alert", latest.alert_threshold))
            if value is not None
        ]
        charts.append(
            time_chart(
                title=f"{latest.kind} · {latest.metric}",
                lines=[
                    Line(
                        latest.metric,
                        history.get((latest.kind, latest.metric), []),
                        "metric",
                        markers=True,
                    )
                ],
                thresholds=thresholds,
                width=380,
                height=180,
            )
        )
    return charts
