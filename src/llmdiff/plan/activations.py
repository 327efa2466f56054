"""Activation memory of one training step, traced on the meta device.

The stage's forward pass runs on meta tensors at the config's batch, resolution and text length, in the
compute dtype, under `torch.autograd.graph.saved_tensors_hooks`: every tensor autograd keeps for the
backward pass is seen once (tensors sharing storage count once), which is the memory that stays allocated
between forward and backward. Gradient checkpointing is accounted in the same pass: the function the
libraries call for each checkpointed block (diffusers' resnets and transformer blocks, transformers'
decoder layers) is replaced by one that runs the block plainly and files what it saves under that block.
With checkpointing, what stays is everything saved outside the blocks, plus each block's inputs, plus the
largest block's own tensors while it is recomputed during backward.

Attention is accounted as the fused kernels keep it (flash / memory-efficient attention on GPUs, PyTorch's
flash kernel on CPUs: query, key, value, output and the log-sum-exp per row), not as the L×L weights the meta
device's fallback would keep.

A value read from a meta tensor (`bool(mask.all())`) answers 1 / True during the trace: every mask is all
ones, as every prompt is at full length.

Not counted: transient tensors of forward passes that save nothing (the frozen LLM, the VAE, the CLIP
teacher under no grad) and the gradients of activations in flight during backward.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from llmdiff.plan.components import RunModels
from llmdiff.plan.meta_models import to_dtype
from llmdiff.training.config import RunConfig

COMPUTE_DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _key(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage()._cdata


@dataclass
class SavedTensors:
    parameters: set[int]
    outside: int = 0
    """Bytes saved outside every checkpointed block."""
    blocks: list[int] = field(default_factory=list)
    """Bytes each checkpointed block saves when run plainly."""
    block_inputs: int = 0
    """Bytes of the checkpointed blocks' inputs (kept for recomputation)."""
    saved_weights: int = 0
    """Bytes of parameters saved for backward (in the compute dtype)."""
    _seen: set[int] = field(default_factory=set)
    _inputs_seen: set[int] = field(default_factory=set)
    _keep: list = field(default_factory=list)
    _open: list[int] = field(default_factory=list)

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        key = _key(tensor)
        self._keep.append(tensor)  # alive until the end of the trace, so storage ids are never reused
        if key in self._seen:
            return tensor
        self._seen.add(key)
        size = tensor.untyped_storage().nbytes()
        if key in self.parameters:
            self.saved_weights += size
        elif self._open:
            self.blocks[self._open[-1]] += size
        else:
            self.outside += size
        return tensor

    def checkpoint(self, function, *args, **kwargs):
        """Stands in for `torch.utils.checkpoint.checkpoint` as the libraries call it."""
        self.blocks.append(0)
        self._open.append(len(self.blocks) - 1)
        try:
            output = function(*args, **kwargs)
        finally:
            self._open.pop()
        first = output[0] if isinstance(output, (tuple, list)) else output
        if isinstance(first, torch.Tensor) and first.requires_grad:
            for arg in list(args) + list(kwargs.values()):
                if isinstance(arg, torch.Tensor) and _key(arg) not in self._inputs_seen:
                    self._inputs_seen.add(_key(arg))
                    self.block_inputs += arg.untyped_storage().nbytes()
        return output

    @property
    def without_checkpointing(self) -> int:
        return self.outside + sum(self.blocks)

    @property
    def with_checkpointing(self) -> int:
        return self.outside + self.block_inputs + max(self.blocks, default=0)


@dataclass
class ActivationEstimate:
    without_checkpointing: int
    with_checkpointing: int
    saved_weights: int
    """Weights the backward pass reads, saved in the compute dtype: an extra copy when the module is held in
    float32 under autocast."""
    saved_weights_of_learners: int
    largest_block: int = 0
    """Bytes the largest checkpointed block keeps while it is recomputed (part of `with_checkpointing`)."""


@contextlib.contextmanager
def _meta_values_read_as_one():
    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel": for this trace only
        library.impl("_local_scalar_dense", lambda t: True if t.dtype == torch.bool else 1, "Meta")
    try:
        yield
    finally:
        library._destroy()


class _FusedAttention(torch.autograd.Function):
    """Keeps for backward what a fused attention kernel keeps; used only while tracing on meta tensors."""

    @staticmethod
    def forward(ctx, query, key, value, mask, attend):
        with torch.no_grad():
            output = attend()
        logsumexp = query.new_empty(query.shape[:-1], dtype=torch.float32)
        ctx.save_for_backward(*(t for t in (query, key, value, output, logsumexp, mask) if t is not None))
        return output

    @staticmethod
    def backward(ctx, grad):  # never run: the trace only goes forward
        raise NotImplementedError


