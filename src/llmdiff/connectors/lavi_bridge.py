"""LaVi-Bridge's connector: a token-wise LayerNorm + GEGLU feed-forward adapter (no attention).

Zhao et al. 2024, "Bridging Different Language Models and Generative Vision Models for Text-to-Image
Generation": `TextAdapter(in_dim, int_dim, out_dim)` = LayerNorm -> FeedForward -> LayerNorm -> FeedForward,
each FeedForward diffusers-style (GEGLU to 4x the input width, dropout, Linear). Module names as released.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.attention import FeedForward
from torch import nn

from llmdiff.connectors.base import Connector, ConnectorOutput
from llmdiff.errors import UserError

PUBLISHED = {
    "llama2_unet": {"llm_dim": 4096, "hidden_dim": 2432, "cond_dim": 768},
    "t5_unet": {"llm_dim": 1024, "hidden_dim": 896, "cond_dim": 768},
}
"""released adapter folders -> widths (in_dim, int_dim, out_dim of their config.json)"""


class LaViBridgeConnector(Connector):
    """Each token mapped on its own: llm_dim -> hidden_dim -> cond_dim; padding positions come out zero."""

    family = "lavi_bridge"

    @register_to_config
    def __init__(self, llm_dim: int, cond_dim: int = 768, hidden_dim: int | None = None, mult: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        hidden_dim = hidden_dim or cond_dim
        self.norm1 = nn.LayerNorm(llm_dim)
        self.ff1 = FeedForward(llm_dim, hidden_dim, mult=mult, dropout=dropout, activation_fn="geglu")
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.ff2 = FeedForward(hidden_dim, cond_dim, mult=mult, dropout=dropout, activation_fn="geglu")

    @classmethod
    def published(cls, variant: str = "llama2_unet") -> "LaViBridgeConnector":
        """A released configuration: "llama2_unet" (Llama-2-7B -> SD1.4) or "t5_unet" (T5-Large -> SD1.4)."""
        if variant not in PUBLISHED:
            raise UserError(f"unknown LaVi-Bridge variant '{variant}'; known: {', '.join(PUBLISHED)}")
        return cls(**PUBLISHED[variant])

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, timestep: torch.Tensor | float | None = None
    ) -> ConnectorOutput:
        """`timestep` is ignored. The released model reads every position (its prompts are padded to 77
        tokens with no mask); with a mask, padding positions are zeroed."""
        self._check_width(hidden_states)
        tokens = self.ff1(self.norm1(hidden_states.to(self.dtype)))
        embeds = self.ff2(self.norm2(tokens))
        embeds = embeds * attention_mask.unsqueeze(-1).to(embeds.dtype)
        return ConnectorOutput(prompt_embeds=embeds, attention_mask=attention_mask)
