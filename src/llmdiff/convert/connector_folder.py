"""A release's connector state dict checked against its llmdiff family and written as an adapter folder."""

from __future__ import annotations

from pathlib import Path

import torch

from llmdiff.convert.tensors import check_tensors, shapes
from llmdiff.errors import UserError


def meta_connector(family: str, llm_dim: int, cond_dim: int, pooled_dim: int | None, options: dict):
    """The connector a release's weights must fill, built on the meta device (no memory, no time)."""
    from accelerate import init_empty_weights

    from llmdiff.connectors import build_connector

    with init_empty_weights(include_buffers=False):
        return build_connector(family, llm_dim, cond_dim, pooled_dim, **options)


def checked_connector(state: dict[str, torch.Tensor], source: Path, what: str, family: str, llm_dim: int,
                      cond_dim: int, pooled_dim: int | None = None, **options):
    """The family's connector holding exactly `state` (strict: every name and shape must match)."""
    connector = meta_connector(family, llm_dim, cond_dim, pooled_dim, options)
    expected = shapes(connector.state_dict())
    check_tensors(source, shapes(state), expected, what)
    connector.load_state_dict(state, strict=True, assign=True)  # takes the release's tensors as they are
    return connector


def dim(state: dict[str, torch.Tensor], key: str, axis: int, source: Path, what: str) -> int:
    """One width read from the release's weights, or a one-line error when the tensor is not there."""
    tensor = state.get(key)
    if tensor is None or tensor.dim() <= axis:
        some = ", ".join(sorted(state)[:2]) or "nothing"
        raise UserError(f"'{source}' is not {what}: it has no tensor '{key}' (it has e.g. {some}); "
                        "is it another model's file?")
    return int(tensor.shape[axis])


def count_indexed(state: dict[str, torch.Tensor], prefix: str) -> int:
    """How many `prefix{N}.` blocks the state dict holds (N = 0, 1, ...)."""
    indices = {int(key[len(prefix):].split(".")[0]) for key in state
               if key.startswith(prefix) and key[len(prefix):].split(".")[0].isdigit()}
    return max(indices) + 1 if indices else 0
