"""Reading a release's weight files and checking them against the model they must fill, in one-line errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from llmdiff.convert.pickles import read_pickled_state_dict
from llmdiff.errors import UserError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, or a one-line error naming the file."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise UserError(f"'{path}' does not exist")
    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own error type for a cut or garbled file
        raise UserError(f"'{path}' is not an intact safetensors file (cut short or another format?): "
                        f"{one_line(error)}") from error


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A weight file by its suffix: safetensors, or a published pickle (read with weights_only)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix in PICKLE_SUFFIXES:
        return read_pickled_state_dict(path)
    raise UserError(f"'{path}' is neither a safetensors file nor a PyTorch checkpoint")


def one_line(error: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, cut to `limit` characters."""
    return " ".join(str(error).split())[:limit] or type(error).__name__


def shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in state.items()}


def parameter_count(state: Mapping[str, torch.Tensor] | Mapping[str, tuple[int, ...]]) -> int:
    total = 0
    for value in state.values():
        shape = value.shape if isinstance(value, torch.Tensor) else value
        count = 1
        for size in shape:
            count *= int(size)
        total += count
    return total


def check_tensors(source: str | Path, found: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]],
                  what: str) -> None:
    """Fail with one line naming `source` unless it holds exactly `expected`'s names and shapes.

    `what` names the model with its article ("an ELLA connector")."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if expected and not set(found) & set(expected):
        raise UserError(
            f"'{source}' is not {what}: it holds none of its {len(expected)} tensors "
            f"(it has e.g. {_few(sorted(found), 2) or 'nothing'}); is it another model's file?"
        )
    if missing:
        raise UserError(f"'{source}' lacks {len(missing)} tensor(s) of {what}: {_few(missing)}")
    if extra:
        raise UserError(f"'{source}' holds {len(extra)} tensor(s) {what} does not have: {_few(extra)}")
    wrong = [f"{name} {list(found[name])} (expected {list(expected[name])})"
             for name in sorted(expected) if tuple(found[name]) != tuple(expected[name])]
    if wrong:
        raise UserError(f"'{source}' has {len(wrong)} tensor(s) of the wrong shape for {what}: {_few(wrong)}")


def require(path: Path, what: str) -> Path:
    """`path`, or a one-line error saying which part of the release is missing."""
    if not path.exists():
        raise UserError(f"the release has no {what}: '{path}' is missing")
    return path


def _few(items: list[str], shown: int = 3) -> str:
    more = f", and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
