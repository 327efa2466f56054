"""Images for a prompt set from our pipeline and from the baseline, with identical seeds; resumable.

The baseline is the same base model's stock diffusers pipeline with its own CLIP encoder (which keeps at
most 77 tokens). Both share one UNet and VAE in memory, and prompt `index` i starts from the same noise in
both (`seed + i`), so the text encoder is the only difference. An image already on disk for the same prompt
and settings is kept, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from llmdiff.errors import UserError
from llmdiff.eval.prompts import PromptRecord
from llmdiff.eval.run_dir import SYSTEMS, RunDir

logger = logging.getLogger(__name__)

# Settings that must match for an existing image to count as done.
RESUME_KEYS = ("prompt", "seed", "steps", "guidance_scale")


@dataclass
class GenerateConfig:
    base: str
    """diffusers SD1.5/SDXL-format model: local dir or hub id"""
    llm: str | None = None
    """LLM spec (default: the adapter's, else the default LLM)"""
    adapter: str | None = None
    """adapter dir (default: an untrained adapter)"""
    steps: int = 30
    guidance: float = 7.5
    seed: int = 0
    """prompt with source row `index` uses seed + index, in both systems"""
    height: int | None = None
    width: int | None = None
    batch_size: int = 1
    systems: tuple[str, ...] = SYSTEMS
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        self.systems = tuple(self.systems)
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown or not self.systems:
            raise UserError(f"systems must be among {SYSTEMS}, not {list(self.systems)}")
        if self.batch_size < 1:
            raise UserError(f"batch size must be at least 1, not {self.batch_size}")

    def settings(self, record: PromptRecord) -> dict:
        return {"prompt": record.prompt, "seed": self.seed + record.index, "steps": self.steps,
                "guidance_scale": self.guidance}


@dataclass
class GenerateSummary:
    generated: dict[str, int]
    skipped: dict[str, int]


def is_done(path, expected: dict) -> bool:
    """True if `path` holds an image made with these settings; an image made otherwise is an error."""
    from llmdiff.images import read_metadata

    if not path.is_file():
        return False
    try:
        saved = read_metadata(path)
    except (UserError, OSError, ValueError) as error:
        raise UserError(f"'{path}' exists but is not a readable image of this run ({error}); delete it") from None
    differing = [key for key in RESUME_KEYS if saved.get(key) != expected[key]]
    if differing:
        raise UserError(
            f"'{path}' was made with other settings ({', '.join(differing)} differ); use a new run directory "
            "or delete the images"
        )
    return True


def pending(run: RunDir, records: list[PromptRecord], config: GenerateConfig) -> dict[str, list[PromptRecord]]:
    """The prompts whose image is still missing, per system."""
    return {
        system: [r for r in records if not is_done(run.image(system, r.id), config.settings(r))]
        for system in config.systems
    }


def generate_run(
    run: RunDir,
    records: list[PromptRecord],
    config: GenerateConfig,
    load: Callable[[GenerateConfig, bool], object] | None = None,
) -> GenerateSummary:
    """Write every missing image of `records` for each system in `config.systems`."""
    todo = pending(run, records, config)
    skipped = {s: len(records) - len(todo[s]) for s in config.systems}
    generated = dict.fromkeys(config.systems, 0)
    if not any(todo.values()):
        return GenerateSummary(generated, skipped)
    for system in config.systems:
        run.images(system).mkdir(parents=True, exist_ok=True)
    pipe = (load or load_pipelines)(config, bool(todo.get("ours")))
    for system, missing in todo.items():
        for start in range(0, len(missing), config.batch_size):
            batch = missing[start : start + config.batch_size]
            _generate_batch(pipe, system, batch, config, run)
            generated[system] += len(batch)
            logger.info("%s: %d/%d images", system, generated[system], len(missing))
    return GenerateSummary(generated, skipped)


class Pipelines:
    """Our pipeline and the baseline, sharing the base model's UNet and VAE."""

    def __init__(self, ours, baseline, sources: dict):
        self.ours = ours
        self.baseline = baseline
        self.sources = sources


def load_pipelines(config: GenerateConfig, need_ours: bool) -> Pipelines:
    from llmdiff.devices import resolve_device, resolve_dtype
    from llmdiff.pipeline import LLMDiffusionPipeline, load_base_pipeline

    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    sources = {"base": config.base}
    if need_ours:
        ours = LLMDiffusionPipeline.from_pretrained(
            base=config.base, llm=config.llm, adapter=config.adapter, dtype=dtype, device=device, with_clip=True
        )
        sources.update(llm=ours.text_encoder.name, adapter=config.adapter or "untrained")
        return Pipelines(ours, ours.base, sources)
    baseline, _ = load_base_pipeline(config.base, dtype=dtype, with_clip=True)
    return Pipelines(None, baseline.to(device), sources)


def _generate_batch(pipe: Pipelines, system: str, batch: list[PromptRecord], config: GenerateConfig, run: RunDir):
    import torch

    from llmdiff import __version__
    from llmdiff.images import save_png

    seeds = [config.seed + r.index for r in batch]
    generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
    prompts = [r.prompt for r in batch]
    size = {"height": config.height, "width": config.width}
    extra: list[dict] = [{} for _ in batch]
    if system == "ours":
        out = pipe.ours(prompts, generator=generators, num_inference_steps=config.steps,
                        guidance_scale=config.guidance, progress=False, **size)
        images = out.images
        extra = [{"llm_tokens": kept, "llm_tokens_dropped": dropped}
                 for kept, dropped in zip(out.token_counts, out.dropped_tokens)]
    else:
        pipe.baseline.set_progress_bar_config(disable=True)
        images = pipe.baseline(prompt=prompts, generator=generators, num_inference_steps=config.steps,
                               guidance_scale=config.guidance, **size).images
    for record, image, more in zip(batch, images, extra):
        metadata = {
            **config.settings(record),
            "prompt_id": record.id,
            "category": record.category or "",
            "system": system,
            "width": image.width,
            "height": image.height,
            **pipe.sources,
            **more,
            "llmdiff_version": __version__,
        }
        save_png(image, run.image(system, record.id), metadata)
