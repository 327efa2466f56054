"""Text-to-image generation with an LLM text encoder, through unmodified diffusers pipelines.

The LLM reads the prompt, the adapter maps its states into the base model's conditioning space, and the
result enters a stock `StableDiffusionPipeline` or `StableDiffusionXLPipeline` as `prompt_embeds`. Every
diffusers scheduler and pipeline feature therefore keeps working; the base model's CLIP encoders are not
loaded unless asked for as a baseline.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from llmdiff.adapter import AdapterOutput, LLMAdapter
from llmdiff.defaults import with_default_model
from llmdiff.errors import UserError
from llmdiff.files import give_usual_modes
from llmdiff.llm_lora import llm_lora_dir, save_llm_lora
from llmdiff.loading import check_source, user_errors
from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig, validate_prompt

TEXT_ENCODER_CONFIG_NAME = "text_encoder_config.json"
"""Saved beside an adapter: the LLM and layer choice it was trained with."""
GENERATION_CONFIG_NAME = "generation_config.json"
"""Saved beside an adapter: the sampling settings it was measured best with."""

SDXL_TIME_IDS = 6  # original size, crop top-left, target size: two numbers each


@dataclass
class BaseModelInfo:
    """What the adapter must produce for a base model, read from its UNet config (never its name)."""

    family: str
    """"sd" (one CLIP encoder, token sequence only) or "sdxl" (two encoders, sequence + pooled)"""
    cond_dim: int
    pooled_dim: int | None

    @classmethod
    def from_unet_config(cls, config) -> "BaseModelInfo":
        cond_dim = config["cross_attention_dim"]
        if isinstance(cond_dim, (list, tuple)):
            cond_dim = cond_dim[0]
        if config.get("addition_embed_type") == "text_time":
            time_dims = config["addition_time_embed_dim"] * SDXL_TIME_IDS
            pooled = config["projection_class_embeddings_input_dim"] - time_dims
            return cls("sdxl", int(cond_dim), int(pooled))
        return cls("sd", int(cond_dim), None)


@dataclass
class GenerationOutput:
    images: list
    """PIL images (or arrays/tensors for other `output_type`s), `num_images_per_prompt` per prompt"""
    prompts: list[str]
    """the prompt of each image"""
    seeds: list[int | None]
    """the seed of each image: generating that prompt alone with that seed gives the same image"""
    token_counts: list[int] = field(default_factory=list)
    """LLM tokens each prompt kept"""
    dropped_tokens: list[int] = field(default_factory=list)
    """LLM tokens each prompt lost to truncation"""


def check_generation_args(num_inference_steps, guidance_scale, height, width, num_images_per_prompt) -> None:
    """Refuse impossible settings; None steps, guidance or size mean "the model's own"."""
    if num_inference_steps is not None and (
        isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1
    ):
        raise UserError(f"steps must be a positive integer, not {num_inference_steps!r}")
    if guidance_scale is not None and (
        isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float))
        or not math.isfinite(guidance_scale) or guidance_scale < 0
    ):
        raise UserError(f"guidance scale must be a finite number ≥ 0, not {guidance_scale!r}")
    for name, value in (("height", height), ("width", width)):
        if value is not None and (not isinstance(value, int) or value < 8 or value % 8):
            raise UserError(f"{name} must be a positive multiple of 8, not {value!r}")
    if not isinstance(num_images_per_prompt, int) or num_images_per_prompt < 1:
        raise UserError(f"images per prompt must be a positive integer, not {num_images_per_prompt!r}")


@dataclass(frozen=True)
class GenerationDefaults:
    """The steps and guidance a call gets when it names none.

    An adapter folder may carry its own in `generation_config.json` (the settings its model was measured
    best with, e.g. a lower guidance scale); without one, these library defaults apply.
    """

    num_inference_steps: int = 30
    guidance_scale: float = 7.5

    def __post_init__(self) -> None:
        if self.num_inference_steps is None or self.guidance_scale is None:
            raise UserError("generation defaults name a number of steps and a guidance scale, not null")
        check_generation_args(self.num_inference_steps, self.guidance_scale, None, None, 1)

    @classmethod
    def load(cls, adapter_dir: str | os.PathLike) -> "GenerationDefaults":
        path = Path(adapter_dir) / GENERATION_CONFIG_NAME
        if not path.is_file():
            return cls()
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, UserError) as error:
            raise UserError(f"cannot read {path}: {error}") from error

    def save(self, directory: str | os.PathLike) -> None:
        text = json.dumps({"num_inference_steps": self.num_inference_steps, "guidance_scale": self.guidance_scale})
        (Path(directory) / GENERATION_CONFIG_NAME).write_text(text + "\n", encoding="utf-8")

    def fill(self, num_inference_steps: int | None, guidance_scale: float | None) -> tuple[int, float]:
        """The given settings, with these defaults in place of the ones left None."""
        return (self.num_inference_steps if num_inference_steps is None else num_inference_steps,
                self.guidance_scale if guidance_scale is None else guidance_scale)


def _as_prompt_list(prompt: str | list[str], what: str = "prompt") -> list[str]:
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise UserError(f"no {what} given")
    return [validate_prompt(p) for p in prompts]


def load_base_pipeline(base: str | os.PathLike, dtype: torch.dtype = torch.float32, with_clip: bool = False):
    """A stock diffusers pipeline from a hub id or local directory; without CLIP unless `with_clip`."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel

    base = str(base)
    check_source("base model", base)
    with user_errors("base model", base):
        info = BaseModelInfo.from_unet_config(UNet2DConditionModel.load_config(base, subfolder="unet"))
        without_clip = {} if with_clip else {"text_encoder": None, "tokenizer": None}
        if info.family == "sdxl":
            if not with_clip:
                without_clip.update(text_encoder_2=None, tokenizer_2=None)
            pipeline = StableDiffusionXLPipeline.from_pretrained(
                base, dtype=dtype, use_safetensors=True, **without_clip
            )
        else:
            pipeline = StableDiffusionPipeline.from_pretrained(
                base,
                dtype=dtype,
                use_safetensors=True,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
                **without_clip,
            )
    return pipeline, info


