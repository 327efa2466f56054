"""The work budget: how many pixel-steps one request may ask for, measured on the device at start.

A request costs about width × height × steps × images ("pixel-steps"). The server times one
single-step generation at the model's own size (after a smaller warm-up call) and allows a request as
many pixel-steps as that rate fits into `BUDGET_SHARE` of the request timeout. The timed call includes
the prompt encoding and the VAE decode, which a longer request pays only once, so the rate is an
overestimate for many steps; larger images than the model's own cost more per pixel (attention), which
the timeout, not the budget, catches.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

logger = logging.getLogger(__name__)

BUDGET_SHARE = 0.5
"""Share of the request timeout a request within the budget is expected to use."""


@dataclass(frozen=True)
class WorkRate:
    seconds_per_megapixel_step: float
    """measured: one step at the model's own size, with encode and decode, per million pixels"""


def max_work(seconds_per_megapixel_step: float, timeout_s: float) -> int:
    """Pixel-steps that fit `BUDGET_SHARE` of `timeout_s` at this rate (at least one pixel-step)."""
    return max(1, math.floor(BUDGET_SHARE * timeout_s / seconds_per_megapixel_step * 1e6))


def measure_work_rate(generator, guidance: float) -> WorkRate:
    side = generator.default_side
    warm_side = min(side, max(64, side // 4 // 8 * 8))
    generator.time_call(warm_side, steps=1, guidance=guidance)  # first calls pay one-off set-up costs
    seconds = generator.time_call(side, steps=1, guidance=guidance)
    rate = WorkRate(seconds_per_megapixel_step=max(seconds, 1e-6) / (side * side / 1e6))
    logger.info("one step at %d×%d took %.3f s", side, side, seconds)
    return rate
