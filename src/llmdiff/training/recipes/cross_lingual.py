"""Cross-lingual distillation: the adapter learns to give a caption in any language what it gave the same
scene's English caption before training (the LLM, the UNet and the teacher adapter are frozen).

A trained model follows English best: the LLM read most English, and every stage led with it. Here the
target for each caption is the frozen teacher adapter's output for its English pair (`clip_text`, e.g.
`captions.en.*`), the conditioning the UNet already draws correctly, so the other languages learn from
a dense, per-position signal instead of through the denoising loss. English examples pair with
themselves, which holds the adapter's English outputs where they were (as in multilingual knowledge
distillation, Reimers & Gurevych 2020). Text only: no image is read; the loss is `AlignLoss`.
Output: `<out>/adapter` and `<out>/base` (the unchanged base model), loadable like stage 2's output.
"""

from __future__ import annotations

from pathlib import Path

import torch

from llmdiff.adapter import LLMAdapter
from llmdiff.training.cache import LLMFeatures
from llmdiff.training.losses import AlignLoss
from llmdiff.training.models import build_adapter, export_base, frozen_dtype, llm_cache, load_base, load_text_encoder
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
        self.teacher = LLMAdapter.load(source).float().to(self.device)
        self.teacher.check_compatible(self.encoder.hidden_size, self.info.cond_dim, self.info.pooled_dim, where=source)
        self.teacher.requires_grad_(False).eval()
        self.llm_features = LLMFeatures(self.encoder, llm_cache(config).open() if use_cache and config.cache.llm else None)
        self.align_loss = AlignLoss(config.loss.mse_weight, config.loss.cosine_weight, config.loss.pooled_weight)
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
        return self.align_loss(out.prompt_embeds, target.prompt_embeds, out.pooled_prompt_embeds,
                               target.pooled_prompt_embeds)

    def export(self, directory: Path) -> None:
        super().export(directory)
        export_base(self.config.model.base, directory / "base", {})
