"""Read a column of a CSV into a checked series, with errors that name the problem.

The frame returned is sorted by time when the file has a time column and numeric; missing and
infinite readings are left as they are, for the pipeline (`preprocessing.pipeline`) to count
and repair, so that a long gap is never papered over here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TIME_COLUMNS = ("timestamp", "time", "date", "datetime")


class InputError(ValueError):
    """The input file cannot be used; the message says why."""


@dataclass(frozen=True)
class LoadedSeries:
    """Numeric columns of a CSV on its time axis (if it has one), as read.

    `future_rows` counts trailing rows with an empty target: they carry known covariates for
    the steps to forecast. `missing` counts empty target values before them.
    """

    frame: pd.DataFrame
    column: str
    missing: int
    future_rows: int

    def history(self) -> pd.DataFrame:
        return self.frame.iloc[: len(self.frame) - self.future_rows]

    def future(self) -> pd.DataFrame:
        return self.frame.iloc[len(self.frame) - self.future_rows :]


def read_csv_column(
    path: str | Path, column: str, covariates: tuple[str, ...] = (), allow_future_rows: bool = False
) -> LoadedSeries:
    """Load `column` (and covariate columns) from a CSV file, checked.

    Raises InputError for a missing or unreadable file, a missing column (listing those that
    exist), non-numeric values (naming the first bad row), or a target with no finite values.
    """
    path = Path(path)
    frame = _read(path)
    wanted = (column, *covariates)
    _require(frame, path, wanted)
    frame = _on_time_axis(frame)
    numeric = frame[list(dict.fromkeys(wanted))].apply(_numeric_column)
    future_rows = _trailing_empty(numeric[column]) if allow_future_rows else 0
    history = numeric[column].iloc[: len(numeric) - future_rows]
    if not np.isfinite(history.to_numpy(dtype=float, na_value=np.nan)).any():
        raise InputError(f"column {column!r} has no finite values")
    return LoadedSeries(numeric, column, int(history.isna().sum()), future_rows)


def read_long_csv(
    path: str | Path, series_column: str, value_column: str, time_column: str
) -> dict[str, pd.DataFrame]:
    """Every series of a long-format CSV (one row per series and time stamp), by name.

    Each frame is indexed by UTC time, sorted, with the one column `value_column`; names are
    the series column's text. InputError as for `read_csv_column`, and for a row without a
    series name or a series without a finite value.
    """
    frame = _read(Path(path))
    _require(frame, path, (series_column, value_column, time_column))
    names = frame[series_column]
    if names.isna().any():
        row = int(names.isna().to_numpy().argmax())
        raise InputError(f"row {row + 2} of {path} has no series name in {series_column!r}")
    stamps = _stamps(frame[time_column])
    values = _numeric_column(frame[value_column])
    series = {}
    for name, rows in values.groupby(names.astype(str), sort=True):
        if not np.isfinite(rows.to_numpy(dtype=float, na_value=np.nan)).any():
            raise InputError(f"series {name!r} has no finite values in {value_column!r}")
        index = pd.DatetimeIndex(stamps[rows.index], name="timestamp")
        series[str(name)] = pd.DataFrame({value_column: rows.to_numpy()}, index=index).sort_index()
    return series


def read_table(path: str | Path, key_column: str) -> dict[str, dict[str, float]]:
    """A CSV of numbers by name (one row per name, e.g. each series' static attributes): the
    other columns' finite values, by the text of `key_column`. InputError names a bad cell."""
    frame = _read(Path(path))
    _require(frame, path, (key_column,))
    keys = frame[key_column].astype(str)
    if keys.duplicated().any():
        raise InputError(f"{key_column!r} {keys[keys.duplicated()].iloc[0]!r} repeats in {path}")
    numbers = frame.drop(columns=key_column).apply(_numeric_column)
    if not np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan)).all():
        raise InputError(f"{path} has an empty or infinite value: every cell must be a number")
    return {key: row.to_dict() for key, (_, row) in zip(keys, numbers.iterrows(), strict=True)}


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        return pd.read_csv(path, sep=_separator(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path} as CSV: {error}") from error


def _require(frame: pd.DataFrame, path: str | Path, wanted: tuple[str, ...]) -> None:
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise InputError(
            f"column {missing[0]!r} not in {path}; columns: {', '.join(map(str, frame.columns))}"
        )


def _stamps(column: pd.Series) -> pd.DatetimeIndex:
    """A column of time stamps in UTC; InputError names the first that does not parse."""
    stamps = pd.to_datetime(column, utc=True, errors="coerce")
    if stamps.isna().any():
        row = int(stamps.isna().to_numpy().argmax())
        raise InputError(
            f"unparseable time stamp {column.iloc[row]!r} in row {row + 2} of column "
            f"{column.name!r}"
        )
    return pd.DatetimeIndex(stamps)


def _separator(path: Path) -> str:
    """The header's most frequent of `,`, `;` and tab (SKAB writes `;`), `,` by default."""
    with path.open(encoding="utf-8", errors="replace") as file:
        header = file.readline()
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _on_time_axis(frame: pd.DataFrame) -> pd.DataFrame:
    """Index by the time column if there is one, sorted; plain row order otherwise."""
    for name in frame.columns:
        if str(name).lower() in TIME_COLUMNS:
            stamps = _stamps(frame[name]).rename("timestamp")
            return frame.drop(columns=name).set_index(stamps).sort_index()
    return frame


def _numeric_column(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise InputError(
            f"column {values.name!r} has a non-numeric value "
            f"{values.iloc[position]!r} at row {position + 2}"
        )
    return numbers.astype(float)


def _trailing_empty(values: pd.Series) -> int:
    present = values.notna().to_numpy()
    return int(len(present) - (np.flatnonzero(present).max() + 1)) if present.any() else 0
