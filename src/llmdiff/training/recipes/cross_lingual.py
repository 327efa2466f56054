"""Cross-lingual distillation: the adapter learns to give a caption in any language what it gave the same
scene's English caption before training (the LLM, the UNet and the teacher adapter are frozen).

A trained model follows English best: the LLM read most English, and every stage led with it. Here the
target for each caption is the frozen teacher adapter's output for its English pair (`clip_text`, e.g.
`captions.en.*`), the conditioning the UNet already draws correctly, so the other languages learn from
a dense, per-position signal instead of through the denoising loss. English examples pair with
themselves, which holds the adapter's English outputs where they were (as in multilingual knowledge
distillation, Reimers & Gurevych 2020). With `loss.distill_space: conditioning` the loss is `AlignLoss` on
the adapter outputs and no image is read; with `denoiser` it is `DenoiserDistillLoss`: the frozen UNet,
on the scene's noisy latents, should predict from the caption what it predicts from its English pair.
Output: `<out>/adapter` and `<out>/base` (the unchanged base model), loadable like stage 2's output.
"""

from __future__ import annotations

from pathlib import Path

import torch

from llmdiff.connectors import load_connector
from llmdiff.errors import UserError
from llmdiff.training.cache import LLMFeatures
from llmdiff.training.losses import AlignLoss, DenoiserDistillLoss, DiffusionLoss
from llmdiff.training.models import (
    build_adapter,
    denoiser,
    export_base,
    frozen_dtype,
    latent_features,
    llm_cache,
    load_base,
    load_text_encoder,
)
from llmdiff.training.recipes.align import AlignRecipe


class CrossLingualRecipe(AlignRecipe):
    """Stage 1's export and samples (adapter-only, frozen LLM and UNet), with its own teacher and loss."""

    stage = "cross_lingual"

    def build(self):
        config = self.config
        use_cache = config.cache.dir is not None
        self.encoder = load_text_encoder(config, frozen_dtype(config)).to(self.device)
        self.pipeline, self.info = load_base(config, frozen_dtype(config), with_clip=False)
        self.pipeline.to(self.device)
        self.pipeline.unet.requires_grad_(False)
        self.pipeline.vae.requires_grad_(False)
        source = config.model.teacher_adapter or config.model.adapter
        self.teacher = load_connector(source).float().to(self.device)
        if self.teacher.timestep_aware:
            raise UserError(f"the cross_lingual stage distils one output per caption, but the adapter '{source}' "
                            f"({self.teacher.family}) changes with the denoising step")
        self.teacher.check_compatible(self.encoder.hidden_size, self.info.cond_dim, self.info.pooled_dim, where=source)
        self.teacher.requires_grad_(False).eval()
        self.llm_features = LLMFeatures(self.encoder, llm_cache(config).open() if use_cache and config.cache.llm else None)
        self.align_loss = AlignLoss(config.loss.mse_weight, config.loss.cosine_weight, config.loss.pooled_weight)
        if config.loss.distill_space == "denoiser":
            diffusion = DiffusionLoss.from_scheduler(self.pipeline.scheduler)
            self.distill_loss = DenoiserDistillLoss(diffusion)
            self.latents = latent_features(config, self.pipeline.vae, self.images)
        return {"adapter": build_adapter(config, self.encoder.hidden_size, self.info)}

    def compute_loss(self, batch):
        texts = self.drop_captions([example.text for example in batch])
        english = [clip if text else "" for text, clip in zip(texts, (e.clip_text for e in batch))]
        states, mask = self.llm_features(texts + english)
        states, mask = states.to(self.device), mask.to(self.device)
        count = len(texts)
        with torch.no_grad():
            target = self.teacher(states[count:], mask[count:])
        out = self.models["adapter"](states[:count], mask[:count])
        if self.config.loss.distill_space == "denoiser":
            return self.denoiser_loss(batch, out, target)
        return self.align_loss(out.prompt_embeds, target.prompt_embeds, out.pooled_prompt_embeds,
                               target.pooled_prompt_embeds)

    def denoiser_loss(self, batch, out, target) -> dict:
        """The frozen UNet's predictions from both sides, on the latents of the examples with a readable image."""
        latents, kept = self.latents.required(batch, self.generator)

        def side(conditioning):
            pooled = conditioning.pooled_prompt_embeds
            return denoiser(self.pipeline.unet, self.info, conditioning.prompt_embeds[kept],
                            None if pooled is None else pooled[kept], self.config.data.resolution)

        loss = self.distill_loss(side(out), side(target), latents.to(self.device), self.generator)
        return {"loss": loss, "denoiser_mse": loss.detach()}

    def export(self, directory: Path) -> None:
        super().export(directory)
        export_base(self.config.model.base, directory / "base", {})
