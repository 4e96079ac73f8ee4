from pathlib import Path

import numpy as np
import pytest

from preprocessing.loading import InputError, read_csv_column, read_long_csv, read_table


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "series.csv"
    path.write_text(text)
    return path


def test_rows_are_sorted_by_time_and_gaps_counted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "timestamp,y\n2026-01-01T02:00Z,3\n2026-01-01T00:00Z,1\n"
        "2026-01-01T01:00Z,\n2026-01-01T03:00Z,4\n",
    )
    loaded = read_csv_column(path, "y")
    np.testing.assert_array_equal(loaded.frame["y"].to_numpy(), [1.0, np.nan, 3.0, 4.0])
    assert loaded.missing == 1
    assert str(loaded.frame.index.tz) == "UTC"


def test_trailing_empty_targets_are_future_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "y,plan\n1,0\n2,1\n,1\n,0\n")
    loaded = read_csv_column(path, "y", ("plan",), allow_future_rows=True)
    assert loaded.future_rows == 2
    assert len(loaded.history()) == 2
    assert loaded.frame["plan"].tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y\ninf\n-inf\n", "has no finite values"),
        ("y\n\n\n", "has no finite values"),
        ("timestamp,y\nyesterday,1\n", "unparseable time stamp 'yesterday' in row 2"),
        ("y\n1\ntwo\n", "non-numeric value 'two' at row 3"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_csv_column(_write(tmp_path, text), "y")


def test_missing_column_lists_the_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"column 'z' not in .*; columns: a, b"):
        read_csv_column(_write(tmp_path, "a,b\n1,2\n"), "z")


def test_missing_and_infinite_readings_are_kept_for_the_pipeline(tmp_path: Path) -> None:
    loaded = read_csv_column(_write(tmp_path, "x,y\n1,\n2,1\n3,inf\n4,3\n"), "y")
    np.testing.assert_array_equal(loaded.frame["y"].to_numpy(), [np.nan, 1.0, np.inf, 3.0])
    assert loaded.missing == 1


def test_a_long_file_splits_into_one_sorted_frame_per_series(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "line,stamp,v\n7,2026-01-01T01:00Z,2\nb,2026-01-01T00:00Z,5\n"
        "7,2026-01-01T00:00Z,1\nb,2026-01-01T01:00Z,\n",
    )
    series = read_long_csv(path, "line", "v", "stamp")
    assert list(series) == ["7", "b"]
    np.testing.assert_array_equal(series["7"]["v"].to_numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(series["b"]["v"].to_numpy(), [5.0, np.nan])
    assert str(series["b"].index.tz) == "UTC" and series["7"].index.is_monotonic_increasing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("line,stamp,v\na,2026-01-01,1\n,2026-01-01,2\n", "row 3 .* has no series name"),
        ("line,stamp,v\na,2026-01-01,1\nb,2026-01-01,\n", "series 'b' has no finite values"),
        ("line,stamp,v\na,soon,1\n", "unparseable time stamp 'soon' in row 2"),
        ("line,time,v\na,2026-01-01,1\n", "column 'stamp' not in"),
    ],
)
def test_bad_long_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_long_csv(_write(tmp_path, text), "line", "v", "stamp")


def test_a_table_of_numbers_reads_by_name(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path, "line,speed,size\na,1.5,2\n7,3,4\n"), "line")
    assert table == {"a": {"speed": 1.5, "size": 2.0}, "7": {"speed": 3.0, "size": 4.0}}
    with pytest.raises(InputError, match="'line' 'a' repeats"):
        read_table(_write(tmp_path, "line,speed\na,1\na,2\n"), "line")
    with pytest.raises(InputError, match="empty or infinite value"):
        read_table(_write(tmp_path, "line,speed\na,1\nb,\n"), "line")
