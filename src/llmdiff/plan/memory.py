"""Bytes per GPU under DDP, ZeRO-2 and ZeRO-3 / FSDP full shard, with AdamW (two states per weight).

Accounting as in the ZeRO paper (Rajbhandari et al. 2020, §3), applied per module as the recipes hold them:
- DDP (accelerate's mixed precision): a module that learns is held in float32 and autocast computes in the
  low-precision dtype, so its weights are their own master copy; float32 gradients, plus DDP's bucket copy of
  them when more than one process runs (`gradient_as_bucket_view` off, the default); AdamW's two float32
  states. Under autocast the weights the backward pass reads are also kept as low-precision copies (counted
  with the activations).
- ZeRO-2 (DeepSpeed): the prepared modules' weights in the low-precision dtype on every GPU; gradients,
  float32 master weights and optimizer states split over the GPUs.
- ZeRO-3 / FSDP full shard: weights split over the GPUs as well.
Frozen modules the recipe does not hand to accelerate (the LLM without LoRA, the VAE, the CLIP teacher) are
whole on every GPU in `model.frozen_dtype`. Communication buckets and the one gathered layer of ZeRO-3 are
left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from llmdiff.plan.activations import ActivationEstimate
from llmdiff.plan.components import DTYPE_BYTES, RunModels

STRATEGIES = ("ddp", "zero2", "zero3")
STRATEGY_NAMES = {"ddp": "DDP", "zero2": "ZeRO-2", "zero3": "ZeRO-3 / FSDP"}
GiB = 2**30


@dataclass
class GPUMemory:
    strategy: str
    weights: int
    gradients: int
    optimizer: int
    master_weights: int
    activations: int
    """With gradient checkpointing if the config turns it on."""
    activations_other: int
    """The activation figure for the other checkpointing setting."""

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.master_weights + self.activations

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def gpu_memory(models: RunModels, activations: ActivationEstimate, strategy: str, gpus: int,
               mixed_precision: str, checkpointing: bool) -> GPUMemory:
    low = mixed_precision != "no"
    weights = gradients = optimizer = master = 0
    for component in models.components:
        total, trainable = component.parameters, component.trainable
        if not component.learns:
            weights += total * DTYPE_BYTES[component.held_dtype]
            continue
        if strategy == "ddp":
            weights += total * 4
            gradients += trainable * 4 * (2 if gpus > 1 else 1)
            optimizer += trainable * 8
            continue
        shards = gpus
        weight_bytes = 2 if low else 4
        weights += total * weight_bytes // (shards if strategy == "zero3" else 1)
        gradients += trainable * weight_bytes // shards
        optimizer += trainable * 8 // shards
        master += trainable * 4 // shards if low else 0
    kept = activations.with_checkpointing, activations.without_checkpointing
    used, other = kept if checkpointing else kept[::-1]
    autocast_copies = activations.saved_weights_of_learners if strategy == "ddp" and low else 0
    return GPUMemory(strategy, weights, gradients, optimizer, master, used + autocast_copies, other + autocast_copies)
