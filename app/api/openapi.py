"""The OpenAPI document, completed with every error the service really answers.

FastAPI documents each operation's success and, for operations with parameters, a 422 whose
body (`HTTPValidationError`, a list) the service never sends: every error body here is
`ErrorBody`, `{"detail": str, "request_id": str}` (`app.api.errors.error_response`). The errors
that come from the service's machinery rather than from a handler are declared here, from what
each operation is, so a route added later is covered without remembering to list them:

| status | on | from |
| --- | --- | --- |
| 400 | operations with a body | a body that cannot be decoded (not UTF-8) |
| 401, 403 | operations with a `security` requirement (a key dependency) | `app.auth` |
| 404 | paths naming an object (`{...}`) | the route's lookup |
| 408, 413 | operations with a body | `app.api.body_limits` |
| 422 | operations with parameters or a body | request validation, the handlers |
| 503 + `Retry-After` | operations that open a session or check a key | database unavailable |

What only a handler knows (a 409, a 422 with `rejected` rows) its route declares with
`responses=`; those stay as declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import RouteContext, iter_route_contexts

from app.api.schemas import ErrorBody
from app.request_scope import get_session

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
# FastAPI's own validation-error schemas, which describe no answer of this service.
_UNUSED = ("HTTPValidationError", "ValidationError")
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
_CHALLENGE = {
    "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}},
}


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi` build (once) the completed document served at `/openapi.json`."""
    app.openapi = _builder(app)  # type: ignore[method-assign]


def _builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = completed_document(app)
        return app.openapi_schema

    return openapi


def completed_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document for `app`, with the errors of the table above on every operation."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    # Route contexts, not `app.routes`: those hold each included router as one entry.
    for route in iter_route_contexts(app.routes):
        if not getattr(route, "include_in_schema", False):
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            _declare_errors(operation, route)
    for name in _UNUSED:
        schemas.pop(name, None)
    return document


def _declare_errors(operation: dict[str, Any], route: RouteContext) -> None:
    responses: dict[str, Any] = operation["responses"]
    has_body = "requestBody" in operation
    keyed = bool(operation.get("security"))
    if has_body:
        _add(responses, 400, "the body cannot be decoded: send UTF-8")
        _add(responses, 408, "the body did not arrive within LINECAST_REQUEST_BODY_SECONDS")
        _add(responses, 413, "the body is larger than LINECAST_MAX_REQUEST_BYTES")
    if keyed:
        _add(responses, 401, "no key, or not a live one", headers=_CHALLENGE)
        _add(responses, 403, "the key's role is too low for this")
    if "{" in route.path_format:
        _add(responses, 404, "nothing has the id in the path")
    if keyed or _opens_session(route.dependant):
        _add(responses, 503, "the database is unavailable; try again", headers=_RETRY_AFTER)
    if "422" in responses or has_body or operation.get("parameters"):
        _add(responses, 422, "the request names a problem: `detail` says which")
    for answer in responses.values():
        _point_validation_errors_at_error_body(answer)


def _add(
    responses: dict[str, Any],
    status: int,
    description: str,
    headers: dict[str, Any] | None = None,
) -> None:
    """Declare `status` with the error body, unless the route declared it itself."""
    answer = responses.setdefault(
        str(status),
        {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}},
    )
    if headers:
        answer.setdefault("headers", {}).update(headers)


def _point_validation_errors_at_error_body(answer: dict[str, Any]) -> None:
    for content in answer.get("content", {}).values():
        if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
            content["schema"] = _ERROR_REF
            answer["description"] = "the request names a problem: `detail` says which"


def _opens_session(dependant: Dependant) -> bool:
    """Whether the route, or any dependency of it, takes a database session."""
    return any(
        dependency.call is get_session or _opens_session(dependency)
        for dependency in dependant.dependencies
    )
