"""The dashboard views of migration 0003, on both backends, with hand-computed expectations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from app.dashboard.queries import ForecastVsActualRow, LatestDriftRow, SeriesHealthRow
from app.db.engine import make_engine, session_factory
from app.db.migrate import downgrade, upgrade
from app.db.models import DriftMetric, Observation, Prediction
from tests.factories import new_model_version, new_series, new_training_run

VIEWS = {
    "v_series_health": SeriesHealthRow,
    "v_forecast_vs_actual": ForecastVsActualRow,
    "v_latest_drift": LatestDriftRow,
}
# The columns docs/dashboard.md promises to Grafana and Metabase users, in order.
DOCUMENTED = {
    "v_series_health": [
        "series_id", "name", "plant", "line", "unit", "archived", "last_observation_at",
        "observation_count", "active_model_version", "active_model_id",
        "active_model_promoted_at", "latest_drift_status", "latest_drift_at", "open_runs",
        "last_run_status", "last_run_finished_at",
    ],
    "v_forecast_vs_actual": [
        "series_id", "prediction_id", "request_id", "model_version_id", "origin", "ts", "step",
        "median", "lower", "upper", "actual", "error", "abs_error", "inside_interval",
        "forecast_id", "api_key_id",
    ],
    "v_latest_drift": [
        "id", "series_id", "model_version_id", "computed_at", "window_start", "window_end",
        "kind", "metric", "value", "warn_threshold", "alert_threshold", "direction", "status",
        "details", "action", "training_run_id",
    ],
}  # fmt: skip


def hour(h: int) -> datetime:
    return datetime(2026, 1, 1, h, tzinfo=UTC)


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of each backend the service runs on."""
    if request.param == "postgresql":
        url = request.getfixturevalue("migrated_url")
    else:
        url = f"sqlite:///{tmp_path / 'linecast.db'}"
        upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


@pytest.fixture
def ids(session: Session) -> dict[str, int]:
    """Two series: one with readings, versions, a forecast, drift rows and runs; one archived
    with nothing. Every figure the tests expect follows from these rows by hand."""
    line = new_series(name="plant-a/line-1/speed", plant="plant-a", line="line-1", unit="m/s")
    empty = new_series(name="plant-b/old", archived_at=hour(0))
    session.add_all([line, empty])
    session.flush()
    session.add_all(Observation(series_id=line.id, ts=hour(h), value=10.0 + h) for h in range(6))
    old = new_model_version(line.id, version=1, status="retired")
    active = new_model_version(line.id, version=2, status="active", promoted_at=hour(3))
    session.add_all([old, active])
    session.flush()
    # Forecast from hour 3: steps 1 and 2 have arrived (14 and 15), steps 3 and 4 not yet.
    for step, (lower, median, upper) in enumerate(
        [(13.0, 14.5, 16.0), (13.0, 14.0, 14.5), (15.0, 16.0, 17.0), (16.0, 17.0, 18.0)], 1
    ):
        session.add(
            Prediction(
                series_id=line.id,
                model_version_id=active.id,
                forecast_id="f-1",
                request_id="r-1",
                origin=hour(3),
                ts=hour(3 + step),
                step=step,
                median=median,
                lower=lower,
                upper=upper,
                quantiles={},
            )
        )
    drift = [
        # (kind, metric, version, window end hour, computed hour, status)
        ("performance", "mae", active.id, 2, 2, "alert"),
        ("performance", "mae", active.id, 4, 4, "ok"),  # later window: the latest
        ("data", "psi", active.id, 4, 4, "warn"),
        ("data", "ks_statistic", old.id, 4, 4, "alert"),
        ("data", "ks_statistic", active.id, 4, 5, "ok"),  # same window, computed later
    ]
    rows = [
        DriftMetric(
            series_id=line.id,
            model_version_id=version,
            kind=kind,
            metric=metric,
            window_start=hour(0),
            window_end=hour(end),
            computed_at=hour(computed),
            value=1.0,
            direction="above",
            status=status,
            details={"n": end},
        )
        for kind, metric, version, end, computed, status in drift
    ]
    session.add_all(rows)
    done = new_training_run(line.id, status="succeeded", created_at=hour(1), finished_at=hour(2))
    queued = new_training_run(line.id, status="queued", created_at=hour(5))
    session.add_all([done, queued])
    session.commit()
    return {
        "line": line.id,
        "empty": empty.id,
        "active": active.id,
        "psi": rows[2].id,
        "mae_latest": rows[1].id,
        "ks_latest": rows[4].id,
    }


