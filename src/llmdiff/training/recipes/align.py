"""Stage 1 · align: the LLM is frozen; the adapter learns to reproduce the base model's CLIP features.

Text only (images optional): each example pairs the text the LLM reads (any language, any length) with
the English text the CLIP teacher reads; the loss is `AlignLoss` (MSE, optional cosine, SDXL pooled MSE)
between the adapter's output and the teacher's chunked states, plus, when `loss.diffusion_weight` > 0 and
the example has an image, the diffusion loss through the frozen UNet conditioned on the adapter's output.
"""

from __future__ import annotations

from pathlib import Path

from llmdiff.pipeline import LLMDiffusionPipeline, save_adapter
from llmdiff.training.cache import LLMFeatures, TeacherFeatures
from llmdiff.training.losses import AlignLoss, DiffusionLoss
from llmdiff.training.checkpointing import checkpoint_blocks
from llmdiff.training.models import (
    build_adapter,
    denoiser,
    frozen_dtype,
    latent_features,
    llm_cache,
    llm_spec,
    load_base,
    load_text_encoder,
    teacher_cache,
)
from llmdiff.training.recipe import Recipe
from llmdiff.training.teacher import CLIPTeacher


class AlignRecipe(Recipe):
    stage = "align"

    def build(self):
        config = self.config
        dtype = frozen_dtype(config)
        use_cache = config.cache.dir is not None
        self.encoder = load_text_encoder(config, dtype).to(self.device)
        self.pipeline, self.info = load_base(config, dtype, with_clip=True)
        self.pipeline.to(self.device)
        self.pipeline.unet.requires_grad_(False)
        self.pipeline.vae.requires_grad_(False)
        self.teacher = CLIPTeacher.from_pipeline(self.pipeline, self.info.family, config.loss.teacher_chunks)
        self.teacher.requires_grad_(False).eval()
        self.llm_features = LLMFeatures(self.encoder, llm_cache(config).open() if use_cache and config.cache.llm else None)
        self.teacher_features = TeacherFeatures(
            self.teacher, teacher_cache(config, self.teacher).open() if use_cache and config.cache.teacher else None
        )
        self.align_loss = AlignLoss(config.loss.mse_weight, config.loss.cosine_weight, config.loss.pooled_weight)
        self.diffusion_loss = DiffusionLoss.from_scheduler(self.pipeline.scheduler, config.loss.min_snr_gamma)
        self.latents = latent_features(config, self.pipeline.vae, self.images)
        adapter = build_adapter(config, self.encoder.hidden_size, self.info, length=self.teacher.length)
        if config.train.gradient_checkpointing:
            checkpoint_blocks(adapter)
            if config.loss.diffusion_weight:  # the frozen UNet's activations, kept for the adapter's gradient
                self.pipeline.unet.enable_gradient_checkpointing()
        return {"adapter": adapter}

    def compute_loss(self, batch):
        texts = self.drop_captions([example.text for example in batch])
        clip_texts = [clip if text else "" for text, clip in zip(texts, (e.clip_text for e in batch))]
        states, mask = self.llm_features(texts)
        target, target_pooled = self.teacher_features(clip_texts)
        out = self.models["adapter"](states.to(self.device), mask.to(self.device))
        pooled_target = None if target_pooled is None else target_pooled.to(self.device)
        terms = self.align_loss(out.prompt_embeds, target.to(self.device), out.pooled_prompt_embeds, pooled_target)
        if self.config.loss.diffusion_weight:
            with_images = [example if example.image is not None else None for example in batch]
            indices = [i for i, example in enumerate(with_images) if example is not None]
            latents, kept = self.latents([batch[i] for i in indices], self.generator) if indices else (None, [])
            if kept:
                rows = [indices[k] for k in kept]
                pooled = None if out.pooled_prompt_embeds is None else out.pooled_prompt_embeds[rows]
                denoise = denoiser(self.pipeline.unet, self.info, out.prompt_embeds[rows], pooled,
                                   self.config.data.resolution)
                terms["diffusion"] = self.diffusion_loss(denoise, latents.to(self.device), self.generator)
                terms["loss"] = terms["loss"] + self.config.loss.diffusion_weight * terms["diffusion"]
        return terms

    def export(self, directory: Path) -> None:
        save_adapter(self.exported("adapter"), self.encoder, directory / "adapter", llm_spec(self.config))

    def sample_images(self, prompts):
        pipe = LLMDiffusionPipeline(self.pipeline, self.encoder, self.unwrapped()["adapter"], self.info)
        log = self.config.log
        return pipe(prompts, num_inference_steps=log.sample_steps, guidance_scale=log.sample_guidance,
                    seed=log.sample_seed, height=self.config.data.resolution, width=self.config.data.resolution,
                    progress=False).images
