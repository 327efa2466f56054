"""A UNet LoRA shipped in an adapter folder (a converted release such as LaVi-Bridge), in diffusers' layout.

`adapter/unet_lora/pytorch_lora_weights.safetensors` holds keys `unet.<layer>.lora_A.weight` /
`lora_B.weight` with the LoRA's rank and alpha in the file's metadata, so diffusers' own
`pipe.load_lora_weights(folder)` reads it. Loading a model folder applies it to the base pipeline's UNet.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmdiff.errors import UserError
from llmdiff.files import existing_subfolder
from llmdiff.loading import user_errors

UNET_LORA_DIR = "unet_lora"
"""Folder of an adapter directory that holds the LoRA of the base model's UNet."""
UNET_LORA_WEIGHTS = "pytorch_lora_weights.safetensors"


def unet_lora_dir(adapter_dir: str | os.PathLike | None) -> Path | None:
    """The adapter's UNet LoRA folder, or None when it has none (or is not a local folder)."""
    return existing_subfolder(adapter_dir, UNET_LORA_DIR)


def apply_unet_lora(pipeline, adapter_dir: str | os.PathLike | None, fuse: bool = True) -> bool:
    """Load the adapter's UNet LoRA into a diffusers pipeline; `fuse` folds it into the weights and drops
    the LoRA layers (no cost per step). Returns whether there was one."""
    directory = unet_lora_dir(adapter_dir)
    if directory is None:
        return False
    if not (directory / UNET_LORA_WEIGHTS).is_file():
        raise UserError(f"UNet LoRA folder '{directory}' has no {UNET_LORA_WEIGHTS} (only safetensors weights are read)")
    with user_errors("UNet LoRA", str(directory)):
        pipeline.load_lora_weights(str(directory), weight_name=UNET_LORA_WEIGHTS)
        if fuse:
            pipeline.fuse_lora()
            pipeline.unload_lora_weights()
    return True
