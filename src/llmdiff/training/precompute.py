"""`llmdiff cache`: fill a config's feature caches before training.

Which caches a stage reads: align: LLM states + teacher targets (+ latents with a diffusion term);
end_to_end/quality: LLM states (unless the LLM trains) + latents; base (UNet): latents; cross_lingual: LLM
states of both the captions and the English captions they pair with (+ latents, distilled through the UNet).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from llmdiff.errors import UserError
from llmdiff.progress import progress_bar
from llmdiff.training.cache import LatentFeatures, LLMFeatures, TeacherFeatures, latent_cache_enabled
from llmdiff.training.config import RunConfig
from llmdiff.training.data import Example, ExampleStream, ImageLoader, check_sources
from llmdiff.training.models import frozen_dtype, latent_cache, llm_cache, load_base, load_text_encoder, teacher_cache
from llmdiff.training.teacher import CLIPTeacher

logger = logging.getLogger(__name__)


@dataclass
class CacheReport:
    items: dict[str, int] = field(default_factory=dict)
    """kind → items in the cache after filling"""
    paths: dict[str, str] = field(default_factory=dict)
    unreadable_images: int = 0


def needed_caches(config: RunConfig) -> list[str]:
    stage, components = config.stage, config.components
    kinds = []
    if config.cache.llm and stage != "base" and "llm" not in components:
        kinds.append("llm")
    if config.cache.teacher and stage == "align":
        kinds.append("teacher")
    wants_latents = (stage not in ("align", "cross_lingual") or config.loss.diffusion_weight > 0
                     or (stage == "cross_lingual" and config.loss.distill_space == "denoiser"))
    if latent_cache_enabled(config) and wants_latents and components != ("vae",) and "vae" not in config.model.reinit:
        kinds.append("latents")
    return kinds


def build_caches(config: RunConfig, batch_size: int | None = None, progress: bool = True) -> CacheReport:
    if config.cache.dir is None:
        raise UserError("config: cache.dir is not set; nothing to cache")
    check_sources(config.data)
    kinds = needed_caches(config)
    if not kinds:
        raise UserError(f"stage {config.stage} with this config reads no cache")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = frozen_dtype(config)
    stream = ExampleStream(config.data, seed=config.train.seed)
    examples = list(stream.examples)
    for shard in stream.shards:  # one pass over the shards, in order
        examples += stream.shard_examples(*shard)
    batch_size = batch_size or max(config.train.batch_size, 16)
    images = ImageLoader(config.data.resolution, max_corrupt_fraction=1.0)
    sources = {}
    if "llm" in kinds:
        sources["llm"] = LLMFeatures(load_text_encoder(config, dtype).to(device), llm_cache(config).open())
    if config.stage == "cross_lingual":  # the teacher adapter reads the paired English captions
        examples = examples + [Example(e.id, e.clip_text, e.clip_text) for e in examples]
    if "teacher" in kinds or "latents" in kinds:
        pipeline, info = load_base(config, dtype, with_clip="teacher" in kinds)
        pipeline.to(device)
        if "teacher" in kinds:
            teacher = CLIPTeacher.from_pipeline(pipeline, info.family, config.loss.teacher_chunks)
            sources["teacher"] = TeacherFeatures(teacher, teacher_cache(config, teacher).open())
        if "latents" in kinds:
            sources["latents"] = LatentFeatures(pipeline.vae, images, latent_cache(config).open())
    report = CacheReport()
    for kind, source in sources.items():
        cache = source.cache
        texts_kind = {"llm": "text", "teacher": "clip_text"}.get(kind)
        # Texts of similar length share a batch, so little of each forward pass is spent on padding.
        ordered = sorted(examples, key=lambda e: len(getattr(e, texts_kind) or "")) if texts_kind else examples
        with progress_bar(len(ordered), desc=f"cache {kind}", unit="text" if texts_kind else "img",
                          disable=not progress) as bar:
            for start in range(0, len(ordered), batch_size):
                chunk = ordered[start : start + batch_size]
                with torch.no_grad():
                    if texts_kind:
                        source.fill([getattr(example, texts_kind) for example in chunk] + [""] * (start == 0))
                    else:
                        source.fill(chunk)
                if cache.pending >= config.cache.shard_size:
                    cache.flush()
                bar.update(len(chunk))
        cache.flush()
        report.items[kind] = len(cache)
        report.paths[kind] = str(cache.path)
    report.unreadable_images = images.corrupt
    return report
