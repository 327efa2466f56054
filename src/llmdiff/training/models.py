"""Loading and preparing the models a stage needs: LLM, base pipeline, adapter, LoRA, feature caches."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import torch
from torch import nn

from llmdiff.connectors import FAMILIES, Connector, build_connector, load_connector
from llmdiff.errors import UserError
from llmdiff.pipeline import load_base_pipeline
from llmdiff.encoding_cache import EncodingCache
from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig
from llmdiff.training.cache import FeatureCache, LatentFeatures, fingerprint, latent_cache_enabled
from llmdiff.training.config import RunConfig
from llmdiff.training.teacher import CLIPTeacher

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
UNET_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
"""Attention projections of diffusers' `Attention`, the same names in every UNet."""


def frozen_dtype(config: RunConfig) -> torch.dtype:
    return DTYPES[config.model.frozen_dtype]


def text_encoder_config(config: RunConfig) -> TextEncoderConfig:
    """The encoder settings of the run: those saved with `model.adapter`, updated by `model.text_encoder`.

    An adapter only works with the hidden states it was trained on, so a later stage that starts from
    it reads the same layers, and is refused if its config names other ones.
    """
    from llmdiff.pipeline import load_text_encoder_config

    own = config.model.text_encoder
    saved = load_text_encoder_config(config.model.adapter)[1] if config.model.adapter else None
    try:
        resolved = TextEncoderConfig(**{**(saved.to_dict() if saved else {}), **own})
    except TypeError as error:
        raise UserError(f"config: model.text_encoder: {error}") from None
    clashes = [key for key in ("layers", "layer_reduction", "instruction")
               if saved is not None and key in own and getattr(resolved, key) != getattr(saved, key)]
    if clashes:
        raise UserError(
            f"config: model.text_encoder sets {', '.join(clashes)} unlike the adapter it starts from "
            f"({config.model.adapter}); leave it out to use the adapter's"
        )
    return resolved


def text_encoder_settings(config: RunConfig) -> dict:
    """`text_encoder_config` as plain data, every field spelled out (cache keys compare equal across stages)."""
    return text_encoder_config(config).to_dict()


def start_llm_lora(config: RunConfig) -> Path | None:
    """The LLM LoRA of the adapter the run starts from (`llm_lora/` beside it), if it has one."""
    from llmdiff.llm_lora import llm_lora_dir

    return llm_lora_dir(config.model.adapter)


def llm_spec(config: RunConfig) -> str | None:
    """The LLM spec an exported adapter records: a local path made absolute, a hub id as it is."""
    llm = config.model.llm
    return str(Path(llm).resolve()) if llm is not None and Path(llm).exists() else llm


def load_text_encoder(config: RunConfig, dtype: torch.dtype, merge_lora: bool = True) -> LLMTextEncoder:
    """The run's LLM, with the starting adapter's LLM LoRA merged in (`merge_lora`) when it has one."""
    lora = start_llm_lora(config) if merge_lora else None
    encoder = LLMTextEncoder.from_pretrained(config.model.llm, config=text_encoder_config(config), dtype=dtype, lora=lora)
    # No encode-once cache in training: a batch put together from rows encoded in other batches differs from a
    # fresh encoding by kernel rounding, and a resumed run (its cache empty) must take exactly the steps the
    # uninterrupted run took. Captions seldom repeat within a cache's reach anyway.
    encoder.cache = EncodingCache(size=0)
    return encoder


def load_base(config: RunConfig, dtype: torch.dtype, with_clip: bool):
    return load_base_pipeline(config.model.base, dtype=dtype, with_clip=with_clip)


def build_adapter(config: RunConfig, llm_dim: int, info, length: int | None = None) -> Connector:
    """The stage's connector: loaded from `model.adapter` (its own family), or a fresh one of the family
    `model.connector` names; `length`, when given, is the number of positions it must output (stage 1's
    teacher length), and a family that cannot give that is refused."""
    if config.model.adapter:
        adapter = load_connector(config.model.adapter)
        adapter.check_compatible(llm_dim, info.cond_dim, info.pooled_dim, where=config.model.adapter)
    else:
        options = dict(config.model.adapter_config)
        family = FAMILIES[config.model.connector]
        if length is not None and "num_queries" in inspect.signature(family.__init__).parameters:
            options.setdefault("num_queries", length)  # a fixed-length family sized to the teacher
        try:
            adapter = build_connector(config.model.connector, llm_dim, info.cond_dim, info.pooled_dim, **options)
        except TypeError as error:
            raise UserError(f"config: model.adapter_config: {error}") from None
    if length is not None:
        check_teacher_compatible(adapter, length)
    return adapter.float()


def check_teacher_compatible(adapter: Connector, length: int) -> None:
    """Stage 1 pulls the connector's output, position by position, toward the CLIP teacher's `length`
    positions: refused for a connector whose output depends on the denoising step, or whose length is not
    `length` whatever the prompt's (probed on two prompt lengths)."""
    family = adapter.family
    if adapter.timestep_aware:
        raise UserError(f"stage 1 (align) cannot train a '{family}' connector: its output changes with the denoising "
                        "step, so no single CLIP target fits it; train it with the diffusion loss (stage end_to_end, "
                        "train.components: [adapter])")
    lengths = set()
    weight = next(adapter.parameters(), torch.zeros(()))  # a connector may have none (identity)
    with torch.no_grad():
        for tokens in (3, 5):
            states = torch.zeros(1, tokens, adapter.llm_dim, dtype=weight.dtype, device=weight.device)
            mask = torch.ones(1, tokens, dtype=torch.long, device=weight.device)
            lengths.add(adapter(states, mask).prompt_embeds.shape[1])
    if lengths != {length}:
        given = "one position per LLM token" if len(lengths) > 1 else f"{lengths.pop()} positions"
        raise UserError(f"stage 1 (align) needs {length} output positions to match the CLIP teacher "
                        f"(loss.teacher_chunks x 75 + 2), but the '{family}' connector gives {given}; "
                        "skip stage 1 for it and start with stage end_to_end")


