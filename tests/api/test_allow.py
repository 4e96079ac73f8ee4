"""OPTIONS and 405 name every method a path serves, not just one route's."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/series", "GET, OPTIONS, POST"),
        ("/v1/series/7/observations", "DELETE, GET, OPTIONS, POST"),
        ("/healthz", "GET, OPTIONS"),
    ],
)
def test_options_on_a_known_path_lists_every_method_it_serves(
    anon: httpx.Client, path: str, allow: str
) -> None:
    response = anon.options(path)
    assert response.status_code == 204
    assert response.headers["Allow"] == allow
    assert response.content == b""


def test_a_405_lists_every_method_of_the_path(anon: httpx.Client) -> None:
    response = anon.put("/v1/series")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, OPTIONS, POST"
    assert response.json()["detail"] == "Method Not Allowed"


def test_options_on_an_unknown_path_is_a_404(anon: httpx.Client) -> None:
    assert anon.options("/v1/nothing-here").status_code == 404
