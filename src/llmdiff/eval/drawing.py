"""What every shapes-world check shares: a model wrapped as a `Generate`, and the oracle's reading of what
it drew. The ablation table, the placement check and the wording columns all import it from here."""

from __future__ import annotations

from collections.abc import Callable

from llmdiff.errors import UserError

Generate = Callable[[list[str], list[int]], list]
"""prompts and seeds in, PIL images out: one model, wrapped"""


def as_generate(call, steps: int, guidance_scale: float, side: int) -> Generate:
    """A pipeline call as a `Generate`: one CPU generator per seed, `side`x`side` images, fixed settings."""
    import torch

    settings = dict(num_inference_steps=steps, guidance_scale=guidance_scale, height=side, width=side)

    def generate(prompts: list[str], seeds: list[int]) -> list:
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        return call(prompts, generator=generators, **settings).images

    return generate


def parse_drawn(image, world):
    """The oracle's reading of a model's image, refusing images of another size than the world's."""
    from llmdiff.worlds.shapes import parse_image

    if image.size != (world.resolution, world.resolution):
        raise UserError(
            f"the model drew {image.size[0]}x{image.size[1]} images; the shapes world needs "
            f"{world.resolution}x{world.resolution}"
        )
    return parse_image(image.convert("RGB"), world)
