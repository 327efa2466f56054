"""A CLIP model (transformers `CLIPModel`) loaded by local path or hub id, embedding images and texts."""

from __future__ import annotations

import torch

from llmdiff.errors import UserError
from llmdiff.loading import check_source, user_errors


def _pooled(output) -> torch.Tensor:
    # transformers 4 returns the projected embedding; 5 returns an output whose pooler_output holds it.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipEmbedder:
    """Unit-length CLIP embeddings of images and texts, in batches."""

    def __init__(self, model, processor, device: torch.device, batch_size: int = 16):
        self.model = model.eval().to(device)
        self.processor = processor
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, source: str, device: str | torch.device = "cpu", batch_size: int = 16):
        from transformers import CLIPModel, CLIPProcessor

        check_source("CLIP model", source)
        with user_errors("CLIP model", source):
            model = CLIPModel.from_pretrained(source, use_safetensors=True)
            processor = CLIPProcessor.from_pretrained(source)
        return cls(model, processor, torch.device(device), batch_size)

    @property
    def dim(self) -> int:
        return self.model.config.projection_dim

    @property
    def max_text_tokens(self) -> int:
        return self.model.config.text_config.max_position_embeddings

    @torch.no_grad()
    def images(self, images: list) -> torch.Tensor:
        rows = []
        for start in range(0, len(images), self.batch_size):
            pixels = self.processor(images=images[start : start + self.batch_size], return_tensors="pt")
            features = _pooled(self.model.get_image_features(pixel_values=pixels["pixel_values"].to(self.device)))
            rows.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu())
        return torch.cat(rows)

    @torch.no_grad()
    def texts(self, texts: list[str]) -> torch.Tensor:
        """Texts longer than CLIP's context are cut to it: CLIP cannot read further (see docs/eval.md)."""
        if not texts:
            raise UserError("no texts to embed")
        rows = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.processor(
                text=texts[start : start + self.batch_size], return_tensors="pt", padding=True, truncation=True,
                max_length=self.max_text_tokens,
            )
            features = _pooled(self.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.device), attention_mask=tokens["attention_mask"].to(self.device)
            ))
            rows.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu())
        return torch.cat(rows)
