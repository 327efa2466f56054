"""Checks of prompts and generation settings that need no model.

Kept free of torch and the model libraries, so that the command line refuses a bad argument before it
spends seconds importing them.
"""

from __future__ import annotations

import math

from llmdiff.errors import UserError


def validate_prompt(prompt: object) -> str:
    """Reject what cannot be a prompt; the empty string is allowed and means 'unconditional'."""
    if not isinstance(prompt, str):
        raise UserError(f"a prompt must be a string, not {type(prompt).__name__}")
    if "\x00" in prompt:
        raise UserError("the prompt contains a NUL byte")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as error:
        # A lone UTF-16 surrogate (JSON allows "\ud800") is no character: tokenizers fail on it.
        raise UserError(
            f"the prompt contains an unpaired surrogate (U+{ord(prompt[error.start]):04X}) at character {error.start}"
        ) from None
    if prompt and not prompt.strip():
        raise UserError("the prompt is only whitespace; pass an empty prompt for an unconditional image")
    return prompt


def check_generation_args(num_inference_steps, guidance_scale, height, width, num_images_per_prompt) -> None:
    """Refuse impossible settings; None steps, guidance or size mean "the model's own"."""
    if num_inference_steps is not None and (
        isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1
    ):
        raise UserError(f"steps must be a positive integer, not {num_inference_steps!r}")
    if guidance_scale is not None and (
        isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float))
        or not math.isfinite(guidance_scale) or guidance_scale < 0
    ):
        raise UserError(f"guidance scale must be a finite number ≥ 0, not {guidance_scale!r}")
    for name, value in (("height", height), ("width", width)):
        if value is not None and (not isinstance(value, int) or value < 8 or value % 8):
            raise UserError(f"{name} must be a positive multiple of 8, not {value!r}")
    if not isinstance(num_images_per_prompt, int) or num_images_per_prompt < 1:
        raise UserError(f"images per prompt must be a positive integer, not {num_images_per_prompt!r}")
