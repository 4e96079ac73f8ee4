"""The app factory: `create_app(settings)` builds one complete, independent service.

Everything a request needs hangs off `app.state` (settings, engine, session factory, metrics,
shutdown hooks), never module globals, so tests and `uvicorn --factory` workers can build as
many apps as they like without sharing a pool or a counter.

Every answer carries `X-Request-ID` (the client's, if it is a sane token, else a fresh one),
and every error body reads `{"detail": "...", "request_id": "..."}`: the detail says what to
fix, the id finds the server's log lines about it. An upload refused for bad rows adds
`rejected`, the rows and reasons. A database that is down or out of connections answers 503
with `Retry-After`. Unexpected failures answer 500 without internals; the traceback goes to
the log under the same request id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.allow import AllowedMethods
from app.api.body_limits import BodyLimits
from app.api.errors import error_response
from app.api.openapi import install_openapi
from app.api.routes import (
    analysis,
    backtests,
    batch_forecasts,
    drift,
    forecasts,
    global_models,
    health,
    keys,
    metrics,
    models,
    observations,
    scans,
    series,
    training,
)
from app.api.security_headers import SecurityHeaders
from app.dashboard import routes as dashboard
from app.db.engine import make_engine, session_factory
from app.jobs.dispatch import dispatch_on_commit
from app.jobs.executor import InProcessExecutor
from app.logging import configure_logging, request_id_var
from app.observability import Metrics
from app.services.forecasting import ModelCache
from app.services.observations import IngestError, RejectedRows, WriteContention
from app.settings import Settings, get_settings
from app.version import distribution_version
from model.device import cap_threads

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("linecast.access")

REQUEST_ID_HEADER = "X-Request-ID"
# Seconds a client is asked to wait when the database is unavailable.
RETRY_AFTER_SECONDS = 5
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_LISTED_PROBLEMS = 20
STATIC_PATH = "/dashboard/static"

# Called in the event loop's thread once the server has stopped taking requests; blocking
# there (an executor waiting for its jobs) only delays the exit.
ShutdownHook = Callable[[], None]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service for `settings` (default: the environment's, via `get_settings()`).

    Other parts may append callables to `app.state.on_shutdown` (e.g. a job executor's
    shutdown); they run when the server stops, last added first, before the engine closes.
    """
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    cap_threads(settings.torch_threads)
    engine = make_engine(settings.database_url)
    app = FastAPI(
        title="linecast",
        version=distribution_version(),
        description="Forecasts for manufacturing lines. Send API keys as "
        "`Authorization: Bearer <key>`; roles are read < write < admin.",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.metrics = Metrics(app.state.session_factory)
    # First in, so it runs last, once the executor has recorded the runs it finished.
    app.state.on_shutdown = [app.state.metrics.close]
    app.state.model_cache = ModelCache(settings.model_cache_bytes)
    if settings.in_process_jobs:
        executor = InProcessExecutor(
            app.state.session_factory,
            settings,
            on_finished=app.state.metrics.record_run,
            cache=app.state.model_cache,
        )
        app.state.executor = executor
        dispatch_on_commit(app.state.session_factory, executor.dispatch, executor.dispatch_drift)
        app.state.on_shutdown.append(executor.shutdown)
    for module in (
        health,
        metrics,
        series,
        observations,
        scans,
        analysis,
        training,
        models,
        backtests,
        forecasts,
        batch_forecasts,
        global_models,
        drift,
        keys,
    ):
        app.include_router(module.router)
    app.include_router(dashboard.router)
    app.mount(
        STATIC_PATH,
        StaticFiles(directory=dashboard.STATIC_DIR),
        name=dashboard.STATIC_ROUTE,
    )
    install_openapi(app)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IngestError, _ingest_error)
    app.add_exception_handler(WriteContention, _write_contention)
    for unavailable in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(unavailable, _database_unavailable)
    # Starlette runs the middleware added last outermost: a 413 from the size check gets a
    # request id, an access line and a histogram sample like any other answer.
    app.add_middleware(AllowedMethods)
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_request_bytes,
        max_seconds=settings.request_body_seconds,
    )
    app.add_middleware(RequestContext, metrics=app.state.metrics)
    app.add_middleware(SecurityHeaders, cacheable_prefix=STATIC_PATH + "/")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    executor = getattr(app.state, "executor", None)
    if executor is not None:
        # Runs queued before a restart, or left running by a process that died, would
        # otherwise wait forever for an executor that trains in-process. A database that is
        # down or not migrated must not keep the service from starting: /readyz says so.
        try:
            executor.dispatch_queued()
        except SQLAlchemyError as error:
            logger.warning("queued training runs not resumed: %s", str(error).splitlines()[0])
    yield
    hooks: list[ShutdownHook] = app.state.on_shutdown
    for hook in reversed(hooks):
        try:
            hook()
        except Exception:
            # One failing hook must not keep the others, or the engine, from closing.
            logger.exception("shutdown hook %r failed", hook)
    app.state.engine.dispose()


