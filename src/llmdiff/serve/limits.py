"""What one request may ask for, checked before it may queue for the model."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmdiff.errors import UserError
from llmdiff.text_encoder import validate_prompt

MAX_GUIDANCE = 50
"""Highest guidance scale a request (or the server's default) may use: far past any useful value."""


@dataclass(frozen=True)
class Limits:
    """Ceilings on a single request; each keeps one request's time and memory predictable."""

    max_prompt_chars: int = 4000
    """characters in any one prompt or negative prompt (a long paragraph is ~1,000)"""
    max_prompts: int = 4
    """prompts in one API request"""
    max_images: int = 4
    """images in one request: prompts × images per prompt"""
    max_steps: int = 100
    """denoising steps"""
    max_side: int = 1024
    """pixels along either side"""
    max_body_bytes: int = 256 * 1024
    """bytes in one HTTP request body (the prompt limits fit far inside it)"""
    max_work: int | None = None
    """pixels × steps × images in one request; None: measured on the device when the server starts
    (`llmdiff.serve.budget`), so that a request within it finishes well inside the request timeout"""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is None and name == "max_work":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"limit {name} must be a positive integer, not {value!r}")
        if self.max_side < 8:
            raise UserError(f"limit max_side must be at least 8, not {self.max_side}")

    def check_prompt(self, text: object, label: str = "prompt") -> str:
        """The one prompt check of every route (generate, tokens, the page): the encoder's own
        validation (type, NUL, unpaired surrogates, whitespace only), then the length limit."""
        validate_prompt(text)
        if len(text) > self.max_prompt_chars:
            raise UserError(f"the {label} has {len(text)} characters; the limit is {self.max_prompt_chars}")
        return text

    def check(self, settings: "GenerationSettings", default_side: int) -> None:
        """Raise `UserError` naming the first setting over its limit; `default_side` is the model's own
        size, used where the request names none."""
        if not settings.prompts:
            raise UserError("no prompt given")
        if len(settings.prompts) > self.max_prompts:
            raise UserError(f"{len(settings.prompts)} prompts in one request; the limit is {self.max_prompts}")
        for label, text in [("prompt", p) for p in settings.prompts] + [("negative prompt", settings.negative_prompt)]:
            self.check_prompt(text, label)
        if not 1 <= settings.steps <= self.max_steps:
            raise UserError(f"steps must be between 1 and {self.max_steps}, not {settings.steps}")
        if not math.isfinite(settings.guidance) or not 0 <= settings.guidance <= MAX_GUIDANCE:
            raise UserError(f"guidance must be between 0 and {MAX_GUIDANCE}, not {settings.guidance}")
        if settings.num_images < 1:
            raise UserError(f"num_images must be at least 1, not {settings.num_images}")
        total = len(settings.prompts) * settings.num_images
        if total > self.max_images:
            raise UserError(f"{total} images in one request; the limit is {self.max_images}")
        for name in ("width", "height"):
            value = getattr(settings, name)
            if value is not None and not (8 <= value <= self.max_side and value % 8 == 0):
                raise UserError(f"{name} must be a multiple of 8 between 8 and {self.max_side}, not {value}")
        if settings.seed is not None and not 0 <= settings.seed < 2**63:
            raise UserError(f"seed must be between 0 and 2^63 - 1, not {settings.seed}")
        work = settings.work(default_side)
        if self.max_work is not None and work > self.max_work:
            raise UserError(
                f"the request asks for {work:,} pixel-steps (width × height × steps × images); this server's "
                f"budget per request is {self.max_work:,}: ask for fewer steps, images or pixels"
            )


@dataclass
class GenerationSettings:
    """One request's prompts and settings, shared by the page and the API."""

    prompts: list[str]
    negative_prompt: str = ""
    steps: int = 30
    guidance: float = 7.5
    seed: int | None = None
    """seed of the first image, image i uses seed + i; None lets the server pick one"""
    width: int | None = None
    """None: the model's own size"""
    height: int | None = None
    num_images: int = 1
    """images per prompt"""

    @property
    def total_images(self) -> int:
        return len(self.prompts) * self.num_images

    def work(self, default_side: int) -> int:
        """Pixels × steps × images: what the request costs the model, to first order."""
        width = self.width or default_side
        height = self.height or default_side
        return width * height * self.steps * self.total_images


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413 before reading them all.

    Checks Content-Length first, then counts streamed bytes, so neither a lying header nor a chunked
    upload can make the server buffer more than the limit.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return await _too_large(send, self.max_bytes)
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send, max_bytes: int) -> None:
    from llmdiff.serve.auth import send_json

    await send_json(send, 413, {"error": f"request body over the limit of {max_bytes} bytes"})
