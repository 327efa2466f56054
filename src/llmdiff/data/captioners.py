"""Things that write captions for images, behind one interface.

`Captioner` is the protocol `recaption` drives: a batch of PIL images in, one caption per image out.
`VLMCaptioner` asks any transformers image-text-to-text model (LLaVA, Qwen2-VL, …, by hub id or local
path) for a long paragraph; `ShapesCaptioner` reads shapes-world images exactly and needs no model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llmdiff.errors import UserError

if TYPE_CHECKING:
    from PIL import Image

    from llmdiff.worlds.shapes import WorldConfig

DEFAULT_PROMPT = (
    "Describe this image in detail, covering every object, its colour, position and relations, "
    "in one paragraph."
)


@runtime_checkable
class Captioner(Protocol):
    def caption(self, images: list["Image.Image"]) -> list[str]:
        """One caption per image, in order."""
        ...


@dataclass
class VLMCaptionerConfig:
    model: str
    """Hub id or local directory of an image-text-to-text model."""
    prompt: str = DEFAULT_PROMPT
    """The instruction sent with every image."""
    max_new_tokens: int = 256
    dtype: str = "auto"
    """auto (float16 on CUDA, float32 elsewhere), float32, float16 or bfloat16."""
    device: str = "auto"

    def __post_init__(self):
        if not self.prompt.strip():
            raise UserError("the captioning prompt is empty")
        if self.max_new_tokens < 1:
            raise UserError("max_new_tokens must be at least 1")


class VLMCaptioner:
    """Greedy captions from a vision-language model, a batch at a time, prompt built by its chat template."""

    def __init__(self, config: VLMCaptionerConfig, device=None):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from llmdiff.devices import resolve_device, resolve_dtype
        from llmdiff.loading import check_source, user_errors

        self.config = config
        self.device = device if device is not None else resolve_device(config.device)
        check_source("captioning model", config.model)
        with user_errors("captioning model", config.model):
            self.processor = AutoProcessor.from_pretrained(config.model)
            self.model = AutoModelForImageTextToText.from_pretrained(
                config.model, dtype=resolve_dtype(config.dtype, self.device), use_safetensors=True
            )
        self.model.to(self.device).eval()
        # Decoder-only generation continues from the last position, so batches are padded on the left.
        self.processor.tokenizer.padding_side = "left"
        self.prompt_text = self._prompt_text()

    def _prompt_text(self) -> str:
        if getattr(self.processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.config.prompt}]}]
            return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        image_token = getattr(self.processor, "image_token", None)
        if image_token is None:
            raise UserError(f"captioning model '{self.config.model}' has neither a chat template nor an image token")
        return f"{image_token}\n{self.config.prompt}\n"

    def caption(self, images: list["Image.Image"]) -> list[str]:
        import torch

        if not images:
            return []
        inputs = self.processor(
            images=[image.convert("RGB") for image in images],
            text=[self.prompt_text] * len(images),
            padding=True,
            return_tensors="pt",
        ).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [" ".join(text.split()) for text in texts]


@dataclass
class ShapesCaptionerConfig:
    style: str = "paragraph"
    """Caption style of the shapes world: "paragraph" or "short"."""
    language: str = "en"
    seed: int = 0
    """Mixed with each image's content into the caption seed."""
    world: "WorldConfig | None" = None
    """The world the images come from (None: the default world)."""


class ShapesCaptioner:
    """The rule-based stand-in for a VLM on the shapes world: it reads each image's scene with the world's
    oracle (`parse_image`) and writes the world's own caption of that scene, so recaptioning can be tested
    for real, with captions whose every statement is known to be true."""

    def __init__(self, config: ShapesCaptionerConfig | None = None):
        from llmdiff.worlds.shapes import STYLES, WorldConfig

        self.config = config or ShapesCaptionerConfig()
        if self.config.style not in STYLES:
            raise UserError(f"unknown shapes caption style {self.config.style!r}; known: {', '.join(STYLES)}")
        self.world = self.config.world or WorldConfig()

    def seed_for(self, image: "Image.Image") -> int:
        """Varied phrasing across images, yet one image always gets one caption, whatever its batch."""
        import hashlib

        digest = hashlib.sha256(image.convert("RGB").tobytes()).digest()
        return self.config.seed + int.from_bytes(digest[:4], "big")

    def caption(self, images: list["Image.Image"]) -> list[str]:
        from dataclasses import replace

        from llmdiff.worlds.shapes import caption, parse_image

        captions = []
        for image in images:
            rgb = image.convert("RGB")
            world = self.world
            if rgb.width == rgb.height and rgb.width != world.resolution:
                # Scenes live on a grid of cells, so a square image of another size reads the same way.
                world = replace(world, resolution=rgb.width)
            scene = parse_image(rgb, world)
            captions.append(caption(scene, self.config.style, self.config.language, self.seed_for(rgb)))
        return captions