class RequestContext:
    """Request id, access log line, latency histogram, and a JSON 500 for unhandled errors.

    Plain ASGI rather than `BaseHTTPMiddleware`, which runs the app in another task: the
    context variable set here would not reach the handler's log lines.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error in %s %s", scope["method"], _route(scope))
            if response_started:
                raise  # too late for a clean answer; the server cuts the response off
            await error_response(500, "internal server error")(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route(scope)
            self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(
                seconds
            )
            # The path template, never the raw path or query string: those may carry ids and
            # secrets, and templates keep the lines groupable.
            access_logger.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={
                    "method": scope["method"],
                    "path": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )
            request_id_var.reset(token)


async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
    detail = str(error.detail)
    if isinstance(error.__cause__, UnicodeDecodeError):
        # FastAPI's 400 for a body it could not decode says only "error parsing the body".
        detail = f"the body is not valid UTF-8 (byte {error.__cause__.start}): send UTF-8 JSON"
    return error_response(error.status_code, detail, headers=error.headers)


async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [_describe(problem) for problem in error.errors()]
    detail = "; ".join(problems[:_MAX_LISTED_PROBLEMS])
    if len(problems) > _MAX_LISTED_PROBLEMS:
        detail += f" (and {len(problems) - _MAX_LISTED_PROBLEMS} more problems)"
    return error_response(422, detail)


async def _ingest_error(_request: Request, error: IngestError) -> JSONResponse:
    if isinstance(error, RejectedRows):
        return error_response(
            422, str(error), rejected=[asdict(problem) for problem in error.problems]
        )
    return error_response(422, str(error))


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    """The database is down, restarting or out of connections: nothing a client did wrong,
    and nothing was stored; a 503 tells it to come back (a 500 said the service was broken)."""
    logger.warning("database unavailable: %s", str(error).strip().splitlines()[0])
    return error_response(
        503,
        "the database is unavailable; nothing was stored, try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _write_contention(_request: Request, error: WriteContention) -> JSONResponse:
    return error_response(503, str(error), headers={"Retry-After": "1"})


def _describe(problem: dict[str, Any]) -> str:
    """One problem as `<where>: <what>`: `body.items.3.ts: timestamp has no timezone: ...`."""
    if problem["type"] == "json_invalid":
        return (
            f"body is not valid JSON: {problem['ctx']['error']} (at character {problem['loc'][-1]})"
        )
    where = ".".join(str(part) for part in problem["loc"])
    # Pydantic prefixes messages raised by our validators; the prefix says nothing to a client.
    return f"{where}: {problem['msg'].removeprefix('Value error, ')}"


def _route(scope: Scope) -> str:
    # FastAPI leaves the matched route in the scope; unmatched paths share one label, so
    # scanners probing random URLs cannot grow the metrics without bound.
    route = scope.get("route")
    if route is None and scope.get("path", "").startswith(STATIC_PATH + "/"):
        return STATIC_PATH  # mounted files leave no route in the scope
    return getattr(route, "path", None) or "unmatched"
