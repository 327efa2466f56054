"""The work budget: how many pixel-steps one request may ask for, measured on the device at start.

A request costs about width × height × steps × images ("pixel-steps") plus a fixed part (the prompt
encoding, the decode). The server times generations of one and of three steps at the model's own size,
after a smaller warm-up call: their difference gives the cost of a pixel-step, the rest of the
one-step call the fixed part. A request may ask for as many pixel-steps as fit, at that rate, into
`BUDGET_SHARE` of the request timeout once the fixed part is paid. Larger images than the model's own
cost more per pixel (attention) and decode longer; the timeout, not the budget, catches those.
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
    """measured: one denoising step at the model's own size, per million pixels"""
    fixed_s: float
    """measured: the rest of a one-step call (prompt encoding, decode) at the model's own size"""

    def max_work(self, timeout_s: float, at_least: int = 1) -> int:
        """Pixel-steps that fit `BUDGET_SHARE` of `timeout_s` after the fixed part; never under `at_least`."""
        spare_s = BUDGET_SHARE * timeout_s - self.fixed_s
        return max(at_least, math.floor(spare_s / self.seconds_per_megapixel_step * 1e6))


def measure_work_rate(generator, guidance: float) -> WorkRate:
    side = generator.default_side
    warm_side = min(side, max(64, side // 4 // 8 * 8))
    generator.time_call(warm_side, steps=1, guidance=guidance)  # first calls pay one-off set-up costs
    one = generator.time_call(side, steps=1, guidance=guidance)
    three = generator.time_call(side, steps=3, guidance=guidance)
    # Timings on a busy machine are noisy: a step is taken to cost at least a tenth of a one-step call.
    step = max((three - one) / 2, one / 10, 1e-6)
    rate = WorkRate(seconds_per_megapixel_step=step / (side * side / 1e6), fixed_s=max(one - step, 0.0))
    logger.info("at %d×%d: one step %.3f s, the rest of a call %.3f s", side, side, step, rate.fixed_s)
    return rate
