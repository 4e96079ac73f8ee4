"""What a model that reads channels needs at a forecast: their columns in its context, and the
known channels' values for every step of its horizon.

A line model trained with `known` channels reads their values for its whole horizon
(`FittedLineModel.forecast(frame, future_known)`, one row per step). They come from the
request when it sends any (`given`: then only from it, so what the caller sent is what the
model read), else from the plan stored ahead of the readings (`app.services.channel_values`).
A step without a value is refused with the channel and stamp named, before anything is stored:
a forecast on an invented plan would look as sure as one on the real plan. Kept apart from
`app.services.forecasting`, so every forecast path can share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd
from sqlalchemy.orm import Session

from app.db.models import Series
from app.services.channel_values import named_frame, stored_plan
from app.services.channels import described, roles_of
from app.services.registry import ServedModel
from model.line_model import FittedLineModel
from model.members import Member
from model.members.network import NetworkMember

# The known values of a forecast's steps as a request gives them: {stamp: {name: value}}.
GivenKnown = Mapping[datetime, Mapping[str, float]]


def channels_needed(model: ServedModel) -> tuple[str, ...]:
    """The channels a forecast's context must hold: every one the line model was trained
    with, whichever member serves (its inputs are prepared once for all members)."""
    if not isinstance(model, FittedLineModel):
        return ()
    return (*model.config.known, *model.config.observed)


def covariates_served(model: ServedModel) -> tuple[str, ...]:
    """The series' channels the model reads, known then observed: none for a global model,
    or where its serving member has no network (the baselines read the target alone)."""
    if not isinstance(model, FittedLineModel) or not _has_network(model.members[model.serving]):
        return ()
    return (*model.config.known, *model.config.observed)


def _has_network(member: Member) -> bool:
    if isinstance(member, NetworkMember):
        return True
    return any(_has_network(part) for part in getattr(member, "parts", ()))


def check_given_known(series: Series, given: GivenKnown | None) -> None:
    """ValueError naming a channel of the request's known values that is not one of the
    series' known channels; checked whatever the model reads, so a typo never passes."""
    roles = roles_of(series)
    for values in (given or {}).values():
        for name in values:
            if roles.get(name) != "known":
                raise ValueError(
                    f"known: {name!r} is not a known channel of series {series.id} "
                    f"({described(series)})"
                )


def horizon_known(
    *,
    session: Session,
    series: Series,
    model: ServedModel,
    context: pd.DataFrame,
    given: GivenKnown | None,
) -> pd.DataFrame | None:
    """The model's known channels at its forecast steps after `context` (one row per step),
    or None for a model that reads none; ValueError naming the first value missing."""
    if not isinstance(model, FittedLineModel) or not model.config.known or context.empty:
        # With no context, the model's own check names what is missing.
        return None
    known = model.config.known
    last = model.pipeline.clean(context["value"]).index[-1]
    stamps = model.pipeline.forecast_stamps(last, model.horizon)
    if given is None:
        plan, source = stored_plan(session, series.id, known, stamps), "the stored plan"
    else:
        by_stamp = {pd.Timestamp(ts).tz_convert("UTC"): values for ts, values in given.items()}
        plan = named_frame(stamps, [by_stamp.get(stamp) for stamp in stamps], known)
        source = "the request's known values"
    missing = plan.isna()
    if missing.to_numpy().any():
        step = int(missing.any(axis=1).to_numpy().argmax())
        name = str(missing.columns[missing.iloc[step].to_numpy()][0])
        raise ValueError(
            f"the model reads known channels {', '.join(known)} for each of its "
            f"{model.horizon} steps ({stamps[0].isoformat()} to {stamps[-1].isoformat()}); "
            f"{source} lacks {name!r} at {stamps[step].isoformat()} "
            f"({int(missing.to_numpy().sum())} values missing): send them under `known` or "
            "upload the plan as observations' covariates"
        )
    return plan
