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
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        frame = pd.read_csv(path, sep=_separator(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path} as CSV: {error}") from error
    wanted = (column, *covariates)
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise InputError(
            f"column {missing[0]!r} not in {path}; columns: {', '.join(map(str, frame.columns))}"
        )
    frame = _on_time_axis(frame)
    numeric = frame[list(dict.fromkeys(wanted))].apply(_numeric_column)
    future_rows = _trailing_empty(numeric[column]) if allow_future_rows else 0
    history = numeric[column].iloc[: len(numeric) - future_rows]
    if not np.isfinite(history.to_numpy(dtype=float, na_value=np.nan)).any():
        raise InputError(f"column {column!r} has no finite values")
    return LoadedSeries(numeric, column, int(history.isna().sum()), future_rows)


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
            stamps = pd.to_datetime(frame[name], utc=True, errors="coerce")
            if stamps.isna().any():
                row = int(stamps.isna().to_numpy().argmax())
                raise InputError(
                    f"unparseable time stamp {frame[name].iloc[row]!r} "
                    f"in row {row + 2} of column {name!r}"
                )
            return frame.drop(columns=name).set_index(stamps.rename("timestamp")).sort_index()
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
