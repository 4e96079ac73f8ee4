"""A Python client of the linecast REST API: typed methods over httpx, so nobody writes HTTP.

    from app.client import Linecast

    with Linecast("http://localhost:8000", key) as api:
        series = api.create_series("plant-a/line-1/throughput", frequency="h", unit="units/h")
        api.upload(series.id, frame["throughput"])    # a pandas Series, or (ts, value) pairs
        run = api.wait_for_run(api.train(series.id, horizon=24).run.id)
        forecast = api.forecast(series.id)

Requests are checked against the service's own request schemas before they are sent, and
answers are parsed into its answer schemas (`app.api.*_schemas`): the client and the service
cannot disagree on a field. What the client adds:

* retries: a 503 (the database is away; the service sends `Retry-After`) and a connection that
  could not be opened are tried again, `retries` times, waiting what the service asks (capped)
  or an exponential backoff. Every write of the API is safe to repeat: a 503 means nothing was
  stored, uploads are idempotent and a series has at most one open training run;
* pagination: `iter_series` and `iter_observations` walk every page;
* waiting: `wait_for_run` and `wait_for_drift` poll until the work is done;
* errors: any other 4xx or 5xx raises `LinecastError` with the status and the service's
  `detail`, which names the problem.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pandas as pd
from pydantic import BaseModel, TypeAdapter

from app.api.batch_schemas import (
    BatchForecastPublic,
    BatchForecastRequest,
    ScanResult,
    ScansIn,
)
from app.api.drift_schemas import (
    DriftMetricList,
    DriftRunAccepted,
    DriftRunProgress,
    DriftRunRequest,
    DriftSummary,
)
from app.api.key_schemas import KeyCreate, KeyCreated, KeyList, KeyPublic
from app.api.model_schemas import (
    AnalysisPublic,
    AnalysisRequest,
    ForecastPublic,
    ForecastRequest,
    ModelVersionList,
    ModelVersionPublic,
    PromoteRequest,
    RetrainAccepted,
    RetrainRequest,
    TrainAccepted,
    TrainingRunPublic,
    TrainRequest,
)
from app.api.schemas import (
    IngestResult,
    ObservationPage,
    ObservationPublic,
    ObservationsDeleted,
    ObservationsIn,
    SeriesCreate,
    SeriesList,
    SeriesPublic,
)

Answer = TypeVar("Answer", bound=BaseModel)
Reading = tuple[datetime | str, float]

# The longest wait between two tries by default, whatever a `Retry-After` asks.
MAX_RETRY_WAIT_S = 30.0
_OPEN_RUN = ("queued", "running")


class LinecastError(Exception):
    """The service refused a request: `status_code` and its `detail` (what was wrong)."""

    def __init__(self, status_code: int, detail: Any, method: str, path: str) -> None:
        self.status_code, self.detail = status_code, detail
        super().__init__(f"{method} {path}: {status_code} {detail}")


class Linecast:
    """The API at `base_url`, called with the key `key` (its role decides what is allowed)."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = MAX_RETRY_WAIT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`retries`: further tries after a 503 or a refused connection; `backoff`: the first
        wait when the service does not say how long (doubled each try); `max_wait`: the
        longest wait between tries, whatever `Retry-After` asks."""
        if retries < 0 or backoff < 0 or max_wait < 0:
            raise ValueError("retries, backoff and max_wait must not be negative")
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Linecast:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- health ------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the service can serve: its database reachable and migrated (no retries)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    # -- series --------------------------------------------------------------------------------

    def create_series(self, name: str, **fields: Any) -> SeriesPublic:
        """Create a series: `frequency`, `unit`, `plant`, `line`, `timezone`, `attributes`..."""
        body = SeriesCreate(name=name, **fields)
        return self._call("POST", "/v1/series", SeriesPublic, json=_body(body))

    def series(self, series_id: int) -> SeriesPublic:
        return self._call("GET", f"/v1/series/{series_id}", SeriesPublic)

    def iter_series(
        self, *, include_archived: bool = False, page_size: int = 500
    ) -> Iterator[SeriesPublic]:
        """Every series, oldest first, fetched `page_size` at a time."""
        offset = 0
        while True:
            params = {"limit": page_size, "offset": offset, "include_archived": include_archived}
            page = self._call("GET", "/v1/series", SeriesList, params=params)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    def archive_series(self, series_id: int) -> SeriesPublic:
        return self._call("POST", f"/v1/series/{series_id}/archive", SeriesPublic)

    # -- observations --------------------------------------------------------------------------

    def upload(self, series_id: int, readings: pd.Series | Iterable[Reading]) -> IngestResult:
        """Store readings, all or none: a pandas Series on a time-zone-aware index, or
        (stamp, value) pairs. Re-sending a reading is safe."""
        pairs = readings.items() if isinstance(readings, pd.Series) else readings
        items = [{"ts": _stamp(ts), "value": float(value)} for ts, value in pairs]
        body = ObservationsIn.model_validate({"items": items})
        path = f"/v1/series/{series_id}/observations"
        return self._call("POST", path, IngestResult, json=_body(body))

    def upload_scans(
        self, scans: Iterable[tuple[datetime | str, Mapping[str, float]]]
    ) -> ScanResult:
        """Store readings of many series at once, all or nothing: (stamp, {series name:
        value}) for each scan, as a historian exports its tags."""
        items = [{"ts": _stamp(ts), "values": dict(values)} for ts, values in scans]
        body = ScansIn.model_validate({"scans": items})
        return self._call("POST", "/v1/observations", ScanResult, json=_body(body))

    def upload_csv(self, series_id: int, csv: bytes | str | Path) -> IngestResult:
        """Store the readings of a CSV (header `timestamp,value`), given as its bytes, its
        text or a file path."""
        data = csv.read_bytes() if isinstance(csv, Path) else csv
        content = data.encode() if isinstance(data, str) else data
        files = {"file": ("readings.csv", content, "text/csv")}
        path = f"/v1/series/{series_id}/observations/csv"
        return self._call("POST", path, IngestResult, files=files)

    def iter_observations(
        self,
        series_id: int,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        page_size: int = 10_000,
    ) -> Iterator[ObservationPublic]:
        """The readings with start <= ts < end, in time order, fetched a page at a time."""
        params: dict[str, Any] = {"limit": page_size, **_window(start, end)}
        path = f"/v1/series/{series_id}/observations"
        while True:
            page = self._call("GET", path, ObservationPage, params=params)
            yield from page.items
            if page.next_cursor is None:
                return
            params["cursor"] = page.next_cursor

    def observations(self, series_id: int, **window: datetime | str | None) -> pd.Series:
        """The readings as a pandas Series on a UTC index (`start`, `end` as above)."""
        rows = list(self.iter_observations(series_id, **window))
        index = pd.DatetimeIndex([row.ts for row in rows], tz="UTC", name="ts")
        return pd.Series([row.value for row in rows], index=index, name="value", dtype=float)

    def delete_observations(
        self,
        series_id: int,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> ObservationsDeleted:
        """Delete the readings with start <= ts < end (admin), in one transaction."""
        path = f"/v1/series/{series_id}/observations"
        return self._call("DELETE", path, ObservationsDeleted, params=_window(start, end))

    # -- analysis, training and models ---------------------------------------------------------

    def analyse(
        self,
        series_id: int,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> AnalysisPublic:
        """Run and store the preprocessing report of the stored readings."""
        body = AnalysisRequest.model_validate(_window(start, end))
        path = f"/v1/series/{series_id}/analysis"
        return self._call("POST", path, AnalysisPublic, json=_body(body))

    def analyses(self, series_id: int, *, limit: int = 10) -> list[AnalysisPublic]:
        path = f"/v1/series/{series_id}/analysis"
        return self._call_list("GET", path, AnalysisPublic, params={"limit": limit})

    def train(self, series_id: int, **options: Any) -> TrainAccepted:
        """Queue a training run: `horizon`, `context`, `mode`, `candidates`, ..."""
        body = TrainRequest.model_validate(options)
        path = f"/v1/series/{series_id}/train"
        return self._call("POST", path, TrainAccepted, json=_body(body))

    def retrain(
        self, series_ids: list[int] | None = None, *, warm_start: bool = False
    ) -> RetrainAccepted:
        """Queue retraining of every trainable series, or of the ones given (admin)."""
        body = RetrainRequest(series_ids=series_ids, warm_start=warm_start)
        return self._call("POST", "/v1/retrain", RetrainAccepted, json=_body(body))

    def training_run(self, run_id: int) -> TrainingRunPublic:
        return self._call("GET", f"/v1/training-runs/{run_id}", TrainingRunPublic)

    def training_runs(self, series_id: int, *, limit: int = 50) -> list[TrainingRunPublic]:
        path = f"/v1/series/{series_id}/training-runs"
        return self._call_list("GET", path, TrainingRunPublic, params={"limit": limit})

    def wait_for_run(
        self, run_id: int, *, timeout: float = 3_600.0, poll: float = 1.0
    ) -> TrainingRunPublic:
        """Poll the run until it leaves queued and running; TimeoutError past `timeout`."""
        deadline = time.monotonic() + timeout
        while (run := self.training_run(run_id)).status in _OPEN_RUN:
            if time.monotonic() > deadline:
                raise TimeoutError(f"training run {run_id} still {run.status} after {timeout} s")
            time.sleep(poll)
        return run

    def models(self, series_id: int) -> list[ModelVersionPublic]:
        """Every version of the series, newest first, with metrics and candidate table."""
        return self._call("GET", f"/v1/series/{series_id}/models", ModelVersionList).items

    def promote(
        self, series_id: int, version_id: int, *, reason: str | None = None
    ) -> ModelVersionPublic:
        """Make a version active (admin): promoting an older one is the rollback."""
        body = PromoteRequest() if reason is None else PromoteRequest(reason=reason)
        path = f"/v1/series/{series_id}/models/{version_id}/promote"
        return self._call("POST", path, ModelVersionPublic, json=_body(body))

    def retire(self, series_id: int, version_id: int) -> ModelVersionPublic:
        path = f"/v1/series/{series_id}/models/{version_id}/retire"
        return self._call("POST", path, ModelVersionPublic)

    # -- forecasts -----------------------------------------------------------------------------

    def forecast(
        self,
        series_id: int,
        *,
        horizon: int | None = None,
        quantiles: list[float] | None = None,
        context: pd.Series | Iterable[Reading] | None = None,
    ) -> ForecastPublic:
        """Forecast after the latest stored reading, or after `context` (readings given
        inline), with the active model; the answer names the version and model that served."""
        fields: dict[str, Any] = {"horizon": horizon, "quantiles": quantiles}
        if context is not None:
            pairs = context.items() if isinstance(context, pd.Series) else context
            fields["context"] = [{"ts": _stamp(ts), "value": float(v)} for ts, v in pairs]
        body = ForecastRequest.model_validate(fields)
        path = f"/v1/series/{series_id}/forecast"
        return self._call("POST", path, ForecastPublic, json=_body(body))

    def forecast_many(
        self,
        *,
        series_ids: list[int] | None = None,
        plant: str | None = None,
        line: str | None = None,
        horizon: int | None = None,
        quantiles: list[float] | None = None,
    ) -> BatchForecastPublic:
        """Forecast many series in one request: by id, or every series of a plant and/or a
        line; the answer lists the series that could not be forecast, with why."""
        fields = {"series_ids": series_ids, "plant": plant, "line": line}
        fields.update(horizon=horizon, quantiles=quantiles)
        body = BatchForecastRequest.model_validate(
            {name: value for name, value in fields.items() if value is not None}
        )
        return self._call("POST", "/v1/forecasts", BatchForecastPublic, json=_body(body))

    # -- drift ---------------------------------------------------------------------------------

    def drift(self, series_id: int, **query: Any) -> DriftMetricList:
        """Stored drift metrics: `start`, `end`, `kind`, `metric`, `limit`."""
        params = {name: _stamp(v) if isinstance(v, datetime) else v for name, v in query.items()}
        path = f"/v1/series/{series_id}/drift"
        return self._call("GET", path, DriftMetricList, params=params)

    def drift_summary(self) -> DriftSummary:
        return self._call("GET", "/v1/drift/summary", DriftSummary)

    def run_drift(self, series_ids: list[int] | None = None) -> DriftRunAccepted:
        """Queue a drift judgement of every series with an active model, or of those (admin)."""
        body = DriftRunRequest(series_ids=series_ids)
        return self._call("POST", "/v1/drift/run", DriftRunAccepted, json=_body(body))

    def drift_run(self, batch_id: str) -> DriftRunProgress:
        return self._call("GET", f"/v1/drift/runs/{batch_id}", DriftRunProgress)

    def wait_for_drift(
        self, batch_id: str, *, timeout: float = 3_600.0, poll: float = 1.0
    ) -> DriftRunProgress:
        """Poll a drift run until every job has finished; TimeoutError past `timeout`."""
        deadline = time.monotonic() + timeout
        while not (progress := self.drift_run(batch_id)).finished:
            if time.monotonic() > deadline:
                raise TimeoutError(f"drift run {batch_id} not finished after {timeout} s")
            time.sleep(poll)
        return progress

    # -- keys ----------------------------------------------------------------------------------

    def keys(self) -> KeyList:
        return self._call("GET", "/v1/keys", KeyList)

    def create_key(self, name: str, role: str, *, expires_at: datetime | None = None) -> KeyCreated:
        """Mint a key (admin); its secret is in the answer, and nowhere else."""
        body = KeyCreate.model_validate({"name": name, "role": role, "expires_at": expires_at})
        return self._call("POST", "/v1/keys", KeyCreated, json=_body(body))

    def key(self, key_id: int) -> KeyPublic:
        return self._call("GET", f"/v1/keys/{key_id}", KeyPublic)

    def revoke_key(self, key_id: int) -> KeyPublic:
        return self._call("DELETE", f"/v1/keys/{key_id}", KeyPublic)

    # -- the transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, answer: type[Answer], **request: Any) -> Answer:
        return answer.model_validate(self._send(method, path, **request).json())

    def _call_list(
        self, method: str, path: str, item: type[Answer], **request: Any
    ) -> list[Answer]:
        return TypeAdapter(list[item]).validate_python(self._send(method, path, **request).json())

    def _send(self, method: str, path: str, **request: Any) -> httpx.Response:
        """One request, tried again after a 503 or a refused connection."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, **request)
            except httpx.ConnectError:
                if last:
                    raise
                time.sleep(min(self.backoff * 2**attempt, self.max_wait))
                continue
            if response.status_code == 503 and not last:
                wait = _retry_after(response, self.backoff * 2**attempt)
                time.sleep(min(wait, self.max_wait))
                continue
            if response.is_error:
                raise LinecastError(response.status_code, _detail(response), method, path)
            return response
        raise AssertionError("unreachable: the last try returns or raises")


def _body(model: BaseModel) -> dict[str, Any]:
    """The request body as JSON: fields left at their defaults stay out, so the service's own
    defaults apply (a horizon left out is its default horizon, not a client's guess)."""
    return model.model_dump(mode="json", exclude_unset=True, exclude_none=True)


def _stamp(value: datetime | str | pd.Timestamp) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _window(start: datetime | str | None, end: datetime | str | None) -> dict[str, str]:
    bounds = {"start": start, "end": end}
    return {name: _stamp(value) for name, value in bounds.items() if value is not None}


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        asked = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return default
    return max(asked, 0.0)


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text
    return body.get("detail", body) if isinstance(body, Mapping) else body
