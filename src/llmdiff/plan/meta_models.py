"""The models of a run built from their configs on the meta device: real shapes, no weights, no memory."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from llmdiff.errors import UserError
from llmdiff.plan.sources import config_folder, read_json

STAND_INS = {"BaichuanForCausalLM": "llama"}
"""Architectures whose modelling code lives on the hub (trust_remote_code) but whose layers have the shapes of
a transformers family, so planning builds that family instead of running remote code. Baichuan2-7B is Llama
layer for layer: q, k and v fused into one `W_pack` of the same size, and a normalised LM head of the same
shape, so its parameters and activations are Llama's at its widths."""

_NOT_CONFIG = ("model_type", "architectures", "auto_map", "transformers_version", "_name_or_path", "tokenizer_class")


def empty_weights(on_meta: bool = True):
    """Models built inside are on the meta device (or, `on_meta` false, real and randomly initialised)."""
    import contextlib

    from accelerate import init_empty_weights

    return init_empty_weights(include_buffers=True) if on_meta else contextlib.nullcontext()


def llm_config(spec: str | os.PathLike | None):
    """The transformers config of an LLM spec (local folder, shipped hub id, `.gguf` file or None: the default)."""
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if spec is None or str(spec).endswith(".gguf"):
        from llmdiff.loading import LLMSource, user_errors

        source = LLMSource.parse(spec)
        with user_errors("LLM config", source.describe()):
            return AutoConfig.from_pretrained(source.path, gguf_file=source.gguf_file)
    folder = config_folder(str(spec), "LLM")
    data = read_json(folder / "config.json")
    model_type = data.get("model_type")
    stand_in = None
    if model_type not in CONFIG_MAPPING:
        stand_in = next((STAND_INS[name] for name in data.get("architectures") or () if name in STAND_INS), None)
        if stand_in is None:
            raise UserError(
                f"LLM '{spec}': model type {model_type!r} is not one transformers knows and has no stand-in "
                f"for planning (known stand-ins: {', '.join(STAND_INS)})"
            )
    fields = {key: value for key, value in data.items() if key not in _NOT_CONFIG}
    fields["use_cache"] = False  # training reads states, never a generation cache
    config = AutoConfig.for_model(stand_in or model_type, **fields)
    if stand_in:
        config.planned_as = f"{model_type} planned as {stand_in} (the same layer shapes; its own code is not run)"
    return config


def build_llm(config, layers: tuple[int, ...] = (-1,), with_head: bool = False, on_meta: bool = True) -> nn.Module:
    """The LLM as the text encoder holds it: the transformer without its LM head (the encoder alone for an
    encoder-decoder), with the layers past the deepest hidden state read dropped (`with_head`: the whole
    causal LM, as published)."""
    from transformers import AutoModel, AutoModelForCausalLM

    from llmdiff.text_encoder import _drop_unread_layers

    with empty_weights(on_meta):
        model = (AutoModelForCausalLM if with_head else AutoModel).from_config(config)
    if with_head:
        return model
    if getattr(config, "is_encoder_decoder", False):
        model = model.get_encoder()
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    num_layers = int(getattr(text_config, "num_hidden_layers", None) or text_config.num_layers)
    deepest = max(layer % (num_layers + 1) for layer in layers)
    _drop_unread_layers(model, deepest, num_layers)
    return model


@dataclass
class BaseModels:
    unet: nn.Module
    vae: nn.Module
    text_encoders: dict[str, nn.Module]
    """The pipeline's CLIP encoders by folder name (text_encoder, text_encoder_2)."""
    unet_config: dict


def build_base(spec: str, with_clip: bool, on_meta: bool = True) -> BaseModels:
    """UNet, VAE and (with_clip) CLIP encoders of a diffusers pipeline folder or shipped hub id."""
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel

    folder = config_folder(spec, "base model")
    index = read_json(folder / "model_index.json")
    unet_config = read_json(folder / "unet" / "config.json")
    with empty_weights(on_meta):
        unet = UNet2DConditionModel.from_config(unet_config)
        vae = AutoencoderKL.from_config(read_json(folder / "vae" / "config.json"))
    encoders = {}
    for name in ("text_encoder", "text_encoder_2") if with_clip else ():
        entry = index.get(name)
        if not entry or entry[1] is None:
            continue
        cls = getattr(transformers, entry[1], None)  # the class model_index.json names, as diffusers reads it
        if cls is None:
            raise UserError(f"{folder / 'model_index.json'}: {name} class {entry[1]!r} is not in transformers")
        config = cls.config_class.from_dict(read_json(folder / name / "config.json"))
        with empty_weights(on_meta):
            encoders[name] = cls(config)
    return BaseModels(unet, vae, encoders, unet_config)


def count(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def to_dtype(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Meta parameters cast in place (nothing is allocated)."""
    for param in module.parameters():
        param.data = param.data.to(dtype)
    return module
