import json
import re

import numpy as np
import pandas as pd
import pytest

from preprocessing.calendar import CalendarConfig, calendar_features, feature_names

BERLIN_SHIFTS = CalendarConfig(timezone="Europe/Berlin", shift_starts=(6, 14, 22))


def _hourly_utc(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="h", tz="UTC", inclusive="left")


def _switch_on(features: pd.DataFrame, column: str) -> pd.DatetimeIndex:
    """The stamps at which a 0/1 column turns on (the first row never counts as a switch)."""
    return features.index[(features[column].diff() == 1.0).to_numpy()]


# Europe/Berlin: CET is UTC+1, CEST is UTC+2; both 2026 changes happen at 01:00 UTC, before
# any shift starts that day, so the day of the change already uses the new offset.
DST_CHANGES = {
    "spring-forward": ("2026-03-27", "2026-03-29", 1, 2),
    "fall-back": ("2026-10-23", "2026-10-25", 2, 1),
}


@pytest.mark.parametrize("change", DST_CHANGES.values(), ids=DST_CHANGES.keys())
def test_shifts_switch_at_local_hours_on_both_sides_of_a_dst_change(
    change: tuple[str, str, int, int],
) -> None:
    first_day, change_day, offset_before, offset_after = change
    days = pd.date_range(first_day, periods=4, freq="D", tz="UTC")
    index = _hourly_utc(days[0], days[-1] + pd.Timedelta(days=1))
    features = calendar_features(index, BERLIN_SHIFTS)
    offsets = [
        offset_before if day < pd.Timestamp(change_day, tz="UTC") else offset_after for day in days
    ]
    for k, local_hour in enumerate((6, 14, 22)):
        expected = pd.DatetimeIndex(
            [
                day + pd.Timedelta(hours=local_hour - offset)
                for day, offset in zip(days, offsets, strict=True)
            ]
        )
        switches = _switch_on(features, f"shift_{k}")
        assert switches.equals(expected)
        # Same local hour every day, so the UTC hour moves by one across the change.
        assert switches.tz_convert("Europe/Berlin").hour.tolist() == [local_hour] * 4
        assert switches.hour.tolist() == [local_hour - offset for offset in offsets]
    # Exactly one shift at every stamp.
    assert features[["shift_0", "shift_1", "shift_2"]].sum(axis=1).eq(1.0).all()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("2026-03-28 05:00", "2026-03-30 04:00"),  # spring-forward: local 06:00 CET, then CEST
        ("2026-10-24 04:00", "2026-10-26 05:00"),  # fall-back: local 06:00 CEST, then CET
    ],
)
def test_local_hour_features_at_local_six_are_equal_before_and_after_the_change(
    before: str, after: str
) -> None:
    index = _hourly_utc("2026-03-27", "2026-03-31").append(_hourly_utc("2026-10-23", "2026-10-27"))
    features = calendar_features(index, BERLIN_SHIFTS)
    row_before = features.loc[pd.Timestamp(before, tz="UTC")]
    row_after = features.loc[pd.Timestamp(after, tz="UTC")]
    columns = ["hour_sin", "hour_cos", "shift_0", "shift_1", "shift_2"]
    assert row_before[columns].tolist() == row_after[columns].tolist()
    assert row_before["hour_sin"] == 1.0 and row_before["shift_0"] == 1.0


@pytest.mark.parametrize(
    ("start", "end"), [("2026-03-28", "2026-03-31"), ("2026-10-24", "2026-10-27")]
)
def test_index_is_returned_unchanged_across_dst(start: str, end: str) -> None:
    index = _hourly_utc(start, end)
    features = calendar_features(index, BERLIN_SHIFTS)
    assert features.index.equals(index)
    assert features.index.freq == index.freq
    assert features.index.is_unique and len(features) == 72
    assert list(features.columns) == feature_names(BERLIN_SHIFTS)


def test_repeated_local_hour_after_fall_back_reads_the_same_time_of_day() -> None:
    # 00:00 and 01:00 UTC on 2026-10-25 are both 02:00 on the Berlin wall clock.
    index = pd.DatetimeIndex(["2026-10-25 00:00", "2026-10-25 01:00"], tz="UTC")
    features = calendar_features(index, BERLIN_SHIFTS)
    assert features.iloc[0].tolist() == features.iloc[1].tolist()


