"""Members to and from a JSON document plus tensors (the line model's checkpoint)."""

from __future__ import annotations

from typing import Any

import torch

from model.members.base import Member
from model.members.ensemble import EnsembleMember
from model.members.ets import EtsMember
from model.members.linear import LinearMember
from model.members.naive import RepeatLastMember, SeasonalNaiveMember
from model.members.network import NetworkMember


def member_to_document(member: Member) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The member's kind and name with its own description, and its tensors."""
    document, tensors = member.to_document()
    return {"kind": member.kind, "name": member.name, **document}, tensors


def member_from_document(
    document: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    device: str = "cpu",
    others: dict[str, Member] | None = None,
) -> Member:
    """The member `member_to_document` described; ValueError for an unknown kind. An ensemble
    names its parts, which must be among `others` (the members stored beside it)."""
    kind = document.get("kind")
    if kind == "gru":
        return NetworkMember.from_document(document, tensors, device)
    if kind == "linear":
        return LinearMember.from_document(document, tensors)
    if kind == "ets":
        return EtsMember.from_document(document)
    if kind == "seasonal-naive":
        return SeasonalNaiveMember.from_document(document)
    if kind == "repeat-last":
        return RepeatLastMember.from_document(document)
    if kind == "ensemble":
        others = others or {}
        missing = [name for name in document["parts"] if name not in others]
        if missing:
            raise ValueError(f"ensemble part {missing[0]!r} is not stored with the model")
        return EnsembleMember(tuple(others[name] for name in document["parts"]))
    raise ValueError(f"unknown model member kind {kind!r}")
