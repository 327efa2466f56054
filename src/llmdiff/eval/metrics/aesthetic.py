"""LAION-style aesthetic score: a small head on unit-length CLIP image embeddings, weights from safetensors.

The published LAION predictors are a single linear layer (v1) or five linear layers with dropout and no
activation between them (v2, on ViT-L/14 embeddings). Both are a stack of linear layers, so the head is
rebuilt from the file alone: keys `weight`/`bias`, or `layers.N.weight`/`layers.N.bias` in order of N.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn

from llmdiff.errors import UserError


class AestheticHead(nn.Module):
    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    def forward(self, image_embeds: torch.Tensor) -> torch.Tensor:
        return self.layers(image_embeds).squeeze(-1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AestheticHead":
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise UserError(f"aesthetic head weights '{path}' do not exist (a .safetensors file)")
        try:
            state = load_file(path)
        except Exception as error:  # safetensors raises its own error types for a damaged file
            raise UserError(f"cannot read aesthetic head '{path}' as safetensors: {error}") from None
        layers = []
        for prefix in _layer_prefixes(state, path):
            weight, bias = state[f"{prefix}weight"], state.get(f"{prefix}bias")
            layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
            with torch.no_grad():
                layer.weight.copy_(weight)
                if bias is not None:
                    layer.bias.copy_(bias)
            layers.append(layer)
        for before, after in zip(layers, layers[1:]):
            if before.out_features != after.in_features:
                raise UserError(f"aesthetic head '{path}': layer widths do not chain")
        if layers[-1].out_features != 1:
            raise UserError(f"aesthetic head '{path}' must end in one output, not {layers[-1].out_features}")
        return cls(layers).eval()


def _layer_prefixes(state: dict, path: Path) -> list[str]:
    if "weight" in state:
        return [""]
    numbered = sorted(
        {int(m.group(1)) for key in state if (m := re.fullmatch(r"(?:.*\.)?layers\.(\d+)\.weight", key))}
    )
    if not numbered:
        raise UserError(f"aesthetic head '{path}' holds neither `weight` nor `layers.N.weight` tensors")
    prefix = next(key for key in state if key.endswith(f"layers.{numbered[0]}.weight")).removesuffix(
        f"{numbered[0]}.weight"
    )
    return [f"{prefix}{n}." for n in numbered]


@torch.no_grad()
def aesthetic_scores(head: AestheticHead, image_embeds: torch.Tensor) -> list[float]:
    if image_embeds.shape[-1] != head.in_features:
        raise UserError(
            f"the aesthetic head reads {head.in_features}-wide CLIP embeddings, but this CLIP model gives "
            f"{image_embeds.shape[-1]}; use the CLIP model the head was trained on"
        )
    return head(image_embeds.to(head.layers[0].weight.dtype)).tolist()
