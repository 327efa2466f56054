"""The shapes world: procedural scenes of flat shapes on a grid, their captions, and an exact oracle.

    from llmdiff.worlds.shapes import WorldConfig, sample_scene, render, caption, score
    scene = sample_scene(seed=7)
    image = render(scene)                                   # 64x64 RGB, identical bytes for a seed
    text = caption(scene, style="paragraph", language="fr")
    metrics = score(image, scene)                           # metrics.all_correct == 1.0

`parse_image` is the oracle's reading of an image, reusable as a rule-based captioner. See docs/shapes.md.
"""

from llmdiff.worlds.shapes.captions import (
    ALL_STYLES,
    LANGUAGES,
    STYLES,
    Caption,
    caption,
    caption_record,
)
from llmdiff.worlds.shapes.config import (
    BACKGROUNDS,
    COLOURS,
    DEFAULT_WORLD,
    SHAPES,
    SIZES,
    WorldConfig,
)
from llmdiff.worlds.shapes.oracle import (
    CLIP_WINDOW,
    Metrics,
    compare,
    parse_image,
    score,
    summarise,
)
from llmdiff.worlds.shapes.render import render
from llmdiff.worlds.shapes.scene import Scene, SceneObject, relations, sample_scene
from llmdiff.worlds.shapes.tokenizer import clip_tokenizer, train_clip_tokenizer

__all__ = [
    "ALL_STYLES", "BACKGROUNDS", "CLIP_WINDOW", "COLOURS", "DEFAULT_WORLD", "LANGUAGES", "SHAPES", "SIZES", "STYLES", "Caption", "Metrics",
    "Scene", "SceneObject", "WorldConfig", "caption", "caption_record", "clip_tokenizer", "compare",
    "parse_image", "relations", "render", "sample_scene", "score", "summarise", "train_clip_tokenizer",
]
