"""The service's Prometheus metrics, kept in a registry per app rather than the global one.

prometheus_client refuses to register a metric name twice in one registry, and the global
registry lives as long as the process: tests that build several apps, or a worker next to an
API in one process, would clash or add up each other's counts. So each `create_app` makes one
`Metrics` (kept on `app.state.metrics`) and the parts that count things use its attributes:

    request.app.state.metrics.forecasts_total.inc()
    metrics.training_runs_total.labels(outcome="succeeded").inc()

The exported `*_TOTAL` / `*_SECONDS` constants are the metric names as they appear on
`/metrics` (counters with their `_total` suffix), for dashboards and tests.

Under `linecast serve --workers N` each request is answered by one of N processes, each with its
own counters: a scrape would see one process's share, a different one each time. There
`PROMETHEUS_MULTIPROC_DIR` is set (`app.cli.serve`), prometheus_client keeps every process's
values in files in that folder, and `/metrics` adds them up across processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import RUN_STATUSES, TrainingRun, utcnow

REQUEST_SECONDS = "linecast_http_request_duration_seconds"
FORECASTS_TOTAL = "linecast_forecasts_total"
TRAINING_SECONDS = "linecast_training_seconds"
TRAINING_RUNS_TOTAL = "linecast_training_runs_total"
TRAINING_RUNS_BY_STATUS = "linecast_training_runs_by_status"
OLDEST_QUEUED_SECONDS = "linecast_oldest_queued_run_seconds"

# prometheus_client reads this variable when it is imported: set, every metric of the process
# keeps its values in a file in that folder, for whichever process answers the scrape.
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Training takes seconds to hours, far beyond the client's default buckets (5 ms .. 10 s).
_TRAINING_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf"))


class TrainingRunsCollector:
    """Training runs by status, read from the database at each scrape.

    The counters above only see runs this process executed; with `linecast worker`
    processes doing the training, the database is the one place that sees them all. Also the
    age of the oldest queued run: a queue that stops moving (no worker alive) shows there.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._sessions() as session:
                counts = session.execute(
                    select(TrainingRun.status, func.count()).group_by(TrainingRun.status)
                ).all()
                oldest = session.scalar(
                    select(func.min(TrainingRun.created_at)).where(TrainingRun.status == "queued")
                )
        except SQLAlchemyError:
            return  # the database is down: /readyz reports it, the scrape goes on
        by_status = GaugeMetricFamily(
            TRAINING_RUNS_BY_STATUS, "Training runs in the database, by status", labels=["status"]
        )
        for status in RUN_STATUSES:
            by_status.add_metric([status], dict(counts).get(status, 0))
        yield by_status
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            OLDEST_QUEUED_SECONDS, "Age of the oldest queued training run (0: none)", value=age
        )


class Metrics:
    """Every metric of one app, registered in its own `registry`.

    `request_seconds` (labels method, route, status): `route` is the path template
    ("/v1/series/{series_id}"), never the raw path, so ids do not multiply the series.
    `training_seconds` / `training_runs_total` (label outcome): a finished run's final status,
    e.g. "succeeded", "failed", "rejected".
    """

    def __init__(self, sessions: sessionmaker[Session] | None = None) -> None:
        """With `sessions`, the database's training runs are reported too."""
        self.registry = CollectorRegistry()
        self._runs = TrainingRunsCollector(sessions) if sessions is not None else None
        if self._runs is not None:
            self.registry.register(self._runs)
        self.request_seconds = Histogram(
            REQUEST_SECONDS,
            "Time from receiving a request to sending its response",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.forecasts_total = Counter(
            FORECASTS_TOTAL.removesuffix("_total"),
            "Forecasts served",
            registry=self.registry,
        )
        self.training_seconds = Histogram(
            TRAINING_SECONDS,
            "Wall time of finished training runs",
            ("outcome",),
            buckets=_TRAINING_BUCKETS,
            registry=self.registry,
        )
        self.training_runs_total = Counter(
            TRAINING_RUNS_TOTAL.removesuffix("_total"),
            "Finished training runs",
            ("outcome",),
            registry=self.registry,
        )

    def record_run(self, outcome: str, seconds: float) -> None:
        """Count a finished training run and its wall time under its final status."""
        self.training_runs_total.labels(outcome=outcome).inc()
        self.training_seconds.labels(outcome=outcome).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type: this process's
        registry, or with several processes every process's values summed."""
        if not _multiprocess_dir():
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        # A registry per scrape: the collector reads the files as they are now, and this
        # process's own metrics are among them (registering them too would count them twice).
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        if self._runs is not None:
            registry.register(self._runs)  # read from the database: the same in every process
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Tell the shared folder this process is gone, when it stops serving.

        prometheus_client then drops the process's live gauges (none here yet) and keeps its
        counters and histograms, which still belong in the totals.
        """
        if _multiprocess_dir():
            multiprocess.mark_process_dead(os.getpid())


def _multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None
