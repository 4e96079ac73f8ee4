"""The OpenAPI document states every error the service answers, with the one error body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
def document(anon: httpx.Client) -> dict[str, Any]:
    return anon.get("/openapi.json").json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_keyed_operation_documents_401_403_and_503_with_the_error_body(
    document: dict[str, Any],
) -> None:
    keyed = [op for op in _operations(document) if op[2].get("security")]
    assert len(keyed) >= 20
    for method, path, operation in keyed:
        for status in ("401", "403", "503"):
            answer = operation["responses"][status]
            assert answer["content"]["application/json"]["schema"] == ERROR_BODY, (method, path)
        assert "Retry-After" in operation["responses"]["503"]["headers"]
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


def test_validation_errors_are_the_error_body_not_fastapis_list(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["detail", "request_id"]
    for method, path, operation in _operations(document):
        answer = operation["responses"].get("422")
        if answer is not None:
            schema = answer["content"]["application/json"]["schema"]
            assert schema["$ref"].rsplit("/", 1)[-1] in ("ErrorBody", "RejectedRowsBody"), (
                method,
                path,
            )


def test_bodies_and_paths_document_400_413_and_404(document: dict[str, Any]) -> None:
    series = document["paths"]["/v1/series/{series_id}/observations"]
    assert {"400", "404", "409", "413", "422"} <= series["post"]["responses"].keys()
    assert "404" in series["get"]["responses"]
    assert "404" not in document["paths"]["/v1/series"]["get"]["responses"]
    assert "413" not in document["paths"]["/v1/series"]["get"]["responses"]
    assert set(document["paths"]["/healthz"]["get"]["responses"]) == {"200"}


def test_a_body_that_is_not_utf8_is_a_documented_400_naming_the_problem(
    writer: httpx.Client, series_id: int
) -> None:
    response = writer.post(
        f"/v1/series/{series_id}/observations",
        content=b'{"items": [{"ts": "2026-01-05T08:00:00Z", "value": 1, "x": "\xff\xfe\xfa"}]}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith("the body is not valid UTF-8 (byte ")
    assert body["request_id"] == response.headers["X-Request-ID"]
