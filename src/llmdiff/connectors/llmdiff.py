"""llmdiff's own connector: maps LLM hidden states into a diffusion model's conditioning space."""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from llmdiff.connectors.base import Connector, ConnectorOutput, masked_mean
from llmdiff.errors import UserError


class LLMAdapter(Connector):
    """Projection, a small masked transformer, optional learned-query resampler and pooled head.

    With `num_queries` set, a fixed number of learned queries cross-attend to the prompt's tokens, so the
    output length does not depend on the prompt and padding can never reach the denoiser, whose
    cross-attention (in stock diffusers pipelines) takes no mask. Padding is masked in every attention.
    """

    family = "llmdiff"
    gives_pooled = True

    @register_to_config
    def __init__(
        self,
        llm_dim: int,
        cond_dim: int = 768,
        pooled_dim: int | None = None,
        hidden_dim: int = 512,
        num_layers: int = 2,
        num_heads: int = 8,
        num_queries: int | None = 256,
        num_resampler_layers: int = 1,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ):
        super().__init__()
        if hidden_dim % num_heads:
            raise UserError(f"adapter hidden_dim {hidden_dim} is not divisible by num_heads {num_heads}")
        mlp_dim = int(hidden_dim * mlp_ratio)
        self.input_norm = nn.LayerNorm(llm_dim)  # LLM states vary wildly in scale between tokens
        self.input_proj = nn.Linear(llm_dim, hidden_dim)
        layer = nn.TransformerEncoderLayer(
            hidden_dim, num_heads, mlp_dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False) if num_layers else None
        if num_queries:
            self.queries = nn.Parameter(torch.randn(num_queries, hidden_dim) * hidden_dim**-0.5)
            resampler_layer = nn.TransformerDecoderLayer(
                hidden_dim, num_heads, mlp_dim, dropout, activation="gelu", batch_first=True, norm_first=True
            )
            self.resampler = nn.TransformerDecoder(resampler_layer, num_resampler_layers)
        else:
            self.queries = None
            self.resampler = None
        self.output_norm = nn.LayerNorm(hidden_dim)
        self.output_proj = nn.Linear(hidden_dim, cond_dim)
        if pooled_dim:
            self.pooled_head = nn.Sequential(
                nn.LayerNorm(hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, pooled_dim)
            )
        else:
            self.pooled_head = None

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, timestep: torch.Tensor | float | None = None
    ) -> ConnectorOutput:
        """`timestep` is ignored: this family conditions the same way at every denoising step."""
        self._check_width(hidden_states)
        mask = attention_mask.bool()
        padding = ~mask
        tokens = self.input_proj(self.input_norm(hidden_states.to(self.dtype)))
        if self.encoder is not None:
            tokens = self.encoder(tokens, src_key_padding_mask=padding)
        tokens = tokens * mask.unsqueeze(-1).to(tokens.dtype)
        pooled = self.pooled_head(masked_mean(tokens, mask)) if self.pooled_head is not None else None
        if self.resampler is not None:
            queries = self.queries.unsqueeze(0).expand(tokens.shape[0], -1, -1)
            tokens = self.resampler(queries, tokens, memory_key_padding_mask=padding)
            out_mask = torch.ones(tokens.shape[:2], dtype=attention_mask.dtype, device=tokens.device)
        else:
            out_mask = attention_mask
        embeds = self.output_proj(self.output_norm(tokens))
        if self.resampler is None:
            embeds = embeds * out_mask.unsqueeze(-1).to(embeds.dtype)
        return ConnectorOutput(prompt_embeds=embeds, attention_mask=out_mask, pooled_prompt_embeds=pooled)

    def deepened(self, num_layers: int) -> "LLMAdapter":
        """A copy with `num_layers` encoder layers that gives the same outputs as this adapter.

        The added layers come after the trained ones, each with its attention and MLP output projections at
        zero: a pre-norm residual layer is then the identity, so training continues from exactly where this
        adapter stands, with more capacity to learn from (net2net-style growth).
        """
        have = self.config.num_layers
        if num_layers < have:
            raise UserError(f"cannot deepen an adapter of {have} encoder layers to {num_layers}")
        if have == 0:
            raise UserError("cannot deepen an adapter with no encoder layers")
        settings = {key: value for key, value in self.config.items() if not key.startswith("_")}
        grown = type(self)(**{**settings, "num_layers": num_layers}).to(self.device, self.dtype)
        grown.load_state_dict(self.state_dict(), strict=False)  # every weight but the added layers'
        with torch.no_grad():
            for layer in grown.encoder.layers[have:]:
                for module in layer.modules():  # nn.TransformerEncoder's layers start as copies of one
                    if module is not layer and hasattr(module, "reset_parameters"):
                        module.reset_parameters()
                layer.self_attn._reset_parameters()
                for projection in (layer.self_attn.out_proj, layer.linear2):
                    projection.weight.zero_()
                    projection.bias.zero_()
        return grown
