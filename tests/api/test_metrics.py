"""`/metrics`: the request histogram by route template, and per-app registries."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.observability import (
    FORECASTS_TOTAL,
    REQUEST_SECONDS,
    TRAINING_RUNS_TOTAL,
    TRAINING_SECONDS,
    Metrics,
)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def request_count(text: str, method: str, route: str, status: str) -> float | None:
    labels = frozenset({"method": method, "route": route, "status": status}.items())
    return samples(text).get((f"{REQUEST_SECONDS}_count", labels))


def test_requests_are_counted_by_route_template_without_a_key(
    reader: httpx.Client, anon: httpx.Client, series_id: int
) -> None:
    assert reader.get(f"/v1/series/{series_id}").status_code == 200
    assert reader.get("/v1/series/999").status_code == 404
    assert reader.get("/v1/series").status_code == 200
    assert reader.get("/v1/series").status_code == 200
    assert anon.get("/no/such/page").status_code == 404

    response = anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    assert request_count(text, "GET", "/v1/series", "200") == 2
    assert request_count(text, "GET", "/v1/series/{series_id}", "200") == 1
    assert request_count(text, "GET", "/v1/series/{series_id}", "404") == 1
    assert request_count(text, "POST", "/v1/series", "201") == 1  # the series_id fixture
    assert request_count(text, "GET", "unmatched", "404") == 1
    routes = {
        dict(labels)["route"] for name, labels in samples(text) if name.startswith(REQUEST_SECONDS)
    }
    # Templates only: ids and probed paths must not each become a new series.
    assert routes == {"/healthz", "/v1/series", "/v1/series/{series_id}", "unmatched"}


def test_the_apps_metrics_object_is_what_metrics_shows(app: FastAPI, anon: httpx.Client) -> None:
    metrics: Metrics = app.state.metrics
    metrics.forecasts_total.inc(3)
    metrics.training_runs_total.labels(outcome="succeeded").inc()
    metrics.training_seconds.labels(outcome="succeeded").observe(42.0)

    found = samples(anon.get("/metrics").text)
    succeeded = frozenset({("outcome", "succeeded")})
    assert found[(FORECASTS_TOTAL, frozenset())] == 3
    assert found[(TRAINING_RUNS_TOTAL, succeeded)] == 1
    assert found[(f"{TRAINING_SECONDS}_sum", succeeded)] == 42.0


def test_each_metrics_object_counts_alone() -> None:
    first, second = Metrics(), Metrics()  # a second registration would raise in one registry
    first.forecasts_total.inc()
    assert samples(first.render()[0].decode())[(FORECASTS_TOTAL, frozenset())] == 1
    assert samples(second.render()[0].decode())[(FORECASTS_TOTAL, frozenset())] == 0
