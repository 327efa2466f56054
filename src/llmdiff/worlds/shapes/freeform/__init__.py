"""Captions as people write them: the `freeform` caption style, in every language of the world.

    from llmdiff.worlds.shapes.freeform import freeform_caption
    record = freeform_caption(scene, "en", seed=3)     # record.text, record.negated, record.mode

Held-out wording for measurement lives apart, in `llmdiff.worlds.shapes.heldout`; nothing here imports it.
"""

from __future__ import annotations

import random

from llmdiff.errors import UserError
from llmdiff.worlds.shapes.config import WorldConfig
from llmdiff.worlds.shapes.freeform import de, en, es, fr, ja, zh
from llmdiff.worlds.shapes.freeform.compose import MODES, FreeformCaption, compose
from llmdiff.worlds.shapes.freeform.wording import Frames, Lexicon, Wording
from llmdiff.worlds.shapes.scene import Scene

STYLE = "freeform"
WORDINGS: dict[str, Wording] = {
    "en": en.WORDING, "zh": zh.WORDING, "fr": fr.WORDING, "es": es.WORDING, "de": de.WORDING, "ja": ja.WORDING,
}


def wording(language: str) -> Wording:
    if language not in WORDINGS:
        raise UserError(f"unknown language {language!r}; known: {', '.join(WORDINGS)}")
    return WORDINGS[language]


def freeform_caption(scene: Scene, language: str = "en", seed: int = 0, world: WorldConfig | None = None,
                     mode: str | None = None, noise: bool = True) -> FreeformCaption:
    """A caption of `scene` as a person might write it; deterministic in (scene, language, seed, world).

    `world` bounds what negations may name (default: the default world); `mode` forces one of `MODES`.
    """
    if mode is not None and mode not in MODES:
        raise UserError(f"unknown freeform mode {mode!r}; known: {', '.join(MODES)}")
    rng = random.Random(f"{seed}/{STYLE}/{language}")
    return compose(scene, wording(language), rng, world, mode, noise)


__all__ = ["MODES", "STYLE", "WORDINGS", "FreeformCaption", "Frames", "Lexicon", "Wording", "freeform_caption"]
