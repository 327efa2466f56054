"""The models a stage holds, as its recipe holds them: which learn (whole or LoRA), in which dtype.

Mirrors `llmdiff/training/recipes/`: stage 1 (align) holds the LLM, the adapter, the UNet, the VAE and the
CLIP teacher; stages 2-3 the LLM, the adapter, the UNet and the VAE; cross_lingual adds a frozen teacher
adapter; the base stage holds the pipeline and no LLM. A module that learns is held in float32 (accelerate's
mixed precision autocasts its compute); a frozen one in `model.frozen_dtype`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from llmdiff.pipeline import BaseModelInfo
from llmdiff.plan.meta_models import BaseModels, build_base, build_llm, count, llm_config, to_dtype
from llmdiff.training.config import RunConfig
from llmdiff.training.models import DTYPES, UNET_LORA_TARGETS

DTYPE_BYTES = {torch.float32: 4, torch.bfloat16: 2, torch.float16: 2}


@dataclass
class Component:
    name: str
    module: nn.Module
    learns: bool
    """Among what the optimizer steps (its own weights or its LoRA): accelerate prepares it."""
    held_dtype: torch.dtype
    lora_rank: int = 0
    checkpointed: bool = False
    """The recipe turns gradient checkpointing on for it when `train.gradient_checkpointing` is set."""

    @property
    def parameters(self) -> int:
        return count(self.module)

    @property
    def trainable(self) -> int:
        return count(self.module, trainable_only=True)


@dataclass
class RunModels:
    components: list[Component]
    info: BaseModelInfo
    latent_channels: int
    latent_scale: int
    """Pixels per latent position (the VAE's downsampling factor)."""
    text_length: int
    """Tokens the LLM reads per prompt at most (`model.text_encoder.max_length`)."""
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


def text_settings(config: RunConfig) -> tuple[tuple[int, ...], int]:
    """(layers read, max tokens) of the run's text encoder, as `TextEncoderConfig` defaults them."""
    from llmdiff.text_encoder import TextEncoderConfig

    defaults = TextEncoderConfig()
    own = config.model.text_encoder
    layers = tuple(int(layer) for layer in own.get("layers", defaults.layers))
    return layers, int(own.get("max_length", defaults.max_length))


def _add_lora(module: nn.Module, rank: int, targets) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    module.requires_grad_(False)
    return get_peft_model(module, LoraConfig(r=rank, lora_alpha=rank, target_modules=targets))


def build_connector(config: RunConfig, llm_dim: int, info: BaseModelInfo, length: int | None,
                    on_meta: bool = True) -> nn.Module:
    """The stage's connector: from `model.adapter`'s config.json when that folder exists (no weights read),
    else fresh, as the stage builds it (`model.connector` + `model.adapter_config`; `length` fixes the
    learned queries of stage 1)."""
    from llmdiff.connectors import family_of_class
    from llmdiff.plan.meta_models import empty_weights
    from llmdiff.plan.sources import read_json
    from llmdiff.training.models import build_adapter

    saved = Path(config.model.adapter) / "config.json" if config.model.adapter else None
    with empty_weights(on_meta):
        if saved is not None and saved.is_file():
            data = read_json(saved)
            return family_of_class(data.get("_class_name"), str(saved)).from_config(data)
        fresh = copy.copy(config)  # a shallow copy, not re-validated: the stage may require model.adapter
        fresh.model = copy.copy(config.model)
        fresh.model.adapter = None
        return build_adapter(fresh, llm_dim, info, length)


def run_models(config: RunConfig, on_meta: bool = True) -> RunModels:
    """Every model `config`'s stage holds, built on the meta device with LoRA where the config puts it
    (`on_meta` false: real, randomly initialised, in the dtypes the recipe holds them in)."""
    learning = set(config.components)
    frozen = DTYPES[config.model.frozen_dtype]
    stage = config.stage
    base: BaseModels = build_base(config.model.base, with_clip=stage in ("align", "base"), on_meta=on_meta)
    info = BaseModelInfo.from_unet_config(base.unet_config)
    components: list[Component] = []
    notes = []
    layers, text_length = text_settings(config)
    if stage == "base":
        text_length = 77  # the base model's own CLIP encoding
    if stage != "base":
        llm_settings = llm_config(config.model.llm)
        if getattr(llm_settings, "planned_as", None):
            notes.append(f"LLM: {llm_settings.planned_as}")
        llm = build_llm(llm_settings, layers, on_meta=on_meta)
        llm.requires_grad_(False)
        if "llm" in learning:
            llm = _add_lora(llm, config.train.llm_lora_rank, "all-linear")
            components.append(Component("llm", llm, True, torch.float32, config.train.llm_lora_rank, checkpointed=True))
        else:
            components.append(Component("llm", llm, False, frozen))
        llm_dim = llm.config.hidden_size if hasattr(llm.config, "hidden_size") else llm.config.d_model
        if config.model.text_encoder.get("layer_reduction") == "concat":
            llm_dim *= len(layers)
        length = config.loss.teacher_chunks * 75 + 2 if stage == "align" else None
        adapter = build_connector(config, llm_dim, info, length, on_meta)
        learns = "adapter" in learning
        adapter.requires_grad_(learns)
        components.append(Component("adapter", adapter, learns, torch.float32 if learns else frozen))
        if stage == "cross_lingual":
            teacher = copy.deepcopy(adapter).requires_grad_(False)
            components.append(Component("teacher_adapter", teacher, False, torch.float32))
    unet = base.unet.requires_grad_(False)
    if "unet" in learning:
        if config.train.unet_lora_rank:
            unet.add_adapter(_lora_config(config.train.unet_lora_rank))
        else:
            unet.requires_grad_(True)
        components.append(Component("unet", unet, True, torch.float32, config.train.unet_lora_rank, checkpointed=True))
    else:
        components.append(Component("unet", unet, False, frozen))
    vae_learns = "vae" in learning
    components.append(Component("vae", base.vae.requires_grad_(vae_learns), vae_learns,
                                torch.float32 if vae_learns or stage == "base" else frozen))
    for name, encoder in base.text_encoders.items():
        learns = "text_encoder" in learning
        dtype = torch.float32 if stage == "base" else frozen
        components.append(Component(name, encoder.requires_grad_(learns), learns, dtype))
    for component in components:
        to_dtype(component.module, component.held_dtype)
    vae_config = base.vae.config
    return RunModels(components, info, int(base.unet_config.get("in_channels", 4)),
                     2 ** (len(vae_config.block_out_channels) - 1), text_length, notes)


def _lora_config(rank: int):
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=rank, target_modules=UNET_LORA_TARGETS)