def test_weekend_follows_local_midnight_not_utc_midnight() -> None:
    # 2026-01-09 is a Friday; New York keeps EST (UTC-5) in January.
    index = _hourly_utc("2026-01-09", "2026-01-13")
    config = CalendarConfig(timezone="America/New_York")
    features = calendar_features(index, config)
    weekend = features["weekend"]
    saturday_local, monday_local = (
        pd.Timestamp("2026-01-10 05:00", tz="UTC"),
        pd.Timestamp("2026-01-12 05:00", tz="UTC"),
    )
    expected = ((index >= saturday_local) & (index < monday_local)).astype(float)
    assert weekend.tolist() == expected.tolist()
    assert weekend[pd.Timestamp("2026-01-10 04:00", tz="UTC")] == 0.0  # Friday 23:00 local
    assert weekend[pd.Timestamp("2026-01-12 04:00", tz="UTC")] == 1.0  # Sunday 23:00 local
    # The week's phase starts at local Monday midnight.
    assert features.loc[monday_local, ["week_sin", "week_cos"]].tolist() == [0.0, 1.0]


def test_utc_config_equals_a_direct_computation_on_the_utc_clock() -> None:
    rng = np.random.default_rng(7)
    seconds = rng.integers(0, 10 * 365 * 86_400, size=2_000)
    index = pd.DatetimeIndex(pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(seconds, "s"))
    config = CalendarConfig(shift_starts=(6, 14, 22))
    features = calendar_features(index, config)

    hour = (index.hour + index.minute / 60 + index.second / 3600).to_numpy()
    week_hour = index.day_of_week.to_numpy() * 24 + hour
    np.testing.assert_allclose(features["hour_sin"], np.sin(2 * np.pi * hour / 24), atol=1e-12)
    np.testing.assert_allclose(features["hour_cos"], np.cos(2 * np.pi * hour / 24), atol=1e-12)
    np.testing.assert_allclose(
        features["week_sin"], np.sin(2 * np.pi * week_hour / 168), atol=1e-12
    )
    np.testing.assert_allclose(
        features["week_cos"], np.cos(2 * np.pi * week_hour / 168), atol=1e-12
    )
    assert features["weekend"].tolist() == (index.day_of_week >= 5).astype(float).tolist()
    assert features["shift_0"].tolist() == ((hour >= 6) & (hour < 14)).astype(float).tolist()
    assert features["shift_1"].tolist() == ((hour >= 14) & (hour < 22)).astype(float).tolist()
    assert features["shift_2"].tolist() == ((hour >= 22) | (hour < 6)).astype(float).tolist()


def test_an_index_in_another_zone_gives_the_same_features_as_its_utc_form() -> None:
    utc = _hourly_utc("2026-03-27", "2026-03-31")
    features = calendar_features(utc.tz_convert("Asia/Tokyo"), BERLIN_SHIFTS)
    expected = calendar_features(utc, BERLIN_SHIFTS)
    assert features.to_numpy().tolist() == expected.to_numpy().tolist()


def test_five_minute_data_switches_on_the_exact_local_minute() -> None:
    # Over the spring-forward day, with starts that fall between whole hours.
    index = pd.date_range("2026-03-29", "2026-03-30", freq="5min", tz="UTC", inclusive="left")
    config = CalendarConfig(timezone="Europe/Berlin", shift_starts=(5.5, 13.75, 21.5))
    features = calendar_features(index, config)
    local = [
        _switch_on(features, f"shift_{k}").tz_convert("Europe/Berlin").strftime("%H:%M").tolist()
        for k in range(3)
    ]
    assert local == [["05:30"], ["13:45"], ["21:30"]]
    at_0630 = features.loc[pd.Timestamp("2026-03-29 04:30", tz="UTC")]  # 06:30 CEST
    assert at_0630["hour_sin"] == pytest.approx(np.sin(2 * np.pi * 6.5 / 24), abs=1e-12)
    assert at_0630["hour_cos"] == pytest.approx(np.cos(2 * np.pi * 6.5 / 24), abs=1e-12)


