"""`GET /metrics`: this app's metrics in the Prometheus text format.

No key is asked for: Prometheus scrapes without one, and the numbers (request counts and
latencies, training outcomes) name no series and no data. The endpoint is meant for the
internal network; a proxy in front of the service should not route `/metrics` from outside.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Request latency by method, route and status; forecast and training counters."""
    body, content_type = request.app.state.metrics.render()
    return Response(content=body, media_type=content_type)
