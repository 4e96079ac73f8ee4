"""Checkpoints: weights plus a JSON document, loadable with `torch.load(weights_only=True)`.

No pickled Python objects: the file holds a dict of tensors and one JSON string, so loading it
cannot run code, and a model trained on a GPU loads on a CPU-only machine via `map_location`.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

FORMAT = "linecast-forecaster/1"


def library_versions() -> dict[str, str]:
    """Versions that shaped the weights, recorded so a checkpoint can be traced and reproduced."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "linecast": version("linecast"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def save_checkpoint(
    path: Path | BinaryIO, state_dict: dict[str, torch.Tensor], document: dict
) -> None:
    """Write weights (moved to the CPU) and a JSON document to `path` (a file or a buffer)."""
    payload = {
        "format": FORMAT,
        "document": json.dumps({**document, "versions": library_versions()}),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
    }
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load_checkpoint(
    path: Path | BinaryIO, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by `save_checkpoint`; raise ValueError for anything else."""
    try:
        payload = torch.load(path, weights_only=True, map_location=map_location)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"{path} is not a linecast model file: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a linecast model file (format {FORMAT} expected)")
    return payload["state_dict"], json.loads(payload["document"])
