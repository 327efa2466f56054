"""The LoRA an LLM was trained with in stage 2, kept beside the adapter instead of a whole copy of the LLM.

An adapter folder may hold `llm_lora/` in peft's layout (`adapter_config.json` + `adapter_model.safetensors`):
loading the adapter loads its LLM as usual, then merges this LoRA into it, so the states the adapter
reads are the ones it was trained on. A LoRA of rank 8 on a 135M-parameter LLM is about 5 MB, where the
merged LLM would be the whole model again. Weights are read from safetensors only; a folder without
them is refused, never unpickled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from torch import nn

from llmdiff.errors import UserError
from llmdiff.files import existing_subfolder

LLM_LORA_DIR = "llm_lora"
"""Folder of an adapter directory that holds the LoRA of its LLM."""
LORA_WEIGHTS = "adapter_model.safetensors"


def llm_lora_dir(adapter_dir: str | os.PathLike | None) -> Path | None:
    """The adapter's LLM LoRA folder, or None when it has none (or is not a local folder)."""
    return existing_subfolder(adapter_dir, LLM_LORA_DIR)


def _layer_index(key: str) -> int | None:
    match = re.search(r"\.layers\.(\d+)\.", key)
    return int(match.group(1)) if match else None


def with_llm_lora(model: nn.Module, directory: str | os.PathLike, trainable: bool = False) -> nn.Module:
    """`model` wrapped in peft with the LoRA saved in `directory` (not merged; `trainable` to train it on).

    Weights for layers the encoder dropped (it reads a shallower state than the LoRA covers) are
    skipped: they cannot change the states read. Any other weight that fits no module is an error.
    """
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    weights = directory / LORA_WEIGHTS
    if not weights.is_file():
        raise UserError(f"LLM LoRA folder '{directory}' has no {LORA_WEIGHTS} (only safetensors weights are read)")
    try:
        config = LoraConfig.from_pretrained(str(directory))
        state = load_file(str(weights))
    except (OSError, ValueError, TypeError, SafetensorError) as error:
        raise UserError(f"could not read the LLM LoRA in '{directory}': {' '.join(str(error).split())}") from error
    config.inference_mode = not trainable
    wrapped = get_peft_model(model, config)
    result = set_peft_model_state_dict(wrapped, state)
    layers = getattr(model, "layers", None)
    kept = len(layers) if isinstance(layers, nn.ModuleList) else None

    def in_dropped_layer(key: str) -> bool:
        index = _layer_index(key)
        return kept is not None and index is not None and index >= kept

    unfit = [key for key in result.unexpected_keys if not in_dropped_layer(key)]
    if unfit:
        raise UserError(
            f"the LLM LoRA in '{directory}' does not fit this LLM: {len(unfit)} weight(s) match no layer "
            f"(e.g. {unfit[0]}); was it trained on another LLM?"
        )
    if trainable:
        for name, parameter in wrapped.named_parameters():
            parameter.requires_grad_("lora_" in name)
    return wrapped


def merge_llm_lora(model: nn.Module, directory: str | os.PathLike) -> nn.Module:
    """`model` with the LoRA in `directory` merged into its weights (a plain model again, no peft layers)."""
    wrapped = with_llm_lora(model, directory)
    if not _merge_plain_lora(wrapped):
        return wrapped.merge_and_unload()
    return wrapped.unload()


def _merge_plain_lora(wrapped: nn.Module) -> bool:
    """Merge a plain LoRA (linear layers, no variant, no bias) with one in-place `addmm_` per weight.

    The same update as peft's merge (W += scaling * B @ A), in one pass over each weight instead of three
    (product, scaling, sum): loading the shipped model's LLM LoRA took 1.3 s this way against 3.1 s through
    `merge_and_unload` on a busy 2-core CPU. Returns False, merging nothing, when any layer is not plain;
    peft's own merge then handles it.
    """
    import torch
    from peft.tuners.lora import Linear as LoraLinear
    from peft.tuners.lora import LoraLayer

    layers = [module for module in wrapped.modules() if isinstance(module, LoraLayer)]
    plain = all(
        type(layer) is LoraLinear and not layer.lora_variant and not layer.fan_in_fan_out
        and not any(layer.lora_bias.values()) and not layer.merged
        for layer in layers
    )
    if not plain:
        return False
    # One thread: a rank-r update is too small to share, and on 2 CPU cores each call waited on the thread
    # pool (105 updates of SmolLM2: 0.7 s with 2 threads, 0.04 s with one).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for layer in layers:
                weight = layer.get_base_layer().weight
                for name in layer.active_adapters:
                    if name in layer.lora_A:
                        down, up = layer.lora_A[name].weight, layer.lora_B[name].weight
                        weight.addmm_(up.to(weight.dtype), down.to(weight.dtype), alpha=layer.scaling[name])
    finally:
        torch.set_num_threads(threads)
    return True


def write_llm_lora(peft_model: nn.Module, target: str | os.PathLike, llm: str | None = None) -> None:
    """Save a peft-wrapped LLM's LoRA in `target` (peft's layout, safetensors), naming its LLM as `llm`.

    peft would record the folder this machine loaded the LLM from (a cache path) and add a blank model card;
    the LLM is named as the run named it instead (None: the default LLM), and the card stays out.
    """
    target = Path(target)
    peft_model.save_pretrained(target, safe_serialization=True)
    (target / "README.md").unlink(missing_ok=True)
    settings = json.loads((target / "adapter_config.json").read_text(encoding="utf-8"))
    settings["base_model_name_or_path"] = llm
    (target / "adapter_config.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def save_llm_lora(lora: str | os.PathLike | None, adapter_dir: str | os.PathLike) -> None:
    """Put the LoRA folder `lora` (None: none) in `adapter_dir` as its `llm_lora/`, replacing any there."""
    target = Path(adapter_dir) / LLM_LORA_DIR
    if lora is not None and Path(lora).resolve() == target.resolve():
        return  # saved over the adapter it was loaded from: the LoRA is already in place
    if target.exists():
        shutil.rmtree(target)
    if lora is not None:
        shutil.copytree(lora, target)