def add_unet_lora(unet, rank: int) -> None:
    from peft import LoraConfig

    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=UNET_LORA_TARGETS, init_lora_weights="gaussian"))


def add_llm_lora(encoder: LLMTextEncoder, rank: int, start: Path | None = None) -> None:
    """LoRA on every linear layer of the LLM (peft's `all-linear`: no names guessed), trained on from
    `start` (a saved LLM LoRA, whose own rank then holds) or fresh at `rank`."""
    from peft import LoraConfig, get_peft_model

    from llmdiff.llm_lora import with_llm_lora

    encoder.model.requires_grad_(False)
    if start is not None:
        encoder.model = with_llm_lora(encoder.model, start, trainable=True)
    else:
        encoder.model = get_peft_model(encoder.model, LoraConfig(r=rank, lora_alpha=rank, target_modules="all-linear"))
    encoder.model.train()


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    return [param for param in module.parameters() if param.requires_grad]


def export_base(source: str, target: Path, replace: dict[str, object]) -> None:
    """A complete diffusers pipeline folder at `target`: `source` with the `replace`d components saved."""
    if target.exists():
        shutil.rmtree(target)
    if Path(source).is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(*replace))
    else:
        pipeline, _ = load_base_pipeline(source, with_clip=True)
        pipeline.save_pretrained(target, safe_serialization=True)
    for name, module in replace.items():
        if (target / name).exists():
            shutil.rmtree(target / name)
        module.save_pretrained(target / name, safe_serialization=True)


# Feature caches: the key holds every file of the model and every setting that shapes the features.

def llm_cache(config: RunConfig) -> FeatureCache:
    from llmdiff.defaults import default_llm_path

    source = config.model.llm if config.model.llm is not None else default_llm_path()
    settings = {"text_encoder": text_encoder_settings(config), "frozen_dtype": config.model.frozen_dtype}
    lora = start_llm_lora(config)  # the LoRA changes the states; runs without one keep their old keys
    sources = (source,) if lora is None else (source, lora)
    return FeatureCache(config.cache.dir, "llm", fingerprint(*sources), settings, config.cache.dtype)


def teacher_cache(config: RunConfig, teacher: CLIPTeacher) -> FeatureCache:
    base = Path(config.model.base)
    parts = [base / name for name in ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")]
    settings = {"chunks": teacher.chunks, "family": teacher.family, "frozen_dtype": config.model.frozen_dtype}
    return FeatureCache(config.cache.dir, "teacher", fingerprint(*parts), settings, config.cache.dtype)


def latent_cache(config: RunConfig) -> FeatureCache:
    settings = {"resolution": config.data.resolution, "crop": "center", "frozen_dtype": config.model.frozen_dtype}
    return FeatureCache(config.cache.dir, "latents", fingerprint(Path(config.model.base) / "vae"), settings,
                        config.cache.dtype)


def latent_features(config: RunConfig, vae, images) -> LatentFeatures:
    """The VAE latents of examples' images, read from the cache when the config has one (`latent_cache_enabled`)."""
    return LatentFeatures(vae, images, latent_cache(config).open() if latent_cache_enabled(config) else None)


def conditioned_denoiser(unet, info, adapter, states: torch.Tensor, mask: torch.Tensor, resolution: int,
                         timestep_aware: bool, rows: list[int] | None = None):
    """`f(x_t, t)` for `DiffusionLoss` conditioned through `adapter` on LLM `states` (only `rows` of them when
    given): the adapter runs once, or, when it is `timestep_aware`, on each call with the noise step `t`."""
    if rows is not None:
        states, mask = states[rows], mask[rows]
    if not timestep_aware:
        out = adapter(states, mask)
        return denoiser(unet, info, out.prompt_embeds, out.pooled_prompt_embeds, resolution)

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = adapter(states, mask, timestep=t)
        return denoiser(unet, info, out.prompt_embeds, out.pooled_prompt_embeds, resolution)(x_t, t)

    return denoise


def denoiser(unet, info, embeds: torch.Tensor, pooled: torch.Tensor | None, resolution: int):
    """`f(x_t, t)` for `DiffusionLoss`: the UNet conditioned on `embeds` (and SDXL's pooled + size ids)."""
    extra = {}
    if info.family == "sdxl":
        # SDXL micro-conditioning: original size, crop top-left, target size (Podell et al. 2023, §2.2).
        ids = torch.tensor([resolution, resolution, 0, 0, resolution, resolution], dtype=embeds.dtype)
        extra["added_cond_kwargs"] = {
            "text_embeds": pooled,
            "time_ids": ids.to(embeds.device).expand(embeds.shape[0], -1),
        }

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return unet(x_t, t, encoder_hidden_states=embeds, **extra).sample

    return denoise
