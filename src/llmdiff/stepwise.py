"""Conditioning recomputed at every denoising step, through stock diffusers pipelines.

A timestep-aware connector (ELLA's family) maps the LLM's states to prompt embeddings that depend on the
denoising timestep, so its output cannot be computed once before sampling. Instead of forking any diffusers
pipeline, the pipeline is given the raw LLM states as `prompt_embeds`, packed with their attention mask as
one extra channel, and a forward pre-hook on each of its denoisers (the UNet, and a ControlNet where there is
one: anything whose `forward` takes `timestep` and `encoder_hidden_states`) replaces those packed states with
the connector's output at the timestep of that very call, just before the real module runs.

Because the states travel as ordinary `prompt_embeds`, everything the pipeline does to them keeps working:
classifier-free guidance concatenates the negative rows, `num_images_per_prompt` repeats rows, img2img and
inpainting start late in the schedule, second-order schedulers (Heun) call the UNet twice per step, and
ControlNet receives the same rows. The module itself is never replaced, so its config, dtype, device,
`add_embedding`, LoRA and IP-Adapter layers are the real ones; the hooks are removed when the call ends,
also when it fails.

This module is the one place that knows a timestep-aware family exists.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch

from llmdiff.errors import UserError


@dataclass(frozen=True)
class Packing:
    """How LLM states (+ mask, + optional extra tokens) ride in one `prompt_embeds` tensor.

    Every row holds `llm_tokens` LLM positions (states in the first `llm_dim` channels, the mask in the last
    channel), then optionally `suffix` tokens the connector does not read (the base model's own CLIP tokens,
    already in the conditioning space: appended to the connector's output as they are).
    """

    llm_dim: int
    llm_tokens: int
    suffix_dim: int = 0
    pooled: bool = False
    """the pipeline's pooled embeddings (`added_cond_kwargs["text_embeds"]`) are stand-ins for the connector's"""

    @property
    def width(self) -> int:
        return max(self.llm_dim, self.suffix_dim) + 1

    def pack(self, states: torch.Tensor, mask: torch.Tensor, suffix: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, tokens, width): `states` right-padded to `llm_tokens` (mask 0 there), then `suffix`."""
        batch, tokens, dim = states.shape
        if dim != self.llm_dim or tokens > self.llm_tokens:
            raise ValueError(f"states {tuple(states.shape)} do not fit a packing of {self}")
        extra = 0 if suffix is None else suffix.shape[1]
        packed = states.new_zeros(batch, self.llm_tokens + extra, self.width)
        packed[:, :tokens, :dim] = states
        packed[:, :tokens, -1] = mask.to(states.dtype)
        if suffix is not None:
            packed[:, self.llm_tokens :, : suffix.shape[-1]] = suffix.to(states.dtype)
            packed[:, self.llm_tokens :, -1] = 1
        return packed

    def unpack(self, packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(states, mask, suffix or None) from what `pack` made, after the pipeline's own reshuffling."""
        if packed.shape[-1] != self.width:
            raise UserError(
                f"the denoiser received conditioning of width {packed.shape[-1]}, not the packed LLM states "
                f"(width {self.width}) a timestep-aware connector needs"
            )
        states = packed[:, : self.llm_tokens, : self.llm_dim]
        mask = (packed[:, : self.llm_tokens, -1] > 0.5).long()
        suffix = packed[:, self.llm_tokens :, : self.suffix_dim] if packed.shape[1] > self.llm_tokens else None
        return states, mask, suffix


def _forward_parameters(module: torch.nn.Module) -> list[str]:
    # The class's own signature: an offload hook may have replaced the instance's `forward` by a wrapper, and
    # torch.compile wraps the module itself (`_orig_mod`).
    module = getattr(module, "_orig_mod", module)
    return [name for name in inspect.signature(type(module).forward).parameters if name != "self"]


def denoisers(pipeline) -> list[torch.nn.Module]:
    """The pipeline's modules that read `encoder_hidden_states` at a `timestep`: its UNet, its ControlNet(s)."""
    found = []
    for module in pipeline.components.values():
        if not isinstance(module, torch.nn.Module):
            continue
        parameters = _forward_parameters(module)
        if "timestep" in parameters and "encoder_hidden_states" in parameters:
            found.append(module)
    return found


def _as_keywords(module: torch.nn.Module, args: tuple, kwargs: dict) -> dict:
    return {**dict(zip(_forward_parameters(module), args)), **kwargs}


def step_timesteps(timestep, batch: int, device: torch.device) -> torch.Tensor:
    """The denoiser's timestep as a (batch,) tensor: pipelines pass an int, a 0-d or a (batch,) tensor."""
    timestep = torch.as_tensor(timestep, device=device)
    if timestep.ndim == 0:
        timestep = timestep.expand(batch)
    return timestep


def place_of(module: torch.nn.Module, like: torch.Tensor) -> tuple[torch.device, torch.dtype]:
    """Where a module computes: its first tensor's device and dtype, or `like`'s for one without any
    (the identity family has no weights)."""
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), like)
    return tensor.device, tensor.dtype


def _condition(connector, packing: Packing, module, args: tuple, kwargs: dict):
    kwargs = _as_keywords(module, args, kwargs)
    packed = kwargs["encoder_hidden_states"]
    states, mask, suffix = packing.unpack(packed)
    device, dtype = place_of(connector, states)
    timestep = step_timesteps(kwargs["timestep"], states.shape[0], device)
    output = connector(states.to(device, dtype), mask.to(device), timestep=timestep)
    embeds = output.prompt_embeds.to(packed.device, packed.dtype)
    if suffix is not None:
        embeds = torch.cat([embeds, suffix], dim=1)
    kwargs["encoder_hidden_states"] = embeds
    added = kwargs.get("added_cond_kwargs")
    if packing.pooled and added and "text_embeds" in added:
        if output.pooled_prompt_embeds is None:
            raise UserError("the base model needs pooled conditioning, which the connector does not give")
        pooled = output.pooled_prompt_embeds.to(added["text_embeds"].device, added["text_embeds"].dtype)
        kwargs["added_cond_kwargs"] = {**added, "text_embeds": pooled}
    return (), kwargs


@contextmanager
def stepwise_conditioning(pipeline, connector, packing: Packing) -> Iterator[None]:
    """While inside, every denoiser call of `pipeline` reads `connector(states, mask, its timestep)`."""
    modules = denoisers(pipeline)
    if not modules:
        raise UserError(f"{type(pipeline).__name__} has no UNet or other denoiser taking encoder_hidden_states")
    handles = []
    try:
        for module in modules:
            hook = partial(_condition, connector, packing)
            handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