def load_text_encoder_config(
    adapter_dir: str | os.PathLike, trust_remote_code: bool = False
) -> tuple[str | None, TextEncoderConfig | None]:
    """The LLM spec and encoder settings an adapter was trained with, if saved beside it.

    A folder cannot grant itself the right to run its LLM's own code: its `trust_remote_code` is kept
    only when the caller passes `trust_remote_code=True`; otherwise loading such an LLM stops with a
    one-line error saying how to opt in.
    """
    path = Path(adapter_dir) / TEXT_ENCODER_CONFIG_NAME
    if not path.is_file():
        return None, None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UserError(f"cannot read {path}: {' '.join(str(error).split())}") from error
    if not isinstance(saved, dict):
        raise UserError(f"cannot read {path}: it holds no settings object")
    llm = saved.pop("llm", None)
    if not trust_remote_code:
        saved.pop("trust_remote_code", None)
    try:
        return llm, TextEncoderConfig.from_dict(saved, where=str(path))
    except TypeError as error:
        raise UserError(f"cannot read {path}: {error}") from error


def save_text_encoder_config(directory: str | os.PathLike, config: TextEncoderConfig, llm: str | None = None) -> None:
    """Write the encoder settings (and optionally the LLM spec) that `load_text_encoder_config` reads."""
    settings = config.to_dict()
    if llm is not None:
        settings["llm"] = llm
    text = json.dumps(settings, indent=2) + "\n"
    (Path(directory) / TEXT_ENCODER_CONFIG_NAME).write_text(text, encoding="utf-8")


def save_adapter(adapter: LLMAdapter, text_encoder: LLMTextEncoder, directory: str | os.PathLike,
                 llm: str | None = None) -> None:
    """The adapter in HF layout with what loading it needs beside it: the encoder settings (and optionally
    the LLM spec), and the LLM LoRA the encoder merged at load, since the adapter reads states made with it."""
    directory = Path(directory)
    adapter.save_pretrained(directory, safe_serialization=True)
    save_text_encoder_config(directory, text_encoder.config, llm)
    save_llm_lora(text_encoder.lora, directory)
    for written in (directory / "diffusion_pytorch_model.safetensors", llm_lora_dir(directory)):
        if written is not None and written.exists():
            give_usual_modes(written)  # safetensors writes its files private; a model folder is for sharing


