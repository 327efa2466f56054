"""ELLA's connector: a timestep-aware Perceiver resampler (TSC).

Hu et al. 2024, "ELLA: Equip Diffusion Models with LLM for Enhanced Semantic Alignment". Learned latents,
shifted by the denoising timestep's embedding, read the text states through Perceiver blocks whose
LayerNorms take their shift and scale from the same embedding (AdaLN), so the conditioning changes along
the denoising trajectory. Module names as released (`time_embedding.*`, `connector.*`).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn
from torch.nn import functional as F

from llmdiff.connectors.base import Connector, ConnectorOutput
from llmdiff.errors import UserError

PUBLISHED = {"llm_dim": 2048, "cond_dim": 768, "num_layers": 6, "num_heads": 8, "num_latents": 64,
             "time_channels": 320}
"""ella-sd1.5-tsc-t5xl: FLAN-T5-XL (2048) -> SD1.5 (768)"""


class AdaLayerNorm(nn.Module):
    """LayerNorm without affine weights; shift and scale come from SiLU(time embedding), starting at zero."""

    def __init__(self, dim: int, time_dim: int):
        super().__init__()
        self.linear = nn.Linear(time_dim, 2 * dim)
        nn.init.zeros_(self.linear.weight)  # starts as a plain LayerNorm
        nn.init.zeros_(self.linear.bias)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, time_embedding: torch.Tensor) -> torch.Tensor:
        shift, scale = self.linear(F.silu(time_embedding)).chunk(2, dim=-1)  # (batch, 1, dim) each
        return self.norm(x) * (1 + scale) + shift


class SquaredReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.square(torch.relu(x))


class PerceiverAttentionBlock(nn.Module):
    """Latents attend to [latents, text] (pre-AdaLN), then a squared-ReLU MLP."""

    def __init__(self, dim: int, num_heads: int, time_dim: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(dim, 4 * dim)), ("sq_relu", SquaredReLU()), ("c_proj", nn.Linear(4 * dim, dim)),
        ]))
        self.ln_1 = AdaLayerNorm(dim, time_dim)
        self.ln_2 = AdaLayerNorm(dim, time_dim)
        self.ln_ff = AdaLayerNorm(dim, time_dim)

    def forward(self, text: torch.Tensor, latents: torch.Tensor, time_embedding: torch.Tensor,
                key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        normed = self.ln_1(latents, time_embedding)
        keys = torch.cat([normed, self.ln_2(text, time_embedding)], dim=1)
        latents = latents + self.attn(normed, keys, keys, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return latents + self.mlp(self.ln_ff(latents, time_embedding))


class PerceiverResampler(nn.Module):
    def __init__(self, llm_dim: int, dim: int, num_layers: int, num_heads: int, num_latents: int, time_dim: int):
        super().__init__()
        self.latents = nn.Parameter(dim**-0.5 * torch.randn(num_latents, dim))
        self.time_aware_linear = nn.Linear(time_dim, dim)
        self.proj_in = nn.Linear(llm_dim, dim)
        self.perceiver_blocks = nn.Sequential(
            *[PerceiverAttentionBlock(dim, num_heads, time_dim) for _ in range(num_layers)]
        )

    def forward(self, text: torch.Tensor, time_embedding: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        latents = self.latents.unsqueeze(0) + self.time_aware_linear(F.silu(time_embedding))
        text = self.proj_in(text)
        key_padding_mask = None
        if padding is not None:  # the latents' own keys are never padding
            latent_keys = torch.zeros(padding.shape[0], latents.shape[1], dtype=torch.bool, device=padding.device)
            key_padding_mask = torch.cat([latent_keys, padding], dim=1)
        for block in self.perceiver_blocks:
            latents = block(text, latents, time_embedding, key_padding_mask)
        return latents


class ELLAConnector(Connector):
    """Timestep-aware: `forward` needs the denoiser's timestep, and the output differs at every step.

    `timestep_aware=False` makes the same Perceiver ignore the timestep: it always reads t = 0, so the
    AdaLN shifts and scales become learned constants (a plain Perceiver resampler with the released module
    layout and keys), the ablation that shows what the timestep input buys.
    """

    family = "ella"
    timestep_aware = True

    @register_to_config
    def __init__(self, llm_dim: int, cond_dim: int = 768, num_layers: int = 6, num_heads: int = 8,
                 num_latents: int = 64, time_channels: int = 320, timestep_aware: bool = True):
        super().__init__()
        self.timestep_aware = bool(timestep_aware)  # the instance's answer to the class's flag
        if cond_dim % num_heads:
            raise UserError(f"ELLA connector width {cond_dim} is not divisible by num_heads {num_heads}")
        # The UNet's sinusoid of the timestep, then an MLP to the connector's width.
        self.position = Timesteps(time_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(time_channels, cond_dim, act_fn="silu")
        self.connector = PerceiverResampler(llm_dim, cond_dim, num_layers, num_heads, num_latents, cond_dim)

    @classmethod
    def published(cls) -> "ELLAConnector":
        """The released configuration (ella-sd1.5-tsc-t5xl, 66,820,608 parameters)."""
        return cls(**PUBLISHED)

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, timestep: torch.Tensor | float | None = None
    ) -> ConnectorOutput:
        """timestep: the UNet's own (0..999), a scalar or one per batch row (ignored when the connector was built
        with `timestep_aware=False`). The released model reads every
        position (it gets no mask); padding marked in `attention_mask` is masked out of the attention."""
        self._check_width(hidden_states)
        if not self.timestep_aware:
            timestep = 0  # the timestep-free ablation: every call reads the same t
        if timestep is None:
            raise UserError("the ELLA connector is timestep-aware: pass the denoiser's timestep to it")
        batch = hidden_states.shape[0]
        timestep = torch.as_tensor(timestep, device=hidden_states.device).reshape(-1)
        if timestep.numel() not in (1, batch):
            raise UserError(f"got {timestep.numel()} timesteps for a batch of {batch} prompts")
        sinusoid = self.position(timestep).to(self.dtype).unsqueeze(1).expand(batch, -1, -1)
        time_embedding = self.time_embedding(sinusoid)  # (batch, 1, cond_dim)
        mask = attention_mask.bool()
        padding = None if mask.all() else ~mask
        latents = self.connector(hidden_states.to(self.dtype), time_embedding, padding)
        out_mask = torch.ones(latents.shape[:2], dtype=attention_mask.dtype, device=latents.device)
        return ConnectorOutput(prompt_embeds=latents, attention_mask=out_mask)