CONFIGS = [
    CalendarConfig(),
    CalendarConfig(timezone="Europe/Berlin", weekly=False),
    CalendarConfig(timezone="Europe/Berlin", daily=False),
    CalendarConfig(timezone="Asia/Kolkata", shift_starts=(0, 8, 16), daily=False, weekly=False),
    BERLIN_SHIFTS,
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("freq", ["min", "5min", "h", "D"])
def test_columns_match_feature_names_and_are_finite_floats(
    config: CalendarConfig, freq: str
) -> None:
    index = pd.date_range("2026-03-01", periods=500, freq=freq, tz="UTC")
    features = calendar_features(index, config)
    assert list(features.columns) == feature_names(config)
    assert (features.dtypes == np.float64).all()
    assert np.isfinite(features.to_numpy()).all()


def test_feature_names_are_in_the_documented_order() -> None:
    assert feature_names(BERLIN_SHIFTS) == [
        "hour_sin",
        "hour_cos",
        "week_sin",
        "week_cos",
        "weekend",
        "shift_0",
        "shift_1",
        "shift_2",
    ]


def test_empty_index_gives_an_empty_frame_with_the_columns() -> None:
    features = calendar_features(pd.DatetimeIndex([], tz="UTC"), BERLIN_SHIFTS)
    assert features.empty and list(features.columns) == feature_names(BERLIN_SHIFTS)


def test_naive_index_is_refused_with_a_hint_to_use_utc() -> None:
    index = pd.date_range("2026-01-01", periods=3, freq="h")
    with pytest.raises(ValueError, match="naive; it should be UTC"):
        calendar_features(index, BERLIN_SHIFTS)


@pytest.mark.parametrize(
    ("index", "match"),
    [
        (pd.DatetimeIndex(["2026-01-01", None], tz="UTC"), "NaT"),
        (pd.RangeIndex(3), "need a DatetimeIndex, got RangeIndex"),
    ],
)
def test_other_bad_indexes_are_refused(index: pd.Index, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        calendar_features(index, BERLIN_SHIFTS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Europe/Berlinn"}, "unknown timezone 'Europe/Berlinn'"),
        ({"timezone": ""}, "unknown timezone ''"),
        ({"shift_starts": (6, 14, 24)}, "shift start must be in [0, 24) local hours, not 24"),
        ({"shift_starts": (-1, 6)}, "shift start must be in [0, 24) local hours, not -1"),
        ({"shift_starts": (6, 6, 14)}, "shift_starts has duplicates: (6, 6, 14)"),
        ({"shift_starts": (14, 6)}, "shift_starts must be in increasing order, got (14, 6)"),
        ({"shift_starts": (6,)}, "one shift start (6,) makes a constant shift_0 column"),
        ({"shift_starts": (6, float("nan"))}, "finite number of hours, not nan"),
        ({"weekly": "yes"}, "weekly must be True or False, not 'yes'"),
        ({"daily": False, "weekly": False}, "config enables no feature"),
    ],
)
def test_bad_config_is_refused_with_a_message_naming_it(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        CalendarConfig(**kwargs)


def test_json_round_trip_is_plain_json_and_equal() -> None:
    text = BERLIN_SHIFTS.to_json()
    assert json.loads(text) == {
        "timezone": "Europe/Berlin",
        "shift_starts": [6.0, 14.0, 22.0],
        "weekly": True,
        "daily": True,
    }
    restored = CalendarConfig.from_json(text)
    assert restored == BERLIN_SHIFTS and hash(restored) == hash(BERLIN_SHIFTS)
    assert restored.shift_starts == (6.0, 14.0, 22.0)
    assert CalendarConfig.from_json(CalendarConfig().to_json()) == CalendarConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"timezone": "UTC", "holidays": []}', "unknown calendar config keys: ['holidays']"),
        ("[]", "must be an object, got list"),
        ('{"timezone": "Mars/Olympus"}', "unknown timezone 'Mars/Olympus'"),
    ],
)
def test_bad_json_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        CalendarConfig.from_json(text)
