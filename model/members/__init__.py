"""The candidate models a line model chooses from, all with one small interface.

Every member reads a `SeriesInputs` (one series on its fitted grid, prepared once) and forecasts
many origins at once in original units (`Member.predict`). Members that preprocess do it with
their own variant of the line's fitted pipeline (`Representation`), so the same cleaned
readings feed a GRU on the differenced series, a linear model on the level and an exponential
smoothing on the deseasonalised one. `model.selection` fits and scores them; `model.line_model`
serves the chosen one. Storage: `member_to_document` / `member_from_document` (JSON + tensors).
"""

from model.members.base import Member, MemberForecast, Representation, SeriesInputs
from model.members.storage import member_from_document, member_to_document

__all__ = [
    "Member",
    "MemberForecast",
    "Representation",
    "SeriesInputs",
    "member_from_document",
    "member_to_document",
]
