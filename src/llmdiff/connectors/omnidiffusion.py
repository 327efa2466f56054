"""OmniDiffusion's connector (MLMAdapter): an MLP, a full encoder-decoder transformer and learned queries.

The LLM's tokens are projected to the SDXL width, encoded, and read by 227 learned queries through the
decoder; the queries' outputs are SDXL's `prompt_embeds`, and their mean (first and last left out) goes
through a small MLP to give `pooled_prompt_embeds`. Module names as released (`fc`, `llm_to_t2i_mapping`,
`t2i_decoder_prompt`, `fc1`). The release encodes one prompt at a time with no mask; here padding is masked
in the encoder and in the decoder's cross-attention, which gives the same result on unpadded input.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from llmdiff.connectors.base import Connector, ConnectorOutput
from llmdiff.errors import UserError

PUBLISHED = {"llm_dim": 4096, "cond_dim": 2048, "pooled_dim": 1280, "num_heads": 8, "num_encoder_layers": 4,
             "num_decoder_layers": 4, "ff_dim": 8192, "num_queries": 227}
"""Fudan-FUXI/llm-conditioned-diffusion-v1.0: Baichuan2-7B (4096) -> SDXL (2048 + pooled 1280)"""


class OmniDiffusionConnector(Connector):
    """Output length is always `num_queries`, so no padding reaches the denoiser."""

    family = "omnidiffusion"
    gives_pooled = True

    @register_to_config
    def __init__(self, llm_dim: int, cond_dim: int = 2048, pooled_dim: int | None = 1280, num_heads: int = 8,
                 num_encoder_layers: int = 4, num_decoder_layers: int = 4, ff_dim: int | None = None,
                 num_queries: int = 227, activation: str = "relu"):
        super().__init__()
        if cond_dim % num_heads:
            raise UserError(f"OmniDiffusion connector width {cond_dim} is not divisible by num_heads {num_heads}")
        if num_queries < 3:
            raise UserError(f"OmniDiffusion connector needs at least 3 queries (its pooling leaves out the "
                            f"first and the last), got {num_queries}")
        ff_dim = ff_dim or 4 * cond_dim
        self.fc = nn.Sequential(nn.Linear(llm_dim, cond_dim), nn.GELU(), nn.Linear(cond_dim, cond_dim))
        layer = nn.TransformerEncoderLayer(cond_dim, num_heads, ff_dim, dropout=0.0, activation=activation,
                                           batch_first=True, norm_first=True)
        # The stock encoder, built here only to turn off nested tensors (unused with pre-norm layers anyway).
        encoder = nn.TransformerEncoder(layer, num_encoder_layers, nn.LayerNorm(cond_dim), enable_nested_tensor=False)
        self.llm_to_t2i_mapping = nn.Transformer(
            d_model=cond_dim, nhead=num_heads, num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers, dim_feedforward=ff_dim, dropout=0.0, activation=activation,
            custom_encoder=encoder, norm_first=True, batch_first=True,
        )
        self.t2i_decoder_prompt = nn.Parameter(torch.randn(1, num_queries, cond_dim))
        if pooled_dim:
            self.fc1 = nn.Sequential(nn.Linear(cond_dim, pooled_dim), nn.GELU(), nn.Linear(pooled_dim, pooled_dim))
        else:
            self.fc1 = None

    @classmethod
    def published(cls) -> "OmniDiffusionConnector":
        """The released configuration (487,346,688 parameters)."""
        return cls(**PUBLISHED)

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, timestep: torch.Tensor | float | None = None
    ) -> ConnectorOutput:
        """`timestep` is ignored."""
        self._check_width(hidden_states)
        padding = ~attention_mask.bool()
        source = self.fc(hidden_states.to(self.dtype))
        queries = self.t2i_decoder_prompt.expand(source.shape[0], -1, -1)
        embeds = self.llm_to_t2i_mapping(
            source, queries, src_key_padding_mask=padding, memory_key_padding_mask=padding
        )
        pooled = self.fc1(embeds[:, 1:-1].mean(dim=1)) if self.fc1 is not None else None
        out_mask = torch.ones(embeds.shape[:2], dtype=attention_mask.dtype, device=embeds.device)
        return ConnectorOutput(prompt_embeds=embeds, attention_mask=out_mask, pooled_prompt_embeds=pooled)
