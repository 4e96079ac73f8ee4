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
    document: dict[str, Any], tensors: dict[str, torch.Tensor], device: str = "cpu"
) -> Member:
    """The member `member_to_document` described; ValueError for an unknown kind."""
    kind = document.get("kind")
    if kind == "gru":
        return NetworkMember.from_document(document, tensors, device)
    if kind == "linear":
        return LinearMember.from_document(document)
    if kind == "ets":
        return EtsMember.from_document(document)
    if kind == "seasonal-naive":
        return SeasonalNaiveMember.from_document(document)
    if kind == "repeat-last":
        return RepeatLastMember.from_document(document)
    if kind == "ensemble":
        parts = []
        for index, part in enumerate(document["parts"]):
            prefix = f"{index}."
            own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            parts.append(member_from_document(part, own, device))
        return EnsembleMember(tuple(parts))
    raise ValueError(f"unknown model member kind {kind!r}")
