"""Windows of many series for one network: what a global model (`model.global_model`) reads.

Every series keeps its own `WindowMaker`, so each is read in its own scaled units (series of a
hundred and of a million units teach the same network), and is tagged with its row of the
network's series embedding and its static attributes. A pooled source's starts are
(series, row) pairs, shape (n, 2), so the trainer draws them, slices them and shares them
across ranks like the row starts of one series.

Static attributes are standardised over the training series (`StaticAttributes`), not per
series: a series' own constant attribute would standardise to zero and say nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from model.windows import Batch, WindowMaker


@dataclass(frozen=True)
class StaticAttributes:
    """Names, means and spreads of the series' numeric attributes over the training series."""

    names: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @staticmethod
    def fit(names: Sequence[str], rows: Sequence[Sequence[float]]) -> StaticAttributes:
        """Standardisation of `rows` (one per series, values in the order of `names`); an
        attribute that every series shares gets a spread of 1, not 0."""
        values = np.asarray(rows, dtype=float).reshape(len(rows), len(names))
        if not np.isfinite(values).all():
            raise ValueError("static attributes must be finite numbers")
        if not len(names):
            return StaticAttributes()
        spread = values.std(axis=0)
        return StaticAttributes(
            tuple(names),
            tuple(values.mean(axis=0).tolist()),
            tuple(np.where(spread > 1e-12, spread, 1.0).tolist()),
        )

    def values_of(self, attributes: Mapping[str, float] | None) -> tuple[float, ...] | None:
        """One series' attributes in the order of `names` (`ordered`); None for none given."""
        return None if attributes is None else ordered(self.names, attributes)

    def scaled(self, values: Sequence[float] | None) -> np.ndarray:
        """(S,) standardised attributes; None reads the training mean of each (all zeros), the
        neutral choice for a series whose attributes are not known."""
        if values is None:
            return np.zeros(len(self.names))
        return (np.asarray(values, dtype=float) - np.array(self.mean)) / np.array(self.std)


def ordered(names: Sequence[str], attributes: Mapping[str, float]) -> tuple[float, ...]:
    """`attributes` as numbers in the order of `names`; ValueError names one missing or
    unknown, since a value read into the wrong input would be silently wrong."""
    unknown = sorted(set(attributes) - set(names))
    missing = [name for name in names if name not in attributes]
    if unknown or missing:
        raise ValueError(
            f"attributes must be exactly {list(names)}; missing {missing}, unknown {unknown}"
        )
    return tuple(float(attributes[name]) for name in names)


def attribute_rows(
    keys: Sequence[str], attributes: Mapping[str, Mapping[str, float]] | None
) -> tuple[tuple[str, ...], list[tuple[float, ...] | None]]:
    """The attribute names (sorted) and each series' values in their order, for the series
    `keys`; no names and None each without attributes. ValueError names a series whose
    attributes are missing or named differently from the first series'."""
    if attributes is None:
        return (), [None] * len(keys)
    missing = [key for key in keys if key not in attributes]
    if missing:
        raise ValueError(f"no attributes for series {missing[0]!r}")
    names = tuple(sorted(attributes[keys[0]])) if keys else ()
    rows: list[tuple[float, ...] | None] = []
    for key in keys:
        try:
            rows.append(ordered(names, attributes[key]))
        except ValueError as error:
            raise ValueError(f"series {key!r}: {error}") from error
    return names, rows


@dataclass(frozen=True)
class SeriesWindows:
    """One series' windows tagged for a global network: its series index (`UNSEEN` for a
    series the network never trained on) and its standardised static attributes (S,), which
    join the observed covariates as columns constant over the window."""

    maker: WindowMaker
    index: int
    statics: np.ndarray

    def batch(self, starts: np.ndarray) -> Batch:
        """Training windows at row `starts` (see `WindowMaker.batch`)."""
        return self._tagged(self.maker.batch(starts))

    def inputs(self, starts: np.ndarray) -> Batch:
        """Forecast windows at row `starts` (see `WindowMaker.inputs`)."""
        return self._tagged(self.maker.inputs(starts))

    def _tagged(self, batch: Batch) -> Batch:
        rows, steps = batch.target.shape
        statics = torch.as_tensor(self.statics, dtype=batch.observed.dtype)
        statics = statics.expand(rows, steps, -1)  # (B, T, S)
        return replace(
            batch,
            observed=torch.cat([batch.observed, statics], dim=-1),
            series=torch.full((rows,), self.index, dtype=torch.long),
        )


class PooledWindows:
    """Windows drawn from many series into one batch, in the order asked for."""

    def __init__(self, series: Sequence[SeriesWindows]) -> None:
        self.series = tuple(series)

    def batch(self, starts: np.ndarray) -> Batch:
        """starts (n, 2) of (series, row) pairs -> one batch of n windows, in that order.

        Each series cuts its own windows with its own scaling; the parts are then put back in
        the order drawn, so a rank's share of a batch is the same rows whatever mixes it.
        """
        parts, picked = [], []
        for index in np.unique(starts[:, 0]):
            rows = np.flatnonzero(starts[:, 0] == index)
            parts.append(self.series[index].batch(starts[rows, 1]))
            picked.append(rows)
        order = torch.as_tensor(np.argsort(np.concatenate(picked), kind="stable"))
        return Batch(
            **{
                field.name: torch.cat([getattr(part, field.name) for part in parts])[order]
                for field in fields(Batch)
            }
        )