def test_the_views_have_the_documented_columns(engine: Engine) -> None:
    inspector = inspect(engine)
    assert set(VIEWS) <= set(inspector.get_view_names())
    for name, mapped in VIEWS.items():
        columns = [column["name"] for column in inspector.get_columns(name)]
        assert columns == DOCUMENTED[name]
        assert set(mapped.__table__.columns.keys()) == set(columns)


def test_series_health(session: Session, ids: dict[str, int]) -> None:
    line = session.get(SeriesHealthRow, ids["line"])
    assert line is not None
    assert (line.name, line.plant, line.line, line.unit) == (
        "plant-a/line-1/speed",
        "plant-a",
        "line-1",
        "m/s",
    )
    assert line.archived is False
    assert line.last_observation_at == hour(5)
    assert line.observation_count == 6
    assert (line.active_model_version, line.active_model_id) == (2, ids["active"])
    assert line.active_model_promoted_at == hour(3)
    # Latest per metric: mae ok (the hour-2 alert is older), psi warn, ks ok (v2's later row).
    assert line.latest_drift_status == "warn"
    assert line.latest_drift_at == hour(5)
    assert line.open_runs == 1
    assert (line.last_run_status, line.last_run_finished_at) == ("queued", None)

    empty = session.get(SeriesHealthRow, ids["empty"])
    assert empty is not None
    assert empty.archived is True
    assert (empty.last_observation_at, empty.observation_count) == (None, 0)
    assert (empty.active_model_version, empty.latest_drift_status, empty.open_runs) == (
        None,
        None,
        0,
    )
    assert empty.last_run_status is None


def test_forecast_vs_actual(session: Session, ids: dict[str, int]) -> None:
    query = select(ForecastVsActualRow).order_by(ForecastVsActualRow.step)
    rows = session.scalars(query).all()
    assert [(row.step, row.ts, row.series_id) for row in rows] == [
        (step, hour(3 + step), ids["line"]) for step in (1, 2, 3, 4)
    ]
    assert [row.actual for row in rows] == [14.0, 15.0, None, None]
    assert [row.error for row in rows] == [-0.5, 1.0, None, None]
    assert [row.abs_error for row in rows] == [0.5, 1.0, None, None]
    assert [row.inside_interval for row in rows] == [True, False, None, None]
    assert {
        (row.forecast_id, row.request_id, row.origin, row.model_version_id) for row in rows
    } == {("f-1", "r-1", hour(3), ids["active"])}


def test_latest_drift(session: Session, ids: dict[str, int]) -> None:
    rows = session.scalars(select(LatestDriftRow).order_by(LatestDriftRow.id)).all()
    assert {row.id for row in rows} == {ids["mae_latest"], ids["psi"], ids["ks_latest"]}
    psi = next(row for row in rows if row.metric == "psi")
    assert (psi.kind, psi.status, psi.window_end, psi.details) == (
        "data",
        "warn",
        hour(4),
        {"n": 4},
    )


def test_a_new_window_replaces_the_latest_row_and_can_raise_the_state(
    session: Session, ids: dict[str, int]
) -> None:
    session.add(
        DriftMetric(
            series_id=ids["line"],
            model_version_id=ids["active"],
            kind="performance",
            metric="mae",
            window_start=hour(1),
            window_end=hour(5),
            computed_at=hour(6),
            value=9.0,
            direction="above",
            status="alert",
            details={},
            action="queued training run 7",
        )
    )
    session.commit()
    line = session.get(SeriesHealthRow, ids["line"], populate_existing=True)
    assert line is not None
    assert (line.latest_drift_status, line.latest_drift_at) == ("alert", hour(6))


def test_grafana_reads_the_views_with_plain_sql(session: Session, ids: dict[str, int]) -> None:
    # What a dashboard tool sends: no ORM, just SQL over the views.
    coverage = session.execute(
        text(
            "SELECT COUNT(actual), SUM(CASE WHEN inside_interval THEN 1 ELSE 0 END) "
            "FROM v_forecast_vs_actual WHERE series_id = :series"
        ),
        {"series": ids["line"]},
    ).one()
    assert tuple(coverage) == (2, 1)
    alerts = session.execute(
        text("SELECT COUNT(*) FROM v_series_health WHERE latest_drift_status = 'warn'")
    ).scalar_one()
    assert alerts == 1


def test_downgrade_drops_the_views_and_upgrade_restores_them(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    downgrade(url, "0002")
    assert set(VIEWS).isdisjoint(inspect(engine).get_view_names())
    upgrade(url)
    assert set(VIEWS) <= set(inspect(engine).get_view_names())
