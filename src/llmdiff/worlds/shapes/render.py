"""Drawing scenes: supersampled PIL polygons, box-filtered down, so edges are anti-aliased and exact."""

from __future__ import annotations

import math
from functools import cache

from PIL import Image, ImageDraw

from llmdiff.errors import UserError
from llmdiff.worlds.shapes.config import (
    BACKGROUNDS,
    COLOURS,
    DEFAULT_WORLD,
    SIZE_FRACTION,
    WorldConfig,
)
from llmdiff.worlds.shapes.scene import Scene

# Each shape fills the unit square [-0.5, 0.5]^2 as fully as it can, so a shape's extent is its size.
CROSS_ARM = 0.36  # width of the cross's arms; wide enough to stay a cross at 10 pixels


@cache
def unit_polygon(shape: str) -> tuple[tuple[float, float], ...] | None:
    """Vertices of `shape` in unit coordinates (y down), or None for the circle (an ellipse)."""
    h = 0.5
    if shape == "circle":
        return None
    if shape == "square":
        return ((-h, -h), (h, -h), (h, h), (-h, h))
    if shape == "triangle":  # pointing up
        return ((0.0, -h), (h, h), (-h, h))
    if shape == "diamond":
        return ((0.0, -h), (h, 0.0), (0.0, h), (-h, 0.0))
    if shape == "cross":
        a = CROSS_ARM / 2
        return ((-a, -h), (a, -h), (a, -a), (h, -a), (h, a), (a, a), (a, h), (-a, h), (-a, a), (-h, a),
                (-h, -a), (-a, -a))
    if shape == "star":  # five points, one up; scaled so its bounding box is as wide as the unit square
        points = []
        for k in range(10):
            radius = 1.0 if k % 2 == 0 else 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((radius * math.cos(angle), radius * math.sin(angle)))
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        scale = 1.0 / max(max(xs) - min(xs), max(ys) - min(ys))
        cy = (max(ys) + min(ys)) / 2
        return tuple((x * scale, (y - cy) * scale) for x, y in points)
    raise ValueError(f"unknown shape {shape!r}")


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, extent: float, fill) -> None:
    """Draw `shape` centred at (cx, cy) with bounding square side `extent`, in the draw's pixel units."""
    polygon = unit_polygon(shape)
    if polygon is None:
        r = extent / 2
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        draw.polygon([(cx + x * extent, cy + y * extent) for x, y in polygon], fill=fill)


def object_geometry(obj, config: WorldConfig) -> tuple[float, float, float]:
    """Centre (x, y) and extent of `obj` in output pixels."""
    cell = config.cell_size
    cx = (obj.col + 0.5 + obj.offset[0]) * cell
    cy = (obj.row + 0.5 + obj.offset[1]) * cell
    return cx, cy, SIZE_FRACTION[obj.size] * cell


def render(scene: Scene, config: WorldConfig = DEFAULT_WORLD) -> Image.Image:
    """The RGB image of `scene` at `config.resolution`; identical bytes for identical inputs."""
    if scene.grid != config.grid:
        raise UserError(f"scene has a {scene.grid}x{scene.grid} grid, the config a {config.grid}x{config.grid} one")
    factor = config.supersample
    canvas = Image.new("RGB", (config.resolution * factor,) * 2, BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        cx, cy, extent = object_geometry(obj, config)
        draw_shape(draw, obj.shape, cx * factor, cy * factor, extent * factor, COLOURS[obj.colour])
    # Image.reduce is an exact box filter: each output pixel is the mean of its factor x factor block.
    return canvas.reduce(factor) if factor > 1 else canvas
