"""The service's one configuration object, read from `LINECAST_*` environment variables.

The engine, Alembic's `env.py`, the worker and the trainer all read `get_settings()`, so one
variable changes every part the same way. The defaults make `linecast` work on a laptop with no
setup (SQLite under `./var`); in production they would be unsafe (a database file that lives
wherever the process happens to start, and SQLite's single writer under several API workers),
so there each of them must be set explicitly or the settings refuse to load.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.drift.thresholds import check_overrides

Environment = Literal["development", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_PSYCOPG_SCHEME = "postgresql+psycopg://"


def normalise_database_url(url: str) -> str:
    """Point bare PostgreSQL URLs at psycopg 3.

    Hosting platforms hand out `postgres://` or `postgresql://`; SQLAlchemy reads the first as
    unknown and the second as psycopg2, which we do not install.
    """
    url = url.strip()
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return _PSYCOPG_SCHEME + url.removeprefix(scheme)
    return url


# What the models an API process keeps loaded may weigh together (their artifacts' bytes).
MODEL_CACHE_BYTES = 1024 * 1024 * 1024


class Settings(BaseSettings):
    """Every tunable of the service; each field is read from `LINECAST_<FIELD NAME>`.

    `database_url` left empty means the SQLite file `<data_dir>/linecast.db`.
    `retrain_margin`: a newly trained model is promoted only if its backtest error is below the
    active model's by at least this fraction (0.02: 2 % better), so noise does not churn versions.
    `heartbeat_seconds` / `stale_after_seconds`: a running training job reports every heartbeat;
    one silent for longer than `stale_after_seconds` is taken as dead and may be picked up again.
    `in_process_jobs`: train inside the API process (the embedded default) rather than leaving
    queued runs to a separate worker polling every `worker_poll_seconds`.
    Drift (`app.drift`, `app.services.drift`): each run judges the latest `drift_window_steps`
    readings after a model's training data against the `drift_reference_steps` readings before
    its end; a metric needs `drift_min_points` values to be computed. `drift_calibrate` sets
    each series' thresholds from windows of its own reference; `drift_thresholds` fixes some
    instead, as JSON `{"psi": [0.1, 0.2]}` (metric: [warn, alert]). `drift_auto_retrain`
    queues a retraining run when a metric alerts (off by default: retraining is a decision).
    """

    model_config = SettingsConfigDict(env_prefix="LINECAST_", frozen=True)

    environment: Environment = "development"
    data_dir: Path = Path("./var")
    database_url: str = ""
    log_level: LogLevel = "INFO"
    max_ingest_rows: int = Field(default=100_000, gt=0)
    max_request_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # The whole body must arrive within this: 20 MiB in 60 s is under 3 Mbit/s.
    request_body_seconds: float = Field(default=60.0, gt=0.0)
    retrain_margin: float = Field(default=0.02, ge=0.0, lt=1.0)
    heartbeat_seconds: float = Field(default=10.0, gt=0.0)
    stale_after_seconds: float = Field(default=60.0, gt=0.0)
    worker_poll_seconds: float = Field(default=1.0, gt=0.0)
    in_process_jobs: bool = True
    default_horizon: int = Field(default=24, gt=0)
    # None: each model chooses its context from the series' sampling step (model.config).
    default_context: int | None = Field(default=None, gt=0)
    drift_window_steps: int = Field(default=168, ge=10)
    drift_reference_steps: int = Field(default=672, ge=10)
    drift_min_points: int = Field(default=30, ge=10)
    drift_calibrate: bool = True
    drift_auto_retrain: bool = False
    drift_thresholds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    model_cache_bytes: int = Field(default=MODEL_CACHE_BYTES, gt=0)
    # Torch's threads in each API or worker process; None: torch's default, one per core. Set
    # it when several processes share a host, so together they do not oversubscribe its cores.
    torch_threads: int | None = Field(default=None, gt=0)
    # Retention (`linecast prune`, app.services.retention).
    keep_predictions_days: float = Field(default=90.0, gt=0.0)
    keep_drift_days: float = Field(default=365.0, gt=0.0)
    keep_retired_versions: int = Field(default=5, ge=0)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _refuse_empty_data_dir(cls, value: object) -> object:
        # Path("") is Path("."): an empty variable would silently mean "the current directory".
        if isinstance(value, str) and not value.strip():
            raise ValueError("LINECAST_DATA_DIR is empty; give a directory")
        return value

    @field_validator("drift_thresholds")
    @classmethod
    def _known_thresholds(
        cls, value: dict[str, tuple[float, float]]
    ) -> dict[str, tuple[float, float]]:
        return check_overrides(value)

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @model_validator(mode="after")
    def _resolve_and_check(self) -> Settings:
        if not self.database_url:
            # Frozen model: the derived default is written once, here, before anyone reads it.
            url = f"sqlite:///{self.data_dir / 'linecast.db'}"
            object.__setattr__(self, "database_url", url)
        if self.environment == "production":
            self._check_production()
        if self.heartbeat_seconds >= self.stale_after_seconds:
            raise ValueError(
                "LINECAST_STALE_AFTER_SECONDS must exceed LINECAST_HEARTBEAT_SECONDS, or live "
                "training runs would be declared dead between two heartbeats"
            )
        return self

    def _check_production(self) -> None:
        if "data_dir" not in self.model_fields_set:
            raise ValueError(
                "LINECAST_DATA_DIR must be set in production (the default ./var depends on the "
                "directory the process starts in)"
            )
        if self.database_url.startswith("sqlite"):
            raise ValueError(
                "LINECAST_DATABASE_URL must point at PostgreSQL in production, not SQLite "
                f"({self.database_url})"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; tests call `get_settings.cache_clear()`."""
    return Settings()
