"""The faithfulness oracle: parse an image back into a scene and compare it with the scene it should show.

Parsing, per grid cell: label every pixel with its nearest palette colour; the cell holds an object when
one object colour covers enough pixels. The object's soft mask is each pixel's position on the segment from
the background colour to that object colour (so anti-aliased edges count fractionally); its shape and size
are those of the template, centred on the mask's centroid, with the best soft IoU. Blind spots are listed
in docs/shapes.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

from llmdiff.errors import UserError
from llmdiff.worlds.shapes.config import (
    BACKGROUNDS,
    COLOURS,
    DEFAULT_WORLD,
    SIZE_FRACTION,
    WorldConfig,
)
from llmdiff.worlds.shapes.render import draw_shape
from llmdiff.worlds.shapes.scene import Scene, SceneObject

# A 77-token encoder keeps <|startoftext|>, 75 tokens and <|endoftext|>: token index 76 onwards is lost.
CLIP_WINDOW = 76
MIN_OBJECT_FRACTION = 0.35  # of a small triangle's area: fewer pixels than this is specks, not an object
MIN_SHAPE_IOU = 0.5  # clean shapes fit their template at >= 0.82, uniform noise at <= 0.24
MAX_OFF_SEGMENT = 70.0  # RGB distance; noise at sigma 0.05 stays well under it, other colours do not
TEMPLATE_SUPERSAMPLE = 4
ATTRIBUTES = ("shape", "colour", "size")
"""What an object is, besides where: each compared on its own where an object was drawn in the right cell."""


@dataclass(frozen=True)
class Metrics:
    """How faithfully one image shows one scene. Rates are in [0, 1]; None where nothing was there to rate."""

    recall: float
    """Scene objects found with the right (shape, colour, cell)."""
    precision: float
    """Parsed objects that are in the scene (0 when nothing was parsed)."""
    f1: float
    attribute_accuracy: float
    """Mean of shape, colour and size accuracy over scene objects (a missing object gets all three wrong)."""
    shape_accuracy: float
    colour_accuracy: float
    size_accuracy: float
    count_accuracy: float
    """1 when the image holds exactly as many objects as the scene."""
    background_accuracy: float
    all_correct: float
    """1 when every object is exactly right (shape, colour, size, cell), nothing is extra and the
    background is right; the strict per-image score."""
    recall_before_window: float | None
    """Recall over objects fully described within the first 76 tokens of the prompt."""
    recall_after_window: float | None
    """Recall over objects first fully described at token 76 or later: a 77-token encoder never saw them."""
    expected: int
    found: int
    matched: int

    def to_dict(self) -> dict:
        return asdict(self)


def check_image(image, config: WorldConfig) -> np.ndarray:
    """The image as a float (H, W, 3) array in [0, 255], or a UserError saying what is wrong with it."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            raise UserError(f"the oracle needs an RGB image, got mode {image.mode!r} (convert it with .convert('RGB'))")
        array = np.asarray(image)
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise UserError(f"the oracle needs a uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
        array = image
    else:
        raise UserError(f"the oracle needs a PIL image or a numpy array, got {type(image).__name__}")
    side = config.resolution
    if array.shape[:2] != (side, side):
        raise UserError(
            f"the oracle needs a {side}x{side} image for this world, got {array.shape[1]}x{array.shape[0]}"
        )
    return array.astype(np.float32)


def parse_image(image, config: WorldConfig = DEFAULT_WORLD) -> Scene:
    """Read the scene an image shows: background, and per cell the object (shape, colour, size) if any.

    Offsets are not recovered (they stay 0). Only the config's vocabularies are considered.
    """
    pixels = check_image(image, config)
    names = list(config.backgrounds) + list(config.colours)
    palette = np.array([BACKGROUNDS.get(n) or COLOURS[n] for n in names], dtype=np.float32)
    distances = ((pixels[:, :, None, :] - palette[None, None]) ** 2).sum(-1)
    labels = distances.argmin(-1)

    n_backgrounds = len(config.backgrounds)
    background_votes = np.bincount(labels.ravel(), minlength=len(names))[:n_backgrounds]
    background = config.backgrounds[int(background_votes.argmax())]
    background_rgb = np.array(BACKGROUNDS[background], dtype=np.float32)

    cell = config.cell_size
    small_area = (SIZE_FRACTION["small"] * cell) ** 2 / 2  # a small triangle
    objects = []
    for row in range(config.grid):
        for col in range(config.grid):
            y0, y1 = round(row * cell), round((row + 1) * cell)
            x0, x1 = round(col * cell), round((col + 1) * cell)
            cell_labels = labels[y0:y1, x0:x1]
            votes = np.bincount(cell_labels.ravel(), minlength=len(names))[n_backgrounds:]
            if votes.max() < MIN_OBJECT_FRACTION * small_area:
                continue
            colour = config.colours[int(votes.argmax())]
            direction = np.array(COLOURS[colour], dtype=np.float32) - background_rgb
            relative = pixels[y0:y1, x0:x1] - background_rgb
            mask = (relative @ direction) / float(direction @ direction)
            # Pixels far off the background-to-object segment are some other colour, not this object.
            off_segment = np.linalg.norm(relative - mask[..., None] * direction, axis=-1) > MAX_OFF_SEGMENT
            mask[off_segment] = 0.0
            # Stretch [0.2, 0.8] to [0, 1]: pixel noise around the background or object colour vanishes,
            # anti-aliased edges stay roughly proportional.
            mask = np.clip((mask - 0.2) / 0.6, 0.0, 1.0)
            if (mask > 0.5).sum() < MIN_OBJECT_FRACTION * small_area:
                continue
            shape, size, iou = _best_fit(mask, cell, config)
            if iou < MIN_SHAPE_IOU:
                continue
            objects.append(SceneObject(shape, colour, size, row, col))
    return Scene(background, tuple(objects), config.grid)


def _best_fit(mask: np.ndarray, cell: float, config: WorldConfig) -> tuple[str, str, float]:
    """The (shape, size) whose template, with its centroid on the mask's, overlaps the soft mask best, and
    that soft IoU. Centroids, unlike bounding boxes, barely move under noise, blur or JPEG."""
    ys, xs = np.indices(mask.shape, dtype=np.float32) + 0.5
    total = float(mask.sum())
    centroid = (float((xs * mask).sum()) / total, float((ys * mask).sum()) / total)
    best = ("", "", -1.0)
    for size in config.sizes:
        extent = SIZE_FRACTION[size] * cell
        for shape in config.shapes:
            dx, dy = _unit_centroid(shape)
            centre = (centroid[0] - dx * extent, centroid[1] - dy * extent)
            template = _template(shape, mask.shape, centre, extent)
            iou = float(np.minimum(mask, template).sum() / max(np.maximum(mask, template).sum(), 1e-6))
            if iou > best[2]:
                best = (shape, size, iou)
    return best


@cache
def _unit_centroid(shape: str) -> tuple[float, float]:
    """Centroid of `shape` relative to its bounding square's centre, in units of its side."""
    side = 512
    canvas = Image.new("L", (side, side), 0)
    draw_shape(ImageDraw.Draw(canvas), shape, side / 2, side / 2, side, 255)
    weights = np.asarray(canvas, dtype=np.float64)
    ys, xs = np.indices(weights.shape) + 0.5
    total = weights.sum()
    return (float((xs * weights).sum() / total) / side - 0.5, float((ys * weights).sum() / total) / side - 0.5)


def _template(shape: str, size: tuple[int, int], centre, extent: float) -> np.ndarray:
    f = TEMPLATE_SUPERSAMPLE
    canvas = Image.new("L", (size[1] * f, size[0] * f), 0)
    draw_shape(ImageDraw.Draw(canvas), shape, centre[0] * f, centre[1] * f, extent * f, 255)
    return np.asarray(canvas.reduce(f), dtype=np.float32) / 255.0


def score(
    image,
    scene: Scene,
    config: WorldConfig = DEFAULT_WORLD,
    mention_tokens: Sequence[int] | None = None,
) -> Metrics:
    """Compare `image` with `scene`.

    `mention_tokens[i]` is the base-tokenizer index of the token that completes the first description of
    `scene.objects[i]` in the prompt (a caption record's `mentions`); with it, recall is also split into
    objects a 77-token encoder could see and objects it could not.
    """
    if scene.grid != config.grid:
        raise UserError(f"scene has a {scene.grid}x{scene.grid} grid but the config a {config.grid}x{config.grid} one")
    if mention_tokens is not None and len(mention_tokens) != len(scene.objects):
        raise UserError(f"{len(mention_tokens)} mention positions for {len(scene.objects)} objects")
    parsed = parse_image(image, config)
    return compare(parsed, scene, mention_tokens)


def compare(parsed: Scene, scene: Scene, mention_tokens: Sequence[int] | None = None) -> Metrics:
    """The metrics of a parsed scene against the intended one."""
    expected_keys = Counter(o.key for o in scene.objects)
    found_keys = Counter(o.key for o in parsed.objects)
    matched = sum((expected_keys & found_keys).values())
    n_expected, n_found = len(scene.objects), len(parsed.objects)
    recall = matched / n_expected if n_expected else 1.0
    precision = matched / n_found if n_found else (1.0 if not n_expected else 0.0)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0

    _, hits = attribute_hits(parsed, scene)
    per_attribute = {k: (v / n_expected if n_expected else 1.0) for k, v in hits.items()}

    exact = Counter((o.key, o.size) for o in scene.objects) == Counter((o.key, o.size) for o in parsed.objects)
    background_right = parsed.background == scene.background

    before = after = None
    if mention_tokens is not None:
        found_set = set(found_keys)
        groups = {True: [], False: []}
        for obj, position in zip(scene.objects, mention_tokens):
            groups[position < CLIP_WINDOW].append(obj.key in found_set)
        before = sum(groups[True]) / len(groups[True]) if groups[True] else None
        after = sum(groups[False]) / len(groups[False]) if groups[False] else None

    return Metrics(
        recall=recall,
        precision=precision,
        f1=f1,
        attribute_accuracy=sum(per_attribute.values()) / 3,
        shape_accuracy=per_attribute["shape"],
        colour_accuracy=per_attribute["colour"],
        size_accuracy=per_attribute["size"],
        count_accuracy=float(n_found == n_expected),
        background_accuracy=float(background_right),
        all_correct=float(exact and background_right),
        recall_before_window=before,
        recall_after_window=after,
        expected=n_expected,
        found=n_found,
        matched=matched,
    )


def attribute_hits(parsed: Scene, scene: Scene) -> tuple[int, dict[str, int]]:
    """How many of the scene's objects have some object in their cell of the parsed scene, and per attribute
    how many of those have the scene object's value."""
    placed = 0
    hits = dict.fromkeys(ATTRIBUTES, 0)
    for obj in scene.objects:
        other = parsed.at(*obj.cell)
        if other is not None:
            placed += 1
            for attribute in ATTRIBUTES:
                hits[attribute] += getattr(obj, attribute) == getattr(other, attribute)
    return placed, hits


def summarise(results: Sequence[Metrics]) -> dict[str, float | None]:
    """Mean of every metric over images (None-valued entries are skipped; None if all are)."""
    summary: dict[str, float | None] = {}
    for name in Metrics.__dataclass_fields__:
        values = [getattr(m, name) for m in results if getattr(m, name) is not None]
        summary[name] = sum(values) / len(values) if values else None
    return summary
