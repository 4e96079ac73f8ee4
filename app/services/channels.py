"""A series' channels: the covariates it declares besides its target, and who may use them.

A channel has a `name`, a `role` and a `unit`:

- `known`: known ahead for the forecast horizon (a setpoint plan, a shift plan); a model that
  reads one needs its values for every forecast step, sent with the forecast request or
  uploaded beforehand (the plan, `app.services.channel_values`);
- `observed`: measured alongside the target (motor current, a temperature) and unknown in the
  future; a model reads it up to the forecast origin only.

Channels are declared when the series is created and not changed afterwards: a stored model
names the channels it reads, and renaming one under it would feed it another signal. Roles are
kept apart in training: an observed channel has no future values to read as a known one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from app.db.models import Series

ChannelRole = Literal["known", "observed"]
CHANNEL_ROLES: tuple[ChannelRole, ...] = get_args(ChannelRole)
# The columns a frame or a CSV upload already holds for the stamp and the target.
RESERVED_NAMES = frozenset({"ts", "timestamp", "value"})
MAX_CHANNELS = 50


def roles_of(series: Series) -> dict[str, ChannelRole]:
    """The series' channels by name, with their roles, in declaration order."""
    return {channel["name"]: channel["role"] for channel in series.channels}


def described(series: Series) -> str:
    """The series' channels for an error message: `setpoint (known), motor_current (observed)`."""
    roles = roles_of(series)
    if not roles:
        return "it declares none"
    return "its channels: " + ", ".join(f"{name} ({role})" for name, role in roles.items())


def check_model_channels(series: Series, known: Sequence[str], observed: Sequence[str]) -> None:
    """ValueError naming the first channel a model would read that the series does not declare
    in that role, or a channel named twice."""
    roles = roles_of(series)
    seen: set[str] = set()
    for role, names in (("known", known), ("observed", observed)):
        for name in names:
            if name in seen:
                raise ValueError(f"channel {name!r} is named twice in known and observed")
            seen.add(name)
            if name not in roles:
                raise ValueError(
                    f"{role} channel {name!r} is not a channel of series {series.id} "
                    f"({described(series)})"
                )
            if roles[name] != role:
                raise ValueError(
                    f"channel {name!r} of series {series.id} is declared {roles[name]}, so it "
                    f"cannot be read as {role}"
                )