@contextlib.contextmanager
def _fused_attention():
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention

    def attention(query, key, value, attn_mask=None, *args, **kwargs):
        attend = lambda: original(query, key, value, attn_mask, *args, **kwargs)  # noqa: E731
        return _FusedAttention.apply(query, key, value, attn_mask, attend)

    F.scaled_dot_product_attention = attention
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def _set_checkpointing(module: nn.Module, function) -> None:
    base = module.get_base_model() if hasattr(module, "get_base_model") else module
    base._set_gradient_checkpointing(enable=True, gradient_checkpointing_func=function)


def estimate_activations(config: RunConfig, models: RunModels) -> ActivationEstimate:
    """Trace one forward pass of the stage (batch `train.batch_size`, `data.resolution`, text at its
    maximum length) and return the bytes kept for backward."""
    dtype = COMPUTE_DTYPES[config.train.mixed_precision]
    for component in models.components:
        to_dtype(component.module, dtype)
    parameters = {_key(p) for c in models.components for p in c.module.parameters()}
    learner_parameters = {_key(p) for c in models.components if c.learns for p in c.module.parameters()}
    saved = SavedTensors(parameters)
    for component in models.components:
        component.module.train(component.learns)
        if component.checkpointed:
            _set_checkpointing(component.module, saved.checkpoint)
    learner_weights = _LearnerWeights(learner_parameters)
    hooks = torch.autograd.graph.saved_tensors_hooks(lambda t: learner_weights.pack(saved.pack(t)), lambda t: t)
    with hooks, _meta_values_read_as_one(), _fused_attention():
        forward_pass(config, models, dtype)
    return ActivationEstimate(saved.without_checkpointing, saved.with_checkpointing, saved.saved_weights,
                              learner_weights.bytes, max(saved.blocks, default=0))


@dataclass
class _LearnerWeights:
    keys: set[int]
    bytes: int = 0
    _seen: set[int] = field(default_factory=set)

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        key = _key(tensor)
        if key in self.keys and key not in self._seen:
            self._seen.add(key)
            self.bytes += tensor.untyped_storage().nbytes()
        return tensor


def forward_pass(config: RunConfig, models: RunModels, dtype: torch.dtype, device=torch.device("meta")) -> torch.Tensor:
    """The stage's forward pass as its recipe runs it (LLM, connector, then UNet where the stage runs one),
    on zero inputs at the config's sizes; returns the last output."""
    meta = torch.device(device)
    batch = config.train.batch_size
    stage = config.stage
    llm, adapter, unet = models.get("llm"), models.get("adapter"), models.get("unet")
    conditioning, pooled = None, None
    if stage == "base":
        encoder = models.get("text_encoder")
        ids = torch.zeros(batch, 77, dtype=torch.long, device=meta)
        conditioning = encoder.module(ids).last_hidden_state if encoder is not None else None
    else:
        ids = torch.zeros(batch, models.text_length, dtype=torch.long, device=meta)
        mask = torch.ones(batch, models.text_length, dtype=torch.long, device=meta)
        states = llm.module(input_ids=ids, attention_mask=mask).last_hidden_state
        if not llm.learns:
            states = states.detach()
        timestep = torch.zeros(batch, dtype=torch.long, device=meta)
        extra = {"timestep": timestep} if getattr(adapter.module, "timestep_aware", False) else {}
        out = adapter.module(states, mask, **extra)
        conditioning, pooled = out.prompt_embeds, out.pooled_prompt_embeds
    runs_unet = (stage in ("end_to_end", "quality", "base")
                 or (stage == "align" and config.loss.diffusion_weight > 0 and config.data.image_field)
                 or (stage == "cross_lingual" and config.loss.distill_space == "denoiser"))
    if not runs_unet or unet is None:
        return conditioning
    side = config.data.resolution // models.latent_scale
    latents = torch.zeros(batch, models.latent_channels, side, side, dtype=dtype, device=meta)
    timesteps = torch.zeros(batch, dtype=torch.long, device=meta)
    if conditioning is None:
        conditioning = torch.zeros(batch, 77, models.info.cond_dim, dtype=dtype, device=meta)
    extra = {}
    if models.info.family == "sdxl":
        if pooled is None:
            pooled = torch.zeros(batch, models.info.pooled_dim, dtype=dtype, device=meta)
        ids = torch.zeros(batch, 6, dtype=dtype, device=meta)
        extra["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": ids}
    return unet.module(latents, timesteps, encoder_hidden_states=conditioning.to(dtype), **extra).sample
