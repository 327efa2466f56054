"""One request through the shared pipeline: settings in, PNGs in the output dir out.

Every module of the pipeline (LLM, connector, UNet, VAE) checks the running job before its forward
pass, so a cancelled or late job stops within one module's time, in the decode too; the VAE decodes in
tiles, so no single module's pass grows with the image beyond one tile's.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from llmdiff.serve.limits import GenerationSettings
from llmdiff.serve.queue import Job

SEED_RANGE = 2**31
"""Seeds the server picks when the client names none: small enough to type back in."""


@dataclass
class GeneratedImage:
    name: str
    """file name inside the output dir, chosen by the server"""
    path: Path
    metadata: dict
    """the settings that made it, also stored in the PNG"""


@dataclass
class TokenReport:
    """A prompt's LLM token count against what the encoder keeps."""

    tokens: int
    limit: int

    @property
    def dropped(self) -> int:
        return max(self.tokens - self.limit, 0)


class ImageGenerator:
    """Runs generation settings through an `LLMDiffusionPipeline`; only the queue's worker calls `run`."""

    def __init__(self, pipe, output_dir: str | Path, sources: dict | None = None):
        self.pipe = pipe
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # Names only: a response never shows where the server keeps its models.
        self.sources = {key: public_name(value) for key, value in (sources or {}).items()}
        tokenizer = pipe.text_encoder.tokenizer
        # The limit covers special tokens too; `count_tokens` leaves them out, so subtract them once here.
        specials = len(tokenizer("", add_special_tokens=True)["input_ids"])
        self.token_limit = max(pipe.text_encoder.config.max_length - specials, 0)
        self.strict = pipe.text_encoder.config.strict
        base = pipe.base
        self.default_side = int(base.unet.config.sample_size * base.vae_scale_factor)
        if hasattr(base.vae, "enable_tiling"):
            base.vae.enable_tiling()  # sizes up to the VAE's own tile decode exactly as before
        self._job: Job | None = None
        self._last_check = 0.0
        self.longest_check_gap_s = 0.0
        """longest time seen between two checks while a job ran: how late a stop can come"""
        for handle in getattr(pipe, "_serve_check_hooks", ()):
            handle.remove()  # one generator checks a pipeline at a time: the newest
        pipe._serve_check_hooks = _hook_every_module(pipe, self._check_job)

    def _check_job(self, module, args) -> None:
        job = self._job
        if job is None:
            return
        now = time.monotonic()
        self.longest_check_gap_s = max(self.longest_check_gap_s, now - self._last_check)
        self._last_check = now
        job.check()

    def count_tokens(self, prompt: str) -> TokenReport:
        return TokenReport(self.pipe.text_encoder.count_tokens([prompt])[0], self.token_limit)

    def time_call(self, side: int, steps: int, guidance: float) -> float:
        """Seconds one generation of `side`×`side` takes, saving nothing (for the work budget)."""
        started = time.monotonic()
        self.pipe("a red circle", num_inference_steps=steps, guidance_scale=guidance, seed=0, height=side,
                  width=side, progress=False)
        return time.monotonic() - started

    def run(self, settings: GenerationSettings, job: Job) -> list[GeneratedImage]:
        from llmdiff import __version__
        from llmdiff.images import save_png

        seed = settings.seed if settings.seed is not None else secrets.randbelow(SEED_RANGE)
        job.steps_total = settings.steps * len(settings.prompts)

        def on_step_end(pipeline, step, timestep, tensors):
            job.steps_done += 1
            job.check()  # raises to abandon the call once the request is cancelled or out of time
            return tensors

        self._last_check = time.monotonic()
        dtypes = _component_dtypes(self.pipe)
        self._job = job  # from here every module's forward pass checks it
        try:
            result = self.pipe(
                settings.prompts,
                negative_prompt=settings.negative_prompt or None,
                num_inference_steps=settings.steps,
                guidance_scale=settings.guidance,
                seed=seed,
                height=settings.height,
                width=settings.width,
                num_images_per_prompt=settings.num_images,
                progress=False,
                callback_on_step_end=on_step_end,
            )
        except BaseException:
            # A stop inside the decode can leave an upcast VAE (SDXL in float16) in float32.
            _restore_dtypes(self.pipe, dtypes)
            raise
        finally:
            self._job = None
        job.check()  # not one file is written for a job stopped at the last moment
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        scheduler = type(self.pipe.scheduler).__name__
        images = []
        for index, (image, prompt, image_seed) in enumerate(zip(result.images, result.prompts, result.seeds)):
            source = index // settings.num_images
            metadata = {
                "prompt": prompt,
                "negative_prompt": settings.negative_prompt,
                "seed": image_seed,
                "steps": settings.steps,
                "guidance_scale": settings.guidance,
                "width": image.width,
                "height": image.height,
                "scheduler": scheduler,
                "llm_tokens": result.token_counts[source],
                "llm_tokens_dropped": result.dropped_tokens[source],
                **self.sources,
                "llmdiff_version": __version__,
            }
            name = f"{stem}-{index}.png"
            path = self.output_dir / name
            save_png(image, path, metadata)
            images.append(GeneratedImage(name=name, path=path, metadata=metadata))
        return images


def public_name(source) -> str:
    """A model source as a response may show it: a hub id as is, a local path by its last part only."""
    text = str(source)
    if os.path.isabs(text) or os.path.exists(text):
        return Path(text).name
    return text


def _base_modules(pipe) -> dict[str, torch.nn.Module]:
    return {name: module for name, module in pipe.base.components.items() if isinstance(module, torch.nn.Module)}


def _hook_every_module(pipe, check) -> list:
    """Register `check` as a forward pre-hook on every module the pipeline runs; returns the handles."""
    roots = [pipe.text_encoder, pipe.adapter, *_base_modules(pipe).values()]
    seen: set[int] = set()
    handles = []
    for root in roots:
        for module in root.modules():
            if id(module) not in seen:
                seen.add(id(module))
                handles.append(module.register_forward_pre_hook(check))
    return handles


def _component_dtypes(pipe) -> dict[str, torch.dtype]:
    return {name: module.dtype for name, module in _base_modules(pipe).items() if hasattr(module, "dtype")}


def _restore_dtypes(pipe, dtypes: dict[str, torch.dtype]) -> None:
    for name, module in _base_modules(pipe).items():
        if name in dtypes and module.dtype != dtypes[name]:
            module.to(dtype=dtypes[name])