class LLMDiffusionPipeline:
    """An LLM text encoder + adapter in front of a stock diffusers pipeline (`.base`)."""

    def __init__(
        self,
        base,
        text_encoder: LLMTextEncoder,
        adapter: LLMAdapter,
        info: BaseModelInfo,
        defaults: GenerationDefaults | None = None,
    ):
        adapter.check_compatible(text_encoder.hidden_size, info.cond_dim, info.pooled_dim)
        self.base = base
        self.text_encoder = text_encoder
        self.adapter = adapter.eval()
        self.info = info
        self.defaults = defaults or GenerationDefaults()
        """steps and guidance when a call names none (the adapter folder's generation_config.json)"""
        self._empty_embedding: AdapterOutput | None = None

    @classmethod
    def from_pretrained(
        cls,
        base: str | os.PathLike | None = None,
        llm: str | os.PathLike | None = None,
        adapter: str | os.PathLike | None = None,
        text_encoder_config: TextEncoderConfig | None = None,
        adapter_config: dict | None = None,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        with_clip: bool = False,
        text_encoder: LLMTextEncoder | None = None,
    ) -> "LLMDiffusionPipeline":
        """Load a base model, an LLM and an adapter by hub id or local path.

        With no `base`, the shipped default model (the shapes world's, with its trained adapter unless
        `adapter` names another) is loaded.

        `adapter=None` builds a freshly initialised adapter (random weights, `adapter_config` overrides
        its defaults) sized for this LLM and base model. An adapter directory may carry the LLM and
        encoder settings it was trained with; `llm` and `text_encoder_config` override those. It may also
        carry the steps and guidance it was measured best with (`generation_config.json`): a call that
        names none gets those, and the LoRA its LLM was trained with (`llm_lora/`), merged into the LLM.
        `text_encoder` is an already loaded encoder to use instead (several pipelines can share one).
        """
        if text_encoder is not None and (llm is not None or text_encoder_config is not None):
            raise UserError("pass either text_encoder or llm/text_encoder_config, not both")
        base, adapter = with_default_model(base, adapter)
        if base is None:
            raise UserError(
                "no base model given and no default model installed: pass base= (CLI: --base) with a "
                "diffusers SD1.5- or SDXL-format model directory or hub id"
            )
        saved_llm, saved_config = load_text_encoder_config(adapter) if adapter is not None else (None, None)
        if adapter is not None:
            check_source("adapter", str(adapter))
        defaults = GenerationDefaults.load(adapter) if adapter is not None else None
        pipeline, info = load_base_pipeline(base, dtype=dtype, with_clip=with_clip)
        lora = llm_lora_dir(adapter)
        if text_encoder is None:
            text_encoder = LLMTextEncoder.from_pretrained(
                llm if llm is not None else saved_llm, config=text_encoder_config or saved_config, dtype=dtype,
                lora=lora,
            )
        elif lora is not None and text_encoder.lora != str(lora.resolve()):
            raise UserError(
                f"adapter '{adapter}' was trained with a LoRA on its LLM ({lora}), which the text_encoder "
                "given does not carry; load it with LLMTextEncoder.from_pretrained(..., lora=...)"
            )
        if adapter is None:
            options = {"llm_dim": text_encoder.hidden_size, "cond_dim": info.cond_dim, "pooled_dim": info.pooled_dim}
            module = LLMAdapter(**{**options, **(adapter_config or {})})
            if dtype != torch.float32:
                module = module.to(dtype=dtype)
        else:
            module = LLMAdapter.load(adapter, torch_dtype=dtype)
            module.check_compatible(text_encoder.hidden_size, info.cond_dim, info.pooled_dim, where=str(adapter))
        pipe = cls(pipeline, text_encoder, module, info, defaults)
        return pipe.to(device) if device is not None else pipe

    def to(self, device: str | torch.device) -> "LLMDiffusionPipeline":
        self.base.to(device)
        self.text_encoder.to(device)
        self.adapter.to(device)
        self._empty_embedding = None
        return self

    @property
    def device(self) -> torch.device:
        return self.base.unet.device

    @property
    def scheduler(self):
        return self.base.scheduler

    @scheduler.setter
    def scheduler(self, scheduler) -> None:
        self.base.scheduler = scheduler

    def save_adapter(self, directory: str | os.PathLike, llm: str | None = None) -> None:
        """Save the adapter with the encoder settings it needs (and optionally the LLM spec)."""
        save_adapter(self.adapter, self.text_encoder, directory, llm)

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> tuple[AdapterOutput, list[int], list[int]]:
        """Conditioning for prompts: the adapter's output, plus tokens kept and dropped per prompt."""
        encoded = self.text_encoder.encode(prompts)
        output = self.adapter(encoded.hidden_states.to(self.device), encoded.attention_mask.to(self.device))
        return output, encoded.token_counts, encoded.dropped_tokens

    def empty_prompt_embedding(self) -> AdapterOutput:
        """The unconditional embedding, computed once and reused for classifier-free guidance."""
        if self._empty_embedding is None:
            self._empty_embedding = self.encode_prompt([""])[0]
        return self._empty_embedding

    def clear_cache(self) -> None:
        """Forget the cached empty-prompt embedding (after changing the adapter or the encoder)."""
        self._empty_embedding = None

    def _negative_embedding(self, negatives: list[str] | None, batch: int) -> AdapterOutput:
        if negatives is None or not any(negatives):
            empty = self.empty_prompt_embedding()
            return AdapterOutput(
                prompt_embeds=empty.prompt_embeds.expand(batch, -1, -1),
                attention_mask=empty.attention_mask.expand(batch, -1),
                pooled_prompt_embeds=None
                if empty.pooled_prompt_embeds is None
                else empty.pooled_prompt_embeds.expand(batch, -1),
            )
        return self.encode_prompt(negatives)[0]

    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        seed: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_images_per_prompt: int = 1,
        output_type: str = "pil",
        progress: bool = True,
        **base_kwargs,
    ) -> GenerationOutput:
        """Generate images; extra keyword arguments go to the diffusers pipeline unchanged.

        `seed` gives image i the seed `seed + i`, so each image can be regenerated alone. Steps and
        guidance left None are the model's (`self.defaults`).
        """
        prompts = _as_prompt_list(prompt)
        negatives = None if negative_prompt is None else _as_prompt_list(negative_prompt, "negative prompt")
        if negatives is not None and len(negatives) == 1:
            negatives = negatives * len(prompts)
        if negatives is not None and len(negatives) != len(prompts):
            raise UserError(f"got {len(negatives)} negative prompts for {len(prompts)} prompts")
        check_generation_args(num_inference_steps, guidance_scale, height, width, num_images_per_prompt)
        num_inference_steps, guidance_scale = self.defaults.fill(num_inference_steps, guidance_scale)
        total = len(prompts) * num_images_per_prompt
        seeds: list[int | None] = [None] * total
        if generator is None and seed is not None:
            seeds = [seed + i for i in range(total)]
            generator = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        settings = dict(
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            height=height,
            width=width,
            num_images_per_prompt=num_images_per_prompt,
            output_type=output_type,
            **base_kwargs,
        )
        self.base.set_progress_bar_config(disable=not progress, leave=False)
        if self.adapter.config.num_queries or len(prompts) == 1:
            groups = [range(len(prompts))]
        else:
            # Without learned queries, shorter prompts would be padded, and the denoiser's cross-attention
            # (which stock pipelines give no mask) would attend to the padding: one prompt at a time.
            groups = [range(i, i + 1) for i in range(len(prompts))]
        images, token_counts, dropped = [], [], []
        for group in groups:
            group_generator = generator
            if isinstance(generator, list):
                group_generator = generator[group.start * num_images_per_prompt : group.stop * num_images_per_prompt]
            out = self._generate(
                [prompts[i] for i in group],
                None if negatives is None else [negatives[i] for i in group],
                group_generator,
                settings,
            )
            images += out[0]
            token_counts += out[1]
            dropped += out[2]
        return GenerationOutput(
            images=images,
            prompts=[p for p in prompts for _ in range(num_images_per_prompt)],
            seeds=seeds,
            token_counts=token_counts,
            dropped_tokens=dropped,
        )

    def _generate(self, prompts: list[str], negatives: list[str] | None, generator, settings: dict):
        conditioning, token_counts, dropped = self.encode_prompt(prompts)
        dtype = self.base.unet.dtype
        embeds = {"prompt_embeds": conditioning.prompt_embeds.to(dtype)}
        guided = settings["guidance_scale"] > 1
        if guided:
            negative = self._negative_embedding(negatives, len(prompts))
            embeds["negative_prompt_embeds"] = negative.prompt_embeds.to(dtype)
        if guided and embeds["negative_prompt_embeds"].shape[1] != embeds["prompt_embeds"].shape[1]:
            # Only without learned queries: lengths follow the prompts, and the pipeline needs them equal.
            length = max(embeds["negative_prompt_embeds"].shape[1], embeds["prompt_embeds"].shape[1])
            for key in ("prompt_embeds", "negative_prompt_embeds"):
                embeds[key] = torch.nn.functional.pad(embeds[key], (0, 0, 0, length - embeds[key].shape[1]))
        if self.info.family == "sdxl":
            embeds["pooled_prompt_embeds"] = conditioning.pooled_prompt_embeds.to(dtype)
            if guided:
                embeds["negative_pooled_prompt_embeds"] = negative.pooled_prompt_embeds.to(dtype)
        result = self.base(generator=generator, **embeds, **settings)
        return list(result.images), token_counts, dropped
