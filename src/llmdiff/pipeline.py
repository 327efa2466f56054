"""Text-to-image generation with an LLM text encoder, through unmodified diffusers pipelines.

The LLM reads the prompt, the adapter (a connector of any family, `llmdiff.connectors`) maps its states into
the base model's conditioning space, and the result enters a stock diffusers SD/SDXL pipeline (text-to-image,
or any other through `from_pipe`) as `prompt_embeds`. Every diffusers scheduler and pipeline feature therefore
keeps working; the base model's CLIP encoders are not loaded unless asked for (as a baseline, or to append
their tokens). A timestep-aware connector is asked again at every denoising step (`llmdiff.stepwise`).
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from llmdiff.checks import check_generation_args
from llmdiff.connectors import Connector, ConnectorOutput, build_connector, load_connector
from llmdiff.defaults import with_default_model
from llmdiff.errors import UserError
from llmdiff.files import give_usual_modes
from llmdiff.llm_lora import llm_lora_dir, save_llm_lora
from llmdiff.loading import check_source, user_errors
from llmdiff.model_dir import model_sources
from llmdiff.stepwise import Packing, place_of, step_timesteps, stepwise_conditioning
from llmdiff.text_encoder import EncodedPrompts, LLMTextEncoder, TextEncoderConfig, validate_prompt
from llmdiff.unet_lora import apply_unet_lora

TEXT_ENCODER_CONFIG_NAME = "text_encoder_config.json"
"""Saved beside an adapter: the LLM and layer choice it was trained with."""
GENERATION_CONFIG_NAME = "generation_config.json"
"""Saved beside an adapter: the sampling settings it was measured best with."""

SDXL_TIME_IDS = 6  # original size, crop top-left, target size: two numbers each
DEFAULT_FAMILY = "llmdiff"
"""The connector family a fresh adapter is built of when none is named."""


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
        if config.get("encoder_hid_dim_type") == "text_proj":
            # The UNet projects the text itself (Kolors): the connector produces the projection's input.
            cond_dim = config["encoder_hid_dim"]
        if config.get("addition_embed_type") == "text_time":
            time_dims = config["addition_time_embed_dim"] * SDXL_TIME_IDS
            pooled = config["projection_class_embeddings_input_dim"] - time_dims
            return cls("sdxl", int(cond_dim), int(pooled))
        return cls("sd", int(cond_dim), None)

    @classmethod
    def from_unet(cls, unet) -> "BaseModelInfo":
        """As `from_unet_config`, for a loaded UNet: loading an IP-Adapter turns a `text_proj` UNet's config
        into `ip_image_proj` and keeps the text projection aside as `text_encoder_hid_proj`."""
        info = cls.from_unet_config(unet.config)
        text_projection = getattr(unet, "text_encoder_hid_proj", None)
        if text_projection is not None:
            info.cond_dim = int(text_projection.in_features)
        return info


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


def save_adapter(adapter: Connector, text_encoder: LLMTextEncoder, directory: str | os.PathLike,
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
    """An LLM text encoder + connector ("adapter") in front of a stock diffusers pipeline (`.base`).

    The pipeline only asks the connector what it is: its widths (`check_compatible`), whether its output
    keeps the prompt's padding, and whether it needs the denoising timestep (`timestep_aware`: then its
    output is recomputed at every step, see `llmdiff.stepwise`). It never asks which family it is.
    """

    def __init__(
        self,
        base,
        text_encoder: LLMTextEncoder,
        adapter: Connector,
        info: BaseModelInfo,
        defaults: GenerationDefaults | None = None,
        append_clip_tokens: bool = False,
    ):
        adapter.check_compatible(text_encoder.hidden_size, info.cond_dim, info.pooled_dim)
        self.base = base
        self.text_encoder = text_encoder
        self.adapter = adapter.eval()
        self.info = info
        self.defaults = defaults or GenerationDefaults()
        """steps and guidance when a call names none (the adapter folder's generation_config.json)"""
        self.append_clip_tokens = append_clip_tokens
        """put the base pipeline's own CLIP tokens after the connector's (keeps LoRA trigger words working)"""
        self._empty_encoded: EncodedPrompts | None = None
        self._empty_embedding: ConnectorOutput | None = None
        self._keeps_padding: bool | None = None

    @property
    def connector(self) -> Connector:
        """The connector (`adapter`) mapping LLM states to the base model's conditioning."""
        return self.adapter

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
        model: str | os.PathLike | None = None,
        adapter_family: str = DEFAULT_FAMILY,
        append_clip_tokens: bool = False,
    ) -> "LLMDiffusionPipeline":
        """Load a base model, an LLM and an adapter by hub id or local path.

        `model` names a model folder (`base/` + `adapter/` [+ `llm/`]) instead of `base` and `adapter`.
        With neither, the shipped default model (the shapes world's, with its trained adapter unless
        `adapter` names another) is loaded.

        `adapter=None` builds a freshly initialised connector of `adapter_family` (random weights,
        `adapter_config` overrides its defaults) sized for this LLM and base model. An adapter directory,
        of any family, may carry the LLM and encoder settings it was trained with; `llm` and
        `text_encoder_config` override those. It may also carry the steps and guidance it was measured best
        with (`generation_config.json`): a call that names none gets those, and the LoRA its LLM was trained
        with (`llm_lora/`), merged into the LLM. `text_encoder` is an already loaded encoder to use instead
        (several pipelines can share one). `append_clip_tokens` loads the base model's CLIP encoders too and
        puts their tokens after the connector's.
        """
        base, adapter, llm = model_sources(model, base, adapter, llm)
        base, adapter = with_default_model(base, adapter)
        if base is None:
            raise UserError(
                "no base model given and no default model installed: pass base= (CLI: --base) with a "
                "diffusers SD1.5- or SDXL-format model directory or hub id"
            )
        if text_encoder is not None and (llm is not None or text_encoder_config is not None):
            raise UserError("pass either text_encoder or llm/text_encoder_config, not both")
        if adapter is not None:
            check_source("adapter", str(adapter))
        pipeline, info = load_base_pipeline(base, dtype=dtype, with_clip=with_clip or append_clip_tokens)
        apply_unet_lora(pipeline, adapter, fuse=True)  # a release's UNet LoRA (LaVi-Bridge), folded in once
        pipe = cls._around(
            pipeline, info, llm=llm, adapter=adapter, text_encoder_config=text_encoder_config,
            adapter_config=adapter_config, text_encoder=text_encoder, adapter_family=adapter_family,
            append_clip_tokens=append_clip_tokens, dtype=dtype,
        )
        return pipe.to(device) if device is not None else pipe

    @classmethod
    def from_pipe(
        cls,
        pipeline,
        llm: str | os.PathLike | None = None,
        adapter: str | os.PathLike | None = None,
        text_encoder: LLMTextEncoder | None = None,
        text_encoder_config: TextEncoderConfig | None = None,
        adapter_config: dict | None = None,
        adapter_family: str = DEFAULT_FAMILY,
        append_clip_tokens: bool = False,
    ) -> "LLMDiffusionPipeline":
        """The LLM conditioning in front of an already built diffusers SD/SDXL pipeline of any kind.

        img2img, inpainting, ControlNet, IP-Adapter and LoRA-loaded pipelines keep every feature of their
        own; a call's extra keyword arguments (`image=`, `mask_image=`, `strength=`, ...) reach them
        unchanged. The LLM and connector are put on the pipeline's device and in its UNet's dtype. The base
        pipeline's CLIP encoders are left as they are; `append_clip_tokens` uses them.
        """
        if text_encoder is not None and (llm is not None or text_encoder_config is not None):
            raise UserError("pass either text_encoder or llm/text_encoder_config, not both")
        unet = getattr(pipeline, "unet", None)
        if unet is None:
            raise UserError(f"{type(pipeline).__name__} has no UNet: only SD/SDXL-family pipelines can be wrapped")
        if adapter is not None:
            check_source("adapter", str(adapter))
        info = BaseModelInfo.from_unet(unet)
        # Not fused: the caller's pipeline gets the LoRA as a LoRA, as diffusers' own load_lora_weights gives it.
        apply_unet_lora(pipeline, adapter, fuse=False)
        pipe = cls._around(
            pipeline, info, llm=llm, adapter=adapter, text_encoder_config=text_encoder_config,
            adapter_config=adapter_config, text_encoder=text_encoder, adapter_family=adapter_family,
            append_clip_tokens=append_clip_tokens, dtype=unet.dtype,
        )
        pipe.text_encoder.to(pipe.device)
        pipe.adapter.to(pipe.device)
        return pipe

    @classmethod
    def _around(cls, pipeline, info, *, llm, adapter, text_encoder_config, adapter_config, text_encoder,
                adapter_family, append_clip_tokens, dtype) -> "LLMDiffusionPipeline":
        """The LLM and connector for `pipeline`: loaded from the adapter folder, or fresh."""
        saved_llm, saved_config = load_text_encoder_config(adapter) if adapter is not None else (None, None)
        defaults = GenerationDefaults.load(adapter) if adapter is not None else None
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
            connector = build_connector(
                adapter_family, text_encoder.hidden_size, info.cond_dim, info.pooled_dim, **(adapter_config or {})
            )
            if dtype != torch.float32:
                connector = connector.to(dtype=dtype)
        else:
            connector = load_connector(adapter, torch_dtype=dtype)
            connector.check_compatible(text_encoder.hidden_size, info.cond_dim, info.pooled_dim, where=str(adapter))
        return cls(pipeline, text_encoder, connector, info, defaults, append_clip_tokens=append_clip_tokens)

    def to(self, device: str | torch.device) -> "LLMDiffusionPipeline":
        self.base.to(device)
        self.text_encoder.to(device)
        self.adapter.to(device)
        self.clear_cache()
        return self

    @property
    def device(self) -> torch.device:
        """Where the denoiser computes (with CPU offload, the accelerator modules move to for their turn)."""
        return getattr(self.base, "_execution_device", None) or self.base.unet.device

    def enable_model_cpu_offload(self, gpu_id: int | None = None, device: str | torch.device | None = None) -> None:
        """Keep on the accelerator only the model at work, so a large LLM and the base fit in consumer memory.

        The base pipeline uses diffusers' own `enable_model_cpu_offload` (its UNet, VAE, and CLIP or ControlNet
        when loaded, each moved on for its turn and off for the next one's); the LLM moves on to encode a batch
        and back to the CPU at once. The connector is small and stays on the accelerator. `device` names the
        accelerator (default: the one diffusers finds).
        """
        self.base.enable_model_cpu_offload(gpu_id=gpu_id, device=device)
        execution = self.base._offload_device
        self.text_encoder.enable_cpu_offload(execution)
        self.adapter.to(execution)
        self.clear_cache()

    @property
    def scheduler(self):
        return self.base.scheduler

    @scheduler.setter
    def scheduler(self, scheduler) -> None:
        self.base.scheduler = scheduler

    def save_adapter(self, directory: str | os.PathLike, llm: str | None = None) -> None:
        """Save the adapter with the encoder settings it needs (and optionally the LLM spec)."""
        save_adapter(self.adapter, self.text_encoder, directory, llm)

    def _connect(self, encoded: EncodedPrompts, timestep=None) -> ConnectorOutput:
        device, _ = place_of(self.adapter, encoded.hidden_states)
        states, mask = encoded.hidden_states.to(device), encoded.attention_mask.to(device)
        if not self.adapter.timestep_aware:
            return self.adapter(states, mask)
        if timestep is None:
            raise UserError("this connector's output depends on the denoising timestep: pass timestep=")
        return self.adapter(states, mask, timestep=step_timesteps(timestep, states.shape[0], device))

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str], timestep=None) -> tuple[ConnectorOutput, list[int], list[int]]:
        """Conditioning for prompts: the connector's output, plus tokens kept and dropped per prompt.

        A timestep-aware connector needs the denoising `timestep` (0..999) it is asked at.
        """
        encoded = self.text_encoder.encode(prompts)
        return self._connect(encoded, timestep), encoded.token_counts, encoded.dropped_tokens

    def _empty_prompt_states(self) -> EncodedPrompts:
        if self._empty_encoded is None:
            self._empty_encoded = self.text_encoder.encode([""])
        return self._empty_encoded

    @torch.no_grad()
    def empty_prompt_embedding(self) -> ConnectorOutput:
        """The unconditional embedding, computed once and reused for classifier-free guidance."""
        if self._empty_embedding is None:
            self._empty_embedding = self._connect(self._empty_prompt_states())
        return self._empty_embedding

    def clear_cache(self) -> None:
        """Forget the cached empty-prompt encoding (after changing the adapter or the encoder)."""
        self._empty_encoded = None
        self._empty_embedding = None
        self._keeps_padding = None

    def _output_keeps_padding(self) -> bool:
        """Whether the connector's output carries its input's padding (its length follows the prompt's).

        Asked of the connector itself, on two tiny rows of which one is padded: a connector with learned
        queries answers with a full mask.
        """
        if self._keeps_padding is None:
            device, dtype = place_of(self.adapter, torch.zeros(()))
            states = torch.zeros(2, 2, self.text_encoder.hidden_size, device=device, dtype=dtype)
            mask = torch.tensor([[1, 1], [1, 0]], device=device)
            with torch.no_grad():
                out = self._connect(EncodedPrompts(states, mask, [2, 1]), timestep=0)
            self._keeps_padding = not bool(out.attention_mask.bool().all())
        return self._keeps_padding

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
        guidance left None are the model's (`self.defaults`); height and width left None are the base
        pipeline's (an img2img pipeline takes them from its `image`).
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
        size = {name: value for name, value in (("height", height), ("width", width)) if value is not None}
        settings = dict(
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            num_images_per_prompt=num_images_per_prompt,
            output_type=output_type,
            **size,
            **base_kwargs,
        )
        self.base.set_progress_bar_config(disable=not progress, leave=False)
        if len(prompts) == 1 or not self._output_keeps_padding():
            groups = [range(len(prompts))]
        else:
            # Shorter prompts would be padded, and the denoiser's cross-attention (which stock pipelines give
            # no mask) would attend to the padding: one prompt at a time.
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

    @torch.no_grad()
    def _generate(self, prompts: list[str], negatives: list[str] | None, generator, settings: dict):
        encoded = self.text_encoder.encode(prompts)
        guided = settings["guidance_scale"] > 1
        # None stands for the empty prompt, whose encoding is cached.
        negative = self.text_encoder.encode(negatives) if guided and negatives is not None and any(negatives) else None
        clip = self._base_clip_tokens(prompts, negatives, guided) if self.append_clip_tokens else (None, None)
        if self.adapter.timestep_aware:
            embeds, packing = self._packed_embeds(encoded, guided, negative, *clip)
            context = stepwise_conditioning(self.base, self.adapter, packing)
        else:
            embeds = self._embeds(encoded, guided, negative, *clip)
            context = nullcontext()
        dtype = self.base.unet.dtype
        embeds = {key: value.to(self.device, dtype) for key, value in embeds.items()}
        with context:
            result = self.base(generator=generator, **embeds, **settings)
        return list(result.images), encoded.token_counts, encoded.dropped_tokens

    def _base_clip_tokens(self, prompts, negatives, guided) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The base pipeline's own CLIP prompt embeddings (and negative ones when guided)."""
        if getattr(self.base, "text_encoder", None) is None:
            raise UserError("appending the base model's CLIP tokens needs its CLIP text encoder loaded "
                            "(from_pretrained(..., with_clip=True), or a base pipeline that has one)")
        device = self.device
        encoded = self.base.encode_prompt(
            prompt=prompts, device=device, num_images_per_prompt=1, do_classifier_free_guidance=guided,
            negative_prompt=negatives,
        )
        clip, negative = encoded[0], encoded[1]
        if clip.shape[-1] != self.info.cond_dim:
            raise UserError(f"the base model's CLIP tokens have width {clip.shape[-1]}, but the connector's "
                            f"have width {self.info.cond_dim}: they cannot be put in one sequence")
        return clip, negative if guided else None

    def _pooled(self, output: ConnectorOutput) -> torch.Tensor:
        if output.pooled_prompt_embeds is None:
            raise UserError(f"the base model needs pooled conditioning of width {self.info.pooled_dim}, "
                            "which the connector does not give")
        return output.pooled_prompt_embeds

    def _embeds(self, encoded: EncodedPrompts, guided: bool, negative, clip, negative_clip) -> dict:
        """Prompt embeddings computed once, for connectors that do not read the timestep."""
        conditioning = self._connect(encoded)
        batch = conditioning.prompt_embeds.shape[0]
        embeds = {"prompt_embeds": conditioning.prompt_embeds}
        if guided:
            negative_output = self._connect(negative) if negative is not None else self.empty_prompt_embedding()
            embeds["negative_prompt_embeds"] = negative_output.prompt_embeds.expand(batch, -1, -1)
            if embeds["negative_prompt_embeds"].shape[1] != embeds["prompt_embeds"].shape[1]:
                # Only when the output keeps the padding: lengths follow the prompts, the pipeline needs them equal.
                length = max(embeds["negative_prompt_embeds"].shape[1], embeds["prompt_embeds"].shape[1])
                for key in ("prompt_embeds", "negative_prompt_embeds"):
                    embeds[key] = torch.nn.functional.pad(embeds[key], (0, 0, 0, length - embeds[key].shape[1]))
        for key, tokens in (("prompt_embeds", clip), ("negative_prompt_embeds", negative_clip)):
            if tokens is not None:
                embeds[key] = torch.cat([embeds[key], tokens.to(embeds[key])], dim=1)
        if self.info.pooled_dim:
            embeds["pooled_prompt_embeds"] = self._pooled(conditioning)
            if guided:
                embeds["negative_pooled_prompt_embeds"] = self._pooled(negative_output).expand(batch, -1)
        return embeds

    def _packed_embeds(self, encoded: EncodedPrompts, guided: bool, negative, clip, negative_clip):
        """The LLM states themselves, packed with their masks, for a connector that reads the timestep: the
        pipeline's denoiser calls turn them into conditioning at each step (`llmdiff.stepwise`)."""
        states, mask = encoded.hidden_states, encoded.attention_mask
        batch = states.shape[0]
        tokens = states.shape[1]
        if guided:
            negative = negative if negative is not None else self._empty_prompt_states()
            negative_states = negative.hidden_states.expand(batch, -1, -1)
            negative_mask = negative.attention_mask.expand(batch, -1)
            tokens = max(tokens, negative_states.shape[1])
        pooled = bool(self.info.pooled_dim)
        packing = Packing(states.shape[-1], tokens, 0 if clip is None else clip.shape[-1], pooled=pooled)
        embeds = {"prompt_embeds": packing.pack(states, mask, clip)}
        if guided:
            embeds["negative_prompt_embeds"] = packing.pack(negative_states, negative_mask, negative_clip)
        if pooled:
            # Stand-ins of the right width, for the pipeline's added conditioning: each denoiser call gets the
            # connector's pooled output for its step in their place.
            embeds["pooled_prompt_embeds"] = states.new_zeros(batch, self.info.pooled_dim)
            if guided:
                embeds["negative_pooled_prompt_embeds"] = states.new_zeros(batch, self.info.pooled_dim)
        return embeds, packing
