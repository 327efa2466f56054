"""CLIP score: how well each image matches its own prompt.

Hessel et al. 2021 (CLIPScore), with torchmetrics' scale: score = 100 · max(cos(E_image, E_text), 0), one
value per (image, prompt) pair; a set's score is the mean over its pairs. Range [0, 100].
"""

from __future__ import annotations

import torch

from llmdiff.errors import UserError

SCALE = 100.0


def pair_scores(image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
    """Per-pair scores from unit-length embeddings of matching rows."""
    if image_embeds.shape != text_embeds.shape:
        raise UserError(f"{image_embeds.shape[0]} images against {text_embeds.shape[0]} prompts: lists must match")
    cosine = (image_embeds * text_embeds).sum(dim=-1)
    return SCALE * cosine.clamp(min=0)


def clip_scores(embedder, images: list, prompts: list[str]) -> list[float]:
    if len(images) != len(prompts):
        raise UserError(f"{len(images)} images against {len(prompts)} prompts: lists must match")
    return pair_scores(embedder.images(images), embedder.texts(prompts)).tolist()
