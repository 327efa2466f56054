"""The identity connector: the denoiser reads the LLM's states as they are (ParaDiffusion-style).

For a denoiser whose cross-attention was built (or retrained) for the LLM's own width. Padding is zeroed by
default, so that a denoiser without an encoder mask sees nothing of it; a released denoiser that was
trained reading the LLM's padding states (ParaDiffusion's, every prompt padded to 256 tokens) keeps them
(`zero_padding=False`).
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config

from llmdiff.connectors.base import Connector, ConnectorOutput
from llmdiff.errors import UserError


class IdentityConnector(Connector):
    """No parameters: prompt_embeds = the LLM's states (padding positions zeroed unless `zero_padding` is off)."""

    family = "identity"

    @register_to_config
    def __init__(self, llm_dim: int, cond_dim: int | None = None, zero_padding: bool = True):
        super().__init__()
        if cond_dim is not None and cond_dim != llm_dim:
            raise UserError(
                f"the identity connector passes LLM states through unchanged, so the base model's "
                f"cross-attention width ({cond_dim}) must equal the LLM's width ({llm_dim})"
            )

    @classmethod
    def published(cls, llm_dim: int = 4096) -> "IdentityConnector":
        """ParaDiffusion's released setting: Llama-2-7B's 4096-d states straight into the UNet, padding
        positions included (its UNet was trained reading them, with no encoder mask)."""
        return cls(llm_dim=llm_dim, cond_dim=llm_dim, zero_padding=False)

    @property
    def cond_dim(self) -> int:
        return self.config["cond_dim"] or self.config["llm_dim"]

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, timestep: torch.Tensor | float | None = None
    ) -> ConnectorOutput:
        """`timestep` is ignored."""
        self._check_width(hidden_states)
        if not self.config.zero_padding:
            return ConnectorOutput(prompt_embeds=hidden_states, attention_mask=attention_mask)
        embeds = hidden_states * attention_mask.unsqueeze(-1).to(hidden_states.dtype)
        return ConnectorOutput(prompt_embeds=embeds, attention_mask=attention_mask)
