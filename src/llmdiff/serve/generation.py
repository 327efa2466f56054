"""One request through the shared pipeline: settings in, PNGs in the output dir out."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

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
        self.sources = sources or {}
        tokenizer = pipe.text_encoder.tokenizer
        # The limit covers special tokens too; `count_tokens` leaves them out, so subtract them once here.
        specials = len(tokenizer("", add_special_tokens=True)["input_ids"])
        self.token_limit = max(pipe.text_encoder.config.max_length - specials, 0)
        self.strict = pipe.text_encoder.config.strict
        base = pipe.base
        self.default_side = int(base.unet.config.sample_size * base.vae_scale_factor)

    def count_tokens(self, prompt: str) -> TokenReport:
        return TokenReport(self.pipe.text_encoder.count_tokens([prompt])[0], self.token_limit)

    def run(self, settings: GenerationSettings, job: Job) -> list[GeneratedImage]:
        from llmdiff import __version__
        from llmdiff.images import save_png

        seed = settings.seed if settings.seed is not None else secrets.randbelow(SEED_RANGE)
        job.steps_total = settings.steps * len(settings.prompts)

        def on_step_end(pipeline, step, timestep, tensors):
            job.steps_done += 1
            job.check()  # raises to abandon the call once the request is cancelled or out of time
            return tensors

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
