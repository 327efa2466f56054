"""LoRA weights of a release turned into peft's named layout.

LaVi-Bridge saves its LoRA as a plain list [up0, down0, up1, down1, ...] with no names: the order in which
its injection walks the model. That walk is repeated here on the same model built on the meta device:
every module whose class is one of the release's target classes, in `named_modules` order, and inside
each, every nn.Linear and nn.Conv2d in `named_modules` order. `up` is peft's `lora_B`, `down` its `lora_A`;
for a Conv2d, down keeps the layer's kernel, stride and padding and up is 1x1 (as in peft). The release
scales the LoRA by 1.0, which peft gives with lora_alpha = r.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from llmdiff.errors import UserError


def lora_targets(model: nn.Module, ancestor_classes: frozenset[str]) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Linear/Conv2d inside a module of `ancestor_classes`, in the release's order."""
    targets: list[tuple[str, nn.Module]] = []
    for ancestor_name, ancestor in model.named_modules():
        if type(ancestor).__name__ not in ancestor_classes:
            continue
        for name, module in ancestor.named_modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                targets.append((f"{ancestor_name}.{name}" if ancestor_name else name, module))
    names = [name for name, _ in targets]
    if len(set(names)) != len(names):  # nested target classes would make the walk visit a layer twice
        raise ValueError("target classes nest inside each other; the LoRA order is ambiguous")
    return targets


def _expected_shapes(module: nn.Module, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if isinstance(module, nn.Conv2d):
        return (module.out_channels, rank, 1, 1), (rank, module.in_channels, *module.kernel_size)
    return (module.out_features, rank), (rank, module.in_features)


def name_lora_list(tensors: list[torch.Tensor], targets: list[tuple[str, nn.Module]], source: Path,
                   what: str) -> tuple[dict[str, torch.Tensor], int]:
    """{module name + '.lora_A.weight' / '.lora_B.weight': tensor} and the rank, or a one-line error."""
    if len(tensors) != 2 * len(targets):
        raise UserError(
            f"'{source}' holds {len(tensors)} tensors, but a LoRA of {what} has {2 * len(targets)} "
            f"({len(targets)} layers, an up and a down each); is it the LoRA of another model?"
        )
    if not tensors:
        raise UserError(f"'{source}' holds no tensors")
    rank = int(tensors[1].shape[0])
    state: dict[str, torch.Tensor] = {}
    for index, (name, module) in enumerate(targets):
        up, down = tensors[2 * index], tensors[2 * index + 1]
        want_up, want_down = _expected_shapes(module, rank)
        if tuple(up.shape) != want_up or tuple(down.shape) != want_down:
            raise UserError(
                f"'{source}': LoRA pair {index} (layer {name}) has up {list(up.shape)} and down "
                f"{list(down.shape)}, expected up {list(want_up)} and down {list(want_down)} (rank {rank})"
            )
        state[f"{name}.lora_B.weight"] = up.contiguous()
        state[f"{name}.lora_A.weight"] = down.contiguous()
    return state, rank


def target_names(model: nn.Module, names: list[str]) -> list[str]:
    """peft `target_modules` naming exactly these layers: their last names when those pick no other
    Linear/Conv2d of the model, else the full names."""
    short = sorted({name.rsplit(".", 1)[-1] for name in names})
    picked = {
        name for name, module in model.named_modules()
        if isinstance(module, (nn.Linear, nn.Conv2d)) and name.rsplit(".", 1)[-1] in short
    }
    return short if picked == set(names) else sorted(names)


def write_peft_lora(directory: Path, state: dict[str, torch.Tensor], config: dict) -> None:
    """peft's layout: adapter_config.json + adapter_model.safetensors (keys `base_model.model.<layer>...`)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_file({f"base_model.model.{key}": value for key, value in state.items()},
              str(directory / "adapter_model.safetensors"), metadata={"format": "pt"})
    (directory / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def peft_lora_config(rank: int, targets: list[str], llm: str | None, alpha: float | None = None) -> dict:
    """A peft LoraConfig as JSON (through peft itself, so every field is one this peft knows)."""
    from peft import LoraConfig

    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank, lora_dropout=0.0,
                        target_modules=targets, bias="none", inference_mode=True)
    settings = config.to_dict()
    settings["base_model_name_or_path"] = llm
    settings["target_modules"] = sorted(settings["target_modules"])
    return json.loads(json.dumps(settings, default=lambda value: sorted(value) if isinstance(value, set) else str(value)))


def write_unet_lora(directory: Path, state: dict[str, torch.Tensor], rank: int) -> None:
    """The UNet's LoRA in diffusers' LoRA layout (pytorch_lora_weights.safetensors, keys `unet.<layer>.lora_A.weight`):
    `pipe.load_lora_weights(directory)` loads it; alpha = rank (scale 1.0) is recorded in the file."""
    from diffusers import StableDiffusionPipeline

    layers = sorted({key.rsplit(".lora_", 1)[0] for key in state})
    metadata = {"r": rank, "lora_alpha": rank, "target_modules": layers, "lora_dropout": 0.0, "bias": "none"}
    StableDiffusionPipeline.save_lora_weights(directory, unet_lora_layers=state, safe_serialization=True,
                                              unet_lora_adapter_metadata=metadata)
