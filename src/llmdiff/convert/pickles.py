"""The one place llmdiff reads a pickle: published checkpoints saved with `torch.save`, read for conversion.

`torch.load(weights_only=True)` unpickles tensors and plain containers only; any other object in the file
is refused, so a file cannot run code here. Everything llmdiff writes is safetensors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from llmdiff.errors import UserError


def _load(path: Path) -> object:
    if not path.is_file():
        raise UserError(f"'{path}' does not exist")
    try:
        try:  # zip-format checkpoints can be mapped instead of read whole
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling fails in many ways (cut file, garbage, a refused object)
        detail = " ".join(str(error).split())
        if detail.startswith("Weights only load failed"):
            raise UserError(f"'{path}' holds objects other than tensors and plain containers; they are refused "
                            "unread, since unpickling them could run code") from error
        detail = detail.split(". ")[0][:200] or type(error).__name__
        raise UserError(f"'{path}' is not a readable PyTorch checkpoint (cut short or another format?): "
                        f"{detail}") from error


def read_pickled_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A `torch.save`d state dict (names to tensors), or a one-line error naming the file."""
    path = Path(path)
    data = _load(path)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()):
        raise UserError(f"'{path}' does not hold a state dict (names to tensors) but {_describe(data)}")
    return data


def read_pickled_tensor_list(path: str | Path) -> list[torch.Tensor]:
    """A `torch.save`d list of tensors, or a one-line error naming the file."""
    path = Path(path)
    data = _load(path)
    if not isinstance(data, (list, tuple)) or not all(isinstance(item, torch.Tensor) for item in data):
        raise UserError(f"'{path}' does not hold a list of tensors but {_describe(data)}")
    return list(data)


def _describe(data: object) -> str:
    if isinstance(data, dict):
        kinds = sorted({type(value).__name__ for value in data.values()})
        return f"a dict of {len(data)} entries ({', '.join(kinds[:3])})"
    if isinstance(data, (list, tuple)):
        kinds = sorted({type(value).__name__ for value in data})
        return f"a list of {len(data)} items ({', '.join(kinds[:3])})"
    return f"a {type(data).__name__}"
