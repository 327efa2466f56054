"""Captions of shapes-world scenes: a `short` English-style alt-text or a long `paragraph`, in six languages.

`canonical` is the short caption in one fixed form (objects in reading order, fixed word choices): a
function of the scene alone, the text whose encoding stage 1 teaches the adapter to give for any caption.

`freeform` (not in a dataset unless asked) is a caption as people write it: see `llmdiff.worlds.shapes.freeform`.

Captions are deterministic in (scene, style, language, seed). `caption_record` also returns, per object, the
character span of the sentence that first describes it fully, from which token positions are computed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmdiff.errors import UserError
from llmdiff.worlds.shapes.captions.base import Language
from llmdiff.worlds.shapes.captions.de import German
from llmdiff.worlds.shapes.captions.en import English
from llmdiff.worlds.shapes.captions.es import Spanish
from llmdiff.worlds.shapes.captions.fr import French
from llmdiff.worlds.shapes.captions.ja import Japanese
from llmdiff.worlds.shapes.captions.zh import Chinese
from llmdiff.worlds.shapes.config import WorldConfig
from llmdiff.worlds.shapes.scene import Scene

STYLES = ("short", "paragraph", "canonical")
"""The world's own styles: what datasets hold by default (their captions never change for a seed)."""
FREEFORM_STYLES = ("freeform",)
"""Captions as people write them (`llmdiff.worlds.shapes.freeform`); a dataset holds them when asked."""
ALL_STYLES = STYLES + FREEFORM_STYLES
LANGUAGES: dict[str, type[Language]] = {
    "en": English, "zh": Chinese, "fr": French, "es": Spanish, "de": German, "ja": Japanese,
}


@dataclass(frozen=True)
class Caption:
    text: str
    style: str
    language: str
    mention_spans: tuple[tuple[int, int], ...] | None
    """Per scene object, the (start, end) characters of the sentence that first fully describes it;
    None for short captions, which have no sentences to point at."""


def caption_record(
    scene: Scene, style: str = "paragraph", language: str = "en", seed: int = 0, short_places: bool = True,
    world: WorldConfig | None = None,
) -> Caption:
    """`short_places=False` leaves places out of short captions (they name them for up to five objects);
    `world` bounds what a freeform caption may say is absent (default: the default world)."""
    language_ = _language(language)
    if style not in ALL_STYLES:
        raise UserError(f"unknown caption style {style!r}; known: {', '.join(ALL_STYLES)}")
    if style == "freeform":
        from llmdiff.worlds.shapes.freeform import freeform_caption

        return Caption(freeform_caption(scene, language, seed, world).text, style, language, None)
    # A string seed keeps captions of one scene in different styles and languages independent.
    rng = random.Random(f"{seed}/{style}/{language}")
    if style == "short":
        return Caption(language_.short_caption(scene, rng, short_places), style, language, None)
    if style == "canonical":
        return Caption(language_.canonical_caption(scene), style, language, None)
    text, spans = language_.paragraph(scene, rng)
    return Caption(text, style, language, tuple(spans))


def caption(
    scene: Scene, style: str = "paragraph", language: str = "en", seed: int = 0, short_places: bool = True,
    world: WorldConfig | None = None,
) -> str:
    """The caption of `scene` in `style` (see `ALL_STYLES`) and `language` (see `LANGUAGES`)."""
    return caption_record(scene, style, language, seed, short_places, world).text


def _language(code: str) -> Language:
    if code not in LANGUAGES:
        raise UserError(f"unknown language {code!r}; known: {', '.join(LANGUAGES)}")
    return LANGUAGES[code]()
